//! Model-based test of the spool: seeded random operations (append, read, acknowledge, restart,
//! damaged bytes, zeros appended, a damaged ack, size-bound pressure) against a plain in-memory
//! queue. A seeded loop rather than proptest: no new crate, the same sequence on every run, and a
//! failure names its seed and step.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;
use crate::error::InitErrorKind;
use crate::outputs::http::store::Store;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Rec {
    bytes: Vec<u8>,
    /// Bytes of it were damaged on disk: it must never come out, and counts as lost.
    damaged: bool,
}

struct Harness {
    dir: PathBuf,
    max_bytes: u64,
    store: Option<Store>,
    log: Arc<Mutex<Vec<String>>>,
    /// What the spool must still hand out, oldest first.
    model: VecDeque<Rec>,
    /// Handed out and acknowledged, in order (a damaged ack may bring a suffix back).
    acked: Vec<Vec<u8>>,
    /// Set by a damaged ack: the next records read may repeat acknowledged ones.
    dups_allowed: bool,
    lost: u64,
    places: u64,
    damaged_dropped: u64,
    ack_damaged: bool,
    serial: u64,
}

impl Harness {
    fn new(dir: &Path, max_bytes: u64) -> Harness {
        let mut h = Harness {
            dir: dir.to_path_buf(),
            max_bytes,
            store: None,
            log: Arc::default(),
            model: VecDeque::new(),
            acked: Vec::new(),
            dups_allowed: false,
            lost: 0,
            places: 0,
            damaged_dropped: 0,
            ack_damaged: false,
            serial: 0,
        };
        h.open();
        h
    }

    fn open(&mut self) {
        let sink = self.log.clone();
        let log = Logger::from_fn(move |_, m| sink.lock().unwrap().push(m.to_string()));
        let spool = Spool::open(&self.dir, self.max_bytes, "test.spool_dir", &log).unwrap();
        self.store = Some(Store::Spool(Box::new(spool)));
        self.take_damage();
    }

    fn store(&mut self) -> &mut Store {
        self.store.as_mut().unwrap()
    }

    fn spool(&mut self) -> &mut Spool {
        match self.store() {
            Store::Spool(s) => s,
            Store::Memory { .. } => unreachable!(),
        }
    }

    fn take_damage(&mut self) {
        let d = self.store().take_damage();
        self.lost += d.lost;
        self.places += d.places;
    }

    fn append(&mut self, rng: &mut Rng) {
        let n = 1 + rng.below(40) as usize;
        let mut recs = Vec::new();
        for _ in 0..n {
            self.serial += 1;
            // Unique (serial + random head) so that damage can find it on disk; any bytes after.
            let mut b = self.serial.to_le_bytes().to_vec();
            b.extend_from_slice(&rng.next().to_le_bytes());
            let big = rng.below(20) == 0;
            let extra = rng.below(if big { 5000 } else { 300 });
            b.extend((0..extra).map(|_| rng.next() as u8));
            recs.push(b);
        }
        let pushed = self
            .spool()
            .push(recs.iter().map(|r| r.as_slice()))
            .unwrap();
        assert_eq!(pushed, n);
        self.model.extend(recs.into_iter().map(|bytes| Rec {
            bytes,
            damaged: false,
        }));
    }

    /// Reads up to `n` records and checks them against the model; acknowledges them if `ack`.
    fn read(&mut self, n: usize, ack: bool) {
        let mut got = Vec::new();
        let k = self.spool().peek(n, |r| got.push(r.to_vec())).unwrap();
        assert_eq!(k, got.len());
        self.take_damage();
        let mut i = 0;
        if self.dups_allowed {
            // A damaged ack re-sends what is still on disk: a run of acknowledged records first.
            if let Some(first) = got.first() {
                if let Some(at) = self.acked.iter().rposition(|a| a == first) {
                    let run = &self.acked[at..];
                    while i < got.len() && i < run.len() && got[i] == run[i] {
                        i += 1;
                    }
                }
            }
        }
        let mut expected = self.model.iter().filter(|r| !r.damaged);
        for rec in &got[i..] {
            let want = expected.next().map(|r| &r.bytes);
            assert_eq!(Some(rec), want, "a record out of order, invented or lost");
        }
        let undamaged = self.model.iter().filter(|r| !r.damaged).count();
        assert!(
            !got.is_empty() || undamaged == 0,
            "nothing read though {undamaged} intact records are held"
        );
        if ack {
            if got.len() > i {
                self.dups_allowed = false;
            }
            let consumed = self.spool().consume(k).unwrap();
            assert_eq!(consumed, k);
            self.take_damage();
            self.pop_intact(k - i);
        }
    }

