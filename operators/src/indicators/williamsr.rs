//! Williams %R (Backtrader `WilliamsR`): `percR = ((HH − close) / (HH − LL)) · −100`.

use super::{Indicator, Ohlcv, Window};

/// WilliamsR(period). Lines: `percR`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct WilliamsR {
    hi: Window,
    lo: Window,
}

impl WilliamsR {
    /// Williams %R.
    pub fn new(period: usize) -> Self {
        WilliamsR { hi: Window::new(period), lo: Window::new(period) }
    }
}

impl Indicator for WilliamsR {
    fn lines(&self) -> &'static [&'static str] {
        &["percR"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.hi.push(bar.high);
        self.lo.push(bar.low);
        out[0] = if self.hi.full() {
            let (hh, ll) = (self.hi.max(), self.lo.min());
            ((hh - bar.close) / (hh - ll)) * -100.0
        } else {
            f64::NAN
        };
    }
    fn min_period(&self) -> usize {
        self.hi.len()
    }
}
