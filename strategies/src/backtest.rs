//! The backtest driver: bars → broker → strategy, one bar at a time (pure, no timely).
//!
//! Per bar, in Backtrader's order: the broker executes orders pending from earlier bars
//! against this bar, the strategy sees the bar and may submit orders, cheat-on-close orders
//! fill at the close, and the portfolio value is recorded. The same driver runs inside the
//! dataflow stage, so file backtests, replays and live paper trading behave identically.

use tickflow_model::{Bar, ClosedTrade, Decimal, Fill, FundingRate, Order, Ts};
use tickflow_operators::broker::{Broker, BrokerConfig, BrokerEvents, FundingPayment};

use crate::analyzers::Summary;
use crate::{Ctx, Sizer, Strategy, StrategyError};

/// Portfolio value after a bar.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EquityPoint {
    /// Bar close time.
    pub ts: Ts,
    /// Cash.
    pub cash: Decimal,
    /// Cash plus positions at the close.
    pub value: Decimal,
}

/// Builds a strategy instance (one per instrument for per-instrument strategies).
pub type Factory = Box<dyn Fn() -> Result<Box<dyn Strategy>, StrategyError> + Send>;

/// Everything a backtest produced.
#[derive(Clone, Debug, Default)]
pub struct BacktestResult {
    /// Orders, once each, with their final status.
    pub orders: Vec<Order>,
    /// Executions.
    pub fills: Vec<Fill>,
    /// Round trips.
    pub trades: Vec<ClosedTrade>,
    /// Value after every bar.
    pub equity: Vec<EquityPoint>,
    /// Funding payments of perpetual positions, in the order applied.
    pub funding: Vec<FundingPayment>,
    /// Refused order requests (e.g. zero size), with reasons.
    pub errors: Vec<String>,
    /// Analyzer results.
    pub summary: Summary,
}

/// A running backtest.
pub struct Backtest {
    broker: Broker,
    strategy: Box<dyn Strategy>,
    /// One instance per instrument for per-instrument strategies (`strategy` is the template
    /// factory's first product and serves the first instrument).
    factory: Option<Factory>,
    per_instrument: std::collections::BTreeMap<tickflow_model::Instrument, Box<dyn Strategy>>,
    sizer: Sizer,
    initial: Decimal,
    out: BacktestResult,
    last_ts: Option<Ts>,
    /// How much of `out` has been handed out by `take_new`.
    cursor: (usize, usize, usize, usize),
    /// How much of `out.funding` has been handed out by `take_new`.
    funding_cursor: usize,
    /// Analyzer state, folded as equity points become final.
    stats: crate::analyzers::EquityStats,
    /// Keep the whole history in the result (the direct driver); streaming runs keep only
    /// what has not been taken yet.
    keep_history: bool,
    orders_seen: usize,
    /// Funding events (sorted by instrument, then time) applied to open positions as bars
    /// reach them; input, not state.
    funding: std::sync::Arc<Vec<FundingRate>>,
}

/// A running backtest's state, as a checkpoint holds it: the broker (cash, positions, pending
/// orders), each strategy instance's state, the analyzers, and the events not handed out yet.
/// Restored into a backtest built from the same run spec, it continues exactly.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BacktestState {
    broker: Broker,
    strategy: Blob,
    per_instrument: Vec<(tickflow_model::Instrument, Blob)>,
    orders: Vec<Order>,
    fills: Vec<Fill>,
    trades: Vec<ClosedTrade>,
    equity: Vec<EquityPoint>,
    errors: Vec<String>,
    last_ts: Option<Ts>,
    cursor: (usize, usize, usize, usize),
    stats: Blob,
    orders_seen: usize,
    /// Funding payments not handed out yet (absent in states written before funding existed).
    #[serde(default)]
    funding: Vec<FundingPayment>,
    #[serde(default)]
    funding_cursor: usize,
}

/// Bytes in a state that JSON could not carry exactly (floats that may be NaN or infinite):
/// bincode, written as base64 in JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Blob(Vec<u8>);

