//! SMA crossover entries protected by a bracket: on a cross up, buy at market with a stop-loss
//! `stop` below and a take-profit `limit` above the signal bar's close (fractions: 0.05 = 5%).

use tickflow_model::{Bar, Decimal};
use tickflow_operators::indicators::{CrossSignal, Sma};

use crate::{Ctx, Strategy, StrategyError};

/// `bracket_cross` with params `fast`, `slow`, `stop`, `limit`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BracketCross {
    fast: Sma,
    slow: Sma,
    cross: CrossSignal,
    stop: Decimal,
    limit: Decimal,
}

impl BracketCross {
    /// Entries on SMA(fast)/SMA(slow) cross-ups; exits at −`stop` / +`limit`.
    pub fn new(fast: usize, slow: usize, stop: f64, limit: f64) -> Result<Self, StrategyError> {
        if fast >= slow || stop >= 1.0 {
            return Err(StrategyError::Config("bracket_cross needs fast < slow and stop < 1".into()));
        }
        let d = |x: f64| Decimal::from_f64_lossy(x).ok_or_else(|| StrategyError::Config(format!("bad fraction {x}")));
        Ok(BracketCross { fast: Sma::new(fast), slow: Sma::new(slow), cross: CrossSignal::new(), stop: d(stop)?, limit: d(limit)? })
    }
}

impl Strategy for BracketCross {
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let c = bar.close.to_f64();
        let (Some(f), Some(s)) = (self.fast.push(c), self.slow.push(c)) else { return };
        let Some(x) = self.cross.update(f, s) else { return };
        if x > 0.0 && ctx.position().is_zero() && ctx.open_orders() == 0 {
            let one = Decimal::ONE;
            let stop = bar.close.checked_mul(one - self.stop).unwrap_or(bar.close);
            let limit = bar.close.checked_mul(one + self.limit).unwrap_or(bar.close);
            ctx.buy_bracket(stop, limit);
        }
    }
}
