//! `unix://` (a local path, `/dev/log`): a datagram socket, or a stream one when the daemon offers
//! that (glibc falls back to it, and so do we).

use std::io;
use std::path::Path;
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket, Type};

use super::socket::{connect_by, new_socket, Kind};

pub(super) fn connect(
    path: &Path,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<(Socket, Kind)> {
    let to = SockAddr::unix(path)?;
    let sock = new_socket(Domain::UNIX, Type::DGRAM)?;
    match connect_by(&sock, &to, deadline, abort) {
        Ok(()) => Ok((sock, Kind::UnixDgram)),
        // The daemon offers a stream socket: glibc falls back to it, and so do we.
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
            let sock = new_socket(Domain::UNIX, Type::STREAM)?;
            connect_by(&sock, &to, deadline, abort)?;
            Ok((sock, Kind::UnixStream))
        }
        Err(e) => Err(e),
    }
}
