//! Kafka-protocol transport (Redpanda in production; rdkafka's `MockCluster` and a local
//! Kafka-API broker in tests): a producer with back-pressure, a partition reader with static
//! ownership and explicit offsets, topic administration and the dead-letter queue.
//!
//! Only the Kafka protocol is used — no broker-specific API — so Redpanda, Apache Kafka and
//! compatible brokers all work.
//!
//! - **Topics**: `<namespace>.trades` (key `exchange:symbol`), `<namespace>.bars` (key
//!   `exchange:symbol:timeframe:open_time`, compacted), `<namespace>.late`, `<namespace>.dlq`.
//! - **Records**: versioned JSON ([`tickflow_model::record`]); the Kafka timestamp is the event
//!   time (ms); headers `source` and `schema` (`tickflow.trade.v1`, …).
//! - **Producer** ([`KafkaSink`]): idempotent (`enable.idempotence`), `acks=all`, lz4; a full
//!   local queue blocks the caller while the client drains it (back-pressure: nothing dropped,
//!   nothing buffered without bound); delivery failures are counted and fail [`KafkaSink::flush`].
//! - **Reader** ([`PartitionReader`]): `assign`s one partition at an explicit start offset (the
//!   beginning, a committed offset, or the first offset at a time via `offsets_for_times`), reads
//!   up to the high watermark taken when it opened (or follows the partition), and sends
//!   malformed records to the dead-letter topic with the reason instead of failing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tickflow_model::{Instrument, Trade, TradeRecord, TradeRows, Ts};

use crate::ConnectorError;

/// Schema header value of trade records.
pub const TRADE_SCHEMA: &str = "tickflow.trade.v1";
/// Schema header value of bar records.
pub const BAR_SCHEMA: &str = "tickflow.bar.v1";
/// Schema header value of late-trade records.
pub const LATE_SCHEMA: &str = "tickflow.late.v1";
/// Schema header value of order records.
pub const ORDER_SCHEMA: &str = "tickflow.order.v1";
/// Schema header value of fill records.
pub const FILL_SCHEMA: &str = "tickflow.fill.v1";
/// Schema header value of equity records.
pub const EQUITY_SCHEMA: &str = "tickflow.equity.v1";
/// Schema header value of dead-letter records.
pub const DLQ_SCHEMA: &str = "tickflow.dlq.v1";
/// Schema id of funding records ([`tickflow_model::FundingRecord`]).
pub const FUNDING_SCHEMA: &str = "tickflow.funding.v1";
/// Schema id of mark/index price candles ([`tickflow_model::PriceCandleRecord`]).
pub const PRICE_CANDLE_SCHEMA: &str = "tickflow.price_candle.v1";

/// Largest original record copied into a dead letter (below the 1 MiB default
/// `message.max.bytes` of Kafka and Redpanda); a larger one is referenced by its `origin` header
/// and its size (`omitted_bytes`), so one oversized poison pill cannot fail the dead-letter write.
pub const DLQ_MAX_VALUE: usize = 512 * 1024;
/// Longest key copied into a dead letter.
pub const DLQ_MAX_KEY: usize = 1024;
/// Longest `reason` header and log field.
pub const DLQ_MAX_REASON: usize = 512;

/// A reason clipped to [`DLQ_MAX_REASON`] bytes (at a character boundary), its length noted.
pub fn clip_reason(reason: &str) -> String {
    tickflow_model::clip_to(reason.as_bytes(), DLQ_MAX_REASON)
}

fn kerr(what: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::Kafka { context: what.to_string(), source: e }
}

/// Topic names under a namespace.
#[derive(Clone, Debug)]
pub struct Topics {
    /// Namespace prefix (`tickflow` → `tickflow.trades`).
    pub namespace: String,
}

impl Topics {
    /// `<namespace>.<name>`, or `name` alone for an empty namespace.
    pub fn name(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.namespace)
        }
    }
}

/// Counts delivery outcomes reported by the client's background thread.
#[derive(Default)]
pub struct DeliveryStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<RDKafkaErrorCode>>,
}

impl ClientContext for DeliveryStats {}

