//! A connection to a `syslog_output.address`: the socket its transport opened (`unix.rs`,
//! `udp.rs`, `tcp.rs`), in clear text or under TLS (`tls.rs`); sending one framed message with a
//! deadline, and what the kernel knows about the peer (hang-up, reset, unacknowledged bytes).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::Socket;

use super::socket::{poll_once, wait_writable, Counted, Kind};
use super::tls::{self as tls, TlsClient, TlsStream};
use super::{tcp, udp, unix};
use crate::config::SyslogAddress as Address;
use crate::sys;

/// A connected, non-blocking, close-on-exec syslog socket, in clear text or under TLS.
pub struct Conn {
    stream: Stream,
    kind: Kind,
}

enum Stream {
    Plain(Counted),
    /// `tls://`, `relp+tls://`: the TLS session owns the socket.
    Tls(Box<TlsStream>),
}

/// How a stream's peer stands, seen without blocking.
#[derive(Debug)]
pub enum Peer {
    /// Connected; no hang-up or error pending.
    Alive,
    /// The peer closed (end of file) or reset the connection, or an error is pending on it.
    Gone(io::Error),
}

impl Conn {
    /// Connects to `addr` (RELP connects like TCP), waiting at most until `deadline`; a TLS
    /// address (with its `tls` client) completes the handshake and the server's verification
    /// before anything else is written.
    pub fn connect(
        addr: &Address,
        tls: Option<&TlsClient>,
        deadline: Instant,
        abort: &dyn Fn() -> bool,
    ) -> io::Result<Conn> {
        let (sock, kind) = match addr {
            Address::Unix(path) => unix::connect(path, deadline, abort)?,
            Address::Udp(host, port) => udp::connect(host, *port, deadline, abort)?,
            Address::Tcp(host, port)
            | Address::Relp(host, port)
            | Address::Tls(host, port)
            | Address::RelpTls(host, port) => tcp::connect(host, *port, deadline, abort)?,
        };
        let counted = Counted { sock, written: 0 };
        let stream = if addr.is_tls() {
            // Never clear text on a TLS address: no client, no connection.
            let tls = tls.ok_or_else(|| io::Error::other("no TLS settings for a TLS address"))?;
            Stream::Tls(Box::new(tls.handshake(counted, deadline, abort)?))
        } else {
            Stream::Plain(counted)
        };
        Ok(Conn { stream, kind })
    }

    fn counted(&self) -> &Counted {
        match &self.stream {
            Stream::Plain(c) => c,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    fn sock(&self) -> &Socket {
        &self.counted().sock
    }

    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::UnixStream | Kind::Tcp)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock().as_fd()
    }

    /// Ends a TLS session politely (close_notify, without waiting); nothing for clear text.
    pub fn shutdown_tls(&mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            tls::shutdown(s);
        }
    }

    /// Bytes written on this stream so far (under TLS: record bytes).
    pub fn written(&self) -> u64 {
        self.counted().written
    }

    /// Bytes written that the peer has not acknowledged yet: TCP counts what its peer has not
    /// ACKed, a unix stream what the daemon has not read (SIOCOUTQ).
    pub fn unacknowledged(&self) -> io::Result<u64> {
        Ok(sys::unsent_bytes(self.fd())? as u64)
    }

    /// Bytes of this stream the peer has acknowledged.
    pub fn acknowledged(&self) -> io::Result<u64> {
        Ok(self.written().saturating_sub(self.unacknowledged()?))
    }

    /// Whether a stream's peer hung up or reset, without blocking and without reading: data the
    /// peer sent stays for [`Conn::read`]. Datagram sockets are always `Alive` here.
    pub fn peer(&self) -> Peer {
        if !self.is_stream() {
            return Peer::Alive;
        }
        let events = libc::POLLRDHUP | libc::POLLERR | libc::POLLHUP;
        let revents = match poll_once(self.fd(), events, Duration::ZERO) {
            Ok(r) => r,
            Err(e) => return Peer::Gone(e),
        };
        if revents & (libc::POLLERR | libc::POLLHUP | libc::POLLRDHUP) == 0 {
            return Peer::Alive;
        }
        match self.sock().take_error() {
            Ok(Some(e)) => Peer::Gone(e),
            Err(e) => Peer::Gone(e),
            // POLLHUP: both directions are shut, and we never shut ours: a reset whose error
            // was already reported once (by a read or a write). Only end of file without it is a
            // clean close.
            Ok(None) if revents & (libc::POLLERR | libc::POLLHUP) != 0 => {
                Peer::Gone(io::Error::from_raw_os_error(libc::ECONNRESET))
            }
            Ok(None) => Peer::Gone(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            )),
        }
    }

    /// Reads what the peer sent, without waiting (`WouldBlock` when nothing is there; `Ok(0)`
    /// at end of file, or when a TLS peer said close_notify).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(c) => c.read(buf),
            Stream::Tls(s) => tls::read(s, buf),
        }
    }

    /// Sends one framed message, waiting for room until `deadline`. A datagram goes whole or not
    /// at all; on a stream an error after a partial write leaves the connection unusable (the
    /// caller drops it).
    pub fn send(
        &mut self,
        frame: &[u8],
        deadline: Instant,
        abort: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        let stream = self.is_stream();
        let c = match &mut self.stream {
            Stream::Plain(c) => c,
            Stream::Tls(s) => return tls::send(s, frame, deadline, abort),
        };
        let mut sent = 0;
        while sent < frame.len() {
            match c.write(&frame[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) if !stream && n != frame.len() => {
                    return Err(io::Error::other("datagram truncated"))
                }
                Ok(n) => {
                    sent += n;
                    if !stream {
                        // Datagrams are not counted.
                        c.written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_writable(c.fd(), deadline, abort)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
