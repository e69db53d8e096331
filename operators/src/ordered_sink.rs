//! `ordered_sink`: gathers a stream on worker 0 and hands it over in a deterministic order.
//!
//! - **Input**: any stream of `D`.
//! - **Output**: none; `emit(time, records)` is called on worker 0 for each timestamp, in time
//!   order, once the input frontier has passed it, with the records sorted by `key`.
//! - **Partitioning**: every record is exchanged to worker 0 (global index 0, also across
//!   processes), which makes files byte-identical for any number of workers and processes.
//! - **Frontier rule**: a timestamp is released when the frontier no longer includes it;
//!   `ordered_sink_with` then also hands the frontier to its `after` callback.
//! - **State**: records of timestamps not yet released.
//!
//! # Example
//!
//! Records sent at times 1 and 5, out of key order: each time is released once the input has
//! passed it, with its records sorted by key:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use timely::dataflow::operators::Input;
//! use tickflow_operators::OrderedSink;
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! timely::execute_directly(move |worker| {
//!     let watch = sink.clone();
//!     let mut input = worker.dataflow::<u64, _, _>(|scope| {
//!         let (input, stream) = scope.new_input::<Vec<(u32, String)>>();
//!         stream.ordered_sink("Sink", |r: &(u32, String)| r.0, move |time, records| {
//!             sink.lock().unwrap().push((time, std::mem::take(records)));
//!         });
//!         input
//!     });
//!     input.advance_to(1);
//!     input.send((2, "b".to_string()));
//!     input.send((1, "a".to_string()));
//!     worker.step();
//!     assert!(watch.lock().unwrap().is_empty(), "time 1 is still open: nothing is released");
//!     input.advance_to(5);
//!     worker.step_while(|| watch.lock().unwrap().is_empty());
//!     input.send((9, "z".to_string()));
//!     input.send((3, "y".to_string()));
//!     // the input closes when the closure returns; the rest is released then
//! });
//! assert_eq!(
//!     *seen.lock().unwrap(),
//!     vec![
//!         (1, vec![(1, "a".to_string()), (2, "b".to_string())]),
//!         (5, vec![(3, "y".to_string()), (9, "z".to_string())]),
//!     ]
//! );
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::frontier::AntichainRef;
use timely::ExchangeData;

/// Extension trait for deterministic sinks.
pub trait OrderedSink<D> {
    /// See the module documentation.
    fn ordered_sink<K, KF, E>(self, name: &str, key: KF, emit: E)
    where
        K: Ord,
        KF: FnMut(&D) -> K + 'static,
        E: FnMut(u64, &mut Vec<D>) + 'static;

    /// [`Self::ordered_sink`], and after each activation `after(frontier)` with the input
    /// frontier at that point (every released timestamp is before it). `after` returning
    /// `Some(d)` asks to be activated again after `d` even if no input arrives (a sink that
    /// flushes on a timer).
    fn ordered_sink_with<K, KF, E, A>(self, name: &str, key: KF, emit: E, after: A)
    where
        K: Ord,
        KF: FnMut(&D) -> K + 'static,
        E: FnMut(u64, &mut Vec<D>) + 'static,
        A: FnMut(AntichainRef<'_, u64>) -> Option<Duration> + 'static;
}

impl<'scope, D: ExchangeData> OrderedSink<D> for StreamVec<'scope, u64, D> {
    fn ordered_sink<K, KF, E>(self, name: &str, key: KF, emit: E)
    where
        K: Ord,
        KF: FnMut(&D) -> K + 'static,
        E: FnMut(u64, &mut Vec<D>) + 'static,
    {
        self.ordered_sink_with(name, key, emit, |_| None);
    }

    fn ordered_sink_with<K, KF, E, A>(self, name: &str, mut key: KF, mut emit: E, mut after: A)
    where
        K: Ord,
        KF: FnMut(&D) -> K + 'static,
        E: FnMut(u64, &mut Vec<D>) + 'static,
        A: FnMut(AntichainRef<'_, u64>) -> Option<Duration> + 'static,
    {
        let scope = self.scope();
        let mut stash: BTreeMap<u64, Vec<D>> = BTreeMap::new();
        self.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Exchange::new(|_: &D| 0u64), name, move |cap, info| {
            drop(cap); // no output
            let activator = scope.activator_for(info.address);
            move |(input, frontier), _output| {
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
                if let Some(d) = after(frontier.frontier()) {
                    activator.activate_after(d);
                }
            }
        });
    }
}
