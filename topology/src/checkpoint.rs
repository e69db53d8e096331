//! Checkpoints of a processing job (trades topic → bars, late trades, sinks): what they hold,
//! where they are stored, and the per-worker machinery that takes them while the job runs.
//!
//! **When.** At event-time boundaries on a fixed grid (`[run] checkpoint_interval`, one
//! minute by default). The sources hold at each boundary until every worker has taken its part
//! (see [`tickflow_operators::checkpoint`] for why that cut is consistent); holding changes no
//! output. **What.** Per worker: every input partition's position and watermark at the
//! boundary, the bar engine's state (open windows, finalized bars within the allowed lateness
//! with their revision numbers, carry state, the trade-id window) and late trades waiting for
//! the frontier. **Commit.** Worker 0 gathers the parts; once every sink of every worker is
//! durable past the boundary (their durable frontiers, as a timely frontier), it writes the
//! checkpoint to the store and then commits its positions to the consumer group (for lag
//! monitoring; the checkpoint, not the group, is what a restore reads). At most one write per
//! second: a later complete checkpoint replaces one not yet written.
//!
//! **Restore.** `--resume` reads the latest checkpoint of the job (its consumer group), checks
//! the format version and that the aggregation settings match, restores every worker's engine
//! (re-partitioned by instrument when the worker count changed; refused for keyed partitions),
//! gives each partition its watermark back and reads it again from its position. Outputs after
//! a restore are those of an uninterrupted run: what was emitted after the checkpoint and
//! before the stop is emitted again, identically, and the sinks are idempotent by key.
//!
//! **Store.** A compacted Kafka topic (`<namespace>.checkpoints`, one partition, keyed by job)
//! or a directory (one file per job, written to a temporary file, fsynced and renamed). A
//! checkpoint larger than a Kafka record is split into chunks; two slots alternate, so a crash
//! while writing leaves the previous checkpoint whole.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use tickflow_connectors::kafka::{self, KafkaConfig, KafkaSink};
use tickflow_model::{Instrument, Trade};
use tickflow_operators::bars::EngineState;
use tickflow_operators::{AggregateState, Barrier, FeedPosition};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::{InputHandleVec as InputHandle, Scope, StreamVec};

use crate::sinks::SinkSet;

/// The checkpoint format this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes per Kafka record of a checkpoint.
const CHUNK: usize = 512 * 1024;
/// At most one checkpoint write per this interval (the last one of a run is always written).
const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// One worker's part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPart {
    /// Global worker index.
    pub worker: usize,
    /// The boundary (event time, ns).
    pub boundary: i64,
    /// The worker's input partitions.
    pub feeds: Vec<FeedPosition>,
    /// The worker's bar engine.
    pub engine: EngineState,
    /// Late trades waiting for the frontier, by the time they arrived at.
    pub late: Vec<(u64, Vec<Trade>)>,
    /// Paper trading: the worker's runs (broker, portfolio, strategy and indicator state,
    /// analyzers) and the bars it has not fed yet. Absent for jobs without a strategy (and in
    /// checkpoints written before paper trading was checkpointed, which restore as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<tickflow_strategies::StagePart>,
}

/// A complete checkpoint of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The job (its consumer group).
    pub job: String,
    /// The boundary (event time, ns): every input before the positions, nothing after.
    pub boundary: i64,
    /// The grid step (ns).
    pub interval: i64,
    /// Workers of the run that wrote it.
    pub workers: usize,
    /// Whether instruments were aggregated where they were read (keyed partitions).
    pub local_routing: bool,
    /// The aggregation settings it is valid for.
    pub settings: String,
    /// Parts by worker.
    pub parts: Vec<WorkerPart>,
}

impl Checkpoint {
    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a checkpoint serializes")
    }
    /// Reads stored bytes: the current version, or a clear refusal for any other.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Version {
            v: Option<u32>,
        }
        let v = serde_json::from_slice::<Version>(bytes).context("a checkpoint is not a JSON object")?.v;
        match v {
            Some(VERSION) => serde_json::from_slice(bytes).context("reading a checkpoint"),
            Some(v) => bail!(
                "the checkpoint has format version {v}; this build reads version {VERSION}. Run the tickflow version that wrote it, \
                 or start this job again without --resume (a new run re-reads the topic from --from or the beginning)"
            ),
            None => bail!("the stored record is not a tickflow checkpoint (no format version)"),
        }
    }
    /// Every partition's position.
    pub fn positions(&self) -> impl Iterator<Item = &FeedPosition> {
        self.parts.iter().flat_map(|p| p.feeds.iter())
    }
    /// The engine state and waiting late trades of the instruments `keep` selects, over all parts.
    pub fn state_for(&self, keep: impl Fn(&Instrument) -> bool) -> (EngineState, BTreeMap<u64, Vec<Trade>>) {
        let mut engine = EngineState::default();
        let mut late: BTreeMap<u64, Vec<Trade>> = BTreeMap::new();
        for p in &self.parts {
            engine.instruments.extend(p.engine.instruments.iter().filter(|i| keep(&i.instrument)).cloned());
            for (t, trades) in &p.late {
                late.entry(*t).or_default().extend(trades.iter().filter(|x| keep(&x.instrument)).copied());
            }
        }
        late.retain(|_, v| !v.is_empty());
        engine.instruments.sort_by_key(|i| i.instrument);
        (engine, late)
    }
}