impl Blob {
    fn of<T: serde::Serialize>(v: &T) -> Result<Blob, StrategyError> {
        bincode::serialize(v).map(Blob).map_err(|e| StrategyError::State(e.to_string()))
    }
    fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, StrategyError> {
        use bincode::Options;
        bincode::DefaultOptions::new().with_fixint_encoding().reject_trailing_bytes().deserialize(&self.0).map_err(|e| StrategyError::State(e.to_string()))
    }
}

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).map(Blob).map_err(serde::de::Error::custom)
    }
}

/// Events produced since the last [`Backtest::take_new`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewEvents {
    /// Orders that reached a final status.
    pub orders: Vec<Order>,
    /// Fills.
    pub fills: Vec<Fill>,
    /// Round trips.
    pub trades: Vec<ClosedTrade>,
    /// Equity points.
    pub equity: Vec<EquityPoint>,
    /// Funding payments.
    pub funding: Vec<FundingPayment>,
}

impl Backtest {
    /// A backtest of `strategy` with a fresh broker.
    pub fn new(strategy: Box<dyn Strategy>, cfg: BrokerConfig, sizer: Sizer) -> Result<Self, StrategyError> {
        Ok(Backtest {
            broker: Broker::new(cfg)?,
            strategy,
            factory: None,
            per_instrument: Default::default(),
            sizer,
            initial: cfg.cash,
            out: BacktestResult::default(),
            last_ts: None,
            cursor: (0, 0, 0, 0),
            funding_cursor: 0,
            stats: crate::analyzers::EquityStats::new(cfg.cash),
            keep_history: true,
            orders_seen: 0,
            funding: Default::default(),
        })
    }

    /// Applies `events` (funding of perpetuals; any order) to open positions: an event at time
    /// t is charged to the position held at t (fills at or before t) at the last close at or
    /// before t (the venue's mark price when the event carries one).
    pub fn with_funding(mut self, events: std::sync::Arc<Vec<FundingRate>>) -> Self {
        let sorted = events.windows(2).all(|w| w[0].sort_key() <= w[1].sort_key());
        self.funding = if sorted {
            events
        } else {
            let mut v = events.as_ref().clone();
            v.sort_by_key(|f| f.sort_key());
            std::sync::Arc::new(v)
        };
        self
    }

