//! `http_output`: the HTTP transport (`http.rs`) with the payload its `format` names: Falco's
//! lines (`lines.rs`, the default) or a SIEM's API (an extension; docs/http.md): Splunk HEC
//! events (`splunk_hec.rs`), Elasticsearch bulk NDJSON (`elasticsearch_bulk.rs`), Loki push
//! streams (`loki.rs`). Each is a [`Payload`]; the transport never names them.

mod elasticsearch_bulk;
mod lines;
mod loki;
mod splunk_hec;

use crate::config::{Config, HttpConfig, HttpFormat};
use crate::error::InitError;
use crate::log::Logger;
use crate::outputs::http::payload::Payload;
use crate::outputs::http::{HttpChannel, Requests};

use elasticsearch_bulk::ElasticBulk;
use lines::Lines;
use loki::LokiPush;
use splunk_hec::SplunkHec;

// The `http_output` channel's constructors live beside its payloads, so that the transport's
// own file never names a format.
impl HttpChannel {
    pub fn open(cfg: &Config, log: &Logger) -> Result<HttpChannel, InitError> {
        HttpChannel::open_http(&cfg.http, cfg.json_output, log)
    }

    /// Opens the channel from its own block of the configuration.
    pub fn open_http(
        http: &HttpConfig,
        json_output: bool,
        log: &Logger,
    ) -> Result<HttpChannel, InitError> {
        let requests = Requests::of(http);
        let payload: Box<dyn Payload> = match http.format {
            HttpFormat::Falco => Box::new(Lines::new(json_output, http.transport.batch_max_alerts)),
            HttpFormat::SplunkHec => {
                // HEC's token goes in a header of every request.
                let mut transport = http.transport.clone();
                transport
                    .headers
                    .push(SplunkHec::authorization(&http.splunk_hec));
                let payload = Box::new(SplunkHec::new(&http.splunk_hec));
                return HttpChannel::open_with(&transport, requests, payload, "http_output", log);
            }
            HttpFormat::ElasticsearchBulk => Box::new(ElasticBulk::new(&http.elasticsearch_bulk)),
            HttpFormat::Loki => Box::new(LokiPush::new(&http.loki)),
        };
        HttpChannel::open_with(&http.transport, requests, payload, "http_output", log)
    }
}
