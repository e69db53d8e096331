//! What closes a bar: the clock (time bars) or the trades themselves (information-driven bars).
//!
//! The kind is part of a bar's key (`instrument, kind, timeframe, open_time`), so time bars and
//! e.g. 1,000-trade bars of the same instrument never collide in a store.
//!
//! | spelling | kind | a bar closes when |
//! |---|---|---|
//! | `time` | [`BarKind::Time`] | its window `[open, open + timeframe)` ends (the watermark passes it) |
//! | `tick:N` | [`BarKind::Tick`] | it holds `N` trades |
//! | `volume:V` | [`BarKind::Volume`] | it holds `V` base units (a trade crossing the threshold is split) |
//! | `value:Q` (or `dollar:Q`) | [`BarKind::Value`] | it holds `Q` quote units (split likewise) |
//! | `tib:T0[:SPAN]`, `vib:…`, `dib:…` | [`BarKind::Imbalance`] | the signed tick/volume/value imbalance reaches its expectation |
//! | `trb:T0[:SPAN]`, `vrb:…`, `drb:…` | [`BarKind::Run`] | the longer one-sided run reaches its expectation |
//! | `renko:B` | [`BarKind::Renko`] | the price moved `B` from the last brick's close |
//! | `heikinashi` | [`BarKind::HeikinAshi`] | (derived from time bars, one per bar) |

use std::fmt;
use std::str::FromStr;

use crate::{Decimal, ModelError};

/// What each trade adds to an imbalance or a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// One per trade.
    Tick,
    /// The trade's base amount.
    Volume,
    /// The trade's quote value (price · amount).
    Value,
}

/// López de Prado's expectation parameters of imbalance and run bars: `expected_ticks` is the
/// first bar's expected length `E₀[T]` (later ones use an EWMA of past bar lengths), `span` the
/// EWMA span (α = 2 / (span + 1)) of the bar lengths and of the per-trade statistics.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expectation {
    /// `E₀[T]`, in trades (≥ 1).
    pub expected_ticks: u32,
    /// EWMA span (≥ 1), in bars for `E[T]` and in trades for the per-trade statistics.
    pub span: u32,
}

/// The rule that closes a bar.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BarKind {
    /// Calendar windows of the bar's timeframe.
    #[default]
    Time,
    /// Every `n` trades.
    Tick(u64),
    /// Every `amount` base units.
    Volume(Decimal),
    /// Every `quote` quote units ("dollar bars").
    Value(Decimal),
    /// Imbalance bars (TIB, VIB, DIB).
    Imbalance(Measure, Expectation),
    /// Run bars (TRB, VRB, DRB).
    Run(Measure, Expectation),
    /// Renko bricks of `brick` price units.
    Renko(Decimal),
    /// Heikin-Ashi candles of the time bars.
    HeikinAshi,
}

impl BarKind {
    /// True for bars closed by the clock (time and Heikin-Ashi bars).
    pub fn is_time(&self) -> bool {
        matches!(self, BarKind::Time | BarKind::HeikinAshi)
    }
}

const DEFAULT_SPAN: u32 = 20;

impl FromStr for BarKind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let input = s.trim();
        let bad = |reason: &'static str| ModelError::BarKind { input: input.to_string(), reason };
        let (name, arg) = input.split_once(':').map_or((input, None), |(n, a)| (n, Some(a)));
        let positive = |a: Option<&str>| -> Result<Decimal, ModelError> {
            let a = a.ok_or_else(|| bad("needs a size, e.g. volume:50"))?;
            let d = parse_size(a).ok_or_else(|| bad("the size is not a number (e.g. 50, 0.5, 1e6)"))?;
            if d.mantissa() <= 0 {
                return Err(bad("the size must be > 0"));
            }
            Ok(d)
        };
        let expectation = |a: Option<&str>| -> Result<Expectation, ModelError> {
            let a = a.ok_or_else(|| bad("needs the first bar's expected trades, e.g. tib:100 or tib:100:20"))?;
            let (t, span) = a.split_once(':').map_or((a, None), |(t, s)| (t, Some(s)));
            let int = |v: &str| v.trim().parse::<u32>().ok().filter(|&n| n >= 1);
            let expected_ticks = int(t).ok_or_else(|| bad("the expected trades must be an integer ≥ 1"))?;
            let span = match span {
                None => DEFAULT_SPAN,
                Some(v) => int(v).ok_or_else(|| bad("the span must be an integer ≥ 1"))?,
            };
            Ok(Expectation { expected_ticks, span })
        };
        let kind = match name {
            "time" if arg.is_none() => BarKind::Time,
            "heikinashi" if arg.is_none() => BarKind::HeikinAshi,
            "tick" => {
                let n = arg.ok_or_else(|| bad("needs a trade count, e.g. tick:1000"))?;
                BarKind::Tick(n.trim().parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(|| bad("the trade count must be an integer ≥ 1"))?)
            }
            "volume" => BarKind::Volume(positive(arg)?),
            "value" | "dollar" => BarKind::Value(positive(arg)?),
            "renko" => BarKind::Renko(positive(arg)?),
            "tib" => BarKind::Imbalance(Measure::Tick, expectation(arg)?),
            "vib" => BarKind::Imbalance(Measure::Volume, expectation(arg)?),
            "dib" => BarKind::Imbalance(Measure::Value, expectation(arg)?),
            "trb" => BarKind::Run(Measure::Tick, expectation(arg)?),
            "vrb" => BarKind::Run(Measure::Volume, expectation(arg)?),
            "drb" => BarKind::Run(Measure::Value, expectation(arg)?),
            "time" | "heikinashi" => return Err(bad("takes no size")),
            _ => {
                return Err(bad(
                    "unknown bar kind; use time, tick:N, volume:V, value:Q, dollar:Q, tib/vib/dib:T0[:SPAN], trb/vrb/drb:T0[:SPAN], renko:B or heikinashi",
                ))
            }
        };
        Ok(kind)
    }
}

