//! What the client (and the TLS check of `server_name`) reported, kept for the channel's worker
//! to log: the client calls back on its own task, the worker logs on its thread.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Client events waiting for the worker to log them; beyond this the oldest go.
const EVENTS_KEPT: usize = 64;

/// What the client reported, for the worker to log (never a secret: the client's event texts
/// name a kind of failure, not the options).
#[derive(Clone, Default, Debug)]
pub struct Events(Arc<Mutex<VecDeque<String>>>);

impl Events {
    pub fn push(&self, e: String) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= EVENTS_KEPT {
            q.pop_front();
        }
        q.push_back(e);
    }
    pub fn take(&self) -> Vec<String> {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }
}
