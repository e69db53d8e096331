//! Shared building blocks: a fixed window, an exactly rounded sum, exponential smoothing.

use std::collections::VecDeque;

/// The last `n` values.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Window {
    n: usize,
    v: VecDeque<f64>,
}

impl Window {
    /// A window of `n ≥ 1` values.
    pub fn new(n: usize) -> Self {
        Window { n: n.max(1), v: VecDeque::with_capacity(n.max(1) + 1) }
    }
    /// Pushes a value, dropping the oldest when full.
    #[inline]
    pub fn push(&mut self, x: f64) {
        if self.v.len() == self.n {
            self.v.pop_front();
        }
        self.v.push_back(x);
    }
    /// True once `n` values were pushed.
    #[inline]
    pub fn full(&self) -> bool {
        self.v.len() == self.n
    }
    /// Values, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = f64> + ExactSizeIterator + '_ {
        self.v.iter().copied()
    }
    /// The value `ago` pushes back (0 = newest).
    pub fn ago(&self, ago: usize) -> Option<f64> {
        self.v.len().checked_sub(1 + ago).map(|i| self.v[i])
    }
    /// Capacity.
    pub fn len(&self) -> usize {
        self.n
    }
    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }
    /// Maximum of the values.
    pub fn max(&self) -> f64 {
        self.v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
    /// Minimum of the values.
    pub fn min(&self) -> f64 {
        self.v.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// The correctly rounded sum of `xs` (Shewchuk's algorithm, as Python's `math.fsum`).
pub fn fsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::with_capacity(8);
    for mut x in xs {
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    // sum the partials from the top, rounding once (CPython's final step)
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        let yr = x - hi;
        if y == yr {
            hi = x;
        }
    }
    hi
}

/// Exponential smoothing seeded with the simple average of the first `period` inputs:
/// `av = prev * (1 - alpha) + x * alpha` (Backtrader's `ExponentialSmoothing`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ExpSmoothing {
    period: usize,
    alpha: f64,
    alpha1: f64,
    seed: Vec<f64>,
    value: Option<f64>,
}

impl ExpSmoothing {
    /// EMA: `alpha = 2 / (1 + period)`.
    pub fn ema(period: usize) -> Self {
        Self::with_alpha(period, 2.0 / (1.0 + period as f64))
    }
    /// Wilder's SMMA: `alpha = 1 / period`.
    pub fn smma(period: usize) -> Self {
        Self::with_alpha(period, 1.0 / period as f64)
    }
    /// Any smoothing factor.
    pub fn with_alpha(period: usize, alpha: f64) -> Self {
        let period = period.max(1);
        ExpSmoothing { period, alpha, alpha1: 1.0 - alpha, seed: Vec::with_capacity(period), value: None }
    }
    /// Folds `x`; the value once `period` inputs were seen.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        self.value = match self.value {
            Some(prev) => Some(prev * self.alpha1 + x * self.alpha),
            None => {
                self.seed.push(x);
                if self.seed.len() == self.period {
                    Some(fsum(self.seed.drain(..)) / self.period as f64)
                } else {
                    None
                }
            }
        };
        self.value
    }
}

/// Feeds `x` to a one-line indicator as a bar (`x` for open, high, low and close, no volume);
/// its value (NaN while it warms up). Derived indicators build on plain ones this way.
pub(crate) fn feed(ind: &mut dyn super::Indicator, x: f64) -> f64 {
    let mut out = [f64::NAN];
    ind.next(&super::Ohlcv { open: x, high: x, low: x, close: x, volume: 0.0 }, &mut out);
    out[0]
}

/// [`feed`], unless `x` is NaN (a part still warming up): then NaN, and the indicator is not fed.
pub(crate) fn feed_valid(ind: &mut dyn super::Indicator, x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else {
        feed(ind, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsum_is_correctly_rounded() {
        assert_eq!(fsum([0.1; 10]), 1.0);
        assert_eq!(fsum([1e100, 1.0, -1e100, 1e-100]), 1.0);
        assert_eq!(fsum([]), 0.0);
        let naive: f64 = [0.1; 10].iter().sum();
        assert_ne!(naive, 1.0);
    }

    #[test]
    fn window_and_smoothing() {
        let mut w = Window::new(3);
        for x in [1.0, 5.0, 2.0, 4.0] {
            w.push(x);
        }
        assert!(w.full());
        assert_eq!((w.max(), w.min(), w.ago(0), w.ago(2), w.ago(3)), (5.0, 2.0, Some(4.0), Some(5.0), None));
        let mut e = ExpSmoothing::ema(3);
        assert_eq!(e.next(1.0), None);
        assert_eq!(e.next(2.0), None);
        assert_eq!(e.next(3.0), Some(2.0));
        assert_eq!(e.next(4.0), Some(2.0 * 0.5 + 4.0 * 0.5));
    }
}
