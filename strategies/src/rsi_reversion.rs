//! RSI mean reversion, long only: buy when RSI falls below `lower`, close when it rises above
//! `upper`.

use tickflow_model::Bar;
use tickflow_operators::indicators::{Indicator, Ohlcv, Rsi};

use crate::{Ctx, Strategy, StrategyError};

/// `rsi_reversion` with params `period`, `lower`, `upper`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RsiReversion {
    rsi: Rsi,
    lower: f64,
    upper: f64,
    out: [f64; 1],
}

impl RsiReversion {
    /// Thresholds in RSI points, `lower < upper ≤ 100`.
    pub fn new(period: usize, lower: f64, upper: f64) -> Result<Self, StrategyError> {
        if !(lower < upper && upper <= 100.0) {
            return Err(StrategyError::Config(format!("rsi_reversion needs lower < upper <= 100 (got {lower}, {upper})")));
        }
        Ok(RsiReversion { rsi: Rsi::new(period), lower, upper, out: [f64::NAN] })
    }
}

impl Strategy for RsiReversion {
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.rsi.next(&Ohlcv::from_bar(bar), &mut self.out);
        let r = self.out[0];
        if r.is_nan() {
            return;
        }
        if ctx.position().is_zero() {
            if r < self.lower {
                ctx.buy();
            }
        } else if r > self.upper {
            ctx.close();
        }
    }
}
