//! The hostname in JSON alerts: `options.hostname`, else `$FALCO_HOSTNAME`, else gethostname().
//! It runs in its own process: it changes the process environment.

use std::time::Duration;

use falco_outputs::{Options, Outputs};

use crate::support::in_own_process;

fn hostname_in_json(dir: &std::path::Path, name: &str, option: Option<&str>) -> String {
    let path = dir.join(name);
    let out = Outputs::open(Options {
        config_yaml: Some(format!(
            "json_output: true\nfile_output: {{enabled: true, filename: {}}}",
            path.display()
        )),
        hostname: option.map(str::to_string),
        ..Options::default()
    })
    .unwrap();
    out.emit(falco_outputs::alert::alert_from_parts(
        0,
        falco_outputs::alert::Priority::Error,
        "r",
        "syscall",
        "m",
        &[],
        &[],
    ))
    .unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    out.close(None).unwrap();
    let line = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    v["hostname"].as_str().unwrap().to_string()
}

#[test]
fn options_then_falco_hostname_then_gethostname() {
    in_own_process(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::remove_var("FALCO_HOSTNAME");
        let system = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(hostname_in_json(dir.path(), "a", None), system.trim());
        std::env::set_var("FALCO_HOSTNAME", "node-7.example");
        assert_eq!(hostname_in_json(dir.path(), "b", None), "node-7.example");
        assert_eq!(hostname_in_json(dir.path(), "c", Some("given")), "given");
        // Set but empty: an empty hostname, as in Falco (getenv is not NULL).
        std::env::set_var("FALCO_HOSTNAME", "");
        assert_eq!(hostname_in_json(dir.path(), "d", None), "");
    });
}
