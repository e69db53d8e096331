//! Momentum (`close − close[−period]`) and rate of change (`(close − close[−period]) /
//! close[−period]`), as Backtrader's `Momentum` and `RateOfChange`.

use super::{Indicator, Ohlcv, Window};

/// Momentum(period). Lines: `momentum`. Min period: `period + 1`.
#[derive(serde::Serialize, serde::Deserialize)]
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
        self.w.push(bar.close);
        out[0] = match (self.w.full(), self.w.ago(self.w.len() - 1)) {
            (true, Some(old)) => bar.close - old,
            _ => f64::NAN,
        };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// RateOfChange(period). Lines: `roc`. Min period: `period + 1`.
#[derive(serde::Serialize, serde::Deserialize)]
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
        self.w.push(bar.close);
        out[0] = match (self.w.full(), self.w.ago(self.w.len() - 1)) {
            (true, Some(old)) => (bar.close - old) / old,
            _ => f64::NAN,
        };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
