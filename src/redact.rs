//! What log lines and errors may show of a configured value that can carry a secret: a URL
//! without its user, password, query and fragment; a command line without anything that looks
//! like a credential, and shortened.

/// Longest command text a log line shows (in characters); the rest is counted, not shown.
pub const SHOWN_CHARS: usize = 120;

/// What stands in for a secret.
const HIDDEN: &str = "***";

/// `scheme://host[:port]/path`: no user, password, query or fragment, which may hold secrets.
pub fn url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// A shell command as logs show it: credentials hidden (`-H 'Authorization: ***'`,
/// `--password ***`, `token=***`, `***@host`, URLs as [`url`] shows them), control characters
/// escaped, and at most [`SHOWN_CHARS`] characters followed by `… (N bytes)` when longer.
pub fn command(cmd: &str) -> String {
    let mut out = String::with_capacity(cmd.len().min(4 * SHOWN_CHARS));
    let mut secret_next: Option<bool> = None;
    let mut last = 0;
    let mut cut = false;
    for (start, end) in words(cmd) {
        out.push_str(&cmd[last..start]);
        last = end;
        let word = &cmd[start..end];
        match secret_next.take() {
            Some(true) => out.push_str(&header(word)),
            Some(false) => out.push_str(&quoted_like(word, HIDDEN)),
            None => {
                let bare = word.trim_matches(['\'', '"']);
                secret_next = secret_flag(bare);
                out.push_str(&word_shown(word));
            }
        }
        // Nothing past what will be shown needs the work (a 1 MiB program is common enough).
        if out.chars().count() > SHOWN_CHARS {
            cut = true;
            break;
        }
    }
    if !cut {
        out.push_str(&cmd[last..]);
    }
    shorten(&out, cmd.len())
}

/// Flags whose value is a secret: `Some(true)` for a header (`Name: value`), `Some(false)`
/// for a value shown whole as `***`.
fn secret_flag(flag: &str) -> Option<bool> {
    match flag {
        "-H" | "--header" | "--proxy-header" => Some(true),
        "-u" | "--user" | "-U" | "--proxy-user" | "--oauth2-bearer" | "-p" | "--pass"
        | "--password" | "--passwd" | "--token" | "--api-key" | "--apikey" | "--secret" | "-E"
        | "--cert" | "--key" => Some(false),
        _ => None,
    }
}

/// Names (lowercase parts) of `name=value` pairs whose value is hidden.
const SECRET_NAMES: [&str; 11] = [
    "token",
    "passw",
    "pwd",
    "secret",
    "key",
    "auth",
    "credential",
    "bearer",
    "session",
    "cookie",
    "signature",
];

