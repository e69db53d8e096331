//! The `tickflow` binary's library: the job configuration ([`config`]), its validation into a
//! runnable [`job::Job`], the dataflow, the sinks, the runner and the command line ([`cli`]).
//!
//! Modules, from what a user writes to what runs:
//! - [`config`]: the serde job configuration, the single source of truth (files, flags and
//!   `TICKFLOW__SECTION__KEY` variables all produce it);
//! - [`job`]: a validated job (inputs, bar semantics, sinks, paper trading);
//! - [`dataflow`]: the one dataflow builder (inputs → watermarks → bars → late → strategy → sinks);
//! - [`sinks`]: one operator per destination, each with its durability contract;
//! - [`runner`]: workers, the step loop, signals, progress, commits and the report;
//! - [`checkpoint`]: checkpoints of topic jobs (state + positions), their store and restore;
//! - [`cli`]: one module per command, flags → configuration only.

pub mod bars_in;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dataflow;
pub mod duration;
pub mod feeds;
pub mod job;
pub mod paper;
pub mod progress;
pub mod report;
pub mod runner;
pub mod shutdown;
pub mod sim;
pub mod sinks;
pub mod telemetry;