impl ProducerContext for DeliveryStats {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut l) = self.last_error.lock() {
                    *l = Some(e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail));
                }
            }
        }
    }
}

/// Producer settings. `Debug` shows secret properties (passwords, secrets, private keys) as
/// `***`.
#[derive(Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// Extra client properties (`key=value`), applied last.
    pub extra: Vec<(String, String)>,
}

/// True for client properties whose value is a credential (`sasl.password`,
/// `ssl.key.password`, `sasl.oauthbearer.client.secret`, `ssl.key.pem`, …).
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "ssl.key.pem", "sasl.jaas.config", "token"].iter().any(|s| k.contains(s))
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Vec<(&str, &str)> = self.extra.iter().map(|(k, v)| (k.as_str(), if is_secret_property(k) { "***" } else { v.as_str() })).collect();
        f.debug_struct("KafkaConfig").field("brokers", &self.brokers).field("extra", &extra).finish()
    }
}

impl KafkaConfig {
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }

    /// A consumer in `group` with manual offsets (nothing auto-committed or auto-stored) and the
    /// fetch settings every tickflow reader shares (partition readers, commits, the benchmark's
    /// raw consume).
    fn consumer(&self, group: &str) -> Result<BaseConsumer, ConnectorError> {
        let mut c = self.client();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "50")
            .set("queued.min.messages", "100000");
        c.create().map_err(|e| kerr("creating consumer", e))
    }
}

/// An idempotent producer with back-pressure.
pub struct KafkaSink {
    producer: BaseProducer<DeliveryStats>,
    source: String,
    sent: u64,
}

impl KafkaSink {
    /// Connects (lazily; errors surface on send/flush). `source` goes into every record's
    /// `source` header.
    pub fn new(cfg: &KafkaConfig, source: &str) -> Result<Self, ConnectorError> {
        let mut c = cfg.client();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "200000")
            .set("message.timeout.ms", "30000");
        for (k, v) in &cfg.extra {
            c.set(k, v);
        }
        let producer = c.create_with_context(DeliveryStats::default()).map_err(|e| kerr("creating producer", e))?;
        Ok(KafkaSink { producer, source: source.to_string(), sent: 0 })
    }

    /// Sends one record; blocks while the local queue is full. `ts_ms` is the record timestamp.
    pub fn send(&mut self, topic: &str, key: &str, payload: &[u8], ts_ms: i64, schema: &str, extra: &[(&str, &str)]) -> Result<(), ConnectorError> {
        let mut headers = OwnedHeaders::new()
            .insert(Header { key: "source", value: Some(self.source.as_bytes()) })
            .insert(Header { key: "schema", value: Some(schema.as_bytes()) });
        for (k, v) in extra {
            headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        let mut record = BaseRecord::to(topic).key(key).payload(payload).timestamp(ts_ms).headers(headers);
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    self.producer.poll(Duration::ZERO);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    // back-pressure: let the client drain, then try again
                    self.producer.poll(Duration::from_millis(20));
                    record = r;
                }
                Err((e, _)) => return Err(kerr("producing", e)),
            }
        }
    }

    /// Sends `record` as JSON.
    pub fn send_json<T: serde::Serialize>(&mut self, topic: &str, key: &str, record: &T, ts_ms: i64, schema: &str) -> Result<(), ConnectorError> {
        let payload = serde_json::to_vec(record).map_err(|e| ConnectorError::Encode { what: format!("a {schema} record"), source: e })?;
        self.send(topic, key, &payload, ts_ms, schema, &[])
    }

    /// Sends a trade to `topic` (key `exchange:symbol`, timestamp = event time).
    pub fn send_trade(&mut self, topic: &str, t: &Trade) -> Result<(), ConnectorError> {
        let r = TradeRecord::from(t);
        self.send_json(topic, &r.key(), &r, t.ts.millis(), TRADE_SCHEMA)
    }

    /// Sends a mark- or index-price candle (`price`: `mark`, `index`) to `topic` (key
    /// `exchange:symbol:timeframe:price:open_time`, timestamp = open time).
    pub fn send_price_candle(&mut self, topic: &str, bar: &tickflow_model::Bar, price: &str) -> Result<(), ConnectorError> {
        let r = tickflow_model::PriceCandleRecord::new(bar, price);
        self.send_json(topic, &r.key(), &r, bar.open_time.millis(), PRICE_CANDLE_SCHEMA)
    }

    /// Sends a funding event to `topic` (key `exchange:symbol:ts`, timestamp = funding time).
    pub fn send_funding(&mut self, topic: &str, f: &tickflow_model::FundingRate) -> Result<(), ConnectorError> {
        let r = tickflow_model::FundingRecord::from(f);
        self.send_json(topic, &r.key(), &r, f.ts.millis(), FUNDING_SCHEMA)
    }

    /// Waits until everything sent is acknowledged; an error if any delivery failed.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), ConnectorError> {
        self.producer.flush(timeout).map_err(|e| kerr("flushing", e))?;
        let failed = self.producer.context().failed.load(Ordering::Relaxed);
        if failed > 0 {
            let code = self.producer.context().last_error.lock().ok().and_then(|l| *l).unwrap_or(RDKafkaErrorCode::Fail);
            return Err(ConnectorError::KafkaBroker { context: format!("{failed} records were not delivered (last error)"), code });
        }
        Ok(())
    }

    /// Records handed to the client.
    pub fn sent(&self) -> u64 {
        self.sent
    }
    /// Records acknowledged by the broker.
    pub fn delivered(&self) -> u64 {
        self.producer.context().delivered.load(Ordering::Relaxed)
    }
}

