//! The syslog channel: one message per alert, severity = the alert's priority.
//!
//! It writes to the socket itself instead of calling libc's syslog(3): syslog(3) keeps
//! process-global openlog state (tag, facility, socket) that belongs to the host, serialises every
//! caller on one global lock, and blocks without a bound when the daemon is slow. The bytes are
//! still the ones syslog(3) would send (see `wire.rs`).
//!
//! A daemon that is absent or restarting never blocks other channels (this runs on its own
//! worker) nor this one for long: every send has a deadline (`output_timeout`), and what cannot
//! be sent is counted as failed and logged at most every [`LOG_EVERY`].
//!
//! Datagrams (unix, UDP) are delivered when the kernel took them. Streams (TCP, a unix stream
//! socket, RELP) keep every alert in a [`Ledger`] until the peer confirmed it (see
//! `ledger.rs`); a reset or closed peer is noticed after each write, logged, and what it had
//! not confirmed is written again on the next connection.
//!
//! | file | what |
//! | --- | --- |
//! | `channel.rs` | the channel: opening, the `Channel` methods, connecting with backoff, outage logs |
//! | `datagram.rs` | delivery as datagrams (unix datagram socket, UDP) |
//! | `stream.rs` | delivery through the ledger over a stream (TCP, unix stream, RELP; also under TLS) |
//! | `ledger.rs` | a stream's alerts held until the peer confirmed them |
//! | `relp.rs`, `relp_session.rs` | RELP framing and parsing; a RELP session (open, answers, close) |
//! | `tls.rs` | TLS: context, handshake, verification, certificate reload |
//! | `conn.rs` | one connection: the transport's socket, clear or TLS; send, read, peer state |
//! | `unix.rs`, `udp.rs`, `tcp.rs` | opening each transport's socket |
//! | `socket.rs` | the non-blocking socket under all of them, `poll` waits |
//! | `wire.rs` | the message bytes (RFC 3164 / 5424) and stream framing |

mod channel;
mod conn;
mod datagram;
mod ledger;
mod relp;
mod relp_session;
mod socket;
mod stream;
mod tcp;
mod tls;
mod udp;
mod unix;
mod wire;

pub use channel::SyslogChannel;
