//! The file channel on a real, small tmpfs filled to ENOSPC, through the C ABI: a write cut
//! short by the full disk must not leave a partial line, every alert counted delivered is a
//! whole line in the file, and every other one is counted failed (none vanishes).

use crate::support::accounting::{assert_settled, counts};
use crate::support::capi::Handle;
use crate::support::tmpfs::Tmpfs;
use falco_outputs::ffi::falco_outputs_result::FALCO_OUTPUTS_OK;

/// What the file holds: the evt.num of each whole JSON line, and the lines that are not.
fn parse_file(text: &str) -> (Vec<u64>, Vec<String>) {
    let (mut nums, mut bad) = (Vec::new(), Vec::new());
    for line in text.split_inclusive('\n') {
        let whole = line.ends_with('\n');
        match serde_json::from_str::<serde_json::Value>(line.trim_end_matches('\n')) {
            Ok(v) if whole => match v["output_fields"]["evt.num"].as_u64() {
                Some(n) => nums.push(n),
                None => bad.push(line.to_string()),
            },
            _ => bad.push(line.to_string()),
        }
    }
    (nums, bad)
}

#[test]
fn disk_full_leaves_no_partial_line_and_counts_every_alert() {
    // keep_alive false / true, unbuffered; and buffered (one write carries several lines).
    for (keep_alive, buffered) in [(false, false), (true, false), (true, true)] {
        let Some(fs) = Tmpfs::mount(16 * 1024) else {
            return;
        };
        let path = fs.join("events.json");
        let yaml = format!(
            "json_output: true\nbuffered_outputs: {buffered}\nstdout_output: {{enabled: false}}\n\
             file_output: {{enabled: true, keep_alive: {keep_alive}, filename: {}}}\n",
            path.display()
        );
        let h = Handle::open(&yaml);
        let mut emitted = 0u64;
        let mut emit = |h: &Handle, n: u64| {
            for _ in 0..n {
                assert_eq!(h.emit_seed(emitted), FALCO_OUTPUTS_OK);
                emitted += 1;
                // One alert per write: the write that crosses the last free byte is short.
                if !buffered {
                    assert_eq!(h.flush(5000), FALCO_OUTPUTS_OK);
                }
            }
            assert_eq!(h.flush(5000), FALCO_OUTPUTS_OK);
        };
        emit(&h, 2);
        let filler = fs.fill("filler");
        // The disk is full but for the rest of the file's last page: some alerts still fit,
        // one is cut short, the rest get ENOSPC.
        emit(&h, 14);
        let during = counts(&h.stats_json(), "file");
        // Space comes back.
        std::fs::remove_file(fs.join("filler")).unwrap();
        emit(&h, 5);
        let json = h.stats_json();
        assert_settled(&json);
        let c = counts(&json, "file");
        let text = std::fs::read_to_string(&path).unwrap();
        let (nums, bad) = parse_file(&text);
        let (r, logs) = h.close(0);
        eprintln!(
            "keep_alive {keep_alive} buffered {buffered}: filler {filler} B; emitted {emitted}; \
             file: {} bytes, {} whole lines, {} bad; while full: delivered {} failed {}; \
             at the end: delivered {} failed {} discarded {}",
            text.len(),
            nums.len(),
            bad.len(),
            during.delivered,
            during.failed,
            c.delivered,
            c.failed,
            c.discarded
        );
        assert_eq!(r, FALCO_OUTPUTS_OK);
        assert!(
            bad.is_empty(),
            "partial or merged lines in the file: {bad:?}"
        );
        assert_eq!(c.enqueued, emitted);
        assert!(during.failed >= 1, "the disk never filled up: {during}");
        assert_eq!(
            c.delivered,
            nums.len() as u64,
            "delivered must be exactly the whole lines in the file"
        );
        assert_eq!(c.delivered + c.failed + c.discarded, emitted);
        // The lines are the delivered alerts, in emit order, each once; those after the disk
        // freed up are all there.
        let mut sorted = nums.clone();
        sorted.dedup();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "order: {nums:?}");
        assert_eq!(sorted.len(), nums.len());
        assert!(nums.ends_with(&[
            emitted - 5,
            emitted - 4,
            emitted - 3,
            emitted - 2,
            emitted - 1
        ]));
        assert!(
            logs.iter().any(|l| l.contains("No space left on device")),
            "{logs:?}"
        );
    }
}