/// Topic administration through the Kafka protocol (`tickflow topics create`).
pub fn create_topic(cfg: &KafkaConfig, name: &str, partitions: i32, compacted: bool, retention_ms: Option<i64>) -> Result<(), ConnectorError> {
    create_topic_replicated(cfg, name, partitions, 1, compacted, retention_ms)
}

/// [`create_topic`] with `replication` copies of each partition (3 on a cluster; the brokers'
/// `min.insync.replicas` then decides how many must have a write before it is acknowledged).
pub fn create_topic_replicated(
    cfg: &KafkaConfig,
    name: &str,
    partitions: i32,
    replication: i32,
    compacted: bool,
    retention_ms: Option<i64>,
) -> Result<(), ConnectorError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = cfg.client().create().map_err(|e| kerr("creating admin client", e))?;
    let retention = retention_ms.map(|r| r.to_string());
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication.max(1)));
    if compacted {
        topic = topic.set("cleanup.policy", "compact");
    }
    if let Some(r) = &retention {
        topic = topic.set("retention.ms", r);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = futures_executor::block_on(admin.create_topics(&[topic], &opts)).map_err(|e| kerr("creating topic", e))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(ConnectorError::KafkaBroker { context: format!("creating topic {t}"), code }),
        }
    }
    Ok(())
}

/// Where a reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The partition's first retained offset.
    Beginning,
    /// The first record whose timestamp is at or after this time.
    Time(Ts),
    /// An explicit offset.
    Offset(i64),
    /// The offset committed by this consumer group (`--group`), else the beginning.
    Committed,
}

/// Where a reader stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAt {
    /// The high watermark taken when the reader opened.
    HighWatermark,
    /// The first record at or after this event time (exclusive), or the high watermark.
    Time(Ts),
    /// Never: follow the partition.
    Follow,
}

/// What a poll produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// Trades were appended (maybe more are ready).
    Ready,
    /// Nothing available right now.
    Idle,
    /// The end is reached.
    Done,
}

