//! `${VAR}` expansion in values read from files (Falco: `yaml_helper::pre_process_env_vars`).

/// `${VAR}` becomes the variable's value (unset: empty, reported through `unset`); `$${` is a
/// literal `${`; a `${` or `$${` with no later `}` is left as is. The text a variable expands to
/// is not expanded again.
pub fn expand_env(s: &str, unset: &mut dyn FnMut(&str)) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("${") {
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    match env_value(name) {
                        Some(v) => out.push_str(&v),
                        None => unset(name),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(tail);
                    return out;
                }
            }
        } else if let Some(after) = tail.strip_prefix("$${") {
            if after.contains('}') {
                out.push_str("${");
                rest = after;
            } else {
                out.push_str(tail);
                return out;
            }
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn env_value(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_env_edge_cases() {
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV4", "v");
        let mut unset = Vec::new();
        let mut f = |s: &str| {
            let mut cb = |n: &str| unset.push(n.to_string());
            expand_env(s, &mut cb)
        };
        assert_eq!(f("plain"), "plain");
        assert_eq!(f("${FALCO_OUTPUTS_CFGTEST_ENV4}"), "v");
        assert_eq!(f("a$b${FALCO_OUTPUTS_CFGTEST_ENV4}"), "a$bv");
        assert_eq!(
            f("$${FALCO_OUTPUTS_CFGTEST_ENV4}"),
            "${FALCO_OUTPUTS_CFGTEST_ENV4}"
        );
        assert_eq!(f("${unterminated"), "${unterminated");
        assert_eq!(f("$${unterminated"), "$${unterminated");
        assert_eq!(f("x${}y"), "xy");
        assert_eq!(f("$"), "$");
        assert_eq!(f("€${FALCO_OUTPUTS_CFGTEST_ENV4}€"), "€v€");
        assert_eq!(unset, [""]);
    }
}
