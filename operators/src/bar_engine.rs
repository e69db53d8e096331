//! Event-time OHLCV engine for many instruments and timeframes (pure core, no timely).
//!
//! The timely operator in [`crate::aggregate`] is a thin shell around [`BarEngine`]: it feeds
//! on-time trades as they arrive, late trades in watermark order, and calls
//! [`BarEngine::finalize_until`] as the input frontier (the global watermark) advances.
//!
//! Semantics:
//! - Windows are epoch-aligned and left-closed `[open, open + tf)`. The smallest timeframe (the
//!   *base*) is built from trades; every timeframe that is a multiple of it is rolled up from
//!   finalized base accumulators (exactly equal to direct aggregation); any other timeframe is
//!   built directly from trades.
//! - A window is finalized, and its bar emitted with revision 0, once the watermark reaches its
//!   end.
//! - Fill `carry`: the gap between two bars of an instrument is filled with carried bars
//!   (O=H=L=C=previous close, volume 0, trades 0). With `carry_trailing` (live sources) empty
//!   windows are also emitted as soon as the watermark passes them; replays and files never do
//!   that, so their output does not depend on when the input ends.
//! - A trade is *late* when the watermark it arrived under has passed the end of its base
//!   window. Late trades are counted and reported; with `revise` and within the allowed
//!   lateness, each closed bar containing it is re-emitted with `revision + 1` (and carried
//!   bars after it follow a changed close). A late trade whose window at some timeframe is
//!   still open simply joins that window.
//! - Trades with an id already seen for the instrument are ignored and counted.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use tickflow_model::{Bar, Decimal, Instrument, LateDisposition, LateTrade, Side, Timeframe, Trade, TradeBatch, TradeKey, Ts};

use crate::bar_builder::BarAccum;
use crate::dedup::IdSet;
use crate::OperatorError;

/// What to do with windows that have no trades.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillPolicy {
    /// No bar.
    None,
    /// A carried bar at the previous close (Kraken's convention).
    Carry,
}

/// What to do with trades that arrive after their bar closed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatePolicy {
    /// Report them on the late stream, leave bars as they were.
    Drop,
    /// Report them and re-emit the affected bars as revisions.
    Revise,
}

impl std::str::FromStr for FillPolicy {
    type Err = OperatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(FillPolicy::None),
            "carry" => Ok(FillPolicy::Carry),
            _ => Err(OperatorError::Config(format!("unknown fill policy {s:?}: use none or carry"))),
        }
    }
}
impl std::str::FromStr for LatePolicy {
    type Err = OperatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "drop" => Ok(LatePolicy::Drop),
            "revise" => Ok(LatePolicy::Revise),
            _ => Err(OperatorError::Config(format!("unknown late policy {s:?}: use drop or revise"))),
        }
    }
}

/// Configuration of the bar aggregation.
#[derive(Clone, Debug)]
pub struct AggregateConfig {
    /// Timeframes to build (any order; duplicates ignored).
    pub timeframes: Vec<Timeframe>,
    /// Empty-window policy.
    pub fill: FillPolicy,
    /// Late-trade policy.
    pub late: LatePolicy,
    /// How far below the watermark (ns) a late trade may be and still revise bars.
    pub allowed_lateness: i64,
    /// Emit carried bars as soon as the watermark passes empty windows (live sources only).
    pub carry_trailing: bool,
    /// How long (ns, beyond the allowed lateness) trade ids are remembered for de-duplication.
    pub dedup_retention: i64,
}

impl AggregateConfig {
    /// A configuration with the given timeframes, no fill, drop late trades.
    pub fn new(timeframes: Vec<Timeframe>) -> Self {
        AggregateConfig {
            timeframes,
            fill: FillPolicy::None,
            late: LatePolicy::Drop,
            allowed_lateness: 0,
            carry_trailing: false,
            dedup_retention: 3_600 * 1_000_000_000,
        }
    }
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), OperatorError> {
        if self.timeframes.is_empty() {
            return Err(OperatorError::Config("at least one timeframe is required".into()));
        }
        if self.allowed_lateness < 0 || self.dedup_retention < 0 {
            return Err(OperatorError::Config("lateness and retention must not be negative".into()));
        }
        Ok(())
    }
}

