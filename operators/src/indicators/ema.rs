//! Exponential moving average (Backtrader `EMA`: alpha = 2 / (1 + period), seeded with the SMA).

use super::{ExpSmoothing, Indicator, Ohlcv};

/// EMA(period). Lines: `ema`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Ema {
    s: ExpSmoothing,
    period: usize,
}

impl Ema {
    /// EMA over closes.
    pub fn new(period: usize) -> Self {
        Ema { s: ExpSmoothing::ema(period), period }
    }
}

impl Indicator for Ema {
    fn lines(&self) -> &'static [&'static str] {
        &["ema"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.s.next(bar.close).unwrap_or(f64::NAN);
    }
    fn min_period(&self) -> usize {
        self.period
    }
}
