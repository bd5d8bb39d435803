//! The socket under every syslog transport: non-blocking and close-on-exec, counting what it
//! wrote, and waited on with `poll` slices of at most 100 ms, so the worker never blocks
//! indefinitely and notices a close deadline quickly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::sys;

/// What kind of socket a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UnixDgram,
    UnixStream,
    Udp,
    Tcp,
}

/// A socket that counts the bytes it wrote: with the kernel's count of bytes still
/// unacknowledged, this says which of them the peer has acknowledged. Under TLS these are the
/// bytes of the TLS records, so what the peer acknowledged is known in record bytes.
pub struct Counted {
    pub(super) sock: Socket,
    /// Bytes written on this connection so far (streams).
    pub(super) written: u64,
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

pub(super) fn new_socket(domain: Domain, ty: Type) -> io::Result<Socket> {
    // socket2 opens with close-on-exec: no spawned program inherits the socket.
    let sock = Socket::new(domain, ty, None)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Connects a non-blocking socket, waiting at most until `deadline`.
pub(super) fn connect_by(
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

pub(super) fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}
