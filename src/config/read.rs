//! Typed reading of a [`Node`]: each Rust type a key can have implements [`Setting`], reading
//! a scalar's text the way yaml-cpp's `as<T>()` does for Falco (the text, then the type).

use super::env::expand_env;
use super::yaml::Node;
use crate::alert::Priority;
use crate::error::InitError;

/// A type a configuration key can have.
pub trait Setting: Sized {
    /// Reads a present, non-null value at `key`. `Ok(None)` means "use the default" (an empty
    /// text, as Falco treats it).
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError>;

    /// Appends `key` and this value (`Debug`), then, for a block, each of its keys the same way
    /// (`key.sub`): what the docs-defaults test (`docs_tests.rs`) compares with docs/*.md.
    #[cfg(test)]
    fn list(&self, key: &str, out: &mut Vec<Listed>)
    where
        Self: std::fmt::Debug,
    {
        out.push(Listed {
            key: key.to_string(),
            value: format!("{self:?}"),
            block: false,
        });
    }
}

/// A key of the schema and its value, listed by [`Setting::list`].
#[cfg(test)]
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub value: String,
    /// A block of keys (its own keys are listed after it).
    pub block: bool,
}

/// Reading state: where warnings go.
pub struct Reader<'w> {
    warn: &'w mut dyn FnMut(String),
}

/// A scalar's text after `${VAR}` expansion, and how an error message may show it.
pub struct Text {
    pub text: String,
    pub shown: String,
}

impl<'w> Reader<'w> {
    pub fn new(warn: &'w mut dyn FnMut(String)) -> Self {
        Reader { warn }
    }

    pub fn warn(&mut self, msg: String) {
        (self.warn)(msg)
    }

    /// The text of a scalar, `${VAR}` expanded (an unset variable is a warning naming the key).
    /// A collection is refused: "expected {expected}, got a sequence".
    pub fn text(&mut self, key: &str, node: &Node, expected: &str) -> Result<Text, InitError> {
        let (raw, expand) = raw_text(key, node, expected)?;
        let text = if expand {
            self.expand(key, raw)
        } else {
            raw.to_string()
        };
        let shown = if text == raw {
            quote(&text)
        } else {
            format!("{} (from {})", quote(&text), quote(raw))
        };
        if text.contains('\0') {
            return Err(InitError::key(
                key,
                format!("a NUL character is not allowed, got {shown}"),
            ));
        }
        Ok(Text { text, shown })
    }

    /// Like [`Reader::text`] for a value that may hold a secret (a header value, a token in a
    /// URL): nothing of the value ever appears in a message.
    pub fn secret_text(
        &mut self,
        key: &str,
        node: &Node,
        expected: &str,
    ) -> Result<String, InitError> {
        let (raw, expand) = raw_text(key, node, expected)?;
        Ok(if expand {
            self.expand(key, raw)
        } else {
            raw.to_string()
        })
    }

    fn expand(&mut self, key: &str, s: &str) -> String {
        let warn = &mut self.warn;
        expand_env(s, &mut |var: &str| {
            warn(format!(
                "config key `{key}`: environment variable `{var}` is not set; it expands to an \
                 empty string"
            ))
        })
    }

    /// The entries of a block. Unknown keys are warned about, except at the top level (a real
    /// falco.yaml has many blocks this library does not read).
    pub fn block<'n>(
        &mut self,
        key: &str,
        node: &'n Node,
        known: &[&str],
    ) -> Result<&'n [(String, Node)], InitError> {
        let Node::Map(entries) = node else {
            return Err(InitError::key(
                key,
                format!(
                    "expected a mapping of {key} settings, got {}",
                    shown_kind(node)
                ),
            ));
        };
        if !key.is_empty() {
            for (k, _) in entries {
                if !known.contains(&k.as_str()) {
                    self.warn(format!("config key `{key}.{k}` is unknown and ignored"));
                }
            }
        }
        Ok(entries)
    }

    /// The value of `name` in a block's entries, read as `T` (absent, null or empty: `None`).
    pub fn field<T>(
        &mut self,
        entries: &[(String, Node)],
        block: &str,
        name: &str,
        read: fn(&mut Reader<'_>, &str, &Node) -> Result<Option<T>, InitError>,
    ) -> Result<Option<T>, InitError> {
        match entries.iter().find(|(k, _)| k == name) {
            None | Some((_, Node::Null)) => Ok(None),
            Some((_, node)) => read(self, &path(block, name), node),
        }
    }
}

