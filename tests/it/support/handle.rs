//! A handle opened on YAML with its log lines captured, and realistic alerts to emit.

use std::path::Path;
use std::sync::{Arc, Mutex};

use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::log::Logger;
use falco_outputs::{InitError, Options, Outputs};

/// Log lines the handle produced, as (level, text).
#[derive(Clone, Default)]
pub struct Logs(pub Arc<Mutex<Vec<(i32, String)>>>);

impl Logs {
    pub fn logger(&self) -> Logger {
        let lines = Arc::clone(&self.0);
        Logger::from_fn(move |level, msg| lines.lock().unwrap().push((level, msg.to_string())))
    }
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }
    pub fn count_containing(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }
}

/// Every test process formats in UTC, so lines are predictable whatever the machine's zone.
pub fn utc() {
    std::env::set_var("TZ", "UTC");
}

pub fn try_open(yaml: &str, logs: &Logs) -> Result<Outputs, InitError> {
    utc();
    Outputs::open(Options {
        config_yaml: Some(yaml.to_string()),
        hostname: Some("h".to_string()),
        log: logs.logger(),
        ..Options::default()
    })
}

pub fn open(yaml: &str) -> (Outputs, Logs) {
    let logs = Logs::default();
    match try_open(yaml, &logs) {
        Ok(o) => (o, logs),
        Err(e) => panic!("open failed: {e}\nconfig:\n{yaml}"),
    }
}

/// The seed document's "Write below binary dir" alert, numbered through its `evt.num` field.
pub fn seed_alert(n: u64) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1507591916746609046 + n,
        Priority::Error,
        "Write below binary dir",
        "syscall",
        "File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)",
        &[
            ("evt.num", Some(&num), FieldKind::Number),
            ("fd.name", Some("/bin/hack"), FieldKind::String),
            ("proc.cmdline", Some("touch /bin/hack"), FieldKind::String),
            ("user.name", Some("root"), FieldKind::String),
        ],
        &["filesystem", "mitre_persistence"],
    )
}

/// The `evt.num` field of a JSON line written from [`seed_alert`].
pub fn evt_num(line: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["output_fields"]["evt.num"]
        .as_u64()
        .unwrap_or_else(|| panic!("no evt.num in {line}"))
}

/// A config with only the file channel on, writing to `path`. `file_keys` are extra keys of the
/// file block (e.g. `"keep_alive: true"`); in `extra`, a leading `file_output: {k: v}` also goes
/// inside the block (a second block would be a duplicate key) and the rest is top-level YAML.
pub fn file_config(path: &Path, file_keys: &str, extra: &str) -> String {
    let (more_keys, top) = match extra.strip_prefix("file_output: {") {
        Some(rest) => {
            let end = rest.find('}').unwrap();
            (&rest[..end], &rest[end + 1..])
        }
        None => ("", extra),
    };
    let keys: String = [file_keys, more_keys]
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| format!(", {k}"))
        .collect();
    format!(
        "stdout_output: {{enabled: false}}\nfile_output: {{enabled: true, filename: {}{keys}}}\n{top}",
        path.display()
    )
}

/// An alert larger than a pipe's buffer (64 KiB): one write of it blocks on a reader that does
/// not read, whatever the scheduling.
pub fn big_alert(n: u64) -> Alert {
    alert_from_parts(
        n,
        Priority::Error,
        "r",
        "syscall",
        &"x".repeat(80 * 1024),
        &[],
        &[],
    )
}
