//! The host's local time zone, resolved once (per handle, at init) the way glibc's `tzset` does,
//! so the hot path never calls `localtime_r` nor reads the environment.

use std::fmt;
use std::sync::Arc;

use tz::TimeZone;

/// A resolved time zone. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct LocalZone {
    inner: Arc<Inner>,
}

enum Inner {
    Utc,
    Zone { name: String, tz: TimeZone },
}

impl LocalZone {
    /// The zone that `TZ` names as the environment stands now, resolved like glibc:
    /// unset -> `/etc/localtime` (UTC when it cannot be read); empty -> UTC; `:path`, a name under
    /// `/usr/share/zoneinfo`, or a POSIX TZ string such as `PST8PDT,M3.2.0,M11.1.0` -> that zone;
    /// a value none of those accept -> UTC (glibc's fallback for an unusable `TZ`).
    pub fn from_env() -> LocalZone {
        match std::env::var_os("TZ") {
            None => Self::from_etc_localtime().unwrap_or_else(LocalZone::utc),
            Some(value) => match value.to_str() {
                Some(s) => Self::from_tz(s).unwrap_or_else(LocalZone::utc),
                None => LocalZone::utc(),
            },
        }
    }

    /// The zone `/etc/localtime` describes, if it can be read and parsed.
    pub fn from_etc_localtime() -> Option<LocalZone> {
        TimeZone::local().ok().map(|tz| LocalZone {
            inner: Arc::new(Inner::Zone {
                name: "/etc/localtime".to_string(),
                tz,
            }),
        })
    }

    /// The zone a `TZ` value names: `""` is UTC; `:path`, a zoneinfo name
    /// (`America/Los_Angeles`) or a POSIX TZ string. `None` when it names nothing usable.
    pub fn from_tz(tz: &str) -> Option<LocalZone> {
        if tz.is_empty() {
            return Some(LocalZone::utc());
        }
        TimeZone::from_posix_tz(tz).ok().map(|zone| LocalZone {
            inner: Arc::new(Inner::Zone {
                name: tz.to_string(),
                tz: zone,
            }),
        })
    }

    /// Coordinated Universal Time.
    pub fn utc() -> LocalZone {
        LocalZone {
            inner: Arc::new(Inner::Utc),
        }
    }

    /// The zone's offset at `unix_secs`, in seconds east of UTC (0 if the zone has no answer).
    pub fn offset_at(&self, unix_secs: i64) -> i32 {
        match &*self.inner {
            Inner::Utc => 0,
            Inner::Zone { tz, .. } => tz
                .find_local_time_type(unix_secs)
                .map(|t| t.ut_offset())
                .unwrap_or(0),
        }
    }
}

impl fmt::Debug for LocalZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Inner::Utc => f.write_str("LocalZone(UTC)"),
            Inner::Zone { name, .. } => write!(f, "LocalZone({name:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMER_2017: i64 = 1_507_591_916; // 2017-10-09T23:31:56Z
    const WINTER_2017: i64 = 1_483_228_800; // 2017-01-01T00:00:00Z

    #[test]
    fn posix_tz_string_follows_its_dst_rules() {
        let z = LocalZone::from_tz("PST8PDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(z.offset_at(SUMMER_2017), -7 * 3600);
        assert_eq!(z.offset_at(WINTER_2017), -8 * 3600);
    }

    #[test]
    fn named_zone_from_zoneinfo_when_installed() {
        if !std::path::Path::new("/usr/share/zoneinfo/America/Los_Angeles").exists() {
            return;
        }
        let z = LocalZone::from_tz("America/Los_Angeles").unwrap();
        assert_eq!(z.offset_at(SUMMER_2017), -7 * 3600);
        assert_eq!(z.offset_at(WINTER_2017), -8 * 3600);
        let z = LocalZone::from_tz(":/usr/share/zoneinfo/Asia/Kolkata").unwrap();
        assert_eq!(z.offset_at(SUMMER_2017), 5 * 3600 + 1800);
    }

    #[test]
    fn empty_tz_is_utc_and_garbage_is_refused() {
        assert_eq!(LocalZone::from_tz("").unwrap().offset_at(SUMMER_2017), 0);
        assert_eq!(LocalZone::utc().offset_at(SUMMER_2017), 0);
        assert!(LocalZone::from_tz("No/Such_Zone").is_none());
        assert_eq!(
            LocalZone::from_tz("UTC-5:30").unwrap().offset_at(0),
            5 * 3600 + 1800
        );
    }

    #[test]
    fn zone_is_send_sync_and_debug() {
        fn check<T: Send + Sync + Clone + fmt::Debug>() {}
        check::<LocalZone>();
        assert_eq!(format!("{:?}", LocalZone::utc()), "LocalZone(UTC)");
    }
}
