//! # tickflow-strategies
//!
//! Strategies are pure: final bars in, order requests out, no I/O and no timely. The same
//! strategy runs in a backtest over a file, in a replay and in live paper trading, because all
//! of them feed it bars through [`Backtest`] — directly, or through the dataflow stage
//! [`BacktestStage`] that wraps it.
//!
//! Writing a strategy = one file implementing [`Strategy`] + one line in [`REGISTRY`].

#![warn(missing_docs)]

mod analyzers;
mod backtest;
mod bollinger_breakout;
mod bracket_cross;
mod context;
mod live_views;
mod macd_trend;
mod rsi_reversion;
mod sma_cross;
mod stage;

use std::collections::BTreeMap;

use thiserror::Error;
use tickflow_model::Bar;

pub use analyzers::{Summary, TradeStats};
pub use backtest::{Backtest, BacktestResult, EquityPoint, NewEvents};
pub use bollinger_breakout::BollingerBreakout;
pub use bracket_cross::BracketCross;
pub use context::{Ctx, Sizer};
pub use live_views::{LiveViews, MICROS};
pub use macd_trend::MacdTrend;
pub use rsi_reversion::RsiReversion;
pub use sma_cross::SmaCross;
pub use stage::{expand_sweep, BacktestEvent, BacktestStage, RunSpec};

/// Errors of the strategies crate.
#[derive(Debug, Error)]
pub enum StrategyError {
    /// Unknown strategy, bad parameter or bad setting.
    #[error("{0}")]
    Config(String),
    /// The broker refused an order request.
    #[error(transparent)]
    Broker(#[from] tickflow_operators::OperatorError),
}

/// A trading strategy over final bars.
pub trait Strategy: Send {
    /// Called once per final bar of each instrument, in event-time order, after the broker has
    /// executed pending orders against that bar. Orders submitted here execute on a later bar.
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>);
    /// True (the default) for strategies that trade each instrument on its own: the driver then
    /// keeps one instance per instrument, all sharing one portfolio. Multi-instrument strategies
    /// return false and see every instrument's bars.
    fn per_instrument(&self) -> bool {
        true
    }
}

/// Strategy parameters by name, as `k=v` strings.
#[derive(Clone, Debug, Default)]
pub struct StrategyParams(BTreeMap<String, f64>);

impl StrategyParams {
    /// Parses `k=v` pairs (values are numbers).
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, StrategyError> {
        let mut m = BTreeMap::new();
        for p in pairs {
            let (k, v) = p.split_once('=').ok_or_else(|| StrategyError::Config(format!("parameter {p:?} is not k=v")))?;
            let v: f64 = v.trim().parse().map_err(|_| StrategyError::Config(format!("parameter {k}: {v:?} is not a number")))?;
            if !v.is_finite() {
                return Err(StrategyError::Config(format!("parameter {k} must be finite")));
            }
            m.insert(k.trim().to_string(), v);
        }
        Ok(StrategyParams(m))
    }
    /// Sets a value.
    pub fn set(&mut self, k: &str, v: f64) {
        self.0.insert(k.to_string(), v);
    }
    /// All values.
    pub fn values(&self) -> &BTreeMap<String, f64> {
        &self.0
    }
    fn take(&self, allowed: &[&str], strategy: &str) -> Result<(), StrategyError> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(StrategyError::Config(format!("strategy {strategy} has no parameter {k:?} (it takes {})", allowed.join(", "))));
            }
        }
        Ok(())
    }
    fn period(&self, k: &str, default: usize) -> Result<usize, StrategyError> {
        match self.0.get(k) {
            None => Ok(default),
            Some(&v) if v >= 1.0 && v.fract() == 0.0 && v <= 100_000.0 => Ok(v as usize),
            Some(v) => Err(StrategyError::Config(format!("parameter {k} must be an integer between 1 and 100000, got {v}"))),
        }
    }
    fn positive(&self, k: &str, default: f64) -> Result<f64, StrategyError> {
        match self.0.get(k) {
            None => Ok(default),
            Some(&v) if v > 0.0 => Ok(v),
            Some(v) => Err(StrategyError::Config(format!("parameter {k} must be positive, got {v}"))),
        }
    }
}

/// A constructor from parameters.
pub type Constructor = fn(&StrategyParams) -> Result<Box<dyn Strategy>, StrategyError>;

/// Strategies by name.
pub const REGISTRY: &[(&str, Constructor)] = &[
    ("sma_cross", |p| {
        p.take(&["fast", "slow"], "sma_cross")?;
        Ok(Box::new(SmaCross::new(p.period("fast", 10)?, p.period("slow", 30)?)?))
    }),
    ("rsi_reversion", |p| {
        p.take(&["period", "lower", "upper"], "rsi_reversion")?;
        Ok(Box::new(RsiReversion::new(p.period("period", 14)?, p.positive("lower", 30.0)?, p.positive("upper", 70.0)?)?))
    }),
    ("bollinger_breakout", |p| {
        p.take(&["period", "devfactor"], "bollinger_breakout")?;
        Ok(Box::new(BollingerBreakout::new(p.period("period", 20)?, p.positive("devfactor", 2.0)?)))
    }),
    ("macd_trend", |p| {
        p.take(&["period_me1", "period_me2", "period_signal"], "macd_trend")?;
        Ok(Box::new(MacdTrend::new(p.period("period_me1", 12)?, p.period("period_me2", 26)?, p.period("period_signal", 9)?)))
    }),
    ("bracket_cross", |p| {
        p.take(&["fast", "slow", "stop", "limit"], "bracket_cross")?;
        Ok(Box::new(BracketCross::new(p.period("fast", 10)?, p.period("slow", 30)?, p.positive("stop", 0.05)?, p.positive("limit", 0.10)?)?))
    }),
];

/// Builds a strategy by name.
pub fn build(name: &str, params: &StrategyParams) -> Result<Box<dyn Strategy>, StrategyError> {
    let ctor = REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).ok_or_else(|| {
        StrategyError::Config(format!("unknown strategy {name:?}; known: {}", REGISTRY.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")))
    })?;
    ctor(params)
}
