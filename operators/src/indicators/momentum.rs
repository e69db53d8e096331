//! Momentum (`close − close[−period]`), rate of change (`(close − close[−period]) /
//! close[−period]`, and ×100) and percent change (`close / close[−period] − 1`), as Backtrader's
//! `Momentum`, `RateOfChange`, `RateOfChange100` and `PercentChange`.

use super::{Indicator, Ohlcv, Window};

/// Momentum(period). Lines: `momentum`. Min period: `period + 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Momentum {
    w: Window,
}

impl Momentum {
    /// Momentum of the close.
    pub fn new(period: usize) -> Self {
        Momentum { w: Window::new(period + 1) }
    }
}

impl Indicator for Momentum {
    fn lines(&self) -> &'static [&'static str] {
        &["momentum"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = ago(&mut self.w, bar.close).map_or(f64::NAN, |old| bar.close - old);
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// Pushes `x`; the input `period` bars ago (the window's oldest), once there is one.
pub(crate) fn ago(w: &mut Window, x: f64) -> Option<f64> {
    w.push(x);
    if w.full() {
        w.ago(w.len() - 1)
    } else {
        None
    }
}

/// RateOfChange100(period): `100 · (x − x[−period]) / x[−period]`. Lines: `roc100`. Min period:
/// `period + 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct RateOfChange100 {
    w: Window,
}

impl RateOfChange100 {
    /// Rate of change of the input, in percent.
    pub fn new(period: usize) -> Self {
        RateOfChange100 { w: Window::new(period + 1) }
    }
}

impl Indicator for RateOfChange100 {
    fn lines(&self) -> &'static [&'static str] {
        &["roc100"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = ago(&mut self.w, bar.close).map_or(f64::NAN, |old| 100.0 * ((bar.close - old) / old));
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// PercentChange(period): `x / x[−period] − 1`. Lines: `pctchange`. Min period: `period + 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct PercentChange {
    w: Window,
}

impl PercentChange {
    /// Percent change of the input (a fraction).
    pub fn new(period: usize) -> Self {
        PercentChange { w: Window::new(period + 1) }
    }
}

impl Indicator for PercentChange {
    fn lines(&self) -> &'static [&'static str] {
        &["pctchange"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = ago(&mut self.w, bar.close).map_or(f64::NAN, |old| bar.close / old - 1.0);
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// RateOfChange(period). Lines: `roc`. Min period: `period + 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct RateOfChange {
    w: Window,
}

impl RateOfChange {
    /// Rate of change of the close (a fraction, not percent).
    pub fn new(period: usize) -> Self {
        RateOfChange { w: Window::new(period + 1) }
    }
}

impl Indicator for RateOfChange {
    fn lines(&self) -> &'static [&'static str] {
        &["roc"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = ago(&mut self.w, bar.close).map_or(f64::NAN, |old| (bar.close - old) / old);
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
