//! Syslog sockets: parsing `syslog_output.address`, connecting, and sending one framed message
//! with a deadline. Every socket is non-blocking and every wait is a `poll` of at most 100 ms, so
//! the worker never blocks indefinitely and notices a close deadline quickly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::syslog_wire::Framing;

/// Where the messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A local socket: datagram, or stream when the daemon only offers that (as glibc does).
    Unix(PathBuf),
    Udp(String, u16),
    Tcp(String, u16),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Udp(h, p) if h.contains(':') => write!(f, "udp://[{h}]:{p}"),
            Address::Udp(h, p) => write!(f, "udp://{h}:{p}"),
            Address::Tcp(h, p) if h.contains(':') => write!(f, "tcp://[{h}]:{p}"),
            Address::Tcp(h, p) => write!(f, "tcp://{h}:{p}"),
        }
    }
}

/// Parses `unix:///path`, `udp://host:port`, `tcp://host:port` (IPv6 hosts in brackets).
pub fn parse_address(s: &str) -> Result<Address, String> {
    let s = s.trim();
    let bad = |why: &str| {
        format!(
            "syslog_output.address: {why} in '{s}' (expected unix:///path, udp://host:port or tcp://host:port)"
        )
    };
    let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "unix" => {
            if !rest.starts_with('/') {
                return Err(bad("the socket path must be absolute"));
            }
            Ok(Address::Unix(PathBuf::from(rest)))
        }
        "udp" | "tcp" => {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
                (host, after.strip_prefix(':').ok_or_else(|| bad("no port"))?)
            } else {
                rest.rsplit_once(':').ok_or_else(|| bad("no port"))?
            };
            if host.is_empty() || host.contains('/') {
                return Err(bad("no host"));
            }
            let port = match port.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad("invalid port")),
            };
            Ok(if scheme.eq_ignore_ascii_case("udp") {
                Address::Udp(host.to_owned(), port)
            } else {
                Address::Tcp(host.to_owned(), port)
            })
        }
        _ => Err(bad("unknown scheme")),
    }
}

/// A connected syslog socket.
pub enum Conn {
    UnixDgram(UnixDatagram),
    UnixStream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// Waits for `events` on `fd` for at most `slice` (capped at 100 ms).
fn poll_once(fd: RawFd, events: libc::c_short, slice: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = slice.min(Duration::from_millis(100)).as_millis() as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}

/// Waits until `fd` is writable, the deadline passes, or `abort` says stop.
fn wait_writable(fd: RawFd, deadline: Instant, abort: &dyn Fn() -> bool) -> io::Result<()> {
    loop {
        let now = Instant::now();
        if now >= deadline || abort() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "send timed out"));
        }
        if poll_once(fd, libc::POLLOUT, deadline - now)? {
            return Ok(());
        }
    }
}