/// A decimal size, also in exponent form (`1e6`, `2.5e3`).
fn parse_size(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let (m, e) = match s.split_once(['e', 'E']) {
        None => (s, 0i32),
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
    };
    let mut d: Decimal = m.parse().ok()?;
    if !(-9..=18).contains(&e) {
        return None;
    }
    let ten = Decimal::from_int(10);
    for _ in 0..e.max(0) {
        d = d.checked_mul(ten)?;
    }
    for _ in 0..(-e).max(0) {
        let m = d.mantissa();
        if m % 10 != 0 {
            return None;
        }
        d = Decimal::from_mantissa(m / 10);
    }
    Some(d)
}

impl fmt::Display for BarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = |m: &Measure| match m {
            Measure::Tick => 't',
            Measure::Volume => 'v',
            Measure::Value => 'd',
        };
        match self {
            BarKind::Time => f.write_str("time"),
            BarKind::HeikinAshi => f.write_str("heikinashi"),
            BarKind::Tick(n) => write!(f, "tick:{n}"),
            BarKind::Volume(v) => write!(f, "volume:{v}"),
            BarKind::Value(q) => write!(f, "value:{q}"),
            BarKind::Renko(b) => write!(f, "renko:{b}"),
            BarKind::Imbalance(x, e) => write!(f, "{}ib:{}:{}", m(x), e.expected_ticks, e.span),
            BarKind::Run(x, e) => write!(f, "{}rb:{}:{}", m(x), e.expected_ticks, e.span),
        }
    }
}

crate::serde_as_text!(BarKind);

/// Parses a comma-separated list of bar kinds (`"tick:1000,volume:50,dollar:1e6,renko:10"`),
/// sorted and de-duplicated.
pub fn parse_bar_kinds(s: &str) -> Result<Vec<BarKind>, ModelError> {
    let mut v = s.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect::<Result<Vec<BarKind>, _>>()?;
    v.sort();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_bad_ones_say_why() {
        for s in ["time", "tick:1000", "volume:50", "value:1000000", "renko:10", "tib:100:20", "vrb:50:5", "heikinashi", "volume:0.5"] {
            let k: BarKind = s.parse().unwrap();
            assert_eq!(k.to_string(), s);
            assert_eq!(k.to_string().parse::<BarKind>().unwrap(), k);
        }
        assert_eq!("dollar:1e6".parse::<BarKind>().unwrap(), BarKind::Value(Decimal::from_int(1_000_000)));
        assert_eq!("dib:100".parse::<BarKind>().unwrap(), BarKind::Imbalance(Measure::Value, Expectation { expected_ticks: 100, span: 20 }));
        assert_eq!("volume:2.5e-1".parse::<BarKind>().unwrap().to_string(), "volume:0.25");
        for (s, why) in [
            ("tick:0", "integer ≥ 1"),
            ("tick", "trade count"),
            ("volume:-1", "> 0"),
            ("volume:abc", "not a number"),
            ("renko:0", "> 0"),
            ("tib:0", "≥ 1"),
            ("tib:10:0", "span"),
            ("time:5", "no size"),
            ("range:5", "unknown bar kind"),
            ("volume:1e-12", "not a number"),
        ] {
            let e = s.parse::<BarKind>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(s), "{s}: {e}");
        }
        assert_eq!(parse_bar_kinds("volume:50,tick:1000,tick:1000").unwrap(), vec![BarKind::Tick(1000), BarKind::Volume(Decimal::from_int(50))]);
    }
}
