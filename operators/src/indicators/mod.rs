//! Technical indicators with Backtrader's definitions (pure cores, no timely).
//!
//! Each indicator is one file implementing [`Indicator`]; [`REGISTRY`] maps Backtrader's names
//! and parameters to constructors. Adding an indicator = one file + one registry line + tests;
//! the timely stage ([`crate::indicator_stage`]), the CLI (its `--name` help) and the README's
//! indicator table ([`markdown_table`]) pick it up by name.
//!
//! Values are `f64` (indicators are analytics, not money) computed in Backtrader's order of
//! operations: simple averages use an exactly rounded sum (Python's `math.fsum`), exponential
//! averages are seeded with the simple average of their first `period` inputs. Lines are NaN
//! until the indicator's minimum period (Backtrader's `minperiod`) is reached.

mod atr;
mod basicops;
mod bbands;
mod cci;
mod core;
mod crossover;
mod dema;
mod derived;
mod dm;
mod ema;
mod extremes;
mod families;
mod fractal;
mod heikinashi;
mod ichimoku;
mod macd;
mod momentum;
mod oscillators;
mod psar;
mod rsi;
mod sma;
mod smma;
mod source;
mod stddev;
mod stochastic;
mod williamsr;
mod wma;
mod zlind;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use self::atr::Atr;
pub use self::basicops::{Move, PercentRank, SumN};
pub use self::bbands::BollingerBands;
pub use self::cci::Cci;
pub use self::core::{fsum, ExpSmoothing, Window};
pub use self::crossover::{CrossOver, CrossSignal};
pub use self::dema::{Dema, Tema};
pub use self::derived::{Dpo, Dv2, Envelope, Hma, Kama, Kst, LaguerreRsi, MeanDev, MomentumOscillator, Ppo, PriceOsc, Trix, Tsi, Zlema};
pub use self::dm::{DirectionalMovement, DirectionalPart, DmPart};
pub use self::ema::Ema;
pub use self::extremes::{Highest, Lowest};
pub use self::families::{MaEnvelope, MaKind, MaOscillator};
pub use self::fractal::Fractal;
pub use self::heikinashi::HeikinAshi;
pub use self::ichimoku::Ichimoku;
pub use self::macd::Macd;
pub use self::momentum::{Momentum, PercentChange, RateOfChange, RateOfChange100};
pub use self::oscillators::{AccDecOscillator, Aroon, AwesomeOscillator, PrettyGoodOscillator, UltimateOscillator, Vortex, WilliamsAd};
pub use self::psar::ParabolicSar;
pub use self::rsi::{Rmi, Rsi};
pub use self::sma::Sma;
pub use self::smma::Smma;
pub use self::source::{Line, Source, Sourced};
pub use self::stddev::StdDev;
pub use self::stochastic::{Stochastic, StochasticFastFull};
pub use self::williamsr::WilliamsR;
pub use self::wma::Wma;
pub use self::zlind::{Dma, ZeroLag};

use crate::{OperatorError, ParamProblem};

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

/// A copy of an indicator's whole state ([`Indicator`]'s supertrait, implemented for every
/// `Clone` indicator): the indicator stage keeps one per recent bar to recompute from a revised
/// bar on.
pub trait IndicatorClone {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Indicator>;
}

impl<T: Indicator + Clone + 'static> IndicatorClone for T {
    fn clone_box(&self) -> Box<dyn Indicator> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Indicator> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A streaming indicator over bars.
pub trait Indicator: Send + IndicatorClone {
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
    /// `source=` (text: a line or another indicator, [`Source`]).
    source: Option<String>,
    used: std::cell::RefCell<Vec<ParamInfo>>,
}

/// A parameter an indicator takes, with its default.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// Backtrader's name.
    pub name: String,
    /// Value when not given.
    pub default: f64,
}

/// Largest integer parameter ([`Params::period`]).
const MAX_PERIOD: usize = 100_000;

