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

/// Parses an `aggregate` command line (as [`command_line`] prints it) into the
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
        let line = command_line(&cfg);
        // the printed line must describe this very job
        if parse_command_line(&line)? != cfg {
            bail!("internal error: the command line printed for {} does not describe the same job", r.config);
        }
        // credentials given as properties are not printed (use @file: or the environment)
        let shown = line.iter().map(|s| match s.split_once('=') {
            Some((k, v)) if tickflow_connectors::kafka::is_secret_property(k) && !v.starts_with("@file:") => format!("{k}=***"),
            _ => s.clone(),
        });
        println!("{}", shown.map(|s| if s.contains(' ') || s.is_empty() { format!("{s:?}") } else { s }).collect::<Vec<_>>().join(" "));
        return Ok(());
    }
    crate::cli::aggregate::execute(&cfg)
}

/// The `aggregate` command line that runs this job (every key spelled out), as printed by
/// `run --dry-run`; parsing it with the `aggregate` flags gives this configuration back.
pub fn command_line(cfg: &JobConfig) -> Vec<String> {
    let mut a: Vec<String> = vec!["tickflow".into(), "aggregate".into()];
    let mut push = |k: &str, v: &str| {
        a.push(k.to_string());
        a.push(v.to_string());
    };
    let (s, b, k, c) = (&cfg.source, &cfg.bars, &cfg.kafka, &cfg.cluster);
    match s.kind.as_str() {
        "kafka" => push("--kafka-topic", s.topic.as_deref().unwrap_or("")),
        "live" => {
            push("--source", s.venue.as_deref().unwrap_or(""));
            push("--symbols", &s.symbols.join(","));
        }
        _ => {
            for f in &s.files {
                push("--input", f);
            }
        }
    }
    let opt = [
        ("--symbol", &s.symbol),
        ("--from", &s.from),
        ("--to", &s.to),
        ("--group", &s.group),
        ("--dlq-topic", &s.dlq_topic),
        ("--ws-url", &s.ws_url),
        ("--rest-url", &s.rest_url),
        ("--market", &s.market),
        ("--api-key-file", &s.api_key_file),
        ("--out", &cfg.sinks.bars_file),
        ("--late-out", &cfg.sinks.late_file),
        ("--bars-topic", &cfg.sinks.bars_topic),
        ("--late-topic", &cfg.sinks.late_topic),
        ("--trades-topic", &cfg.sinks.trades_topic),
        ("--questdb-conf", &cfg.sinks.questdb_conf),
        ("--brokers", &k.brokers),
        ("--hostfile", &c.hostfile),
    ];
    for (flag, v) in opt {
        if let Some(v) = v {
            push(flag, v);
        }
    }
    if let Some(n) = s.max_trades {
        push("--max-trades", &n.to_string());
    }
    for (flag, v) in [
        ("--exchange", &s.exchange),
        ("--speed", &s.speed),
        ("--stale-after", &s.stale_after),
        ("--idle-timeout", &s.idle_timeout),
        ("--max-future", &s.max_future),
        ("--fill", &b.fill),
        ("--late", &b.late),
        ("--out-of-orderness", &b.out_of_orderness),
        ("--allowed-lateness", &b.allowed_lateness),
        ("--questdb-prefix", &cfg.sinks.questdb_prefix),
        ("--questdb-max-outage", &cfg.sinks.questdb_max_outage),
        ("--namespace", &k.namespace),
        ("--checkpoint-interval", &cfg.run.checkpoint_interval),
        ("--checkpoint-wall-interval", &cfg.run.checkpoint_wall_interval),
        ("--checkpoint-store", &cfg.run.checkpoint_store),
    ] {
        push(flag, v);
    }
    push("--max-carry-windows", &b.max_carry_windows.to_string());
    push("--max-instruments", &s.max_instruments.to_string());
    push("--timeframes", &b.timeframes.join(","));
    if !b.kinds.is_empty() {
        push("--bars", &b.kinds.join(","));
    }
    for p in &k.properties {
        push("--kafka-property", p);
    }
    push("--workers", &c.workers.to_string());
    push("--processes", &c.processes.to_string());
    push("--process", &c.process.to_string());
    for (flag, on) in [
        ("--skip-bad", s.skip_bad),
        ("--follow", s.follow),
        ("--resume", s.resume),
        ("--keyed-partitions", s.keyed_partitions),
        ("--questdb", cfg.sinks.questdb),
        ("--no-progress", !cfg.run.progress),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    if let Some(st) = &cfg.strategy {
        a.extend(["--strategy".to_string(), st.name.clone()]);
        for p in &st.params {
            a.extend(["--param".to_string(), p.clone()]);
        }
        for (flag, v) in [
            ("--strategy-timeframe", &st.timeframe),
            ("--slippage", &st.slippage),
            ("--events-out", &st.events_file),
            ("--leverage", &st.leverage),
            ("--maintenance-margin", &st.maintenance_margin),
            ("--contract-size", &st.contract_size),
            ("--funding", &st.funding),
        ] {
            if let Some(v) = v {
                a.extend([flag.to_string(), v.clone()]);
            }
        }
        for (flag, v) in [("--cash", &st.cash), ("--commission", &st.commission), ("--sizer", &st.sizer)] {
            a.extend([flag.to_string(), v.clone()]);
        }
        if st.publish {
            a.push("--publish".into());
        }
    }
    a
}
