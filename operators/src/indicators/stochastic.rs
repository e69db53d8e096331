//! Stochastics (Backtrader `Stochastic`, `StochasticFast`, `StochasticFull`): `k = 100 · (close −
//! LL) / (HH − LL)` over `period`, `d = SMA(k, period_dfast)`. The slow one shows `percK = d` and
//! `percD = SMA(d, period_dslow)`; the fast one `percK = k`, `percD = d`; the full one `k`, `d` and
//! `percDSlow = SMA(d, period_dslow)`.

use super::{Indicator, Ohlcv, Sma, Window};

/// `100 · (close − LL) / (HH − LL)` of `bar` once the windows hold `period` highs and lows.
fn percent_k(hi: &mut Window, lo: &mut Window, bar: &Ohlcv) -> Option<f64> {
    hi.push(bar.high);
    lo.push(bar.low);
    if !hi.full() {
        return None;
    }
    let (hh, ll) = (hi.max(), lo.min());
    Some(100.0 * ((bar.close - ll) / (hh - ll)))
}

/// Stochastic(period, period_dfast, period_dslow). Lines: `percK, percD`.
/// Min period: `period + dfast + dslow − 2`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
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
        let Some(k) = percent_k(&mut self.hi, &mut self.lo, bar) else { return };
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

/// StochasticFast(period, period_dfast) (`fast`) or StochasticFull(period, period_dfast,
/// period_dslow). Lines: `percK, percD` (full: and `percDSlow`). Min period: `period` for `percK`,
/// `period + dfast − 1` (full: `+ dslow − 1`) for the last line.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StochasticFastFull {
    hi: Window,
    lo: Window,
    d: Sma,
    slow: Option<Sma>,
    min: usize,
}

impl StochasticFastFull {
    /// The fast stochastic.
    pub fn fast(period: usize, dfast: usize) -> Self {
        StochasticFastFull { hi: Window::new(period), lo: Window::new(period), d: Sma::new(dfast), slow: None, min: period + dfast - 1 }
    }
    /// The full stochastic.
    pub fn full(period: usize, dfast: usize, dslow: usize) -> Self {
        StochasticFastFull { slow: Some(Sma::new(dslow)), min: period + dfast + dslow - 2, ..Self::fast(period, dfast) }
    }
}

impl Indicator for StochasticFastFull {
    fn lines(&self) -> &'static [&'static str] {
        if self.slow.is_some() {
            &["percK", "percD", "percDSlow"]
        } else {
            &["percK", "percD"]
        }
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = f64::NAN);
        let Some(k) = percent_k(&mut self.hi, &mut self.lo, bar) else { return };
        out[0] = k;
        if let Some(d) = self.d.push(k) {
            out[1] = d;
            if let Some(s) = self.slow.as_mut().and_then(|s| s.push(d)) {
                out[2] = s;
            }
        }
    }
    fn min_period(&self) -> usize {
        self.min
    }
}
