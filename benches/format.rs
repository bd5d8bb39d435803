//! Formatting cost of one alert, text and JSON: the seed alert ("Write below binary dir", 10
//! string/number fields, 3 tags, a ~300-byte message), one second's worth of nanosecond steps so
//! the per-second date cache behaves as it does under load.

use std::hint::black_box;

use criterion::{criterion_group, Criterion, Throughput};
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::testing::{FormatOptions, Formatter, LocalZone};

fn seed_alert(time_ns: u64) -> Alert {
    let fields = [
        ("container.id", Some("host"), FieldKind::String),
        ("container.name", Some("host"), FieldKind::String),
        ("evt.type", Some("openat"), FieldKind::String),
        ("fd.name", Some("/usr/bin/hack"), FieldKind::String),
        (
            "proc.cmdline",
            Some("touch /usr/bin/hack"),
            FieldKind::String,
        ),
        ("proc.exepath", Some("/usr/bin/touch"), FieldKind::String),
        (
            "proc.pcmdline",
            Some("bash -c touch /usr/bin/hack"),
            FieldKind::String,
        ),
        ("proc.pid", Some("284117"), FieldKind::Number),
        ("user.loginuid", Some("1000"), FieldKind::Number),
        ("user.name", Some("root"), FieldKind::String),
    ];
    let message = "File below a known binary directory opened for writing \
        (file=/usr/bin/hack pcmdline=bash -c touch /usr/bin/hack gparent=sshd evt_type=openat \
        user=root user_uid=0 user_loginuid=1000 process=touch proc_exepath=/usr/bin/touch \
        parent=bash command=touch /usr/bin/hack terminal=34816 container_id=host \
        container_name=host)";
    alert_from_parts(
        time_ns,
        Priority::Error,
        "Write below binary dir",
        "syscall",
        message,
        &fields,
        &["filesystem", "mitre_persistence", "T1543"],
    )
}

fn options(json: bool) -> FormatOptions {
    FormatOptions {
        json,
        iso8601: false,
        include_output: true,
        include_tags: true,
        include_message: false,
        include_output_fields: true,
        hostname: "falco-bench-host".to_string(),
        ..FormatOptions::default()
    }
}

fn bench(c: &mut Criterion) {
    let zone = LocalZone::from_tz("PST8PDT,M3.2.0,M11.1.0").unwrap_or_else(LocalZone::utc);
    // 1000 alerts spread over one second, as a loaded engine would emit them.
    let alerts: Vec<Alert> = (0..1000u64)
        .map(|i| seed_alert(1_507_591_916_000_000_000 + i * 999_983))
        .collect();
    let mut group = c.benchmark_group("format");
    group.throughput(Throughput::Elements(1));
    for (name, json) in [("text", false), ("json", true)] {
        let mut f = Formatter::new(options(json), zone.clone());
        let mut out = Vec::with_capacity(4096);
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                f.write_line(black_box(&alerts[i]), &mut out);
                i = (i + 1) % alerts.len();
                black_box(out.len())
            })
        });
    }
    // Baselines in the same run, so figures can be read as ratios on a busy machine:
    // serde_json writing a prebuilt Value of the same JSON line (serialization only, none of the
    // time, sorting or field-kind work), and copying the finished line (a floor).
    let mut f = Formatter::new(options(true), zone.clone());
    let line = f.line(&alerts[0]);
    let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    let mut out = Vec::with_capacity(4096);
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| {
            out.clear();
            let _ = serde_json::to_writer(&mut out, black_box(&value));
            black_box(out.len())
        })
    });
    group.bench_function("baseline_copy_line", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(line.as_bytes()));
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);

/// `FORMAT_BENCH_ITERS=N cargo bench --bench format` runs N text then N JSON formats without
/// criterion, for instruction counting under `valgrind --tool=cachegrind` (machine-load proof:
/// run with two values of N and divide the difference).
fn main() {
    if let Some(n) = std::env::var("FORMAT_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let zone = LocalZone::from_tz("PST8PDT,M3.2.0,M11.1.0").unwrap_or_else(LocalZone::utc);
        let alerts: Vec<Alert> = (0..1000u64)
            .map(|i| seed_alert(1_507_591_916_000_000_000 + i * 999_983))
            .collect();
        let which = std::env::var("FORMAT_BENCH_KIND").unwrap_or_default();
        let mut f = Formatter::new(options(which == "json"), zone);
        let mut out = Vec::with_capacity(4096);
        let mut total = 0usize;
        for i in 0..n {
            out.clear();
            f.write_line(black_box(&alerts[i % alerts.len()]), &mut out);
            total += black_box(out.len());
        }
        println!("{which} {n} iterations, {total} bytes");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