/// Output of the engine.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Emit {
    /// A bar (first emission or revision).
    Bar(Bar),
    /// A late trade and what was done with it.
    Late(LateTrade),
}

/// Counters kept by the engine (per worker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Trades accepted (on-time and late, excluding duplicates).
    pub trades: u64,
    /// Trades ignored as duplicates.
    pub duplicates: u64,
    /// Late trades (all dispositions).
    pub late: u64,
    /// Late trades older than the allowed lateness.
    pub too_late: u64,
    /// Bars emitted with revision 0 (including carried bars).
    pub bars: u64,
    /// Carried bars emitted.
    pub carried: u64,
    /// Revisions emitted.
    pub revisions: u64,
}

#[derive(Default)]
struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Sums of a run of trades in one window, accumulated without saturation checks.
pub(crate) struct RunSums {
    pub(crate) open_k: Option<TradeKey>,
    pub(crate) close_k: Option<TradeKey>,
    pub(crate) high: i128,
    pub(crate) low: i128,
    pub(crate) volume: i128,
    pub(crate) quote: i128,
    pub(crate) buy: i128,
    pub(crate) sell: i128,
    pub(crate) count: u64,
    pub(crate) overflow: bool,
}

impl Default for RunSums {
    fn default() -> Self {
        RunSums { open_k: None, close_k: None, high: i128::MIN, low: i128::MAX, volume: 0, quote: 0, buy: 0, sell: 0, count: 0, overflow: false }
    }
}

impl RunSums {
    #[inline]
    fn add(&mut self, q: i128, p: i128, side: Side) {
        let (v, o1) = self.volume.overflowing_add(q);
        // price × amount: one widening multiply when both fit in 64 bits
        let (pq, o2) = match (i64::try_from(p), i64::try_from(q)) {
            (Ok(a), Ok(b)) => (a as i128 * b as i128, false),
            _ => p.overflowing_mul(q),
        };
        let (qv, o3) = self.quote.overflowing_add(pq);
        let (b, o4) = self.buy.overflowing_add(if side == Side::Buy { q } else { 0 });
        let (s, o5) = self.sell.overflowing_add(if side == Side::Sell { q } else { 0 });
        self.volume = v;
        self.quote = qv;
        self.buy = b;
        self.sell = s;
        self.count += 1;
        self.overflow |= o1 | o2 | o3 | o4 | o5;
    }
}

struct Closed {
    acc: Option<BarAccum>,
    bar: Bar,
}

struct TfState {
    tf: Timeframe,
    /// Built from finalized base windows rather than trades.
    rollup: bool,
    /// Open windows, sorted by open time.
    open: VecDeque<(i64, BarAccum)>,
    /// Finalized bars retained for revisions (by open time).
    closed: BTreeMap<i64, Closed>,
    /// Open time and close of the latest emitted bar (drives carry).
    last: Option<(i64, Decimal)>,
    /// Bounds `[open, end)` of the window the last trade fell in (saves a division per trade).
    cur: (i64, i64),
}

