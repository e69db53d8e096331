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
//!   `idle_timeout` advance their watermark to `now − out_of_orderness` while they are caught
//!   up with a reachable source ([`TradeFeed::caught_up`]); non-live feeds never read the clock.
//! - **Steps**: an activation polls each feed until it has given
//!   [`SourceConfig::activation_budget`] trades (or rows of
//!   [`SourceConfig::activation_instruments`] distinct instruments) or a poll gives none, then
//!   downgrades the capability once. Every downgrade is a progress message to every peer, so large steps keep
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

use crate::checkpoint::{Barrier, FeedPosition};
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
    /// For live feeds: true when an idle feed is quiet because it is caught up with a reachable
    /// source, not because the source cannot be read (a stalled broker also yields nothing).
    /// Only then does the clock advance its watermark.
    fn caught_up(&mut self) -> bool {
        true
    }
    /// A name for logs and errors (and the key of the feed's checkpointed position).
    fn name(&self) -> String;
    /// The position after every trade returned so far (a Kafka offset), for checkpoints;
    /// `None` for feeds that cannot be resumed.
    fn position(&self) -> Option<i64> {
        None
    }
    /// The position of row `i` of the rows the last [`poll`](Self::poll) appended (`i` equal to
    /// their count gives the position after them).
    fn row_position(&self, _i: usize) -> Option<i64> {
        None
    }
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
    /// Distinct instruments per feed per activation (summed over its polls): a feed with many
    /// distinct instruments ends its turn sooner, so the frontier moves and the bar engine
    /// finalizes and releases their state before the next ones arrive (memory bounded by this
    /// many instruments' windows in flight, not by `activation_budget`).
    pub activation_instruments: usize,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig { out_of_orderness: 0, idle_timeout: None, batch: 4096, activation_budget: 65_536, activation_instruments: 8_192 }
    }
}

struct FeedState {
    feed: Box<dyn TradeFeed>,
    name: String,
    wm: Watermark,
    last_data: Instant,
    /// Rows read but held back at a checkpoint boundary, with their positions.
    pending: TradeRows,
    pending_pos: Vec<Option<i64>>,
    /// The feed ended on the poll whose rest is pending.
    ended_after_pending: bool,
    /// Checkpointed runs: the feed ended (or the run stopped) but its final watermark still
    /// holds the frontier until the end of the input is drained.
    ended: bool,
}

impl FeedState {
    /// Where this feed stands for a checkpoint: `position` (the next record to read) with the
    /// watermark of everything read before it.
    fn at(&self, position: Option<i64>, ended: bool) -> FeedPosition {
        FeedPosition { feed: self.name.clone(), position, max_seen: self.wm.max_seen(), watermark: self.wm.current(), ended }
    }
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
    /// Rows per instrument index of the current rows (sizes new batches exactly).
    counts: Vec<usize>,
}

