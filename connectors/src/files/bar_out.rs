//! Bar and late-trade output files: CSV or JSON lines; bars also as Parquet
//! ([`super::parquet`]).
//!
//! Bar CSV (one row per bar emission; revisions are extra rows with the same key and a higher
//! `revision`; `open_time`/`close_time` in epoch milliseconds, decimals exact):
//!
//! ```text
//! symbol,timeframe,open_time,open,high,low,close,volume,trades,exchange,close_time,quote_volume,vwap,buy_volume,sell_volume,first_trade_id,last_trade_id,revision
//! BTC/USDT,1m,1762795440000,105410.1,105410.1,105383.8,105383.8,0.0001746,2,kraken,1762795500000,18.40…,105395.2…,0.0001746,0,10218209,10218210,0
//! ```
//!
//! JSON lines carry the same fields, decimals as strings.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde::Serialize;
use tickflow_model::{Bar, LateTrade};

use super::parquet::BarParquet;
use crate::ConnectorError;

/// Header of bar CSV files.
pub const BAR_CSV_HEADER: &str = "symbol,timeframe,open_time,open,high,low,close,volume,trades,exchange,close_time,quote_volume,vwap,buy_volume,sell_volume,first_trade_id,last_trade_id,revision";

/// Output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OutFormat {
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Parquet ([`super::parquet::bar_schema`]).
    Parquet,
}

impl OutFormat {
    /// `jsonl`/`ndjson`/`json` or `parquet`/`pq` by extension, CSV otherwise.
    pub fn from_path(path: &str) -> OutFormat {
        let p = path.to_ascii_lowercase();
        if super::parquet::wants_parquet(&p) {
            OutFormat::Parquet
        } else if p.ends_with(".jsonl") || p.ends_with(".ndjson") || p.ends_with(".json") {
            OutFormat::Jsonl
        } else {
            OutFormat::Csv
        }
    }
}

/// Flat bar record used for JSON lines.
#[derive(Serialize)]
struct BarRecord<'a> {
    exchange: &'a str,
    symbol: &'a str,
    timeframe: String,
    open_time: i64,
    close_time: i64,
    open: String,
    high: String,
    low: String,
    close: String,
    volume: String,
    quote_volume: String,
    vwap: Option<String>,
    trades: u64,
    buy_volume: String,
    sell_volume: String,
    first_trade_id: Option<u64>,
    last_trade_id: Option<u64>,
    revision: u32,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Writes bars to a file or any writer: CSV, JSON lines or Parquet. Call
/// [`finish`](Self::finish) at the end (a Parquet file is published only then).
pub struct BarWriter {
    out: Out,
    name: String,
    rows: u64,
}

enum Out {
    Text(Box<dyn Write + Send>, OutFormat),
    Parquet(Box<BarParquet>),
}

impl BarWriter {
    /// Creates `path` (format by extension).
    pub fn create(path: &str) -> Result<Self, ConnectorError> {
        if OutFormat::from_path(path) == OutFormat::Parquet {
            return Ok(BarWriter { out: Out::Parquet(Box::new(BarParquet::create(path)?)), name: path.into(), rows: 0 });
        }
        let f = File::create(path).map_err(|e| ConnectorError::io(path, e))?;
        Self::new(path, Box::new(BufWriter::with_capacity(1 << 20, f)), OutFormat::from_path(path))
    }
    /// Appends to an existing bar file (CSV without a second header; JSON lines as is; a
    /// Parquet file is rewritten with its bars first, published by [`finish`](Self::finish)).
    pub fn append(path: &str) -> Result<Self, ConnectorError> {
        if OutFormat::from_path(path) == OutFormat::Parquet {
            let old = super::bar_csv::read_bars(path, "unknown", "DATA/USD")?;
            let mut w = Self::create(path)?;
            for b in &old {
                w.write(b)?;
            }
            w.rows = 0;
            return Ok(w);
        }
        let f = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| ConnectorError::io(path, e))?;
        Ok(BarWriter { out: Out::Text(Box::new(BufWriter::with_capacity(1 << 20, f)), OutFormat::from_path(path)), name: path.into(), rows: 0 })
    }
    /// Wraps a writer.
    pub fn new(name: &str, mut out: Box<dyn Write + Send>, format: OutFormat) -> Result<Self, ConnectorError> {
        let out = match format {
            OutFormat::Csv => {
                writeln!(out, "{BAR_CSV_HEADER}").map_err(|e| ConnectorError::io(name, e))?;
                Out::Text(out, format)
            }
            OutFormat::Jsonl => Out::Text(out, format),
            OutFormat::Parquet => Out::Parquet(Box::new(BarParquet::new(name, out)?)),
        };
        Ok(BarWriter { out, name: name.into(), rows: 0 })
    }
    /// Writes one bar.
    pub fn write(&mut self, b: &Bar) -> Result<(), ConnectorError> {
        let r = match &mut self.out {
            Out::Parquet(p) => {
                self.rows += 1;
                return p.write(b);
            }
            Out::Text(out, OutFormat::Csv | OutFormat::Parquet) => writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                b.instrument.symbol(),
                b.series(),
                b.open_time.millis(),
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.trades,
                b.instrument.exchange(),
                b.close_time().millis(),
                b.quote_volume,
                opt(b.vwap()),
                b.buy_volume,
                b.sell_volume,
                opt(b.first_trade_id),
                opt(b.last_trade_id),
                b.revision
            ),
            Out::Text(out, OutFormat::Jsonl) => {
                let rec = BarRecord {
                    exchange: b.instrument.exchange(),
                    symbol: b.instrument.symbol(),
                    timeframe: b.series().to_string(),
                    open_time: b.open_time.millis(),
                    close_time: b.close_time().millis(),
                    open: b.open.to_string(),
                    high: b.high.to_string(),
                    low: b.low.to_string(),
                    close: b.close.to_string(),
                    volume: b.volume.to_string(),
                    quote_volume: b.quote_volume.to_string(),
                    vwap: b.vwap().map(|v| v.to_string()),
                    trades: b.trades,
                    buy_volume: b.buy_volume.to_string(),
                    sell_volume: b.sell_volume.to_string(),
                    first_trade_id: b.first_trade_id,
                    last_trade_id: b.last_trade_id,
                    revision: b.revision,
                };
                serde_json::to_writer(&mut *out, &rec).map_err(std::io::Error::other).and_then(|_| out.write_all(b"\n"))
            }
        };
        self.rows += 1;
        r.map_err(|e| ConnectorError::io(&self.name, e))
    }
    /// Writes `bars` in order, then flushes.
    pub fn write_all(&mut self, bars: &[Bar]) -> Result<(), ConnectorError> {
        for b in bars {
            self.write(b)?;
        }
        self.flush()
    }
    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }
    /// Flushes (Parquet: hands the buffered rows to the Parquet writer; the file is complete
    /// only after [`finish`](Self::finish)).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        match &mut self.out {
            Out::Text(out, _) => out.flush().map_err(|e| ConnectorError::io(&self.name, e)),
            Out::Parquet(p) => p.flush(),
        }
    }
    /// Whether written rows stay buffered until [`finish`](Self::finish) (Parquet).
    pub fn buffers_until_finish(&self) -> bool {
        matches!(self.out, Out::Parquet(_))
    }
    /// Flushes everything and, for Parquet, writes the footer and publishes the file.
    pub fn finish(&mut self) -> Result<(), ConnectorError> {
        match &mut self.out {
            Out::Text(out, _) => out.flush().map_err(|e| ConnectorError::io(&self.name, e)),
            Out::Parquet(p) => p.finish(),
        }
    }
}

