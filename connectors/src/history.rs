//! Resumable REST trade history.
//!
//! A [`TradeHistory`] pages through a venue's public trades from a start time, oldest first.
//! Its cursor is a plain string (Kraken: the `last` nanosecond cursor; Binance and Coinbase: the
//! next trade id; OKX: the next window's start) saved in a checkpoint file after every page
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

/// Binance spot `aggTrades`: the first page by time (`startTime`/`endTime`, one-hour windows
/// until a trade is found), then forward by id (`fromId`). Cursor: `t<ms>` while searching by
/// time, `i<next id>` after.
pub struct BinanceHistory {
    client: HttpClient,
    base: String,
    market: String,
    instrument: tickflow_model::Instrument,
    cursor: String,
    until: Ts,
}

impl BinanceHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Result<Self, ConnectorError> {
        Ok(BinanceHistory {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            market: crate::venues::binance::market_id(symbol),
            instrument: crate::venues::instrument("binance", "binance", symbol)?,
            cursor: cursor.unwrap_or_else(|| format!("t{}", since.millis())),
            until,
        })
    }
}

impl TradeHistory for BinanceHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        const HOUR_MS: i64 = 3_600_000;
        let until_ms = self.until.millis();
        let bad = || crate::venues::payload_err("binance", "bad history cursor");
        loop {
            let (url, by_time) = match self.cursor.split_at_checked(1) {
                Some(("t", ms)) => {
                    let ms: i64 = ms.parse().map_err(|_| bad())?;
                    if ms >= until_ms {
                        return Ok(None);
                    }
                    let end = (ms + HOUR_MS).min(until_ms) - 1;
                    (format!("{}/api/v3/aggTrades?symbol={}&startTime={ms}&endTime={end}&limit=1000", self.base, self.market), Some(end + 1))
                }
                Some(("i", id)) => (format!("{}/api/v3/aggTrades?symbol={}&fromId={id}&limit=1000", self.base, self.market), None),
                Some(("d", _)) => return Ok(None),
                _ => return Err(bad()),
            };
            let page = crate::venues::binance::parse_agg_trades(&self.client.get(&url)?, self.instrument, Ts::now())?;
            let Some(last) = page.iter().filter_map(|t| t.trade_id).max() else {
                match by_time {
                    Some(next) => {
                        self.cursor = format!("t{next}"); // a quiet hour: search the next one
                        continue;
                    }
                    None => return Ok(None), // nothing newer yet
                }
            };
            let reached_end = page.iter().any(|t| t.ts >= self.until);
            self.cursor = if reached_end { "d".into() } else { format!("i{}", last + 1) };
            let kept: Vec<Trade> = page.into_iter().filter(|t| t.ts < self.until).collect();
            return Ok(Some(kept));
        }
    }
    fn cursor(&self) -> String {
        self.cursor.clone()
    }
}

/// Coinbase Exchange `GET /products/{id}/trades?after=<trade_id>` returns the trades *older*
/// than the cursor, newest first; trade ids are contiguous per product. So the first id at or
/// after `since` is found by bisection on the id (one-trade probes), and pages then move
/// forward: `after = start + 1000` returns ids `start .. start + 999`. Cursor: the next id.
pub struct CoinbaseHistory {
    client: HttpClient,
    base: String,
    product: String,
    instrument: tickflow_model::Instrument,
    since: Ts,
    until: Ts,
    cursor: Option<u64>,
    done: bool,
}

