//! `program_output`: each alert line goes to the stdin of `/bin/sh -c PROGRAM`.
//!
//! | file | what |
//! | --- | --- |
//! | `channel.rs` | the channel: one child per alert or one kept alive, accounting, respawn with backoff |
//! | `spawn.rs` | starting the shell with `posix_spawn` (signal mask, fds), pipe writes, reaping, stopping a process tree |

mod channel;
mod spawn;

pub use channel::ProgramChannel;
