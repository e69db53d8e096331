//! Where funding events go, for `fetch funding` and `stream --funding`: the file (CSV or
//! Parquet), and optionally QuestDB's `funding` table and the `<namespace>.funding` topic — the
//! same keys (funding time, exchange, symbol) everywhere, so REST history and streamed events
//! converge on one row per event. Mark and index candles (`fetch ohlcv --price mark|index`) go
//! to the `price_candles` table and topic the same way.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use tickflow_connectors::kafka::KafkaSink;
use tickflow_connectors::questdb::QuestDbSink;
use tickflow_connectors::FundingWriter;
use tickflow_model::FundingRate;

/// The optional stores of funding events.
#[derive(Args, Clone, Debug)]
pub struct FundingStoreArgs {
    /// Also write to QuestDB's `funding` table (DEDUP on time, exchange, symbol: a refetch
    /// rewrites the same rows).
    #[command(flatten)]
    pub questdb: crate::cli::questdb::QuestDbArgs,
    /// Also publish to `<namespace>.funding` (key `exchange:symbol:ts`; record `tickflow.funding.v1`).
    #[arg(long)]
    pub publish: bool,
    #[command(flatten)]
    pub kafka: crate::cli::kafka::BrokerArgs,
}

/// The open file and stores.
pub(crate) struct FundingSinks {
    writer: FundingWriter,
    store: Option<QuestDbSink>,
    publish: Option<(KafkaSink, String)>,
}

impl FundingSinks {
    /// Creates `out` and connects the stores `a` asks for (`client`: the Kafka client id).
    pub(crate) fn open(out: &str, a: &FundingStoreArgs, client: &str) -> Result<Self> {
        let writer = FundingWriter::create(out)?;
        let store = match a.questdb.target()? {
            Some(t) => Some(QuestDbSink::connect(&t.conf, t.policy.clone(), crate::telemetry::global().questdb.clone())?),
            None => None,
        };
        let publish = if a.publish { Some((KafkaSink::new(&a.kafka.config()?, client)?, a.kafka.topics().name("funding"))) } else { None };
        Ok(FundingSinks { writer, store, publish })
    }

    /// Writes `events` (in order) everywhere.
    pub(crate) fn write(&mut self, events: &[FundingRate]) -> Result<(), tickflow_connectors::ConnectorError> {
        self.writer.write_all(events)?;
        if let Some(q) = self.store.as_mut() {
            events.iter().try_for_each(|f| q.funding(f))?;
        }
        if let Some((k, topic)) = self.publish.as_mut() {
            events.iter().try_for_each(|f| k.send_funding(topic, f))?;
        }
        Ok(())
    }

    /// Pushes what was written so far out (a live stream's events are visible as they settle).
    pub(crate) fn flush(&mut self) -> Result<(), tickflow_connectors::ConnectorError> {
        self.writer.flush()?;
        if let Some(q) = self.store.as_mut() {
            q.flush()?;
        }
        if let Some((k, _)) = self.publish.as_mut() {
            k.flush(Duration::from_secs(30))?;
        }
        Ok(())
    }

    /// Flushes everything and finishes the file; returns the rows written.
    pub(crate) fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.writer.finish()?;
        Ok(self.writer.rows())
    }
}

/// The stores of mark and index candles: QuestDB's `price_candles` table and the
/// `<namespace>.price_candles` topic, as `a` asks.
pub(crate) struct PriceCandleStores {
    store: Option<QuestDbSink>,
    publish: Option<(KafkaSink, String)>,
}

impl PriceCandleStores {
    /// Connects the stores `a` asks for (`client`: the Kafka client id).
    pub(crate) fn open(a: &FundingStoreArgs, client: &str) -> Result<Self> {
        let store = match a.questdb.target()? {
            Some(t) => Some(QuestDbSink::connect(&t.conf, t.policy.clone(), crate::telemetry::global().questdb.clone())?),
            None => None,
        };
        let publish = if a.publish { Some((KafkaSink::new(&a.kafka.config()?, client)?, a.kafka.topics().name("price_candles"))) } else { None };
        Ok(PriceCandleStores { store, publish })
    }

    /// Writes `bars`, which follow `price` (`mark`, `index`).
    pub(crate) fn write(&mut self, bars: &[tickflow_model::Bar], price: &'static str) -> Result<(), tickflow_connectors::ConnectorError> {
        if let Some(q) = self.store.as_mut() {
            bars.iter().try_for_each(|b| q.price_candle(b, price))?;
        }
        if let Some((k, topic)) = self.publish.as_mut() {
            bars.iter().try_for_each(|b| k.send_price_candle(topic, b, price))?;
        }
        Ok(())
    }

    /// Flushes both stores.
    pub(crate) fn flush(&mut self) -> Result<(), tickflow_connectors::ConnectorError> {
        if let Some(q) = self.store.as_mut() {
            q.flush()?;
        }
        if let Some((k, _)) = self.publish.as_mut() {
            k.flush(Duration::from_secs(30))?;
        }
        Ok(())
    }
}
