//! Backtrader's basic operations over a line: `SumN` (exactly rounded sum over a period),
//! `PercentRank` (share of the window below its newest value), `UpMove` and `DownMove` (the
//! change against the previous value, Wilder's directional-movement inputs).

use super::core::fsum;
use super::{Indicator, Ohlcv, Window};

/// SumN(period): `math.fsum` of the last `period` values. Lines: `sumn`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SumN {
    w: Window,
}

impl SumN {
    /// The running sum of the input.
    pub fn new(period: usize) -> Self {
        SumN { w: Window::new(period) }
    }
}

impl Indicator for SumN {
    fn lines(&self) -> &'static [&'static str] {
        &["sumn"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        out[0] = if self.w.full() { fsum(self.w.iter()) } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// PercentRank(period): the share of the last `period` values (the newest included) that are
/// below the newest. Lines: `pctrank`. Min period: `period`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct PercentRank {
    w: Window,
}

impl PercentRank {
    /// The percent rank of the input.
    pub fn new(period: usize) -> Self {
        PercentRank { w: Window::new(period) }
    }
}

impl Indicator for PercentRank {
    fn lines(&self) -> &'static [&'static str] {
        &["pctrank"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let x = bar.close;
        self.w.push(x);
        out[0] = if self.w.full() { fsum(self.w.iter().map(|v| if v < x { 1.0 } else { 0.0 })) / self.w.len() as f64 } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// UpMove (`x − x[−1]`) or DownMove (`x[−1] − x`). Lines: `upmove` / `downmove`. Min period: 2.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Move {
    prev: Option<f64>,
    down: bool,
}

impl Move {
    /// Backtrader's `UpMove`.
    pub fn up() -> Self {
        Move { prev: None, down: false }
    }
    /// Backtrader's `DownMove`.
    pub fn down() -> Self {
        Move { prev: None, down: true }
    }
}

impl Indicator for Move {
    fn lines(&self) -> &'static [&'static str] {
        if self.down {
            &["downmove"]
        } else {
            &["upmove"]
        }
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let x = bar.close;
        out[0] = match self.prev.replace(x) {
            None => f64::NAN,
            Some(p) if self.down => p - x,
            Some(p) => x - p,
        };
    }
    fn min_period(&self) -> usize {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ind: &mut dyn Indicator, xs: &[f64]) -> Vec<f64> {
        let mut out = [0.0];
        xs.iter()
            .map(|&c| {
                ind.next(&Ohlcv { open: c, high: c, low: c, close: c, volume: 0.0 }, &mut out);
                out[0]
            })
            .collect()
    }

    #[test]
    fn hand_computed() {
        let xs = [3.0, 1.0, 2.0, 5.0, 5.0];
        let s = run(&mut SumN::new(3), &xs);
        assert!(s[1].is_nan());
        assert_eq!(&s[2..], &[6.0, 8.0, 12.0]);
        let r = run(&mut PercentRank::new(3), &xs);
        assert_eq!(&r[2..], &[1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(&run(&mut Move::up(), &xs)[1..], &[-2.0, 1.0, 3.0, 0.0]);
        assert_eq!(&run(&mut Move::down(), &xs)[1..], &[2.0, -1.0, -3.0, 0.0]);
    }
}
