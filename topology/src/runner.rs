//! Runs a [`Job`]: checks what can be checked before any worker starts, creates the QuestDB
//! tables once, starts timely's workers (each opens the input partitions it owns and builds
//! [`crate::dataflow`]), steps them until the inputs end or a signal or a failed sink stops the
//! run, and then — only once every sink of every worker is durable to the end of its input —
//! commits the consumed Kafka positions and returns the report.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tickflow_model::Bar;
use tickflow_operators::{MetricsSnapshot, PipelineMetrics, TradeFeed};

use crate::cluster::ClusterArgs;
use crate::dataflow::Wiring;
use crate::job::{InputSpec, Job};
use crate::sinks::report::Report;
use crate::sinks::SinkSet;

/// What a run produced (sink side from worker 0 of process 0; metrics from this process).
#[derive(Clone, Debug, Default)]
pub struct JobReport {
    /// Process-local pipeline counters.
    pub metrics: MetricsSnapshot,
    /// Bar rows written (revision 0, including carried).
    pub bars: u64,
    /// Revision rows written.
    pub revisions: u64,
    /// Late-trade records.
    pub late: u64,
    /// Bars per series (revision 0): each timeframe's time bars, then the other bar kinds.
    pub per_timeframe: Vec<(tickflow_model::Series, u64)>,
    /// Last bars written.
    pub tail: Vec<Bar>,
    /// Wall time.
    pub elapsed: Duration,
    /// Bad rows skipped by file sources (this process).
    pub bad_rows: u64,
    /// Kafka partitions whose end positions were committed to the consumer group.
    pub committed: usize,
    /// Paper trading: (run id, summary, orders, fills) per run.
    pub paper: Vec<(String, tickflow_strategies::Summary, u64, u64)>,
    /// Sinks of this process (over all its workers) and whether each was durable to the end of
    /// its input when the run ended.
    pub sinks_durable: Vec<(String, bool)>,
}

/// What a worker hands back.
struct WorkerOut {
    report: Option<Report>,
    durable: Vec<(String, bool)>,
}

