//! Kafka topics: trades (`trades_topic`), bars (`bars_topic`), late trades (`late_topic`) and the
//! paper-trading orders, fills and equity (`publish`), as versioned JSON records.
//!
//! - **Input**: any stream; `send` turns a record into zero or more Kafka records.
//! - **Partitioning**: written where the records are ([`super::local`]): every worker writes with
//!   its own producer (one per worker, shared by its topic sinks). Each key is produced on one
//!   worker, so the order of a key's records holds, and compacted topics keep the last one.
//! - **Flush**: the producer's acknowledgements are awaited at least every `interval` of wall
//!   time while records wait, and when the input ends; a failed delivery fails the run.
//! - **Durable**: up to the input frontier after all sent records were acknowledged.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use tickflow_connectors::kafka::{KafkaConfig, KafkaSink};
use tickflow_connectors::ConnectorError;

use super::Sink;

/// A worker's producer, shared by its topic sinks.
pub type Producer = Rc<RefCell<KafkaSink>>;

/// Opens a worker's producer.
pub fn producer(cfg: &KafkaConfig) -> Result<Producer> {
    Ok(Rc::new(RefCell::new(KafkaSink::new(cfg, "tickflow")?)))
}

/// Waits for a producer's acknowledgements, timing it for `/metrics`.
pub fn acknowledge(sink: &mut KafkaSink) -> Result<()> {
    let t0 = Instant::now();
    let r = sink.flush(Duration::from_secs(60));
    crate::telemetry::global().kafka_flush.observe(t0.elapsed());
    if r.is_err() {
        crate::telemetry::global().kafka_produce_errors.fetch_add(1, Ordering::Relaxed);
    }
    Ok(r?)
}

/// Records to one or more topics of a shared producer.
pub struct KafkaTopic<F> {
    name: String,
    producer: Producer,
    send: F,
    interval: Duration,
    last_flush: Instant,
    pending: bool,
}

impl<F> KafkaTopic<F> {
    /// A sink named `name` sending with `send`, acknowledged at least every `interval`.
    pub fn new(name: &str, producer: Producer, interval: Duration, send: F) -> Self {
        KafkaTopic { name: format!("kafka {name}"), producer, send, interval, last_flush: Instant::now(), pending: false }
    }
}

impl<D, F> Sink<D> for KafkaTopic<F>
where
    F: FnMut(&mut KafkaSink, &D) -> Result<(), ConnectorError> + 'static,
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn write(&mut self, _time: u64, records: &mut Vec<D>) -> Result<()> {
        let mut p = self.producer.borrow_mut();
        for r in records.iter() {
            if let Err(e) = (self.send)(&mut p, r) {
                crate::telemetry::global().kafka_produce_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        }
        self.pending |= !records.is_empty();
        Ok(())
    }
    fn flush(&mut self, done: bool) -> Result<bool> {
        if !self.pending && !done {
            return Ok(false);
        }
        if done || self.last_flush.elapsed() >= self.interval {
            self.last_flush = Instant::now();
            acknowledge(&mut self.producer.borrow_mut())?;
            self.pending = false;
        }
        Ok(self.pending)
    }
}
