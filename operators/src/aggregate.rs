//! `aggregate_bars`: event-time OHLCV bars from trades, with watermarks, carry fill, late
//! trades and revisions. A thin timely shell over [`BarEngine`].
//!
//! - **Input**: [`TradeBatch`]es from [`crate::source::trade_source`] (or any stream obeying its
//!   contract: a trade whose event time is below its message time is late).
//! - **Output**: `(bars, late)`. Bars with revision 0 are emitted at time `window end − 1`;
//!   revisions and late-trade records at the watermark the late trade arrived under.
//! - **Partitioning**: batches are exchanged by instrument id, so each instrument's state lives
//!   on exactly one worker ([`Routing::ByInstrument`]). When every instrument's trades come from
//!   one input partition (a topic keyed by instrument, one file or tape per symbol),
//!   [`Routing::Local`] aggregates each batch on the worker that read it, with no exchange
//!   between workers; the output is the same.
//! - **Frontier rule**: a window `[open, end)` is finalized when the input frontier reaches
//!   `end`. Late trades are stashed and processed in message-time order, each only after every
//!   window ending at or before its watermark was finalized; this makes every output a function
//!   of the input partitions alone. The operator holds one capability per distinct pending
//!   window end and per stashed late time (plus, for `carry_trailing`, one at the frontier).
//! - **State**: per instrument and timeframe the open accumulators, finalized bars within the
//!   allowed lateness, the last close (for carry), and seen trade-id ranges (bounded by
//!   `dedup_retention`).
//!
//! # Example
//!
//! Three trades in two one-minute windows, all on time (message time 0); once the input is
//! complete every window is finalized, each bar at `window end − 1` ns:
//!
//! ```
//! use std::sync::Arc;
//! use timely::dataflow::operators::capture::Extract;
//! use timely::dataflow::operators::vec::Map;
//! use timely::dataflow::operators::{Capture, ToStream};
//! use tickflow_model::{Instrument, Side, Timeframe, Trade, TradeBatch, Ts};
//! use tickflow_operators::{AggregateBars, AggregateConfig, PipelineMetrics};
//!
//! let btc = Instrument::new("x", "BTC/USDT").unwrap();
//! let trade = |id: u64, secs: i64, price: &str, amount: &str, side: Side| Trade {
//!     instrument: btc,
//!     trade_id: Some(id),
//!     ts: Ts::from_millis(secs * 1_000),
//!     ingest_ts: Ts(0),
//!     price: price.parse().unwrap(),
//!     amount: amount.parse().unwrap(),
//!     side,
//! };
//! let mut batch = TradeBatch::with_capacity(btc, 3);
//! batch.push(&trade(1, 10, "100", "1", Side::Buy));
//! batch.push(&trade(2, 50, "102.5", "0.5", Side::Sell));
//! batch.push(&trade(3, 70, "99", "2", Side::Buy));
//!
//! let (bars, late) = timely::example(move |scope| {
//!     let cfg = AggregateConfig::new(vec![Timeframe::from_secs(60).unwrap()]);
//!     let (bars, late) = vec![batch]
//!         .to_stream(scope)
//!         .container::<Vec<_>>()
//!         .aggregate_bars(cfg, Arc::new(PipelineMetrics::new()))
//!         .expect("a valid configuration");
//!     let bars = bars.map(|b| format!("{} O={} H={} L={} C={} V={} n={}", b.open_time, b.open, b.high, b.low, b.close, b.volume, b.trades));
//!     (bars.capture(), late.map(|l| format!("{:?}", l.trade.trade_id)).capture())
//! });
//!
//! assert_eq!(
//!     bars.extract(),
//!     vec![
//!         (59_999_999_999, vec!["1970-01-01T00:00:00Z O=100 H=102.5 L=100 C=102.5 V=1.5 n=2".to_string()]),
//!         (119_999_999_999, vec!["1970-01-01T00:01:00Z O=99 H=99 L=99 C=99 V=2 n=1".to_string()]),
//!     ]
//! );
//! assert!(late.extract().is_empty());
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use tickflow_model::{Bar, LateTrade, Trade, TradeBatch};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use crate::bars::{AggregateConfig, BarEngine, Emit, Out};
use crate::metrics::PipelineMetrics;
use crate::OperatorError;

/// Where trades are aggregated.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Routing {
    /// Exchanged by instrument id: correct for any input.
    #[default]
    ByInstrument,
    /// On the worker that read them: only when each instrument's trades all come from one input
    /// partition (otherwise an instrument would be aggregated on several workers).
    Local,
}

