//! `append_output` (Falco's, applied as far as an output library can) and the static fields and
//! tags extension (`outputs_static_fields`, `outputs_static_tags`).
//!
//! Falco appends an entry's `extra_output` to the output format of each matching rule (after a
//! space) and adds its `extra_fields` to the JSON `output_fields`; both are rendered by the
//! engine, so a `%field` reference, a bare field name in `extra_fields` and `suggested_output`
//! need the engine. This library applies the literal text and literal fields, and warns once at
//! init, naming the entry, about the rest (which it leaves out).

use super::read::{Reader, Setting};
use super::schema::settings;
use super::yaml::Node;
use crate::error::InitError;

settings! {
    /// `append_output[i].match`: every condition given must hold (Falco: `rule_loader_compiler`).
    pub struct AppendMatch {
        /// The alert's source is exactly this.
        source: String = String::new(),
        /// The alert carries every one of these tags.
        tags: Vec<String> = Vec::new(),
        /// The alert's rule is exactly this.
        rule: String = String::new(),
    }
}

settings! {
    /// One `append_output` entry.
    pub struct AppendOutput {
        matches as "match": AppendMatch = AppendMatch::default(),
        /// Appended to the message, after a space.
        extra_output: String = String::new(),
        /// Added to the JSON `output_fields` as strings.
        extra_fields: Vec<ExtraField> = Vec::new() => read_extra_fields,
        suggested_output: bool = false,
    }
}

/// An `extra_fields` item: `{name: format}`, or a bare field name (Falco: a raw field).
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraField {
    Formatted(String, String),
    Raw(String),
}

fn read_extra_fields(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<Vec<ExtraField>>, InitError> {
    let Node::Seq(items) = node else {
        return Err(InitError::key(
            key,
            format!(
                "expected a sequence of `name: format` entries or field names, got {}",
                node.kind()
            ),
        ));
    };
    let mut out: Vec<ExtraField> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        let field = match item {
            Node::Map(entries) if entries.len() == 1 => {
                let (name, format) = &entries[0];
                let format = String::read(r, &format!("{item_key}.{name}"), format)?;
                ExtraField::Formatted(name.clone(), format.unwrap_or_default())
            }
            Node::Scalar(_) | Node::Verbatim(_) => {
                ExtraField::Raw(r.text(&item_key, item, "")?.text)
            }
            other => {
                return Err(InitError::key(
                    &item_key,
                    format!(
                        "expected `name: format` (one entry) or a field name, got {}",
                        other.kind()
                    ),
                ))
            }
        };
        let name = match &field {
            ExtraField::Formatted(n, _) | ExtraField::Raw(n) => n,
        };
        let defined = out.iter().any(|f| match f {
            ExtraField::Formatted(n, _) | ExtraField::Raw(n) => n == name,
        });
        if defined {
            // Falco refuses the whole entry (its yaml-cpp decoder returns false).
            return Err(InitError::key(
                &item_key,
                format!("the field `{name}` is defined twice in this entry"),
            ));
        }
        out.push(field);
    }
    Ok(Some(out))
}

/// An entry as the formatter applies it: literal parts only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppendRule {
    pub source: Option<String>,
    pub tags: Vec<String>,
    pub rule: Option<String>,
    /// Appended to the message after a space.
    pub extra_output: Option<String>,
    /// Literal fields, sorted by name.
    pub fields: Vec<(String, String)>,
}

/// Whether a format needs the engine (a `%field` reference).
fn has_reference(format: &str) -> bool {
    format.contains('%')
}

/// What of `entries` the library applies; a warning for each part it leaves out.
pub fn applicable(entries: &[AppendOutput], warn: &mut dyn FnMut(String)) -> Vec<AppendRule> {
    let mut rules = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("append_output[{i}]");
        let mut skipped = Vec::new();
        if e.suggested_output {
            skipped.push("`suggested_output` (the engine's suggested fields)".to_string());
        }
        let extra_output = if e.extra_output.is_empty() {
            None
        } else if has_reference(&e.extra_output) {
            skipped.push("`extra_output` (it has %field references)".to_string());
            None
        } else {
            Some(e.extra_output.clone())
        };
        let mut fields = Vec::new();
        for f in &e.extra_fields {
            match f {
                ExtraField::Formatted(name, format) if !has_reference(format) => {
                    fields.push((name.clone(), format.clone()))
                }
                ExtraField::Formatted(name, _) => skipped.push(format!(
                    "`extra_fields` `{name}` (it has %field references)"
                )),
                ExtraField::Raw(name) => {
                    skipped.push(format!("`extra_fields` `{name}` (an engine field)"))
                }
            }
        }
        if !skipped.is_empty() {
            let verb = if skipped.len() == 1 { "needs" } else { "need" };
            warn(format!(
                "config key `{at}`: {} {verb} the engine and this library does not apply it \
                 (literal extra_output text and extra_fields values are applied)",
                skipped.join(", ")
            ));
        }
        if extra_output.is_none() && fields.is_empty() {
            continue;
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let m = &e.matches;
        rules.push(AppendRule {
            source: (!m.source.is_empty()).then(|| m.source.clone()),
            tags: m.tags.clone(),
            rule: (!m.rule.is_empty()).then(|| m.rule.clone()),
            extra_output,
            fields,
        });
    }
    rules
}

/// `outputs_static_fields`: a mapping of name to value (an extension).
pub fn read_static_fields(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<Vec<(String, String)>>, InitError> {
    let entries = super::values::mapping(key, node, "field name")?;
    let mut out = Vec::with_capacity(entries.len());
    for (name, v) in entries {
        if name.is_empty() {
            return Err(InitError::key(key, "a field name is empty"));
        }
        let value = String::read(r, &format!("{key}.{name}"), v)?.unwrap_or_default();
        out.push((name.clone(), value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}