    /// Removes `k` intact records from the model front, with the damaged ones among them.
    fn pop_intact(&mut self, mut k: usize) {
        while k > 0 {
            let r = self.model.pop_front().expect("model ran dry");
            if r.damaged {
                self.damaged_dropped += 1;
            } else {
                self.acked.push(r.bytes);
                k -= 1;
            }
        }
    }

    fn restart(&mut self) {
        self.store = None;
        self.open();
    }

    fn segments(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        v.sort();
        v
    }

    /// Flips one byte inside a held record (its header or its payload), found by its bytes.
    fn damage_record(&mut self, rng: &mut Rng) {
        let intact: Vec<usize> = (0..self.model.len())
            .filter(|i| !self.model[*i].damaged)
            .collect();
        if intact.is_empty() {
            return;
        }
        let idx = intact[rng.below(intact.len() as u64) as usize];
        let needle = self.model[idx].bytes.clone();
        // Closed first: the damage is found when the files are read again.
        self.store = None;
        for seg in self.segments() {
            let mut data = std::fs::read(&seg).unwrap();
            let Some(pos) = data.windows(needle.len()).position(|w| w == needle) else {
                continue;
            };
            let span = format::RECORD_HEADER as usize + needle.len();
            let at = pos - format::RECORD_HEADER as usize + rng.below(span as u64) as usize;
            data[at] ^= 1 << rng.below(8);
            std::fs::write(&seg, data).unwrap();
            self.model[idx].damaged = true;
            self.open();
            return;
        }
        panic!("record {idx} not found on disk");
    }

    /// Zero bytes appended to a segment of a previous run (closed first, as in issue 9.2(c)).
    fn append_zeros(&mut self, rng: &mut Rng) {
        self.store = None;
        let segs = self.segments();
        if let Some(seg) = segs.get(rng.below(segs.len() as u64) as usize) {
            let mut data = std::fs::read(seg).unwrap();
            data.extend(std::iter::repeat_n(0, 1 + rng.below(5000) as usize));
            std::fs::write(seg, data).unwrap();
        }
        self.open();
    }

    fn damage_ack(&mut self, rng: &mut Rng) {
        self.store = None;
        let garbage: Vec<u8> = (0..1 + rng.below(40)).map(|_| rng.next() as u8).collect();
        std::fs::write(self.dir.join("ack"), garbage).unwrap();
        self.open();
        self.ack_damaged = true;
        self.dups_allowed = true;
    }

    fn bound(&mut self) {
        if self.dups_allowed {
            // Which dropped records would be repeats is not modelled.
            return;
        }
        let max = self.max_bytes / 4;
        let dropped = self.store().enforce_bound(max).unwrap();
        self.take_damage();
        assert!(self.store().bytes() <= max);
        self.pop_intact(dropped);
    }

    /// Reads everything left: every intact record once, in order; the damaged ones counted.
    fn finish(&mut self) {
        for _ in 0..100_000 {
            if self.store().is_empty() {
                break;
            }
            self.read(1 + self.model.len().min(500), true);
        }
        assert!(self.store().is_empty(), "records stuck in the spool");
        let intact_left = self.model.iter().filter(|r| !r.damaged).count();
        assert_eq!(intact_left, 0, "intact records never handed out");
        self.damaged_dropped += self.model.drain(..).filter(|r| r.damaged).count() as u64;
        // After a damaged ack, records already read are read again, with their damage: the
        // count of lost records is exact only without that.
        if !self.ack_damaged {
            assert_eq!(self.lost, self.damaged_dropped, "lost records miscounted");
        }
        if self.lost > 0 {
            assert!(self.places > 0);
        }
    }
}

fn run(seed: u64, steps: usize) {
    let dir = std::env::temp_dir().join(format!(
        "falco-outputs-spool-model-{}-{seed}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut h = Harness::new(&dir, 4 << 20);
    for step in 0..steps {
        let r = rng.below(100);
        let what = match r {
            0..=34 => "append",
            35..=54 => "read+ack",
            55..=64 => "read",
            65..=74 => "restart",
            75..=82 => "damage a record",
            83..=86 => "zeros",
            // Odd seeds keep the ack intact, so that they check the lost count exactly.
            87..=88 if seed.is_multiple_of(2) => "damage the ack",
            87..=88 => "read+ack",
            _ => "bound",
        };
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match what {
            "append" => h.append(&mut rng),
            "read+ack" => h.read(1 + rng.below(60) as usize, true),
            "read" => h.read(1 + rng.below(60) as usize, false),
            "restart" => h.restart(),
            "damage a record" => h.damage_record(&mut rng),
            "zeros" => h.append_zeros(&mut rng),
            "damage the ack" => h.damage_ack(&mut rng),
            _ => h.bound(),
        }));
        if std::env::var_os("SPOOL_MODEL_TRACE").is_some() {
            eprintln!(
                "step {step}: {what}: model {} (acked {}), spool len {}, lost {}, damaged dropped {}",
                h.model.len(),
                h.acked.len(),
                h.store().len(),
                h.lost,
                h.damaged_dropped
            );
        }
        if let Err(e) = res {
            eprintln!("seed {seed}, step {step} ({what}) failed");
            std::panic::resume_unwind(e);
        }
    }
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.finish()));
    if let Err(e) = res {
        eprintln!("seed {seed}, final drain failed");
        std::panic::resume_unwind(e);
    }
    // Nothing is logged without a segment name or the ack.
    for line in h.log.lock().unwrap().iter() {
        assert!(line.contains(".seg") || line.contains("ack"), "{line}");
    }
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spool_behaves_like_a_queue_under_random_operations_and_damage() {
    let only: Option<u64> = std::env::var("SPOOL_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    for seed in 1..=16 {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        run(seed, 250);
    }
}

