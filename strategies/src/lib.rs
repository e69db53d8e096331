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
pub use backtest::{Backtest, BacktestResult, BacktestState, EquityPoint, NewEvents};
pub use bollinger_breakout::BollingerBreakout;
pub use bracket_cross::BracketCross;
pub use context::{Ctx, Sizer};
pub use live_views::{LiveViews, MICROS};
pub use macd_trend::MacdTrend;
pub use rsi_reversion::RsiReversion;
pub use sma_cross::SmaCross;
pub use stage::{expand_sweep, BacktestEvent, BacktestStage, RunSpec, StagePart, StageState, MAX_SWEEP};

/// Errors of the strategies crate.
#[derive(Debug, Error)]
pub enum StrategyError {
    /// Unknown strategy, bad parameter or bad setting.
    #[error("{0}")]
    Config(String),
    /// Saved state that does not fit the strategy (another version or other parameters).
    #[error("strategy state: {0}")]
    State(String),
    /// The broker refused an order request.
    #[error(transparent)]
    Broker(#[from] tickflow_operators::OperatorError),
}

impl StrategyError {
    /// Whether trying again could succeed: never — a configuration or an order request is wrong
    /// until it is changed (a broker error's own class is kept).
    pub fn is_retryable(&self) -> bool {
        match self {
            StrategyError::Config(_) | StrategyError::State(_) => false,
            StrategyError::Broker(e) => e.is_retryable(),
        }
    }
}

/// A trading strategy over final bars.
///
/// Its state (indicators, flags) is saved in checkpoints through [`Persist`], which every
/// `Serialize + Deserialize` type has: a strategy derives both and is checkpointed as it is.
pub trait Strategy: Persist + Send {
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

/// A strategy's state as a checkpoint holds it: bytes (bincode, so every `f64` — NaN and
/// infinities included — comes back bit for bit), read back into an instance built from the same
/// parameters. Implemented for every `Serialize + DeserializeOwned` type.
pub trait Persist {
    /// The state as bytes.
    fn save(&self) -> Result<Vec<u8>, StrategyError>;
    /// Replaces the state with a saved one.
    fn load(&mut self, state: &[u8]) -> Result<(), StrategyError>;
}

impl<T: serde::Serialize + serde::de::DeserializeOwned> Persist for T {
    fn save(&self) -> Result<Vec<u8>, StrategyError> {
        bincode::serialize(self).map_err(|e| StrategyError::State(e.to_string()))
    }
    fn load(&mut self, state: &[u8]) -> Result<(), StrategyError> {
        // every byte must be used: state of another type rarely parses, and never exactly
        use bincode::Options;
        let opts = bincode::DefaultOptions::new().with_fixint_encoding().reject_trailing_bytes();
        *self = opts.deserialize(state).map_err(|e| StrategyError::State(e.to_string()))?;
        Ok(())
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
}

/// A constructor from parameters (missing ones take the registry's defaults).
pub type Constructor = fn(&Args) -> Result<Box<dyn Strategy>, StrategyError>;

/// A registered strategy: its name, parameters with their defaults, a one-line description and
/// its constructor. The CLI help and the README table are generated from these.
pub struct Registered {
    /// The name `--strategy` takes.
    pub name: &'static str,
    /// Parameters (Backtrader-style names) and their defaults.
    pub params: &'static [(&'static str, f64)],
    /// What it does, in one line.
    pub about: &'static str,
    /// Builds it.
    pub build: Constructor,
    /// The indicators it reads, for reports: (indicator name, its parameters as `indicator
    /// parameter = strategy parameter`, drawn over the candles or in a pane below).
    pub plots: &'static [Plot],
}

/// An indicator a strategy reads, as a report draws it ([`Registered::plots`]).
pub struct Plot {
    /// A registered indicator (`tickflow_operators::indicators::REGISTRY`).
    pub indicator: &'static str,
    /// Its parameters, each from a strategy parameter: `("period", "fast")`.
    pub params: &'static [(&'static str, &'static str)],
    /// Over the candles (prices) rather than in a pane below (oscillators).
    pub overlay: bool,
}

impl Registered {
    /// The indicators of [`Self::plots`] with `given` parameters (else the defaults), as
    /// `(indicator, k=v pairs, overlay)`.
    pub fn plot_specs(&self, given: &StrategyParams) -> Vec<(&'static str, Vec<String>, bool)> {
        let args = Args { given, defaults: self.params };
        self.plots.iter().map(|p| (p.indicator, p.params.iter().map(|(k, from)| format!("{k}={}", args.value(from))).collect(), p.overlay)).collect()
    }
}

/// The parameters a constructor reads: the given value, else the registered default.
pub struct Args<'a> {
    given: &'a StrategyParams,
    defaults: &'static [(&'static str, f64)],
}

impl Args<'_> {
    fn value(&self, k: &str) -> f64 {
        self.given.0.get(k).copied().or_else(|| self.defaults.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)).unwrap_or(f64::NAN)
    }
    /// An integer period (1..=100000).
    pub fn period(&self, k: &str) -> Result<usize, StrategyError> {
        match self.value(k) {
            v if (1.0..=100_000.0).contains(&v) && v.fract() == 0.0 => Ok(v as usize),
            v => Err(StrategyError::Config(format!("parameter {k} must be an integer between 1 and 100000, got {v}"))),
        }
    }
    /// A positive number.
    pub fn positive(&self, k: &str) -> Result<f64, StrategyError> {
        match self.value(k) {
            v if v > 0.0 => Ok(v),
            v => Err(StrategyError::Config(format!("parameter {k} must be positive, got {v}"))),
        }
    }
}