/// One statically owned partition of a trade topic.
pub struct PartitionReader {
    consumer: Arc<BaseConsumer>,
    topic: String,
    partition: i32,
    /// Next offset to read.
    next: i64,
    /// Read up to (exclusive); `None` follows.
    end: Option<i64>,
    stop_time: Option<Ts>,
    dlq: Option<(KafkaSink, String)>,
    /// Malformed records sent to the dead-letter topic.
    pub bad: u64,
    done: bool,
    high: Option<i64>,
    /// Offsets of the trades the last poll appended, in order.
    offsets: Vec<i64>,
    /// Plausibility bound of event time over ingest time (ns), see [`tickflow_model::validate`].
    max_future: i64,
    /// Most distinct instruments this partition may carry; records of further ones are dead
    /// letters.
    distinct: crate::files::trade_csv::InstrumentCap,
    /// When the partition was opened (its high watermark then is `high`).
    opened: std::time::Instant,
    /// The background high-watermark probe of a following reader (see [`caught_up`](Self::caught_up)).
    probe: Option<Arc<Probe>>,
}

/// What a background thread learns by asking the broker for a partition's high watermark once
/// a second: the worker thread only reads it, never waits on the network.
struct Probe {
    /// The last answer (`i64::MIN` before one).
    high: std::sync::atomic::AtomicI64,
    /// When it came, ms after `epoch`.
    answered_ms: std::sync::atomic::AtomicU64,
    epoch: std::time::Instant,
    stop: std::sync::atomic::AtomicBool,
}

