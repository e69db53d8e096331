//! Relative strength index, Wilder's definition as in Backtrader's `RSI`: up/down moves of the
//! close smoothed with SMMA, `rsi = 100 - 100 / (1 + maup / madown)`; and the relative momentum
//! index (`RMI`), the same over moves against the close `lookback` bars ago.

use super::{ExpSmoothing, Indicator, Ohlcv, Window};

/// RSI(period). Lines: `rsi`. Min period: `period + 1` (`period + lookback` for the RMI).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Rsi {
    up: ExpSmoothing,
    down: ExpSmoothing,
    past: Window,
    period: usize,
    /// `RSI_Safe`: the ratios used when the down moves are 0 (up moves or not)
    #[serde(default)]
    safe: Option<(f64, f64)>,
}

impl Rsi {
    /// RSI over closes.
    pub fn new(period: usize) -> Self {
        Self::with_lookback(period, 1)
    }
    /// Moves against the value `lookback` bars ago (Backtrader's `lookback` parameter).
    pub fn with_lookback(period: usize, lookback: usize) -> Self {
        Rsi { up: ExpSmoothing::smma(period), down: ExpSmoothing::smma(period), past: Window::new(lookback + 1), period, safe: None }
    }
    /// Backtrader's `RSI_Safe` (`safediv=True`): `safehigh` when the smoothed down moves are 0
    /// and the up moves are not, `safelow` when both are 0 (where the plain RSI divides by 0).
    pub fn safe(period: usize, safehigh: f64, safelow: f64) -> Self {
        // Backtrader turns each into the ratio that gives it back: rs = −100 / (rsi − 100) − 1
        let rs = |rsi: f64| if rsi == 100.0 { f64::INFINITY } else { -100.0 / (rsi - 100.0) - 1.0 };
        Rsi { safe: Some((rs(safehigh), rs(safelow))), ..Self::new(period) }
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
                let rs = match self.safe {
                    Some((high, low)) if d == 0.0 => {
                        if u == 0.0 {
                            low
                        } else {
                            high
                        }
                    }
                    // madown = 0 gives rs = inf and rsi = 100, as the formula does
                    _ => u / d,
                };
                out[0] = 100.0 - 100.0 / (1.0 + rs);
            }
        }
    }
    fn min_period(&self) -> usize {
        self.period + self.past.len() - 1
    }
}

/// RMI(period, lookback): the RSI of moves against the value `lookback` bars ago. Lines: `rmi`.
/// Min period: `period + lookback`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn last(ind: &mut dyn Indicator, xs: &[f64]) -> f64 {
        let mut out = [0.0];
        for &c in xs {
            ind.next(&Ohlcv { open: c, high: c, low: c, close: c, volume: 0.0 }, &mut out);
        }
        out[0]
    }

    #[test]
    fn safe_rsi_on_flat_and_rising_input() {
        // no moves at all: 0/0 — NaN for the plain RSI, `safelow` for RSI_Safe
        assert!(last(&mut Rsi::new(3), &[5.0; 6]).is_nan());
        assert_eq!(last(&mut Rsi::safe(3, 100.0, 50.0), &[5.0; 6]), 50.0);
        assert_eq!(last(&mut Rsi::safe(3, 100.0, 40.0), &[5.0; 6]), 40.0);
        // only up moves: x/0 — 100 for both
        let up = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(last(&mut Rsi::new(3), &up), 100.0);
        assert_eq!(last(&mut Rsi::safe(3, 100.0, 50.0), &up), 100.0);
        assert_eq!(last(&mut Rsi::safe(3, 90.0, 50.0), &up), 90.0);
    }
}
