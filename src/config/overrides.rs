//! Falco's `-o key=value` overrides: the key path grammar and how the value is read.

use super::yaml::{self, Node};
use crate::error::InitError;

/// Deepest `-o` key path accepted (serde_yaml's own nesting limit for documents is 128).
const MAX_KEY_DEPTH: usize = 64;

#[derive(Debug, PartialEq)]
enum Seg {
    Key(String),
    /// `[n]`, or `[]` (append).
    Index(Option<usize>),
}

/// Applies one `-o key=value` override to the merged document.
pub fn apply(root: &mut Node, text: &str) -> Result<(), InitError> {
    let malformed = || {
        InitError::config(format!(
            "Error parsing config option \"{text}\". Must be of the form key=val or key.subkey=val"
        ))
    };
    let (key, raw) = text.split_once('=').ok_or_else(malformed)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(malformed());
    }
    let in_override = |m: String| InitError::config(format!("override `{text}`: {m}"));
    let segs = parse_key_path(key).map_err(in_override)?;
    let value = parse_value(raw).map_err(in_override)?;
    set_path(root, &segs, value).map_err(in_override)
}

/// Falco's key syntax (`yaml_helper::get_node`): `a.b.c`, `list[2].x`, `list[]` (append), and
/// backslash escapes for `.`, `[`, `]`, `\`.
fn parse_key_path(key: &str) -> Result<Vec<Seg>, String> {
    let too_deep = || format!("the key path is deeper than {MAX_KEY_DEPTH} levels");
    let mut segs = Vec::new();
    let mut it = key.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = it.peek() {
            match c {
                '\\' => {
                    it.next();
                    match it.next() {
                        Some(n @ ('.' | '[' | ']' | '\\')) => name.push(n),
                        Some(n) => {
                            return Err(format!("invalid escape sequence `\\{n}` in the key"))
                        }
                        None => return Err("trailing backslash in the key".to_string()),
                    }
                }
                '.' | '[' => break,
                ']' => return Err("unexpected `]` in the key".to_string()),
                _ => {
                    name.push(c);
                    it.next();
                }
            }
        }
        if name.is_empty() {
            return Err("empty key name in the key path".to_string());
        }
        segs.push(Seg::Key(name));
        if segs.len() > MAX_KEY_DEPTH {
            return Err(too_deep());
        }
        while it.peek() == Some(&'[') {
            it.next();
            let mut digits = String::new();
            loop {
                match it.next() {
                    Some(']') => break,
                    Some(d) if d.is_ascii_digit() => digits.push(d),
                    Some(c) => return Err(format!("expected a numeric index, found `{c}`")),
                    None => return Err("missing `]` in the key".to_string()),
                }
            }
            if segs.len() >= MAX_KEY_DEPTH {
                return Err(too_deep());
            }
            if digits.is_empty() {
                segs.push(Seg::Index(None));
            } else {
                let n = digits
                    .parse::<usize>()
                    .map_err(|_| format!("index `{digits}` is out of range"))?;
                segs.push(Seg::Index(Some(n)));
            }
        }
        match it.next() {
            None => return Ok(segs),
            Some('.') => continue,
            Some(c) => return Err(format!("expected `.` in the key, found `{c}`")),
        }
    }
}

/// An override's value, as Falco reads it (`set_cmdline_option`): a value that starts with `{`
/// and ends with `}` is a YAML document; anything else, empty included, is the scalar text
/// exactly as given (no trimming, no quote removal). Neither expands `${VAR}`: Falco expands
/// variables only in the files it loads.
fn parse_value(raw: &str) -> Result<Node, String> {
    if raw.starts_with('{') && raw.ends_with('}') {
        let node = yaml::parse(raw).map_err(|e| format!("invalid YAML value: {e}"))?;
        return Ok(node.verbatim());
    }
    Ok(Node::Verbatim(raw.to_string()))
}

fn set_path(root: &mut Node, segs: &[Seg], value: Node) -> Result<(), String> {
    let mut cur = root;
    for seg in segs {
        cur = match seg {
            Seg::Key(k) => {
                if !matches!(cur, Node::Map(_)) {
                    *cur = Node::empty_map();
                }
                cur.entry(k).ok_or("internal error: expected a mapping")?
            }
            Seg::Index(idx) => {
                if !matches!(cur, Node::Seq(_)) {
                    *cur = Node::Seq(Vec::new());
                }
                let Node::Seq(seq) = cur else {
                    return Err("internal error: expected a sequence".to_string());
                };
                let i = match *idx {
                    None => seq.len(),
                    Some(i) if i <= seq.len() => i,
                    Some(i) => {
                        return Err(format!(
                            "index {i} is past the end of a sequence of {} entries",
                            seq.len()
                        ))
                    }
                };
                if i == seq.len() {
                    seq.push(Node::Null);
                }
                &mut seq[i]
            }
        };
    }
    *cur = value;
    Ok(())
}
