//! `trade_source`: turns feeds (files, generators, venue clients, Kafka partitions) into a
//! watermarked timely stream of trades.
//!
//! - **Input**: the [`TradeFeed`]s this worker owns. The caller assigns feeds (partitions) to
//!   workers statically, e.g. feed `p` to worker `p % peers`, so a partition is always read by
//!   one worker in its own order.
//! - **Output**: [`TradeBatch`]es (trades of one instrument, in partition order), timestamped (timely time = epoch ns) with the partition watermark.
//!   On-time trades travel at the operator's capability (≤ every partition's watermark, so
//!   ≤ their event time); a late trade travels alone at exactly the watermark of its partition
//!   when it was read, so downstream tells late from on-time by `event time < message time`,
//!   independent of batching, speed or worker count.
//! - **Frontier rule**: the capability is the minimum watermark over this worker's unfinished
//!   feeds (`max event time − out_of_orderness`); a finished feed stops holding it back and
//!   the capability is dropped when all are finished. Live feeds that have been idle for
//!   `idle_timeout` advance their watermark to `now − out_of_orderness`; non-live feeds never
//!   read the clock.
//! - **Steps**: an activation polls each feed until it has given
//!   [`SourceConfig::activation_budget`] trades or a poll gives none, then downgrades the
//!   capability once. Every downgrade is a progress message to every peer, so large steps keep
//!   progress traffic per trade low; the budget changes no output and no timestamp.
//! - **State**: one [`Watermark`] per feed and a batch buffer.
//! - Trades with negative event times are rejected (counted, reported), never panicking.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickflow_model::{Trade, TradeBatch, TradeRows, Ts};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, StreamVec};

use crate::metrics::PipelineMetrics;
use crate::watermark::{Arrival, Watermark};
use crate::{FeedFault, OperatorError};

/// What a feed had to offer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FeedStatus {
    /// Trades were appended (possibly zero); poll again soon.
    Ready,
    /// Nothing right now (live feeds); poll again later.
    Idle,
    /// The feed is exhausted; trades appended in this call are still valid.
    Done,
}

/// A partition of trades in its own order: a file, a generator, a venue stream, a Kafka
/// partition. Implementations live in `connectors` and `topology`; this trait keeps the
/// operator free of I/O dependencies.
pub trait TradeFeed {
    /// Appends up to `max` trades to `out` (columnar, in partition order).
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError>;
    /// Fast path for feeds whose data already comes as batches of one instrument each, in
    /// partition order (e.g. a Kafka partition keyed by instrument, an in-memory tape): the
    /// source then moves whole batches instead of regrouping trades. Return `None` (the
    /// default) to use [`poll`](Self::poll).
    fn poll_batch(&mut self) -> Option<Result<(Option<TradeBatch>, FeedStatus), OperatorError>> {
        None
    }
    /// True for live feeds, whose watermark may advance on the wall clock when idle.
    fn is_live(&self) -> bool {
        false
    }
    /// A name for logs and errors.
    fn name(&self) -> String;
}

/// Source configuration.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// Allowed disorder, ns.
    pub out_of_orderness: i64,
    /// Live feeds: advance the watermark after this long without data.
    pub idle_timeout: Option<Duration>,
    /// Trades per poll of a feed.
    pub batch: usize,
    /// Trades per feed per activation: a feed is polled until it has given this many or has
    /// nothing more right now.
    pub activation_budget: usize,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig { out_of_orderness: 0, idle_timeout: None, batch: 4096, activation_budget: 65_536 }
    }
}

struct FeedState {
    feed: Box<dyn TradeFeed>,
    wm: Watermark,
    last_data: Instant,
}

/// Trades per batch (~230 KiB of columns).
const BATCH_TRADES: usize = 4096;

/// Groups trades by instrument into columnar batches of at most [`BATCH_TRADES`], preserving
/// arrival order within each instrument.
#[derive(Default)]
struct Grouper {
    open: Vec<TradeBatch>,
    index: std::collections::HashMap<u64, usize>,
    sealed: Vec<TradeBatch>,
    /// Open-batch slot per instrument index of the current rows.
    slots: Vec<usize>,
}

