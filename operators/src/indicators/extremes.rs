//! Highest and lowest value over a period (Backtrader `Highest(data)`, `Lowest(data)`: of the
//! input line, the close unless `source=` names another — `source=high` is `Highest(data.high)`).

use super::{Indicator, Ohlcv, Window};

/// Highest(period) of the input line. Lines: `highest`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Highest {
    w: Window,
}

impl Highest {
    /// Highest value of the input.
    pub fn new(period: usize) -> Self {
        Highest { w: Window::new(period) }
    }
}

impl Indicator for Highest {
    fn lines(&self) -> &'static [&'static str] {
        &["highest"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        out[0] = if self.w.full() { self.w.max() } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// Lowest(period) of the input line. Lines: `lowest`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Lowest {
    w: Window,
}

impl Lowest {
    /// Lowest value of the input.
    pub fn new(period: usize) -> Self {
        Lowest { w: Window::new(period) }
    }
}

impl Indicator for Lowest {
    fn lines(&self) -> &'static [&'static str] {
        &["lowest"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        out[0] = if self.w.full() { self.w.min() } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
