//! Technical indicators with Backtrader's definitions (pure cores, no timely).
//!
//! Each indicator is one file implementing [`Indicator`]; [`REGISTRY`] maps Backtrader's names
//! and parameters to constructors. Adding an indicator = one file + one registry line + tests;
//! the timely stage ([`crate::indicator_stage`]) and the CLI pick it up by name.
//!
//! Values are `f64` (indicators are analytics, not money) computed in Backtrader's order of
//! operations: simple averages use an exactly rounded sum (Python's `math.fsum`), exponential
//! averages are seeded with the simple average of their first `period` inputs. Lines are NaN
//! until the indicator's minimum period (Backtrader's `minperiod`) is reached.

mod atr;
mod bbands;
mod cci;
mod core;
mod crossover;
mod dm;
mod ema;
mod extremes;
mod macd;
mod momentum;
mod rsi;
mod sma;
mod smma;
mod stochastic;
mod williamsr;
mod wma;

use std::collections::BTreeMap;

pub use self::atr::Atr;
pub use self::bbands::BollingerBands;
pub use self::cci::Cci;
pub use self::core::{fsum, ExpSmoothing, Window};
pub use self::crossover::{CrossOver, CrossSignal};
pub use self::dm::DirectionalMovement;
pub use self::ema::Ema;
pub use self::extremes::{Highest, Lowest};
pub use self::macd::Macd;
pub use self::momentum::{Momentum, RateOfChange};
pub use self::rsi::Rsi;
pub use self::sma::Sma;
pub use self::smma::Smma;
pub use self::stochastic::Stochastic;
pub use self::williamsr::WilliamsR;
pub use self::wma::Wma;

use crate::OperatorError;

/// One bar as indicators see it.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Ohlcv {
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl Ohlcv {
    /// From an exact bar.
    pub fn from_bar(b: &tickflow_model::Bar) -> Self {
        Ohlcv { open: b.open.to_f64(), high: b.high.to_f64(), low: b.low.to_f64(), close: b.close.to_f64(), volume: b.volume.to_f64() }
    }
}

/// A streaming indicator over bars.
pub trait Indicator: Send {
    /// Output line names (Backtrader's).
    fn lines(&self) -> &'static [&'static str];
    /// Folds the next bar and writes one value per line into `out` (NaN while warming up).
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]);
    /// Bars needed before every line has a value (Backtrader's `minperiod`).
    fn min_period(&self) -> usize;
}

/// Indicator parameters by Backtrader name (`period`, `devfactor`, …).
#[derive(Clone, Debug, Default)]
pub struct Params {
    given: BTreeMap<String, f64>,
    used: std::cell::RefCell<Vec<String>>,
}

impl Params {
    /// Parses `k=v` pairs.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, OperatorError> {
        let mut given = BTreeMap::new();
        for p in pairs {
            let (k, v) = p.split_once('=').ok_or_else(|| OperatorError::Config(format!("parameter {p:?} is not k=v")))?;
            let v: f64 = v.trim().parse().map_err(|_| OperatorError::Config(format!("parameter {k}: {v:?} is not a number")))?;
            if !v.is_finite() {
                return Err(OperatorError::Config(format!("parameter {k}: must be finite")));
            }
            given.insert(k.trim().to_string(), v);
        }
        Ok(Params { given, used: Default::default() })
    }
    /// An integer parameter ≥ `min`, with a default.
    pub fn period(&self, name: &str, default: usize, min: usize) -> Result<usize, OperatorError> {
        self.used.borrow_mut().push(name.to_string());
        match self.given.get(name) {
            None => Ok(default),
            Some(&v) if v.fract() == 0.0 && v >= min as f64 && v <= 100_000.0 => Ok(v as usize),
            Some(v) => Err(OperatorError::Config(format!("parameter {name} must be an integer between {min} and 100000, got {v}"))),
        }
    }
    /// A real parameter > 0, with a default.
    pub fn positive(&self, name: &str, default: f64) -> Result<f64, OperatorError> {
        self.used.borrow_mut().push(name.to_string());
        match self.given.get(name) {
            None => Ok(default),
            Some(&v) if v > 0.0 => Ok(v),
            Some(v) => Err(OperatorError::Config(format!("parameter {name} must be positive, got {v}"))),
        }
    }
    /// Fails on parameters no one asked for (typos).
    pub fn check_all_used(&self, indicator: &str) -> Result<(), OperatorError> {
        let used = self.used.borrow();
        for k in self.given.keys() {
            if !used.contains(k) {
                return Err(OperatorError::Config(format!("indicator {indicator} has no parameter {k:?} (it takes {})", used.join(", "))));
            }
        }
        Ok(())
    }
}

/// A constructor from parameters.
pub type Constructor = fn(&Params) -> Result<Box<dyn Indicator>, OperatorError>;

/// Indicators by name: `(name, constructor)`.
pub const REGISTRY: &[(&str, Constructor)] = &[
    ("sma", |p| Ok(Box::new(Sma::new(p.period("period", 30, 1)?)))),
    ("ema", |p| Ok(Box::new(Ema::new(p.period("period", 30, 1)?)))),
    ("wma", |p| Ok(Box::new(Wma::new(p.period("period", 30, 1)?)))),
    ("smma", |p| Ok(Box::new(Smma::new(p.period("period", 30, 1)?)))),
    ("rsi", |p| Ok(Box::new(Rsi::new(p.period("period", 14, 1)?)))),
    ("macd", |p| Ok(Box::new(Macd::new(p.period("period_me1", 12, 1)?, p.period("period_me2", 26, 1)?, p.period("period_signal", 9, 1)?)))),
    ("bbands", |p| Ok(Box::new(BollingerBands::new(p.period("period", 20, 1)?, p.positive("devfactor", 2.0)?)))),
    ("atr", |p| Ok(Box::new(Atr::new(p.period("period", 14, 1)?)))),
    ("stochastic", |p| Ok(Box::new(Stochastic::new(p.period("period", 14, 1)?, p.period("period_dfast", 3, 1)?, p.period("period_dslow", 3, 1)?)))),
    ("cci", |p| Ok(Box::new(Cci::new(p.period("period", 20, 1)?, p.positive("factor", 0.015)?)))),
    ("momentum", |p| Ok(Box::new(Momentum::new(p.period("period", 12, 1)?)))),
    ("roc", |p| Ok(Box::new(RateOfChange::new(p.period("period", 12, 1)?)))),
    ("williamsr", |p| Ok(Box::new(WilliamsR::new(p.period("period", 14, 1)?)))),
    ("dm", |p| Ok(Box::new(DirectionalMovement::new(p.period("period", 14, 1)?)))),
    ("highest", |p| Ok(Box::new(Highest::new(p.period("period", 14, 1)?)))),
    ("lowest", |p| Ok(Box::new(Lowest::new(p.period("period", 14, 1)?)))),
    ("crossover", |p| Ok(Box::new(CrossOver::new(p.period("fast", 10, 1)?, p.period("slow", 30, 1)?)))),
];

/// Builds an indicator by name from `k=v` parameters.
pub fn build(name: &str, params: &Params) -> Result<Box<dyn Indicator>, OperatorError> {
    let ctor = REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).ok_or_else(|| {
        OperatorError::Config(format!("unknown indicator {name:?}; known: {}", REGISTRY.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")))
    })?;
    let ind = ctor(params)?;
    params.check_all_used(name)?;
    Ok(ind)
}