impl CoinbaseHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Result<Self, ConnectorError> {
        Ok(CoinbaseHistory {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            product: crate::venues::coinbase::market_id(symbol),
            instrument: crate::venues::instrument("coinbase", "coinbase", symbol)?,
            since,
            until,
            cursor: cursor.and_then(|c| c.parse().ok()),
            done: false,
        })
    }

    fn page(&mut self, after: Option<u64>, limit: u32) -> Result<Vec<Trade>, ConnectorError> {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let url = format!("{}/products/{}/trades?limit={limit}{cursor}", self.base, self.product);
        crate::venues::coinbase::parse_trades(&self.client.get(&url)?, self.instrument, Ts::now())
    }

    /// The smallest trade id whose time is at or after `since` (`None`: no trade that late).
    fn first_id_since(&mut self) -> Result<Option<u64>, ConnectorError> {
        let newest = self.page(None, 1)?;
        let Some(hi_trade) = newest.first() else { return Ok(None) };
        let (mut lo, mut hi) = (1u64, hi_trade.trade_id.unwrap_or(1));
        if hi_trade.ts < self.since {
            return Ok(None);
        }
        // invariant: trade `hi` is at or after `since`; find the smallest such id
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // `after = mid + 1` returns trade `mid` first
            let probe = self.page(Some(mid + 1), 1)?;
            match probe.first() {
                Some(t) if t.trade_id == Some(mid) && t.ts < self.since => lo = mid + 1,
                Some(t) if t.trade_id == Some(mid) => hi = mid,
                _ => lo = mid + 1, // a missing id: search above it
            }
        }
        Ok(Some(hi))
    }
}

impl TradeHistory for CoinbaseHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let start = match self.cursor {
            Some(c) => c,
            None => match self.first_id_since()? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        // ids start .. start + 999; a server that returns fewer than asked is asked again below
        // the lowest id it returned, until the chunk reaches `start`
        let mut page = self.page(Some(start + 1000), 1000)?;
        let mut lowest = page.iter().filter_map(|t| t.trade_id).min();
        while let Some(low) = lowest.filter(|&l| l > start) {
            let more = self.page(Some(low), 1000)?;
            lowest = more.iter().filter_map(|t| t.trade_id).min().filter(|&m| m < low);
            page.extend(more);
        }
        page.retain(|t| t.trade_id.is_some_and(|id| id >= start && id < start + 1000));
        page.sort_by_key(|t| t.trade_id);
        page.dedup_by_key(|t| t.trade_id);
        let Some(last) = page.last().and_then(|t| t.trade_id) else { return Ok(None) };
        self.done = page.iter().any(|t| t.ts >= self.until) || page.len() < 1000;
        self.cursor = Some(last + 1);
        Ok(Some(page.into_iter().filter(|t| t.ts >= self.since && t.ts < self.until).collect()))
    }
    fn cursor(&self) -> String {
        self.cursor.map(|c| c.to_string()).unwrap_or_default()
    }
}

/// OKX `GET /api/v5/market/history-trades` pages only backward (`after` = older than a
/// timestamp or trade id; `before` alone returns the latest). To write trades oldest first with
/// bounded memory, the span is cut into windows (default one hour) taken in ascending order;
/// each window is fetched backward from its end (`type=2&after=<end ms>`, then
/// `type=1&after=<oldest id>`) and handed over sorted. Cursor: the next window's start (ms).
pub struct OkxHistory {
    client: HttpClient,
    base: String,
    inst_id: String,
    window_ms: i64,
    next_ms: i64,
    until_ms: i64,
}

impl OkxHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Self {
        OkxHistory {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            inst_id: crate::venues::okx::market_id(symbol),
            window_ms: 3_600_000,
            next_ms: cursor.and_then(|c| c.parse().ok()).unwrap_or(since.millis()),
            until_ms: until.millis(),
        }
    }
}

