//! `backtest`: runs strategies as a dataflow stage over final bars.
//!
//! - **Input**: `Bar`s (from a file, from [`tickflow_operators::AggregateBars`], from a replay),
//!   timestamped no later than their close. Revisions (revision > 0) are not fed: a strategy
//!   acts once per window, on its first emission, as it would have live.
//! - **Output**: [`BacktestEvent`]s — orders (final status), fills, round trips, equity points —
//!   as they happen, at the time of the bar that caused them; one summary per run when the
//!   input ends.
//! - **Partitioning**: every bar is broadcast; run `r` of a sweep lives on worker
//!   `r % peers`, so a parameter sweep spreads over workers and each run sees every bar.
//! - **Frontier rule**: bars are stashed per timestamp and fed, sorted by (close time,
//!   instrument), once the frontier passes that timestamp; summaries are emitted when the
//!   frontier empties. The operator holds its initial capability, downgraded to the frontier,
//!   for the summaries.
//! - **State**: one [`Backtest`] (strategy + broker) per owned run, and bars of open timestamps
//!   ([`StageState`], which a checkpoint saves and restores).
//!
//! # Example
//!
//! `sma_cross` (fast 1, slow 2) over six daily bars (closes 10, 9, 8, 12, 13, 7, open = close),
//! one unit per order, all bars at time 0: the close crosses above its 2-bar average at 12 (a
//! buy, filled at the next bar's open, 13) and below it at 7, the last bar (the closing order has
//! no later bar to fill on, so the position stays open, valued at 7). Per timestamp a run gives
//! its orders, fills, round trips, then one equity point per bar; the summary comes last:
//!
//! ```
//! use std::sync::Arc;
//! use timely::dataflow::operators::capture::Event;
//! use timely::dataflow::operators::vec::Map;
//! use timely::dataflow::operators::{Capture, ToStream};
//! use tickflow_model::{Bar, Decimal, Instrument, Notional, Timeframe, Ts};
//! use tickflow_operators::broker::BrokerConfig;
//! use tickflow_strategies::{BacktestEvent, BacktestStage, RunSpec, Sizer, StrategyParams};
//!
//! let btc = Instrument::new("x", "BTC/USDT").unwrap();
//! let d1 = Timeframe::from_secs(86_400).unwrap();
//! let bars: Vec<Bar> = [10, 9, 8, 12, 13, 7]
//!     .iter()
//!     .enumerate()
//!     .map(|(day, &c)| {
//!         let c = Decimal::from_int(c);
//!         Bar::from_candle(btc, d1, Ts::from_secs(day as i64 * 86_400), [c; 4], Decimal::from_int(1), Notional::ZERO)
//!     })
//!     .collect();
//! let run = RunSpec {
//!     strategy: "sma_cross".into(),
//!     params: StrategyParams::parse(["fast=1", "slow=2"]).unwrap(),
//!     broker: BrokerConfig::default(),
//!     sizer: Sizer::Fixed(Decimal::from_int(1)),
//!     funding: Default::default(),
//! };
//! let events = timely::example(move |scope| {
//!     let events = bars.to_stream(scope).container::<Vec<_>>().backtest(Arc::new(vec![run])).unwrap();
//!     events
//!         .flat_map(|e| match e {
//!             BacktestEvent::Fill(r, f) => Some(format!("run {r} fill {:?} {} @ {}", f.side, f.size, f.price)),
//!             BacktestEvent::Equity(r, p) => Some(format!("run {r} equity {}", p.value)),
//!             BacktestEvent::Summary(r, s) => Some(format!("run {r} summary {} after {} trade(s)", s.final_value, s.trades.count)),
//!             BacktestEvent::Order(..) | BacktestEvent::Trade(..) | BacktestEvent::Funding(..) => None,
//!         })
//!         .capture()
//! });
//! // in emission order
//! let events: Vec<String> = events.try_iter().flat_map(|e| if let Event::Messages(_, v) = e { v } else { Vec::new() }).collect();
//! assert_eq!(
//!     events,
//!     [
//!         "run 0 fill Buy 1 @ 13",
//!         "run 0 equity 100000",
//!         "run 0 equity 100000",
//!         "run 0 equity 100000",
//!         "run 0 equity 100000",
//!         "run 0 equity 100000",
//!         "run 0 equity 99994",
//!         "run 0 summary 99994 after 0 trade(s)",
//!     ]
//! );
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tickflow_model::{Bar, ClosedTrade, Fill, Order};
use tickflow_operators::broker::BrokerConfig;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use crate::{build, Backtest, EquityPoint, Sizer, StrategyError, StrategyParams, Summary};

