//! Ehlers' and Way's zero-lag indicator (Backtrader `ZeroLagIndicator`, alias `EC`) and the
//! Dickson moving average built on it (Backtrader `DMA`).
//!
//! `ec` corrects the EMA towards the price: each bar it tries the gains −`gainlimit`/10 …
//! +`gainlimit`/10 in steps of 0.1 in `ec = α·(ema + gain·(x − ec[−1])) + (1 − α)·ec[−1]` and
//! keeps the one with the least `|x − ec|` (the first of equals); its first value is the EMA.
//! `dma = (ec + HMA(hperiod)) / 2`.

use super::core::feed;
use super::{Ema, Hma, Indicator, Ohlcv};

/// ZeroLagIndicator(period, gainlimit). Lines: `ec`. Min period: `period`.
#[derive(Clone)]
pub struct ZeroLag {
    ema: Ema,
    alpha: f64,
    alpha1: f64,
    gainlimit: i64,
    prev: f64,
    period: usize,
}

impl ZeroLag {
    /// The error-correcting EMA of the input.
    pub fn new(period: usize, gainlimit: usize) -> Self {
        let alpha = 2.0 / (1.0 + period as f64);
        ZeroLag { ema: Ema::new(period), alpha, alpha1: 1.0 - alpha, gainlimit: gainlimit as i64, prev: f64::NAN, period }
    }
    fn step(&mut self, x: f64) -> f64 {
        let ema = feed(&mut self.ema, x);
        if ema.is_nan() {
            return f64::NAN;
        }
        // Backtrader starts from MAXINT (sys.maxsize); a NaN error (no previous ec) never wins
        let mut least = i64::MAX as f64;
        let mut best = ema;
        let ec1 = self.prev;
        for g in -self.gainlimit..=self.gainlimit {
            let gain = g as f64 / 10.0;
            let ec = self.alpha * (ema + gain * (x - ec1)) + self.alpha1 * ec1;
            let err = (x - ec).abs();
            if err < least {
                least = err;
                best = ec;
            }
        }
        self.prev = best;
        best
    }
}

impl Indicator for ZeroLag {
    fn lines(&self) -> &'static [&'static str] {
        &["ec"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.step(bar.close);
    }
    fn min_period(&self) -> usize {
        self.period
    }
}

/// DicksonMovingAverage(period, gainlimit, hperiod) = (EC + HMA(hperiod)) / 2. Lines: `dma`.
/// Min period: the larger of the two.
#[derive(Clone)]
pub struct Dma {
    ec: ZeroLag,
    hma: Hma,
}

impl Dma {
    /// The Dickson moving average of the input (`hperiod` ≥ 2).
    pub fn new(period: usize, gainlimit: usize, hperiod: usize) -> Self {
        Dma { ec: ZeroLag::new(period, gainlimit), hma: Hma::new(hperiod) }
    }
}

impl Indicator for Dma {
    fn lines(&self) -> &'static [&'static str] {
        &["dma"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let ec = self.ec.step(bar.close);
        let h = feed(&mut self.hma, bar.close);
        out[0] = (ec + h) / 2.0;
    }
    fn min_period(&self) -> usize {
        self.ec.period.max(self.hma.min_period())
    }
}