impl Params {
    /// Parses `k=v` pairs.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, OperatorError> {
        let bad = |param: &str, problem| OperatorError::BadParam { indicator: None, param: param.to_string(), problem };
        let mut given = BTreeMap::new();
        let mut source = None;
        for p in pairs {
            let (k, v) = p.split_once('=').ok_or_else(|| bad(p, ParamProblem::NotKeyValue))?;
            if k.trim() == "source" {
                source = Some(v.trim().to_string());
                continue;
            }
            let v: f64 = v.trim().parse().map_err(|_| bad(k, ParamProblem::NotANumber { value: v.to_string() }))?;
            if !v.is_finite() {
                return Err(bad(k, ParamProblem::NotFinite));
            }
            given.insert(k.trim().to_string(), v);
        }
        Ok(Params { given, source, used: Default::default() })
    }
    /// The `source=` given, parsed (`None`: the close).
    pub fn source(&self) -> Result<Option<Source>, OperatorError> {
        self.source.as_deref().map(Source::parse).transpose()
    }
    fn note(&self, name: &str, default: f64) {
        self.used.borrow_mut().push(ParamInfo { name: name.to_string(), default });
    }
    /// An integer parameter ≥ `min`, with a default.
    pub fn period(&self, name: &str, default: usize, min: usize) -> Result<usize, OperatorError> {
        self.note(name, default as f64);
        match self.given.get(name) {
            None => Ok(default),
            Some(&v) if v.fract() == 0.0 && v >= min as f64 && v <= MAX_PERIOD as f64 => Ok(v as usize),
            Some(&v) => {
                Err(OperatorError::BadParam { indicator: None, param: name.to_string(), problem: ParamProblem::NotAnInteger { min, max: MAX_PERIOD, got: v } })
            }
        }
    }
    /// A real parameter > 0, with a default.
    pub fn positive(&self, name: &str, default: f64) -> Result<f64, OperatorError> {
        self.note(name, default);
        match self.given.get(name) {
            None => Ok(default),
            Some(&v) if v > 0.0 => Ok(v),
            Some(&v) => Err(OperatorError::BadParam { indicator: None, param: name.to_string(), problem: ParamProblem::NotPositive { got: v } }),
        }
    }
    /// Fails on parameters no one asked for (typos).
    pub fn check_all_used(&self, indicator: &str) -> Result<(), OperatorError> {
        let used = self.used.borrow();
        for k in self.given.keys() {
            if !used.iter().any(|u| u.name == *k) {
                let takes = used.iter().map(|u| u.name.clone()).collect();
                return Err(OperatorError::BadParam { indicator: Some(indicator.to_string()), param: k.clone(), problem: ParamProblem::Unknown { takes } });
            }
        }
        Ok(())
    }
}

/// Makes fresh indicators from parameters already checked (infallible).
pub type Factory = Arc<dyn Fn() -> Box<dyn Indicator> + Send + Sync>;

/// Reads and checks parameters, returning the [`Factory`] of indicators with them.
pub type Constructor = fn(&Params) -> Result<Factory, OperatorError>;

/// What an indicator reads from each bar.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reads {
    /// One line: the close, or what `source=` names ([`Source`]).
    Line,
    /// Several price lines (high, low, close): no `source`.
    Bar,
}

/// A registered indicator.
#[derive(Copy, Clone)]
pub struct IndicatorSpec {
    /// Backtrader's name, as given to `--name`.
    pub name: &'static str,
    /// One line of description.
    pub summary: &'static str,
    /// Checks parameters and returns a factory.
    pub constructor: Constructor,
    /// What it reads from each bar.
    pub reads: Reads,
}

impl std::fmt::Debug for IndicatorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndicatorSpec").field("name", &self.name).field("summary", &self.summary).finish_non_exhaustive()
    }
}

/// A factory constructor's result (`move || Indicator::new(...)`).
fn factory<I: Indicator + 'static>(make: impl Fn() -> I + Send + Sync + 'static) -> Result<Factory, OperatorError> {
    Ok(Arc::new(move || Box::new(make()) as Box<dyn Indicator>))
}

