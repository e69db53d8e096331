//! Per-timeframe window state: open accumulators, finalized bars kept for revisions, carry.

use std::collections::{BTreeMap, VecDeque};

use tickflow_model::{Bar, Decimal, Instrument, Side, Timeframe, Trade, TradeKey, Ts};

use super::accum::BarAccum;
use super::config::{AggregateConfig, FillPolicy};
use super::output::{Emit, EngineCounters, Out};

/// A finalized bar and its accumulator (`None` for a carried bar).
pub(super) struct Closed {
    pub(super) acc: Option<BarAccum>,
    pub(super) bar: Bar,
}

/// One timeframe of one instrument.
pub(super) struct TfState {
    pub(super) tf: Timeframe,
    /// Built from finalized base windows rather than trades.
    pub(super) rollup: bool,
    /// Open windows, sorted by open time.
    pub(super) open: VecDeque<(i64, BarAccum)>,
    /// Finalized bars retained for revisions (by open time), boxed: a B-tree node holds 11
    /// entries, so unboxed ~400-byte entries cost 4.4 KB per instrument and timeframe even for
    /// one retained bar (50k one-trade symbols took 0.9 GB).
    pub(super) closed: BTreeMap<i64, Box<Closed>>,
    /// Open time and close of the latest emitted bar (drives carry).
    pub(super) last: Option<(i64, Decimal)>,
    /// Bounds `[open, end)` of the window the last trade fell in (saves a division per trade).
    pub(super) cur: (i64, i64),
}

impl TfState {
    /// Adds a trade to the open window at `open`; true when the window is new.
    #[inline]
    pub(super) fn add(&mut self, open: i64, t: &Trade) -> bool {
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
                self.reserve_one();
                self.open.insert(i, (open, BarAccum::from_trade(t)));
                true
            }
        }
    }
    /// Index of the open window at `open`, creating it from the given trade when missing
    /// (then `true`: the trade is already folded in).
    #[inline]
    pub(super) fn slot(&mut self, open: i64, k: TradeKey, price: Decimal, amount: Decimal, side: Side) -> (usize, bool) {
        if let Some((o, _)) = self.open.back() {
            if *o == open {
                return (self.open.len() - 1, false);
            }
        }
        match self.open.binary_search_by_key(&open, |(o, _)| *o) {
            Ok(i) => (i, false),
            Err(i) => {
                self.reserve_one();
                self.open.insert(i, (open, BarAccum::from_parts(k, price, amount, side)));
                (i, true)
            }
        }
    }
    /// Merges an accumulator into the open window at `open`; true when the window is new.
    pub(super) fn merge(&mut self, open: i64, a: &BarAccum) -> bool {
        match self.open.binary_search_by_key(&open, |(o, _)| *o) {
            Ok(i) => {
                self.open[i].1.merge(a);
                false
            }
            Err(i) => {
                self.reserve_one();
                self.open.insert(i, (open, *a));
                true
            }
        }
    }
    /// An instrument usually has one open window per timeframe: the first one allocates room
    /// for exactly one (a default first growth holds four, ~900 bytes per timeframe, which
    /// dominated memory with many distinct one-trade instruments).
    #[inline]
    fn reserve_one(&mut self) {
        if self.open.capacity() == 0 {
            self.open.reserve_exact(1);
        }
    }
    pub(super) fn take(&mut self, open: i64) -> Option<BarAccum> {
        let i = self.open.binary_search_by_key(&open, |(o, _)| *o).ok()?;
        self.open.remove(i).map(|(_, a)| a)
    }
}

/// Emits the final bar of the window at `open` (after carried bars for the gap since the last
/// bar, with [`FillPolicy::Carry`], unless the gap spans more than `max_carry` windows: then it
/// is counted in `carry_gaps` and left empty) at `time`, and retains it for revisions when a
/// late trade can still revise it ([`AggregateConfig::retains_closed`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn emit_final(
    tfs: &mut TfState,
    cfg: &AggregateConfig,
    inst: Instrument,
    open: i64,
    acc: Option<BarAccum>,
    bar: Bar,
    time: i64,
    out: &mut Out,
    c: &mut EngineCounters,
) {
    let (fill, max_carry, retain) = (cfg.fill, cfg.max_carry_windows, cfg.retains_closed());
    let tfn = tfs.tf.nanos();
    if let (FillPolicy::Carry, Some((lo, lclose))) = (fill, tfs.last) {
        let missing = (open - lo) / tfn - 1;
        if missing > 0 && missing as u64 > max_carry {
            c.carry_gaps += 1;
            tfs.last = Some((open - tfn, lclose)); // the gap is recorded, not filled
        }
    }
    if let (FillPolicy::Carry, Some((lo, lclose))) = (fill, tfs.last) {
        let mut o = lo + tfn;
        while o < open {
            let cb = Bar::carried(inst, tfs.tf, Ts(o), lclose);
            if retain {
                tfs.closed.insert(o, Box::new(Closed { acc: None, bar: cb }));
            }
            out.push((time, Emit::Bar(cb)));
            c.bars += 1;
            c.carried += 1;
            o += tfn;
        }
    }
    if retain {
        tfs.closed.insert(open, Box::new(Closed { acc, bar }));
    }
    out.push((time, Emit::Bar(bar)));
    c.bars += 1;
    if tfs.last.is_none_or(|(lo, _)| open > lo) {
        tfs.last = Some((open, bar.close));
    }
}
