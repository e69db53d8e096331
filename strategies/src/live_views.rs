//! Views maintained incrementally with differential dataflow as backtest events arrive.
//!
//! - [`LiveViews::leaderboard`]: the top runs of a sweep by current portfolio value. Every
//!   equity point retracts the run's previous value and asserts the new one, and a `reduce`
//!   keeps the ranking up to date — the same collection a live paper-trading session watches
//!   change bar by bar.
//! - [`LiveViews::fill_totals`]: per (run, instrument) number of fills and traded notional,
//!   maintained by `count` over exploded fills.
//!
//! - **Partitioning**: equity retractions are formed on the worker that owns the run (where its
//!   events are produced); the leaderboard reduces everything under one key, fill totals are
//!   keyed by (run, instrument).
//! - **Frontier rule**: differential's — a collection's contents at time `t` are final once the
//!   frontier passes `t`.
//! - **State**: the last value per run (retractions), and differential's arrangements.

use std::collections::HashMap;

use differential_dataflow::{AsCollection, VecCollection};
use tickflow_model::Instrument;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::BacktestEvent;

/// Values in the views are integers: money in micro-units (value × 10⁶, truncated).
pub const MICROS: i128 = 1_000;

/// Extension trait over backtest event streams.
pub trait LiveViews<'scope> {
    /// `(rank, run, value_micros)` of the `top` most valuable runs (rank 1 = highest value; ties
    /// broken by lower run index).
    fn leaderboard(self, top: usize) -> VecCollection<'scope, u64, (u32, u32, i64)>;
    /// `((run, instrument), fills)` and `((run, instrument), notional_micros)`.
    #[allow(clippy::type_complexity)]
    fn fill_totals(self) -> (VecCollection<'scope, u64, ((u32, Instrument), isize)>, VecCollection<'scope, u64, ((u32, Instrument), isize)>);
}

impl<'scope> LiveViews<'scope> for StreamVec<'scope, u64, BacktestEvent> {
    fn leaderboard(self, top: usize) -> VecCollection<'scope, u64, (u32, u32, i64)> {
        let values = self
            .unary::<CapacityContainerBuilder<Vec<((u32, i64), u64, isize)>>, _, _, _>(Pipeline, "EquityChanges", |_cap, _info| {
                let mut last: HashMap<u32, i64> = HashMap::new();
                move |input, output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        let mut session = output.session(&cap);
                        for batch in data {
                            for e in batch.iter() {
                                if let BacktestEvent::Equity(run, p) = e {
                                    let v = (p.value.mantissa() / MICROS).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                                    match last.insert(*run, v) {
                                        Some(old) if old == v => {}
                                        Some(old) => {
                                            session.give(((*run, old), t, -1));
                                            session.give(((*run, v), t, 1));
                                        }
                                        None => session.give(((*run, v), t, 1)),
                                    }
                                }
                            }
                        }
                    });
                }
            })
            .as_collection();
        values
            .map(|(run, v)| ((), (std::cmp::Reverse(v), run)))
            .reduce(move |_k, input, output: &mut Vec<((u32, u32, i64), isize)>| {
                // input is sorted by (Reverse(value), run): the most valuable first
                for (rank, ((std::cmp::Reverse(v), run), _)) in input.iter().take(top).enumerate() {
                    output.push(((rank as u32 + 1, *run, *v), 1));
                }
            })
            .map(|((), row)| row)
    }

    fn fill_totals(self) -> (VecCollection<'scope, u64, ((u32, Instrument), isize)>, VecCollection<'scope, u64, ((u32, Instrument), isize)>) {
        let fills = self
            .unary::<CapacityContainerBuilder<Vec<((u32, Instrument, i64), u64, isize)>>, _, _, _>(Pipeline, "Fills", |_cap, _info| {
                move |input, output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        let mut session = output.session(&cap);
                        for batch in data {
                            for e in batch.iter() {
                                if let BacktestEvent::Fill(run, f) = e {
                                    let notional = f.size.checked_mul(f.price).map(|x| (x.mantissa() / MICROS) as i64).unwrap_or(i64::MAX);
                                    session.give(((*run, f.instrument, notional), t, 1));
                                }
                            }
                        }
                    });
                }
            })
            .as_collection();
        let counts = fills.clone().map(|(run, inst, _)| (run, inst)).count();
        let notional = fills.explode(|(run, inst, n)| Some(((run, inst), n as isize))).count();
        (counts, notional)
    }
}
