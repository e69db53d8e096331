//! Bollinger Bands (Backtrader `BollingerBands`): `mid = SMA(period)`,
//! `top/bot = mid ± devfactor · stddev`, `stddev = sqrt(SMA(x²) − SMA(x)²)` (population).

use super::{fsum, Indicator, Ohlcv, Window};
use crate::indicators::stddev::stddev;

/// BollingerBands(period, devfactor). Lines: `mid, top, bot`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct BollingerBands {
    w: Window,
    devfactor: f64,
}

impl BollingerBands {
    /// Bands over closes.
    pub fn new(period: usize, devfactor: f64) -> Self {
        BollingerBands { w: Window::new(period), devfactor }
    }
}

impl Indicator for BollingerBands {
    fn lines(&self) -> &'static [&'static str] {
        &["mid", "top", "bot"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        if !self.w.full() {
            out.iter_mut().for_each(|v| *v = f64::NAN);
            return;
        }
        let mid = fsum(self.w.iter()) / self.w.len() as f64;
        let sd = stddev(&self.w);
        out[0] = mid;
        out[1] = mid + self.devfactor * sd;
        out[2] = mid - self.devfactor * sd;
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