/// An indicator of one input line (the close unless `source=` says otherwise).
const fn spec(name: &'static str, summary: &'static str, constructor: Constructor) -> IndicatorSpec {
    IndicatorSpec { name, summary, constructor, reads: Reads::Line }
}

/// An indicator reading several price lines of each bar.
const fn bar_spec(name: &'static str, summary: &'static str, constructor: Constructor) -> IndicatorSpec {
    IndicatorSpec { name, summary, constructor, reads: Reads::Bar }
}

/// An `XOscillator` of the `MaKind` family (`period`; KAMA also `fast`, `slow`).
fn ma_osc(p: &Params, kind: MaKind) -> Result<Factory, OperatorError> {
    let (n, f, s) = ma_params(p, kind)?;
    factory(move || MaOscillator::new(kind, n, f, s))
}

/// An `XEnvelope` of the `MaKind` family (`period`, `perc`; KAMA also `fast`, `slow`).
fn ma_envelope(p: &Params, kind: MaKind) -> Result<Factory, OperatorError> {
    let (n, f, s) = ma_params(p, kind)?;
    let perc = p.positive("perc", 2.5)?;
    factory(move || MaEnvelope::new(kind, n, f, s, perc))
}

fn ma_params(p: &Params, kind: MaKind) -> Result<(usize, usize, usize), OperatorError> {
    let n = p.period("period", 30, 1)?;
    Ok(match kind {
        MaKind::Kama => (n, p.period("fast", 2, 1)?, p.period("slow", 30, 1)?),
        _ => (n, 2, 30),
    })
}

/// A single directional indicator (`period`).
fn dm_part(p: &Params, part: DmPart) -> Result<Factory, OperatorError> {
    let n = p.period("period", 14, 1)?;
    factory(move || DirectionalPart::new(part, n))
}

/// How deep `source=` compositions nest at most.
const MAX_SOURCE_DEPTH: usize = 8;

