//! Double and triple exponential moving averages (Backtrader `DEMA`, `TEMA`): chained EMAs of
//! the input, each seeded with the simple average of its first `period` inputs.
//! `dema = 2·ema1 − ema2`, `tema = 3·ema1 − 3·ema2 + ema3` with `ema2 = EMA(ema1)`,
//! `ema3 = EMA(ema2)`.

use super::{ExpSmoothing, Indicator, Ohlcv};

/// EMAs of EMAs: `chain[0]` of the input, `chain[k]` of `chain[k − 1]`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Chain {
    emas: Vec<ExpSmoothing>,
}

impl Chain {
    fn new(period: usize, depth: usize) -> Self {
        Chain { emas: (0..depth).map(|_| ExpSmoothing::ema(period)).collect() }
    }
    /// Each EMA's value after folding `x` (`None` while it warms up).
    fn next(&mut self, x: f64, out: &mut [Option<f64>]) {
        let mut v = Some(x);
        for (e, o) in self.emas.iter_mut().zip(out.iter_mut()) {
            v = v.and_then(|x| e.next(x));
            *o = v;
        }
    }
}

/// DEMA(period). Lines: `dema`. Min period: `2·period − 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Dema {
    chain: Chain,
    period: usize,
}

impl Dema {
    /// DEMA of the input.
    pub fn new(period: usize) -> Self {
        Dema { chain: Chain::new(period, 2), period }
    }
}

impl Indicator for Dema {
    fn lines(&self) -> &'static [&'static str] {
        &["dema"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let mut e = [None; 2];
        self.chain.next(bar.close, &mut e);
        out[0] = match e {
            [Some(e1), Some(e2)] => 2.0 * e1 - e2,
            _ => f64::NAN,
        };
    }
    fn min_period(&self) -> usize {
        2 * self.period - 1
    }
}

/// TEMA(period). Lines: `tema`. Min period: `3·period − 2`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Tema {
    chain: Chain,
    period: usize,
}

impl Tema {
    /// TEMA of the input.
    pub fn new(period: usize) -> Self {
        Tema { chain: Chain::new(period, 3), period }
    }
}

impl Indicator for Tema {
    fn lines(&self) -> &'static [&'static str] {
        &["tema"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let mut e = [None; 3];
        self.chain.next(bar.close, &mut e);
        out[0] = match e {
            [Some(e1), Some(e2), Some(e3)] => 3.0 * e1 - 3.0 * e2 + e3,
            _ => f64::NAN,
        };
    }
    fn min_period(&self) -> usize {
        3 * self.period - 2
    }
}