fn word_shown(word: &str) -> String {
    // `--password=x`, `--header=Authorization: x`.
    if let Some((flag, value)) = word.split_once('=') {
        match secret_flag(flag.trim_start_matches(['\'', '"'])) {
            Some(true) => return format!("{flag}={}", header(value)),
            Some(false) => return format!("{flag}={}", quoted_like(value, HIDDEN)),
            None => {}
        }
    }
    let mut w = match word.find("://") {
        Some(i) => {
            let begin = word[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                .map_or(0, |j| j + 1);
            let end = word[i..]
                .find(['\'', '"', ' '])
                .map_or(word.len(), |j| i + j);
            format!(
                "{}{}{}",
                &word[..begin],
                url(&word[begin..end]),
                &word[end..]
            )
        }
        None => word.to_string(),
    };
    // `user:pass@host` without a scheme.
    if let Some(at) = w.find('@') {
        let begin = w[..at].rfind(['\'', '"', '/', '=']).map_or(0, |j| j + 1);
        if w[begin..at].contains(':') {
            w.replace_range(begin..at, HIDDEN);
        }
    }
    hide_pairs(&w)
}

/// `name=value` pairs (separated by `&`, `;`, `,`) with a secret-looking name: value hidden.
fn hide_pairs(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    loop {
        let (part, sep) = match rest.find(['&', ';', ',']) {
            Some(i) => (&rest[..i], Some(&rest[i..=i])),
            None => (rest, None),
        };
        match part.split_once('=') {
            Some((name, value)) if !value.is_empty() && secret_name(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(&quoted_like(value, HIDDEN));
            }
            _ => out.push_str(part),
        }
        match sep {
            Some(sep) => {
                out.push_str(sep);
                rest = &rest[part.len() + 1..];
            }
            None => return out,
        }
    }
}

fn secret_name(name: &str) -> bool {
    let name = name
        .trim_start_matches(['\'', '"', '-'])
        .to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

/// `'Authorization: Bearer x'` → `'Authorization: ***'`; a value without a name is hidden
/// whole.
fn header(word: &str) -> String {
    match word.split_once(':') {
        Some((name, _)) => format!("{name}: {HIDDEN}{}", closing_quote(word).unwrap_or("")),
        None => quoted_like(word, HIDDEN),
    }
}

/// `text` in the quotes `word` is in, if any (so that hiding keeps the quoting visible).
fn quoted_like(word: &str, text: &str) -> String {
    let open = word.get(..1).filter(|c| *c == "'" || *c == "\"");
    format!(
        "{}{text}{}",
        open.unwrap_or(""),
        closing_quote(word).unwrap_or("")
    )
}

fn closing_quote(word: &str) -> Option<&str> {
    (word.len() > 1)
        .then(|| word.get(word.len() - 1..))
        .flatten()
        .filter(|c| *c == "'" || *c == "\"")
}

/// The byte spans of the shell words of `cmd`: split at unquoted white space, quotes and
/// backslashes kept inside the word.
fn words(cmd: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = cmd.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        let mut quote = None;
        while i < b.len() {
            match (quote, b[i]) {
                (None, c) if c.is_ascii_whitespace() => break,
                (None, b'\'' | b'"') => quote = Some(b[i]),
                (Some(q), c) if c == q => quote = None,
                (q, b'\\') if q != Some(b'\'') => i += 1,
                _ => {}
            }
            i += 1;
        }
        i = i.min(b.len());
        Some((start, i))
    })
}

/// At most [`SHOWN_CHARS`] characters of `shown`, control characters escaped, then
/// `… (N bytes)` (N: the configured text's length) when anything was left out.
fn shorten(shown: &str, original_len: usize) -> String {
    let mut out = String::new();
    let mut chars = shown.chars();
    for c in chars.by_ref().take(SHOWN_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        out.push_str(&format!("… ({original_len} bytes)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_query_and_fragment() {
        assert_eq!(url("https://u:p@h:8/x?token=1#f"), "https://h:8/x");
        assert_eq!(url("h/x?q"), "h/x");
    }

    #[test]
    fn commands_lose_anything_that_looks_like_a_credential() {
        let cases = [
            (
                "curl -H 'Authorization: Bearer s3cr3t' https://h/x",
                "curl -H 'Authorization: ***' https://h/x",
            ),
            (
                "curl --header=\"X-Api-Key: s3cr3t\" -d @-",
                "curl --header=\"X-Api-Key: ***\" -d @-",
            ),
            (
                "mysql --password s3cr3t -h db",
                "mysql --password *** -h db",
            ),
            ("mysql --password=s3cr3t", "mysql --password=***"),
            ("curl -u admin:s3cr3t h", "curl -u *** h"),
            (
                "TOKEN=s3cr3t notify a=1&token=s3cr3t&b=2",
                "TOKEN=*** notify a=1&token=***&b=2",
            ),
            ("curl https://u:s3cr3t@h/p?k=s3cr3t", "curl https://h/p"),
            ("scp f admin:s3cr3t@host:/x", "scp f ***@host:/x"),
            ("jq . | logger -t falco", "jq . | logger -t falco"),
        ];
        for (cmd, want) in cases {
            let got = command(cmd);
            assert_eq!(got, want, "{cmd}");
            assert!(!got.contains("s3cr3t"), "{got}");
        }
    }

    #[test]
    fn long_commands_are_shortened_with_their_length() {
        let cmd = format!("echo {}", "a".repeat(1 << 20));
        let got = command(&cmd);
        assert_eq!(
            got.chars().count(),
            SHOWN_CHARS + " (1048581 bytes)".len() + 1
        );
        assert!(got.ends_with("… (1048581 bytes)"), "{got}");
        assert_eq!(command("a\nb"), "a\\nb");
    }
}