impl TfState {
    /// Adds a trade to the open window at `open`; true when the window is new.
    #[inline]
    fn add(&mut self, open: i64, t: &Trade) -> bool {
        if let Some((o, acc)) = self.open.back_mut() {
            if *o == open {
                acc.add(t);
                return false;
            }
        }
        match self.open.binary_search_by_key(&open, |(o, _)| *o) {
            Ok(i) => {
                self.open[i].1.add(t);
                false
            }
            Err(i) => {
                self.open.insert(i, (open, BarAccum::from_trade(t)));
                true
            }
        }
    }
    /// Index of the open window at `open`, creating it from the given trade when missing
    /// (then `true`: the trade is already folded in).
    #[inline]
    fn slot(&mut self, open: i64, k: TradeKey, price: Decimal, amount: Decimal, side: Side) -> (usize, bool) {
        if let Some((o, _)) = self.open.back() {
            if *o == open {
                return (self.open.len() - 1, false);
            }
        }
        match self.open.binary_search_by_key(&open, |(o, _)| *o) {
            Ok(i) => (i, false),
            Err(i) => {
                self.open.insert(i, (open, BarAccum::from_parts(k, price, amount, side)));
                (i, true)
            }
        }
    }
    /// Merges an accumulator into the open window at `open`; true when the window is new.
    fn merge(&mut self, open: i64, a: &BarAccum) -> bool {
        match self.open.binary_search_by_key(&open, |(o, _)| *o) {
            Ok(i) => {
                self.open[i].1.merge(a);
                false
            }
            Err(i) => {
                self.open.insert(i, (open, *a));
                true
            }
        }
    }
    fn take(&mut self, open: i64) -> Option<BarAccum> {
        let i = self.open.binary_search_by_key(&open, |(o, _)| *o).ok()?;
        self.open.remove(i).map(|(_, a)| a)
    }
}

struct InstState {
    instrument: Instrument,
    ids: IdSet,
    tfs: Vec<TfState>,
}

/// The per-worker bar engine. See the module documentation for the semantics.
pub struct BarEngine {
    cfg: AggregateConfig,
    tfs: Vec<Timeframe>,
    insts: Vec<InstState>,
    index: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
    cache: Option<(u64, usize)>,
    /// (window end, timeframe index, instrument index) of every open window.
    pending: BTreeSet<(i64, usize, usize)>,
    /// Distinct pending window ends with their multiplicity.
    pending_ends: BTreeMap<i64, usize>,
    counters: EngineCounters,
    pruned_at: i64,
    /// Selected trade indices of the batch being folded.
    scratch: Vec<u32>,
}

/// Pushes output: (emission time, record).
pub type Out = Vec<(i64, Emit)>;

impl BarEngine {
    /// A new engine.
    pub fn new(mut cfg: AggregateConfig) -> Result<Self, OperatorError> {
        cfg.validate()?;
        cfg.timeframes.sort();
        cfg.timeframes.dedup();
        Ok(BarEngine {
            tfs: cfg.timeframes.clone(),
            cfg,
            insts: Vec::new(),
            index: HashMap::default(),
            cache: None,
            pending: BTreeSet::new(),
            pending_ends: BTreeMap::new(),
            counters: EngineCounters::default(),
            pruned_at: i64::MIN,
            scratch: Vec::new(),
        })
    }

