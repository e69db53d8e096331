//! The dataflow of a job — **one builder** for `aggregate`, `replay`, `run`, paper trading, the
//! demo and the benchmarks:
//!
//! ```text
//! inputs ─▶ trade_source (watermarks) ─┬─▶ aggregate_bars ─┬─▶ bars ─┬─▶ [strategy stage] ─▶ event sinks
//!                                      │                   │         └─▶ bar sinks
//!                                      │                   └─▶ late trades ─▶ late sinks
//!                                      └─▶ trade sinks (QuestDB `trades`, the trades topic)
//! ```
//!
//! Input partition `p` is read by global worker `p % peers` (static ownership). Bars are
//! exchanged by instrument for aggregation (or stay where they are read with keyed
//! partitions); file and report sinks gather on worker 0 sorted within each timestamp, so
//! outputs are byte-identical for any worker or process count; Kafka and QuestDB sinks write
//! from every worker ([`crate::sinks`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tickflow_connectors::kafka::{BAR_SCHEMA, EQUITY_SCHEMA, FILL_SCHEMA, LATE_SCHEMA, ORDER_SCHEMA};
use tickflow_model::{Bar, BarKind, BarRecord, EquityRecord, LateRecord, LateTrade, RunRecord, TradeBatch, RECORD_VERSION};
use tickflow_operators::{trade_source_at, AggregateBars, AggregateState, BarEngine, FeedErrors, PipelineMetrics, SourceBarrier, TradeFeed};
use tickflow_strategies::{BacktestEvent, BacktestStage};
use timely::dataflow::operators::vec::Filter;
use timely::dataflow::{Scope, StreamVec};

use crate::checkpoint::WorkerCheckpoint;
use crate::job::Job;
use crate::paper::PaperJob;
use crate::sinks::kafka_topic::{producer, KafkaTopic, Producer};
use crate::sinks::questdb_table::QuestDbTable;
use crate::sinks::report::{BarCount, LateCount, PaperCount, SharedReport};
use crate::sinks::{events_file, file, gathered, local, SinkSet};

/// Kafka records are acknowledged at least this often while they wait.
const KAFKA_INTERVAL: Duration = Duration::from_secs(1);

/// What one worker's part of the dataflow reports to the runner.
pub struct Wiring {
    /// This worker's global index.
    pub index: usize,
    /// Pipeline counters (shared by the process's workers).
    pub metrics: Arc<PipelineMetrics>,
    /// Feed failures.
    pub feed_errors: FeedErrors,
    /// The sinks' health and durable frontiers.
    pub sinks: SinkSet,
    /// The run report (filled on worker 0).
    pub report: SharedReport,
    /// How many of the last bars the report keeps.
    pub keep_tail: usize,
    /// This worker's checkpointing, for jobs that checkpoint (set by [`build`]).
    pub checkpoint: std::rc::Rc<std::cell::RefCell<Option<WorkerCheckpoint>>>,
}

