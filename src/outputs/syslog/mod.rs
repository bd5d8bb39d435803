//! The syslog channel: one message per alert, severity = the alert's priority.
//!
//! It writes to the socket itself instead of calling libc's syslog(3): syslog(3) keeps
//! process-global openlog state (tag, facility, socket) that belongs to the host, serialises every
//! caller on one global lock, and blocks without a bound when the daemon is slow. The bytes are
//! still the ones syslog(3) would send (see `wire.rs`).
//!
//! A daemon that is absent or restarting never blocks other channels (this runs on its own
//! worker) nor this one for long: every send has a deadline (`output_timeout`), and what cannot
//! be sent is counted as failed and logged at most every 10 s (`link.rs`).
//!
//! Datagrams (unix, UDP) are delivered when the kernel took them. Streams (TCP, a unix stream
//! socket, RELP) keep every alert in a [`Ledger`] until the peer confirmed it (see
//! `ledger.rs`); a reset or closed peer is noticed after each write, logged, and what it had
//! not confirmed is written again on the next connection.
//!
//! The transport is chosen once, from the address, when the channel is built (`channel.rs`),
//! and each file holds one:
//!
//! | address | transport | file |
//! | --- | --- | --- |
//! | `udp://` | datagrams | `datagram.rs` |
//! | `unix://` | datagrams, or a stream when the daemon offers only that (glibc's fallback) | `local.rs` |
//! | `tcp://`, `tls://` | a stream, alerts confirmed by the kernel's acknowledgements | `stream.rs` + `kernel_acks.rs` |
//! | `relp://`, `relp+tls://` | a stream, alerts confirmed by the RELP server's answers | `stream.rs` + `relp_session.rs` |
//!
//! | file | what |
//! | --- | --- |
//! | `channel.rs` | the channel: opening, choosing the transport, the `Channel` methods |
//! | `transport.rs` | what every transport does: deliver, pump, hold, reopen, close |
//! | `link.rs` | what every transport shares: the connection, backoff, outage logs |
//! | `datagram.rs` | `udp://`: an alert per datagram, resent once when refused |
//! | `local.rs` | `unix://`: datagrams, or the unix stream's ledger |
//! | `stream.rs` | every stream transport's ledger pump: write, collect, reconnect, give up |
//! | `kernel_acks.rs` | TCP / unix stream framing, confirmation by acknowledged bytes |
//! | `relp_session.rs`, `relp.rs` | RELP: the session, its window and answers; framing and parsing |
//! | `ledger.rs` | a stream's alerts held until the peer confirmed them |
//! | `tls.rs` | TLS: context, handshake, verification, certificate reload |
//! | `conn.rs` | one connection: the socket, clear or TLS; send, read, peer state |
//! | `unix.rs`, `udp.rs`, `tcp.rs` | opening each kind of socket |
//! | `socket.rs` | the non-blocking socket under all of them, `poll` waits |
//! | `wire.rs` | the message bytes (RFC 3164 / 5424) and stream framing |

mod channel;
mod conn;
mod datagram;
mod kernel_acks;
mod ledger;
mod link;
mod local;
mod relp;
mod relp_session;
mod socket;
mod stream;
mod tcp;
mod tls;
mod transport;
mod udp;
mod unix;
mod wire;

pub use channel::SyslogChannel;
