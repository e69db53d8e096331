//! Wilder's parabolic stop-and-reverse (Backtrader `ParabolicSAR`, alias `PSAR`).
//!
//! Started on the second bar as Backtrader does: the SAR is the bar's midpoint and the trend the
//! opposite of the close's move (so it reverses at once), with the previous bar's low (rising
//! close) or high as the extreme. Each bar: a price through the SAR reverses the trend (the SAR
//! jumps to the extreme, the factor resets to `af`); the extreme and the factor (+`af`, at most
//! `afmax`) follow new highs (long) or lows (short); the next SAR `sar + af·(ep − sar)` is kept
//! below the last two lows (long) or above the last two highs (short).

use super::{Indicator, Ohlcv};

/// ParabolicSAR(period, af, afmax). Lines: `psar` (the SAR in force on the bar). Min period:
/// `period` (≥ 2; values are computed from the second bar and shown from bar `period`).
#[derive(Clone)]
pub struct ParabolicSar {
    period: usize,
    af0: f64,
    afmax: f64,
    seen: usize,
    prev: Option<Ohlcv>,
    /// long?, sar, extreme, factor — for the coming bar
    state: Option<(bool, f64, f64, f64)>,
}

impl ParabolicSar {
    /// The SAR with acceleration `af` per new extreme up to `afmax`.
    pub fn new(period: usize, af: f64, afmax: f64) -> Self {
        ParabolicSar { period: period.max(2), af0: af, afmax, seen: 0, prev: None, state: None }
    }
}

impl Indicator for ParabolicSar {
    fn lines(&self) -> &'static [&'static str] {
        &["psar"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.seen += 1;
        out[0] = f64::NAN;
        let Some(prev) = self.prev.replace(*bar) else { return };
        let (hi, lo) = (bar.high, bar.low);
        let (tr0, sar0, ep0, af0) = *self.state.get_or_insert_with(|| {
            // the seed: the trend opposite to the close's move, reversed below at once
            let up = bar.close >= prev.close;
            (!up, (hi + lo) / 2.0, if up { prev.low } else { prev.high }, self.af0)
        });
        let (mut tr, mut sar, mut ep, mut af) = (tr0, sar0, ep0, af0);
        if (tr && sar >= lo) || (!tr && sar <= hi) {
            tr = !tr;
            sar = ep0;
            ep = if tr { hi } else { lo };
            af = self.af0;
        }
        if self.seen >= self.period {
            out[0] = sar;
        }
        if tr {
            if hi > ep {
                ep = hi;
                af = (af + self.af0).min(self.afmax);
            }
        } else if lo < ep {
            ep = lo;
            af = (af + self.af0).min(self.afmax);
        }
        sar += af * (ep - sar);
        if tr {
            if sar > lo || sar > prev.low {
                sar = lo.min(prev.low);
            }
        } else if sar < hi || sar < prev.high {
            sar = hi.max(prev.high);
        }
        self.state = Some((tr, sar, ep, af));
    }
    fn min_period(&self) -> usize {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_rising_market() {
        // highs 10, 11, 12, 13; lows 9, 10, 11, 12; closes rising
        let bar = |h: f64| Ohlcv { open: h - 0.5, high: h, low: h - 1.0, close: h - 0.5, volume: 1.0 };
        let mut s = ParabolicSar::new(2, 0.02, 0.2);
        let mut out = [0.0];
        let mut got = Vec::new();
        for h in [10.0, 11.0, 12.0, 13.0] {
            s.next(&bar(h), &mut out);
            got.push(out[0]);
        }
        assert!(got[0].is_nan());
        // bar 2: seeded short at the midpoint 10.5 ≤ high 11 → reverses long at the extreme
        // (bar 1's low 9); ep = 11 (then no new high on this bar), af 0.02
        assert_eq!(got[1], 9.0);
        // next sar = 9 + 0.02·(11 − 9) = 9.04, under both lows (10, 9)? min(10, 9) = 9 → 9
        assert_eq!(got[2], 9.0);
        // bar 3 makes a new high 12: af 0.04, sar = 9 + 0.04·(12 − 9) = 9.12 (below lows 11, 10)
        assert!((got[3] - 9.12).abs() < 1e-12, "{got:?}");
    }
}
