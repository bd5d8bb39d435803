//! The values of `syslog_output.tls` with a shape of their own: `auth_mode` and the
//! `permitted_peers` pins.

use super::read::{Reader, Setting};
use super::yaml::Node;
use crate::error::InitError;

/// `syslog_output.tls.auth_mode`: how the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsAuthMode {
    /// It chains to a trusted CA and names `server_name` (subjectAltName, else CN).
    #[default]
    Name,
    /// It chains to a CA of `ca_cert`/`ca_path` (any name).
    CertValid,
    /// Its SHA-256 fingerprint is one of `permitted_peers` (no CA involved).
    Fingerprint,
}

impl TlsAuthMode {
    pub fn name(self) -> &'static str {
        match self {
            TlsAuthMode::Name => "name",
            TlsAuthMode::CertValid => "certvalid",
            TlsAuthMode::Fingerprint => "fingerprint",
        }
    }
}

impl Setting for TlsAuthMode {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "name, certvalid or fingerprint")?;
        match t.text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "name" => Ok(Some(TlsAuthMode::Name)),
            "certvalid" => Ok(Some(TlsAuthMode::CertValid)),
            "fingerprint" => Ok(Some(TlsAuthMode::Fingerprint)),
            _ => Err(InitError::key(
                key,
                format!("expected name, certvalid or fingerprint, got {}", t.shown),
            )),
        }
    }
}

/// A `SHA256:` pin of a certificate (the DER's SHA-256, as `openssl x509 -fingerprint -sha256`
/// prints it; colons optional, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn parse(s: &str) -> Result<Fingerprint, String> {
        let (algo, hex) = s
            .split_once(':')
            .ok_or_else(|| "expected SHA256: followed by 32 hex bytes".to_string())?;
        if !algo.eq_ignore_ascii_case("sha256") {
            return Err(format!(
                "only SHA256 fingerprints are accepted (got {algo}; SHA1 is too weak to pin)"
            ));
        }
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err("expected SHA256: followed by 32 hex bytes".to_string());
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16).unwrap_or(0);
            let lo = (pair[1] as char).to_digit(16).unwrap_or(0);
            out[i] = (hi * 16 + lo) as u8;
        }
        Ok(Fingerprint(out))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SHA256")?;
        for b in self.0 {
            write!(f, ":{b:02X}")?;
        }
        Ok(())
    }
}

impl Setting for Fingerprint {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "a SHA256: fingerprint")?;
        let s = t.text.trim();
        if s.is_empty() {
            return Ok(None);
        }
        Fingerprint::parse(s)
            .map(Some)
            .map_err(|why| InitError::key(key, format!("{why}, got {}", t.shown)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let colons = format!("SHA256:{}", vec!["AB"; 32].join(":"));
        let plain = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(Fingerprint::parse(&colons), Fingerprint::parse(&plain));
        assert_eq!(Fingerprint::parse(&plain).unwrap().0, [0xab; 32]);
        assert_eq!(Fingerprint::parse(&plain).unwrap().to_string(), colons);
        for bad in [
            "",
            "SHA256",
            "SHA256:abcd",
            "SHA1:ab:cd",
            "md5:00",
            &"0".repeat(64),
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
        let zz = format!("SHA256:{}", "zz".repeat(32));
        assert!(Fingerprint::parse(&zz).is_err());
    }
}
