//! The backtest driver: bars → broker → strategy, one bar at a time (pure, no timely).
//!
//! Per bar, in Backtrader's order: the broker executes orders pending from earlier bars
//! against this bar, the strategy sees the bar and may submit orders, cheat-on-close orders
//! fill at the close, and the portfolio value is recorded. The same driver runs inside the
//! dataflow stage, so file backtests, replays and live paper trading behave identically.

use tickflow_model::{Bar, ClosedTrade, Decimal, Fill, Order, Ts};
use tickflow_operators::broker::{Broker, BrokerConfig, BrokerEvents};

use crate::analyzers::Summary;
use crate::{Ctx, Sizer, Strategy, StrategyError};

/// Portfolio value after a bar.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EquityPoint {
    /// Bar close time.
    pub ts: Ts,
    /// Cash.
    pub cash: Decimal,
    /// Cash plus positions at the close.
    pub value: Decimal,
}

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
    /// Refused order requests (e.g. zero size), with reasons.
    pub errors: Vec<String>,
    /// Analyzer results.
    pub summary: Summary,
}

/// A running backtest.
pub struct Backtest {
    broker: Broker,
    strategy: Box<dyn Strategy>,
    sizer: Sizer,
    initial: Decimal,
    out: BacktestResult,
    last_ts: Option<Ts>,
}

impl Backtest {
    /// A backtest of `strategy` with a fresh broker.
    pub fn new(strategy: Box<dyn Strategy>, cfg: BrokerConfig, sizer: Sizer) -> Result<Self, StrategyError> {
        Ok(Backtest { broker: Broker::new(cfg)?, strategy, sizer, initial: cfg.cash, out: BacktestResult::default(), last_ts: None })
    }

    /// Feeds one final bar. Bars must arrive in close-time order (per instrument).
    pub fn on_bar(&mut self, bar: &Bar) {
        let mut ev = BrokerEvents::default();
        self.broker.on_bar(bar, &mut ev);
        {
            let mut ctx = Ctx { broker: &mut self.broker, bar, sizer: self.sizer, errors: &mut self.out.errors, events: &mut ev };
            self.strategy.on_bar(bar, &mut ctx);
        }
        self.broker.on_close(bar, &mut ev);
        self.absorb(ev);
        let point = EquityPoint { ts: bar.close_time(), cash: self.broker.cash(), value: self.broker.value() };
        match self.out.equity.last_mut() {
            Some(last) if last.ts == point.ts => *last = point,
            _ => self.out.equity.push(point),
        }
        self.last_ts = Some(bar.close_time());
    }

    fn absorb(&mut self, ev: BrokerEvents) {
        self.out.orders.extend(ev.orders);
        self.out.fills.extend(ev.fills);
        self.out.trades.extend(ev.trades);
    }

    /// Ends the run: open orders expire, analyzers run.
    pub fn finish(mut self) -> BacktestResult {
        let mut ev = BrokerEvents::default();
        self.broker.expire_all(self.last_ts.unwrap_or(Ts(0)), &mut ev);
        self.absorb(ev);
        self.out.orders.sort_by_key(|o| o.id);
        self.out.summary = Summary::compute(self.initial, &self.out.equity, &self.out.trades, self.out.orders.len());
        self.out
    }

    /// Runs over `bars` (sorted here by close time, then instrument).
    pub fn run(strategy: Box<dyn Strategy>, cfg: BrokerConfig, sizer: Sizer, bars: &[Bar]) -> Result<BacktestResult, StrategyError> {
        let mut bt = Backtest::new(strategy, cfg, sizer)?;
        let mut sorted: Vec<&Bar> = bars.iter().collect();
        sorted.sort_by_key(|b| (b.close_time(), b.instrument));
        for b in sorted {
            bt.on_bar(b);
        }
        Ok(bt.finish())
    }
}
