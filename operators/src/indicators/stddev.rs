//! Standard deviation (Backtrader `StandardDeviation`/`StdDev`, population):
//! `sqrt(SMA(x²) − SMA(x)²)` over `period` inputs.

use super::{fsum, Indicator, Ohlcv, Window};

/// StdDev(period). Lines: `stddev`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StdDev {
    w: Window,
}

impl StdDev {
    /// Standard deviation of the input.
    pub fn new(period: usize) -> Self {
        StdDev { w: Window::new(period) }
    }
}

/// The population standard deviation of a full window, in Backtrader's order of operations.
pub(crate) fn stddev(w: &Window) -> f64 {
    let p = w.len() as f64;
    let mean = fsum(w.iter()) / p;
    let meansq = fsum(w.iter().map(|x| x.powi(2))) / p;
    (meansq - mean.powi(2)).powf(0.5)
}

impl Indicator for StdDev {
    fn lines(&self) -> &'static [&'static str] {
        &["stddev"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        out[0] = if self.w.full() { stddev(&self.w) } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}
