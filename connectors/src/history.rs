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

/// Venues whose candle history pages forward by time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KlineVenue {
    /// `GET /api/v3/klines?symbol&interval&startTime&endTime&limit=1000`.
    Binance,
    /// `GET /v5/market/kline?category=spot&symbol&interval&start&end&limit=1000` (newest first).
    Bybit,
    /// `GET /products/{id}/candles?granularity&start&end` (≤ 300 candles, newest first).
    Coinbase,
}

impl KlineVenue {
    /// By venue id.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "binance" => Some(KlineVenue::Binance),
            "bybit" => Some(KlineVenue::Bybit),
            "coinbase" => Some(KlineVenue::Coinbase),
            _ => None,
        }
    }
    fn page_len(self) -> i64 {
        match self {
            KlineVenue::Coinbase => 300,
            _ => 1000,
        }
    }
    fn interval(self, tf: tickflow_model::Timeframe) -> Result<String, ConnectorError> {
        let s = tf.secs();
        let bad = || crate::venues::payload_err(self.name(), format!("timeframe {tf} is not offered"));
        Ok(match self {
            KlineVenue::Binance => tf.to_string(),
            KlineVenue::Bybit => match s {
                86_400 => "D".into(),
                604_800 => "W".into(),
                s if s % 60 == 0 && s < 86_400 => (s / 60).to_string(),
                _ => return Err(bad()),
            },
            KlineVenue::Coinbase => match s {
                60 | 300 | 900 | 3600 | 21_600 | 86_400 => s.to_string(),
                _ => return Err(bad()),
            },
        })
    }
    fn name(self) -> &'static str {
        match self {
            KlineVenue::Binance => "binance",
            KlineVenue::Bybit => "bybit",
            KlineVenue::Coinbase => "coinbase",
        }
    }
}

/// Closed candles of `symbol` in `[since, until)`, paging forward by time; overlapping page
/// boundaries are de-duplicated by open time. Candles still forming at `now` are left out.
#[allow(clippy::too_many_arguments)]
pub fn fetch_klines(
    client: &mut HttpClient,
    venue: KlineVenue,
    base_url: &str,
    symbol: &str,
    timeframe: tickflow_model::Timeframe,
    since: Ts,
    until: Ts,
    mut on_page: impl FnMut(&[tickflow_model::Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let base = base_url.trim_end_matches('/');
    let inst = tickflow_model::Instrument::new(venue.name(), symbol).map_err(|e| crate::venues::payload_err(venue.name(), e.to_string()))?;
    let tfn = timeframe.nanos();
    let interval = venue.interval(timeframe)?;
    let now = Ts::now();
    let mut start = timeframe.open_of(since).0;
    let mut last_open: Option<i64> = None;
    let mut total = 0u64;
    while start < until.0 {
        let end = (start + tfn * venue.page_len()).min(until.0);
        let ms = |t: i64| t / 1_000_000;
        let url = match venue {
            KlineVenue::Binance => format!(
                "{base}/api/v3/klines?symbol={}&interval={interval}&startTime={}&endTime={}&limit=1000",
                crate::venues::binance::market_id(symbol),
                ms(start),
                ms(end) - 1
            ),
            KlineVenue::Bybit => format!(
                "{base}/v5/market/kline?category=spot&symbol={}&interval={interval}&start={}&end={}&limit=1000",
                crate::venues::bybit::market_id(symbol),
                ms(start),
                ms(end) - 1
            ),
            KlineVenue::Coinbase => format!(
                "{base}/products/{}/candles?granularity={interval}&start={}&end={}",
                crate::venues::coinbase::market_id(symbol),
                Ts(start).to_rfc3339(),
                Ts(end - tfn).to_rfc3339()
            ),
        };
        let body = client.get(&url)?;
        let mut bars = match venue {
            KlineVenue::Binance => crate::venues::binance::parse_klines(&body, inst, timeframe, now)?,
            KlineVenue::Bybit => crate::venues::bybit::parse_klines(&body, inst, timeframe, now)?,
            KlineVenue::Coinbase => crate::venues::coinbase::parse_candles(&body, inst, timeframe, now)?,
        };
        bars.retain(|b| b.open_time.0 >= start && b.open_time.0 < until.0 && last_open.is_none_or(|l| b.open_time.0 > l));
        if let Some(b) = bars.last() {
            last_open = Some(b.open_time.0);
        }
        total += bars.len() as u64;
        on_page(&bars)?;
        start = end;
    }
    Ok(total)
}

/// Which CryptoCompare API serves candle history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptoCompareApi {
    /// min-api `GET /data/v2/histominute|histohour|histoday?fsym&tsym&limit&aggregate&toTs[&e]`
    /// (`e` = an exchange; default the CCCAGG index).
    Legacy {
        /// Exchange to query instead of the aggregate index.
        exchange: Option<String>,
    },
    /// CoinDesk Data API `GET /spot/v1/historical/minutes|hours|days?market&instrument&limit&aggregate&to_ts`.
    DataApi {
        /// Venue on CoinDesk, e.g. `kraken`.
        market: String,
    },
}

/// What a CryptoCompare history fetch saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CryptoCompareSummary {
    /// Bars emitted.
    pub bars: u64,
    /// Closed bars rejected as inconsistent (high/low not bounding open/close).
    pub rejected: u64,
    /// Bars still forming, held back.
    pub forming: u64,
    /// Pages requested.
    pub pages: u64,
}

