//! Values with a unit: a size in bytes (`10M`) and a duration (`1h`), for the keys of the
//! extensions (`file_output.rotate`, `storm.window`). A bare integer is bytes or seconds.

use super::read::Reader;
use super::yaml::Node;
use crate::error::InitError;

/// Splits `12k` into (12, "k"); None when the text does not start with a digit.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, s[end..].trim()))
}

/// A size: `1048576`, `512K`, `10M`, `1G` (binary units: K = 1024; `KB`, `KiB` and lower
/// case mean the same); 0 = no limit.
pub fn read_size(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<u64>, InitError> {
    let t = r.text(key, node, "a size such as 10M")?;
    let s = t.text.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let parsed = number_and_unit(s).and_then(|(n, unit)| {
        let shift = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return None,
        };
        n.checked_mul(1u64 << shift)
    });
    parsed.map(Some).ok_or_else(|| {
        InitError::key(
            key,
            format!(
                "expected a size in bytes, or with a unit K, M or G (1024-based) such as 10M, got {}",
                t.shown
            ),
        )
    })
}

/// A duration: `90` (seconds), `500ms`, `30s`, `10m`, `1h`, `1d`; returned in milliseconds.
pub fn read_duration_ms(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<u64>, InitError> {
    let t = r.text(key, node, "a duration such as 1h")?;
    let s = t.text.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let parsed = number_and_unit(s).and_then(|(n, unit)| {
        let ms: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        n.checked_mul(ms)
    });
    parsed.map(Some).ok_or_else(|| {
        InitError::key(
            key,
            format!(
                "expected a duration: a number of seconds, or with a unit ms, s, m, h or d such \
                 as 1h, got {}",
                t.shown
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(s: &str) -> Result<Option<u64>, InitError> {
        let mut warn = |_| {};
        read_size(&mut Reader::new(&mut warn), "k", &Node::Scalar(s.into()))
    }
    fn dur(s: &str) -> Result<Option<u64>, InitError> {
        let mut warn = |_| {};
        read_duration_ms(&mut Reader::new(&mut warn), "k", &Node::Scalar(s.into()))
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size("4096").unwrap(), Some(4096));
        assert_eq!(size("10M").unwrap(), Some(10 << 20));
        assert_eq!(size("2 KiB").unwrap(), Some(2048));
        assert_eq!(size("1g").unwrap(), Some(1 << 30));
        assert_eq!(size("").unwrap(), None);
        let e = size("10 parsecs").unwrap_err().to_string();
        assert!(
            e.contains("config key `k`") && e.contains("10 parsecs"),
            "{e}"
        );
        assert!(size("-1").is_err());
        assert!(size("99999999999999999999G").is_err());
        assert_eq!(dur("90").unwrap(), Some(90_000));
        assert_eq!(dur("500ms").unwrap(), Some(500));
        assert_eq!(dur("1h").unwrap(), Some(3_600_000));
        assert_eq!(dur("2d").unwrap(), Some(172_800_000));
        let e = dur("1 fortnight").unwrap_err().to_string();
        assert!(
            e.contains("config key `k`") && e.contains("fortnight"),
            "{e}"
        );
    }
}
