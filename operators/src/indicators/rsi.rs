//! Relative strength index, Wilder's definition as in Backtrader's `RSI`: up/down moves of the
//! close smoothed with SMMA, `rsi = 100 - 100 / (1 + maup / madown)`.

use super::{ExpSmoothing, Indicator, Ohlcv};

/// RSI(period). Lines: `rsi`. Min period: `period + 1`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Rsi {
    up: ExpSmoothing,
    down: ExpSmoothing,
    prev: Option<f64>,
    period: usize,
}

impl Rsi {
    /// RSI over closes.
    pub fn new(period: usize) -> Self {
        Rsi { up: ExpSmoothing::smma(period), down: ExpSmoothing::smma(period), prev: None, period }
    }
}

impl Indicator for Rsi {
    fn lines(&self) -> &'static [&'static str] {
        &["rsi"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = f64::NAN;
        let c = bar.close;
        if let Some(p) = self.prev.replace(c) {
            let (u, d) = (self.up.next((c - p).max(0.0)), self.down.next((p - c).max(0.0)));
            if let (Some(u), Some(d)) = (u, d) {
                // madown = 0 gives rs = inf and rsi = 100, as the formula does
                out[0] = 100.0 - 100.0 / (1.0 + u / d);
            }
        }
    }
    fn min_period(&self) -> usize {
        self.period + 1
    }
}
