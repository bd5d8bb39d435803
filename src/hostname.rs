//! The host name alerts carry when the host does not give one.

use crate::sys;

/// `$FALCO_HOSTNAME` when it is set, even to nothing (Falco's `init_outputs.cpp` tests
/// `getenv` for NULL only), else gethostname().
pub fn default_hostname() -> String {
    if let Some(h) = std::env::var_os("FALCO_HOSTNAME") {
        return h.to_string_lossy().into_owned();
    }
    sys::hostname()
        .map(|h| String::from_utf8_lossy(&h).into_owned())
        .unwrap_or_default()
}