/// Header of late-trade CSV files.
pub const LATE_CSV_HEADER: &str = "timestamp,exchange,symbol,trade_id,price,amount,side,watermark,disposition";

/// Writes the late stream as CSV (timestamps in epoch ns).
pub struct LateWriter {
    out: Box<dyn Write + Send>,
    name: String,
}

impl LateWriter {
    /// Creates `path`.
    pub fn create(path: &str) -> Result<Self, ConnectorError> {
        if super::parquet::wants_parquet(path) {
            return Err(ConnectorError::Header { path: path.into(), message: "the late-trade file is CSV; name it .csv".into() });
        }
        let f = File::create(path).map_err(|e| ConnectorError::io(path, e))?;
        let mut out: Box<dyn Write + Send> = Box::new(BufWriter::new(f));
        writeln!(out, "{LATE_CSV_HEADER}").map_err(|e| ConnectorError::io(path, e))?;
        Ok(LateWriter { out, name: path.into() })
    }
    /// Writes one record.
    pub fn write(&mut self, l: &LateTrade) -> Result<(), ConnectorError> {
        let t = &l.trade;
        let d = serde_json::to_value(l.disposition).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{}",
            t.ts.0,
            t.instrument.exchange(),
            t.instrument.symbol(),
            opt(t.trade_id),
            t.price,
            t.amount,
            t.side.as_str(),
            l.watermark.0,
            d
        )
        .map_err(|e| ConnectorError::io(&self.name, e))
    }
    /// Flushes.
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        self.out.flush().map_err(|e| ConnectorError::io(&self.name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_model::{Instrument, Ts};

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn csv_and_jsonl_rows() {
        let mut b = Bar::carried(Instrument::new("kraken", "BTC/USDT").unwrap(), "1m".parse().unwrap(), Ts::from_secs(60), "100.5".parse().unwrap());
        b.volume = "2".parse().unwrap();
        b.quote_volume = "201.25".parse().unwrap();
        b.trades = 2;
        b.first_trade_id = Some(5);
        let buf = Shared::default();
        let mut w = BarWriter::new("x", Box::new(buf.clone()), OutFormat::Csv).unwrap();
        w.write(&b).unwrap();
        w.flush().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, format!("{BAR_CSV_HEADER}\nBTC/USDT,1m,60000,100.5,100.5,100.5,100.5,2,2,kraken,120000,201.25,100.625,0,0,5,,0\n"));
        let buf = Shared::default();
        let mut w = BarWriter::new("x", Box::new(buf.clone()), OutFormat::Jsonl).unwrap();
        w.write(&b).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        assert_eq!(v["vwap"], "100.625");
        assert_eq!(v["open_time"], 60000);
        assert_eq!(v["timeframe"], "1m");
        assert_eq!(OutFormat::from_path("a.JSONL"), OutFormat::Jsonl);
    }
}