    /// Counters so far.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// Distinct ends of windows not yet finalized (the shell holds a capability for each).
    pub fn pending_ends(&self) -> impl Iterator<Item = i64> + '_ {
        self.pending_ends.keys().copied()
    }

    #[inline]
    fn lookup(&mut self, inst: &Instrument) -> usize {
        let id = inst.id();
        if let Some((cid, ci)) = self.cache {
            if cid == id {
                return ci;
            }
        }
        let i = match self.index.get(&id) {
            Some(&i) => i,
            None => {
                let base = self.tfs[0];
                let tfs = self
                    .tfs
                    .iter()
                    .enumerate()
                    .map(|(k, tf)| TfState {
                        tf: *tf,
                        rollup: k > 0 && tf.is_multiple_of(base),
                        open: VecDeque::new(),
                        closed: BTreeMap::new(),
                        last: None,
                        cur: (0, 0),
                    })
                    .collect();
                self.insts.push(InstState { instrument: *inst, ids: IdSet::default(), tfs });
                self.index.insert(id, self.insts.len() - 1);
                self.insts.len() - 1
            }
        };
        self.cache = Some((id, i));
        i
    }

    fn add_pending(pending: &mut BTreeSet<(i64, usize, usize)>, ends: &mut BTreeMap<i64, usize>, end: i64, k: usize, ii: usize, new_ends: &mut Vec<i64>) {
        if pending.insert((end, k, ii)) {
            *ends.entry(end).or_insert(0) += 1;
            new_ends.push(end);
        }
    }

    /// Folds an on-time trade (event time at or above the watermark it arrived under) into its
    /// open windows. Ends of newly opened windows are pushed to `new_ends`. Returns false for a
    /// duplicate.
    #[inline]
    pub fn on_time(&mut self, t: &Trade, new_ends: &mut Vec<i64>) -> bool {
        let ii = self.lookup(&t.instrument);
        let st = &mut self.insts[ii];
        if let Some(id) = t.trade_id {
            if !st.ids.insert(id, t.ts.0) {
                self.counters.duplicates += 1;
                return false;
            }
        }
        self.counters.trades += 1;
        for (k, tfs) in st.tfs.iter_mut().enumerate() {
            if tfs.rollup {
                continue;
            }
            // skip the division while trades stay in the same window
            let open = if t.ts.0 >= tfs.cur.0 && t.ts.0 < tfs.cur.1 {
                tfs.cur.0
            } else {
                let o = tfs.tf.open_of(t.ts).0;
                tfs.cur = (o, o + tfs.tf.nanos());
                o
            };
            if tfs.add(open, t) {
                Self::add_pending(&mut self.pending, &mut self.pending_ends, open + tfs.tf.nanos(), k, ii, new_ends);
            }
        }
        true
    }

    /// Folds a batch (one instrument) that arrived at message time `t`: trades with event time
    /// ≥ `t` are on time and folded in; the others are handed to `late` (the shell stashes them
    /// until the frontier passes `t`).
    ///
    /// Two passes: classify every trade (late / duplicate / accepted), then for each timeframe
    /// fold each run of trades falling in the same window into a local accumulator that is
    /// written back once per window.
    pub fn on_time_batch(&mut self, b: &TradeBatch, t: u64, new_ends: &mut Vec<i64>, mut late: impl FnMut(Trade)) {
        let n = b.len();
        if n == 0 {
            return;
        }
        let ii = self.lookup(&b.instrument);
        let st = &mut self.insts[ii];
        let (ts_col, id_col, px_col, qty_col, side_col) = (&b.ts[..n], &b.trade_id[..n], &b.price[..n], &b.amount[..n], &b.side[..n]);
        // pass 1: classify (fast path: all on time, ids continuing the seen range)
        let sel = &mut self.scratch;
        sel.clear();
        let mut all = true;
        let mut dups = 0u64;
        let fast = ts_col.iter().all(|&ts| ts >= 0 && ts as u64 >= t) && st.ids.extend_contiguous(id_col, ts_col);
        if fast {
            sel.extend(0..n as u32);
        } else {
            for i in 0..n {
                let ts = ts_col[i];
                if ts < 0 || (ts as u64) < t {
                    late(b.get(i));
                    all = false;
                    continue;
                }
                let id = id_col[i];
                if id != u64::MAX && !st.ids.insert(id, ts) {
                    dups += 1;
                    all = false;
                    continue;
                }
                sel.push(i as u32);
            }
        }
        // Trade keys (time, id, price, amount) strictly increase along the batch when ids ascend
        // by one (fast path) and times never decrease, or when no trade has an id and times
        // strictly increase; then a run's first trade is its open and its last its close.
        let ordered = all
            && if fast {
                ts_col.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]))
            } else {
                id_col.iter().all(|&id| id == u64::MAX) && ts_col.windows(2).fold(true, |ok, w| ok & (w[0] < w[1]))
            };
        self.counters.trades += sel.len() as u64;
        self.counters.duplicates += dups;
        if sel.is_empty() {
            return;
        }
        // pass 2: fold runs of same-window trades
        let m = sel.len();
        let idx = |j: usize| if all { j } else { sel[j] as usize };
        for (k, tfs) in st.tfs.iter_mut().enumerate() {
            if tfs.rollup {
                continue;
            }
            let tfn = tfs.tf.nanos();
            let mut j = 0;
            while j < m {
                let i = idx(j);
                let ts = ts_col[i];
                let open = if ts >= tfs.cur.0 && ts < tfs.cur.1 {
                    tfs.cur.0
                } else {
                    let o = tfs.tf.open_of(Ts(ts)).0;
                    tfs.cur = (o, o + tfn);
                    o
                };
                let end = open + tfn;
                let key = |i: usize| TradeKey { ts: ts_col[i], id: id_col[i], price: px_col[i].mantissa(), amount: qty_col[i].mantissa() };
                let (slot, new) = tfs.slot(open, key(i), px_col[i], qty_col[i], side_col[i]);
                if new {
                    Self::add_pending(&mut self.pending, &mut self.pending_ends, end, k, ii, new_ends);
                }
                let mut acc = tfs.open[slot].1;
                if !new {
                    acc.add_parts(key(i), px_col[i], qty_col[i], side_col[i]);
                }
                j += 1;
                // the rest of the run: fold into wrapping locals with an overflow flag, merge
                // once; on any overflow, redo the run on the saturating path (never in practice)
                let run_start = j;
                let mut run = RunSums::default();
                while j < m {
                    let i = idx(j);
                    let ts = ts_col[i];
                    if ts < open || ts >= end {
                        break;
                    }
                    let (p, q) = (px_col[i].mantissa(), qty_col[i].mantissa());
                    if !ordered {
                        let k = key(i);
                        if k < run.open_k.unwrap_or(k) || run.open_k.is_none() {
                            run.open_k = Some(k);
                        }
                        if run.close_k.is_none_or(|c| k > c) {
                            run.close_k = Some(k);
                        }
                    }
                    run.high = run.high.max(p);
                    run.low = run.low.min(p);
                    run.add(q, p, side_col[i]);
                    j += 1;
                }
                if ordered && j > run_start {
                    (run.open_k, run.close_k) = (Some(key(idx(run_start))), Some(key(idx(j - 1))));
                }
                if j > run_start {
                    if run.overflow {
                        for jj in run_start..j {
                            let i = idx(jj);
                            acc.add_parts(key(i), px_col[i], qty_col[i], side_col[i]);
                        }
                    } else {
                        acc.merge_run(&run);
                    }
                }
                tfs.open[slot].1 = acc;
            }
        }
    }

    /// Handles a trade that arrived below watermark `wm` (`ts < wm`), emitting at time `wm`.
    /// Call only after [`finalize_until`](Self::finalize_until)`(wm)`.
    pub fn late(&mut self, t: &Trade, wm: i64, out: &mut Out, new_ends: &mut Vec<i64>) {
        let ii = self.lookup(&t.instrument);
        let base = self.tfs[0];
        if base.open_of(t.ts).0 + base.nanos() > wm {
            // its bar is still open: not late at all
            self.on_time(t, new_ends);
            return;
        }
        let st = &mut self.insts[ii];
        if let Some(id) = t.trade_id {
            if !st.ids.insert(id, t.ts.0) {
                self.counters.duplicates += 1;
                return;
            }
        }
        self.counters.trades += 1;
        self.counters.late += 1;
        let too_late = t.ts.0 < wm.saturating_sub(self.cfg.allowed_lateness);
        let disposition = if too_late {
            self.counters.too_late += 1;
            LateDisposition::TooLate
        } else if self.cfg.late == LatePolicy::Drop {
            LateDisposition::Dropped
        } else {
            LateDisposition::Revised
        };
        if disposition == LateDisposition::Revised {
            let inst = st.instrument;
            for k in 0..st.tfs.len() {
                let tfs = &mut st.tfs[k];
                let tfn = tfs.tf.nanos();
                let open = tfs.tf.open_of(t.ts).0;
                if open + tfn > wm {
                    if tfs.add(open, t) {
                        Self::add_pending(&mut self.pending, &mut self.pending_ends, open + tfn, k, ii, new_ends);
                    }
                    continue;
                }
                match tfs.closed.get_mut(&open) {
                    Some(c) => {
                        let acc = match &mut c.acc {
                            Some(a) => {
                                a.add(t);
                                *a
                            }
                            None => BarAccum::from_trade(t),
                        };
                        let old_close = c.bar.close;
                        let mut nb = acc.to_bar(inst, tfs.tf, Ts(open));
                        nb.revision = c.bar.revision + 1;
                        *c = Closed { acc: Some(acc), bar: nb };
                        out.push((wm, Emit::Bar(nb)));
                        self.counters.revisions += 1;
                        if nb.close != old_close {
                            // carried bars after it carry the new close
                            for (_, c2) in tfs.closed.range_mut(open + tfn..) {
                                if c2.acc.is_some() {
                                    break;
                                }
                                let mut cb = Bar::carried(inst, tfs.tf, c2.bar.open_time, nb.close);
                                cb.revision = c2.bar.revision + 1;
                                c2.bar = cb;
                                out.push((wm, Emit::Bar(cb)));
                                self.counters.revisions += 1;
                            }
                            if let Some((lo, _)) = tfs.last {
                                let follows_carry = tfs.closed.range(open..=lo).all(|(o, c)| *o == open || c.acc.is_none());
                                if follows_carry {
                                    tfs.last = Some((lo, nb.close));
                                }
                            }
                        }
                    }
                    None => {
                        let acc = BarAccum::from_trade(t);
                        let bar = acc.to_bar(inst, tfs.tf, Ts(open));
                        let before_last = tfs.last.is_some_and(|(lo, _)| open < lo);
                        Self::emit_final(tfs, self.cfg.fill, inst, open, Some(acc), bar, wm, out, &mut self.counters);
                        if before_last && self.cfg.fill == FillPolicy::Carry {
                            // windows between this new bar and the next emitted one are now carried
                            let mut o = open + tfn;
                            while !tfs.closed.contains_key(&o) && tfs.last.is_some_and(|(lo, _)| o < lo) {
                                let cb = Bar::carried(inst, tfs.tf, Ts(o), bar.close);
                                tfs.closed.insert(o, Closed { acc: None, bar: cb });
                                out.push((wm, Emit::Bar(cb)));
                                self.counters.bars += 1;
                                self.counters.carried += 1;
                                o += tfn;
                            }
                        }
                    }
                }
            }
        }
        out.push((wm, Emit::Late(LateTrade { trade: *t, watermark: Ts(wm), disposition })));
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_final(
        tfs: &mut TfState,
        fill: FillPolicy,
        inst: Instrument,
        open: i64,
        acc: Option<BarAccum>,
        bar: Bar,
        time: i64,
        out: &mut Out,
        c: &mut EngineCounters,
    ) {
        let tfn = tfs.tf.nanos();
        if let (FillPolicy::Carry, Some((lo, lclose))) = (fill, tfs.last) {
            let mut o = lo + tfn;
            while o < open {
                let cb = Bar::carried(inst, tfs.tf, Ts(o), lclose);
                tfs.closed.insert(o, Closed { acc: None, bar: cb });
                out.push((time, Emit::Bar(cb)));
                c.bars += 1;
                c.carried += 1;
                o += tfn;
            }
        }
        tfs.closed.insert(open, Closed { acc, bar });
        out.push((time, Emit::Bar(bar)));
        c.bars += 1;
        if tfs.last.is_none_or(|(lo, _)| open > lo) {
            tfs.last = Some((open, bar.close));
        }
    }

    /// Finalizes every window whose end is at or below `horizon`, in end order (base timeframe
    /// first at equal ends), emitting at `end − 1`.
    pub fn finalize_until(&mut self, horizon: i64, out: &mut Out) {
        let mut scratch = Vec::new();
        while let Some(&(end, k, ii)) = self.pending.first() {
            if end > horizon {
                break;
            }
            self.pending.pop_first();
            if let Some(n) = self.pending_ends.get_mut(&end) {
                *n -= 1;
                if *n == 0 {
                    self.pending_ends.remove(&end);
                }
            }
            let st = &mut self.insts[ii];
            let inst = st.instrument;
            let tf = st.tfs[k].tf;
            let open = end - tf.nanos();
            let Some(acc) = st.tfs[k].take(open) else { continue };
            let bar = acc.to_bar(inst, tf, Ts(open));
            Self::emit_final(&mut st.tfs[k], self.cfg.fill, inst, open, Some(acc), bar, end - 1, out, &mut self.counters);
            if k == 0 {
                for c in 1..st.tfs.len() {
                    if st.tfs[c].rollup {
                        let child = &mut st.tfs[c];
                        let copen = child.tf.open_of(Ts(open)).0;
                        let cend = copen + child.tf.nanos();
                        if child.merge(copen, &acc) {
                            Self::add_pending(&mut self.pending, &mut self.pending_ends, cend, c, ii, &mut scratch);
                        }
                    }
                }
            }
        }
    }

    /// Live sources only (`carry_trailing`): emits carried bars for empty windows that end at or
    /// below `frontier`, at time `frontier`.
    pub fn carry_until(&mut self, frontier: i64, out: &mut Out) {
        if !self.cfg.carry_trailing || self.cfg.fill != FillPolicy::Carry {
            return;
        }
        for st in &mut self.insts {
            let inst = st.instrument;
            for tfs in &mut st.tfs {
                let tfn = tfs.tf.nanos();
                while let Some((lo, close)) = tfs.last {
                    let o = lo + tfn;
                    if o + tfn > frontier || tfs.open.iter().any(|(x, _)| *x == o) {
                        break;
                    }
                    let cb = Bar::carried(inst, tfs.tf, Ts(o), close);
                    tfs.closed.insert(o, Closed { acc: None, bar: cb });
                    out.push((frontier, Emit::Bar(cb)));
                    self.counters.bars += 1;
                    self.counters.carried += 1;
                    tfs.last = Some((o, close));
                }
            }
        }
    }

    /// Forgets closed bars and trade ids that no future late trade can reach, given that every
    /// future input arrives at or above `frontier`.
    pub fn prune(&mut self, frontier: i64) {
        if frontier <= self.pruned_at {
            return;
        }
        self.pruned_at = frontier;
        let horizon = frontier.saturating_sub(self.cfg.allowed_lateness);
        let id_horizon = horizon.saturating_sub(self.cfg.dedup_retention);
        for st in &mut self.insts {
            for tfs in &mut st.tfs {
                let tfn = tfs.tf.nanos();
                while let Some((&o, _)) = tfs.closed.first_key_value() {
                    if o + tfn > horizon {
                        break;
                    }
                    tfs.closed.pop_first();
                }
            }
            st.ids.prune(id_horizon);
        }
    }

    /// Bars retained for revision, across instruments and timeframes (memory use).
    pub fn retained(&self) -> usize {
        self.insts.iter().flat_map(|s| s.tfs.iter()).map(|t| t.closed.len() + t.open.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::{AggregateConfig, BarEngine, Emit, Out};
    use tickflow_model::{parse_timeframes, Decimal, Instrument, Side, Trade, TradeBatch, Ts};

    fn trade(ts_ms: i64, id: u64, px: i64, qty: i64) -> Trade {
        Trade {
            instrument: Instrument::new("x", "BTC/USDT").unwrap(),
            trade_id: Some(id),
            ts: Ts::from_millis(ts_ms),
            ingest_ts: Ts(0),
            price: Decimal::from_int(px),
            amount: Decimal::from_int(qty),
            side: if id.is_multiple_of(3) { Side::Sell } else { Side::Buy },
        }
    }

    /// Bars from the batch path (batches of `size`) and from the per-trade path.
    fn both_paths(trades: &[Trade], size: usize) -> (Out, Out) {
        let cfg = AggregateConfig::new(parse_timeframes("1m,5m").unwrap());
        let (mut batched, mut single) = (BarEngine::new(cfg.clone()).unwrap(), BarEngine::new(cfg).unwrap());
        let mut ends = Vec::new();
        for chunk in trades.chunks(size) {
            let mut b = TradeBatch::with_capacity(chunk[0].instrument, chunk.len());
            chunk.iter().for_each(|t| b.push(t));
            batched.on_time_batch(&b, 0, &mut ends, |t| panic!("nothing is late here: {t:?}"));
            ends.clear();
        }
        for t in trades {
            single.on_time(t, &mut ends);
            ends.clear();
        }
        let (mut a, mut b) = (Out::new(), Out::new());
        batched.finalize_until(i64::MAX, &mut a);
        single.finalize_until(i64::MAX, &mut b);
        (a, b)
    }

    fn bars(out: &Out) -> Vec<String> {
        out.iter()
            .map(|(t, e)| match e {
                Emit::Bar(b) => format!("{t} {} {} {} {} {} {} {}", b.open_time.0, b.open, b.high, b.low, b.close, b.volume, b.trades),
                Emit::Late(l) => format!("late {t} {:?}", l.trade),
            })
            .collect()
    }

    #[test]
    fn the_ordered_batch_path_picks_open_and_close_like_the_per_trade_path() {
        // ids ascending by one throughout (the batch fast path); times ascending in ties of
        // three, 1 s after each minute's start
        let mut t = Vec::new();
        for i in 0..400u64 {
            let ts = 1_000 + (i as i64 / 3) * 3_000;
            t.push(trade(ts, 1 + i, 100 + (i as i64 * 7919) % 50, 1 + (i as i64 % 5)));
        }
        let ordered = both_paths(&t, 64);
        assert_eq!(bars(&ordered.0), bars(&ordered.1));
        assert!(ordered.0.len() > 6);
        // venue clock steps back inside a batch: trade 190 is stamped before the first trade of
        // its minute (181 s) and trade 179 before its two predecessors (178 s): the bars' open
        // and close follow (time, id), not arrival order
        t[190].ts = Ts::from_millis(180_500);
        t[190].price = Decimal::from_int(7);
        t[179].ts = Ts::from_millis(170_000);
        t[179].price = Decimal::from_int(9);
        let dipped = both_paths(&t, 64);
        assert_eq!(bars(&dipped.0), bars(&dipped.1));
        let minute = |out: &Out, open_s: i64| bars(out).into_iter().find(|b| b.split(' ').nth(1) == Some(&(open_s * 1_000_000_000).to_string())).unwrap();
        assert!(minute(&dipped.0, 180).split(' ').nth(2) == Some("7"), "open is the earliest trade: {}", minute(&dipped.0, 180));
        assert!(minute(&dipped.0, 120).split(' ').nth(5) != Some("9"), "close is the latest trade: {}", minute(&dipped.0, 120));
    }

    #[test]
    fn batches_without_trade_ids_pick_open_and_close_like_the_per_trade_path() {
        // no ids: strictly increasing times take the ordered path; equal times are ordered by
        // price then amount, not by arrival, so ties must not
        let mut t: Vec<Trade> = (0..400u64).map(|i| trade(1_000 + i as i64 * 1_000, i, 100 + (i as i64 * 7919) % 50, 1 + (i as i64 % 5))).collect();
        t.iter_mut().for_each(|x| x.trade_id = None);
        let strict = both_paths(&t, 64);
        assert_eq!(bars(&strict.0), bars(&strict.1));
        // ties: each minute ends with a pair at the same time, the higher price first (so the
        // close is the first of the two, not the last to arrive)
        for m in 1..6 {
            let j = m * 60 + 58; // the minute's last trade
            t[j].ts = t[j - 1].ts;
            t[j - 1].price = Decimal::from_int(300);
            t[j].price = Decimal::from_int(1);
        }
        let tied = both_paths(&t, 64);
        assert_eq!(bars(&tied.0), bars(&tied.1));
        assert_ne!(bars(&tied.0), bars(&strict.0));
    }
}
