//! `info_bars`: information-driven bars (tick, volume, value, imbalance, run, Renko) from
//! trades, and `heikin_ashi_bars` from time bars. Thin timely shells over
//! [`InfoBarBuilder`] and [`HeikinAshiBuilder`].
//!
//! ## `info_bars(kinds)`
//! - **Input**: [`TradeBatch`]es from [`crate::source::trade_source`] (a trade whose event time
//!   is below its message time is late).
//! - **Output**: `(bars, late)`: one [`Bar`] per closed bar of each kind (its `kind` set), at
//!   the last nanosecond of the second of the trade that closed it; late trades, which no information-driven bar takes
//!   (a late trade would move every later boundary), with disposition
//!   [`LateDisposition::TooLate`]. (The job's dataflow reports late trades once, from the time
//!   bars' late stream.)
//! - **Partitioning**: exchanged by instrument id, so each instrument's builders live on one
//!   worker.
//! - **Frontier rule**: on-time trades wait until the input frontier passes their event time,
//!   then enter the builders in [`Trade::order_key`] order — so bars are a function of the
//!   trades alone, for any worker count, batch size or replay speed. Exact duplicates (same
//!   order key) count once. The operator holds one capability, at the earliest waiting trade.
//! - **State**: per instrument the waiting trades (bounded by the watermark's lag: trades at or
//!   above the frontier) and one builder per kind (the open bar and the expectations).
//!
//! ## `heikin_ashi_bars()`
//! - **Input/output**: time bars → their Heikin-Ashi bars (first emissions only; a revision does
//!   not rewrite the Heikin-Ashi chain), at the same times.
//! - **Partitioning**: exchanged by instrument; **frontier rule**: bars of one time are taken in
//!   open-time order, each series' chain in order (bars of a series arrive in time order).
//! - **State**: per instrument and timeframe the previous Heikin-Ashi open and close.
//!
//! # Example
//!
//! Five trades into 2-trade bars and 3-unit volume bars:
//!
//! ```
//! use timely::dataflow::operators::capture::Extract;
//! use timely::dataflow::operators::vec::Map;
//! use timely::dataflow::operators::{Capture, ToStream};
//! use tickflow_model::{BarKind, Instrument, Side, Trade, TradeBatch, Ts};
//! use tickflow_operators::InfoBars;
//!
//! let btc = Instrument::new("x", "BTC/USDT").unwrap();
//! let mut batch = TradeBatch::with_capacity(btc, 5);
//! for (i, (p, a)) in [("100", "1"), ("101", "2"), ("99", "1"), ("102", "1"), ("98", "4")].iter().enumerate() {
//!     let t = Trade { instrument: btc, trade_id: Some(i as u64), ts: Ts::from_millis(i as i64), ingest_ts: Ts(0),
//!                     price: p.parse().unwrap(), amount: a.parse().unwrap(), side: Side::Buy };
//!     batch.push(&t);
//! }
//! let kinds: Vec<BarKind> = vec!["tick:2".parse().unwrap(), "volume:3".parse().unwrap()];
//! let bars = timely::example(move |scope| {
//!     let (bars, _late) = vec![batch].to_stream(scope).container::<Vec<_>>().info_bars(kinds);
//!     bars.map(|b| format!("{} O={} C={} V={}", b.kind, b.open, b.close, b.volume)).capture()
//! });
//! let mut got: Vec<String> = bars.extract().into_iter().flat_map(|(_, v)| v).collect();
//! got.sort();
//! assert_eq!(got, [
//!     "tick:2 O=100 C=101 V=3", "tick:2 O=99 C=102 V=2",
//!     "volume:3 O=100 C=101 V=3", "volume:3 O=98 C=98 V=3", "volume:3 O=99 C=98 V=3",
//! ]);
//! ```

use std::collections::BTreeMap;

use tickflow_model::{Bar, BarKind, Instrument, LateDisposition, LateTrade, Timeframe, Trade, TradeBatch, TradeKey, Ts};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use crate::bars::{HeikinAshiBuilder, InfoBarBuilder};

/// Extension trait: information-driven bars from a trade stream.
pub trait InfoBars<'scope> {
    /// See the module documentation. `kinds` other than `Time` and `HeikinAshi`.
    #[allow(clippy::type_complexity)]
    fn info_bars(self, kinds: Vec<BarKind>) -> (StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>);
}

/// Extension trait: Heikin-Ashi bars from a time-bar stream.
pub trait HeikinAshiBars<'scope> {
    /// See the module documentation.
    fn heikin_ashi_bars(self) -> StreamVec<'scope, u64, Bar>;
}

