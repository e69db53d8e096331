//! Simple moving average of the close (Backtrader `SMA`: `fsum(last period) / period`).

use super::{fsum, Indicator, Ohlcv, Window};

/// SMA(period). Lines: `sma`. Min period: `period`.
pub struct Sma {
    w: Window,
}

impl Sma {
    /// SMA over `period` closes.
    pub fn new(period: usize) -> Self {
        Sma { w: Window::new(period) }
    }
    /// Folds a value; the average once full.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        self.w.push(x);
        self.w.full().then(|| fsum(self.w.iter()) / self.w.len() as f64)
    }
}

impl Indicator for Sma {
    fn lines(&self) -> &'static [&'static str] {
        &["sma"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar.close).unwrap_or(f64::NAN);
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