impl TradeHistory for OkxHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        if self.next_ms >= self.until_ms {
            return Ok(None);
        }
        let (start, end) = (self.next_ms, (self.next_ms + self.window_ms).min(self.until_ms));
        let mut window: Vec<Trade> = Vec::new();
        let mut url = format!("{}/api/v5/market/history-trades?instId={}&type=2&after={end}&limit=100", self.base, self.inst_id);
        let mut previous_oldest = u64::MAX;
        loop {
            let page = crate::venues::okx::parse_trades(&self.client.get(&url)?, "okx", Ts::now())?;
            let Some(oldest) = page.iter().min_by_key(|t| (t.ts, t.trade_id)).copied() else { break };
            window.extend(page.into_iter().filter(|t| t.ts.millis() >= start && t.ts.millis() < end));
            let oldest_id = oldest.trade_id.unwrap_or(0);
            if oldest.ts.millis() < start || oldest_id >= previous_oldest {
                break; // past the window's start, or the venue stopped moving back
            }
            previous_oldest = oldest_id;
            url = format!("{}/api/v5/market/history-trades?instId={}&type=1&after={oldest_id}&limit=100", self.base, self.inst_id);
        }
        window.sort_by_key(|t| (t.trade_id, t.ts));
        window.dedup_by_key(|t| t.trade_id);
        self.next_ms = end;
        Ok(Some(window))
    }
    fn cursor(&self) -> String {
        self.next_ms.to_string()
    }
}

/// CoinDesk Data API `GET /spot/v1/historical/trades?market&instrument&after_ts[&last_ccseq]&limit`:
/// trades of one exchange (`market`) oldest first, continued from the last trade's time and
/// CoinDesk sequence number. Cursor: `<after_ts>:<last_ccseq>`.
pub struct CoinDeskHistory {
    client: HttpClient,
    base: String,
    market: String,
    instrument_id: String,
    instrument: tickflow_model::Instrument,
    cursor: (i64, Option<i64>),
    until: Ts,
}