/// Builds the job's dataflow in `scope` for this worker's `feeds`.
pub fn build<'scope>(scope: Scope<'scope, u64>, job: &Job, feeds: Vec<Box<dyn TradeFeed>>, w: &Wiring) -> Result<()> {
    let set = &w.sinks;
    let here = w.index == 0;
    // one producer per worker, shared by its topic sinks
    let kafka_cfg = [&job.trades_topic, &job.bars_topic, &job.late_topic].into_iter().flatten().map(|(c, _)| c).next().cloned();
    let kafka_cfg = kafka_cfg.or_else(|| job.paper.as_ref().and_then(|p| p.publish.as_ref().map(|(c, _)| c.clone())));
    let producer = kafka_cfg.as_ref().map(producer).transpose()?;

    let (trades, resumable) = source(scope, job, feeds, w)?;
    if let Some(t) = &job.questdb {
        let rows = |q: &mut tickflow_connectors::questdb::QuestDbSink, b: &TradeBatch| b.iter().try_for_each(|t| q.trade(&t));
        local(trades.clone(), QuestDbTable::open("trades", t, rows)?, set);
    }
    if let (Some((_, topic)), Some(p)) = (&job.trades_topic, &producer) {
        let t = topic.clone();
        let send = move |k: &mut tickflow_connectors::kafka::KafkaSink, b: &TradeBatch| b.iter().try_for_each(|x| k.send_trade(&t, &x));
        local(trades.clone(), KafkaTopic::new(topic, p.clone(), KAFKA_INTERVAL, send), set);
    }

    let (bars, late) = aggregate(trades, job, resumable, w)?;

    if let Some(pj) = &job.paper {
        paper(bars.clone(), pj, job, producer.clone(), w)?;
    }

    if let Some(path) = &job.bars_out {
        file::bars(bars.clone(), path, here, set)?;
    }
    gathered(bars.clone(), |b: &Bar| b.sort_key(), BarCount { report: w.report.clone(), keep: w.keep_tail }, set);
    if let Some(t) = &job.questdb {
        local(bars.clone(), QuestDbTable::open("bars", t, |q: &mut tickflow_connectors::questdb::QuestDbSink, b: &Bar| q.bar(b))?, set);
    }
    if let (Some((_, topic)), Some(p)) = (&job.bars_topic, &producer) {
        let t = topic.clone();
        let send = move |k: &mut tickflow_connectors::kafka::KafkaSink, b: &Bar| {
            let r = BarRecord::from(b);
            k.send_json(&t, &r.key(), &r, b.open_time.millis(), BAR_SCHEMA)
        };
        local(bars, KafkaTopic::new(topic, p.clone(), KAFKA_INTERVAL, send), set);
    }

    if let Some(path) = &job.late_out {
        file::late(late.clone(), path, here, set)?;
    }
    gathered(late.clone(), file::late_key, LateCount(w.report.clone()), set);
    if let Some(t) = &job.questdb {
        local(late.clone(), QuestDbTable::open("late_trades", t, |q: &mut tickflow_connectors::questdb::QuestDbSink, l: &LateTrade| q.late(l))?, set);
    }
    if let (Some((_, topic)), Some(p)) = (&job.late_topic, &producer) {
        let t = topic.clone();
        let send = move |k: &mut tickflow_connectors::kafka::KafkaSink, l: &LateTrade| {
            let r = LateRecord { v: RECORD_VERSION, late: *l };
            let key = format!("{}:{}", l.trade.instrument.exchange(), l.trade.instrument.symbol());
            k.send_json(&t, &key, &r, l.trade.ts.millis(), LATE_SCHEMA)
        };
        // late trades are rare: each batch is acknowledged
        local(late, KafkaTopic::new(topic, p.clone(), Duration::ZERO, send), set);
    }
    Ok(())
}

/// The trade half of the dataflow on its own — source (watermarks) → bars and late trades — for
/// stages that consume bars in memory (`backtest --trades/--kafka-topic`).
#[allow(clippy::type_complexity)]
pub fn trades_to_bars<'scope>(
    scope: Scope<'scope, u64>,
    job: &Job,
    feeds: Vec<Box<dyn TradeFeed>>,
    w: &Wiring,
) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>)> {
    let (trades, resumable) = source(scope, job, feeds, w)?;
    aggregate(trades, job, resumable, w)
}

/// What a checkpointing job's source hands its aggregation: the barrier and the (restored) state.
type Resumable = Option<(tickflow_operators::Barrier, std::rc::Rc<std::cell::RefCell<AggregateState>>)>;