impl Probe {
    fn start(consumer: Arc<BaseConsumer>, topic: String, partition: i32) -> Arc<Probe> {
        let probe = Arc::new(Probe {
            high: std::sync::atomic::AtomicI64::new(i64::MIN),
            answered_ms: std::sync::atomic::AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            stop: std::sync::atomic::AtomicBool::new(false),
        });
        let p = probe.clone();
        let spawned = std::thread::Builder::new().name(format!("hwm-{topic}-{partition}")).spawn(move || {
            use std::sync::atomic::Ordering::Relaxed;
            while !p.stop.load(Relaxed) {
                let asked = std::time::Instant::now();
                if let Ok((_, high)) = consumer.fetch_watermarks(&topic, partition, Duration::from_secs(1)) {
                    p.high.store(high, Relaxed);
                    p.answered_ms.store(p.epoch.elapsed().as_millis() as u64, Relaxed);
                }
                // about once a second, stopping promptly
                while asked.elapsed() < Duration::from_secs(1) && !p.stop.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        if let Err(e) = spawned {
            // without the probe the partition is never "caught up": no clock advance, no harm
            tracing::warn!(error = %e, "could not start the high-watermark probe");
        }
        probe
    }
    /// The last answer, however old.
    fn last(&self) -> Option<i64> {
        Some(self.high.load(std::sync::atomic::Ordering::Relaxed)).filter(|h| *h != i64::MIN)
    }
    /// The last answer when it is younger than `within`.
    fn fresh(&self, within: Duration) -> Option<i64> {
        use std::sync::atomic::Ordering::Relaxed;
        let high = self.high.load(Relaxed);
        let at = Duration::from_millis(self.answered_ms.load(Relaxed));
        (high != i64::MIN && self.epoch.elapsed().saturating_sub(at) < within).then_some(high)
    }
}

impl Drop for PartitionReader {
    fn drop(&mut self) {
        if let Some(p) = &self.probe {
            p.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl PartitionReader {
    /// Opens `topic`/`partition`: resolves the start offset, takes the end bound, `assign`s.
    /// `dlq` is the dead-letter topic (malformed records go there with the reason).
    pub fn open(
        cfg: &KafkaConfig,
        topic: &str,
        partition: i32,
        start: StartAt,
        stop: StopAt,
        dlq: Option<String>,
        group: Option<&str>,
    ) -> Result<Self, ConnectorError> {
        let consumer = Arc::new(cfg.consumer(group.unwrap_or("tickflow-reader"))?);
        let timeout = Duration::from_secs(10);
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout).map_err(|e| kerr(&format!("watermarks of {topic}/{partition}"), e))?;
        let first = match start {
            StartAt::Beginning => low,
            StartAt::Offset(o) => {
                if o < low {
                    // a checkpoint older than the topic's retention: what it skips is gone
                    tracing::error!(
                        topic,
                        partition,
                        offset = o,
                        first_retained = low,
                        "records after the checkpointed position were deleted by retention: a hole"
                    );
                }
                o.clamp(low, high)
            }
            StartAt::Committed => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(topic, partition);
                let got = consumer.committed_offsets(tpl, timeout).map_err(|e| kerr(&format!("committed offset of {topic}/{partition}"), e))?;
                match got.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) if o >= 0 => o.clamp(low, high),
                    _ => low,
                }
            }
            StartAt::Time(t) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, partition, Offset::Offset(t.millis())).map_err(|e| kerr("offsets_for_times", e))?;
                let found = consumer.offsets_for_times(tpl, timeout).map_err(|e| kerr(&format!("offsets_for_times of {topic}/{partition}"), e))?;
                match found.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) if o >= 0 => o,
                    // no record at or after the time: start at the end
                    _ => high,
                }
            }
        };
        let end = match stop {
            StopAt::Follow => None,
            _ => Some(high),
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(first)).map_err(|e| kerr("assign", e))?;
        consumer.assign(&tpl).map_err(|e| kerr(&format!("assign {topic}/{partition}"), e))?;
        let dlq = match dlq {
            Some(t) => Some((KafkaSink::new(cfg, "tickflow-reader")?, t)),
            None => None,
        };
        let stop_time = match stop {
            StopAt::Time(t) => Some(t),
            _ => None,
        };
        tracing::info!(topic, partition, first, end = ?end, "partition reader opened");
        Ok(PartitionReader {
            consumer,
            topic: topic.to_string(),
            partition,
            next: first,
            end,
            stop_time,
            dlq,
            bad: 0,
            done: first >= high && end.is_some(),
            high: Some(high),
            offsets: Vec::new(),
            max_future: tickflow_model::validate::DEFAULT_MAX_FUTURE,
            distinct: crate::files::trade_csv::InstrumentCap::new(crate::files::trade_csv::DEFAULT_MAX_INSTRUMENTS),
            opened: std::time::Instant::now(),
            probe: None,
        })
    }

    /// `topic/partition`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }

    /// The next offset to read (for commits and checkpoints).
    pub fn position(&self) -> i64 {
        self.next
    }
    /// The offset of trade `i` of those the last poll appended (`i` equal to their count: the
    /// next offset to read).
    pub fn offset_of(&self, i: usize) -> i64 {
        self.offsets.get(i).copied().unwrap_or(self.next)
    }
    /// Topic and partition.
    pub fn partition(&self) -> (&str, i32) {
        (&self.topic, self.partition)
    }
    /// Records between the position and the partition's high watermark, as last learned by
    /// the background probe (see [`caught_up`](Self::caught_up)); never waits on the network.
    pub fn lag(&mut self) -> Option<i64> {
        if let Some(h) = self.probe().last() {
            self.high = Some(h);
        }
        self.high.map(|h| (h - self.next).max(0))
    }

    fn probe(&mut self) -> &Probe {
        self.probe.get_or_insert_with(|| Probe::start(self.consumer.clone(), self.topic.clone(), self.partition))
    }

    /// True when the partition is reachable and read to its end: the broker answered a
    /// high-watermark request within the last 2 s and the position is at that mark. A
    /// following job may advance an idle partition's watermark by the clock only then — a
    /// stalled or unreachable broker also delivers nothing, and advancing through it would make
    /// the trades it holds late. The requests run on a background thread (started by the first
    /// call, once a second): this never waits on the network, so an outage does not stall the
    /// worker that owns the partition.
    pub fn caught_up(&mut self) -> bool {
        let fresh = self.probe().fresh(Duration::from_secs(2));
        // until the probe's first answer, the one from opening the partition (if recent)
        let high = fresh.or(self.high.filter(|_| self.opened.elapsed() < Duration::from_secs(2)));
        high.is_some_and(|h| self.next >= h)
    }

    /// Refuses records whose event time lies more than `max_future` ns after their ingest time
    /// (and the wall clock): they go to the dead-letter topic (default
    /// [`DEFAULT_MAX_FUTURE`](tickflow_model::validate::DEFAULT_MAX_FUTURE)).
    pub fn with_max_future(mut self, max_future: i64) -> Self {
        self.max_future = max_future;
        self
    }

    /// Dead-letters records of instruments beyond the first `n` distinct ones of this
    /// partition (default [`DEFAULT_MAX_INSTRUMENTS`](crate::files::trade_csv::DEFAULT_MAX_INSTRUMENTS)).
    pub fn with_max_instruments(mut self, n: usize) -> Self {
        self.distinct = crate::files::trade_csv::InstrumentCap::new(n);
        self
    }

    fn dead_letter(&mut self, payload: &[u8], key: Option<&[u8]>, offset: i64, reason: &str) -> Result<(), ConnectorError> {
        self.bad += 1;
        let reason = clip_reason(reason);
        tracing::warn!(topic = %self.topic, partition = self.partition, offset, reason = %reason, bytes = payload.len(), "malformed record sent to the dead-letter topic");
        if let Some((sink, topic)) = &mut self.dlq {
            let origin = format!("{}/{}@{offset}", self.topic, self.partition);
            let key = key.map(|k| String::from_utf8_lossy(&k[..k.len().min(DLQ_MAX_KEY)]).into_owned()).unwrap_or_default();
            // the original bytes when they fit the broker's default message limit; else the
            // origin is the pointer (the record stays in its topic until retention)
            let (value, size) = if payload.len() <= DLQ_MAX_VALUE { (payload, String::new()) } else { (&b""[..], payload.len().to_string()) };
            let mut headers = vec![("reason", reason.as_str()), ("origin", origin.as_str())];
            if !size.is_empty() {
                headers.push(("omitted_bytes", size.as_str()));
            }
            sink.send(topic, &key, value, Ts::now().millis(), DLQ_SCHEMA, &headers)?;
        }
        Ok(())
    }

    /// Appends up to `max` trades to `out`.
    pub fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<ReadStatus, ConnectorError> {
        self.offsets.clear();
        if self.done {
            return Ok(ReadStatus::Done);
        }
        let mut n = 0;
        while n < max {
            if self.end.is_some_and(|e| self.next >= e) {
                self.finish()?;
                return Ok(ReadStatus::Done);
            }
            // never block: the caller (the dataflow source) backs off when every feed is idle
            let Some(msg) = self.consumer.poll(Duration::ZERO) else {
                // a transaction's commit/abort marker takes an offset but is never delivered;
                // the client's position moves past it
                if let Some(p) = app_position(&self.consumer, &self.topic, self.partition).filter(|p| *p > self.next) {
                    self.next = p;
                    continue;
                }
                break;
            };
            let msg = msg.map_err(|e| kerr(&format!("reading {}/{}", self.topic, self.partition), e))?;
            let offset = msg.offset();
            if offset < self.next {
                continue; // a re-delivery below the position
            }
            self.next = offset + 1;
            let payload = msg.payload().unwrap_or_default();
            let now = Ts::now().0;
            let decoded = serde_json::from_slice::<TradeRecord>(payload)
                .map_err(|e| clip_reason(&e.to_string()))
                .and_then(|r| r.to_trade_within(self.max_future, now).map_err(|e| e.to_string()))
                .and_then(|t| self.distinct.admit(&t.instrument, "partition").map(|()| t));
            match decoded {
                Ok(t) => {
                    if self.stop_time.is_some_and(|s| t.ts >= s) {
                        self.finish()?;
                        return Ok(ReadStatus::Done);
                    }
                    out.push(&t);
                    self.offsets.push(offset);
                    n += 1;
                }
                Err(reason) => {
                    let (payload, key) = (payload.to_vec(), msg.key().map(<[u8]>::to_vec));
                    self.dead_letter(&payload, key.as_deref(), offset, &reason)?;
                }
            }
        }
        Ok(if n > 0 { ReadStatus::Ready } else { ReadStatus::Idle })
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.done = true;
        if let Some((sink, _)) = &mut self.dlq {
            sink.flush(Duration::from_secs(30))?;
        }
        Ok(())
    }
}

