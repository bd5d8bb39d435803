//! What the configuration adds to an alert: `append_output`'s literal text and fields (for the
//! alerts an entry matches) and the static fields and tags extension.

use crate::alert::Alert;
use crate::config::AppendRule;

use super::escape::escape_into;

#[derive(Clone, Debug, Default)]
pub struct Extras {
    pub appends: Vec<AppendRule>,
    /// `outputs_static_fields`, sorted by name.
    pub static_fields: Vec<(String, String)>,
    /// `outputs_static_tags`.
    pub static_tags: Vec<String>,
}

impl Extras {
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.static_fields.is_empty() && self.static_tags.is_empty()
    }

    /// The `append_output` entries that apply to `alert`, in configuration order (Falco's
    /// `rule_loader_compiler`: same source, every entry tag among the alert's, same rule).
    fn matching<'a>(&'a self, alert: &'a Alert) -> impl Iterator<Item = &'a AppendRule> + 'a {
        self.appends.iter().filter(move |r| {
            r.source.as_deref().is_none_or(|s| s == alert.source())
                && r.rule.as_deref().is_none_or(|n| n == alert.rule())
                && r.tags.iter().all(|t| alert.tags().any(|a| a == t))
        })
    }

    /// The message escaped, each matching entry's `extra_output` after a space.
    pub fn escape_message(&self, alert: &Alert, out: &mut Vec<u8>) {
        escape_into(out, alert.message().as_bytes());
        for r in self.matching(alert) {
            if let Some(text) = &r.extra_output {
                out.push(b' ');
                escape_into(out, text.as_bytes());
            }
        }
    }

    /// The fields added to `output_fields`, sorted by name: static fields, then each matching
    /// entry's fields, a later one replacing an earlier one of the same name.
    pub fn fields<'a>(&'a self, alert: &'a Alert) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = self
            .static_fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for r in self.matching(alert) {
            for (k, v) in &r.fields {
                match out.binary_search_by(|(n, _)| n.as_bytes().cmp(k.as_bytes())) {
                    Ok(i) => out[i].1 = v,
                    Err(i) => out.insert(i, (k, v)),
                }
            }
        }
        out
    }
}
