//! Average true range (Backtrader `ATR`): `tr = max(high, prev_close) − min(low, prev_close)`,
//! `atr = SMMA(tr, period)`.

use super::{ExpSmoothing, Indicator, Ohlcv};

/// True range of a bar given the previous close.
#[inline]
pub fn true_range(bar: &Ohlcv, prev_close: f64) -> f64 {
    bar.high.max(prev_close) - bar.low.min(prev_close)
}

/// ATR(period). Lines: `atr`. Min period: `period + 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Atr {
    s: ExpSmoothing,
    prev: Option<f64>,
    period: usize,
}

impl Atr {
    /// ATR with Wilder smoothing.
    pub fn new(period: usize) -> Self {
        Atr { s: ExpSmoothing::smma(period), prev: None, period }
    }
    /// Folds a bar; the ATR once warm.
    pub fn push(&mut self, bar: &Ohlcv) -> Option<f64> {
        let prev = self.prev.replace(bar.close)?;
        self.s.next(true_range(bar, prev))
    }
}

impl Indicator for Atr {
    fn lines(&self) -> &'static [&'static str] {
        &["atr"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.push(bar).unwrap_or(f64::NAN);
    }
    fn min_period(&self) -> usize {
        self.period + 1
    }
}
