//! The pipeline between `emit` and the channels, one file per stage:
//!
//! - [`intake`]: the one queue every engine thread appends alerts to, counted per channel;
//! - [`queue`]: each channel's queue of formatted batches, with the flush and close requests
//!   behind them;
//! - [`waker`]: how those threads sleep and are woken (an eventfd, signal-safe);
//! - [`route`]: which alerts a channel takes (its `match` block), decided at emit;
//! - [`fanout`]: the fan-out thread, which formats each alert once and hands the batch to every
//!   channel that takes it (and writes file and stdout itself when idle);
//! - [`worker`]: each channel's worker thread, which writes its batches and carries out reopen,
//!   flush and close;
//! - [`alert_pool`]: the alerts recycled back to `emit`;
//! - [`watchdog`]: the thread that reports stalled channels and queue-full drops.
//!
//! The handle that starts and stops all of it is [`crate::handle`]; the batch the fan-out
//! thread hands each worker is [`crate::batch`] (the channels' interface, so it sits beside
//! `outputs`); the signal masks of every library thread are [`crate::signals`].

pub(crate) mod alert_pool;
pub(crate) mod fanout;
pub(crate) mod intake;
pub(crate) mod queue;
pub(crate) mod route;
pub(crate) mod waker;
pub(crate) mod watchdog;
pub(crate) mod worker;
