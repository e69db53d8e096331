//! Bill Williams' fractals (Backtrader `bt.studies.Fractal`).
//!
//! A bearish fractal is a high that is the highest of the `period` bars around it (the first of
//! equal highs), a bullish one a low that is the lowest; the line carries the extreme moved
//! `bardist` (a fraction) away from the bar: `high·(1 + bardist)` / `low·(1 − bardist)`, NaN on
//! bars that are none.
//!
//! **Causal form.** Backtrader writes the value back onto the middle bar (`shift_to_potential_fractal`
//! = 2 bars ago) once the bars after it exist. A stream cannot revise the past, so here the value
//! is emitted on the bar that confirms it: the line at bar *t* is Backtrader's line at bar
//! *t − 2* (where Backtrader writes it). Lines: `fractal_bearish, fractal_bullish`. Min period:
//! `period` (a sparse line: NaN where there is no fractal).

use super::{Indicator, Ohlcv, Window};

/// Fractal(period, bardist, shift_to_potential_fractal).
#[derive(Clone)]
pub struct Fractal {
    highs: Window,
    lows: Window,
    bardist: f64,
    shift: usize,
}

impl Fractal {
    /// Fractals over `period` bars, the candidate `shift` bars after the window's oldest.
    pub fn new(period: usize, bardist: f64, shift: usize) -> Self {
        Fractal { highs: Window::new(period), lows: Window::new(period), bardist, shift }
    }
}

/// Index (oldest = 0) of the first extreme by `better`.
fn first_extreme(w: &Window, better: impl Fn(f64, f64) -> bool) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, x) in w.iter().enumerate() {
        if best.is_none_or(|(_, b)| better(x, b)) {
            best = Some((i, x));
        }
    }
    best
}

impl Indicator for Fractal {
    fn lines(&self) -> &'static [&'static str] {
        &["fractal_bearish", "fractal_bullish"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.highs.push(bar.high);
        self.lows.push(bar.low);
        out[0] = f64::NAN;
        out[1] = f64::NAN;
        if !self.highs.full() {
            return;
        }
        if let Some((i, h)) = first_extreme(&self.highs, |x, b| x > b) {
            if i == self.shift {
                out[0] = h * (1.0 + self.bardist);
            }
        }
        if let Some((i, l)) = first_extreme(&self.lows, |x, b| x < b) {
            if i == self.shift {
                out[1] = l * (1.0 - self.bardist);
            }
        }
    }
    fn min_period(&self) -> usize {
        self.highs.len()
    }
}