/// The source: this worker's feeds as trade batches, with per-partition watermarks; for a job
/// that checkpoints, holding at its boundaries and starting from the restored watermarks, with
/// the aggregation state restored for the instruments this worker owns.
fn source<'scope>(scope: Scope<'scope, u64>, job: &Job, feeds: Vec<Box<dyn TradeFeed>>, w: &Wiring) -> Result<(StreamVec<'scope, u64, TradeBatch>, Resumable)> {
    let resumable = match (&job.checkpoint, &job.plan) {
        (Some(spec), Some(plan)) => {
            let restored = plan.restored.as_deref();
            let barrier =
                SourceBarrier::new(plan.first_boundary, spec.interval, restored.map(|c| c.positions().cloned().collect::<Vec<_>>()).unwrap_or_default());
            let state = AggregateState::new(BarEngine::new(job.agg.clone())?);
            if let Some(c) = restored {
                let (index, peers) = (w.index, scope.peers());
                let (es, late) = match job.routing {
                    // instruments stay where their partition is read: the same worker's part
                    tickflow_operators::Routing::Local => {
                        let own: std::collections::BTreeSet<_> =
                            c.parts.iter().filter(|p| p.worker == index).flat_map(|p| p.engine.instruments.iter().map(|i| i.instrument)).collect();
                        c.state_for(|i| own.contains(i))
                    }
                    tickflow_operators::Routing::ByInstrument => c.state_for(|i| i.route() % peers as u64 == index as u64),
                };
                let mut st = state.borrow_mut();
                st.engine.restore(&es, |_| true)?;
                st.late = late;
            }
            Some((barrier, state))
        }
        _ => None,
    };
    let barrier = resumable.as_ref().map(|(b, _)| b.clone());
    Ok((trade_source_at(scope, "TradeSource", feeds, job.source.clone(), w.metrics.clone(), w.feed_errors.clone(), barrier), resumable))
}

/// Trades into bars and late trades, routed by instrument (or kept local); for a job that
/// checkpoints, over the shared (restored) state, suspending rather than finalizing at the end
/// of the input, with this worker's checkpointer.
#[allow(clippy::type_complexity)]
fn aggregate<'scope>(
    trades: StreamVec<'scope, u64, TradeBatch>,
    job: &Job,
    resumable: Resumable,
    w: &Wiring,
) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>)> {
    let Some((barrier, state)) = resumable else {
        let (bars, late) = trades.clone().aggregate_bars_routed(job.agg.clone(), w.metrics.clone(), job.routing)?;
        return Ok((more_kinds(trades, bars, &job.bar_kinds), late));
    };
    let (spec, plan) = match (&job.checkpoint, &job.plan) {
        (Some(s), Some(p)) => (s, p),
        _ => anyhow::bail!("a resumable source without a checkpoint plan"),
    };
    let scope = trades.scope();
    let local = job.routing == tickflow_operators::Routing::Local;
    let wc = WorkerCheckpoint::build(scope, spec, plan, barrier, state.clone(), w.index, scope.peers(), local, &w.sinks.health, w.metrics.clone())?;
    let trades = timely::dataflow::operators::Probe::probe_with(trades, &wc.source_probe);
    let (bars, late) = trades.aggregate_bars_shared(state, true, w.metrics.clone(), job.routing)?;
    let bars = timely::dataflow::operators::Probe::probe_with(bars, &wc.probe);
    let late = timely::dataflow::operators::Probe::probe_with(late, &wc.probe);
    *w.checkpoint.borrow_mut() = Some(wc);
    Ok((bars, late))
}

/// The time bars with the information-driven bars of `kinds` (from the trades; their late
/// stream is not taken: the time bars' late stream reports every late trade once) and the
/// Heikin-Ashi bars of the time bars.
fn more_kinds<'scope>(trades: StreamVec<'scope, u64, TradeBatch>, bars: StreamVec<'scope, u64, Bar>, kinds: &[BarKind]) -> StreamVec<'scope, u64, Bar> {
    use tickflow_operators::{HeikinAshiBars, InfoBars};
    use timely::dataflow::operators::Concat;
    let info: Vec<BarKind> = kinds.iter().filter(|k| !k.is_time()).copied().collect();
    let mut all = bars.clone();
    if !info.is_empty() {
        all = all.concat(trades.info_bars(info).0);
    }
    if kinds.contains(&BarKind::HeikinAshi) {
        all = all.concat(bars.heikin_ashi_bars());
    }
    all
}

