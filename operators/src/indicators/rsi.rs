//! Relative strength index, Wilder's definition as in Backtrader's `RSI`: up/down moves of the
//! close smoothed with SMMA, `rsi = 100 - 100 / (1 + maup / madown)`; and the relative momentum
//! index (`RMI`), the same over moves against the close `lookback` bars ago.

use super::{ExpSmoothing, Indicator, Ohlcv, Window};

/// RSI(period). Lines: `rsi`. Min period: `period + 1` (`period + lookback` for the RMI).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Rsi {
    up: ExpSmoothing,
    down: ExpSmoothing,
    past: Window,
    period: usize,
}

impl Rsi {
    /// RSI over closes.
    pub fn new(period: usize) -> Self {
        Self::with_lookback(period, 1)
    }
    /// Moves against the value `lookback` bars ago (Backtrader's `lookback` parameter).
    pub fn with_lookback(period: usize, lookback: usize) -> Self {
        Rsi { up: ExpSmoothing::smma(period), down: ExpSmoothing::smma(period), past: Window::new(lookback + 1), period }
    }
}

impl Indicator for Rsi {
    fn lines(&self) -> &'static [&'static str] {
        &["rsi"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = f64::NAN;
        let c = bar.close;
        self.past.push(c);
        if let (true, Some(p)) = (self.past.full(), self.past.ago(self.past.len() - 1)) {
            let (u, d) = (self.up.next((c - p).max(0.0)), self.down.next((p - c).max(0.0)));
            if let (Some(u), Some(d)) = (u, d) {
                // madown = 0 gives rs = inf and rsi = 100, as the formula does
                out[0] = 100.0 - 100.0 / (1.0 + u / d);
            }
        }
    }
    fn min_period(&self) -> usize {
        self.period + self.past.len() - 1
    }
}

/// RMI(period, lookback): the RSI of moves against the value `lookback` bars ago. Lines: `rmi`.
/// Min period: `period + lookback`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Rmi(Rsi);

impl Rmi {
    /// RMI of the input.
    pub fn new(period: usize, lookback: usize) -> Self {
        Rmi(Rsi::with_lookback(period, lookback))
    }
}

impl Indicator for Rmi {
    fn lines(&self) -> &'static [&'static str] {
        &["rmi"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.0.next(bar, out)
    }
    fn min_period(&self) -> usize {
        self.0.min_period()
    }
}
