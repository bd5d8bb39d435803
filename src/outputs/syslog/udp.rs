//! `udp://host:port`: a connected datagram socket (so the kernel reports a refused port).

use std::io;
use std::time::Instant;

use socket2::{Domain, Socket, Type};

use super::socket::{connect_by, new_socket, resolve, Kind};

pub(super) fn connect(
    host: &str,
    port: u16,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<(Socket, Kind)> {
    let to = resolve(host, port)?;
    let sock = new_socket(Domain::for_address(to), Type::DGRAM)?;
    connect_by(&sock, &to.into(), deadline, abort)?;
    Ok((sock, Kind::Udp))
}