/// Every indicator, by name.
pub const REGISTRY: &[IndicatorSpec] = &[
    spec("sma", "simple moving average of the close", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Sma::new(n))
    }),
    spec("ema", "exponential moving average of the close", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Ema::new(n))
    }),
    spec("wma", "weighted moving average of the close", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Wma::new(n))
    }),
    spec("smma", "smoothed (Wilder's) moving average of the close", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Smma::new(n))
    }),
    spec("rsi", "relative strength index", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Rsi::new(n))
    }),
    spec("macd", "moving average convergence/divergence, its signal and histogram", |p| {
        let (a, b, c) = (p.period("period_me1", 12, 1)?, p.period("period_me2", 26, 1)?, p.period("period_signal", 9, 1)?);
        factory(move || Macd::new(a, b, c))
    }),
    spec("bbands", "Bollinger bands", |p| {
        let (n, d) = (p.period("period", 20, 1)?, p.positive("devfactor", 2.0)?);
        factory(move || BollingerBands::new(n, d))
    }),
    bar_spec("atr", "average true range", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Atr::new(n))
    }),
    bar_spec("stochastic", "stochastic oscillator (slow)", |p| {
        let (a, b, c) = (p.period("period", 14, 1)?, p.period("period_dfast", 3, 1)?, p.period("period_dslow", 3, 1)?);
        factory(move || Stochastic::new(a, b, c))
    }),
    bar_spec("cci", "commodity channel index", |p| {
        let (n, f) = (p.period("period", 20, 1)?, p.positive("factor", 0.015)?);
        factory(move || Cci::new(n, f))
    }),
    spec("momentum", "close minus the close `period` bars ago", |p| {
        let n = p.period("period", 12, 1)?;
        factory(move || Momentum::new(n))
    }),
    spec("roc", "rate of change of the close over `period` bars", |p| {
        let n = p.period("period", 12, 1)?;
        factory(move || RateOfChange::new(n))
    }),
    bar_spec("williamsr", "Williams %R", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || WilliamsR::new(n))
    }),
    bar_spec("dm", "directional movement (ADX, ADXR, +DI, −DI)", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || DirectionalMovement::new(n))
    }),
    spec("highest", "highest value over `period` bars (of the close, as Backtrader's `Highest(data)`; `source=high` for the highest high)", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Highest::new(n))
    }),
    spec("lowest", "lowest value over `period` bars (of the close; `source=low` for the lowest low)", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Lowest::new(n))
    }),
    spec("dema", "double exponential moving average: 2·EMA − EMA(EMA)", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Dema::new(n))
    }),
    spec("tema", "triple exponential moving average: 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA))", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Tema::new(n))
    }),
    spec("roc100", "rate of change over `period` bars, in percent", |p| {
        let n = p.period("period", 12, 1)?;
        factory(move || RateOfChange100::new(n))
    }),
    spec("pctchange", "value over the value `period` bars ago, minus 1", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || PercentChange::new(n))
    }),
    spec("stddev", "population standard deviation over `period` bars", |p| {
        let n = p.period("period", 20, 1)?;
        factory(move || StdDev::new(n))
    }),
    spec("hma", "Hull moving average: WMA(2·WMA(period/2) − WMA(period), √period)", |p| {
        let n = p.period("period", 30, 2)?;
        factory(move || Hma::new(n))
    }),
    spec("zlema", "zero-lag EMA: EMA(2·x − x[−(period−1)/2])", |p| {
        let n = p.period("period", 30, 1)?;
        factory(move || Zlema::new(n))
    }),
    spec("trix", "rate of change (%) of the triple-smoothed EMA", |p| {
        let n = p.period("period", 15, 1)?;
        factory(move || Trix::new(n))
    }),
    spec("meandev", "mean absolute deviation around the simple average", |p| {
        let n = p.period("period", 20, 1)?;
        factory(move || MeanDev::new(n))
    }),
    spec("dpo", "detrended price oscillator: x minus the average period/2 − 1 bars ago", |p| {
        let n = p.period("period", 20, 1)?;
        factory(move || Dpo::new(n))
    }),
    spec("ppo", "percentage price oscillator (EMA difference over the slow EMA, in %), signal and histogram", |p| {
        let (a, b, c) = (p.period("period1", 12, 1)?, p.period("period2", 26, 1)?, p.period("period_signal", 9, 1)?);
        factory(move || Ppo::new(a, b, c))
    }),
    bar_spec("ao", "awesome oscillator: SMA(fast) − SMA(slow) of the median price (high + low) / 2", |p| {
        let (f, s) = (p.period("fast", 5, 1)?, p.period("slow", 34, 1)?);
        factory(move || AwesomeOscillator::new(f, s))
    }),
    bar_spec("accde", "acceleration/deceleration: the awesome oscillator minus its SMA", |p| {
        let n = p.period("period", 5, 1)?;
        factory(move || AccDecOscillator::new(n))
    }),
    bar_spec("uo", "ultimate oscillator over three periods", |p| {
        let (a, b, c) = (p.period("p1", 7, 1)?, p.period("p2", 14, 1)?, p.period("p3", 28, 1)?);
        factory(move || UltimateOscillator::new(a, b, c))
    }),
    bar_spec("vortex", "vortex indicator (VI+, VI−)", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Vortex::new(n))
    }),
    bar_spec("williamsad", "Williams accumulation/distribution", |p| {
        let _ = p;
        factory(WilliamsAd::new)
    }),
    bar_spec("pgo", "pretty good oscillator: (close − SMA) / ATR", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || PrettyGoodOscillator::new(n))
    }),
    spec("rmi", "relative momentum index: the RSI of moves against the value `lookback` bars ago", |p| {
        let (n, l) = (p.period("period", 20, 1)?, p.period("lookback", 5, 1)?);
        factory(move || Rmi::new(n, l))
    }),
    spec("tsi", "true strength index: double-smoothed momentum over its double-smoothed size, in %", |p| {
        let (a, b, c) = (p.period("period1", 25, 1)?, p.period("period2", 13, 1)?, p.period("pchange", 1, 1)?);
        factory(move || Tsi::new(a, b, c))
    }),
    spec("kst", "Know Sure Thing: weighted SMAs of four rates of change, and its signal", |p| {
        let rp = [p.period("rp1", 10, 1)?, p.period("rp2", 15, 1)?, p.period("rp3", 20, 1)?, p.period("rp4", 30, 1)?];
        let rma = [p.period("rma1", 10, 1)?, p.period("rma2", 10, 1)?, p.period("rma3", 10, 1)?, p.period("rma4", 10, 1)?];
        let rs = p.period("rsignal", 9, 1)?;
        factory(move || Kst::new(rp, rma, rs))
    }),
    spec("kama", "Kaufman's adaptive moving average", |p| {
        let (n, f, s) = (p.period("period", 30, 1)?, p.period("fast", 2, 1)?, p.period("slow", 30, 1)?);
        factory(move || Kama::new(n, f, s))
    }),
    spec("momosc", "momentum oscillator: 100 · value over the value `period` bars ago", |p| {
        let n = p.period("period", 12, 1)?;
        factory(move || MomentumOscillator::new(n))
    }),
    spec("lrsi", "Laguerre RSI (Ehlers)", |p| {
        let (g, n) = (p.positive("gamma", 0.5)?, p.period("period", 6, 1)?);
        factory(move || LaguerreRsi::new(g, n))
    }),
    bar_spec("stochasticfast", "fast stochastic: %K and its SMA", |p| {
        let (a, b) = (p.period("period", 14, 1)?, p.period("period_dfast", 3, 1)?);
        factory(move || StochasticFastFull::fast(a, b))
    }),
    bar_spec("stochasticfull", "full stochastic: %K, its SMA and that SMA's SMA", |p| {
        let (a, b, c) = (p.period("period", 14, 1)?, p.period("period_dfast", 3, 1)?, p.period("period_dslow", 3, 1)?);
        factory(move || StochasticFastFull::full(a, b, c))
    }),
    spec("envelope", "the input with bands `perc` percent above and below (e.g. of `source=ema(period=30)`)", |p| {
        let perc = p.positive("perc", 2.5)?;
        factory(move || Envelope::new(perc))
    }),
    bar_spec("dv2", "DV2: percent rank of the smoothed close over the median price", |p| {
        let (n, m) = (p.period("period", 252, 1)?, p.period("maperiod", 2, 1)?);
        factory(move || Dv2::new(n, m))
    }),
    bar_spec("heikinashi", "Heikin-Ashi candles", |p| {
        let _ = p;
        factory(HeikinAshi::new)
    }),
    bar_spec("aroon", "Aroon up and down: how recent the highest high and lowest low are", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Aroon::up_down(n))
    }),
    bar_spec("aroonosc", "Aroon oscillator: Aroon up minus Aroon down", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || Aroon::oscillator(n))
    }),
    spec("smaosc", "the input minus its SMA (Backtrader's `SMAOscillator`)", |p| ma_osc(p, MaKind::Sma)),
    spec("emaosc", "the input minus its EMA", |p| ma_osc(p, MaKind::Ema)),
    spec("wmaosc", "the input minus its WMA", |p| ma_osc(p, MaKind::Wma)),
    spec("smmaosc", "the input minus its SMMA", |p| ma_osc(p, MaKind::Smma)),
    spec("demaosc", "the input minus its DEMA", |p| ma_osc(p, MaKind::Dema)),
    spec("temaosc", "the input minus its TEMA", |p| ma_osc(p, MaKind::Tema)),
    spec("kamaosc", "the input minus its KAMA", |p| ma_osc(p, MaKind::Kama)),
    spec("smaenvelope", "SMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Sma)),
    spec("emaenvelope", "EMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Ema)),
    spec("wmaenvelope", "WMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Wma)),
    spec("smmaenvelope", "SMMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Smma)),
    spec("demaenvelope", "DEMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Dema)),
    spec("temaenvelope", "TEMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Tema)),
    spec("kamaenvelope", "KAMA with bands `perc` percent above and below", |p| ma_envelope(p, MaKind::Kama)),
    spec("zlind", "zero-lag indicator (Ehlers' error-correcting EMA, `EC`)", |p| {
        let (n, g) = (p.period("period", 30, 1)?, p.period("gainlimit", 50, 0)?);
        factory(move || ZeroLag::new(n, g))
    }),
    spec("dma", "Dickson moving average: (zero-lag indicator + HMA(hperiod)) / 2", |p| {
        let (n, g, h) = (p.period("period", 30, 1)?, p.period("gainlimit", 50, 0)?, p.period("hperiod", 7, 2)?);
        factory(move || Dma::new(n, g, h))
    }),
    spec("priceosc", "absolute price oscillator: EMA(period1) − EMA(period2)", |p| {
        let (a, b) = (p.period("period1", 12, 1)?, p.period("period2", 26, 1)?);
        factory(move || PriceOsc::new(a, b))
    }),
    spec("pposhort", "PPO over the fast EMA (MetaStock's), signal and histogram", |p| {
        let (a, b, c) = (p.period("period1", 12, 1)?, p.period("period2", 26, 1)?, p.period("period_signal", 9, 1)?);
        factory(move || Ppo::short(a, b, c))
    }),
    spec("rsi_safe", "RSI with `safehigh` when there are no down moves and `safelow` when there are no moves", |p| {
        let (n, h, l) = (p.period("period", 14, 1)?, p.positive("safehigh", 100.0)?, p.positive("safelow", 50.0)?);
        factory(move || Rsi::safe(n, h, l))
    }),
    spec("sumn", "exactly rounded sum over `period` bars", |p| {
        let n = p.period("period", 14, 1)?;
        factory(move || SumN::new(n))
    }),
    spec("pctrank", "share of the last `period` values below the newest", |p| {
        let n = p.period("period", 50, 1)?;
        factory(move || PercentRank::new(n))
    }),
    spec("upmove", "the input minus its previous value", |p| {
        let _ = p;
        factory(Move::up)
    }),
    spec("downmove", "the previous value minus the input", |p| {
        let _ = p;
        factory(Move::down)
    }),
    bar_spec("di", "directional indicators +DI and −DI", |p| dm_part(p, DmPart::Di)),
    bar_spec("plusdi", "directional indicator +DI", |p| dm_part(p, DmPart::PlusDi)),
    bar_spec("minusdi", "directional indicator −DI", |p| dm_part(p, DmPart::MinusDi)),
    bar_spec("adx", "average directional movement index", |p| dm_part(p, DmPart::Adx)),
    bar_spec("adxr", "ADX and its rating (ADX averaged with itself `period` bars ago)", |p| dm_part(p, DmPart::Adxr)),
    bar_spec("psar", "parabolic stop-and-reverse", |p| {
        let (n, af, max) = (p.period("period", 2, 2)?, p.positive("af", 0.02)?, p.positive("afmax", 0.2)?);
        factory(move || ParabolicSar::new(n, af, max))
    }),
    bar_spec("ichimoku", "Ichimoku cloud (`chikou_span` causal: this bar's close, Backtrader's line `chikou` bars back)", |p| {
        let (t, k, s) = (p.period("tenkan", 9, 1)?, p.period("kijun", 26, 1)?, p.period("senkou", 52, 1)?);
        let (lead, ch) = (p.period("senkou_lead", 26, 0)?, p.period("chikou", 26, 0)?);
        factory(move || Ichimoku::new(t, k, s, lead, ch))
    }),
    bar_spec("fractal", "Williams fractals, emitted on the bar that confirms them (2 bars after the extreme)", |p| {
        let (n, d) = (p.period("period", 5, 1)?, p.positive("bardist", 0.015)?);
        let shift = p.period("shift_to_potential_fractal", 2, 0)?;
        if shift >= n {
            let problem = ParamProblem::NotAnInteger { min: 0, max: n - 1, got: shift as f64 };
            return Err(OperatorError::BadParam { indicator: None, param: "shift_to_potential_fractal".into(), problem });
        }
        factory(move || Fractal::new(n, d, shift))
    }),
    spec("crossover", "+1/−1 when the fast SMA crosses above/below the slow one, else 0", |p| {
        let (f, s) = (p.period("fast", 10, 1)?, p.period("slow", 30, 1)?);
        factory(move || CrossOver::new(f, s))
    }),
];

/// Registered names, in registry order.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.name).collect()
}

/// An indicator with checked parameters: makes any number of fresh instances.
#[derive(Clone)]
pub struct Prepared {
    name: &'static str,
    lines: &'static [&'static str],
    make: Factory,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("name", &self.name).field("lines", &self.lines).finish_non_exhaustive()
    }
}

impl Prepared {
    /// Output line names.
    pub fn lines(&self) -> &'static [&'static str] {
        self.lines
    }
    /// A fresh indicator.
    pub fn make(&self) -> Box<dyn Indicator> {
        (self.make)()
    }
}

/// Looks `name` up and checks `params` against it: unknown names, malformed or out-of-range
/// values and parameters the indicator does not take are errors.
pub fn prepare(name: &str, params: &Params) -> Result<Prepared, OperatorError> {
    prepare_at(name, params, 0)
}

fn prepare_at(name: &str, params: &Params, depth: usize) -> Result<Prepared, OperatorError> {
    let spec = REGISTRY.iter().find(|s| s.name == name).ok_or_else(|| OperatorError::UnknownIndicator { name: name.to_string(), known: names() })?;
    let with_name = |e| match e {
        OperatorError::BadParam { indicator: None, param, problem } => OperatorError::BadParam { indicator: Some(spec.name.to_string()), param, problem },
        e => e,
    };
    let make = (spec.constructor)(params).map_err(with_name)?;
    params.check_all_used(name)?;
    let lines = make().lines();
    let source = params.source().map_err(with_name)?;
    let make = match source {
        Some(_) if spec.reads == Reads::Bar => {
            return Err(with_name(OperatorError::BadParam { indicator: None, param: "source".into(), problem: ParamProblem::NoSource }))
        }
        None | Some(Source::Line(Line::Close)) => make,
        Some(Source::Line(l)) => Arc::new(move || Box::new(Sourced::line(l, make())) as Box<dyn Indicator>),
        Some(Source::Indicator { name: inner, params: inner_params, line }) => {
            if depth >= MAX_SOURCE_DEPTH {
                let value = params.source.clone().unwrap_or_default();
                return Err(with_name(OperatorError::BadParam { indicator: None, param: "source".into(), problem: ParamProblem::BadSource { value } }));
            }
            let src = prepare_at(&inner, &Params::parse(inner_params.iter().map(String::as_str))?, depth + 1)?;
            let index = match &line {
                None => 0,
                Some(l) => src.lines().iter().position(|x| x == l).ok_or_else(|| {
                    with_name(OperatorError::BadParam {
                        indicator: None,
                        param: "source".into(),
                        problem: ParamProblem::BadSource { value: format!("{inner}(…).{l}: {inner} has lines {}", src.lines().join(", ")) },
                    })
                })?,
            };
            Arc::new(move || Box::new(Sourced::indicator(src.make(), index, make())) as Box<dyn Indicator>)
        }
    };
    Ok(Prepared { name: spec.name, lines, make })
}

/// Builds an indicator by name from `k=v` parameters.
pub fn build(name: &str, params: &Params) -> Result<Box<dyn Indicator>, OperatorError> {
    Ok(prepare(name, params)?.make())
}

/// What an indicator takes and gives, for help texts and docs.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorInfo {
    /// Registry name.
    pub name: &'static str,
    /// One line of description.
    pub summary: &'static str,
    /// Parameters with their defaults, in the constructor's order.
    pub params: Vec<ParamInfo>,
    /// Output line names.
    pub lines: &'static [&'static str],
    /// Bars before every line has a value, with the default parameters.
    pub min_period: usize,
}

