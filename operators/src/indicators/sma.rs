//! Simple moving average of the close (Backtrader `SMA`: `fsum(last period) / period`).
//!
//! The window sum is maintained incrementally with Neumaier compensation and re-anchored to
//! the exactly rounded `fsum` of the window once every `period` pushes, so the value stays
//! within a few ulps of Backtrader's at O(1) amortized cost per bar.

use super::{fsum, Indicator, Ohlcv, Window};

/// SMA(period). Lines: `sma`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Sma {
    w: Window,
    sum: f64,
    comp: f64,
    since_exact: usize,
}

impl Sma {
    /// SMA over `period` closes.
    pub fn new(period: usize) -> Self {
        Sma { w: Window::new(period), sum: 0.0, comp: 0.0, since_exact: 0 }
    }

    #[inline]
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// Folds a value; the average once full.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if self.w.full() {
            if let Some(old) = self.w.ago(self.w.len() - 1) {
                self.add(-old);
            }
        }
        self.w.push(x);
        self.add(x);
        self.since_exact += 1;
        if !self.w.full() {
            return None;
        }
        if self.since_exact >= self.w.len() {
            // re-anchor to the exactly rounded sum
            self.sum = fsum(self.w.iter());
            self.comp = 0.0;
            self.since_exact = 0;
        }
        Some((self.sum + self.comp) / self.w.len() as f64)
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
