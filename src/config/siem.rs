//! `http_output.format` and the blocks of the SIEM payloads (an extension, docs/http.md):
//! Splunk HEC, Elasticsearch bulk, Loki push. The transport keys stay those of the block.

use super::read::{quote, Reader, Setting};
use super::schema::settings;
use super::yaml::Node;
use crate::error::InitError;

/// What the requests of an HTTP channel carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpFormat {
    /// Falco's alert lines (Falco's behaviour).
    #[default]
    Falco,
    SplunkHec,
    ElasticsearchBulk,
    Loki,
}

const FORMATS: &str = "falco, splunk_hec, elasticsearch_bulk, loki";

impl Setting for HttpFormat {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, FORMATS)?;
        Ok(Some(match t.text.trim() {
            "" => return Ok(None),
            "falco" => HttpFormat::Falco,
            "splunk_hec" => HttpFormat::SplunkHec,
            "elasticsearch_bulk" => HttpFormat::ElasticsearchBulk,
            "loki" => HttpFormat::Loki,
            _ => {
                return Err(InitError::key(
                    key,
                    format!("expected one of {FORMATS}, got {}", t.shown),
                ))
            }
        }))
    }
}

/// A credential: never shown in a message; no CR, LF or NUL (it goes into a header).
pub fn read_secret(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<String>, InitError> {
    let v = r.secret_text(key, node, "a string")?;
    if v.contains(['\r', '\n', '\0']) {
        return Err(InitError::key(
            key,
            "a CR, LF or NUL character is not allowed (the value is not shown)",
        ));
    }
    Ok(Some(v))
}

/// Loki label names: from the alert, never from its fields (bounded cardinality).
pub const LOKI_LABELS: [&str; 4] = ["priority", "rule", "source", "hostname"];

fn read_labels(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<Vec<String>>, InitError> {
    let Some(labels) = <Vec<String>>::read(r, key, node)? else {
        return Ok(None);
    };
    for l in &labels {
        if !LOKI_LABELS.contains(&l.as_str()) {
            return Err(InitError::key(
                key,
                format!(
                    "{} is not a label this channel sets (one of {}; field values are never \
                     labels: they would make the streams unbounded)",
                    quote(l),
                    LOKI_LABELS.join(", ")
                ),
            ));
        }
    }
    Ok(Some(labels))
}

settings! {
    /// `http_output.splunk_hec`.
    pub struct SplunkHecConfig {
        /// The HEC token: sent as `Authorization: Splunk <token>`; required with this format.
        token: String = String::new() => read_secret,
        /// "" = the token's default index.
        index: String = String::new(),
        source: String = "falco".to_string(),
        sourcetype: String = "falco".to_string(),
    }
}

settings! {
    /// `http_output.elasticsearch_bulk`.
    pub struct ElasticsearchConfig {
        /// The index (or data stream) every alert goes to.
        index: String = "falco".to_string(),
    }
}

settings! {
    /// `http_output.loki`.
    pub struct LokiConfig {
        /// Which of priority, rule, source, hostname label the streams.
        labels: Vec<String> = LOKI_LABELS.iter().map(|s| s.to_string()).collect() => read_labels,
        /// Distinct rule names used as label values; later rules share `rule="_other"`.
        max_rules: usize = 500,
    }
}