    /// The funding events of `bar`'s instrument not applied yet: those before the bar opens,
    /// then those within it (`[open, close)`).
    fn due_funding(&self, bar: &Bar) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let f = &self.funding;
        let start = match self.broker.funded_until(&bar.instrument) {
            Some(after) => f.partition_point(|e| (e.instrument, e.ts) <= (bar.instrument, after)),
            None => f.partition_point(|e| e.instrument < bar.instrument),
        };
        let open = f.partition_point(|e| (e.instrument, e.ts) < (bar.instrument, bar.open_time)).max(start);
        let close = f.partition_point(|e| (e.instrument, e.ts) < (bar.instrument, bar.close_time())).max(open);
        (start..open, open..close)
    }

    /// A backtest that builds strategies with `factory`: one instance per instrument when the
    /// strategy trades instruments independently, one overall otherwise.
    pub fn with_factory(factory: Factory, cfg: BrokerConfig, sizer: Sizer) -> Result<Self, StrategyError> {
        let first = factory()?;
        let keyed = first.per_instrument();
        let mut bt = Backtest::new(first, cfg, sizer)?;
        if keyed {
            bt.factory = Some(factory);
        }
        Ok(bt)
    }

    /// Feeds one final bar. Bars must arrive in close-time order (per instrument).
    pub fn on_bar(&mut self, bar: &Bar) {
        let mut ev = BrokerEvents::default();
        let (before, within) = if self.funding.is_empty() { (0..0, 0..0) } else { self.due_funding(bar) };
        // funding between bars: the position and mark before this bar; within it: after the
        // fills at its open (disjoint field borrows: no per-bar clone of the schedule)
        let (funding, broker) = (&self.funding, &mut self.broker);
        for f in &funding[before] {
            broker.apply_funding(f, &mut ev);
        }
        broker.on_bar_funded(bar, &funding[within], &mut ev);
        {
            let mut ctx = Ctx { broker: &mut self.broker, bar, sizer: self.sizer, errors: &mut self.out.errors, events: &mut ev };
            match &self.factory {
                None => self.strategy.on_bar(bar, &mut ctx),
                Some(f) => {
                    let first_free = self.per_instrument.is_empty();
                    let s = match self.per_instrument.entry(bar.instrument) {
                        std::collections::btree_map::Entry::Occupied(o) => Some(o.into_mut()),
                        // a new instrument gets its own instance; a factory that fails (it
                        // built the first instance from the same parameters) is reported, and
                        // the instrument is not traded
                        std::collections::btree_map::Entry::Vacant(v) => match f() {
                            Ok(fresh) => Some(v.insert(if first_free { std::mem::replace(&mut self.strategy, fresh) } else { fresh })),
                            Err(e) => {
                                ctx.errors.push(format!("{}: {e}", bar.instrument.symbol()));
                                None
                            }
                        },
                    };
                    if let Some(s) = s {
                        s.on_bar(bar, &mut ctx);
                    }
                }
            }
        }
        self.broker.on_close(bar, &mut ev);
        self.absorb(ev);
        let point = EquityPoint { ts: bar.close_time(), cash: self.broker.cash(), value: self.broker.value() };
        match self.out.equity.last_mut() {
            Some(last) if last.ts == point.ts => *last = point,
            Some(last) => {
                // the previous point is final now
                let done = *last;
                self.stats.push(&done);
                self.out.equity.push(point);
            }
            None => self.out.equity.push(point),
        }
        self.last_ts = Some(bar.close_time());
    }

    fn absorb(&mut self, ev: BrokerEvents) {
        self.out.orders.extend(ev.orders);
        self.out.fills.extend(ev.fills);
        self.out.trades.extend(ev.trades);
        self.out.funding.extend(ev.funding);
    }

    /// The state a checkpoint holds (see [`BacktestState`]).
    pub fn snapshot(&self) -> Result<BacktestState, StrategyError> {
        Ok(BacktestState {
            broker: self.broker.clone(),
            strategy: Blob(self.strategy.save()?),
            per_instrument: self.per_instrument.iter().map(|(i, s)| Ok((*i, Blob(s.save()?)))).collect::<Result<_, StrategyError>>()?,
            orders: self.out.orders.clone(),
            fills: self.out.fills.clone(),
            trades: self.out.trades.clone(),
            equity: self.out.equity.clone(),
            errors: self.out.errors.clone(),
            last_ts: self.last_ts,
            cursor: self.cursor,
            stats: Blob::of(&self.stats)?,
            orders_seen: self.orders_seen,
            funding: self.out.funding.clone(),
            funding_cursor: self.funding_cursor,
        })
    }

    /// Continues from a saved state. The backtest must have been built from the same run spec
    /// (a checkpoint records the specs and refuses others); per-instrument strategy instances
    /// are rebuilt with the factory and loaded.
    pub fn restore(&mut self, st: BacktestState) -> Result<(), StrategyError> {
        self.strategy.load(&st.strategy.0)?;
        self.per_instrument.clear();
        for (i, v) in st.per_instrument {
            let f =
                self.factory.as_ref().ok_or_else(|| StrategyError::State("per-instrument state for a strategy that trades all instruments together".into()))?;
            let mut s = f()?;
            s.load(&v.0)?;
            self.per_instrument.insert(i, s);
        }
        self.broker = st.broker;
        self.out.orders = st.orders;
        self.out.fills = st.fills;
        self.out.trades = st.trades;
        self.out.equity = st.equity;
        self.out.errors = st.errors;
        self.last_ts = st.last_ts;
        self.cursor = st.cursor;
        self.stats = st.stats.read()?;
        self.orders_seen = st.orders_seen;
        self.out.funding = st.funding;
        self.funding_cursor = st.funding_cursor;
        Ok(())
    }

    /// The analyzers over the run so far, without ending it (open orders stay open): what a
    /// checkpointed run reports when its input pauses.
    pub fn summary_so_far(&self) -> Summary {
        let mut stats = self.stats.clone();
        if let Some(last) = self.out.equity.last() {
            stats.push(last);
        }
        let mut s = stats.summary(self.initial, &self.out.trades, self.orders_total());
        self.derivative_totals(&mut s);
        s
    }

    fn derivative_totals(&self, s: &mut Summary) {
        s.funding_paid = self.broker.funding_paid().to_string();
        s.liquidations = self.broker.liquidations();
    }

    /// Events since the previous call (streaming consumers: the dataflow stage, live paper
    /// trading). The last equity point may still be replaced by a later bar with the same close
    /// time (multi-instrument runs), so equity is handed out one point behind.
    pub fn take_new(&mut self) -> NewEvents {
        let (o, f, t, e) = self.cursor;
        let e_end = self.out.equity.len().saturating_sub(1).max(e);
        let ev = NewEvents {
            orders: self.out.orders[o..].to_vec(),
            fills: self.out.fills[f..].to_vec(),
            trades: self.out.trades[t..].to_vec(),
            equity: self.out.equity[e..e_end].to_vec(),
            funding: self.out.funding[self.funding_cursor..].to_vec(),
        };
        self.cursor = (self.out.orders.len(), self.out.fills.len(), self.out.trades.len(), e_end);
        self.funding_cursor = self.out.funding.len();
        if !self.keep_history {
            // streaming: forget what was handed out (trades stay: the trade analyzers need them)
            let n = self.out.orders.len();
            self.note_orders(n);
            self.out.orders.clear();
            self.out.fills.clear();
            self.out.equity.drain(..e_end);
            self.out.funding.clear();
            self.cursor = (0, 0, self.out.trades.len(), 0);
            self.funding_cursor = 0;
        }
        ev
    }

    /// Orders forgotten in streaming mode (counted for the summary).
    fn note_orders(&mut self, n: usize) {
        self.orders_seen += n;
    }

    /// Streaming mode: history handed out by [`take_new`](Self::take_new) is not kept.
    pub fn streaming(mut self) -> Self {
        self.keep_history = false;
        self
    }

    /// Ends the run: open orders expire, analyzers run.
    pub fn finish(mut self) -> BacktestResult {
        let mut ev = BrokerEvents::default();
        self.broker.expire_all(self.last_ts.unwrap_or(Ts(0)), &mut ev);
        self.absorb(ev);
        self.out.orders.sort_by_key(|o| o.id);
        self.finish_summary()
    }

    /// Like [`finish`](Self::finish), but only the events not yet taken are kept in the result
    /// besides the summary and the equity tail (streaming consumers already have the rest).
    pub fn finish_streaming(mut self) -> (NewEvents, Summary) {
        let mut ev = BrokerEvents::default();
        self.broker.expire_all(self.last_ts.unwrap_or(Ts(0)), &mut ev);
        self.absorb(ev);
        let (o, f, t, e) = self.cursor;
        let rest = NewEvents {
            orders: self.out.orders[o..].to_vec(),
            fills: self.out.fills[f..].to_vec(),
            trades: self.out.trades[t..].to_vec(),
            equity: self.out.equity[e..].to_vec(),
            funding: self.out.funding[self.funding_cursor..].to_vec(),
        };
        let r = self.finish_summary();
        (rest, r.summary)
    }

    fn finish_summary(mut self) -> BacktestResult {
        if let Some(last) = self.out.equity.last() {
            let last = *last;
            self.stats.push(&last);
        }
        self.out.summary = self.stats.summary(self.initial, &self.out.trades, self.orders_total());
        let mut s = std::mem::take(&mut self.out.summary);
        self.derivative_totals(&mut s);
        self.out.summary = s;
        self.out
    }

    fn orders_total(&self) -> usize {
        if self.keep_history {
            self.out.orders.len()
        } else {
            self.orders_seen + self.out.orders.len()
        }
    }

    /// Runs over `bars` (sorted here by close time, then instrument) with one strategy instance.
    pub fn run(strategy: Box<dyn Strategy>, cfg: BrokerConfig, sizer: Sizer, bars: &[Bar]) -> Result<BacktestResult, StrategyError> {
        Self::run_with(Backtest::new(strategy, cfg, sizer)?, bars)
    }

    /// Runs a prepared backtest over `bars` (sorted here by close time, then instrument).
    pub fn run_with(mut bt: Backtest, bars: &[Bar]) -> Result<BacktestResult, StrategyError> {
        let mut sorted: Vec<&Bar> = bars.iter().collect();
        sorted.sort_by_key(|b| (b.close_time(), b.instrument));
        for b in sorted {
            bt.on_bar(b);
        }
        Ok(bt.finish())
    }
}
