//! `ordered_sink`: gathers a stream on worker 0 and hands it over in a deterministic order.
//!
//! - **Input**: any stream of `D`.
//! - **Output**: none; `emit(time, records)` is called on worker 0 for each timestamp, in time
//!   order, once the input frontier has passed it, with the records sorted by `key`.
//! - **Partitioning**: every record is exchanged to worker 0 (global index 0, also across
//!   processes), which makes files byte-identical for any number of workers and processes.
//! - **Frontier rule**: a timestamp is released when the frontier no longer includes it.
//! - **State**: records of timestamps not yet released.

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::ExchangeData;

/// Extension trait for deterministic sinks.
pub trait OrderedSink<D> {
    /// See the module documentation.
    fn ordered_sink<K, KF, E>(self, name: &str, key: KF, emit: E)
    where
        K: Ord,
        KF: FnMut(&D) -> K + 'static,
        E: FnMut(u64, &mut Vec<D>) + 'static;
}

impl<'scope, D: ExchangeData> OrderedSink<D> for StreamVec<'scope, u64, D> {
    fn ordered_sink<K, KF, E>(self, name: &str, mut key: KF, mut emit: E)
    where
        K: Ord,
        KF: FnMut(&D) -> K + 'static,
        E: FnMut(u64, &mut Vec<D>) + 'static,
    {
        let mut stash: BTreeMap<u64, Vec<D>> = BTreeMap::new();
        self.sink(Exchange::new(|_: &D| 0u64), name, move |(input, frontier)| {
            input.for_each_stamp(|cap, data| {
                if let Some(&t) = cap.least() {
                    let v = stash.entry(t).or_default();
                    for batch in data {
                        v.append(batch);
                    }
                }
            });
            while let Some((&t, _)) = stash.first_key_value() {
                if frontier.less_equal(&t) {
                    break;
                }
                let mut v = stash.remove(&t).unwrap_or_default();
                v.sort_by_key(&mut key);
                emit(t, &mut v);
            }
        });
    }
}
