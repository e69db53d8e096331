//! Backtrader's moving-average families: every average `X` of its test suite has an
//! `XOscillator` (`osc = data − X(data)`, line named like the average) and an `XEnvelope`
//! (`X(data)` with bands `perc` percent above and below; lines `x, top, bot`).
//!
//! Registered as `smaosc`, `emaosc`, …, `smaenvelope`, `emaenvelope`, … (one [`MaKind`] each).

use super::core::feed;
use super::{Dema, Ema, Indicator, Kama, Ohlcv, Sma, Smma, Tema, Wma};

/// The moving averages that have an oscillator and an envelope.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MaKind {
    /// Simple.
    Sma,
    /// Exponential.
    Ema,
    /// Weighted.
    Wma,
    /// Smoothed (Wilder).
    Smma,
    /// Double exponential.
    Dema,
    /// Triple exponential.
    Tema,
    /// Kaufman adaptive (`fast`, `slow`).
    Kama,
}

impl MaKind {
    /// A fresh average (`fast`/`slow` are read by KAMA only).
    pub fn make(self, period: usize, fast: usize, slow: usize) -> Box<dyn Indicator> {
        match self {
            MaKind::Sma => Box::new(Sma::new(period)),
            MaKind::Ema => Box::new(Ema::new(period)),
            MaKind::Wma => Box::new(Wma::new(period)),
            MaKind::Smma => Box::new(Smma::new(period)),
            MaKind::Dema => Box::new(Dema::new(period)),
            MaKind::Tema => Box::new(Tema::new(period)),
            MaKind::Kama => Box::new(Kama::new(period, fast, slow)),
        }
    }
    fn osc_lines(self) -> &'static [&'static str] {
        match self {
            MaKind::Sma => &["sma"],
            MaKind::Ema => &["ema"],
            MaKind::Wma => &["wma"],
            MaKind::Smma => &["smma"],
            MaKind::Dema => &["dema"],
            MaKind::Tema => &["tema"],
            MaKind::Kama => &["kama"],
        }
    }
    fn envelope_lines(self) -> &'static [&'static str] {
        match self {
            MaKind::Sma => &["sma", "top", "bot"],
            MaKind::Ema => &["ema", "top", "bot"],
            MaKind::Wma => &["wma", "top", "bot"],
            MaKind::Smma => &["smma", "top", "bot"],
            MaKind::Dema => &["dema", "top", "bot"],
            MaKind::Tema => &["tema", "top", "bot"],
            MaKind::Kama => &["kama", "top", "bot"],
        }
    }
}

/// `XOscillator`: the input minus its average. Lines: the average's name. Min period: the
/// average's.
#[derive(Clone)]
pub struct MaOscillator {
    kind: MaKind,
    ma: Box<dyn Indicator>,
}

impl MaOscillator {
    /// The oscillator of the input around its `kind` average.
    pub fn new(kind: MaKind, period: usize, fast: usize, slow: usize) -> Self {
        MaOscillator { kind, ma: kind.make(period, fast, slow) }
    }
}

impl Indicator for MaOscillator {
    fn lines(&self) -> &'static [&'static str] {
        self.kind.osc_lines()
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = bar.close - feed(self.ma.as_mut(), bar.close);
    }
    fn min_period(&self) -> usize {
        self.ma.min_period()
    }
}

/// `XEnvelope`: the input's average with bands `perc` percent above and below. Lines: the
/// average's name, `top`, `bot`. Min period: the average's.
#[derive(Clone)]
pub struct MaEnvelope {
    kind: MaKind,
    ma: Box<dyn Indicator>,
    perc: f64,
}

impl MaEnvelope {
    /// The envelope of the input's `kind` average.
    pub fn new(kind: MaKind, period: usize, fast: usize, slow: usize, perc: f64) -> Self {
        MaEnvelope { kind, ma: kind.make(period, fast, slow), perc: perc / 100.0 }
    }
}

impl Indicator for MaEnvelope {
    fn lines(&self) -> &'static [&'static str] {
        self.kind.envelope_lines()
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let m = feed(self.ma.as_mut(), bar.close);
        out[0] = m;
        out[1] = m * (1.0 + self.perc);
        out[2] = m * (1.0 - self.perc);
    }
    fn min_period(&self) -> usize {
        self.ma.min_period()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oscillator_and_envelope_follow_their_average() {
        let bars: Vec<f64> = vec![10.0, 12.0, 11.0, 13.0];
        let mut osc = MaOscillator::new(MaKind::Sma, 2, 2, 30);
        let mut env = MaEnvelope::new(MaKind::Sma, 2, 2, 30, 10.0);
        let (mut o, mut e) = ([0.0], [0.0; 3]);
        let mut got = Vec::new();
        for c in bars {
            let b = Ohlcv { open: c, high: c, low: c, close: c, volume: 0.0 };
            osc.next(&b, &mut o);
            env.next(&b, &mut e);
            got.push((o[0], e));
        }
        assert!(got[0].0.is_nan() && got[0].1.iter().all(|v| v.is_nan()));
        assert_eq!(got[1].0, 12.0 - 11.0);
        assert_eq!(got[3].1, [12.0, 12.0 * 1.1, 12.0 * 0.9]);
        assert_eq!((osc.lines(), env.lines()), (&["sma"][..], &["sma", "top", "bot"][..]));
    }
}
