//! The host name alerts carry when the host does not give one.

use crate::sys;

/// `$FALCO_HOSTNAME`, else gethostname(), as Falco does.
pub fn default_hostname() -> String {
    if let Ok(h) = std::env::var("FALCO_HOSTNAME") {
        if !h.is_empty() {
            return h;
        }
    }
    sys::hostname()
        .map(|h| String::from_utf8_lossy(&h).into_owned())
        .unwrap_or_default()
}
