//! Sinks: one operator per destination, each a [`Sink`] (what to write and how to make it
//! durable) inside one of two shells:
//!
//! - [`gathered`]: records are exchanged to worker 0 and handed over one timestamp at a time,
//!   in time order once the frontier has passed it, sorted by a key (files and the run report:
//!   byte-identical for any number of workers and processes);
//! - [`local`]: each worker writes the records it holds, as they arrive (Kafka topics and
//!   QuestDB tables: every key is produced on one worker, so per-key order holds, and the store
//!   deduplicates or compacts by key).
//!
//! Both shells call [`Sink::flush`] whenever the input frontier moves, and at least every
//! 250 ms while the sink reports buffered output (a quiet live source does not hold rows back),
//! and once more with `done` when the input ends. After a flush that leaves nothing buffered, the
//! sink's [`Durable`] frontier is the input frontier: everything at earlier times is written
//! for good. The runner reads every sink's [`Durable`] through [`SinkSet`] (offset commits and
//! checkpoints are taken from it). A failed write or flush is recorded in [`Health`] (the first
//! failure wins), and the runner stops the run on it.

pub mod events_file;
pub mod file;
pub mod kafka_topic;
pub mod questdb_table;
pub mod report;

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Result;
use tickflow_operators::OrderedSink;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::Antichain;
use timely::ExchangeData;

/// How often a sink with buffered output comes back to flush when its input is quiet.
const TICK: Duration = Duration::from_millis(250);

/// A destination.
pub trait Sink<D>: 'static {
    /// The sink's name in logs and errors.
    fn name(&self) -> String;
    /// Writes the records of one timestamp (a [`gathered`] sink: the whole timestamp, sorted;
    /// a [`local`] sink: this worker's records as they arrive).
    fn write(&mut self, time: u64, records: &mut Vec<D>) -> Result<()>;
    /// Makes what was written durable if it is due (every sink chooses its interval); with
    /// `done`, the input has ended: flush everything. Returns whether output stays buffered.
    fn flush(&mut self, done: bool) -> Result<bool>;
}

/// The frontier up to which a sink's output is durable (empty: all of it).
#[derive(Clone, Debug)]
pub struct Durable(Rc<RefCell<Antichain<u64>>>);

impl Default for Durable {
    fn default() -> Self {
        Durable(Rc::new(RefCell::new(Antichain::from_elem(0))))
    }
}

impl Durable {
    /// The current durable frontier.
    pub fn get(&self) -> Antichain<u64> {
        self.0.borrow().clone()
    }
    fn set(&self, f: Antichain<u64>) {
        *self.0.borrow_mut() = f;
    }
}

/// The first sink failure of a worker, kept as the error itself (with the sink's name as
/// context) until the runner takes it.
#[derive(Clone, Debug, Default)]
pub struct Health(Rc<RefCell<Option<anyhow::Error>>>);

