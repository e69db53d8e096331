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

/// The stores `FundingStoreArgs` asks for: QuestDB, and a topic of the namespace.
pub(crate) struct Stores {
    store: Option<QuestDbSink>,
    publish: Option<(KafkaSink, String)>,
}

impl Stores {
    /// Connects the stores `a` asks for (`client`: the Kafka client id; `topic`: the base name of
    /// the topic published to).
    pub(crate) fn open(a: &FundingStoreArgs, client: &str, topic: &str) -> Result<Self> {
        let store = match a.questdb.target()? {
            Some(t) => Some(QuestDbSink::connect(&t.conf, t.policy.clone(), crate::telemetry::global().questdb.clone())?),
            None => None,
        };
        let publish = if a.publish { Some((KafkaSink::new(&a.kafka.config()?, client)?, a.kafka.topics().name(topic))) } else { None };
        Ok(Stores { store, publish })
    }

    /// Writes funding `events` (in order) to both stores.
    pub(crate) fn funding(&mut self, events: &[FundingRate]) -> Result<(), tickflow_connectors::ConnectorError> {
        if let Some(q) = self.store.as_mut() {
            events.iter().try_for_each(|f| q.funding(f))?;
        }
        if let Some((k, topic)) = self.publish.as_mut() {
            events.iter().try_for_each(|f| k.send_funding(topic, f))?;
        }
        Ok(())
    }

    /// Writes mark or index candles (`price`: `mark`, `index`) to both stores.
    pub(crate) fn price_candles(&mut self, bars: &[tickflow_model::Bar], price: &'static str) -> Result<(), tickflow_connectors::ConnectorError> {
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

/// The funding file and the stores.
pub(crate) struct FundingSinks {
    writer: FundingWriter,
    stores: Stores,
}

impl FundingSinks {
    /// Creates `out` and connects the stores `a` asks for (`client`: the Kafka client id).
    pub(crate) fn open(out: &str, a: &FundingStoreArgs, client: &str) -> Result<Self> {
        let writer = FundingWriter::create(out)?;
        Ok(FundingSinks { writer, stores: Stores::open(a, client, "funding")? })
    }

    /// Writes `events` (in order) everywhere.
    pub(crate) fn write(&mut self, events: &[FundingRate]) -> Result<(), tickflow_connectors::ConnectorError> {
        self.writer.write_all(events)?;
        self.stores.funding(events)
    }

    /// Pushes what was written so far out (a live stream's events are visible as they settle).
    pub(crate) fn flush(&mut self) -> Result<(), tickflow_connectors::ConnectorError> {
        self.writer.flush()?;
        self.stores.flush()
    }

    /// Flushes everything and finishes the file; returns the rows written.
    pub(crate) fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.writer.finish()?;
        Ok(self.writer.rows())
    }
}
