//! `server_name`: the client's TLS settings made here (rustls, as async-nats takes them) when the
//! name the server's certificate must carry is not the URL's host. The usual chain and date
//! checks (webpki) run unchanged; only the name they check is `server_name`. A certificate it
//! refuses is reported through the client's events, with rustls's reason (the names the
//! certificate does carry), since the client itself only says "IO error".

use std::sync::Arc;

use async_nats::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use async_nats::rustls::client::{WantsClientCert, WebPkiServerVerifier};
use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use async_nats::rustls::{ClientConfig, ConfigBuilder, DigitallySignedStruct, Error};
use async_nats::rustls::{RootCertStore, SignatureScheme};

use super::events::Events;
use crate::config::NatsConfig;
use crate::error::InitError;

/// Checks the server's certificate as webpki does, for `name` instead of the URL's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
    events: Events,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
            .inspect_err(|e| {
                self.events.push(format!(
                    "TLS: the server's certificate is refused, checked for server_name {}: {e}",
                    self.name.to_str()
                ))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `server_name` checked: a DNS name or an IP address.
pub fn server_name(cfg: &NatsConfig, block: &str) -> Result<ServerName<'static>, InitError> {
    ServerName::try_from(cfg.server_name.clone()).map_err(|_| {
        InitError::config(format!(
            "{block}.server_name: {:?} is not a DNS name or an IP address",
            cfg.server_name
        ))
    })
}

/// The trusted CAs: `ca_cert`'s, else the system's (as the client does without `ca_cert`).
fn roots(cfg: &NatsConfig, block: &str) -> Result<RootCertStore, InitError> {
    let mut roots = RootCertStore::empty();
    if cfg.ca_cert.is_empty() {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        return Ok(roots);
    }
    let bad = |e: String| InitError::config(format!("{block}.ca_cert: {}: {e}", cfg.ca_cert));
    let certs = CertificateDer::pem_file_iter(&cfg.ca_cert)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    for c in certs {
        roots.add(c).map_err(|e| bad(e.to_string()))?;
    }
    Ok(roots)
}

/// The client certificate and key, when set (connect.rs checked that both or neither are).
fn client_auth(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    cfg: &NatsConfig,
    block: &str,
) -> Result<ClientConfig, InitError> {
    if cfg.client_cert.is_empty() {
        return Ok(builder.with_no_client_auth());
    }
    let bad =
        |key: &str, path: &str, e: String| InitError::config(format!("{block}.{key}: {path}: {e}"));
    let certs = CertificateDer::pem_file_iter(&cfg.client_cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("client_cert", &cfg.client_cert, e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(&cfg.client_key)
        .map_err(|e| bad("client_key", &cfg.client_key, e.to_string()))?;
    builder
        .with_client_auth_cert(certs, key)
        .map_err(|e| bad("client_key", &cfg.client_key, e.to_string()))
}

/// The client's TLS settings with the server's certificate checked for `server_name`; rustls's
/// defaults (its provider from the crate's features, protocol versions) as the client uses.
pub fn config(cfg: &NatsConfig, block: &str, events: Events) -> Result<ClientConfig, InitError> {
    let name = server_name(cfg, block)?;
    let inner = WebPkiServerVerifier::builder(Arc::new(roots(cfg, block)?))
        .build()
        .map_err(|e| InitError::config(format!("{block}.ca_cert: {e}")))?;
    let verifier = NamedVerifier {
        inner,
        name,
        events,
    };
    let builder = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    client_auth(builder, cfg, block)
}