/// Every registered indicator described with its default parameters.
pub fn catalog() -> Vec<IndicatorInfo> {
    REGISTRY
        .iter()
        .map(|s| {
            let p = Params::default();
            let made = (s.constructor)(&p).map(|f| f());
            // the defaults are valid by construction (tested below)
            let (lines, min_period) = made.map(|i| (i.lines(), i.min_period())).unwrap_or((&[], 0));
            IndicatorInfo { name: s.name, summary: s.summary, params: p.used.into_inner(), lines, min_period }
        })
        .collect()
}

/// The README's indicator table (Markdown), generated from [`REGISTRY`].
pub fn markdown_table() -> String {
    let mut s = String::from("| name | input | parameters (default) | lines | min. bars | what |\n|---|---|---|---|---|---|\n");
    for (i, spec) in catalog().into_iter().zip(REGISTRY) {
        let params = i.params.iter().map(|p| format!("`{}={}`", p.name, p.default)).collect::<Vec<_>>().join(" ");
        let lines = i.lines.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(" ");
        let input = match spec.reads {
            Reads::Line => "`source=close`",
            Reads::Bar => "high, low, close",
        };
        s.push_str(&format!("| `{}` | {input} | {} | {} | {} | {} |\n", i.name, params, lines, i.min_period, i.summary));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_indicator_builds_with_its_defaults_and_names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for s in REGISTRY {
            assert!(seen.insert(s.name), "{} registered twice", s.name);
            let p = prepare(s.name, &Params::default()).unwrap();
            assert_eq!(p.lines(), p.make().lines());
        }
        let c = catalog();
        assert_eq!(c.len(), REGISTRY.len());
        assert!(
            c.iter().all(|i| !i.lines.is_empty()
                && i.min_period > 0
                && (i.params.is_empty() == ["williamsad", "heikinashi", "upmove", "downmove"].contains(&i.name))),
            "{c:?}"
        );
        let cross = c.iter().find(|i| i.name == "crossover").unwrap();
        assert_eq!(cross.params, vec![ParamInfo { name: "fast".into(), default: 10.0 }, ParamInfo { name: "slow".into(), default: 30.0 }]);
        let table = markdown_table();
        assert!(table.contains("| `bbands` | `source=close` | `period=20` `devfactor=2` | `mid` `top` `bot` | 20 |"), "{table}");
        assert!(table.contains("| `atr` | high, low, close | `period=14` | `atr` | 15 |"), "{table}");
    }

    #[test]
    fn unknown_names_and_bad_parameters_are_structured_errors() {
        match prepare("smaa", &Params::default()) {
            Err(OperatorError::UnknownIndicator { name, known }) => assert_eq!((name.as_str(), known), ("smaa", names())),
            other => panic!("{other:?}"),
        }
        match prepare("sma", &Params::parse(["period=0"]).unwrap()) {
            Err(OperatorError::BadParam { indicator, param, problem }) => {
                assert_eq!((indicator.as_deref(), param.as_str()), (Some("sma"), "period"));
                assert_eq!(problem, ParamProblem::NotAnInteger { min: 1, max: 100_000, got: 0.0 });
            }
            other => panic!("{other:?}"),
        }
        match prepare("bbands", &Params::parse(["period=5", "lenght=3"]).unwrap()) {
            Err(OperatorError::BadParam { indicator, param, problem }) => {
                assert_eq!((indicator.as_deref(), param.as_str()), (Some("bbands"), "lenght"));
                assert_eq!(problem, ParamProblem::Unknown { takes: vec!["period".into(), "devfactor".into()] });
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Params::parse(["period"]), Err(OperatorError::BadParam { problem: ParamProblem::NotKeyValue, .. })));
        assert!(matches!(Params::parse(["period=inf"]), Err(OperatorError::BadParam { problem: ParamProblem::NotFinite, .. })));
    }
}