/// A scalar's text as written and whether `${VAR}` expands in it; a collection is refused:
/// "expected {expected}, got a sequence".
fn raw_text<'n>(key: &str, node: &'n Node, expected: &str) -> Result<(&'n str, bool), InitError> {
    match node {
        Node::Scalar(s) => Ok((s, true)),
        Node::Verbatim(s) => Ok((s, false)),
        Node::Null => Ok(("", false)),
        other => Err(InitError::key(
            key,
            format!("expected {expected}, got {}", other.kind()),
        )),
    }
}

/// `a.b`, or just `b` at the top level.
pub fn path(block: &str, name: &str) -> String {
    if block.is_empty() {
        name.to_string()
    } else {
        format!("{block}.{name}")
    }
}

/// A string quoted and escaped for a message (JSON rules, so control characters are visible).
pub fn quote(s: &str) -> String {
    const MAX: usize = 200;
    let shown = if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    };
    serde_json::to_string(&shown).unwrap_or_else(|_| format!("{shown:?}"))
}

/// A node as a message shows it when it is the wrong kind.
fn shown_kind(node: &Node) -> String {
    match node {
        Node::Scalar(s) | Node::Verbatim(s) => quote(s),
        other => other.kind().to_string(),
    }
}

/// yaml-cpp's boolean spellings (`convert<bool>`), here in any case.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" => Some(true),
        "false" | "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

impl Setting for bool {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<bool>, InitError> {
        const EXPECTED: &str = "a boolean (true/false, yes/no, on/off, y/n)";
        let t = r.text(key, node, EXPECTED)?;
        let s = t.text.trim();
        if s.is_empty() {
            return Ok(None);
        }
        parse_bool(s)
            .map(Some)
            .ok_or_else(|| InitError::key(key, format!("expected {EXPECTED}, got {}", t.shown)))
    }
}

impl Setting for String {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<String>, InitError> {
        Ok(Some(r.text(key, node, "a string")?.text))
    }
}

/// A non-negative integer: decimal (an optional `+`), or `0x`/`0o` as YAML writes hex and
/// octal; at most `max`.
pub fn read_uint(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
    max: u64,
) -> Result<Option<u64>, InitError> {
    let t = r.text(key, node, "an integer")?;
    let s = t.text.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    let (digits, radix) = if let Some(hex) = unsigned.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = unsigned.strip_prefix("0o") {
        (oct, 8)
    } else {
        (unsigned, 10)
    };
    let is_digits = |d: &str| !d.is_empty() && d.chars().all(|c| c.is_digit(radix));
    if let Some(neg) = s.strip_prefix('-') {
        if is_digits(neg) {
            return Err(InitError::key(
                key,
                format!("expected a non-negative integer, got {}", t.shown),
            ));
        }
    }
    if !is_digits(digits) {
        return Err(InitError::key(
            key,
            format!("expected an integer, got {}", t.shown),
        ));
    }
    match u64::from_str_radix(digits, radix) {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(InitError::key(
            key,
            format!("must be at most {max}, got {}", t.shown),
        )),
    }
}

impl Setting for u64 {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<u64>, InitError> {
        read_uint(r, key, node, u64::MAX)
    }
}

impl Setting for u32 {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<u32>, InitError> {
        Ok(read_uint(r, key, node, u64::from(u32::MAX))?.map(|n| n as u32))
    }
}

impl Setting for usize {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<usize>, InitError> {
        Ok(read_uint(r, key, node, usize::MAX as u64)?.map(|n| n as usize))
    }
}

/// An integer that must not be 0 (a timeout, a batch size).
pub fn positive<T: Setting + PartialEq + From<u8>>(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<T>, InitError> {
    let n = T::read(r, key, node)?;
    if n == Some(T::from(0u8)) {
        return Err(InitError::key(key, "must be greater than 0, got 0"));
    }
    Ok(n)
}

const PRIORITY_NAMES: &str =
    "emergency, alert, critical, error, warning, notice, informational (or info), debug";

impl Setting for Priority {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Priority>, InitError> {
        let expected = format!("a priority (one of {PRIORITY_NAMES})");
        let t = r.text(key, node, &expected)?;
        Priority::parse(&t.text)
            .map(Some)
            .ok_or_else(|| InitError::key(key, format!("expected {expected}, got {}", t.shown)))
    }
}

/// A list of entries (`append_output: [...]`).
impl<T: Setting> Setting for Vec<T> {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Vec<T>>, InitError> {
        let Node::Seq(items) = node else {
            return Err(InitError::key(
                key,
                format!("expected a sequence, got {}", shown_kind(node)),
            ));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(v) = T::read(r, &format!("{key}[{i}]"), item)? {
                out.push(v);
            }
        }
        Ok(Some(out))
    }
}