/// Strategies by name.
pub const REGISTRY: &[Registered] = &[
    Registered {
        name: "sma_cross",
        params: &[("fast", 10.0), ("slow", 30.0)],
        about: "long only: buy when SMA(fast) crosses above SMA(slow), close when it crosses below",
        build: |p| Ok(Box::new(SmaCross::new(p.period("fast")?, p.period("slow")?)?)),
        plots: &[
            Plot { indicator: "sma", params: &[("period", "fast")], overlay: true },
            Plot { indicator: "sma", params: &[("period", "slow")], overlay: true },
        ],
    },
    Registered {
        name: "rsi_reversion",
        params: &[("period", 14.0), ("lower", 30.0), ("upper", 70.0)],
        about: "long only: buy when RSI(period) falls below lower, close when it rises above upper",
        build: |p| Ok(Box::new(RsiReversion::new(p.period("period")?, p.positive("lower")?, p.positive("upper")?)?)),
        plots: &[Plot { indicator: "rsi", params: &[("period", "period")], overlay: false }],
    },
    Registered {
        name: "bollinger_breakout",
        params: &[("period", 20.0), ("devfactor", 2.0)],
        about: "long only: buy when the close breaks above the top band, close when it falls below the middle band",
        build: |p| Ok(Box::new(BollingerBreakout::new(p.period("period")?, p.positive("devfactor")?))),
        plots: &[Plot { indicator: "bbands", params: &[("period", "period"), ("devfactor", "devfactor")], overlay: true }],
    },
    Registered {
        name: "macd_trend",
        params: &[("period_me1", 12.0), ("period_me2", 26.0), ("period_signal", 9.0)],
        about: "long only: buy when MACD crosses above its signal line, close when it crosses below",
        build: |p| Ok(Box::new(MacdTrend::new(p.period("period_me1")?, p.period("period_me2")?, p.period("period_signal")?))),
        plots: &[Plot {
            indicator: "macd",
            params: &[("period_me1", "period_me1"), ("period_me2", "period_me2"), ("period_signal", "period_signal")],
            overlay: false,
        }],
    },
    Registered {
        name: "bracket_cross",
        params: &[("fast", 10.0), ("slow", 30.0), ("stop", 0.05), ("limit", 0.10)],
        about: "SMA-cross entries with a stop-loss `stop` below and a take-profit `limit` above the signal close (fractions)",
        build: |p| Ok(Box::new(BracketCross::new(p.period("fast")?, p.period("slow")?, p.positive("stop")?, p.positive("limit")?)?)),
        plots: &[
            Plot { indicator: "sma", params: &[("period", "fast")], overlay: true },
            Plot { indicator: "sma", params: &[("period", "slow")], overlay: true },
        ],
    },
];

/// The registered names, comma-separated (for help texts and errors).
pub fn names() -> String {
    REGISTRY.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
}

/// The README table of strategies, generated from [`REGISTRY`].
pub fn markdown_table() -> String {
    let mut t = String::from("| strategy | parameters (default) | what it does |\n|---|---|---|\n");
    for r in REGISTRY {
        let params: Vec<String> = r.params.iter().map(|(k, v)| format!("`{k}` ({v})")).collect();
        t.push_str(&format!("| `{}` | {} | {} |\n", r.name, params.join(", "), r.about));
    }
    t
}

/// Builds a strategy by name.
pub fn build(name: &str, params: &StrategyParams) -> Result<Box<dyn Strategy>, StrategyError> {
    let r = REGISTRY.iter().find(|r| r.name == name).ok_or_else(|| StrategyError::Config(format!("unknown strategy {name:?}; known: {}", names())))?;
    let allowed: Vec<&str> = r.params.iter().map(|(k, _)| *k).collect();
    params.take(&allowed, name)?;
    (r.build)(&Args { given: params, defaults: r.params })
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn strategy_errors_are_not_retryable() {
        let cases: Vec<(StrategyError, bool)> = vec![
            (build("nope", &StrategyParams::default()).err().unwrap(), false),
            (build("sma_cross", &StrategyParams::parse(["fast=0"]).unwrap()).err().unwrap(), false),
            (StrategyError::Config("x".into()), false),
        ];
        for (e, retry) in cases {
            assert_eq!(e.is_retryable(), retry, "{e}");
        }
        assert!(build("nope", &StrategyParams::default()).err().unwrap().to_string().contains("known: sma_cross"));
    }
}

#[cfg(test)]
mod plot_tests {
    use super::*;

    #[test]
    fn every_plot_is_a_registered_indicator_with_the_strategy_parameters() {
        for r in REGISTRY {
            assert!(!r.plots.is_empty(), "{} draws no indicator", r.name);
            let given = StrategyParams::parse(["fast=7", "period=9"]).unwrap_or_default();
            for (name, params, _) in r.plot_specs(&given) {
                let p = tickflow_operators::indicators::Params::parse(params.iter().map(String::as_str)).unwrap();
                tickflow_operators::indicators::prepare(name, &p).unwrap_or_else(|e| panic!("{}: {name} {params:?}: {e}", r.name));
                for (k, from) in r.plots.iter().flat_map(|p| p.params.iter()) {
                    assert!(r.params.iter().any(|(n, _)| n == from), "{}: plot parameter {k} reads unknown {from}", r.name);
                }
            }
        }
        let sma = REGISTRY.iter().find(|r| r.name == "sma_cross").unwrap();
        let specs = sma.plot_specs(&StrategyParams::parse(["fast=7"]).unwrap());
        assert_eq!(specs.iter().map(|s| s.1.clone()).collect::<Vec<_>>(), [vec!["period=7".to_string()], vec!["period=30".to_string()]]);
    }
}