/// Runs the job on `cluster` and waits for it.
pub fn run(job: Job, cluster: &ClusterArgs) -> Result<JobReport> {
    tickflow_operators::BarEngine::new(job.agg.clone()).map_err(|e| anyhow!(e))?;
    let config = cluster.timely_config()?;
    let peers = cluster.peers();
    let first_worker = cluster.process * cluster.workers;
    // inputs are checked up front (clear errors before any worker starts)
    let mut total_bytes = 0u64;
    for (p, input) in job.inputs.iter().enumerate() {
        if let InputSpec::Csv { path, .. } = input {
            let md = std::fs::metadata(path).with_context(|| format!("input {path}"))?;
            if (first_worker..first_worker + cluster.workers).contains(&(p % peers)) {
                total_bytes += md.len();
            }
        }
    }
    let progress = (job.progress && total_bytes > 0).then(|| crate::progress::bytes(total_bytes));
    // QuestDB tables: created once here (retrying while QuestDB starts); every sink then only
    // opens a sender
    if let Some(t) = &job.questdb {
        tickflow_connectors::questdb::create_tables(&t.conf, &t.policy.table_prefix, t.policy.max_outage)?;
    }
    let metrics = Arc::new(PipelineMetrics::new());
    crate::telemetry::global().register_pipeline(metrics.clone());
    // SIGTERM/SIGINT: sources end, the dataflow drains, every sink flushes
    crate::shutdown::install();
    let bad_rows = Arc::new(AtomicU64::new(0));
    let streaming = job.inputs.iter().any(|i| matches!(i, InputSpec::Kafka { .. } | InputSpec::Live { .. }));
    let ticker = (job.progress && streaming).then(|| crate::progress::Ticker::start(metrics.clone()));
    // the consumer group to commit to once every sink is durable
    let commit_to = job.inputs.iter().find_map(|i| match i {
        InputSpec::Kafka { cfg, group: Some(g), .. } => Some((cfg.clone(), g.clone())),
        _ => None,
    });
    let paper_ids: Vec<String> = job.paper.as_ref().map(|p| p.run_ids.to_vec()).unwrap_or_default();
    let mut job = job;
    if job.checkpoint.is_some() {
        crate::checkpoint::prepare(&mut job, peers)?;
    }
    let checkpointing = job.checkpoint.is_some();
    let job = Arc::new(job);
    let start = Instant::now();
    let positions: crate::feeds::Positions = Default::default();
    let (m2, b2, pb2, positions2) = (metrics.clone(), bad_rows.clone(), progress.clone(), positions.clone());
    let guards = timely::execute(config, move |worker| -> Result<WorkerOut> {
        let (index, peers) = (worker.index(), worker.peers());
        let mut feeds: Vec<Box<dyn TradeFeed>> = Vec::new();
        for (p, input) in job.inputs.iter().enumerate().filter(|(p, _)| p % peers == index) {
            let feed = input.open_feed(p, pb2.clone(), b2.clone(), positions2.clone()).map_err(|e| anyhow!(e))?;
            feeds.push(Box::new(crate::shutdown::Interruptible(feed)));
        }
        let w = Wiring {
            index,
            metrics: m2.clone(),
            feed_errors: Rc::new(RefCell::new(Vec::new())),
            sinks: SinkSet::default(),
            report: Default::default(),
            keep_tail: job.keep_tail,
            checkpoint: Default::default(),
        };
        worker.dataflow::<u64, _, _>(|scope| crate::dataflow::build(scope, &job, feeds, &w))?;
        if index == 0 {
            crate::telemetry::global().set_ready(true);
        }
        let mut stopping = false;
        // a checkpointing worker looks at its probes after every step: it parks briefly, and
        // not at all while a boundary is being passed
        let mut park = checkpointing.then_some(std::time::Duration::from_millis(10));
        while worker.step_or_park(park) {
            // a sink that failed for good ends the run (a live run would otherwise go on
            // without it): the sources stop, the rest drains, the error is reported
            if !stopping && w.sinks.health.failed() {
                stopping = true;
                tracing::error!("a sink failed; stopping the run");
                crate::shutdown::request();
            }
            if let Some(c) = w.checkpoint.borrow_mut().as_mut() {
                if crate::shutdown::requested() {
                    c.stop();
                }
                c.step(&w.sinks);
                park = Some(if c.busy() { std::time::Duration::ZERO } else { std::time::Duration::from_millis(10) });
            }
        }
        if let Some(e) = w.feed_errors.borrow().first() {
            bail!("{e}");
        }
        w.sinks.health.check()?;
        let durable = w.sinks.durable().into_iter().map(|(n, f)| (n, f.is_empty())).collect();
        let report = (index == 0).then(|| std::mem::take(&mut *w.report.borrow_mut()));
        Ok(WorkerOut { report, durable })
    })
    .map_err(|e| anyhow!("starting timely: {e}"))?;
    let mut report = JobReport::default();
    let mut durable: std::collections::BTreeMap<String, bool> = Default::default();
    for r in guards.join() {
        let out = r.map_err(|e| anyhow!("worker failed: {e}"))??;
        for (name, ok) in out.durable {
            *durable.entry(name).or_insert(true) &= ok;
        }
        if let Some(s) = out.report {
            report.bars = s.bars;
            report.revisions = s.revisions;
            report.late = s.late;
            report.per_timeframe = s.per_tf.into_iter().map(|((kind, timeframe), n)| (tickflow_model::Series { kind, timeframe }, n)).collect();
            report.tail = s.tail.into_iter().collect();
            report.paper =
                s.paper.into_iter().map(|(r, (sum, o, f))| (paper_ids.get(r as usize).cloned().unwrap_or_default(), sum.unwrap_or_default(), o, f)).collect();
        }
    }
    report.sinks_durable = durable.into_iter().collect();
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    drop(ticker);
    if crate::shutdown::requested() {
        tracing::info!("stopped on request: every sink flushed; interrupted partitions are not committed");
    }
    if let Some((name, _)) = report.sinks_durable.iter().find(|(_, ok)| !ok) {
        bail!("sink {name} did not make its output durable; no position is committed");
    }
    if checkpointing {
        // the checkpoint gather committed the positions of each checkpoint it wrote
        report.committed = crate::telemetry::global().checkpoint.committed.load(Ordering::Relaxed) as usize;
    } else if let Some((cfg, group)) = &commit_to {
        // every sink is durable: commit the consumed positions (at-least-once)
        let done = positions.lock().map(|p| p.clone()).unwrap_or_default();
        tickflow_connectors::kafka::commit(cfg, group, &done)?;
        report.committed = done.len();
    }
    report.elapsed = start.elapsed();
    report.metrics = metrics.snapshot();
    report.bad_rows = bad_rows.load(Ordering::Relaxed);
    report.metrics.bad_records += report.bad_rows;
    Ok(report)
}