/// Where checkpoints live.
#[derive(Clone, Debug)]
pub enum StoreSpec {
    /// A compacted topic.
    Kafka {
        /// Client settings.
        cfg: KafkaConfig,
        /// The topic.
        topic: String,
    },
    /// A directory.
    Dir(PathBuf),
}

impl StoreSpec {
    /// Parses `kafka` (the topic `<namespace>.checkpoints`) or `dir:PATH`.
    pub fn parse(s: &str, kafka: Option<(KafkaConfig, String)>) -> Result<Self> {
        if let Some(p) = s.strip_prefix("dir:") {
            if p.is_empty() {
                bail!("checkpoint store dir: needs a path (dir:/var/lib/tickflow/checkpoints)");
            }
            return Ok(StoreSpec::Dir(PathBuf::from(p)));
        }
        match (s, kafka) {
            ("kafka", Some((cfg, topic))) => Ok(StoreSpec::Kafka { cfg, topic }),
            ("kafka", None) => bail!("checkpoint store kafka needs brokers"),
            _ => bail!("unknown checkpoint store {s:?}: use kafka or dir:PATH"),
        }
    }
    /// The store [`Self::open`] made ready, without asking the broker again; `slot` is the
    /// Kafka slot to write next when a load already learned it.
    pub fn reopen(&self, slot: Option<u8>) -> Store {
        Store { spec: self.clone(), producer: None, slot }
    }
    /// Opens the store (creating the topic or directory when missing).
    pub fn open(&self) -> Result<Store> {
        match self {
            StoreSpec::Kafka { cfg, topic } => {
                if kafka::partitions(cfg, topic).is_err() {
                    kafka::create_topic(cfg, topic, 1, true, None).with_context(|| format!("creating the checkpoint topic {topic}"))?;
                }
            }
            StoreSpec::Dir(d) => std::fs::create_dir_all(d).with_context(|| format!("checkpoint directory {}", d.display()))?,
        }
        Ok(self.reopen(None))
    }
}

/// An open checkpoint store.
pub struct Store {
    spec: StoreSpec,
    producer: Option<KafkaSink>,
    /// The Kafka slot the next write goes to.
    slot: Option<u8>,
}

/// A chunk's headers: slot, boundary, index, count and write time (tells two writes apart).
fn chunk_headers(h: &[(String, String)]) -> Option<(u8, i64, usize, usize, i64)> {
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    Some((get("slot")?.parse().ok()?, get("boundary")?.parse().ok()?, get("chunk")?.parse().ok()?, get("chunks")?.parse().ok()?, get("written")?.parse().ok()?))
}

impl Store {
    fn file(dir: &std::path::Path, job: &str) -> PathBuf {
        let safe: String = job.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        dir.join(format!("{safe}.checkpoint.json"))
    }

