//! `tcp://`, `relp://`, `tls://`, `relp+tls://`: a TCP connection (TLS and RELP go on top of it,
//! in `tls.rs` and `relp_session.rs`), with Nagle off: each alert is one write.

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
    let sock = new_socket(Domain::for_address(to), Type::STREAM)?;
    connect_by(&sock, &to.into(), deadline, abort)?;
    let _ = sock.set_tcp_nodelay(true);
    Ok((sock, Kind::Tcp))
}
