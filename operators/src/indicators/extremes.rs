//! Highest high and lowest low over a period (Backtrader `Highest(data.high)`, `Lowest(data.low)`).

use super::{Indicator, Ohlcv, Window};

/// Highest(period) of the high. Lines: `highest`. Min period: `period`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Highest {
    w: Window,
}

impl Highest {
    /// Highest high.
    pub fn new(period: usize) -> Self {
        Highest { w: Window::new(period) }
    }
}

impl Indicator for Highest {
    fn lines(&self) -> &'static [&'static str] {
        &["highest"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.high);
        out[0] = if self.w.full() { self.w.max() } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// Lowest(period) of the low. Lines: `lowest`. Min period: `period`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Lowest {
    w: Window,
}

impl Lowest {
    /// Lowest low.
    pub fn new(period: usize) -> Self {
        Lowest { w: Window::new(period) }
    }
}

impl Indicator for Lowest {
    fn lines(&self) -> &'static [&'static str] {
        &["lowest"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.low);
        out[0] = if self.w.full() { self.w.min() } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