impl Grouper {
    /// Maps the instrument table of the `rows` about to be pushed to open batches (new ones
    /// sized for all of them, so they never reallocate while filling).
    fn map_instruments(&mut self, instruments: &[tickflow_model::Instrument], rows: usize) {
        self.slots.clear();
        for inst in instruments {
            let id = inst.id();
            let slot = match self.index.get(&id) {
                Some(&i) => i,
                None => {
                    self.open.push(TradeBatch::with_capacity(*inst, rows.clamp(1, BATCH_TRADES)));
                    self.index.insert(id, self.open.len() - 1);
                    self.open.len() - 1
                }
            };
            self.slots.push(slot);
        }
    }
    /// Appends row `i` (after [`map_instruments`](Self::map_instruments) for these rows).
    #[inline]
    fn push_row(&mut self, rows: &TradeRows, i: usize) {
        let slot = self.slots[rows.inst[i] as usize];
        let g = &mut self.open[slot];
        g.push_row(rows, i);
        if g.len() == BATCH_TRADES {
            let inst = g.instrument;
            let full = std::mem::replace(g, TradeBatch::with_capacity(inst, BATCH_TRADES));
            self.sealed.push(full);
        }
    }
    fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.iter().all(|g| g.is_empty())
    }
    /// Sealed batches first, then the partial ones; per instrument this is arrival order.
    fn drain(&mut self) -> impl Iterator<Item = TradeBatch> + '_ {
        self.index.clear();
        self.sealed.drain(..).chain(self.open.drain(..).filter(|g| !g.is_empty()))
    }
}

/// Errors reported by feeds, collected for the caller (the run fails with them).
pub type FeedErrors = Rc<RefCell<Vec<OperatorError>>>;

/// Builds the source operator for this worker's `feeds`. See the module documentation.
pub fn trade_source<'scope>(
    scope: Scope<'scope, u64>,
    name: &str,
    feeds: Vec<Box<dyn TradeFeed>>,
    cfg: SourceConfig,
    metrics: Arc<PipelineMetrics>,
    errors: FeedErrors,
) -> StreamVec<'scope, u64, TradeBatch> {
    source::<_, CapacityContainerBuilder<Vec<TradeBatch>>, _, _>(scope, name, move |cap, info| {
        let activator = scope.activator_for(info.address);
        let mut cap = if feeds.is_empty() { None } else { Some(cap) };
        let mut feeds: Vec<FeedState> =
            feeds.into_iter().map(|feed| FeedState { feed, wm: Watermark::new(cfg.out_of_orderness), last_data: Instant::now() }).collect();
        let mut buf = TradeRows::default();
        let mut groups = Grouper::default();
        move |output| {
            let Some(c) = cap.as_mut() else { return };
            let (mut any_idle, mut any_ready) = (false, false);
            let mut i = 0;
            while i < feeds.len() {
                let fs = &mut feeds[i];
                // Poll this feed until it has given `activation_budget` trades or is not Ready:
                // fewer, larger steps mean fewer capability downgrades (progress messages to
                // every peer) per trade.
                let mut given = 0usize;
                let status = loop {
                    let given_before = given;
                    buf.clear();
                    let status = match fs.feed.poll_batch() {
                        // batch fast path: classify in place, move on-time trades as one record
                        Some(r) => match r {
                            Ok((batch, status)) => {
                                if let Some(batch) = batch.filter(|b| !b.is_empty()) {
                                    let all_on_time = batch.ts.first().is_some_and(|&t| t >= 0) && fs.wm.observe_all_on_time(&batch.ts);
                                    if all_on_time {
                                        fs.last_data = Instant::now();
                                        given += batch.len();
                                        metrics.trades_in.fetch_add(batch.len() as u64, Ordering::Relaxed);
                                        output.session(&*c).give(batch);
                                    } else {
                                        // rare: take the per-trade path below (state unchanged)
                                        batch.iter().for_each(|t| buf.push(&t));
                                    }
                                }
                                status
                            }
                            Err(e) => {
                                errors.borrow_mut().push(e);
                                FeedStatus::Done
                            }
                        },
                        None => match fs.feed.poll(&mut buf, cfg.batch) {
                            Ok(s) => s,
                            Err(e) => {
                                errors.borrow_mut().push(e);
                                FeedStatus::Done
                            }
                        },
                    };
                    if !buf.is_empty() {
                        fs.last_data = Instant::now();
                        given += buf.len();
                        metrics.trades_in.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        // common case: every row on time → group without per-row classification
                        let all_on_time = buf.ts.iter().all(|&t| t >= 0) && fs.wm.observe_all_on_time(&buf.ts);
                        if all_on_time {
                            // one batch per instrument, each row copied once
                            output.session(&*c).give_iterator(TradeBatch::split_rows(&buf).into_iter());
                            buf.clear();
                        }
                        groups.map_instruments(&buf.instruments, buf.len());
                        for i in 0..buf.len() {
                            if !all_on_time {
                                let ts = buf.ts[i];
                                if ts < 0 {
                                    metrics.bad_records.fetch_add(1, Ordering::Relaxed);
                                    errors.borrow_mut().push(OperatorError::feed(
                                        fs.feed.name(),
                                        None,
                                        FeedFault::BadRecord(format!("trade with event time before 1970 ({})", Ts(ts))),
                                    ));
                                    continue;
                                }
                                if let Arrival::Late(w) = fs.wm.observe(ts) {
                                    // alone, at exactly the watermark it arrived under
                                    let late_cap = c.delayed(&(w.max(0) as u64).max(*c.time()));
                                    output.session(&late_cap).give(TradeBatch::single(&buf.get(i)));
                                    continue;
                                }
                            }
                            groups.push_row(&buf, i);
                        }
                    }
                    if !groups.is_empty() {
                        output.session(&*c).give_iterator(groups.drain());
                    }
                    // a poll that gave nothing (e.g. only malformed records, or a live feed with
                    // nothing new) ends this feed's turn: the loop never spins within an activation
                    if status != FeedStatus::Ready || given >= cfg.activation_budget || given == given_before {
                        break status;
                    }
                };
                if let Some(m) = fs.wm.max_seen() {
                    metrics.max_event_time.fetch_max(m, Ordering::Relaxed);
                }
                match status {
                    FeedStatus::Done => {
                        feeds.swap_remove(i);
                        continue;
                    }
                    FeedStatus::Idle => {
                        any_idle = true;
                        if let (true, Some(idle)) = (fs.feed.is_live(), cfg.idle_timeout) {
                            if fs.last_data.elapsed() >= idle {
                                fs.wm.advance_to(Ts::now().0.saturating_sub(cfg.out_of_orderness));
                            }
                        }
                    }
                    FeedStatus::Ready => any_ready = true,
                }
                i += 1;
            }
            if feeds.is_empty() {
                cap = None;
                return;
            }
            // A feed without data yet holds the capability where it is.
            let min_wm = feeds.iter().map(|f| f.wm.current()).try_fold(i64::MAX, |acc, w| w.map(|w| acc.min(w)));
            if let Some(w) = min_wm {
                let w = w.max(0) as u64;
                if w > *c.time() {
                    c.downgrade(&w);
                }
                metrics.watermark.store(w as i64, Ordering::Relaxed);
            }
            // back off only when no feed had data: one quiet partition must not slow the others
            if any_idle && !any_ready {
                activator.activate_after(Duration::from_millis(5));
            } else {
                activator.activate();
            }
        }
    })
}