impl Health {
    /// Records a failure of `sink` (only the first is kept).
    pub fn fail(&self, sink: &str, e: anyhow::Error) {
        let mut h = self.0.borrow_mut();
        if h.is_none() {
            tracing::error!(sink, error = %format!("{e:#}"), "sink failed");
            *h = Some(e.context(sink.to_string()));
        }
    }
    /// Whether a sink has failed.
    pub fn failed(&self) -> bool {
        self.0.borrow().is_some()
    }
    /// Takes the failure, if any, as the result of the run.
    pub fn check(&self) -> Result<()> {
        match self.0.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A worker's sinks: their health and durable frontiers, for the runner.
#[derive(Clone, Debug, Default)]
pub struct SinkSet {
    /// Failures.
    pub health: Health,
    durable: Rc<RefCell<Vec<(String, Durable)>>>,
}

impl SinkSet {
    fn register(&self, name: String) -> Durable {
        let d = Durable::default();
        self.durable.borrow_mut().push((name, d.clone()));
        d
    }
    /// Each sink's name and durable frontier.
    pub fn durable(&self) -> Vec<(String, Antichain<u64>)> {
        self.durable.borrow().iter().map(|(n, d)| (n.clone(), d.get())).collect()
    }
    /// The frontier up to which every sink of this worker is durable (the meet of theirs).
    pub fn durable_frontier(&self) -> Antichain<u64> {
        let mut min: Option<u64> = None;
        for (_, d) in self.durable.borrow().iter() {
            if let Some(&t) = d.get().elements().first() {
                min = Some(min.map_or(t, |m: u64| m.min(t)));
            }
        }
        match min {
            Some(t) => Antichain::from_elem(t),
            None => Antichain::new(),
        }
    }
}

/// The shared part of both shells: flush when due, record durability and failures.
struct Shell<S, D> {
    sink: S,
    name: String,
    set: SinkSet,
    durable: Durable,
    finished: bool,
    _records: PhantomData<fn(D)>,
}

impl<D, S: Sink<D>> Shell<S, D> {
    fn new(sink: S, set: &SinkSet) -> Self {
        let name = sink.name();
        let durable = set.register(name.clone());
        Shell { sink, name, set: set.clone(), durable, finished: false, _records: PhantomData }
    }

    /// Flushes after the frontier moved to `frontier`; returns whether to come back later.
    fn after(&mut self, frontier: Antichain<u64>) -> bool {
        if self.finished {
            return false;
        }
        let done = frontier.is_empty();
        match self.sink.flush(done) {
            Ok(false) => {
                self.durable.set(frontier);
                self.finished = done;
                false
            }
            Ok(true) => !done,
            Err(e) => {
                self.set.health.fail(&self.name, e);
                self.finished = true;
                false
            }
        }
    }

    fn write(&mut self, time: u64, records: &mut Vec<D>) {
        if self.finished {
            records.clear();
            return;
        }
        if let Err(e) = self.sink.write(time, records) {
            self.set.health.fail(&self.name, e);
            self.finished = true;
        }
        records.clear();
    }
}

/// Attaches `sink` on worker 0: records are gathered there and written one timestamp at a time,
/// in time order once the frontier has passed it, sorted by `key` (the operators crate's
/// `ordered_sink`). Other workers run an empty shell (their durable frontier follows the input).
pub fn gathered<D, K, KF, S>(stream: StreamVec<'_, u64, D>, key: KF, sink: S, set: &SinkSet)
where
    D: ExchangeData,
    K: Ord,
    KF: FnMut(&D) -> K + 'static,
    S: Sink<D>,
{
    let shell: Rc<RefCell<Shell<S, D>>> = Rc::new(RefCell::new(Shell::new(sink, set)));
    let (writer, flusher) = (shell.clone(), shell);
    let name = writer.borrow().name.clone();
    stream.ordered_sink_with(
        &name,
        key,
        move |t, records| writer.borrow_mut().write(t, records),
        move |frontier| flusher.borrow_mut().after(frontier.to_owned()).then_some(TICK),
    );
}

/// Attaches `sink` on every worker: each writes the records it holds, as they arrive.
pub fn local<D, S>(stream: StreamVec<'_, u64, D>, sink: S, set: &SinkSet)
where
    D: ExchangeData,
    S: Sink<D>,
{
    let scope = stream.scope();
    let mut shell: Shell<S, D> = Shell::new(sink, set);
    let name = shell.name.clone();
    stream.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, &name, move |cap, info| {
        drop(cap);
        let activator = scope.activator_for(info.address);
        move |(input, frontier), _output| {
            input.for_each_stamp(|cap, data| {
                let t = cap.least().copied().unwrap_or(0);
                for batch in data {
                    shell.write(t, batch);
                }
            });
            if shell.after(frontier.frontier().to_owned()) {
                activator.activate_after(TICK);
            }
        }
    });
}