/// One backtest of a sweep.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Strategy name.
    pub strategy: String,
    /// Its parameters.
    pub params: StrategyParams,
    /// Broker settings.
    pub broker: BrokerConfig,
    /// Sizer.
    pub sizer: Sizer,
    /// Funding events of perpetuals, applied to open positions (empty: none).
    pub funding: std::sync::Arc<Vec<tickflow_model::FundingRate>>,
}

/// Output of the stage, tagged with the run index. The frequent variant (equity) is small;
/// the others are boxed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BacktestEvent {
    /// An order reached its final status.
    Order(u32, Box<Order>),
    /// An execution.
    Fill(u32, Box<Fill>),
    /// A round trip.
    Trade(u32, Box<ClosedTrade>),
    /// Portfolio value after a bar.
    Equity(u32, EquityPoint),
    /// A funding payment of a perpetual position.
    Funding(u32, Box<tickflow_operators::broker::FundingPayment>),
    /// The run's analyzers, after the last bar.
    Summary(u32, Box<Summary>),
}

/// Bar × run steps per activation: bounds the output buffered before downstream operators run.
const STEPS_PER_ACTIVATION: usize = 1 << 20;

impl BacktestEvent {
    /// Run index.
    pub fn run(&self) -> u32 {
        match self {
            BacktestEvent::Order(r, _)
            | BacktestEvent::Fill(r, _)
            | BacktestEvent::Trade(r, _)
            | BacktestEvent::Equity(r, _)
            | BacktestEvent::Funding(r, _)
            | BacktestEvent::Summary(r, _) => *r,
        }
    }
}

/// The stage's state on one worker: its runs, the bars of timestamps not complete yet, and the
/// time of the last bar fed. Shared with a checkpointer, which saves it between steps when the
/// frontier is at a checkpoint boundary ([`snapshot`](Self::snapshot)) and restores it before
/// the dataflow starts ([`restore`](Self::restore)).
pub struct StageState {
    runs: Vec<(u32, Backtest)>,
    stash: BTreeMap<u64, Vec<Bar>>,
    last_t: u64,
}

/// One worker's [`StageState`] as a checkpoint holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePart {
    /// Runs by index.
    pub runs: Vec<(u32, crate::BacktestState)>,
    /// Bars of open timestamps (every worker sees every bar).
    pub stash: Vec<(u64, Vec<Bar>)>,
    /// Time of the last bar fed.
    pub last_t: u64,
}

impl StageState {
    /// Fresh state for the runs worker `index` of `peers` owns (run `r` lives on worker
    /// `r % peers`). Fails if a spec is invalid.
    pub fn new(runs: &[RunSpec], index: usize, peers: usize) -> Result<Self, StrategyError> {
        let mut owned = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            build(&r.strategy, &r.params)?;
            tickflow_operators::broker::Broker::new(r.broker)?;
            if i % peers.max(1) == index {
                let (name, params) = (r.strategy.clone(), r.params.clone());
                // validated above; a failure later is reported, never replaced by another strategy
                let factory: crate::backtest::Factory = Box::new(move || build(&name, &params));
                owned.push((i as u32, Backtest::with_factory(factory, r.broker, r.sizer)?.with_funding(r.funding.clone()).streaming()));
            }
        }
        Ok(StageState { runs: owned, stash: BTreeMap::new(), last_t: 0 })
    }

    /// The state as a checkpoint holds it.
    pub fn snapshot(&self) -> Result<StagePart, StrategyError> {
        Ok(StagePart {
            runs: self.runs.iter().map(|(r, bt)| Ok((*r, bt.snapshot()?))).collect::<Result<_, StrategyError>>()?,
            stash: self.stash.iter().map(|(t, v)| (*t, v.clone())).collect(),
            last_t: self.last_t,
        })
    }

    /// Continues from the parts of every worker of the run that saved them (any worker count):
    /// each owned run takes its saved state; the stash and last time are the same on every
    /// worker (bars are broadcast). A run without saved state is refused.
    pub fn restore(&mut self, parts: &[StagePart]) -> Result<(), StrategyError> {
        let mut saved: BTreeMap<u32, &crate::BacktestState> = BTreeMap::new();
        for p in parts {
            for (r, st) in &p.runs {
                saved.insert(*r, st);
            }
        }
        for (r, bt) in self.runs.iter_mut() {
            let st = saved.get(r).ok_or_else(|| StrategyError::State(format!("the checkpoint has no state for run {r}")))?;
            bt.restore((*st).clone())?;
        }
        if let Some(p) = parts.first() {
            self.stash = p.stash.iter().cloned().collect();
        }
        self.last_t = parts.iter().map(|p| p.last_t).max().unwrap_or(0);
        Ok(())
    }
}