impl CoinDeskHistory {
    /// History of `symbol` on `market` (e.g. `kraken`) from `since` (or a saved `cursor`) up to
    /// `until`; `client` carries the API key header.
    pub fn new(client: HttpClient, base_url: &str, market: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Result<Self, ConnectorError> {
        let (b, q) = crate::venues::cryptocompare::pair(symbol)?;
        let market = market.to_ascii_lowercase();
        let saved = cursor.and_then(|c| {
            let (t, q) = c.split_once(':')?;
            Some((t.parse().ok()?, q.parse().ok()))
        });
        Ok(CoinDeskHistory {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            instrument_id: format!("{b}-{q}"),
            instrument: crate::venues::instrument("coindesk", &market, &format!("{b}/{q}"))?,
            market,
            cursor: saved.unwrap_or((since.0.div_euclid(1_000_000_000), None)),
            until,
        })
    }
}

impl TradeHistory for CoinDeskHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        let (after, seq) = self.cursor;
        if after * 1_000_000_000 >= self.until.0 {
            return Ok(None);
        }
        let seq_q = seq.map(|q| format!("&last_ccseq={q}")).unwrap_or_default();
        let url =
            format!("{}/spot/v1/historical/trades?market={}&instrument={}&after_ts={after}{seq_q}&limit=1000", self.base, self.market, self.instrument_id);
        let page = crate::venues::cryptocompare::parse_data_api_trades(&self.client.get(&url)?, self.instrument, Ts::now())?;
        // strictly after the cursor: (time, sequence) order
        let mut page: Vec<_> = page.into_iter().filter(|t| seq.is_none_or(|q| t.ccseq.is_none_or(|c| c > q))).collect();
        page.sort_by_key(|t| (t.ccseq, t.trade.ts));
        let Some(last) = page.last() else { return Ok(None) };
        self.cursor = (last.trade.ts.0.div_euclid(1_000_000_000), last.ccseq.or(seq));
        if self.cursor == (after, seq) {
            return Ok(None); // no progress: nothing newer
        }
        Ok(Some(page.into_iter().map(|t| t.trade).filter(|t| t.ts < self.until).collect()))
    }
    fn cursor(&self) -> String {
        format!("{}:{}", self.cursor.0, self.cursor.1.map(|q| q.to_string()).unwrap_or_default())
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

/// Kraken `GET /0/public/OHLC?pair&interval&since`: closed candles of `symbol` in
/// `[since, until)`. Kraken serves at most the latest 720 candles of an interval, whatever
/// `since` says; pages continue from the `last` cursor until nothing new comes.
#[allow(clippy::too_many_arguments)]
pub fn fetch_kraken_ohlc(
    client: &mut HttpClient,
    base_url: &str,
    symbol: &str,
    timeframe: tickflow_model::Timeframe,
    since: Ts,
    until: Ts,
    mut on_page: impl FnMut(&[tickflow_model::Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let minutes = timeframe.secs() / 60;
    if !matches!(minutes, 1 | 5 | 15 | 30 | 60 | 240 | 1440 | 10080 | 21600) || timeframe.secs() % 60 != 0 {
        return Err(crate::venues::payload_err("kraken", format!("timeframe {timeframe} is not offered (1m 5m 15m 30m 1h 4h 1d 1w 15d)")));
    }
    let mut from = timeframe.open_of(since);
    let mut total = 0u64;
    loop {
        let bars = kraken_ohlc(client, base_url, symbol, timeframe, from)?;
        let fresh: Vec<tickflow_model::Bar> = bars.into_iter().filter(|b| b.open_time >= from && b.open_time >= since && b.open_time < until).collect();
        let Some(last) = fresh.last().map(|b| b.open_time) else { return Ok(total) };
        total += fresh.len() as u64;
        on_page(&fresh)?;
        from = Ts(last.0 + timeframe.nanos());
        if from >= until {
            return Ok(total);
        }
    }
}

/// OKX's bar name for a timeframe; six hours and longer use the UTC-aligned variants (`6Hutc`),
/// as tickflow's windows are UTC-aligned (plain `6H`, `1D` follow Hong Kong time).
pub fn okx_bar(timeframe: tickflow_model::Timeframe) -> Result<String, ConnectorError> {
    Ok(match timeframe.secs() {
        60 => "1m".into(),
        180 => "3m".into(),
        300 => "5m".into(),
        900 => "15m".into(),
        1800 => "30m".into(),
        3600 => "1H".into(),
        7200 => "2H".into(),
        14_400 => "4H".into(),
        21_600 => "6Hutc".into(),
        43_200 => "12Hutc".into(),
        86_400 => "1Dutc".into(),
        604_800 => "1Wutc".into(),
        _ => return Err(crate::venues::payload_err("okx", format!("timeframe {timeframe} is not offered"))),
    })
}

/// OKX `GET /api/v5/market/history-candles?instId&bar&after&limit=100`: pages go back in time
/// (`after` = older than a timestamp, newest first). The span is fetched from `until` back to
/// `since`, then handed over once in ascending open time; unconfirmed candles are left out.
#[allow(clippy::too_many_arguments)]
pub fn fetch_okx_candles(
    client: &mut HttpClient,
    base_url: &str,
    symbol: &str,
    timeframe: tickflow_model::Timeframe,
    since: Ts,
    until: Ts,
    on_bars: impl FnOnce(&[tickflow_model::Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let inst = crate::venues::instrument("okx", "okx", symbol)?;
    let bar = okx_bar(timeframe)?;
    let base = base_url.trim_end_matches('/');
    let id = crate::venues::okx::market_id(symbol);
    let mut bars = std::collections::BTreeMap::new();
    let mut after = until.millis();
    loop {
        let url = format!("{base}/api/v5/market/history-candles?instId={id}&bar={bar}&after={after}&limit=100");
        let page = crate::venues::okx::parse_candles(&client.get(&url)?, inst, timeframe)?;
        // the earliest row of the raw page moves the cursor, confirmed or not
        let Some(oldest) = page.first().map(|b| b.open_time.millis()) else { break };
        for b in page {
            if b.open_time >= since && b.open_time < until {
                bars.insert(b.open_time, b);
            }
        }
        if oldest <= since.millis() || oldest >= after {
            break;
        }
        after = oldest;
    }
    let out: Vec<tickflow_model::Bar> = bars.into_values().collect();
    on_bars(&out)?;
    Ok(out.len() as u64)
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
