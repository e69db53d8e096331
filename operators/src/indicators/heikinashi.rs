//! Heikin-Ashi candles (Backtrader `HeikinAshi`): `ha_close = (open + high + low + close) / 4`,
//! `ha_open = (ha_open[−1] + ha_close[−1]) / 2` seeded with `(open + close) / 2` on the first bar,
//! `ha_high = max(high, ha_open, ha_close)`, `ha_low = min(low, ha_open, ha_close)` (from the
//! second bar, as Backtrader).

use super::{Indicator, Ohlcv};

/// HeikinAshi. Lines: `ha_open, ha_high, ha_low, ha_close`. Min period: 2.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct HeikinAshi {
    prev: Option<(f64, f64)>,
}

impl HeikinAshi {
    /// Heikin-Ashi of the bars.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for HeikinAshi {
    fn lines(&self) -> &'static [&'static str] {
        &["ha_open", "ha_high", "ha_low", "ha_close"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let ha_close = (bar.open + bar.high + bar.low + bar.close) / 4.0;
        let (ha_open, high, low) = match self.prev {
            None => ((bar.open + bar.close) / 2.0, f64::NAN, f64::NAN),
            Some((po, pc)) => {
                let o = (po + pc) / 2.0;
                (o, bar.high.max(o).max(ha_close), bar.low.min(o).min(ha_close))
            }
        };
        self.prev = Some((ha_open, ha_close));
        out.copy_from_slice(&[ha_open, high, low, ha_close]);
    }
    fn min_period(&self) -> usize {
        2
    }
}
