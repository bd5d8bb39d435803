//! Syslog sockets: connecting to a `syslog_output.address`, sending one framed message with a
//! deadline, and what the kernel knows about the peer (hang-up, reset, unacknowledged bytes). Every socket is non-blocking and every wait is a `poll` of at most 100 ms, so
//! the worker never blocks indefinitely and notices a close deadline quickly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

use super::syslog_tls::{self as tls, TlsClient, TlsStream};
use crate::config::SyslogAddress as Address;
use crate::sys;

/// What kind of socket a [`Conn`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UnixDgram,
    UnixStream,
    Udp,
    Tcp,
}

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

/// A socket that counts the bytes it wrote: with the kernel's count of bytes still
/// unacknowledged, this says which of them the peer has acknowledged. Under TLS these are the
/// bytes of the TLS records, so what the peer acknowledged is known in record bytes.
pub struct Counted {
    sock: Socket,
    /// Bytes written on this connection so far (streams).
    written: u64,
}

impl Counted {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.sock).read(buf)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // MSG_NOSIGNAL: a reset peer is an EPIPE here, never a SIGPIPE.
        let n = self.sock.send_with_flags(buf, libc::MSG_NOSIGNAL)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a stream's peer stands, seen without blocking.
#[derive(Debug)]
pub enum Peer {
    /// Connected; no hang-up or error pending.
    Alive,
    /// The peer closed (end of file) or reset the connection, or an error is pending on it.
    Gone(io::Error),
}

/// Waits for `events` on `fd` for at most `slice` (capped at 100 ms); returns `revents`.
pub fn poll_once(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    slice: Duration,
) -> io::Result<libc::c_short> {
    match sys::poll(fd, events, slice.min(Duration::from_millis(100))) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        r => r,
    }
}

/// Waits until `fd` is writable, the deadline passes, or `abort` says stop.
pub fn wait_writable(
    fd: BorrowedFd<'_>,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<()> {
    loop {
        let now = Instant::now();
        if now >= deadline || abort() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "send timed out"));
        }
        if poll_once(fd, libc::POLLOUT, deadline - now)? != 0 {
            return Ok(());
        }
    }
}

fn new_socket(domain: Domain, ty: Type) -> io::Result<Socket> {
    // socket2 opens with close-on-exec: no spawned program inherits the socket.
    let sock = Socket::new(domain, ty, None)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Connects a non-blocking socket, waiting at most until `deadline`.
fn connect_by(
    sock: &Socket,
    to: &SockAddr,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<()> {
    match sock.connect(to) {
        Ok(()) => return Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.raw_os_error() == Some(libc::EAGAIN) => {}
        Err(e) => return Err(e),
    }
    wait_writable(sock.as_fd(), deadline, abort)
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?;
    match sock.take_error()? {
        Some(e) => Err(e),
        None => Ok(()),
    }
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
            Address::Unix(path) => {
                let to = SockAddr::unix(path)?;
                let sock = new_socket(Domain::UNIX, Type::DGRAM)?;
                match connect_by(&sock, &to, deadline, abort) {
                    Ok(()) => (sock, Kind::UnixDgram),
                    // The daemon offers a stream socket: glibc falls back to it, and so do we.
                    Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                        let sock = new_socket(Domain::UNIX, Type::STREAM)?;
                        connect_by(&sock, &to, deadline, abort)?;
                        (sock, Kind::UnixStream)
                    }
                    Err(e) => return Err(e),
                }
            }
            Address::Udp(host, port) => {
                let to = resolve(host, *port)?;
                let sock = new_socket(Domain::for_address(to), Type::DGRAM)?;
                connect_by(&sock, &to.into(), deadline, abort)?;
                (sock, Kind::Udp)
            }
            Address::Tcp(host, port)
            | Address::Relp(host, port)
            | Address::Tls(host, port)
            | Address::RelpTls(host, port) => {
                let to = resolve(host, *port)?;
                let sock = new_socket(Domain::for_address(to), Type::STREAM)?;
                connect_by(&sock, &to.into(), deadline, abort)?;
                let _ = sock.set_tcp_nodelay(true);
                (sock, Kind::Tcp)
            }
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

    pub fn kind(&self) -> Kind {
        self.kind
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

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}
