//! Resumable REST trade history.
//!
//! A [`TradeHistory`] pages through a venue's public trades from a start time. Its cursor is a
//! plain string (Kraken: the `last` nanosecond cursor) saved in a checkpoint file after every page
//! written, so an interrupted fetch continues where it stopped; trades are de-duplicated by id
//! across page boundaries and restarts (the last written id is part of the checkpoint).

use std::io::Write;

use tickflow_model::{Trade, Ts};

use crate::http::HttpClient;
use crate::venues::kraken;
use crate::ConnectorError;

/// A source of historical trades, page by page. Pages may overlap at their boundaries (so no
/// trade sharing a boundary timestamp is skipped); consumers de-duplicate by trade id.
pub trait TradeHistory {
    /// The next page, oldest first; `None` when the history is exhausted (or `until` is reached).
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError>;
    /// The cursor to resume from.
    fn cursor(&self) -> String;
}

/// Kraken `GET /0/public/Trades?pair=…&since=…` (up to 1000 trades a page).
pub struct KrakenHistory {
    client: HttpClient,
    base: String,
    pair: String,
    exchange: String,
    cursor: String,
    until: Ts,
}

impl KrakenHistory {
    /// History of `symbol` from `since` (or from a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Self {
        KrakenHistory {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            pair: kraken::market_id(symbol),
            exchange: "kraken".into(),
            cursor: cursor.unwrap_or_else(|| since.0.to_string()),
            until,
        }
    }
    /// HTTP counters.
    pub fn stats(&self) -> crate::http::HttpStats {
        self.client.stats
    }
}

impl TradeHistory for KrakenHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        // ask from one nanosecond before the cursor: trades sharing the boundary timestamp are
        // fetched again rather than skipped, and the caller drops them by trade id
        let since = self.cursor.parse::<i64>().map(|c| (c - 1).max(0).to_string()).unwrap_or_else(|_| self.cursor.clone());
        let url = format!("{}/0/public/Trades?pair={}&since={}", self.base, self.pair, since);
        let body = self.client.get(&url)?;
        let (trades, last) = kraken::parse_trades(&body, &self.exchange, Ts::now())?;
        let Some(last) = last else { return Ok(None) };
        if trades.is_empty() || last == self.cursor {
            return Ok(None);
        }
        self.cursor = last;
        let kept: Vec<Trade> = trades.into_iter().filter(|t| t.ts < self.until).collect();
        if kept.is_empty() {
            return Ok(None);
        }
        Ok(Some(kept))
    }
    fn cursor(&self) -> String {
        self.cursor.clone()
    }
}

/// A checkpoint: the cursor to continue from and the last trade id written.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Venue cursor.
    pub cursor: String,
    /// Last trade id written to the output.
    pub last_id: Option<u64>,
    /// Rows written so far.
    pub rows: u64,
}

impl Checkpoint {
    /// Reads `path`, if it exists.
    pub fn load(path: &str) -> Result<Option<Checkpoint>, ConnectorError> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| ConnectorError::Header { path: path.into(), message: format!("bad checkpoint: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ConnectorError::io(path, e)),
        }
    }
    /// Writes `path` atomically (temp file + rename).
    pub fn save(&self, path: &str) -> Result<(), ConnectorError> {
        let tmp = format!("{path}.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| ConnectorError::io(&tmp, e))?;
        f.write_all(serde_json::to_string(self).unwrap_or_default().as_bytes()).and_then(|_| f.sync_all()).map_err(|e| ConnectorError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ConnectorError::io(path, e))
    }
}

/// Kraken `GET /0/public/OHLC?pair=…&interval=…&since=…`: the venue's own candles (the last,
/// still forming candle left out).
pub fn kraken_ohlc(
    client: &mut HttpClient,
    base_url: &str,
    symbol: &str,
    timeframe: tickflow_model::Timeframe,
    since: Ts,
) -> Result<Vec<tickflow_model::Bar>, ConnectorError> {
    let url = format!(
        "{}/0/public/OHLC?pair={}&interval={}&since={}",
        base_url.trim_end_matches('/'),
        kraken::market_id(symbol),
        timeframe.secs() / 60,
        since.0 / 1_000_000_000
    );
    let body = client.get(&url)?;
    kraken::parse_ohlc(&body, "kraken", timeframe)
}
