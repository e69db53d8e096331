//! Commodity channel index (Backtrader `CCI`): `tp = (h + l + c) / 3`, `tpmean = SMA(tp)`,
//! `meandev = SMA(|tp − tpmean|)` (each deviation taken against the mean of its own bar),
//! `cci = (tp − tpmean) / (factor · meandev)`.

use super::{Indicator, Ohlcv, Sma};

/// CCI(period, factor). Lines: `cci`. Min period: `2 · period − 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Cci {
    tpmean: Sma,
    meandev: Sma,
    factor: f64,
    period: usize,
}

impl Cci {
    /// CCI.
    pub fn new(period: usize, factor: f64) -> Self {
        Cci { tpmean: Sma::new(period), meandev: Sma::new(period), factor, period }
    }
}

impl Indicator for Cci {
    fn lines(&self) -> &'static [&'static str] {
        &["cci"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = f64::NAN;
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        if let Some(mean) = self.tpmean.push(tp) {
            if let Some(md) = self.meandev.push((tp - mean).abs()) {
                out[0] = (tp - mean) / (self.factor * md);
            }
        }
    }
    fn min_period(&self) -> usize {
        2 * self.period - 1
    }
}