/// Extension trait: backtests as a dataflow stage.
pub trait BacktestStage<'scope> {
    /// Runs every spec over the bars. Fails before building anything if a spec is invalid.
    fn backtest(self, runs: Arc<Vec<RunSpec>>) -> Result<StreamVec<'scope, u64, BacktestEvent>, StrategyError>;
    /// Like [`backtest`](Self::backtest), over state shared with a checkpointer (built with
    /// [`StageState::new`] for this worker, possibly restored). With `suspend_at_end` the end of
    /// the input pauses the runs instead of ending them: open orders stay open, the state stays
    /// for a resumed run to continue, and each run's summary so far is emitted.
    fn backtest_shared(self, state: Rc<RefCell<StageState>>, suspend_at_end: bool) -> StreamVec<'scope, u64, BacktestEvent>;
}

impl<'scope> BacktestStage<'scope> for StreamVec<'scope, u64, Bar> {
    fn backtest(self, runs: Arc<Vec<RunSpec>>) -> Result<StreamVec<'scope, u64, BacktestEvent>, StrategyError> {
        let state = StageState::new(&runs, self.scope().index(), self.scope().peers())?;
        Ok(self.backtest_shared(Rc::new(RefCell::new(state)), false))
    }

    fn backtest_shared(self, state: Rc<RefCell<StageState>>, suspend_at_end: bool) -> StreamVec<'scope, u64, BacktestEvent> {
        let scope = self.scope();
        self.broadcast().unary_frontier::<CapacityContainerBuilder<Vec<BacktestEvent>>, _, _, _>(Pipeline, "Backtest", move |initial, info| {
            let activator = scope.activator_for(info.address);
            let mut hold: Option<Capability<u64>> = Some(initial);
            move |(input, frontier), output| {
                let mut guard = state.borrow_mut();
                let st = &mut *guard;
                input.for_each_stamp(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    let v = st.stash.entry(t).or_default();
                    for batch in data {
                        v.extend(batch.drain(..).filter(|b| b.revision == 0));
                    }
                });
                let Some(h) = hold.as_mut() else { return };
                let mut budget = STEPS_PER_ACTIVATION;
                while let Some((&t, _)) = st.stash.first_key_value() {
                    if frontier.less_equal(&t) {
                        break;
                    }
                    if budget == 0 {
                        // let downstream drain what we produced; continue on the next activation
                        activator.activate();
                        return;
                    }
                    let mut bars = st.stash.remove(&t).unwrap_or_default();
                    bars.sort_by_key(|b| (b.close_time(), b.instrument));
                    budget = budget.saturating_sub(bars.len() * st.runs.len().max(1));
                    let cap = h.delayed(&t.max(*h.time()));
                    // time of the last bar fed: the end-of-input events are emitted there, so
                    // their position in the output never depends on how the frontier advanced
                    st.last_t = st.last_t.max(*cap.time());
                    let mut session = output.session(&cap);
                    for (r, bt) in st.runs.iter_mut() {
                        for b in &bars {
                            bt.on_bar(b);
                        }
                        session.give_iterator(events(*r, bt.take_new()));
                    }
                }
                if st.stash.first_key_value().is_some_and(|(t, _)| !frontier.less_equal(t)) {
                    return; // more complete timestamps wait for the next activation
                }
                match frontier.frontier().as_option() {
                    Some(&f) => {
                        if f > *h.time() {
                            h.downgrade(&f);
                        }
                    }
                    None => {
                        // input done: summaries, then release the capability
                        let end = h.delayed(&st.last_t.max(*h.time()));
                        let mut session = output.session(&end);
                        if suspend_at_end {
                            for (r, bt) in st.runs.iter() {
                                session.give(BacktestEvent::Summary(*r, Box::new(bt.summary_so_far())));
                            }
                        } else {
                            for (r, bt) in std::mem::take(&mut st.runs) {
                                let (rest, summary) = bt.finish_streaming();
                                session.give_iterator(events(r, rest));
                                session.give(BacktestEvent::Summary(r, Box::new(summary)));
                            }
                        }
                        drop(session);
                        hold = None;
                    }
                }
            }
        })
    }
}

/// A run's new events in output order: orders, fills, round trips, funding payments, equity.
fn events(r: u32, ev: crate::NewEvents) -> impl Iterator<Item = BacktestEvent> {
    let orders = ev.orders.into_iter().map(move |o| BacktestEvent::Order(r, Box::new(o)));
    let fills = ev.fills.into_iter().map(move |f| BacktestEvent::Fill(r, Box::new(f)));
    let trades = ev.trades.into_iter().map(move |x| BacktestEvent::Trade(r, Box::new(x)));
    let funding = ev.funding.into_iter().map(move |x| BacktestEvent::Funding(r, Box::new(x)));
    orders.chain(fills).chain(trades).chain(funding).chain(ev.equity.into_iter().map(move |e| BacktestEvent::Equity(r, e)))
}

