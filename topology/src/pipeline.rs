//! Dataflow assembly: sources → aggregate → ordered sinks, on any number of workers/processes.
//!
//! Input partitions (files, synthetic tapes) are assigned statically: partition `p` is read by
//! global worker `p % peers`. Bars are exchanged by instrument for aggregation and gathered on
//! worker 0 for writing, sorted by (emission time, instrument, timeframe, open time, revision),
//! so output files are byte-identical for any worker or process count.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tickflow_connectors::questdb::QuestDbSink;
use tickflow_connectors::{BarWriter, LateWriter, TradeCsvOptions, TradeCsvReader};
use tickflow_model::{Bar, LateTrade, Timeframe, TradeBatch};
use tickflow_operators::{trade_source, AggregateBars, AggregateConfig, MetricsSnapshot, OrderedSink, PipelineMetrics, SourceConfig, TradeFeed};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::cluster::ClusterArgs;
use crate::feeds::CsvFeed;

/// One input partition.
#[derive(Clone, Debug)]
pub enum InputSpec {
    /// A trade CSV file.
    Csv {
        /// Path.
        path: String,
        /// Reader options.
        opts: TradeCsvOptions,
    },
    /// A live venue session.
    Live {
        /// Connector settings.
        config: tickflow_connectors::live::LiveConfig,
        /// Stop after this many trades.
        max_trades: Option<u64>,
    },
    /// One partition of a Kafka trade topic.
    Kafka {
        /// Client settings.
        cfg: tickflow_connectors::kafka::KafkaConfig,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Start position.
        start: tickflow_connectors::kafka::StartAt,
        /// End.
        stop: tickflow_connectors::kafka::StopAt,
        /// Dead-letter topic.
        dlq: Option<String>,
        /// Replay speed (`None`: as fast as possible).
        speed: Option<f64>,
        /// Shared pacing origin.
        anchor: crate::feeds::PaceAnchor,
        /// Consumer group whose offsets are used (`Committed` start) and committed at the end.
        group: Option<String>,
    },
    /// Pre-built in-memory batches (the benchmarks' in-memory source), taken by the worker
    /// that owns the partition.
    Batches(std::sync::Arc<std::sync::Mutex<Vec<tickflow_model::TradeBatch>>>),
    /// In-memory trades in arrival order, read row by row like a topic partition (benchmarks).
    Trades(std::sync::Arc<std::sync::Mutex<Vec<tickflow_model::Trade>>>),
}

impl InputSpec {
    /// Opens this partition as a feed, on the worker that owns it: `progress` follows file
    /// bytes, `bad` counts skipped rows and dead-lettered records, `positions` receives Kafka end
    /// positions (committed by the caller once its sinks have flushed).
    pub fn open_feed(
        &self,
        partition: usize,
        progress: Option<ProgressBar>,
        bad: Arc<AtomicU64>,
        positions: crate::feeds::Positions,
    ) -> Result<Box<dyn TradeFeed>, String> {
        Ok(match self {
            InputSpec::Csv { path, opts } => {
                let r = TradeCsvReader::open(path, opts.clone()).map_err(|e| e.to_string())?;
                Box::new(CsvFeed::new(r, progress, bad))
            }
            InputSpec::Live { config, max_trades, .. } => Box::new(crate::feeds::LiveFeed::start(config.clone(), *max_trades)),
            InputSpec::Kafka { cfg, topic, partition, start, stop, dlq, speed, anchor, group } => {
                let r = tickflow_connectors::kafka::PartitionReader::open(cfg, topic, *partition, *start, *stop, dlq.clone(), group.as_deref())
                    .map_err(|e| e.to_string())?;
                let live = *stop == tickflow_connectors::kafka::StopAt::Follow;
                let feed = crate::feeds::KafkaFeed::new(r, bad, positions, live);
                match speed {
                    Some(s) => Box::new(crate::feeds::Paced::new(feed, *s, anchor.clone())),
                    None => Box::new(feed),
                }
            }
            InputSpec::Batches(b) => {
                let batches = std::mem::take(&mut *b.lock().map_err(|_| "poisoned input".to_string())?);
                Box::new(tickflow_operators::BatchFeed::new(format!("memory#{partition}"), batches))
            }
            InputSpec::Trades(t) => {
                let trades = std::mem::take(&mut *t.lock().map_err(|_| "poisoned input".to_string())?);
                Box::new(tickflow_operators::VecFeed::new(format!("memory#{partition}"), trades))
            }
        })
    }
}

