//! Docs that cannot drift: every `| key | default | ... |` table in docs/*.md against the
//! schema (`keys.rs`, `nats.rs`). Each key a table names must be a key of the schema, and its
//! documented default, written into a configuration as a user would write it, must give the
//! schema's default; every key of the schema must be in some table.
//!
//! What a table may hold (the forms the pages use):
//! - key cell: one or more keys in backticks (`` `user`, `password` ``), full (`file_output.mode`)
//!   or short on a page about one block (`timeout_ms` on http.md, see [`PAGE_BLOCKS`]); a key
//!   with `*` or `<` (`` `syslog_output.*` ``) is a pointer to other pages and is skipped.
//! - default cell: the value in backticks, as it would be written in falco.yaml, optionally
//!   followed by prose (`` `0` (unbounded) ``); for several keys, one value each, comma-separated
//!   (`` `""`, `256` ``); `` as `http_output` `` for the same default as that block's key of the
//!   same name; no backticks at all (`—`, `none`, `the address's host`): the key is checked to
//!   exist, its default is not compared.

use std::collections::{BTreeMap, BTreeSet};

use super::read::{Listed, Setting};
use super::{load, Config, ConfigSources};

/// Pages whose tables name keys by their short name, and the blocks those names are under
/// (`*.match`, `*.storm`: every block's `match`, `storm`). A key is first looked up as a full
/// name.
const PAGE_BLOCKS: &[(&str, &[&str])] = &[
    ("http.md", &["http_output"]),
    ("otlp.md", &["otlp_output"]),
    ("nats.md", &["nats_output"]),
    ("syslog.md", &["syslog_output"]),
    ("stdout-file.md", &["file_output"]),
    ("routing.md", &["*.match", "*.storm"]),
];

const HOW_TO_FIX: &str = "docs/*.md's key/default tables must match the schema in \
    src/config/keys.rs (and nats.rs): when you add or change a key or its default, add or \
    change its row (`| \\`key\\` | \\`default as written in falco.yaml\\` | meaning |`); see \
    src/config/docs_tests.rs for the forms a row may take.";

#[derive(Debug, Clone)]
enum Documented {
    /// The default as written in falco.yaml.
    Value(String),
    /// "as `block`": the same default as `block.<key>`.
    As(String),
    /// No value given (`—`, prose): only the key's existence is checked.
    Unstated,
}

struct Row {
    /// `docs/page.md:line`.
    at: String,
    page: String,
    /// Each key the row names, with what the row says of its default.
    keys: Vec<(String, Documented)>,
}