/// Closed candles of `symbol` in `[since, until)` from CryptoCompare, paging **backward** from
/// `until` by `toTs` (each page ends at `toTs` inclusive) until `since` or the start of the
/// pair's history (all-zero rows). Pages may be shorter than asked; the next `toTs` is one bar
/// before the earliest row seen, and rows are keyed by open time, so overlaps are harmless.
/// Bars are handed to `on_bars` once, in ascending open time.
#[allow(clippy::too_many_arguments)]
pub fn fetch_cryptocompare(
    client: &mut HttpClient,
    api: &CryptoCompareApi,
    base_url: &str,
    symbol: &str,
    timeframe: tickflow_model::Timeframe,
    since: Ts,
    until: Ts,
    on_bars: impl FnOnce(&[tickflow_model::Bar]) -> Result<(), ConnectorError>,
) -> Result<CryptoCompareSummary, ConnectorError> {
    use crate::venues::cryptocompare as cc;
    const LIMIT: i64 = 2000;
    let base = base_url.trim_end_matches('/');
    let (fsym, tsym) = cc::pair(symbol)?;
    let (unit, aggregate) = cc::unit_and_aggregate(timeframe)?;
    let exchange = match api {
        CryptoCompareApi::Legacy { exchange } => exchange.clone().unwrap_or_else(|| "cryptocompare".into()).to_ascii_lowercase(),
        CryptoCompareApi::DataApi { market } => market.to_ascii_lowercase(),
    };
    let inst = crate::venues::instrument("cryptocompare", &exchange, &format!("{fsym}/{tsym}"))?;
    let secs = timeframe.secs();
    let first = timeframe.open_of(since).0 / 1_000_000_000;
    let mut to = timeframe.open_of(Ts(until.0 - 1)).0 / 1_000_000_000;
    let now = Ts::now();
    let mut bars = std::collections::BTreeMap::new();
    let mut summary = CryptoCompareSummary::default();
    while to >= first {
        let url = match api {
            CryptoCompareApi::Legacy { exchange } => {
                let e = exchange.as_deref().map(|e| format!("&e={e}")).unwrap_or_default();
                format!("{base}/data/v2/histo{unit}?fsym={fsym}&tsym={tsym}&limit={LIMIT}&aggregate={aggregate}&toTs={to}{e}")
            }
            CryptoCompareApi::DataApi { market } => {
                format!("{base}/spot/v1/historical/{unit}s?market={market}&instrument={fsym}-{tsym}&limit={LIMIT}&aggregate={aggregate}&to_ts={to}")
            }
        };
        let body = client.get(&url)?;
        let page = match api {
            CryptoCompareApi::Legacy { .. } => cc::parse_legacy(&body, inst, timeframe, now)?,
            CryptoCompareApi::DataApi { .. } => cc::parse_data_api(&body, inst, timeframe, now)?,
        };
        summary.pages += 1;
        summary.rejected += page.rejected as u64;
        summary.forming += page.forming as u64;
        tracing::debug!(venue = "cryptocompare", to, rows = page.bars.len(), rejected = page.rejected, "page");
        for b in page.bars {
            if b.open_time.0 >= since.0 && b.open_time.0 < until.0 {
                bars.insert(b.open_time.0, b);
            }
        }
        match page.earliest_secs {
            Some(e) if page.empty == 0 && e <= to => to = e - secs,
            _ => break, // no rows, or the pair's history begins inside this page
        }
    }
    let out: Vec<tickflow_model::Bar> = bars.into_values().collect();
    summary.bars = out.len() as u64;
    on_bars(&out)?;
    Ok(summary)
}