/// A bar aggregation job.
#[derive(Clone, Debug)]
pub struct AggregateJob {
    /// Input partitions.
    pub inputs: Vec<InputSpec>,
    /// Aggregation settings.
    pub agg: AggregateConfig,
    /// Source settings.
    pub source: SourceConfig,
    /// Bar output file (CSV or JSON lines by extension); `None` discards bars.
    pub bars_out: Option<String>,
    /// Late-trade output file.
    pub late_out: Option<String>,
    /// Show a progress bar for file inputs.
    pub progress: bool,
    /// Keep the last N bars in the report (for display).
    pub keep_tail: usize,
    /// Also write bars to this Kafka topic.
    pub bars_topic: Option<(tickflow_connectors::kafka::KafkaConfig, String)>,
    /// Also write late trades to this Kafka topic.
    pub late_topic: Option<(tickflow_connectors::kafka::KafkaConfig, String)>,
    /// Also write every trade read to this Kafka topic (each worker its own partitions' trades).
    pub trades_topic: Option<(tickflow_connectors::kafka::KafkaConfig, String)>,
    /// Also write trades, bars and late trades to QuestDB.
    pub questdb: Option<crate::questdb_cmd::QuestDbTarget>,
    /// Paper-trade strategies on the bars.
    pub paper: Option<crate::paper::PaperJob>,
    /// Aggregate where trades are read (each instrument in one input partition) instead of
    /// exchanging them by instrument.
    pub routing: tickflow_operators::Routing,
}

impl AggregateJob {
    /// A job over `inputs` with no sink but the report (callers set the sinks they want).
    pub fn new(inputs: Vec<InputSpec>, agg: AggregateConfig, source: SourceConfig) -> Self {
        AggregateJob {
            inputs,
            agg,
            source,
            bars_out: None,
            late_out: None,
            progress: false,
            keep_tail: 0,
            bars_topic: None,
            late_topic: None,
            trades_topic: None,
            questdb: None,
            paper: None,
            routing: tickflow_operators::Routing::ByInstrument,
        }
    }
}