/// Commits `positions` (topic, partition, next offset) for consumer `group`. Called only after
/// every sink of a run has flushed, so a restart with [`StartAt::Committed`] re-reads nothing
/// that is not already reflected downstream (at-least-once with idempotent sinks).
pub fn commit(cfg: &KafkaConfig, group: &str, positions: &[(String, i32, i64)]) -> Result<(), ConnectorError> {
    if positions.is_empty() {
        return Ok(());
    }
    let consumer = cfg.consumer(group)?;
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in positions {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o)).map_err(|e| kerr("commit", e))?;
    }
    consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync).map_err(|e| kerr(&format!("committing offsets of group {group}"), e))
}

/// A consumer-group client kept open for repeated commits (a checkpoint writer commits after
/// every checkpoint: one group-coordinator lookup, not one per commit).
pub struct Committer {
    consumer: BaseConsumer,
    group: String,
}

impl Committer {
    /// A committer for `group`.
    pub fn new(cfg: &KafkaConfig, group: &str) -> Result<Self, ConnectorError> {
        Ok(Committer { consumer: cfg.consumer(group)?, group: group.to_string() })
    }

    /// Commits `(topic, partition, next offset)` positions synchronously.
    pub fn commit(&self, positions: &[(String, i32, i64)]) -> Result<(), ConnectorError> {
        if positions.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in positions {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o)).map_err(|e| kerr("commit", e))?;
        }
        self.consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync).map_err(|e| kerr(&format!("committing offsets of group {}", self.group), e))
    }
}

