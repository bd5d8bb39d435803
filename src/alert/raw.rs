//! [`RawAlert`]: an alert as an engine thread fills it, before the fan-out thread checks it
//! into an [`Alert`] (in place, the same memory).

use std::sync::Arc;

use super::checked::Alert;
use super::kinds::Priority;

/// An alert as an engine thread fills it: the host's bytes, not yet checked as UTF-8. The
/// fan-out thread (which reads every byte anyway) turns it into an [`Alert`] with
/// [`RawAlert::checked`], so `emit` copies each string once and scans nothing. Nothing can
/// read a `RawAlert`'s text as `str` (only [`RawAlert::as_checked`], once it was checked).
#[repr(transparent)]
#[derive(Clone, Debug)]
pub struct RawAlert(pub(super) Alert);

impl RawAlert {
    /// An alert with nothing in it, to be filled by
    /// [`AlertBuilder::reuse`](super::AlertBuilder::reuse).
    pub fn empty() -> RawAlert {
        RawAlert(Alert::empty())
    }

    pub fn priority(&self) -> Priority {
        self.0.priority
    }

    /// Small enough to be kept for reuse (see [`Alert::recyclable`]).
    pub fn recyclable(&self) -> bool {
        self.0.recyclable()
    }

    /// Checks it now (an engine thread that must read its text: a channel's `match`).
    pub fn check(&mut self) -> &Alert {
        self.0.check();
        &self.0
    }

    /// The alert, if [`RawAlert::check`] already ran.
    pub fn as_checked(&self) -> Option<&Alert> {
        self.0.checked.then_some(&self.0)
    }

    /// The alert, checked (and repaired where it is not UTF-8): on the fan-out thread.
    pub fn checked(mut raw: Arc<RawAlert>) -> Arc<Alert> {
        // Read first: a valid alert is not written to, so its cache lines stay clean for the
        // engine thread that refills it next (on the other core).
        if !(raw.0.checked || raw.0.is_valid()) {
            // Unique when it comes from the intake (emit hands its only reference over).
            Arc::make_mut(&mut raw).0.check();
        }
        // SAFETY: `RawAlert` is `repr(transparent)` over `Alert` (same size and alignment, as
        // `Arc::from_raw` requires), and the `Alert` invariant holds: checked before, found
        // valid, or repaired just above.
        unsafe { Arc::from_raw(Arc::into_raw(raw).cast::<Alert>()) }
    }

    /// The alert, checked on this thread (tests, Rust callers).
    pub fn into_checked(mut self) -> Alert {
        self.0.check();
        self.0
    }

    /// A spent alert, for reuse by an engine thread.
    pub fn recycle(alert: Arc<Alert>) -> Arc<RawAlert> {
        // SAFETY: `repr(transparent)` as above; every `Alert` is a valid `RawAlert` (it only
        // has fewer guarantees).
        unsafe { Arc::from_raw(Arc::into_raw(alert).cast::<RawAlert>()) }
    }
}

impl From<Alert> for RawAlert {
    /// An alert already checked (a Rust caller's): nothing to check again.
    fn from(mut alert: Alert) -> RawAlert {
        alert.checked = true;
        RawAlert(alert)
    }
}
