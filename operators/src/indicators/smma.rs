//! Wilder's smoothed moving average (Backtrader `SMMA`: alpha = 1 / period, seeded with the SMA).

use super::{ExpSmoothing, Indicator, Ohlcv};

/// SMMA(period). Lines: `smma`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Smma {
    s: ExpSmoothing,
    period: usize,
}

impl Smma {
    /// SMMA over closes.
    pub fn new(period: usize) -> Self {
        Smma { s: ExpSmoothing::smma(period), period }
    }
}

impl Indicator for Smma {
    fn lines(&self) -> &'static [&'static str] {
        &["smma"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.s.next(bar.close).unwrap_or(f64::NAN);
    }
    fn min_period(&self) -> usize {
        self.period
    }
}