/// Partition count of `topic`.
pub fn partitions(cfg: &KafkaConfig, topic: &str) -> Result<i32, ConnectorError> {
    let consumer: BaseConsumer = cfg.client().create().map_err(|e| kerr("creating consumer", e))?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(|e| kerr(&format!("metadata of {topic}"), e))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| ConnectorError::KafkaBroker { context: format!("topic {topic} not found"), code: RDKafkaErrorCode::UnknownTopicOrPartition })?;
    if let Some(e) = t.error() {
        return Err(ConnectorError::KafkaBroker { context: format!("topic {topic}"), code: e.into() });
    }
    Ok(t.partitions().len() as i32)
}

/// A record as read back: key, payload and headers.
pub type RawRecord = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, String)>);

/// Every record of `topic`/`partition` from its low to its high watermark (small topics such as
/// the checkpoint topic; an absent topic reads as empty).
pub fn read_partition(cfg: &KafkaConfig, topic: &str, partition: i32) -> Result<Vec<RawRecord>, ConnectorError> {
    match partitions(cfg, topic) {
        Ok(n) if n > partition => {}
        Ok(_) => return Ok(Vec::new()),
        Err(ConnectorError::KafkaBroker { code: RDKafkaErrorCode::UnknownTopicOrPartition, .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let mut out = Vec::new();
    read_tail(cfg, topic, partition, i64::MAX, |m| {
        let headers = m.headers().map(header_pairs).unwrap_or_default();
        out.push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec), headers));
    })?;
    Ok(out)
}

/// Hands `f` every record of `topic`/`partition` from at most `max_back` before its high
/// watermark (taken now) up to it, in offset order; fails after a minute without reaching it.
fn read_tail(
    cfg: &KafkaConfig,
    topic: &str,
    partition: i32,
    max_back: i64,
    mut f: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), ConnectorError> {
    let consumer = cfg.consumer("tickflow-reader")?;
    let (lo, hi) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).map_err(|e| kerr(&format!("watermarks of {topic}/{partition}"), e))?;
    let from = lo.max(hi.saturating_sub(max_back.max(1)));
    if from >= hi {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from)).map_err(|e| kerr("assign", e))?;
    consumer.assign(&tpl).map_err(|e| kerr(&format!("assign {topic}/{partition}"), e))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut next = from;
    while next < hi {
        if std::time::Instant::now() > deadline {
            return Err(ConnectorError::KafkaBroker {
                context: format!("reading {topic}/{partition} to offset {hi} timed out at {next}"),
                code: RDKafkaErrorCode::RequestTimedOut,
            });
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                next = m.offset() + 1;
                f(&m);
            }
            Some(Err(e)) => return Err(kerr(&format!("reading {topic}/{partition}"), e)),
            None => next = next.max(app_position(&consumer, topic, partition).unwrap_or(next)),
        }
    }
    Ok(())
}