/// Waits for a Kafka sink's acknowledgements, timing it for `/metrics`.
fn kafka_flush(sink: &mut tickflow_connectors::kafka::KafkaSink) -> Result<(), String> {
    let t0 = Instant::now();
    let r = sink.flush(Duration::from_secs(60)).map_err(|e| e.to_string());
    crate::telemetry::global().kafka_flush.observe(t0.elapsed());
    if r.is_err() {
        crate::telemetry::global().kafka_produce_errors.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// A sink for tables [`run_aggregate`] created before the workers started.
fn open_questdb(t: &crate::questdb_cmd::QuestDbTarget) -> Result<QuestDbSink, String> {
    QuestDbSink::open(&t.conf, t.policy.clone(), crate::telemetry::global().questdb.clone()).map_err(|e| e.to_string())
}

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
    /// Bars per timeframe (revision 0).
    pub per_timeframe: Vec<(Timeframe, u64)>,
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
}

#[derive(Default)]
struct SinkState {
    bars: u64,
    revisions: u64,
    late: u64,
    per_tf: std::collections::BTreeMap<Timeframe, u64>,
    tail: std::collections::VecDeque<Bar>,
    paper: std::collections::BTreeMap<u32, (Option<tickflow_strategies::Summary>, u64, u64)>,
}

/// Runs the job and waits for it.
pub fn run_aggregate(job: AggregateJob, cluster: &ClusterArgs) -> Result<JobReport> {
    tickflow_operators::BarEngine::new(job.agg.clone()).map_err(|e| anyhow!(e))?;
    let config = cluster.timely_config()?;
    let peers = cluster.peers();
    let first_worker = cluster.process * cluster.workers;
    // validate inputs up front (clear errors before any worker starts)
    let mut total_bytes = 0u64;
    for (p, input) in job.inputs.iter().enumerate() {
        if let InputSpec::Csv { path, .. } = input {
            let md = std::fs::metadata(path).with_context(|| format!("input {path}"))?;
            if (first_worker..first_worker + cluster.workers).contains(&(p % peers)) {
                total_bytes += md.len();
            }
        }
    }
    let progress = if job.progress && total_bytes > 0 {
        let pb = ProgressBar::new(total_bytes);
        pb.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    // QuestDB tables: created once here (retrying while QuestDB starts); every worker's sink
    // then only opens a sender
    if let Some(t) = &job.questdb {
        tickflow_connectors::questdb::create_tables(&t.conf, &t.policy.table_prefix, t.policy.max_outage)?;
    }
    let metrics = Arc::new(PipelineMetrics::new());
    crate::telemetry::global().register_pipeline(metrics.clone());
    // SIGTERM/SIGINT: sources end, the dataflow drains, every sink flushes
    crate::shutdown::install();
    let bad_rows = Arc::new(AtomicU64::new(0));
    // topic and live sources: a spinner with the event-time position, the watermark's lag behind
    // it and the read rate (their length is not known up front)
    let streaming = job.inputs.iter().any(|i| matches!(i, InputSpec::Kafka { .. } | InputSpec::Live { .. }));
    let ticker_stop = StopOnDrop(Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let ticker = (job.progress && streaming).then(|| {
        let (m, stop) = (metrics.clone(), ticker_stop.0.clone());
        std::thread::spawn(move || {
            let pb = ProgressBar::new_spinner();
            pb.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            let t0 = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let (ev, wm, n) = (m.max_event_time.load(Ordering::Relaxed), m.watermark.load(Ordering::Relaxed), m.trades_in.load(Ordering::Relaxed));
                if ev > i64::MIN {
                    let lag = if wm > i64::MIN { format!("{:.1} s", (ev - wm) as f64 / 1e9) } else { "-".into() };
                    let rate = n as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                    pb.set_message(format!("event time {} · watermark lag {lag} · {n} trades ({:.0}/s)", tickflow_model::Ts(ev), rate));
                }
                pb.tick();
                std::thread::sleep(Duration::from_millis(200));
            }
            pb.finish_and_clear();
        })
    });
    // the consumer group to commit to once the run has flushed its sinks
    let commit_to = job.inputs.iter().find_map(|i| match i {
        InputSpec::Kafka { cfg, group: Some(g), .. } => Some((cfg.clone(), g.clone())),
        _ => None,
    });
    let job_paper_ids: Vec<String> = job.paper.as_ref().map(|p| p.run_ids.to_vec()).unwrap_or_default();
    let job = Arc::new(job);
    let start = Instant::now();
    let positions: crate::feeds::Positions = Default::default();
    let (m2, b2, pb2, positions2) = (metrics.clone(), bad_rows.clone(), progress.clone(), positions.clone());
    let guards = timely::execute(config, move |worker| -> Result<Option<SinkStateOut>, String> {
        let (index, peers) = (worker.index(), worker.peers());
        let errors: tickflow_operators::FeedErrors = Rc::new(RefCell::new(Vec::new()));
        let mut feeds: Vec<Box<dyn TradeFeed>> = Vec::new();
        for (p, input) in job.inputs.iter().enumerate() {
            if p % peers != index {
                continue;
            }
            feeds.push(Box::new(crate::shutdown::Interruptible(input.open_feed(p, pb2.clone(), b2.clone(), positions2.clone())?)));
        }
        let sink_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
        let state = Rc::new(RefCell::new(SinkState::default()));
        let mut bar_writer = if index == 0 { job.bars_out.as_deref().map(BarWriter::create).transpose().map_err(|e| e.to_string())? } else { None };
        // bars to Kafka: sent as they become final; acknowledged at least every second of wall
        // time and before the run reports success
        let bar_kafka = Rc::new(RefCell::new(match (&job.bars_topic, index) {
            (Some((cfg, topic)), 0) => {
                Some((tickflow_connectors::kafka::KafkaSink::new(cfg, "tickflow-aggregate").map_err(|e| e.to_string())?, topic.clone(), Instant::now()))
            }
            _ => None,
        }));
        let bar_kafka_end = bar_kafka.clone();
        let mut late_kafka = match (&job.late_topic, index) {
            (Some((cfg, topic)), 0) => Some((tickflow_connectors::kafka::KafkaSink::new(cfg, "tickflow-aggregate").map_err(|e| e.to_string())?, topic.clone())),
            _ => None,
        };
        let mut late_writer = if index == 0 { job.late_out.as_deref().map(LateWriter::create).transpose().map_err(|e| e.to_string())? } else { None };
        // QuestDB: worker 0 writes bars and late trades (one sink); every worker writes the
        // trades it reads (its own sink; row order is irrelevant, rows are deduplicated by key)
        let qdb = Rc::new(RefCell::new(match (&job.questdb, index) {
            (Some(t), 0) => Some(open_questdb(t)?),
            _ => None,
        }));
        let qdb_end = qdb.clone();
        let paper_kafka: PaperKafka = Rc::new(RefCell::new(None));
        let paper_kafka_end = paper_kafka.clone();
        let trade_qdb = job.questdb.as_ref().map(open_questdb).transpose()?;
        let trade_kafka = match &job.trades_topic {
            Some((cfg, topic)) => Some((tickflow_connectors::kafka::KafkaSink::new(cfg, "tickflow-trades").map_err(|e| e.to_string())?, topic.clone())),
            None => None,
        };
        let keep = job.keep_tail;
        worker.dataflow::<u64, _, _>(|scope| -> Result<(), String> {
            let trades = trade_source(scope, "TradeSource", feeds, job.source.clone(), m2.clone(), errors.clone());
            if trade_qdb.is_some() || trade_kafka.is_some() {
                trade_sinks(trades.clone(), trade_qdb, trade_kafka, sink_error.clone());
            }
            let (bars, late) = trades.aggregate_bars_routed(job.agg.clone(), m2.clone(), job.routing).map_err(|e| e.to_string())?;
            if let Some(pj) = &job.paper {
                paper_stage(bars.clone(), pj, index, qdb.clone(), paper_kafka.clone(), state.clone(), sink_error.clone())?;
            }
            let (st, se, q) = (state.clone(), sink_error.clone(), qdb.clone());
            bars.ordered_sink(
                "BarSink",
                |b: &Bar| b.sort_key(),
                move |_t, v| {
                    let mut s = st.borrow_mut();
                    for b in v.drain(..) {
                        if b.revision == 0 {
                            s.bars += 1;
                            *s.per_tf.entry(b.timeframe).or_insert(0) += 1;
                        } else {
                            s.revisions += 1;
                        }
                        if let Some(w) = bar_writer.as_mut() {
                            if let Err(e) = w.write(&b) {
                                se.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                        if let Some(q) = q.borrow_mut().as_mut() {
                            if let Err(e) = q.bar(&b) {
                                se.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                        if let Some((sink, topic, _)) = bar_kafka.borrow_mut().as_mut() {
                            let r = tickflow_model::BarRecord::from(&b);
                            if let Err(e) = sink.send_json(topic, &r.key(), &r, b.open_time.millis(), tickflow_connectors::kafka::BAR_SCHEMA) {
                                se.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                        if keep > 0 {
                            s.tail.push_back(b);
                            if s.tail.len() > keep {
                                s.tail.pop_front();
                            }
                        }
                    }
                    if let Some(w) = bar_writer.as_mut() {
                        if let Err(e) = w.flush() {
                            se.borrow_mut().get_or_insert(e.to_string());
                        }
                    }
                    if let Some((sink, _, last_flush)) = bar_kafka.borrow_mut().as_mut() {
                        if last_flush.elapsed() >= Duration::from_secs(1) {
                            *last_flush = Instant::now();
                            if let Err(e) = kafka_flush(sink) {
                                se.borrow_mut().get_or_insert(e);
                            }
                        }
                    }
                    // the frontier passed a timestamp: flush QuestDB if its interval is up
                    if let Some(q) = q.borrow_mut().as_mut() {
                        if let Err(e) = q.progress() {
                            se.borrow_mut().get_or_insert(e.to_string());
                        }
                    }
                },
            );
            let (st, se, q) = (state.clone(), sink_error.clone(), qdb.clone());
            late.ordered_sink(
                "LateSink",
                |l: &LateTrade| (l.trade.instrument, l.trade.ts, l.trade.trade_id),
                move |_t, v| {
                    st.borrow_mut().late += v.len() as u64;
                    if let Some(q) = q.borrow_mut().as_mut() {
                        for l in v.iter() {
                            if let Err(e) = q.late(l) {
                                se.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                    }
                    if let Some((sink, topic)) = late_kafka.as_mut() {
                        for l in v.iter() {
                            let r = tickflow_model::LateRecord { v: tickflow_model::RECORD_VERSION, late: *l };
                            let key = format!("{}:{}", l.trade.instrument.exchange(), l.trade.instrument.symbol());
                            if let Err(e) = sink.send_json(topic, &key, &r, l.trade.ts.millis(), tickflow_connectors::kafka::LATE_SCHEMA) {
                                se.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                        // late trades are rare: acknowledge each batch
                        if let Err(e) = kafka_flush(sink) {
                            se.borrow_mut().get_or_insert(e);
                        }
                    }
                    if let Some(w) = late_writer.as_mut() {
                        for l in v.drain(..) {
                            if let Err(e) = w.write(&l) {
                                se.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                        if let Err(e) = w.flush() {
                            se.borrow_mut().get_or_insert(e.to_string());
                        }
                    }
                },
            );
            Ok(())
        })?;
        if index == 0 {
            crate::telemetry::global().set_ready(true);
        }
        // between steps (at least every 250 ms), rows still buffered for QuestDB go out once
        // their interval is up: bars of a quiet live run do not wait for the next bar to close
        let tick = if qdb_end.borrow().is_some() { Some(Duration::from_millis(250)) } else { None };
        let mut stopping = false;
        while worker.step_or_park(tick) {
            if let Some(q) = qdb_end.borrow_mut().as_mut() {
                if let Err(e) = q.progress() {
                    sink_error.borrow_mut().get_or_insert(e.to_string());
                }
            }
            // a sink that failed for good ends the run (a live run would otherwise go on
            // without it): the sources stop, the rest drains, the error is reported
            if !stopping && sink_error.borrow().is_some() {
                stopping = true;
                tracing::error!(error = ?sink_error.borrow(), "a sink failed; stopping the run");
                crate::shutdown::request();
            }
        }
        if let Some((sink, _, _)) = bar_kafka_end.borrow_mut().as_mut() {
            kafka_flush(sink)?;
        }
        if let Some(q) = qdb_end.borrow_mut().as_mut() {
            q.flush().map_err(|e| e.to_string())?;
        }
        if let Some((sink, _)) = paper_kafka_end.borrow_mut().as_mut() {
            kafka_flush(sink)?;
        }
        if let Some(e) = errors.borrow().first() {
            return Err(e.to_string());
        }
        if let Some(e) = sink_error.borrow().clone() {
            return Err(e);
        }
        if index == 0 {
            let s = state.borrow();
            Ok(Some(SinkStateOut {
                bars: s.bars,
                revisions: s.revisions,
                late: s.late,
                per_tf: s.per_tf.iter().map(|(k, v)| (*k, *v)).collect(),
                tail: s.tail.iter().copied().collect(),
                paper: s.paper.iter().map(|(r, (sum, o, f))| (*r, sum.clone().unwrap_or_default(), *o, *f)).collect(),
            }))
        } else {
            Ok(None)
        }
    })
    .map_err(|e| anyhow!("starting timely: {e}"))?;
    let mut report = JobReport::default();
    for r in guards.join() {
        match r {
            Ok(Ok(Some(s))) => {
                report.bars = s.bars;
                report.revisions = s.revisions;
                report.late = s.late;
                report.per_timeframe = s.per_tf;
                report.tail = s.tail;
                let ids = job_paper_ids.clone();
                report.paper = s.paper.into_iter().map(|(r, sum, o, f)| (ids.get(r as usize).cloned().unwrap_or_default(), sum, o, f)).collect();
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(anyhow!(e)),
            Err(e) => return Err(anyhow!("worker failed: {e}")),
        }
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    drop(ticker_stop);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    if crate::shutdown::requested() {
        tracing::info!("stopped on request: every sink flushed; interrupted partitions are not committed");
    }
    // every sink has flushed: commit the consumed positions (at-least-once)
    if let Some((cfg, group)) = &commit_to {
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

/// Writes every trade of this worker to QuestDB and/or a Kafka topic.
///
/// - **Input**: the source's trade batches, not exchanged (`Pipeline`): each worker writes the
///   partitions it reads.
/// - **Frontier rule**: on every frontier advance QuestDB flushes if its interval is up and Kafka
///   is acknowledged at most once a second; while rows wait, the operator re-activates itself
///   every 250 ms so a quiet live source still gets its rows out; when the frontier is empty both
///   flush for good.
/// - **State**: the two sinks' buffers (bounded; a full buffer flushes, blocking the worker).
fn trade_sinks(
    trades: timely::dataflow::StreamVec<'_, u64, TradeBatch>,
    mut qdb: Option<QuestDbSink>,
    mut kafka: Option<(tickflow_connectors::kafka::KafkaSink, String)>,
    errors: Rc<RefCell<Option<String>>>,
) {
    const TICK: Duration = Duration::from_millis(250);
    let scope = trades.scope();
    let mut last_kafka_flush = Instant::now();
    let mut finished = false;
    trades.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "TradeSinks", move |cap, info| {
        drop(cap); // no output
        let activator = scope.activator_for(info.address);
        move |(input, frontier), _output| {
            input.for_each_stamp(|_, data| {
                for batches in data {
                    for batch in batches.iter() {
                        for t in batch.iter() {
                            if let Some(q) = qdb.as_mut() {
                                if let Err(e) = q.trade(&t) {
                                    errors.borrow_mut().get_or_insert(e.to_string());
                                }
                            }
                            if let Some((sink, topic)) = kafka.as_mut() {
                                if let Err(e) = sink.send_trade(topic, &t) {
                                    crate::telemetry::global().kafka_produce_errors.fetch_add(1, Ordering::Relaxed);
                                    errors.borrow_mut().get_or_insert(e.to_string());
                                }
                            }
                        }
                    }
                }
            });
            if finished {
                return;
            }
            let done = frontier.is_empty();
            if let Some(q) = qdb.as_mut() {
                if let Err(e) = if done { q.flush() } else { q.progress() } {
                    errors.borrow_mut().get_or_insert(e.to_string());
                }
            }
            let mut pending = qdb.as_ref().is_some_and(|q| q.buffered_rows() > 0);
            if let Some((sink, _)) = kafka.as_mut() {
                if done || last_kafka_flush.elapsed() >= Duration::from_secs(1) {
                    last_kafka_flush = Instant::now();
                    if let Err(e) = kafka_flush(sink) {
                        errors.borrow_mut().get_or_insert(e);
                    }
                } else {
                    pending = true;
                }
            }
            finished = done;
            // a quiet live source may not move the frontier for a long time: come back to flush
            if pending && !done {
                activator.activate_after(TICK);
            }
        }
    });
}

/// Sets its flag when dropped (stops the progress ticker on every return path).
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct SinkStateOut {
    bars: u64,
    revisions: u64,
    late: u64,
    per_tf: Vec<(Timeframe, u64)>,
    tail: Vec<Bar>,
    paper: Vec<(u32, tickflow_strategies::Summary, u64, u64)>,
}

/// Paper trading: the strategy stage on the bars of `pj.timeframe`, its events gathered on
/// worker 0 (sorted by run; each run lives on one worker, so its events keep their order) and
/// written to the events file, QuestDB and Kafka as the frontier passes their bars.
fn paper_stage(
    bars: timely::dataflow::StreamVec<'_, u64, Bar>,
    pj: &crate::paper::PaperJob,
    index: usize,
    qdb: Rc<RefCell<Option<QuestDbSink>>>,
    kafka: PaperKafka,
    state: Rc<RefCell<SinkState>>,
    errors: Rc<RefCell<Option<String>>>,
) -> Result<(), String> {
    use std::io::Write as _;
    use tickflow_strategies::{BacktestEvent, BacktestStage};
    use timely::dataflow::operators::vec::Filter;
    let tf = pj.timeframe;
    let events = bars.filter(move |b: &Bar| b.timeframe == tf).backtest(pj.runs.clone()).map_err(|e| e.to_string())?;
    let mut file = match (&pj.events_out, index) {
        (Some(p), 0) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| format!("{p}: {e}"))?)),
        _ => None,
    };
    *kafka.borrow_mut() = match (&pj.publish, index) {
        (Some((cfg, topics)), 0) => Some((tickflow_connectors::kafka::KafkaSink::new(cfg, "tickflow-paper").map_err(|e| e.to_string())?, topics.clone())),
        _ => None,
    };
    let mut last_flush = Instant::now();
    let ids = pj.run_ids.clone();
    events.ordered_sink(
        "PaperSink",
        |e: &BacktestEvent| e.run(),
        move |_t, v| {
            use tickflow_connectors::kafka::{EQUITY_SCHEMA, FILL_SCHEMA, ORDER_SCHEMA};
            use tickflow_model::{EquityRecord, RunRecord, RECORD_VERSION};
            let fail = |e: String| {
                errors.borrow_mut().get_or_insert(e);
            };
            let mut st = state.borrow_mut();
            let mut q = qdb.borrow_mut();
            let mut kafka = kafka.borrow_mut();
            for e in v.drain(..) {
                let run = ids.get(e.run() as usize).map(String::as_str).unwrap_or("");
                if let Some(w) = file.as_mut() {
                    if let Err(err) = serde_json::to_writer(&mut *w, &e).map_err(|x| x.to_string()).and_then(|_| w.write_all(b"\n").map_err(|x| x.to_string()))
                    {
                        fail(err);
                    }
                }
                let entry = st.paper.entry(e.run()).or_default();
                let r = match &e {
                    BacktestEvent::Order(_, o) => {
                        entry.1 += 1;
                        let k = kafka
                            .as_mut()
                            .map(|(s, t)| s.send_json(&t[0], &format!("{run}:{}", o.id), &RunRecord::new(run, **o), o.updated.millis(), ORDER_SCHEMA));
                        (q.as_mut().map(|q| q.order(run, o)), k)
                    }
                    BacktestEvent::Fill(_, f) => {
                        entry.2 += 1;
                        let key = format!("{run}:{}:{}", f.order_id, f.ts.0);
                        let k = kafka.as_mut().map(|(s, t)| s.send_json(&t[1], &key, &RunRecord::new(run, **f), f.ts.millis(), FILL_SCHEMA));
                        (q.as_mut().map(|q| q.fill(run, f)), k)
                    }
                    BacktestEvent::Equity(_, p) => {
                        let rec = EquityRecord { v: RECORD_VERSION, run: run.to_string(), ts: p.ts.0, cash: p.cash, value: p.value };
                        let k = kafka.as_mut().map(|(s, t)| s.send_json(&t[2], run, &rec, p.ts.millis(), EQUITY_SCHEMA));
                        (q.as_mut().map(|q| q.equity(run, p.ts.0, p.cash.to_f64(), p.value.to_f64())), k)
                    }
                    BacktestEvent::Summary(_, s) => {
                        entry.0 = Some((**s).clone());
                        (None, None)
                    }
                    BacktestEvent::Trade(..) => (None, None),
                };
                if let (Some(Err(err)), _) | (_, Some(Err(err))) = r {
                    fail(err.to_string());
                }
            }
            if let Some(w) = file.as_mut() {
                if let Err(err) = w.flush() {
                    fail(err.to_string());
                }
            }
            // acknowledged at least every second here, and at the end by the caller
            if let Some((s, _)) = kafka.as_mut() {
                if last_flush.elapsed() >= Duration::from_secs(1) {
                    last_flush = Instant::now();
                    if let Err(err) = kafka_flush(s) {
                        fail(err);
                    }
                }
            }
            if let Some(q) = q.as_mut() {
                if let Err(err) = q.progress() {
                    fail(err.to_string());
                }
            }
        },
    );
    Ok(())
}

/// The paper-trading Kafka sink (worker 0), flushed by the caller when the run ends.
type PaperKafka = Rc<RefCell<Option<(tickflow_connectors::kafka::KafkaSink, [String; 3])>>>;