/// An in-memory feed over a vector of trades, in order (tests, demos, benchmarks).
pub struct VecFeed {
    name: String,
    trades: std::vec::IntoIter<Trade>,
}

impl VecFeed {
    /// A feed named `name` yielding `trades` in order.
    pub fn new(name: impl Into<String>, trades: Vec<Trade>) -> Self {
        VecFeed { name: name.into(), trades: trades.into_iter() }
    }
}

impl TradeFeed for VecFeed {
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError> {
        self.trades.by_ref().take(max).for_each(|t| out.push(&t));
        Ok(if self.trades.len() == 0 { FeedStatus::Done } else { FeedStatus::Ready })
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// An in-memory feed of pre-built batches (each of one instrument, in partition order), handed
/// to the source without copying — the in-memory benchmark source, and a model for feeds
/// whose data arrives grouped (e.g. Kafka partitions keyed by instrument).
pub struct BatchFeed {
    name: String,
    batches: std::collections::VecDeque<TradeBatch>,
}

impl BatchFeed {
    /// A feed yielding `batches` in order.
    pub fn new(name: impl Into<String>, batches: Vec<TradeBatch>) -> Self {
        BatchFeed { name: name.into(), batches: batches.into() }
    }
    /// Cuts a single partition's trades into batches of at most `size` consecutive trades of the
    /// same instrument (a new batch starts whenever the instrument changes).
    pub fn from_trades(name: impl Into<String>, trades: Vec<Trade>, size: usize) -> Self {
        let mut batches: Vec<TradeBatch> = Vec::new();
        for t in &trades {
            match batches.last_mut() {
                Some(b) if b.instrument == t.instrument && b.len() < size.max(1) => b.push(t),
                _ => {
                    let mut b = TradeBatch::with_capacity(t.instrument, size.max(1));
                    b.push(t);
                    batches.push(b);
                }
            }
        }
        BatchFeed::new(name, batches)
    }
}

impl TradeFeed for BatchFeed {
    fn poll(&mut self, out: &mut TradeRows, _max: usize) -> Result<FeedStatus, OperatorError> {
        match self.batches.pop_front() {
            Some(b) => b.iter().for_each(|t| out.push(&t)),
            None => return Ok(FeedStatus::Done),
        }
        Ok(if self.batches.is_empty() { FeedStatus::Done } else { FeedStatus::Ready })
    }
    fn poll_batch(&mut self) -> Option<Result<(Option<TradeBatch>, FeedStatus), OperatorError>> {
        let b = self.batches.pop_front();
        let status = if self.batches.is_empty() { FeedStatus::Done } else { FeedStatus::Ready };
        Some(Ok((b, status)))
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}