#[test]
fn every_documented_default_is_the_schemas() {
    let schema = listed(&Config::default());
    let mut problems = Vec::new();
    for row in rows(&mut problems) {
        for (key, documented) in &row.keys {
            let paths = resolve(&row.page, key, &schema);
            if paths.is_empty() {
                problems.push(format!(
                    "{}: `{key}` is not a key of the schema{}",
                    row.at,
                    scope_hint(&row.page)
                ));
            }
            for path in paths {
                if let Some(p) = check(&row.at, &path, key, documented, &schema) {
                    problems.push(p);
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\n{HOW_TO_FIX}",
        problems.join("\n")
    );
}

#[test]
fn every_key_of_the_schema_is_in_a_docs_table() {
    let schema = listed(&Config::default());
    let mut documented = BTreeSet::new();
    for row in rows(&mut Vec::new()) {
        for (key, _) in &row.keys {
            documented.extend(resolve(&row.page, key, &schema));
        }
    }
    let missing: Vec<String> = schema
        .values()
        .filter(|l| !l.block && !documented.contains(&l.key))
        .map(|l| {
            format!(
                "`{}` (default {}) is in no key/default table: add a row to {}",
                l.key,
                l.value,
                page_for(&l.key)
            )
        })
        .collect();
    assert!(missing.is_empty(), "{}\n\n{HOW_TO_FIX}", missing.join("\n"));
}

/// The parser itself, on the forms the pages use: a test that reads nothing would pass.
#[test]
fn the_table_forms_are_read() {
    let page = "| Key | Default | Meaning |\n|---|---|---|\n\
        | `a.b` | `0` (off) | x `|` y |\n\
        | `c`, `d` | `\"\"`, `256` | |\n\
        | `e`, `f` | as `http_output` | |\n\
        | `g` | — | |\n\
        | `h`, `i` | `debug`, any | |\n\
        | `x.*` | | skipped |\n\
        \n| field | default |\n| --- | --- |\n| `j` | `1` |\n\
        \n| name | value |\n| --- | --- |\n| `k` | `2` |\n";
    let mut problems = Vec::new();
    let rows = table_rows("p.md", page, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let got: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.keys
                .iter()
                .map(move |(k, d)| format!("{} {k} {d:?}", r.at))
        })
        .collect();
    assert_eq!(
        got,
        [
            r#"docs/p.md:3 a.b Value("0")"#,
            r#"docs/p.md:4 c Value("\"\"")"#,
            r#"docs/p.md:4 d Value("256")"#,
            r#"docs/p.md:5 e As("http_output")"#,
            r#"docs/p.md:5 f As("http_output")"#,
            "docs/p.md:6 g Unstated",
            r#"docs/p.md:7 h Value("debug")"#,
            "docs/p.md:7 i Unstated",
        ]
    );
}

/// A wrong default in a table is reported with the key, both values and the row.
#[test]
fn a_wrong_default_names_the_key_and_both_values() {
    let schema = listed(&Config::default());
    let wrong = Documented::Value("4000".into());
    let p = check(
        "docs/x.md:7",
        "http_output.timeout_ms",
        "timeout_ms",
        &wrong,
        &schema,
    );
    assert_eq!(
        p.as_deref(),
        Some(
            "docs/x.md:7: `http_output.timeout_ms`: documented default `4000` reads as 4000; \
             the schema's default is 5000"
        )
    );
    let right = Documented::Value("5000".into());
    assert!(check(
        "docs/x.md:7",
        "http_output.timeout_ms",
        "timeout_ms",
        &right,
        &schema
    )
    .is_none());
}

/// Every key of `config` (blocks too) by its full name.
fn listed(config: &Config) -> BTreeMap<String, Listed> {
    let mut out = Vec::new();
    config.list("", &mut out);
    out.into_iter()
        .filter(|l| !l.key.is_empty())
        .map(|l| (l.key.clone(), l))
        .collect()
}

/// The full names a row's `key` stands for on `page`.
fn resolve(page: &str, key: &str, schema: &BTreeMap<String, Listed>) -> Vec<String> {
    if schema.contains_key(key) {
        return vec![key.to_string()];
    }
    let blocks = PAGE_BLOCKS
        .iter()
        .find(|(p, _)| *p == page)
        .map_or(&[][..], |(_, b)| *b);
    let mut paths = Vec::new();
    for block in blocks {
        if let Some(inner) = block.strip_prefix("*.") {
            let suffix = format!(".{inner}.{key}");
            paths.extend(schema.keys().filter(|k| k.ends_with(&suffix)).cloned());
        } else if schema.contains_key(&format!("{block}.{key}")) {
            paths.push(format!("{block}.{key}"));
        }
    }
    paths
}

fn scope_hint(page: &str) -> String {
    match PAGE_BLOCKS.iter().find(|(p, _)| *p == page) {
        Some((_, blocks)) => format!(" (nor under {})", blocks.join(", ")),
        None => {
            format!(" (a short name needs docs/{page} in PAGE_BLOCKS in src/config/docs_tests.rs)")
        }
    }
}

/// Where a key of the schema is documented: its block's page, else configuration.md.
fn page_for(path: &str) -> String {
    for (page, blocks) in PAGE_BLOCKS {
        for block in *blocks {
            let owns = match block.strip_prefix("*.") {
                Some(inner) => path.contains(&format!(".{inner}.")),
                None => path.starts_with(&format!("{block}.")),
            };
            if owns {
                let short = match block.strip_prefix("*.") {
                    Some(inner) => path.split_once(&format!(".{inner}.")).unwrap().1,
                    None => &path[block.len() + 1..],
                };
                return format!("docs/{page} (as `{short}`)");
            }
        }
    }
    "docs/configuration.md".to_string()
}

/// What is wrong with the row's claim about `path`, if anything.
fn check(
    at: &str,
    path: &str,
    key: &str,
    documented: &Documented,
    schema: &BTreeMap<String, Listed>,
) -> Option<String> {
    let default = &schema[path].value;
    match documented {
        Documented::Unstated => None,
        Documented::As(block) => {
            let other = format!("{block}.{key}");
            match schema.get(&other) {
                None => Some(format!("{at}: `{path}`: \"as `{block}`\", but `{other}` is not a key")),
                Some(o) if o.value != *default => Some(format!(
                    "{at}: `{path}`: documented as `{other}`'s default ({}); the schema's default is {default}",
                    o.value
                )),
                Some(_) => None,
            }
        }
        Documented::Value(text) => match read_as_documented(path, text) {
            Err(e) => Some(format!(
                "{at}: `{path}`: documented default `{text}` is refused: {e}"
            )),
            Ok((read, baseline)) => {
                let got = &listed(&read)[path].value;
                (read != baseline || got != default).then(|| {
                    format!(
                        "{at}: `{path}`: documented default `{text}` reads as {got}; the schema's default is {default}"
                    )
                })
            }
        },
    }
}

/// The configuration with `path: text` written in, and the same without it. Another channel
/// is enabled so that the configuration is complete.
fn read_as_documented(path: &str, text: &str) -> Result<(Config, Config), String> {
    let enabler = if path.starts_with("stdout_output.") {
        "program_output:\n  enabled: true\n  program: cat\n"
    } else {
        "stdout_output:\n  enabled: true\n"
    };
    let mut yaml = String::new();
    for (depth, part) in path.split('.').enumerate() {
        yaml.push_str(&"  ".repeat(depth));
        yaml.push_str(part);
        yaml.push(':');
        yaml.push(if depth + 1 == path.split('.').count() {
            ' '
        } else {
            '\n'
        });
    }
    yaml.push_str(text);
    yaml.push('\n');
    let read = |yaml: &str| {
        let sources = ConfigSources {
            config_path: None,
            config_yaml: Some(yaml),
            overrides: &[],
        };
        load(&sources, &mut |_| {}).map_err(|e| e.to_string())
    };
    Ok((read(&format!("{enabler}{yaml}"))?, read(enabler)?))
}

fn rows(problems: &mut Vec<String>) -> Vec<Row> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/docs");
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let mut rows = Vec::new();
    for path in pages {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        rows.extend(table_rows(&name, &text, problems));
    }
    assert!(
        rows.len() > 100,
        "only {} key/default rows found in docs/*.md: is the parser still reading the tables?",
        rows.len()
    );
    rows
}

/// The rows of every table whose header starts `| key | default |` (any case).
fn table_rows(page: &str, text: &str, problems: &mut Vec<String>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut in_keys_table = false;
    let mut prev_was_table = false;
    for (i, line) in text.lines().enumerate() {
        let at = format!("docs/{page}:{}", i + 1);
        let is_table = line.trim_start().starts_with('|');
        if !is_table {
            prev_was_table = false;
            in_keys_table = false;
            continue;
        }
        let cells = cells(line);
        if !prev_was_table {
            prev_was_table = true;
            let head: Vec<String> = cells.iter().map(|c| c.trim().to_lowercase()).collect();
            in_keys_table = head.len() >= 2 && head[0] == "key" && head[1] == "default";
            continue;
        }
        if !in_keys_table
            || cells
                .iter()
                .all(|c| c.trim().chars().all(|ch| "-: ".contains(ch)))
        {
            continue;
        }
        let keys = code_spans(&cells[0]);
        if keys.is_empty() || keys.iter().any(|k| k.contains(['*', '<', ' '])) {
            continue;
        }
        let default = cells.get(1).map_or("", |c| c.trim());
        match defaults(default, keys.len()) {
            Some(documented) => rows.push(Row {
                at,
                page: page.to_string(),
                keys: keys.into_iter().zip(documented).collect(),
            }),
            None => problems.push(format!(
                "{at}: {} keys but the default cell `{default}` does not give one value each \
                 (write them comma-separated, in the keys' order)",
                keys.len()
            )),
        }
    }
    rows
}

/// What a default cell says for each of `n` keys.
fn defaults(cell: &str, n: usize) -> Option<Vec<Documented>> {
    if let Some(rest) = cell.strip_prefix("as ") {
        let block = code_spans(rest).into_iter().next()?;
        return Some(vec![Documented::As(block); n]);
    }
    let one = |part: &str| match code_spans(part).into_iter().next() {
        Some(v) => Documented::Value(v),
        None => Documented::Unstated,
    };
    if n == 1 {
        return Some(vec![one(cell)]);
    }
    let parts = split_outside(cell, ',', true);
    if parts.len() == n {
        return Some(parts.iter().map(|p| one(p)).collect());
    }
    match code_spans(cell).as_slice() {
        [v] => Some(vec![Documented::Value(v.clone()); n]),
        _ => None,
    }
}

/// A table line's cells (`|` inside backticks or escaped as `\|` does not split).
fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = line.strip_suffix('|').unwrap_or(line);
    split_outside(line, '|', false)
}

/// Splits at `sep` outside backticks (and parentheses with `parens`), not after a backslash.
fn split_outside(s: &str, sep: char, parens: bool) -> Vec<String> {
    let (mut parts, mut cur) = (Vec::new(), String::new());
    let (mut code, mut depth, mut escaped) = (false, 0i32, false);
    for c in s.chars() {
        if !code && !escaped && depth == 0 && c == sep {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        match c {
            '`' if !escaped => code = !code,
            '(' if parens && !code => depth += 1,
            ')' if parens && !code => depth -= 1,
            _ => {}
        }
        escaped = c == '\\' && !escaped;
        cur.push(c);
    }
    parts.push(cur);
    parts
}

/// The texts in backticks.
fn code_spans(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, t)| t.to_string())
        .collect()
}
