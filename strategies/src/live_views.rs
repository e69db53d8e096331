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

/// Turns selected events into differential updates `(data, time, diff)` with a stateful mapper.
fn updates<'scope, D, S, F>(events: StreamVec<'scope, u64, BacktestEvent>, name: &str, mut state: S, mut f: F) -> VecCollection<'scope, u64, D>
where
    D: timely::ExchangeData + Clone,
    S: 'static,
    F: FnMut(&mut S, &BacktestEvent, u64, &mut Vec<(D, u64, isize)>) + 'static,
{
    events
        .unary::<CapacityContainerBuilder<Vec<(D, u64, isize)>>, _, _, _>(Pipeline, name, move |_cap, _info| {
            let mut buf = Vec::new();
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    for batch in data {
                        for e in batch.iter() {
                            f(&mut state, e, t, &mut buf);
                        }
                    }
                    output.session(&cap).give_iterator(buf.drain(..));
                });
            }
        })
        .as_collection()
}

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
        let values = updates(self, "EquityChanges", HashMap::<u32, i64>::new(), |last, e, t, out| {
            if let BacktestEvent::Equity(run, p) = e {
                let v = (p.value.mantissa() / MICROS).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                match last.insert(*run, v) {
                    Some(old) if old == v => {}
                    Some(old) => {
                        out.push(((*run, old), t, -1));
                        out.push(((*run, v), t, 1));
                    }
                    None => out.push(((*run, v), t, 1)),
                }
            }
        });
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
        let fills = updates(self, "Fills", (), |_, e, t, out| {
            if let BacktestEvent::Fill(run, f) = e {
                let notional = f.size.checked_mul(f.price).map(|x| (x.mantissa() / MICROS) as i64).unwrap_or(i64::MAX);
                out.push(((*run, f.instrument, notional), t, 1));
            }
        });
        let counts = fills.clone().map(|(run, inst, _)| (run, inst)).count();
        let notional = fills.explode(|(run, inst, n)| Some(((run, inst), n as isize))).count();
        (counts, notional)
    }
}