/// Extension trait: build bars from a trade stream.
pub trait AggregateBars<'scope> {
    /// See the module documentation ([`Routing::ByInstrument`]).
    #[allow(clippy::type_complexity)]
    fn aggregate_bars(
        self,
        cfg: AggregateConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>), OperatorError>;
    /// The same with an explicit [`Routing`].
    #[allow(clippy::type_complexity)]
    fn aggregate_bars_routed(
        self,
        cfg: AggregateConfig,
        metrics: Arc<PipelineMetrics>,
        routing: Routing,
    ) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>), OperatorError>;
    /// The same over a shared `engine` (possibly restored from a checkpoint, and read by the
    /// worker's checkpointer between steps). With `suspend_at_end`, the end of the input does
    /// not finalize the open windows: the run is suspended, its state lives in the last
    /// checkpoint, and a resumed run continues those windows.
    #[allow(clippy::type_complexity)]
    fn aggregate_bars_shared(
        self,
        state: Rc<RefCell<AggregateState>>,
        suspend_at_end: bool,
        metrics: Arc<PipelineMetrics>,
        routing: Routing,
    ) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>), OperatorError>;
}

/// The order late trades of one time are applied in: instrument, then the trade order of
/// [`Trade::order_key`], then side and ingest time (a total order on every field that can
/// differ).
fn late_order(a: &Trade, b: &Trade) -> std::cmp::Ordering {
    (a.instrument.exchange(), a.instrument.symbol(), a.order_key(), a.side, a.ingest_ts).cmp(&(
        b.instrument.exchange(),
        b.instrument.symbol(),
        b.order_key(),
        b.side,
        b.ingest_ts,
    ))
}

/// What a checkpoint captures of the operator: the engine, and the late trades waiting (by the
/// time they arrived at) for the frontier to pass them.
pub struct AggregateState {
    /// The bar engine.
    pub engine: BarEngine,
    /// Late trades by message time, not yet applied.
    pub late: BTreeMap<u64, Vec<Trade>>,
}

impl AggregateState {
    /// A fresh state.
    pub fn new(engine: BarEngine) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(AggregateState { engine, late: BTreeMap::new() }))
    }
}

fn cap_at(caps: &BTreeMap<u64, Capability<u64>>, t: u64) -> Option<Capability<u64>> {
    caps.range(..=t).next_back().map(|(_, c)| c.delayed(&t))
}

