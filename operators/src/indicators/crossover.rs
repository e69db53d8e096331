//! Crossing helpers (Backtrader `CrossOver`; `CrossUp`/`CrossDown` are the signs of its value).
//!
//! Backtrader remembers the last non-zero difference (`nzd`): a cross up is `nzd[-1] < 0` and
//! `a > b` now; a cross down is `nzd[-1] > 0` and `a < b` now. Touching without crossing is not
//! a cross.

use super::{Indicator, Ohlcv, Sma};

/// Stateful cross detector over two series.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CrossSignal {
    nzd: Option<f64>,
}

impl CrossSignal {
    /// A detector.
    pub fn new() -> Self {
        CrossSignal::default()
    }
    /// Folds the current values; +1 for a cross up, −1 for a cross down, 0 otherwise, `None`
    /// on the first observation (no previous difference).
    #[inline]
    pub fn update(&mut self, a: f64, b: f64) -> Option<f64> {
        let d = a - b;
        let prev = self.nzd;
        self.nzd = Some(if d != 0.0 { d } else { prev.unwrap_or(d) });
        let prev = prev?;
        let up = prev < 0.0 && a > b;
        let down = prev > 0.0 && a < b;
        Some(up as i32 as f64 - down as i32 as f64)
    }
}

/// CrossOver of SMA(fast) and SMA(slow) of the close. Lines: `crossover`.
/// Min period: `max(fast, slow) + 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct CrossOver {
    fast: Sma,
    slow: Sma,
    cross: CrossSignal,
    min: usize,
}

impl CrossOver {
    /// Cross of two simple averages.
    pub fn new(fast: usize, slow: usize) -> Self {
        CrossOver { fast: Sma::new(fast), slow: Sma::new(slow), cross: CrossSignal::new(), min: fast.max(slow) + 1 }
    }
}

impl Indicator for CrossOver {
    fn lines(&self) -> &'static [&'static str] {
        &["crossover"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = f64::NAN;
        if let (Some(f), Some(s)) = (self.fast.push(bar.close), self.slow.push(bar.close)) {
            if let Some(x) = self.cross.update(f, s) {
                out[0] = x;
            }
        }
    }
    fn min_period(&self) -> usize {
        self.min
    }
}
