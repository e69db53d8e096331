//! MACD trend, long only: buy when the MACD line crosses above its signal line, close when it
//! crosses below.

use tickflow_model::Bar;
use tickflow_operators::indicators::{CrossSignal, Indicator, Macd, Ohlcv};

use crate::{Ctx, Strategy};

/// `macd_trend` with params `period_me1`, `period_me2`, `period_signal`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MacdTrend {
    macd: Macd,
    cross: CrossSignal,
    out: [f64; 3],
}

impl MacdTrend {
    /// MACD(me1, me2, signal).
    pub fn new(me1: usize, me2: usize, signal: usize) -> Self {
        MacdTrend { macd: Macd::new(me1, me2, signal), cross: CrossSignal::new(), out: [f64::NAN; 3] }
    }
}

impl Strategy for MacdTrend {
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.macd.next(&Ohlcv::from_bar(bar), &mut self.out);
        let [m, s, _] = self.out;
        if s.is_nan() {
            return;
        }
        let Some(x) = self.cross.update(m, s) else { return };
        if ctx.position().is_zero() {
            if x > 0.0 {
                ctx.buy();
            }
        } else if x < 0.0 {
            ctx.close();
        }
    }
}
