//! Subjects: the template's placeholders filled with the alert's values, each made a valid NATS
//! subject token by one mapping, falcosidekick's "slug" (so that subscribers written for
//! falcosidekick's `falco.<priority>.<rule>` subjects keep matching):
//!
//! 1. lower-case the value (Unicode lower-casing);
//! 2. replace every run of characters other than `a`-`z` and `0`-`9` with one `_`;
//! 3. trim `_` at both ends;
//! 4. an empty result is `_` (NATS has no empty token).
//!
//! So spaces, dots, `*`, `>`, punctuation and non-ASCII letters never reach the subject: the
//! exact values travel in the message's headers (`Falco-Rule`, ...).

use crate::config::SubjectPart;

/// The token a value becomes (the mapping above).
pub fn token(value: &str, out: &mut String) {
    if value.is_ascii() {
        // The usual case, without Unicode lower-casing (the same result for ASCII).
        return push_slug(value.bytes().map(|b| b.to_ascii_lowercase() as char), out);
    }
    push_slug(value.chars().flat_map(char::to_lowercase), out)
}

/// Steps 2-4 of the mapping on lower-cased characters.
fn push_slug(lower: impl Iterator<Item = char>, out: &mut String) {
    let start = out.len();
    let mut gap = false;
    for c in lower {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if gap && out.len() > start {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    if out.len() == start {
        out.push('_');
    }
}

/// What a subject is made from.
pub struct Values<'a> {
    pub priority: &'a str,
    pub rule: &'a str,
    pub source: &'a str,
    pub hostname: &'a str,
    pub tag: Option<&'a str>,
}

/// The template filled in; literal tokens are kept as written (the configuration checked them).
pub fn render(parts: &[SubjectPart], v: &Values<'_>, out: &mut String) {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match part {
            SubjectPart::Literal(s) => out.push_str(s),
            SubjectPart::Priority => token(v.priority, out),
            SubjectPart::Rule => token(v.rule, out),
            SubjectPart::Source => token(v.source, out),
            SubjectPart::Hostname => token(v.hostname, out),
            SubjectPart::Tag => token(v.tag.unwrap_or(""), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        let mut out = String::new();
        token(s, &mut out);
        out
    }

    #[test]
    fn the_documented_mapping() {
        assert_eq!(t("Write below binary dir"), "write_below_binary_dir");
        assert_eq!(t("a.b*c>d"), "a_b_c_d");
        assert_eq!(t("  *  "), "_");
        assert_eq!(t(">"), "_");
        assert_eq!(t(""), "_");
        assert_eq!(t("Critical"), "critical");
        assert_eq!(t("Contrôle d'accès – ÉTÉ 2024"), "contr_le_d_acc_s_t_2024");
        assert_eq!(t("Доступ"), "_");
        assert_eq!(t("k8s_audit"), "k8s_audit");
        assert_eq!(t("--x--"), "x");
    }

    #[test]
    fn a_rendered_subject_has_no_empty_or_wildcard_token() {
        let parts = "falco.{priority}.{rule}.{tag}"
            .parse::<crate::config::SubjectTemplate>()
            .unwrap()
            .0;
        let mut s = String::new();
        render(
            &parts,
            &Values {
                priority: "Warning",
                rule: "x.* > y",
                source: "syscall",
                hostname: "h",
                tag: None,
            },
            &mut s,
        );
        assert_eq!(s, "falco.warning.x_y._");
        assert!(s
            .split('.')
            .all(|tok| !tok.is_empty() && tok != "*" && tok != ">"));
    }
}