/// Paper trading: the strategy stage on the bars of the strategy's timeframe (first emissions;
/// each run lives on one worker) and its sinks.
fn paper(bars: StreamVec<'_, u64, Bar>, pj: &PaperJob, job: &Job, producer: Option<Producer>, w: &Wiring) -> Result<()> {
    let set = &w.sinks;
    let tf = pj.timeframe;
    let bars = bars.filter(move |b: &Bar| b.kind == BarKind::Time && b.timeframe == tf);
    let events = match w.checkpoint.borrow_mut().as_mut() {
        // a checkpointing job: the stage's state is saved with the engine's, restored from the
        // checkpoint (runs re-partitioned over this run's workers), and paused at the end
        Some(wc) => {
            let mut st = tickflow_strategies::StageState::new(&pj.runs, w.index, bars.scope().peers())?;
            if let Some(c) = job.plan.as_ref().and_then(|p| p.restored.as_deref()) {
                let parts: Vec<_> = c.parts.iter().filter_map(|p| p.paper.clone()).collect();
                anyhow::Context::context(st.restore(&parts), "restoring paper trading from the checkpoint")?;
            }
            let st = std::rc::Rc::new(std::cell::RefCell::new(st));
            wc.paper = Some(st.clone());
            timely::dataflow::operators::Probe::probe_with(bars.backtest_shared(st, true), &wc.probe)
        }
        None => bars.backtest(pj.runs.clone())?,
    };
    if let Some(p) = &pj.events_out {
        gathered(events.clone(), |e: &BacktestEvent| e.run(), events_file::EventsFile::create(p, w.index == 0)?, set);
    }
    gathered(events.clone(), |e: &BacktestEvent| e.run(), PaperCount(w.report.clone()), set);
    if let Some(t) = &job.questdb {
        let ids = pj.run_ids.clone();
        let rows = move |q: &mut tickflow_connectors::questdb::QuestDbSink, e: &BacktestEvent| {
            let run = ids.get(e.run() as usize).map(String::as_str).unwrap_or("");
            match e {
                BacktestEvent::Order(_, o) => q.order(run, o),
                BacktestEvent::Fill(_, f) => q.fill(run, f),
                BacktestEvent::Equity(_, p) => q.equity(run, p.ts.0, p.cash.to_f64(), p.value.to_f64()),
                BacktestEvent::Summary(..) | BacktestEvent::Trade(..) | BacktestEvent::Funding(..) => Ok(()),
            }
        };
        local(events.clone(), QuestDbTable::open("orders, fills, equity", t, rows)?, set);
    }
    if let (Some((_, topics)), Some(p)) = (&pj.publish, producer) {
        let (ids, topics) = (pj.run_ids.clone(), topics.clone());
        let send = move |k: &mut tickflow_connectors::kafka::KafkaSink, e: &BacktestEvent| {
            let run = ids.get(e.run() as usize).map(String::as_str).unwrap_or("");
            match e {
                BacktestEvent::Order(_, o) => k.send_json(&topics[0], &format!("{run}:{}", o.id), &RunRecord::new(run, **o), o.updated.millis(), ORDER_SCHEMA),
                BacktestEvent::Fill(_, f) => {
                    k.send_json(&topics[1], &format!("{run}:{}:{}", f.order_id, f.ts.0), &RunRecord::new(run, **f), f.ts.millis(), FILL_SCHEMA)
                }
                BacktestEvent::Equity(_, p) => {
                    let rec = EquityRecord { v: RECORD_VERSION, run: run.to_string(), ts: p.ts.0, cash: p.cash, value: p.value };
                    k.send_json(&topics[2], run, &rec, p.ts.millis(), EQUITY_SCHEMA)
                }
                BacktestEvent::Summary(..) | BacktestEvent::Trade(..) | BacktestEvent::Funding(..) => Ok(()),
            }
        };
        local(events, KafkaTopic::new("orders, fills, equity", p, KAFKA_INTERVAL, send), set);
    }
    Ok(())
}
