//! `tickflow run --config topology.toml`: a job from a topology file (format:
//! [`crate::config`]), with `TICKFLOW__SECTION__KEY` environment overrides and, on top, any
//! `aggregate` flag.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser};

use crate::cli::aggregate::AggregateArgs;
use crate::cli::flags::JobFlags;
use crate::config::JobConfig;
use crate::job::Job;

/// Flags of `run`.
#[derive(Args)]
pub struct RunArgs {
    /// The topology file (TOML).
    #[arg(long, short = 'c')]
    pub config: String,
    /// Check the job and print the equivalent `aggregate` command line instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub flags: JobFlags,
}

#[derive(Parser)]
#[command(no_binary_name = false, disable_help_flag = true)]
struct AsAggregate {
    #[command(subcommand)]
    cmd: AsAggregateCmd,
}

#[derive(clap::Subcommand)]
enum AsAggregateCmd {
    #[command(disable_help_flag = true)]
    Aggregate(AggregateArgs),
}

/// The configuration of `path` with the process environment's overrides and `flags` applied.
pub fn load(path: &str, flags: &JobFlags) -> Result<JobConfig> {
    let mut cfg = JobConfig::load(path, std::env::vars())?;
    flags.apply(&mut cfg).with_context(|| format!("{path}: flags"))?;
    Ok(cfg)
}

/// Parses an `aggregate` command line (as [`JobConfig::to_command_line`] prints it) into the
/// configuration it describes.
pub fn parse_command_line(args: &[String]) -> Result<JobConfig> {
    let parsed = AsAggregate::try_parse_from(args).map_err(|e| anyhow!("{e}"))?;
    let AsAggregateCmd::Aggregate(a) = parsed.cmd;
    a.flags.config()
}

/// Runs `run`.
pub fn run(r: RunArgs) -> Result<()> {
    let cfg = load(&r.config, &r.flags)?;
    if r.dry_run {
        Job::check(&cfg).with_context(|| format!("{}: invalid job", r.config))?;
        let line = cfg.to_command_line();
        // the printed line must describe this very job
        if parse_command_line(&line)? != cfg {
            bail!("internal error: the command line printed for {} does not describe the same job", r.config);
        }
        println!("{}", line.iter().map(|s| if s.contains(' ') || s.is_empty() { format!("{s:?}") } else { s.clone() }).collect::<Vec<_>>().join(" "));
        return Ok(());
    }
    crate::cli::aggregate::execute(&cfg)
}