impl Grouper {
    /// Maps the instrument table of `rows` (about to be pushed) to open batches; a new batch
    /// is sized for its instrument's rows alone, so it never reallocates while filling and many
    /// distinct instruments cost memory in proportion to their rows (sizing every batch for the
    /// whole buffer made 100k distinct symbols cost 873 MB).
    fn map_instruments(&mut self, rows: &TradeRows) {
        self.slots.clear();
        self.counts.clear();
        self.counts.resize(rows.instruments.len(), 0);
        for &i in &rows.inst {
            self.counts[i as usize] += 1;
        }
        for (k, inst) in rows.instruments.iter().enumerate() {
            let id = inst.id();
            let slot = match self.index.get(&id) {
                Some(&i) => i,
                None => {
                    self.open.push(TradeBatch::with_capacity(*inst, self.counts[k].clamp(1, BATCH_TRADES)));
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
    trade_source_at(scope, name, feeds, cfg, metrics, errors, None)
}

/// [`trade_source`] whose feeds hold at the checkpoint boundaries of `barrier` (see
/// [`crate::checkpoint`]) and start from the watermarks it restores.
pub fn trade_source_at<'scope>(
    scope: Scope<'scope, u64>,
    name: &str,
    feeds: Vec<Box<dyn TradeFeed>>,
    cfg: SourceConfig,
    metrics: Arc<PipelineMetrics>,
    errors: FeedErrors,
    barrier: Option<Barrier>,
) -> StreamVec<'scope, u64, TradeBatch> {
    source::<_, CapacityContainerBuilder<Vec<TradeBatch>>, _, _>(scope, name, move |cap, info| {
        let activator = scope.activator_for(info.address.clone());
        if let Some(b) = &barrier {
            b.borrow_mut().register(feeds.len(), scope.activator_for(info.address));
        }
        let mut cap = if feeds.is_empty() { None } else { Some(cap) };
        let mut feeds: Vec<FeedState> = feeds
            .into_iter()
            .map(|feed| {
                let name = feed.name();
                let wm = match barrier.as_ref().and_then(|b| b.borrow().restored(&name).cloned()) {
                    Some(p) => Watermark::restored(cfg.out_of_orderness, p.max_seen, p.watermark),
                    None => Watermark::new(cfg.out_of_orderness),
                };
                FeedState {
                    feed,
                    name,
                    wm,
                    last_data: Instant::now(),
                    pending: TradeRows::default(),
                    pending_pos: Vec::new(),
                    ended_after_pending: false,
                    ended: false,
                }
            })
            .collect();
        let mut buf = TradeRows::default();
        let mut pos: Vec<Option<i64>> = Vec::new();
        let mut groups = Grouper::default();
        move |output| {
            if cap.is_none() {
                return;
            }
            if let Some(b) = barrier.as_ref().filter(|b| b.borrow().stopping()) {
                // a shutdown: record where every feed stopped; then drain like an ended input
                let mut b = b.borrow_mut();
                for fs in feeds.iter_mut().filter(|f| !f.ended) {
                    fs.ended = true;
                    if !b.is_held(&fs.name) {
                        let p = fs.at(fs.feed.position(), true);
                        b.end(p);
                    }
                }
            }
            let Some(c) = cap.as_mut() else { return };
            let (mut any_idle, mut any_ready) = (false, false);
            let bound = barrier.as_ref().map(|b| b.borrow().boundary());
            let mut i = 0;
            while i < feeds.len() {
                let fs = &mut feeds[i];
                if fs.ended || barrier.as_ref().is_some_and(|b| b.borrow().is_held(&fs.name)) {
                    // held at the boundary until the checkpointer releases it
                    i += 1;
                    continue;
                }
                // Poll this feed until it has given `activation_budget` trades or is not Ready:
                // fewer, larger steps mean fewer capability downgrades (progress messages to
                // every peer) per trade.
                let mut given = 0usize;
                let mut keys = 0usize;
                let mut held = false;
                let status = loop {
                    let given_before = given;
                    buf.clear();
                    pos.clear();
                    let status = if !fs.pending.is_empty() {
                        // rows held back at the last boundary come first
                        std::mem::swap(&mut buf, &mut fs.pending);
                        std::mem::swap(&mut pos, &mut fs.pending_pos);
                        fs.pending.clear();
                        fs.pending_pos.clear();
                        if std::mem::take(&mut fs.ended_after_pending) {
                            FeedStatus::Done
                        } else {
                            FeedStatus::Ready
                        }
                    } else {
                        let batch = if bound.is_none() { fs.feed.poll_batch() } else { None };
                        match batch {
                            // batch fast path: classify in place, move on-time trades as one record
                            Some(r) => match r {
                                Ok((batch, status)) => {
                                    if let Some(batch) = batch.filter(|b| !b.is_empty()) {
                                        let all_on_time = batch.ts.first().is_some_and(|&t| t >= 0) && fs.wm.observe_all_on_time(&batch.ts);
                                        if all_on_time {
                                            fs.last_data = Instant::now();
                                            given += batch.len();
                                            keys += 1;
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
                                Ok(s) => {
                                    if bound.is_some() {
                                        pos.extend((0..buf.len()).map(|j| fs.feed.row_position(j)));
                                    }
                                    s
                                }
                                Err(e) => {
                                    errors.borrow_mut().push(e);
                                    FeedStatus::Done
                                }
                            },
                        }
                    };
                    let mut status = status;
                    // a checkpoint boundary inside these rows: keep the rest for after it
                    if let (Some(b), Some(bound)) = (&barrier, bound) {
                        if let Some(k) = fs.wm.first_reaching(&buf.ts, bound) {
                            fs.pending.clear();
                            (k..buf.len()).for_each(|j| fs.pending.push(&buf.get(j)));
                            fs.pending_pos = pos.split_off(k);
                            fs.ended_after_pending = status == FeedStatus::Done;
                            buf.truncate(k);
                            let position = fs.pending_pos.first().copied().flatten();
                            b.borrow_mut().hold(fs.at(position, false));
                            held = true;
                            status = FeedStatus::Ready;
                        }
                    }
                    if !buf.is_empty() {
                        fs.last_data = Instant::now();
                        given += buf.len();
                        keys += buf.instruments.len();
                        metrics.trades_in.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        // common case: every row on time → group without per-row classification
                        let all_on_time = buf.ts.iter().all(|&t| t >= 0) && fs.wm.observe_all_on_time(&buf.ts);
                        if all_on_time {
                            // one batch per instrument, each row copied once
                            output.session(&*c).give_iterator(TradeBatch::split_rows(&buf).into_iter());
                            buf.clear();
                        }
                        groups.map_instruments(&buf);
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
                    if held || status != FeedStatus::Ready || given >= cfg.activation_budget || keys >= cfg.activation_instruments || given == given_before {
                        break status;
                    }
                };
                if let Some(m) = fs.wm.max_seen() {
                    metrics.max_event_time.fetch_max(m, Ordering::Relaxed);
                }
                if held {
                    i += 1;
                    continue;
                }
                match status {
                    FeedStatus::Done => {
                        if let Some(b) = &barrier {
                            let p = fs.at(fs.feed.position(), true);
                            b.borrow_mut().end(p);
                            // its watermark keeps holding the frontier: a resumed run may read
                            // more of this partition
                            fs.ended = true;
                            i += 1;
                            continue;
                        }
                        feeds.swap_remove(i);
                        continue;
                    }
                    FeedStatus::Idle => {
                        any_idle = true;
                        if let (true, Some(idle)) = (fs.feed.is_live(), cfg.idle_timeout) {
                            if fs.last_data.elapsed() >= idle && fs.feed.caught_up() {
                                let to = Ts::now().0.saturating_sub(cfg.out_of_orderness);
                                match (&barrier, bound) {
                                    // the clock would carry the watermark over the boundary: hold
                                    (Some(b), Some(bound)) if to >= bound => b.borrow_mut().hold(fs.at(fs.feed.position(), false)),
                                    _ => fs.wm.advance_to(to),
                                }
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
            // A feed without data yet holds the capability where it is; a held feed counts as
            // the boundary it holds at; an ended feed (checkpointed runs) at its last watermark,
            // or not at all when it never had data.
            let held_at = |f: &FeedState| match (&barrier, bound) {
                _ if f.ended => f.wm.current().map(Some),
                (Some(b), Some(bound)) if b.borrow().is_held(&f.name) => Some(Some(bound)),
                _ => Some(f.wm.current()),
            };
            let min_wm = feeds.iter().filter_map(held_at).try_fold(i64::MAX, |acc, w| w.map(|w| acc.min(w)));
            if let Some(w) = min_wm.filter(|w| *w < i64::MAX) {
                let w = w.max(0) as u64;
                if w > *c.time() {
                    c.downgrade(&w);
                }
                metrics.watermark.store(w as i64, Ordering::Relaxed);
            }
            if let Some(b) = barrier.as_ref().filter(|_| feeds.iter().all(|f| f.ended)) {
                // every feed ended: hold at the last watermark until everything below it is
                // processed (bars up to it emitted), then end without finalizing the rest
                let drained = match min_wm {
                    Some(w) if w < i64::MAX => b.borrow_mut().drain(w),
                    // no feed had data: nothing to hold
                    _ => {
                        b.borrow_mut().drain(i64::MIN);
                        true
                    }
                };
                if drained {
                    cap = None;
                }
                return;
            }
            let all_held = barrier.as_ref().is_some_and(|b| feeds.iter().all(|f| b.borrow().is_held(&f.name)));
            // back off only when no feed had data: one quiet partition must not slow the others;
            // when every feed is held, the checkpointer's release activates the source
            if all_held {
                // nothing to read until the release
            } else if any_idle && !any_ready {
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