impl<'scope> AggregateBars<'scope> for StreamVec<'scope, u64, TradeBatch> {
    fn aggregate_bars(
        self,
        cfg: AggregateConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>), OperatorError> {
        self.aggregate_bars_routed(cfg, metrics, Routing::ByInstrument)
    }

    fn aggregate_bars_routed(
        self,
        cfg: AggregateConfig,
        metrics: Arc<PipelineMetrics>,
        routing: Routing,
    ) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>), OperatorError> {
        self.aggregate_bars_shared(AggregateState::new(BarEngine::new(cfg)?), false, metrics, routing)
    }

    fn aggregate_bars_shared(
        self,
        state: Rc<RefCell<AggregateState>>,
        suspend_at_end: bool,
        metrics: Arc<PipelineMetrics>,
        routing: Routing,
    ) -> Result<(StreamVec<'scope, u64, Bar>, StreamVec<'scope, u64, LateTrade>), OperatorError> {
        let trailing = state.borrow().engine.config().carry_trailing;
        // `Local`: every batch goes to this worker's own index (a local hand-over, no copy)
        let own = self.scope().index() as u64;
        let emitted = self.unary_frontier::<CapacityContainerBuilder<Vec<Emit>>, _, _, _>(
            Exchange::new(move |b: &TradeBatch| if routing == Routing::Local { own } else { b.instrument.route() }),
            "AggregateBars",
            move |initial, _info| {
                let mut caps: BTreeMap<u64, Capability<u64>> = BTreeMap::new();
                // a restored state's open windows and waiting late trades hold capabilities from
                // the start
                {
                    let st = state.borrow();
                    for ct in st.engine.pending_ends().map(|end| (end - 1).max(0) as u64).chain(st.late.keys().copied()) {
                        caps.entry(ct).or_insert_with(|| initial.delayed(&ct));
                    }
                }
                let mut heartbeat = if trailing { Some(initial) } else { None };
                let mut new_ends: Vec<i64> = Vec::new();
                let mut out: Out = Vec::new();
                move |(input, frontier), output| {
                    let mut st = state.borrow_mut();
                    let AggregateState { engine, late } = &mut *st;
                    let before = engine.counters();
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        for container in data {
                            for batch in container.iter() {
                                new_ends.clear();
                                engine.on_time_batch(batch, t, &mut new_ends, |trade| {
                                    late.entry(t).or_default().push(trade);
                                });
                                for &end in &new_ends {
                                    let ct = (end - 1) as u64;
                                    caps.entry(ct).or_insert_with(|| cap.delayed(&ct, output.output_index()));
                                }
                                new_ends.clear();
                            }
                            container.clear();
                        }
                        if late.contains_key(&t) {
                            caps.entry(t).or_insert_with(|| cap.delayed(&t, output.output_index()));
                        }
                    });

                    // Advance: late batches in time order, each after the windows it closes.
                    let f = frontier.frontier().as_option().copied();
                    if f.is_none() && suspend_at_end {
                        // suspended, not ended: nothing is finalized; the checkpoint holds the state
                        // (open windows and waiting late trades)
                        caps.clear();
                        heartbeat = None;
                        metrics.add_engine_delta(&before, &engine.counters());
                        return;
                    }
                    loop {
                        let next_late = late.first_key_value().map(|(t, _)| *t).filter(|t| f.is_none_or(|f| *t < f));
                        let horizon = match (next_late, f) {
                            (Some(t), _) => t as i64,
                            (None, Some(f)) => f as i64,
                            (None, None) => i64::MAX,
                        };
                        engine.finalize_until(horizon, &mut out);
                        let Some(t) = next_late else { break };
                        let mut trades = late.remove(&t).unwrap_or_default();
                        // arrival order within one time depends on the worker count (exchange
                        // interleaving): apply them in a total order that is a function of the
                        // input alone, so every intermediate revision is identical too
                        trades.sort_unstable_by(late_order);
                        for trade in &trades {
                            engine.late(trade, t as i64, &mut out, &mut new_ends);
                            for &end in &new_ends {
                                let ct = (end - 1) as u64;
                                if !caps.contains_key(&ct) {
                                    if let Some(c) = cap_at(&caps, ct) {
                                        caps.insert(ct, c);
                                    }
                                }
                            }
                            // consumed: stale ends must never meet a later batch's capability
                            new_ends.clear();
                        }
                    }
                    if let (Some(f), Some(hb)) = (f, heartbeat.as_mut()) {
                        if f > *hb.time() {
                            hb.downgrade(&f);
                        }
                        engine.carry_until(f as i64, &mut out);
                    }

                    // Send, grouped by time.
                    if !out.is_empty() {
                        out.sort_by_key(|(t, _)| *t);
                        let mut i = 0;
                        while i < out.len() {
                            let t = out[i].0 as u64;
                            let j = i + out[i..].iter().take_while(|(t2, _)| *t2 as u64 == t).count();
                            let c = cap_at(&caps, t).or_else(|| heartbeat.as_ref().filter(|h| *h.time() <= t).map(|h| h.delayed(&t)));
                            if let Some(c) = c {
                                output.session(&c).give_iterator(out.drain(i..j).map(|(_, e)| e));
                                continue;
                            }
                            // No capability can cover `t`: impossible by construction; keep the
                            // data rather than lose it silently.
                            debug_assert!(false, "no capability for time {t}");
                            i = j;
                        }
                        out.clear();
                    }

                    // Keep exactly the capabilities still needed.
                    let mut needed: Vec<u64> = engine.pending_ends().map(|e| (e - 1) as u64).collect();
                    needed.extend(late.keys().copied());
                    for &n in &needed {
                        if !caps.contains_key(&n) {
                            if let Some(c) = cap_at(&caps, n) {
                                caps.insert(n, c);
                            }
                        }
                    }
                    needed.sort_unstable();
                    caps.retain(|t, _| needed.binary_search(t).is_ok());
                    if f.is_none() {
                        heartbeat = None;
                    }
                    if let Some(f) = f {
                        engine.prune(f as i64);
                    }
                    metrics.add_engine_delta(&before, &engine.counters());
                }
            },
        );
        #[allow(clippy::result_large_err)] // a routing split, not an error
        let (bars, late) = emitted.ok_err::<Vec<Bar>, _, Vec<LateTrade>, _, _>(|e| match e {
            Emit::Bar(b) => Ok(b),
            Emit::Late(l) => Err(l),
        });
        Ok((bars, late))
    }
}
