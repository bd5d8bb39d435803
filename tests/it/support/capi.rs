//! The C ABI driven from Rust the way a host does: init on YAML with a log callback, emit
//! alerts with fields, flush, read the stats JSON, close.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::{Arc, Mutex};

use ::falco_outputs::ffi::falco_outputs_result::{self, *};
use ::falco_outputs::ffi::*;

type Lines = Mutex<Vec<(i32, String)>>;

unsafe extern "C" fn record(userdata: *mut c_void, level: i32, msg: *const c_char) {
    // SAFETY: userdata is the `Lines` the handle's `Arc` keeps alive until after close.
    let lines = &*(userdata as *const Lines);
    let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
    eprintln!("log {level}: {text}");
    lines.lock().unwrap().push((level, text));
}

/// An open handle; `close` consumes it (dropping it closes too).
pub struct Handle {
    raw: *mut falco_outputs,
    lines: Arc<Lines>,
}

// The C ABI's handle is thread-safe for emit/flush/stats.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Handle {
    pub fn init(yaml: &str) -> Result<Handle, (falco_outputs_result, String)> {
        super::handle::utc();
        let lines: Arc<Lines> = Arc::default();
        let yaml = CString::new(yaml).unwrap();
        let host = CString::new("h").unwrap();
        let opts = falco_outputs_options {
            config_path: null(),
            config_yaml: yaml.as_ptr(),
            overrides: null(),
            overrides_len: 0,
            hostname: host.as_ptr(),
            log_fn: Some(record),
            log_userdata: Arc::as_ptr(&lines) as *mut c_void,
        };
        let mut raw = null_mut();
        let mut err = [0 as c_char; 1024];
        // SAFETY: every pointer is valid for the call.
        let r = unsafe { falco_outputs_init(&opts, &mut raw, err.as_mut_ptr(), err.len()) };
        if r != FALCO_OUTPUTS_OK {
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
            return Err((r, msg.to_string_lossy().into_owned()));
        }
        Ok(Handle { raw, lines })
    }

    pub fn open(yaml: &str) -> Handle {
        Handle::init(yaml).unwrap_or_else(|(r, e)| panic!("init: {r:?} {e}\n{yaml}"))
    }

    /// Emits the seed document's "Write below binary dir" alert numbered `n` (its `evt.num`).
    pub fn emit_seed(&self, n: u64) -> falco_outputs_result {
        let s = |t: &str| CString::new(t).unwrap();
        let (rule, msg, num) = (
            s("Write below binary dir"),
            s("File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)"),
            s(&n.to_string()),
        );
        let (k_num, k_fd, v_fd) = (s("evt.num"), s("fd.name"), s("/bin/hack"));
        let fields = [
            falco_field {
                name: k_num.as_ptr(),
                value: num.as_ptr(),
                kind: FALCO_FIELD_NUMBER,
            },
            falco_field {
                name: k_fd.as_ptr(),
                value: v_fd.as_ptr(),
                kind: FALCO_FIELD_STRING,
            },
        ];
        let tag = s("filesystem");
        let tags = [tag.as_ptr()];
        let alert = falco_alert {
            time_ns: 1507591916746609046 + n,
            priority: FALCO_PRIORITY_ERROR,
            rule: rule.as_ptr(),
            source: null(),
            message: msg.as_ptr(),
            fields: fields.as_ptr(),
            fields_len: fields.len(),
            tags: tags.as_ptr(),
            tags_len: tags.len(),
        };
        // SAFETY: a live handle and an alert whose pointers outlive the call.
        unsafe { falco_outputs_emit(self.raw, &alert) }
    }

    pub fn flush(&self, timeout_ms: u32) -> falco_outputs_result {
        // SAFETY: a live handle.
        unsafe { falco_outputs_flush(self.raw, timeout_ms) }
    }

    pub fn stats_json(&self) -> String {
        let mut buf = vec![0 as c_char; 64 * 1024];
        // SAFETY: a live handle and a buffer of the given size.
        let n = unsafe { falco_outputs_stats_json(self.raw, buf.as_mut_ptr(), buf.len()) };
        assert!(n > 0 && n < buf.len(), "stats_json returned {n}");
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Closes; returns the result and every log line the handle produced.
    pub fn close(mut self, timeout_ms: u32) -> (falco_outputs_result, Vec<String>) {
        let raw = std::mem::replace(&mut self.raw, null_mut());
        // SAFETY: a live handle, closed once.
        let r = unsafe { falco_outputs_close(raw, timeout_ms) };
        (r, log_lines(&self.lines))
    }
}

fn log_lines(lines: &Lines) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m)| m.clone())
        .collect()
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: a live handle, closed once.
            unsafe { falco_outputs_close(self.raw, 0) };
        }
    }
}