impl Conn {
    /// Connects to `addr`, waiting at most until `deadline`.
    pub fn connect(
        addr: &Address,
        deadline: Instant,
        abort: &dyn Fn() -> bool,
    ) -> io::Result<Conn> {
        match addr {
            Address::Unix(path) => {
                let sock = UnixDatagram::unbound()?;
                match sock.connect(path) {
                    Ok(()) => {
                        sock.set_nonblocking(true)?;
                        Ok(Conn::UnixDgram(sock))
                    }
                    // The daemon offers a stream socket: glibc falls back to it, and so do we.
                    Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                        let fd = nonblocking_socket(libc::AF_UNIX)?;
                        let sa = unix_sockaddr(path)?;
                        // SAFETY: `sa` is a valid sockaddr_un for `fd`'s family.
                        let (ptr, len) = (&sa.0 as *const _ as *const libc::sockaddr, sa.1);
                        finish_connect(
                            &fd,
                            unsafe { libc::connect(fd.0, ptr, len) },
                            deadline,
                            abort,
                        )?;
                        // SAFETY: we own the descriptor; the stream takes it over.
                        Ok(Conn::UnixStream(unsafe {
                            UnixStream::from_raw_fd(fd.take())
                        }))
                    }
                    Err(e) => Err(e),
                }
            }
            Address::Udp(host, port) => {
                let target = resolve(host, *port)?;
                let bind: SocketAddr = if target.is_ipv4() {
                    ([0u8; 4], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let sock = UdpSocket::bind(bind)?;
                sock.connect(target)?;
                sock.set_nonblocking(true)?;
                Ok(Conn::Udp(sock))
            }
            Address::Tcp(host, port) => {
                let target = resolve(host, *port)?;
                let family = if target.is_ipv4() {
                    libc::AF_INET
                } else {
                    libc::AF_INET6
                };
                let fd = nonblocking_socket(family)?;
                let (sa, len) = inet_sockaddr(&target);
                let ptr = &sa as *const libc::sockaddr_storage as *const libc::sockaddr;
                // SAFETY: `sa` holds a sockaddr of `len` bytes matching `fd`'s family.
                finish_connect(
                    &fd,
                    unsafe { libc::connect(fd.0, ptr, len) },
                    deadline,
                    abort,
                )?;
                // SAFETY: we own the descriptor; the stream takes it over.
                let stream = unsafe { TcpStream::from_raw_fd(fd.take()) };
                let _ = stream.set_nodelay(true);
                Ok(Conn::Tcp(stream))
            }
        }
    }

    pub fn framing(&self) -> Framing {
        match self {
            Conn::UnixDgram(_) | Conn::Udp(_) => Framing::Datagram,
            Conn::UnixStream(_) => Framing::NulTerminated,
            Conn::Tcp(_) => Framing::OctetCounted,
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self, Conn::UnixStream(_) | Conn::Tcp(_))
    }

    fn fd(&self) -> RawFd {
        match self {
            Conn::UnixDgram(s) => s.as_raw_fd(),
            Conn::UnixStream(s) => s.as_raw_fd(),
            Conn::Udp(s) => s.as_raw_fd(),
            Conn::Tcp(s) => s.as_raw_fd(),
        }
    }

    /// For a stream: false when the daemon closed or reset the connection. A syslog server never
    /// sends anything, so a readable socket means end of file or an error (omfwd does the same).
    /// Without this, the first message after a daemon restart would go into the dead connection
    /// and be lost.
    pub fn is_alive(&mut self) -> bool {
        let mut buf = [0u8; 512];
        let read = match self {
            Conn::UnixStream(s) => s.read(&mut buf),
            Conn::Tcp(s) => s.read(&mut buf),
            _ => return true,
        };
        match read {
            Ok(0) => false,
            // Unexpected data from the server: discarded, the connection stays.
            Ok(_) => true,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
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
        let fd = self.fd();
        let mut sent = 0;
        while sent < frame.len() {
            let r = match self {
                Conn::UnixDgram(s) => s.send(frame),
                Conn::Udp(s) => s.send(frame),
                Conn::UnixStream(s) => s.write(&frame[sent..]),
                Conn::Tcp(s) => s.write(&frame[sent..]),
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) if !self.is_stream() && n != frame.len() => {
                    return Err(io::Error::other("datagram truncated"))
                }
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_writable(fd, deadline, abort)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// An owned descriptor that is closed unless taken.
struct Fd(RawFd);
impl Fd {
    fn take(self) -> RawFd {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }
}
impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn nonblocking_socket(family: libc::c_int) -> io::Result<Fd> {
    // SAFETY: plain socket(2); close-on-exec so no spawned program inherits it.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Fd(fd))
}

/// Completes a non-blocking connect whose connect(2) returned `r`.
fn finish_connect(
    fd: &Fd,
    r: libc::c_int,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<()> {
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINPROGRESS) && e.raw_os_error() != Some(libc::EAGAIN) {
        return Err(e);
    }
    wait_writable(fd.0, deadline, abort)
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?;
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_ERROR writes one int into `err`.
    let r = unsafe {
        libc::getsockopt(
            fd.0,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    Ok(())
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}

fn unix_sockaddr(path: &std::path::Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: sockaddr_un is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= sa.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (d, s) in sa.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((sa, len as libc::socklen_t))
}

fn inet_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid, and it is large and aligned
    // enough for either sockaddr_in or sockaddr_in6.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: see above.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: see above.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("unix:///dev/log"),
            Ok(Address::Unix("/dev/log".into()))
        );
        assert_eq!(
            parse_address("udp://127.0.0.1:5514"),
            Ok(Address::Udp("127.0.0.1".into(), 5514))
        );
        assert_eq!(
            parse_address("TCP://logs.example.com:514"),
            Ok(Address::Tcp("logs.example.com".into(), 514))
        );
        assert_eq!(
            parse_address("tcp://[::1]:601"),
            Ok(Address::Tcp("::1".into(), 601))
        );
        assert_eq!(
            parse_address("udp://[::1]:514"),
            Ok(Address::Udp("::1".into(), 514))
        );
        assert_eq!(
            Address::Tcp("::1".into(), 601).to_string(),
            "tcp://[::1]:601"
        );
        for bad in [
            "/dev/log",
            "unix://dev/log",
            "http://x:1",
            "udp://:514",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://[::1",
            "udp://h:x",
            "udp://[::1]",
            "tcp://logs.example.com",
        ] {
            let e = parse_address(bad).unwrap_err();
            assert!(e.starts_with("syslog_output.address: "), "{e}");
            assert!(e.contains(bad), "{e}");
        }
    }
}
