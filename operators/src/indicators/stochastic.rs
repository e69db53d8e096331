//! Slow stochastic (Backtrader `Stochastic`): `k = 100 · (close − LL) / (HH − LL)` over
//! `period`, `percK = SMA(k, period_dfast)`, `percD = SMA(percK, period_dslow)`.

use super::{Indicator, Ohlcv, Sma, Window};

/// Stochastic(period, period_dfast, period_dslow). Lines: `percK, percD`.
/// Min period: `period + dfast + dslow − 2`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Stochastic {
    hi: Window,
    lo: Window,
    k: Sma,
    d: Sma,
    min: usize,
}

impl Stochastic {
    /// A slow stochastic.
    pub fn new(period: usize, dfast: usize, dslow: usize) -> Self {
        Stochastic { hi: Window::new(period), lo: Window::new(period), k: Sma::new(dfast), d: Sma::new(dslow), min: period + dfast + dslow - 2 }
    }
}

impl Indicator for Stochastic {
    fn lines(&self) -> &'static [&'static str] {
        &["percK", "percD"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = f64::NAN);
        self.hi.push(bar.high);
        self.lo.push(bar.low);
        if !self.hi.full() {
            return;
        }
        let (hh, ll) = (self.hi.max(), self.lo.min());
        let k = 100.0 * ((bar.close - ll) / (hh - ll));
        if let Some(pk) = self.k.push(k) {
            out[0] = pk;
            if let Some(pd) = self.d.push(pk) {
                out[1] = pd;
            }
        }
    }
    fn min_period(&self) -> usize {
        self.min
    }
}