    /// The latest complete checkpoint of `job`, if any.
    pub fn load(&mut self, job: &str) -> Result<Option<Checkpoint>> {
        match &self.spec {
            StoreSpec::Dir(d) => {
                let f = Self::file(d, job);
                match std::fs::read(&f) {
                    Ok(b) => Checkpoint::decode(&b).with_context(|| format!("checkpoint {}", f.display())).map(Some),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("checkpoint {}", f.display())),
                }
            }
            StoreSpec::Kafka { cfg, topic } => {
                // the last record per key, as compaction keeps it
                type Latest = BTreeMap<Vec<u8>, (Vec<u8>, Vec<(String, String)>)>;
                let mut last: Latest = BTreeMap::new();
                for (k, v, h) in kafka::read_partition(cfg, topic, 0)? {
                    if let Some(k) = k {
                        last.insert(k, (v.unwrap_or_default(), h));
                    }
                }
                // per slot: its chunks, complete when all carry the same write
                let mut best: Option<(i64, u8, Vec<u8>)> = None;
                for slot in 0..2u8 {
                    let chunk = |i: usize| last.get(format!("{job}#{slot}#{i}").as_bytes());
                    let Some((_, h0)) = chunk(0) else { continue };
                    let Some((_, b0, _, n, w0)) = chunk_headers(h0) else { continue };
                    let mut bytes = Vec::new();
                    let whole = (0..n).all(|i| match chunk(i).and_then(|(v, h)| chunk_headers(h).map(|x| (v, x))) {
                        Some((v, (_, b, idx, m, w))) if b == b0 && idx == i && m == n && w == w0 => {
                            bytes.extend_from_slice(v);
                            true
                        }
                        _ => false,
                    });
                    if whole && best.as_ref().is_none_or(|(w, _, _)| w0 > *w) {
                        best = Some((w0, slot, bytes));
                    }
                }
                self.slot = Some(best.as_ref().map_or(0, |(_, s, _)| 1 - s));
                match best {
                    Some((_, _, bytes)) => Checkpoint::decode(&bytes).with_context(|| format!("checkpoint of job {job} on topic {topic}")).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// Writes `c` durably (acknowledged by the broker, or fsynced and renamed); returns its size.
    pub fn save(&mut self, c: &Checkpoint) -> Result<usize> {
        let bytes = c.encode();
        match &self.spec.clone() {
            StoreSpec::Dir(d) => {
                use std::io::Write;
                let f = Self::file(d, &c.job);
                let tmp = f.with_extension("json.tmp");
                let mut w = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
                w.write_all(&bytes)?;
                w.sync_all()?;
                std::fs::rename(&tmp, &f).with_context(|| format!("renaming {} to {}", tmp.display(), f.display()))?;
                std::fs::File::open(d).and_then(|dir| dir.sync_all()).with_context(|| format!("syncing {}", d.display()))?;
            }
            StoreSpec::Kafka { cfg, topic } => {
                if self.slot.is_none() {
                    // learn which slot holds the latest checkpoint, to write the other one
                    self.load(&c.job)?;
                }
                let slot = self.slot.unwrap_or(0);
                if self.producer.is_none() {
                    self.producer = Some(KafkaSink::new(cfg, "tickflow-checkpoint")?);
                }
                let p = self.producer.as_mut().ok_or_else(|| anyhow!("no producer"))?;
                let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
                let written = tickflow_model::Ts::now().0.to_string();
                let (b, n) = (c.boundary.to_string(), chunks.len().to_string());
                for (i, ch) in chunks.iter().enumerate() {
                    let idx = i.to_string();
                    let headers = [("slot", slot.to_string()), ("boundary", b.clone()), ("chunk", idx), ("chunks", n.clone()), ("written", written.clone())];
                    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    p.send(topic, &format!("{}#{slot}#{i}", c.job), ch, c.boundary / 1_000_000, "tickflow.checkpoint.v1", &h)?;
                }
                p.flush(Duration::from_secs(30)).context("writing a checkpoint")?;
                self.slot = Some(1 - slot);
            }
        }
        Ok(bytes.len())
    }
}

/// What a job checkpoints with, resolved before the workers start.
#[derive(Clone, Debug)]
pub struct CheckpointSpec {
    /// The job's name (its consumer group).
    pub job: String,
    /// Where checkpoints go.
    pub store: StoreSpec,
    /// Grid step (event time, ns).
    pub interval: i64,
    /// Minimum wall time between boundaries (replays at speed pass many grid steps per second).
    pub wall: Duration,
    /// The aggregation settings (a restore with other settings is refused).
    pub settings: String,
    /// Consumer-group commits after each write: client and group.
    pub commit: Option<(KafkaConfig, String)>,
}

/// The restore plan of a run: the checkpoint (if any) and the first boundary.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The checkpoint restored from.
    pub restored: Option<std::sync::Arc<Checkpoint>>,
    /// The first boundary the sources hold at.
    pub first_boundary: i64,
    /// The Kafka store's next write slot, when the restore already read the store.
    pub slot: Option<u8>,
}

/// Resolves the restore plan of `job` (which checkpoints) for a run on `peers` workers: with
/// `--resume`, reads the latest checkpoint, refuses one taken with other aggregation settings or
/// (keyed partitions) another worker count, and points every partition at its position; the
/// first boundary is the grid point after the checkpoint's, else after the earliest first trade.
pub fn prepare(job: &mut crate::job::Job, peers: usize) -> Result<()> {
    let Some(spec) = job.checkpoint.clone() else { return Ok(()) };
    let t0 = Instant::now();
    let mut store = spec.store.open()?;
    let restored = if job.restore { store.load(&spec.job)? } else { None };
    if let Some(c) = &restored {
        if c.settings != spec.settings {
            bail!(
                "the checkpoint of job {} was taken with other aggregation settings ({}) than this run ({}); \
                 run with the same settings, or start again without --resume",
                spec.job,
                c.settings,
                spec.settings
            );
        }
        let local = job.routing == tickflow_operators::Routing::Local;
        if c.local_routing != local {
            bail!("the checkpoint of job {} was taken {} --keyed-partitions; run the same way", spec.job, if c.local_routing { "with" } else { "without" });
        }
        if local && c.workers != peers {
            bail!(
                "the checkpoint of job {} was taken with {} workers and this run has {peers}: with --keyed-partitions an instrument's state \
                 lives on the worker that reads its partition, so the worker count must stay (without --keyed-partitions state is \
                 re-partitioned by instrument)",
                spec.job,
                c.workers
            );
        }
        let pos: BTreeMap<&str, i64> = c.positions().filter_map(|p| Some((p.feed.as_str(), p.position?))).collect();
        for input in &mut job.inputs {
            if let crate::job::InputSpec::Kafka { topic, partition, start, .. } = input {
                if let Some(o) = pos.get(format!("{topic}/{partition}").as_str()) {
                    *start = kafka::StartAt::Offset(*o);
                }
            }
        }
        crate::telemetry::global().checkpoint.restore_us.store(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::info!(job = %spec.job, boundary = %tickflow_model::Ts(c.boundary), partitions = pos.len(), workers = c.workers, "restoring from checkpoint");
    } else if job.restore {
        tracing::info!(job = %spec.job, "no checkpoint yet: starting from the group's committed offsets");
    }
    let first = match &restored {
        Some(c) => boundary_above(c.boundary, spec.interval),
        None => boundary_above(first_event_time(&job.inputs)?.unwrap_or_else(|| tickflow_model::Ts::now().0), spec.interval),
    };
    job.plan = Some(Plan { restored: restored.map(std::sync::Arc::new), first_boundary: first, slot: store.slot });
    Ok(())
}

/// The earliest event time among the first trades of the topic inputs at their start positions
/// (each partition is asked for at most a few seconds; empty ones do not count).
fn first_event_time(inputs: &[crate::job::InputSpec]) -> Result<Option<i64>> {
    let mut min: Option<i64> = None;
    for input in inputs {
        if let crate::job::InputSpec::Kafka { cfg, topic, partition, start, stop, .. } = input {
            let mut r = kafka::PartitionReader::open(cfg, topic, *partition, *start, *stop, None, None)?;
            let mut rows = tickflow_model::TradeRows::default();
            let deadline = Instant::now() + Duration::from_secs(5);
            while rows.is_empty() && Instant::now() < deadline {
                match r.poll(&mut rows, 1)? {
                    kafka::ReadStatus::Done => break,
                    kafka::ReadStatus::Idle => std::thread::sleep(Duration::from_millis(5)),
                    kafka::ReadStatus::Ready => {}
                }
            }
            if let Some(&t) = rows.ts.first() {
                min = Some(min.map_or(t, |m| m.min(t)));
            }
        }
    }
    Ok(min)
}

/// The grid point strictly above `t`.
pub fn boundary_above(t: i64, interval: i64) -> i64 {
    t.div_euclid(interval).saturating_add(1).saturating_mul(interval)
}

/// Writes complete checkpoints on its own thread, so a slow store never stalls worker 0's
/// dataflow: the latest pending checkpoint replaces older ones not yet written. Dropped with the
/// dataflow, it finishes the last write first; a failure fails the run like a sink's.
struct Writer {
    tx: Option<std::sync::mpsc::Sender<Checkpoint>>,
    thread: Option<std::thread::JoinHandle<()>>,
    failed: std::sync::Arc<std::sync::Mutex<Option<anyhow::Error>>>,
    health: crate::sinks::Health,
}

impl Writer {
    fn start(mut store: Store, commit: Option<(KafkaConfig, String)>, health: crate::sinks::Health) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Checkpoint>();
        let failed: std::sync::Arc<std::sync::Mutex<Option<anyhow::Error>>> = Default::default();
        let f2 = failed.clone();
        let thread = std::thread::Builder::new().name("checkpoint-writer".into()).spawn(move || {
            let mut committer: Option<kafka::Committer> = None;
            while let Ok(mut c) = rx.recv() {
                while let Ok(newer) = rx.try_recv() {
                    c = newer;
                }
                let t0 = Instant::now();
                let wrote = store.save(&c).and_then(|n| {
                    if let Some((cfg, group)) = &commit {
                        let pos: Vec<(String, i32, i64)> = c
                            .positions()
                            .filter_map(|p| {
                                let (topic, part) = p.feed.rsplit_once('/')?;
                                Some((topic.to_string(), part.parse().ok()?, p.position?))
                            })
                            .collect();
                        if committer.is_none() {
                            committer = Some(kafka::Committer::new(cfg, group)?);
                        }
                        if let Some(k) = &committer {
                            k.commit(&pos)?;
                        }
                        crate::telemetry::global().checkpoint.committed.store(pos.len() as u64, Ordering::Relaxed);
                    }
                    Ok(n)
                });
                match wrote {
                    Ok(n) => {
                        let m = &crate::telemetry::global().checkpoint;
                        m.boundary_ns.store(c.boundary, Ordering::Relaxed);
                        m.written_at_ns.store(tickflow_model::Ts::now().0, Ordering::Relaxed);
                        m.bytes.store(n as u64, Ordering::Relaxed);
                        m.duration_us.store(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                        m.written.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(job = %c.job, boundary = %tickflow_model::Ts(c.boundary), bytes = n, ms = t0.elapsed().as_millis() as u64, "checkpoint written");
                    }
                    Err(e) => {
                        *f2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return;
                    }
                }
            }
        })?;
        Ok(Writer { tx: Some(tx), thread: Some(thread), failed, health })
    }
    fn send(&mut self, c: Checkpoint) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(c);
        }
    }
    /// Reports a failed write to the run.
    fn check(&self) {
        if let Some(e) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.health.fail("checkpoint store", e);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.check();
    }
}

/// One worker's checkpointing: the source barrier, the shared aggregation state, the probes and
/// the inputs that carry parts to worker 0, next-boundary proposals to every worker, and
/// durability to the gather.
pub struct WorkerCheckpoint {
    /// The source barrier.
    pub barrier: Barrier,
    /// The aggregation state.
    pub state: Rc<RefCell<AggregateState>>,
    /// The paper-trading stage's state, when the job trades (saved with the engine's).
    pub paper: Option<Rc<RefCell<tickflow_strategies::StageState>>>,
    /// A restored run: the process's counters, read once when the first boundary is passed
    /// (the records re-read after the restore).
    reread: Option<Arc<tickflow_operators::PipelineMetrics>>,
    /// Frontier of the aggregation's outputs.
    pub probe: ProbeHandle<u64>,
    /// Frontier of the proposals every worker received.
    gate: ProbeHandle<u64>,
    /// Proposals received, by boundary.
    proposals: Rc<RefCell<BTreeMap<u64, i64>>>,
    parts: Option<InputHandle<u64, WorkerPart>>,
    propose: Option<InputHandle<u64, i64>>,
    durable: Option<InputHandle<u64, ()>>,
    index: usize,
    peers: usize,
    /// The boundary whose part was sent, until every worker sent theirs.
    taken: Option<i64>,
    /// Minimum wall time between boundaries.
    wall: Duration,
    /// The previous boundary and when it was taken (for the event-time rate).
    last: Option<(i64, Instant)>,
    /// The aggregation's output frontier when last seen non-empty.
    frontier: i64,
    /// Frontier of the sources' output.
    pub source_probe: ProbeHandle<u64>,
    /// The end-of-input protocol: messages every worker broadcasts, and what was seen.
    control: Option<InputHandle<u64, Control>>,
    seen: Rc<RefCell<ControlSeen>>,
    sent: ControlSeen,
    /// The source frontier all workers drained to (the final checkpoint's boundary).
    drained_to: Option<i64>,
}

/// The end-of-input protocol of a checkpointed run (every message goes to every worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// A partition of this worker was exhausted: no more boundaries in this run.
    Exhausted(usize),
    /// Every partition of this worker ended; its source holds at its last watermark.
    Ended(usize),
    /// Every worker ended and this worker saw the aggregation reach the sources' frontier.
    Ready(usize),
}