#[test]
fn a_garbage_length_is_never_allocated() {
    // One record whose length field says 60 MiB in a segment of a few bytes.
    let dir = std::env::temp_dir().join(format!("falco-outputs-spool-len-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut seg = format::segment_header().to_vec();
    let mut rec = Vec::new();
    format::encode(1, b"hello", &mut rec);
    rec[4..8].copy_from_slice(&(60u32 << 20).to_le_bytes());
    seg.extend_from_slice(&rec);
    std::fs::write(dir.join(seg_name(1)), &seg).unwrap();
    let mut s = Spool::open(&dir, 1 << 20, "t", &Logger::from_fn(|_, _| {})).unwrap();
    let mut got = 0;
    assert_eq!(s.peek(10, |_| got += 1).unwrap(), 0);
    assert_eq!(got, 0);
    assert!(s.len() == 0 && s.take_damage().places == 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A temporary directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("falco-outputs-spool-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_closed_spool_reopens_while_the_host_spawns_processes() {
    // A child spawned while a handle is open holds a copy of every descriptor until it execs;
    // a handle closed meanwhile must still let the next one open the directory (a host's
    // close-then-init, with program outputs or any other child being spawned).
    let dir = TempDir::new("respawn");
    let log = Logger::from_fn(|_, _| {});
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawned = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let spawner = {
        let (stop, spawned) = (stop.clone(), spawned.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(mut c) = std::process::Command::new("true").spawn() {
                    let _ = c.wait();
                    spawned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
    };
    let children = || spawned.load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let mut rounds = 0;
    // At least 300 rounds, and on until children were spawned meanwhile (a loaded machine may
    // not run the spawner during the first 300).
    while (rounds < 300 || children() < 3) && started.elapsed() < Duration::from_secs(10) {
        let s = Spool::open(&dir.0, 1 << 20, "t", &log);
        if let Err(e) = s {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            panic!("round {rounds}: {e:?}");
        }
        drop(s);
        rounds += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spawner.join().unwrap();
    assert!(
        rounds >= 300 && children() >= 3,
        "{rounds} rounds, {} children",
        children()
    );
}

#[test]
fn a_second_handle_of_this_process_is_refused_at_once_and_the_first_close_frees_it() {
    let dir = TempDir::new("twice");
    let log = Logger::from_fn(|_, _| {});
    let first = Spool::open(&dir.0, 1 << 20, "http_output.spool_dir", &log).unwrap();
    let started = Instant::now();
    let e = match Spool::open(&dir.0, 1 << 20, "http_output.spool_dir", &log) {
        Err(e) if e.kind() == InitErrorKind::Io => e.into_message(),
        _ => panic!("a second handle opened the same spool"),
    };
    assert!(
        e.contains("http_output.spool_dir") && e.contains("another open handle of this process"),
        "{e}"
    );
    assert!(
        started.elapsed() < lock::LOCK_WAIT,
        "refused without waiting"
    );
    drop(first);
    Spool::open(&dir.0, 1 << 20, "http_output.spool_dir", &log).unwrap();
}

#[test]
fn a_lock_another_process_holds_briefly_is_waited_for() {
    use std::io::BufRead;
    let dir = TempDir::new("elsewhere");
    let log = Logger::from_fn(|_, _| {});
    drop(Spool::open(&dir.0, 1 << 20, "t", &log).unwrap());
    // flock(1) holds the lock until its stdin closes, after saying it has it.
    let mut holder = std::process::Command::new("flock")
        .arg(dir.0.join("lock"))
        .args(["sh", "-c", "echo locked; read _"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flock(1) (util-linux)");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "locked\n");
    let stdin = holder.stdin.take().unwrap();
    let started = Instant::now();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(stdin);
    });
    let opened = Spool::open(&dir.0, 1 << 20, "t", &log);
    let waited = started.elapsed();
    release.join().unwrap();
    let _ = holder.wait();
    opened.unwrap();
    assert!(
        waited >= Duration::from_millis(300),
        "{waited:?}: opened while held"
    );
}
