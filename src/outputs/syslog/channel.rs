//! The syslog channel: builds the transport its address names (once, at open) and hands it each
//! alert's message; `reopen` and `close` reach the connection and the transport.

use std::time::Instant;

use super::datagram::Udp;
use super::kernel_acks::KernelAcks;
use super::link::{self, Link};
use super::local::Local;
use super::relp_session::{self, Relp};
use super::stream::Stream;
use super::tls::TlsClient;
use super::transport::Transport;
use super::wire::{encode, Header};
use crate::config::{Config, SyslogAddress as Address, SyslogFormat};
use crate::date::LocalZone;
use crate::error::InitError;
use crate::log::Logger;
use crate::outputs::{Batch, Channel, ChannelCtx};

pub struct SyslogChannel {
    header: Header,
    link: Link,
    transport: Box<dyn Transport>,
}

/// syslog(3)'s default tag when the host never called openlog: glibc's `__progname`, the base
/// name of argv[0].
fn program_short_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// The transport an address names, and how it retries connecting.
fn transport_for(address: &Address) -> (Box<dyn Transport>, link::Retry) {
    match address {
        Address::Unix(_) => (Box::new(Local::new()), link::RETRY),
        Address::Udp(..) => (Box::<Udp>::default(), link::RETRY),
        Address::Tcp(..) | Address::Tls(..) => {
            (Box::new(Stream::new(KernelAcks::tcp())), link::RETRY)
        }
        Address::Relp(..) | Address::RelpTls(..) => {
            (Box::new(Stream::new(Relp::default())), relp_session::RETRY)
        }
    }
}

impl SyslogChannel {
    /// Opens with the default host name (`$FALCO_HOSTNAME`, else gethostname()).
    pub fn open(cfg: &Config, log: &Logger) -> Result<SyslogChannel, InitError> {
        Self::open_for_host(cfg, log, &crate::hostname::default_hostname())
    }

    /// Opens with the host name the handle's alerts carry (`options.hostname`).
    pub fn open_for_host(
        cfg: &Config,
        log: &Logger,
        hostname: &str,
    ) -> Result<SyslogChannel, InitError> {
        let c = &cfg.syslog;
        // Already valid: the config checked the address and the facility.
        let address = c.address.clone();
        let is_local = matches!(address, Address::Unix(_));
        // glibc sends no hostname to the local socket; RFC 5424 always has the field.
        let hostname = if is_local && c.format == SyslogFormat::Rfc3164 {
            None
        } else {
            Some(hostname.to_string())
        };
        if let Address::Unix(path) = &address {
            if !path.exists() {
                log.warning(&format!(
                    "syslog output: {} does not exist (yet); alerts are counted as failed until a syslog daemon listens there",
                    path.display()
                ));
            }
        }
        let tls = match (address.is_tls(), address.host()) {
            (true, Some(host)) => Some(TlsClient::new(&c.tls, host, log)?),
            _ => None,
        };
        let (transport, retry) = transport_for(&address);
        Ok(SyslogChannel {
            header: Header {
                format: c.format.clone(),
                facility: c.facility,
                tag: program_short_name(),
                hostname,
                pid: std::process::id(),
                zone: LocalZone::from_env(),
            },
            link: Link::new(address, tls, retry),
            transport,
        })
    }
}

impl Channel for SyslogChannel {
    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        for i in 0..batch.len() {
            let line = &batch.lines[i];
            let mut msg = self.transport.buffer();
            encode(
                &mut msg,
                &self.header,
                line.priority as u8,
                line.time_ns,
                batch.line(i),
            );
            self.transport.deliver(&mut self.link, msg, ctx);
        }
        // Streams: the batch is in the ledger; write it (one peer check per write) and collect
        // confirmations once for the batch.
        if self.transport.has_waiting() {
            self.transport.pump(&mut self.link, ctx);
        }
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        if self.transport.held() > 0 {
            self.transport.pump(&mut self.link, ctx);
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        self.transport.next_wake()
    }

    fn held(&self) -> usize {
        self.transport.held()
    }

    /// Drops the connection; the next alert connects afresh (e.g. after the daemon restarted).
    /// What the old connection had not confirmed is written again on the new one.
    fn reopen(&mut self, ctx: &ChannelCtx) {
        self.link.reopen(ctx);
        self.transport.connection_dropped();
    }

    /// Ends a RELP session politely; what is still held (close gave up) is discarded: counted,
    /// and logged by close itself.
    fn close(&mut self, ctx: &ChannelCtx) {
        self.transport.close(&mut self.link, ctx);
        self.link.close(ctx);
    }
}
