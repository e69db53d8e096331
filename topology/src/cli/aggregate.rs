//! `tickflow aggregate` and `tickflow replay`: trades (files, a topic or a live venue) into
//! event-time bars and the sinks the flags name. The flags only build a [`JobConfig`].

use anyhow::{bail, Result};
use clap::Args;

use crate::cli::flags::JobFlags;
use crate::config::JobConfig;
use crate::job::Job;

/// Flags of `aggregate` and `replay`.
#[derive(Args, Clone, Debug)]
pub struct AggregateArgs {
    #[command(flatten)]
    pub flags: JobFlags,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Runs `aggregate`.
pub fn run(a: AggregateArgs) -> Result<()> {
    execute(&a.flags.config()?)
}

/// Runs `replay`: `aggregate` over a topic.
pub fn replay(a: AggregateArgs) -> Result<()> {
    if a.flags.kafka_topic.is_none() {
        bail!("replay reads a Kafka topic: give --kafka-topic (e.g. tickflow.trades)");
    }
    run(a)
}

/// Resolves and runs a job, printing its summary on process 0.
pub fn execute(cfg: &JobConfig) -> Result<()> {
    let job = Job::resolve(cfg)?;
    let out = job.bars_out.clone();
    let report = crate::runner::run(job, &cfg.cluster.args())?;
    if cfg.cluster.process == 0 {
        crate::cli::print_summary(&report, out.as_deref());
    }
    Ok(())
}