/// Control messages seen (or sent).
#[derive(Debug, Default)]
struct ControlSeen {
    exhausted: bool,
    ended: std::collections::BTreeSet<usize>,
    ready: std::collections::BTreeSet<usize>,
}

impl ControlSeen {
    fn note(&mut self, c: Control) {
        match c {
            Control::Exhausted(_) => self.exhausted = true,
            Control::Ended(w) => {
                self.ended.insert(w);
            }
            Control::Ready(w) => {
                self.ready.insert(w);
            }
        }
    }
}

/// The timely time of the final parts (after the input ended).
const FINAL: u64 = u64::MAX - 1;

impl WorkerCheckpoint {
    /// Builds the gather (worker 0 writes complete checkpoints) in `scope`.
    #[allow(clippy::too_many_arguments)]
    pub fn build<'scope>(
        scope: Scope<'scope, u64>,
        spec: &CheckpointSpec,
        plan: &Plan,
        barrier: Barrier,
        state: Rc<RefCell<AggregateState>>,
        index: usize,
        peers: usize,
        local_routing: bool,
        failures: &crate::sinks::Health,
        metrics: Arc<tickflow_operators::PipelineMetrics>,
    ) -> Result<Self> {
        use timely::dataflow::operators::vec::Broadcast;
        let (mut parts, part_stream): (InputHandle<u64, WorkerPart>, StreamVec<'scope, u64, WorkerPart>) = scope.new_input();
        let (mut propose, proposal_stream): (InputHandle<u64, i64>, StreamVec<'scope, u64, i64>) = scope.new_input();
        let (durable, durable_stream): (InputHandle<u64, ()>, StreamVec<'scope, u64, ()>) = scope.new_input();
        let first = plan.first_boundary.max(0) as u64;
        parts.advance_to(first);
        propose.advance_to(first);
        // every worker learns every worker's proposal for the next boundary: they all pick the
        // largest, so they agree on it
        let gate = ProbeHandle::new();
        let proposals: Rc<RefCell<BTreeMap<u64, i64>>> = Default::default();
        let seen = proposals.clone();
        let received = proposal_stream.broadcast().unary::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
            timely::dataflow::channels::pact::Pipeline,
            "CheckpointProposals",
            move |_, _| {
                move |input, _out| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        let mut m = seen.borrow_mut();
                        for d in data {
                            for p in d.drain(..) {
                                let e = m.entry(t).or_insert(i64::MIN);
                                *e = (*e).max(p);
                            }
                        }
                    });
                }
            },
        );
        timely::dataflow::operators::Probe::probe_with(received, &gate);
        let (mut control, control_stream): (InputHandle<u64, Control>, StreamVec<'scope, u64, Control>) = scope.new_input();
        control.advance_to(0);
        let seen: Rc<RefCell<ControlSeen>> = Default::default();
        let seen2 = seen.clone();
        control_stream.broadcast().unary::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
            timely::dataflow::channels::pact::Pipeline,
            "CheckpointControl",
            move |_, _| {
                move |input, _out| {
                    input.for_each(|_, data| data.drain(..).for_each(|c| seen2.borrow_mut().note(c)));
                }
            },
        );
        // the store was opened (and, on a restore, read) by `prepare`: no second round trip
        let mut writer = if index == 0 { Some(Writer::start(spec.store.reopen(plan.slot), spec.commit.clone(), failures.clone())?) } else { None };
        let spec2 = spec.clone();
        let interval = spec.interval;
        part_stream.binary_frontier::<Vec<()>, timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _, _>(
            durable_stream,
            Exchange::new(|_: &WorkerPart| 0),
            Exchange::new(|_: &()| 0),
            "CheckpointGather",
            move |_, _| {
                let mut got: BTreeMap<i64, Vec<WorkerPart>> = BTreeMap::new();
                let mut last_write: Option<Instant> = None;
                move |(parts_in, parts_f), (durable_in, durable_f), _out| {
                    parts_in.for_each(|_, data| {
                        for p in data.drain(..) {
                            got.entry(p.boundary).or_default().push(p);
                        }
                    });
                    durable_in.for_each(|_, data| data.clear());
                    let Some(writer) = writer.as_mut() else { return };
                    writer.check();
                    let (pf, df) = (parts_f.frontier(), durable_f.frontier());
                    let ended = pf.is_empty() && df.is_empty();
                    // the latest boundary every worker sent a part for and every sink is durable past
                    let ready =
                        got.iter().rev().find(|(b, v)| v.len() == peers && !pf.less_equal(&(**b as u64)) && !df.less_equal(&(**b as u64))).map(|(b, _)| *b);
                    let Some(b) = ready else { return };
                    if !ended && last_write.is_some_and(|t| t.elapsed() < MIN_WRITE_INTERVAL) {
                        return;
                    }
                    let mut parts = got.remove(&b).unwrap_or_default();
                    got.retain(|k, _| *k > b);
                    parts.sort_by_key(|p| p.worker);
                    let c = Checkpoint {
                        v: VERSION,
                        job: spec2.job.clone(),
                        boundary: b,
                        interval,
                        workers: peers,
                        local_routing,
                        settings: spec2.settings.clone(),
                        parts,
                    };
                    last_write = Some(Instant::now());
                    writer.send(c);
                }
            },
        );
        Ok(WorkerCheckpoint {
            barrier,
            state,
            paper: None,
            reread: plan.restored.as_ref().map(|_| metrics),
            probe: ProbeHandle::new(),
            gate,
            proposals,
            parts: Some(parts),
            propose: Some(propose),
            durable: Some(durable),
            index,
            peers,
            taken: None,
            wall: spec.wall,
            last: None,
            frontier: 0,
            source_probe: ProbeHandle::new(),
            control: Some(control),
            seen,
            sent: ControlSeen::default(),
            drained_to: None,
        })
    }

    /// This worker's proposal for the boundary after `boundary`: at least one grid step, and
    /// as many as the event time that passes in the minimum wall interval at the current rate.
    fn proposal(&self, boundary: i64, interval: i64) -> i64 {
        let step = match self.last {
            Some((b0, t0)) if boundary > b0 => {
                let secs = t0.elapsed().as_secs_f64().max(1e-6);
                let rate = (boundary - b0) as f64 / secs; // event ns per wall second
                let span = (rate * self.wall.as_secs_f64()).min(i64::MAX as f64 / 4.0) as i64;
                (span / interval).max(1).saturating_mul(interval)
            }
            _ => interval,
        };
        boundary.saturating_add(step)
    }

    /// True while a boundary is being passed (every feed held, or a part sent and not yet
    /// released): the worker loop should not park.
    pub fn busy(&self) -> bool {
        let b = self.barrier.borrow();
        self.taken.is_some() || b.positions().is_some() || b.draining().is_some()
    }

    /// Called by the worker loop after every step: reports durability, takes this worker's part
    /// once the frontier reached the boundary, and releases the sources to the agreed next
    /// boundary once every worker took theirs.
    pub fn step(&mut self, sinks: &SinkSet) {
        if let Some(d) = self.durable.as_mut() {
            match sinks.durable_frontier().elements().first() {
                Some(&t) if t > *d.time() => d.advance_to(t),
                Some(_) => {}
                None => self.durable = None,
            }
        }
        if let Some(b) = self.taken {
            if self.gate.less_equal(&(b as u64)) {
                return;
            }
            let next = self.proposals.borrow_mut().remove(&(b as u64)).unwrap_or(i64::MIN);
            self.taken = None;
            let off = self.barrier.borrow().boundary() == i64::MAX;
            if !off {
                self.barrier.borrow_mut().release_to(next);
            }
            let next = if off { FINAL } else { self.barrier.borrow().boundary().max(0) as u64 };
            if let Some(p) = self.parts.as_mut() {
                p.advance_to(next);
            }
            if let Some(p) = self.propose.as_mut() {
                p.advance_to(next);
            }
        }
        let first = self.probe.with_frontier(|f| f.first().copied());
        let done = first.is_none();
        if let Some(f) = first {
            self.frontier = f as i64;
        }
        self.end_of_input();
        if self.parts.is_none() {
            return;
        }
        let (boundary, interval, positions) = {
            let b = self.barrier.borrow();
            (b.boundary(), b.interval(), b.positions())
        };
        tracing::trace!(worker = self.index, boundary, positions = positions.is_some(), probe = ?self.probe.with_frontier(|f| f.to_vec()), taken = ?self.taken, "checkpoint step");
        let Some(mut feeds) = positions else { return };
        // the final part: after every worker drained to the same frontier and the input ended
        let last = match self.drained_to {
            Some(d) if done => Some(d),
            _ => None,
        };
        if last.is_none() && (boundary == i64::MAX || self.probe.less_than(&(boundary.max(0) as u64))) {
            return;
        }
        let boundary = last.unwrap_or(boundary);
        // a partition that never had data: its first trades below what was finalized are late
        let reached = if done { self.frontier } else { boundary };
        for f in feeds.iter_mut().filter(|f| f.watermark.is_none()) {
            f.watermark = Some(reached);
        }
        let st = self.state.borrow();
        let paper = match self.paper.as_ref().map(|p| p.borrow().snapshot()).transpose() {
            Ok(p) => p,
            Err(e) => {
                // a restore from this checkpoint refuses the missing runs clearly
                tracing::error!(worker = self.index, boundary, error = %e, "paper-trading state could not be saved");
                None
            }
        };
        let part = WorkerPart {
            worker: self.index,
            boundary,
            feeds,
            engine: st.engine.snapshot(),
            late: st.late.iter().map(|(t, v)| (*t, v.clone())).collect(),
            paper,
        };
        drop(st);
        if let Some(m) = self.reread.take() {
            // every source holds at this boundary (the frontier passed it everywhere): what was
            // read so far is what was read again since the checkpoint
            let n = m.trades_in.load(Ordering::Relaxed) + m.bad_records.load(Ordering::Relaxed);
            crate::telemetry::global().checkpoint.reread.fetch_max(n, Ordering::Relaxed);
        }
        let proposal = self.proposal(boundary, interval);
        if let (Some(parts), Some(propose)) = (self.parts.as_mut(), self.propose.as_mut()) {
            parts.send(part);
            propose.send(proposal);
        }
        if last.is_some() {
            // the inputs ended (or the run was stopped): this was the last part
            self.close();
        } else {
            let next = (boundary.max(0) as u64).saturating_add(1);
            if let (Some(parts), Some(propose)) = (self.parts.as_mut(), self.propose.as_mut()) {
                parts.advance_to(next);
                propose.advance_to(next);
            }
            self.taken = Some(boundary);
            self.last = Some((boundary, Instant::now()));
        }
    }

    fn close(&mut self) {
        self.parts = None;
        self.propose = None;
        self.control = None;
    }

    /// The end of a checkpointed input, without finalizing what a resumed run continues: once a
    /// partition is exhausted there are no more boundaries (the frontier cannot pass its
    /// watermark); once every worker's partitions ended, every worker waits until the
    /// aggregation reached the sources' frontier (so every bar up to the last watermark is
    /// out), and only when all have seen that do the sources end together. Ending one worker
    /// earlier would let the frontier pass partitions that a resumed run continues.
    fn end_of_input(&mut self) {
        let any_ended = self.barrier.borrow().any_ended();
        let draining = self.barrier.borrow().idle_or_ended();
        let Some(control) = self.control.as_mut() else { return };
        if any_ended && !self.sent.exhausted {
            self.sent.exhausted = true;
            control.send(Control::Exhausted(self.index));
            control.flush();
        }
        if draining && self.sent.ended.is_empty() {
            self.sent.ended.insert(self.index);
            control.send(Control::Ended(self.index));
            control.flush();
        }
        let (exhausted, ended, ready) = {
            let s = self.seen.borrow();
            (s.exhausted, s.ended.len(), s.ready.len())
        };
        if exhausted && self.barrier.borrow().boundary() != i64::MAX {
            self.barrier.borrow_mut().holds_off();
            if self.taken.is_none() {
                // no part of a boundary is pending: the next (and last) parts are the final ones
                for p in self.parts.iter_mut() {
                    p.advance_to(FINAL);
                }
                for p in self.propose.iter_mut() {
                    p.advance_to(FINAL);
                }
            }
        }
        let peers = self.peers;
        if ended == peers && self.sent.ready.is_empty() {
            // every source holds at its last watermark: wait until the aggregation caught up
            let src = self.source_probe.with_frontier(|f| f.first().copied());
            if let Some(f) = src {
                if !self.probe.less_than(&f) {
                    self.drained_to = Some(f as i64);
                    self.sent.ready.insert(self.index);
                    control.send(Control::Ready(self.index));
                    control.flush();
                }
            }
        }
        if ready == peers {
            self.barrier.borrow_mut().drained();
        }
    }

    /// Stops the sources (a shutdown): they record where they stopped and end.
    pub fn stop(&mut self) {
        self.barrier.borrow_mut().stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_model::{parse_timeframes, Decimal, Side, Ts};
    use tickflow_operators::{AggregateConfig, BarEngine, FillPolicy, LatePolicy};

    /// A checkpoint with real engine state (open windows, closed bars with revisions, ids) and a
    /// waiting late trade.
    fn sample(seed: u64) -> Checkpoint {
        let mut cfg = AggregateConfig::new(parse_timeframes("1m,5m").unwrap());
        cfg.fill = FillPolicy::Carry;
        cfg.late = LatePolicy::Revise;
        cfg.allowed_lateness = 3_600_000_000_000;
        let mut e = BarEngine::new(cfg).unwrap();
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        let mut x = seed;
        let mut trades = Vec::new();
        for i in 0..300u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = tickflow_model::Trade {
                instrument: tickflow_model::Instrument::new("binance", if x.is_multiple_of(2) { "BTC/USDT" } else { "ETH/USDT" }).unwrap(),
                trade_id: Some(i + 1),
                ts: Ts::from_millis(1_700_000_000_000 + i as i64 * 1_700),
                ingest_ts: Ts(1),
                price: Decimal::from_int(100 + (x % 9) as i64),
                amount: "0.125".parse().unwrap(),
                side: if x.is_multiple_of(3) { Side::Sell } else { Side::Buy },
            };
            e.on_time(&t, &mut ends);
            trades.push(t);
        }
        e.finalize_until(1_700_000_000_000_000_000 + 400_000_000_000, &mut out);
        let mut late = trades[10];
        late.trade_id = Some(10_000);
        e.late(&late, 1_700_000_000_000_000_000 + 400_000_000_000, &mut out, &mut ends);
        Checkpoint {
            v: VERSION,
            job: "g".into(),
            boundary: 1_700_000_000_000_000_000 + 420_000_000_000,
            interval: 60_000_000_000,
            workers: 2,
            local_routing: false,
            settings: "timeframes=1m,5m".into(),
            parts: vec![WorkerPart {
                worker: 0,
                boundary: 1_700_000_000_000_000_000 + 420_000_000_000,
                feeds: vec![FeedPosition { feed: "t/0".into(), position: Some(300), max_seen: Some(5), watermark: Some(4), ended: false }],
                engine: e.snapshot(),
                late: vec![(7, vec![trades[3]])],
                paper: None,
            }],
        }
    }

    #[test]
    fn checkpoints_round_trip_and_other_versions_are_refused_clearly() {
        for seed in [1u64, 7, 42] {
            let c = sample(seed);
            assert!(c.parts[0].engine.instruments.iter().any(|i| i.timeframes.iter().any(|t| !t.open.is_empty())));
            assert!(c.parts[0].engine.instruments.iter().any(|i| i.timeframes.iter().any(|t| t.closed.iter().any(|b| b.bar.revision > 0))));
            let bytes = c.encode();
            assert_eq!(Checkpoint::decode(&bytes).unwrap(), c, "state → bytes → state");
            // another version: refused with what to do
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            v["v"] = 2.into();
            let err = format!("{:#}", Checkpoint::decode(&serde_json::to_vec(&v).unwrap()).unwrap_err());
            assert!(err.contains("format version 2") && err.contains("reads version 1") && err.contains("--resume"), "{err}");
            assert!(format!("{:#}", Checkpoint::decode(b"{\"x\":1}").unwrap_err()).contains("not a tickflow checkpoint"));
            assert!(Checkpoint::decode(b"\x00\x01").is_err());
        }
    }

    #[test]
    fn a_directory_store_keeps_the_latest_checkpoint_per_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StoreSpec::parse(&format!("dir:{}", dir.path().join("ck").display()), None).unwrap().open().unwrap();
        assert_eq!(s.load("g").unwrap(), None);
        let (a, mut b) = (sample(1), sample(2));
        b.boundary += 60_000_000_000;
        s.save(&a).unwrap();
        assert_eq!(s.load("g").unwrap(), Some(a.clone()));
        s.save(&b).unwrap();
        assert_eq!(s.load("g").unwrap(), Some(b), "the latest write wins");
        assert_eq!(s.load("other").unwrap(), None, "keyed by job");
        assert!(
            !std::fs::read_dir(dir.path().join("ck")).unwrap().any(|e| e.unwrap().path().extension().is_some_and(|x| x == "tmp")),
            "no temporary file left"
        );
        assert!(StoreSpec::parse("dir:", None).is_err() && StoreSpec::parse("s3://x", None).is_err());
    }

    #[test]
    fn a_kafka_store_alternates_slots_so_a_torn_write_leaves_the_previous_checkpoint() {
        let cluster = tickflow_connectors::kafka::mock_cluster(1).unwrap();
        cluster.create_topic("ns.checkpoints", 1, 1).unwrap();
        let cfg = KafkaConfig { brokers: cluster.bootstrap_servers(), extra: Vec::new() };
        let spec = StoreSpec::parse("kafka", Some((cfg.clone(), "ns.checkpoints".into()))).unwrap();
        let mut s = spec.open().unwrap();
        // large enough for several chunks
        let mut a = sample(3);
        a.settings = "x".repeat(3 * CHUNK / 2);
        let mut b = a.clone();
        b.boundary += 60_000_000_000;
        s.save(&a).unwrap();
        s.save(&b).unwrap();
        let mut fresh = spec.open().unwrap();
        assert_eq!(fresh.load("g").unwrap(), Some(b.clone()), "the latest complete checkpoint");
        // a torn write of a third checkpoint: only its first chunk reaches the log, into the
        // slot holding the older checkpoint (a); b stays whole and is what a restore reads
        let mut p = KafkaSink::new(&cfg, "test").unwrap();
        let headers = [("slot", "0"), ("boundary", "1"), ("chunk", "0"), ("chunks", "2"), ("written", "99999999999999999")];
        p.send("ns.checkpoints", "g#0#0", b"{", 0, "tickflow.checkpoint.v1", &headers).unwrap();
        p.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(spec.open().unwrap().load("g").unwrap(), Some(b));
    }
}
