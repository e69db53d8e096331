//! Bollinger breakout, long only: buy when the close breaks above the top band, close when it
//! falls back below the middle band.

use tickflow_model::Bar;
use tickflow_operators::indicators::{BollingerBands, Indicator, Ohlcv};

use crate::{Ctx, Strategy};

/// `bollinger_breakout` with params `period`, `devfactor`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BollingerBreakout {
    bb: BollingerBands,
    out: [f64; 3],
}

impl BollingerBreakout {
    /// Bands of `period` bars, `devfactor` deviations wide.
    pub fn new(period: usize, devfactor: f64) -> Self {
        BollingerBreakout { bb: BollingerBands::new(period, devfactor), out: [f64::NAN; 3] }
    }
}

impl Strategy for BollingerBreakout {
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.bb.next(&Ohlcv::from_bar(bar), &mut self.out);
        let [mid, top, _] = self.out;
        if mid.is_nan() {
            return;
        }
        let c = bar.close.to_f64();
        if ctx.position().is_zero() {
            if c > top {
                ctx.buy();
            }
        } else if c < mid {
            ctx.close();
        }
    }
}
