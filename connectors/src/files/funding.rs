//! Funding-rate files: CSV, or Parquet by name.
//!
//! CSV (`timestamp` in epoch milliseconds, decimals exact):
//!
//! ```text
//! timestamp,exchange,symbol,funding_rate,mark_price
//! 1729584000000,binance,BTC/USDT:USDT,0.0001,67251.4
//! ```
//!
//! Parquet: `timestamp` `Timestamp(ns, "UTC")`, `exchange`/`symbol` `Utf8`, `funding_rate`
//! `Decimal128(38, 18)`, `mark_price` `Decimal128(38, 9)` (nullable).

use std::io::{BufWriter, Write};
use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tickflow_model::FundingRate;

use super::parquet::{dec_value, decimal, utc_ns, wants_parquet, Out};
use crate::ConnectorError;

/// Header of funding CSV files.
pub const FUNDING_CSV_HEADER: &str = "timestamp,exchange,symbol,funding_rate,mark_price";

/// The schema of funding Parquet files.
pub fn funding_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("timestamp", utc_ns(), false),
        Field::new("exchange", DataType::Utf8, false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("funding_rate", decimal(38, 18), false),
        Field::new("mark_price", decimal(38, 9), true),
    ]))
}

/// Reads a funding file ([`FUNDING_CSV_HEADER`] columns, CSV or Parquet by content), sorted by
/// (instrument, time). Rows name `file:line` in errors.
pub fn read_funding(path: &str) -> Result<Vec<FundingRate>, ConnectorError> {
    let text = super::parquet::read_text(path)?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header = lines.next().map(|(_, h)| h.trim().to_ascii_lowercase()).unwrap_or_default();
    let names: Vec<&str> = header.split(',').collect();
    let col = |n: &str| {
        names
            .iter()
            .position(|x| *x == n)
            .ok_or_else(|| ConnectorError::Header { path: path.into(), message: format!("no {n} column; expected {FUNDING_CSV_HEADER}") })
    };
    let (t, ex, sym, rate, mark) = (col("timestamp")?, col("exchange")?, col("symbol")?, col("funding_rate")?, col("mark_price").ok());
    let mut out = Vec::new();
    for (ln, line) in lines {
        let f: Vec<&str> = line.split(',').collect();
        let err = |message: String| ConnectorError::Row { path: path.into(), line: ln as u64 + 1, message };
        if f.len() < names.len() {
            return Err(err(format!("expected {} fields, found {}", names.len(), f.len())));
        }
        let ts = tickflow_model::Ts::parse_bytes(f[t].as_bytes()).map_err(|e| err(e.to_string()))?;
        let instrument = tickflow_model::Instrument::new(f[ex], f[sym]).map_err(|e| err(e.to_string()))?;
        let rate = tickflow_model::Notional::parse_bytes(f[rate].as_bytes()).map_err(|e| err(format!("funding_rate: {e}")))?;
        let mark_price = match mark.map(|i| f[i].trim()).filter(|m| !m.is_empty()) {
            Some(m) => Some(tickflow_model::Decimal::parse_bytes(m.as_bytes()).map_err(|e| err(format!("mark_price: {e}")))?),
            None => None,
        };
        out.push(FundingRate { instrument, ts, rate, mark_price });
    }
    out.sort_by_key(|f| f.sort_key());
    Ok(out)
}

/// Writes funding events; call [`finish`](Self::finish) at the end.
pub struct FundingWriter {
    name: String,
    out: Sink,
    rows: u64,
}

enum Sink {
    Csv(BufWriter<std::fs::File>),
    Parquet(Box<Columns>),
}

struct Columns {
    out: Out,
    schema: SchemaRef,
    ts: TimestampNanosecondBuilder,
    exchange: StringBuilder,
    symbol: StringBuilder,
    rate: Decimal128Builder,
    mark: Decimal128Builder,
}

impl FundingWriter {
    /// Creates `path`: Parquet when it ends in `.parquet`/`.pq`, else CSV.
    pub fn create(path: &str) -> Result<Self, ConnectorError> {
        let out = if wants_parquet(path) {
            let schema = funding_schema();
            Sink::Parquet(Box::new(Columns {
                out: Out::create(path, schema.clone())?,
                schema,
                ts: TimestampNanosecondBuilder::new().with_timezone("UTC"),
                exchange: StringBuilder::new(),
                symbol: StringBuilder::new(),
                rate: Decimal128Builder::new().with_data_type(decimal(38, 18)),
                mark: Decimal128Builder::new().with_data_type(decimal(38, 9)),
            }))
        } else {
            let f = std::fs::File::create(path).map_err(|e| ConnectorError::io(path, e))?;
            let mut w = BufWriter::new(f);
            writeln!(w, "{FUNDING_CSV_HEADER}").map_err(|e| ConnectorError::io(path, e))?;
            Sink::Csv(w)
        };
        Ok(FundingWriter { name: path.into(), out, rows: 0 })
    }

    /// Writes events in order.
    pub fn write_all(&mut self, events: &[FundingRate]) -> Result<(), ConnectorError> {
        for f in events {
            match &mut self.out {
                Sink::Csv(w) => {
                    let mark = f.mark_price.map(|m| m.to_string()).unwrap_or_default();
                    writeln!(w, "{},{},{},{},{mark}", f.ts.millis(), f.instrument.exchange(), f.instrument.symbol(), f.rate)
                        .map_err(|e| ConnectorError::io(&self.name, e))?;
                }
                Sink::Parquet(c) => {
                    let Columns { ts, exchange, symbol, rate, mark, .. } = &mut **c;
                    let r = dec_value(&self.name, "funding_rate", f.rate.mantissa())?;
                    let m = f.mark_price.map(|m| dec_value(&self.name, "mark_price", m.mantissa())).transpose()?;
                    ts.append_value(f.ts.0);
                    exchange.append_value(f.instrument.exchange());
                    symbol.append_value(f.instrument.symbol());
                    rate.append_value(r);
                    mark.append_option(m);
                }
            }
            self.rows += 1;
        }
        if let Sink::Parquet(c) = &mut self.out {
            let Columns { out, schema, ts, exchange, symbol, rate, mark } = &mut **c;
            let cols: Vec<ArrayRef> =
                vec![Arc::new(ts.finish()), Arc::new(exchange.finish()), Arc::new(symbol.finish()), Arc::new(rate.finish()), Arc::new(mark.finish())];
            out.write(schema, cols)?;
        }
        Ok(())
    }

    /// Pushes CSV rows to the file (a live stream's rows are readable as they settle); Parquet
    /// rows reach the file in row groups and at [`finish`](Self::finish).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        match &mut self.out {
            Sink::Csv(w) => w.flush().map_err(|e| ConnectorError::io(&self.name, e)),
            Sink::Parquet(_) => Ok(()),
        }
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes; a Parquet file gets its footer and is published.
    pub fn finish(&mut self) -> Result<(), ConnectorError> {
        match &mut self.out {
            Sink::Csv(w) => w.flush().map_err(|e| ConnectorError::io(&self.name, e)),
            Sink::Parquet(c) => c.out.finish(),
        }
    }
}