/// The client's position in `topic`/`partition`: past the last record handed out, and past any
/// transaction marker after it (markers take offsets but are never delivered, so a reader that
/// counts delivered offsets alone never reaches a transactional topic's high watermark).
fn app_position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    let tpl = consumer.position().ok()?;
    match tpl.find_partition(topic, partition)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// The last trade of each of `wanted` in the trades topic: each partition is read from at most
/// `max_back` records before its end (keys are `exchange:symbol`, so an instrument lives in one
/// partition and its last record there is its last trade). An instrument not found has no entry.
pub fn last_trades(cfg: &KafkaConfig, topic: &str, wanted: &[Instrument], max_back: i64) -> Result<BTreeMap<Instrument, Trade>, ConnectorError> {
    let mut last: BTreeMap<Instrument, Trade> = BTreeMap::new();
    let n = match partitions(cfg, topic) {
        Ok(n) => n,
        Err(ConnectorError::KafkaBroker { code: RDKafkaErrorCode::UnknownTopicOrPartition, .. }) => return Ok(last),
        Err(e) => return Err(e),
    };
    let keys: BTreeMap<String, Instrument> = wanted.iter().map(|i| (format!("{}:{}", i.exchange(), i.symbol()), *i)).collect();
    for p in 0..n {
        read_tail(cfg, topic, p, max_back, |m| {
            let Some(inst) = m.key().and_then(|k| std::str::from_utf8(k).ok()).and_then(|k| keys.get(k)) else { return };
            if let Some(t) = m.payload().and_then(|b| serde_json::from_slice::<TradeRecord>(b).ok()).and_then(|r| r.to_trade().ok()) {
                last.insert(*inst, t);
            }
        })?;
    }
    Ok(last)
}

/// Reads the headers of a message as `(key, value)` strings (tests, tools).
pub fn header_pairs<H: Headers>(h: &H) -> Vec<(String, String)> {
    h.iter().map(|x| (x.key.to_string(), x.value.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())).collect()
}

/// Reads every record of `topic` from its low to its high watermark without decoding (the
/// client's raw consume rate, for benchmarks): one consumer per partition, in parallel, as the
/// topology reads. Returns the record count.
pub fn consume_raw(cfg: &KafkaConfig, topic: &str) -> Result<u64, ConnectorError> {
    let n = partitions(cfg, topic)?;
    let handles: Vec<_> = (0..n)
        .map(|p| {
            let (cfg, topic) = (cfg.clone(), topic.to_string());
            std::thread::spawn(move || -> Result<u64, ConnectorError> {
                let consumer = cfg.consumer("tickflow-bench")?;
                let (lo, hi) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(10)).map_err(|e| kerr("watermarks", e))?;
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(&topic, p, Offset::Offset(lo)).map_err(|e| kerr("assign", e))?;
                consumer.assign(&tpl).map_err(|e| kerr("assign", e))?;
                let (mut seen, mut bytes) = (0i64, 0usize);
                let mut next = lo;
                while next < hi {
                    match consumer.poll(Duration::from_millis(500)) {
                        Some(Ok(m)) => {
                            seen += 1;
                            next = m.offset() + 1;
                            bytes += m.payload().map_or(0, <[u8]>::len);
                        }
                        Some(Err(e)) => return Err(kerr("consuming", e)),
                        None => next = next.max(app_position(&consumer, &topic, p).unwrap_or(next)),
                    }
                }
                std::hint::black_box(bytes);
                Ok(seen as u64)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| ConnectorError::Panicked { what: "consumer thread".into() })??;
    }
    Ok(total)
}

/// An in-process Kafka-protocol broker (librdkafka's mock cluster) for demos, benchmarks and
/// tests without a real broker. Keep it alive while clients use its `bootstrap_servers()`.
pub fn mock_cluster(brokers: i32) -> Result<rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>, ConnectorError> {
    rdkafka::mocking::MockCluster::new(brokers).map_err(|e| kerr("mock cluster", e))
}
