//! A syslog channel driven by hand, as its worker would drive it, for tests that need exact
//! accounting.

use std::ops::Deref;
use std::time::{Duration, Instant};

use falco_outputs::alert::Priority;
use falco_outputs::stats::StatsSnapshot;
use falco_outputs::testing::{
    Channel, Config, InitError, SyslogAddress, SyslogChannel, SyslogConfig, SyslogFormat,
    SyslogTlsConfig,
};

use super::{batch_at_priorities, Harness};

pub fn config(address: &str, format: SyslogFormat, facility: u8) -> Config {
    Config {
        syslog: SyslogConfig {
            enabled: true,
            address: SyslogAddress::parse(address)
                .unwrap_or_else(|e| panic!("syslog address {address}: {e}")),
            format,
            facility,
            min_priority: Priority::Debug,
            ..SyslogConfig::default()
        },
        ..Config::default()
    }
}

/// A syslog channel with its [`Harness`] (reached through `Deref`: `ctx`, `stats()`, logs).
pub struct SyslogHarness {
    pub channel: SyslogChannel,
    pub harness: Harness,
}

impl SyslogHarness {
    pub fn open(address: &str, format: SyslogFormat, facility: u8) -> SyslogHarness {
        Self::try_open(address, format, facility, Duration::from_millis(2000))
            .unwrap_or_else(|e| panic!("open {address}: {e:?}"))
    }

    /// A `tls://` channel with the given `syslog_output.tls` settings.
    pub fn open_tls(address: &str, tls: SyslogTlsConfig) -> SyslogHarness {
        let harness = Harness::new("syslog", false, Duration::from_millis(2000));
        let mut cfg = config(address, SyslogFormat::Rfc3164, 1);
        cfg.syslog.tls = tls;
        let channel = SyslogChannel::open(&cfg, &harness.logger())
            .unwrap_or_else(|e| panic!("open {address}: {e:?}"));
        SyslogHarness { channel, harness }
    }

    pub fn try_open(
        address: &str,
        format: SyslogFormat,
        facility: u8,
        output_timeout: Duration,
    ) -> Result<SyslogHarness, InitError> {
        let harness = Harness::new("syslog", false, output_timeout);
        let channel = SyslogChannel::open(&config(address, format, facility), &harness.logger())?;
        Ok(SyslogHarness { channel, harness })
    }

    pub fn deliver(&mut self, lines: &[(Priority, String)]) {
        self.channel
            .deliver(&batch_at_priorities(lines), &self.harness.ctx);
    }

    /// Ticks the channel as its worker would, until it holds no unconfirmed alert (TCP waits
    /// for acknowledgements, RELP for answers) or 30 s passed; then the counters.
    pub fn settled_stats(&mut self) -> StatsSnapshot {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.channel.held() > 0 && Instant::now() < deadline {
            if let Some(t) = self.channel.next_wake() {
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
            }
            self.channel.tick(&self.harness.ctx);
        }
        self.stats()
    }
}

impl Deref for SyslogHarness {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.harness
    }
}
