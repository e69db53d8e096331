//! Linearly weighted moving average (Backtrader `WMA`: weights 1..period, newest heaviest,
//! `coef = 2 / (period * (period + 1))`).

use super::{fsum, Indicator, Ohlcv, Window};

/// WMA(period). Lines: `wma`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Wma {
    w: Window,
    coef: f64,
}

impl Wma {
    /// WMA over closes.
    pub fn new(period: usize) -> Self {
        let p = period.max(1) as f64;
        Wma { w: Window::new(period), coef: 2.0 / (p * (p + 1.0)) }
    }
}

impl Indicator for Wma {
    fn lines(&self) -> &'static [&'static str] {
        &["wma"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        out[0] = if self.w.full() { self.coef * fsum(self.w.iter().enumerate().map(|(i, x)| x * (i + 1) as f64)) } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