/// Most parameter sets one sweep may expand to (checked before the product is built).
pub const MAX_SWEEP: usize = 100_000;

/// Expands sweep syntax into parameter sets: `fast=5..50:5` (inclusive range with step),
/// `fast=5,10,20` (list), `fast=7` (single). The result is the cartesian product, in a stable
/// order; more than [`MAX_SWEEP`] combinations is an error, found before anything is allocated.
pub fn expand_sweep(pairs: &[String]) -> Result<Vec<StrategyParams>, StrategyError> {
    let mut axes: Vec<(String, Vec<f64>)> = Vec::new();
    for p in pairs {
        let (k, v) = p.split_once('=').ok_or_else(|| StrategyError::Config(format!("parameter {p:?} is not k=v")))?;
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| StrategyError::Config(format!("parameter {k}: {s:?} is not a number")));
        let values = if let Some((range, step)) = v.split_once(':').filter(|_| v.contains("..")) {
            let (a, b) = range.split_once("..").ok_or_else(|| StrategyError::Config(format!("parameter {k}: bad range {v:?}")))?;
            let (a, b, step) = (num(a)?, num(b)?, num(step)?);
            if step <= 0.0 || b < a || ((b - a) / step) > 10_000.0 {
                return Err(StrategyError::Config(format!("parameter {k}: range {v:?} needs start <= end and a positive step (at most 10000 values)")));
            }
            let n = ((b - a) / step + 1e-9).floor() as usize;
            (0..=n).map(|i| a + step * i as f64).collect()
        } else if v.contains("..") {
            let (a, b) = v.split_once("..").unwrap_or((v, v));
            let (a, b) = (num(a)?, num(b)?);
            if b < a || b - a > 10_000.0 {
                return Err(StrategyError::Config(format!("parameter {k}: bad range {v:?}")));
            }
            (0..=((b - a) as usize)).map(|i| a + i as f64).collect()
        } else {
            v.split(',').map(num).collect::<Result<Vec<_>, _>>()?
        };
        axes.push((k.trim().to_string(), values));
    }
    // the size first: 10000 × 10000 values must be refused, not allocated (2.4 GB)
    let size = axes.iter().try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()).filter(|n| *n <= MAX_SWEEP));
    let Some(_) = size else {
        let shape = axes.iter().map(|(k, v)| format!("{k}: {}", v.len())).collect::<Vec<_>>().join(" × ");
        return Err(StrategyError::Config(format!("the sweep has more than {MAX_SWEEP} combinations ({shape}); narrow a range or raise its step")));
    };
    let mut out = vec![StrategyParams::default()];
    for (k, vals) in &axes {
        let mut next = Vec::with_capacity(out.len() * vals.len());
        for base in &out {
            for v in vals {
                let mut p = base.clone();
                p.set(k, *v);
                next.push(p);
            }
        }
        out = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::expand_sweep;

    #[test]
    fn sweeps_expand_to_the_cartesian_product() {
        let s = expand_sweep(&["fast=5..50:5".into(), "slow=100,200".into()]).unwrap();
        assert_eq!(s.len(), 20);
        assert_eq!(s[0].values()["fast"], 5.0);
        assert_eq!(s[19].values()["fast"], 50.0);
        assert_eq!(s[1].values()["slow"], 200.0);
        assert_eq!(expand_sweep(&["x=1..3".into()]).unwrap().len(), 3);
        assert_eq!(expand_sweep(&[]).unwrap().len(), 1);
        for bad in ["fast", "fast=5..1:1", "fast=1..5:0", "fast=a,b", "fast=1..x"] {
            assert!(expand_sweep(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_oversized_sweep_is_refused_before_its_product_is_built() {
        // 10001 × 10001 = 10⁸ combinations: refused from the axis sizes (this allocated 2.4 GB
        // and aborted when the product was built first)
        let e = expand_sweep(&["fast=1..10001".into(), "slow=1..10001".into()]).unwrap_err().to_string();
        assert!(e.contains("more than 100000 combinations (fast: 10001 × slow: 10001)"), "{e}");
        // exactly at the bound is fine, one more value is not
        assert_eq!(expand_sweep(&["a=1..1000".into(), "b=1..100".into()]).unwrap().len(), 100_000);
        assert!(expand_sweep(&["a=1..1000".into(), "b=1..100".into(), "c=1,2".into()]).is_err());
        // many axes whose product overflows usize
        let many: Vec<String> = (0..40).map(|i| format!("p{i}=1..10000")).collect();
        assert!(expand_sweep(&many).is_err());
    }
}