impl<'scope> InfoBars<'scope> for StreamVec<'scope, u64, TradeBatch> {
    // bars and late trades share one output (split by `ok_err`); both are ~200-byte values
    #[allow(clippy::result_large_err)]
    fn info_bars(self, kinds: Vec<BarKind>) -> (StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>) {
        let kinds: Vec<BarKind> = kinds.into_iter().filter(|k| !k.is_time()).collect();
        let out = self.unary_frontier::<CapacityContainerBuilder<Vec<Result<Bar, LateTrade>>>, _, _, _>(
            Exchange::new(|b: &TradeBatch| b.instrument.route()),
            "InfoBars",
            move |_initial, _info| {
                let mut caps: BTreeMap<u64, Capability<u64>> = BTreeMap::new();
                // per instrument, the on-time trades not yet released
                let mut waiting: BTreeMap<Instrument, Pending> = BTreeMap::new();
                let mut builders: BTreeMap<(Instrument, BarKind), InfoBarBuilder> = BTreeMap::new();
                let mut bars: Vec<Bar> = Vec::new();
                let mut closed: Vec<(u64, Bar)> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        let mut late = Vec::new();
                        for container in data {
                            for batch in container.iter() {
                                let w = waiting.entry(batch.instrument).or_default();
                                for trade in batch.iter() {
                                    if (trade.ts.0.max(0) as u64) < t {
                                        late.push(LateTrade { trade, watermark: Ts(t as i64), disposition: LateDisposition::TooLate });
                                    } else {
                                        w.push(trade);
                                    }
                                }
                            }
                            container.clear();
                        }
                        if !late.is_empty() {
                            output.session(&cap.delayed(&t, output.output_index())).give_iterator(late.into_iter().map(Err));
                        }
                        caps.entry(t).or_insert_with(|| cap.delayed(&t, output.output_index()));
                    });
                    // release every trade the frontier passed, in order, instrument by instrument
                    let f = frontier.frontier().as_option().copied();
                    for (inst, w) in waiting.iter_mut() {
                        let ready = w.release(f);
                        let mut last: Option<TradeKey> = None;
                        for trade in ready {
                            // exact duplicates (same order key) count once
                            let k = trade.order_key();
                            if last.replace(k) == Some(k) {
                                continue;
                            }
                            // bars it closes are sent at the end of its second (a waiting trade:
                            // a held capability is at or before it)
                            let at = second_end(trade.ts.0);
                            for kind in &kinds {
                                let b = builders.entry((*inst, *kind)).or_insert_with(|| InfoBarBuilder::new(*inst, *kind));
                                b.push(&trade, &mut bars);
                                closed.extend(bars.drain(..).map(|b| (at, b)));
                            }
                        }
                    }
                    waiting.retain(|_, w| !w.trades.is_empty());
                    // one session per time (a session per bar would allocate a buffer each)
                    closed.sort_by_key(|(t, b)| (*t, b.sort_key()));
                    let mut i = 0;
                    while i < closed.len() {
                        let t = closed[i].0;
                        let j = i + closed[i..].iter().take_while(|(t2, _)| *t2 == t).count();
                        if let Some(c) = caps.range(..=t).next_back().map(|(_, c)| c.delayed(&t)) {
                            output.session(&c).give_iterator(closed[i..j].iter().map(|(_, b)| Ok(*b)));
                        } else {
                            debug_assert!(false, "no capability for bars at {t}");
                        }
                        i = j;
                    }
                    closed.clear();
                    // keep one capability, at the earliest waiting trade
                    let earliest = waiting.values().map(|w| w.min_ts.max(0) as u64).min();
                    let keep = earliest.and_then(|e| caps.range(..=e).next_back().map(|(_, c)| (e, c.delayed(&e))));
                    caps.clear();
                    if let Some((e, c)) = keep {
                        caps.insert(e, c);
                    }
                }
            },
        );
        out.ok_err(|r| r)
    }
}

/// One instrument's on-time trades waiting for the frontier: in arrival order, which is mostly
/// their order (so sorting is rare), with their least event time (the capability to hold).
#[derive(Default)]
struct Pending {
    /// (a deque: releasing a prefix of a long backlog must not move the rest)
    trades: std::collections::VecDeque<Trade>,
    sorted: bool,
    min_ts: i64,
}

impl Pending {
    fn push(&mut self, t: Trade) {
        match self.trades.back() {
            None => {
                self.sorted = true;
                self.min_ts = t.ts.0;
            }
            Some(last) => {
                self.sorted &= last.order_key() <= t.order_key();
                self.min_ts = self.min_ts.min(t.ts.0);
            }
        }
        self.trades.push_back(t);
    }

    /// The trades the frontier `f` passed (all at the end of the input), in order.
    fn release(&mut self, f: Option<u64>) -> std::collections::vec_deque::Drain<'_, Trade> {
        if !self.sorted {
            self.trades.make_contiguous().sort_unstable_by_key(Trade::order_key);
            self.sorted = true;
        }
        let cut = match f {
            Some(f) => self.trades.partition_point(|t| (t.ts.0.max(0) as u64) < f),
            None => self.trades.len(),
        };
        // what stays is sorted: its first trade is the least
        self.min_ts = self.trades.get(cut).map_or(i64::MAX, |t| t.ts.0);
        self.trades.drain(..cut)
    }
}

/// The last nanosecond of the second holding `ts`: information-driven bars closed in one
/// second share one timestamp (a function of the data alone, so outputs stay identical for any
/// worker count), instead of one timestamp per closing trade — each distinct time costs progress
/// messages between workers.
fn second_end(ts: i64) -> u64 {
    let s = tickflow_model::NANOS_PER_SEC;
    let ts = ts.max(0);
    (ts - ts % s).saturating_add(s - 1) as u64
}

impl<'scope> HeikinAshiBars<'scope> for StreamVec<'scope, u64, Bar> {
    fn heikin_ashi_bars(self) -> StreamVec<'scope, u64, Bar> {
        self.unary::<CapacityContainerBuilder<Vec<Bar>>, _, _, _>(Exchange::new(|b: &Bar| b.instrument.route()), "HeikinAshiBars", |_cap, _info| {
            let mut chains: BTreeMap<(Instrument, Timeframe), HeikinAshiBuilder> = BTreeMap::new();
            let mut stash: Vec<Bar> = Vec::new();
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    stash.clear();
                    for container in data {
                        stash.extend(container.drain(..).filter(|b| b.kind == BarKind::Time && b.revision == 0));
                    }
                    stash.sort_by_key(|b| b.sort_key());
                    let ha: Vec<Bar> = stash.iter().map(|b| chains.entry((b.instrument, b.timeframe)).or_default().next(b)).collect();
                    output.session(&cap.delayed(&t, output.output_index())).give_iterator(ha.into_iter());
                });
            }
        })
    }
}
