//! Local time follows `TZ` as it stands when the handle is opened: a handle opened after TZ
//! changed uses the new zone, while one opened earlier keeps its own. (It runs in its own
//! process: TZ is process-wide.)

use std::time::Duration;

use falco_outputs::alert::{alert_from_parts, Priority};
use falco_outputs::{Options, Outputs};

use crate::support::in_own_process;

fn open_file(path: &std::path::Path) -> Outputs {
    Outputs::open(Options {
        config_yaml: Some(format!(
            "time_format_iso_8601: true\nfile_output: {{enabled: true, filename: {}}}",
            path.display()
        )),
        hostname: Some("h".into()),
        ..Options::default()
    })
    .unwrap()
}

#[test]
fn each_handle_uses_the_zone_tz_named_at_its_init() {
    in_own_process(|| {
        let dir = tempfile::tempdir().unwrap();
        let alert = || {
            alert_from_parts(
                1470327477881781397,
                Priority::Warning,
                "r",
                "syscall",
                "m",
                &[],
                &[],
            )
        };

        std::env::set_var("TZ", "UTC");
        let utc_path = dir.path().join("utc.txt");
        let utc = open_file(&utc_path);

        // A POSIX TZ string needs no zoneinfo files: UTC-2 all year.
        std::env::set_var("TZ", "XYZ-2");
        let plus2_path = dir.path().join("plus2.txt");
        let plus2 = open_file(&plus2_path);

        std::env::set_var("TZ", "PST8PDT,M3.2.0,M11.1.0");
        let pdt_path = dir.path().join("pdt.txt");
        let pdt = open_file(&pdt_path);

        for o in [&utc, &plus2, &pdt] {
            o.emit(alert()).unwrap();
            o.flush(Duration::from_secs(5)).unwrap();
        }
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(
            read(&utc_path),
            "2016-08-04T16:17:57.881781397+0000: Warning m\n"
        );
        assert_eq!(
            read(&plus2_path),
            "2016-08-04T18:17:57.881781397+0200: Warning m\n"
        );
        assert_eq!(
            read(&pdt_path),
            "2016-08-04T09:17:57.881781397-0700: Warning m\n"
        );
        for o in [utc, plus2, pdt] {
            o.close(None).unwrap();
        }
    });
}
