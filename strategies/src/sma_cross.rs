//! SMA crossover, long only: buy on a cross up of SMA(fast) over SMA(slow), close on a cross
//! down (Backtrader's canonical `SmaCross`).

use tickflow_model::Bar;
use tickflow_operators::indicators::{CrossSignal, Sma};

use crate::{Ctx, Strategy, StrategyError};

/// `sma_cross` with params `fast`, `slow`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SmaCross {
    fast: Sma,
    slow: Sma,
    cross: CrossSignal,
}

impl SmaCross {
    /// A crossover of SMA(fast) and SMA(slow); `fast < slow`.
    pub fn new(fast: usize, slow: usize) -> Result<Self, StrategyError> {
        if fast >= slow {
            return Err(StrategyError::Config(format!("sma_cross needs fast < slow (got fast={fast}, slow={slow})")));
        }
        Ok(SmaCross { fast: Sma::new(fast), slow: Sma::new(slow), cross: CrossSignal::new() })
    }
}

impl Strategy for SmaCross {
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let c = bar.close.to_f64();
        let (Some(f), Some(s)) = (self.fast.push(c), self.slow.push(c)) else { return };
        let Some(x) = self.cross.update(f, s) else { return };
        if ctx.position().is_zero() {
            if x > 0.0 {
                ctx.buy();
            }
        } else if x < 0.0 {
            ctx.close();
        }
    }
}
