//! `tickflow ingest`: a venue's live trades into the trades topic, the log of record that
//! processing jobs (`run`, `aggregate --kafka-topic … --group`) read and checkpoint against.
//!
//! On start it reads the last trade of each symbol from the tail of the topic (keys are
//! `exchange:symbol`) and resumes after it: the first connection fills everything since from
//! the venue's REST history before live trades flow, so a restart after downtime the venue's
//! history still covers leaves every venue trade in the topic exactly once, in order. A hole
//! the history cannot cover is logged, counted and recorded on the gaps topic with its bounds
//! (never hidden). A session that cannot continue (gap fill refused, retries exhausted) exits
//! non-zero; SIGTERM/SIGINT flush the producer before exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tickflow_connectors::history::After;
use tickflow_connectors::kafka::{self, KafkaSink};

use crate::cli::kafka::BrokerArgs;
use crate::cli::stream::{source_help, LiveArgs};

/// Flags of `tickflow ingest`.
#[derive(Args)]
pub struct IngestArgs {
    // the venues come from the registry
    #[arg(long, help = source_help())]
    source: String,
    #[command(flatten)]
    live: LiveArgs,
    #[command(flatten)]
    brokers: BrokerArgs,
    /// The trades topic [default: `<namespace>.trades`].
    #[arg(long)]
    topic: Option<String>,
    /// Where unfillable holes are recorded [default: `<namespace>.gaps`].
    #[arg(long)]
    gaps_topic: Option<String>,
    /// Where trades refused by the validation rule set go, with the reason [default: `<namespace>.dlq`].
    #[arg(long)]
    dlq_topic: Option<String>,
    /// Refuse trades stamped more than this after their receipt (a venue clock far ahead, a
    /// corrupted frame): dead-lettered, never published.
    #[arg(long, default_value = "5m")]
    max_future: String,
    /// How far back (records per partition) to look for each symbol's last trade on start.
    #[arg(long, default_value_t = 1_000_000)]
    resume_scan: i64,
    /// Do not resume from the topic's tail (start with live trades only).
    #[arg(long)]
    no_resume: bool,
}

/// Runs the command.
pub fn run(a: IngestArgs) -> Result<()> {
    let mut cfg = a.live.config(&a.source)?;
    let kcfg = a.brokers.config()?;
    let topics = a.brokers.topics();
    let topic = a.topic.clone().unwrap_or_else(|| topics.name("trades"));
    let gaps_topic = a.gaps_topic.clone().unwrap_or_else(|| topics.name("gaps"));
    let dlq_topic = a.dlq_topic.clone().unwrap_or_else(|| topics.name("dlq"));
    cfg.max_future = crate::duration::parse_nanos(&a.max_future).context("--max-future")?.max(0);
    let mut rejected = 0u64;
    if cfg.symbols.is_empty() {
        bail!("ingest needs --symbols");
    }
    if !a.no_resume {
        let wanted: Vec<tickflow_model::Instrument> =
            cfg.symbols.iter().map(|s| tickflow_model::Instrument::new(&cfg.exchange, s)).collect::<Result<_, _>>().context("--symbols")?;
        let last = kafka::last_trades(&kcfg, &topic, &wanted, a.resume_scan).with_context(|| format!("reading the tail of {topic}"))?;
        for (inst, t) in &last {
            match t.trade_id {
                Some(id) => {
                    tracing::info!(symbol = inst.symbol(), after_id = id, after = %t.ts, "resuming after the topic's last trade");
                    cfg.resume_after.insert(inst.symbol().to_string(), After { id, ts: t.ts });
                }
                None => tracing::warn!(symbol = inst.symbol(), "the topic's last trade has no id: resuming with live trades only"),
            }
        }
        for i in wanted.iter().filter(|i| !last.contains_key(i)) {
            tracing::info!(symbol = i.symbol(), "no trade of this symbol in the topic's tail: starting with live trades");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    crate::shutdown::install();
    let s2 = stop.clone();
    // SIGTERM/SIGINT: the session stops at its next frame; the producer is flushed below
    std::thread::spawn(move || {
        while !crate::shutdown::requested() {
            std::thread::sleep(Duration::from_millis(50));
        }
        s2.store(true, Ordering::SeqCst);
    });
    let mut sink = KafkaSink::new(&kcfg, "tickflow-ingest")?;
    let (mut n, mut gaps) = (0u64, 0u64);
    let mut err: Option<anyhow::Error> = None;
    let mut acked = Instant::now();
    let max = a.live.max_trades;
    let mut gap_sink = KafkaSink::new(&kcfg, "tickflow-ingest")?;
    let mut gap_err: Option<anyhow::Error> = None;
    // ready (/readyz) once the tail was read, except while a session backfills from REST
    let mut observe = crate::telemetry::global().live.observer();
    crate::telemetry::global().set_ready(true);
    let result = tickflow_connectors::live::run_observed(
        &cfg,
        &stop,
        |t| {
            if let Err(e) = sink.send_trade(&topic, &t) {
                err = Some(e.into());
                return false;
            }
            n += 1;
            // acknowledged at least every second while trades flow
            if acked.elapsed() >= Duration::from_secs(1) {
                if let Err(e) = sink.flush(Duration::from_secs(30)) {
                    err = Some(e.into());
                    return false;
                }
                acked = Instant::now();
            }
            max.is_none_or(|m| n < m)
        },
        |e| {
            observe(&e);
            if let tickflow_connectors::live::LiveEvent::Rejected(t, why) = &e {
                // dead-lettered with the reason, never published to the trades topic
                rejected += 1;
                let rec = tickflow_model::TradeRecord::from(&**t);
                let origin = format!("live:{}", t.instrument.exchange());
                let payload = serde_json::to_vec(&rec).unwrap_or_default();
                // not flushed here (a burst of refusals must not stall the session): delivered in the
                // background and flushed before exit
                if let Err(e) = gap_sink.send(
                    &dlq_topic,
                    &rec.key(),
                    &payload,
                    tickflow_model::Ts::now().millis(),
                    kafka::DLQ_SCHEMA,
                    &[("reason", why.as_str()), ("origin", &origin)],
                ) {
                    gap_err = Some(e.into());
                }
            }
            if let tickflow_connectors::live::LiveEvent::Gap(g) = e {
                gaps += 1;
                let key = format!("{}:{}", g.instrument.exchange(), g.instrument.symbol());
                if let Err(e) =
                    gap_sink.send_json(&gaps_topic, &key, &g, g.after_ts.millis(), "tickflow.gap.v1").and_then(|_| gap_sink.flush(Duration::from_secs(30)))
                {
                    gap_err = Some(e.into());
                }
            }
        },
    );
    // whatever happened, what was sent is flushed before exit
    let flushed = sink.flush(Duration::from_secs(30));
    if let Err(e) = gap_sink.flush(Duration::from_secs(30)) {
        gap_err.get_or_insert(e.into());
    }
    eprintln!("ingested {n} trades into {topic} ({gaps} unfillable gaps recorded on {gaps_topic}, {rejected} refused trades on {dlq_topic})");
    let stats = result.context("live session gave up")?;
    if let Some(e) = err.or(gap_err) {
        return Err(e.context("writing to the trades topic"));
    }
    flushed.context("flushing the trades topic")?;
    eprintln!(
        "{} connections, {} stale, {} gap-filled, {} unfilled gaps, {} duplicates dropped, {} bad frames, {} refused trades",
        stats.connects, stats.stale, stats.gap_filled, stats.gaps_unfilled, stats.duplicates, stats.bad_frames, stats.rejected
    );
    Ok(())
}
