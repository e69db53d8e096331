//! Shared REST history machinery: the [`TradeHistory`] pager interface, the resumable
//! [`Checkpoint`] file, the forward candle pager and the gap-fill helpers. What differs per
//! venue (URLs, cursors, parsers) lives in the venue's folder under [`crate::venues`].
//!
//! A [`TradeHistory`] pages through a venue's public trades from a start time, oldest first.
//! Its cursor is a plain string (Kraken: the `last` nanosecond cursor; Binance and Coinbase: the
//! next trade id; OKX: the next window's start) saved in a checkpoint file after every page
//! written, so an interrupted fetch continues where it stopped; trades are de-duplicated by id
//! across page boundaries and restarts (the last written id is part of the checkpoint).

use std::io::Write;

use tickflow_model::{Bar, FundingRate, Timeframe, Trade, Ts};

use crate::http::HttpClient;
use crate::ConnectorError;

/// A source of historical trades, page by page. Pages may overlap at their boundaries (so no
/// trade sharing a boundary timestamp is skipped); consumers de-duplicate by trade id.
pub trait TradeHistory {
    /// The next page, oldest first; `None` when the history is exhausted (or `until` is reached).
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError>;
    /// The cursor to resume from.
    fn cursor(&self) -> String;
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
    /// Length of the output file when this checkpoint was taken (its data fsynced first): a
    /// resume truncates the file to it, dropping rows written after the checkpoint by a run
    /// that then died. 0 in checkpoints of earlier versions (the file is appended to as is).
    #[serde(default)]
    pub bytes: u64,
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

/// Closed candles in `[since, until)`, paging forward by time in windows of `page_len`
/// candles: `url(start_ns, end_ns)` is the request of the window `[start, end)`, `parse` turns
/// its body into bars (still-forming candles already left out). Overlapping page boundaries are
/// de-duplicated by open time. Returns the number of bars handed to `on_page`.
#[allow(clippy::too_many_arguments)]
pub fn page_candles_forward(
    client: &mut HttpClient,
    timeframe: Timeframe,
    page_len: i64,
    since: Ts,
    until: Ts,
    url: impl Fn(i64, i64) -> String,
    parse: impl Fn(&str) -> Result<Vec<Bar>, ConnectorError>,
    on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let tfn = timeframe.nanos();
    let mut start = timeframe.open_of(since).0;
    let mut last_open: Option<i64> = None;
    let mut total = 0u64;
    while start < until.0 {
        let end = (start + tfn * page_len).min(until.0);
        let body = client.get(&url(start, end))?;
        let mut bars = parse(&body)?;
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

/// Funding events in `[since, until)` from a venue that pages forward from a start time
/// (`url(start_ms)`; pages of up to `page_len`, ascending): the next page starts 1 ms after the
/// last event. Hands each page to `on_page`; returns how many.
pub fn page_funding_forward(
    client: &mut HttpClient,
    page_len: usize,
    since: Ts,
    until: Ts,
    url: impl Fn(i64) -> String,
    parse: impl Fn(&str) -> Result<Vec<FundingRate>, ConnectorError>,
    on_page: &mut dyn FnMut(&[FundingRate]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let mut start = since.millis();
    let mut total = 0u64;
    loop {
        let mut page = parse(&client.get(&url(start))?)?;
        let full = page.len() >= page_len;
        page.sort_by_key(|f| f.ts);
        let last = page.last().map(|f| f.ts.millis());
        page.retain(|f| f.ts.millis() >= start && f.ts < until);
        total += page.len() as u64;
        on_page(&page)?;
        match last {
            Some(l) if full && l + 1 < until.millis() && l + 1 > start => start = l + 1,
            _ => return Ok(total),
        }
    }
}

/// Funding events in `[since, until)` from a venue that answers newest first within
/// `url(start_ms, end_ms)` (inclusive bounds; pages of up to `page_len`): the next page ends
/// 1 ms before the oldest event. The events are handed over once, ascending (a year of 8-hour
/// funding is 1,095 events); returns how many.
pub fn page_funding_backward(
    client: &mut HttpClient,
    page_len: usize,
    since: Ts,
    until: Ts,
    url: impl Fn(i64, i64) -> String,
    parse: impl Fn(&str) -> Result<Vec<FundingRate>, ConnectorError>,
    on_page: &mut dyn FnMut(&[FundingRate]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let (start, mut end) = (since.millis(), until.millis() - 1);
    let mut all: std::collections::BTreeMap<(tickflow_model::Instrument, Ts), FundingRate> = Default::default();
    while end >= start {
        let page = parse(&client.get(&url(start, end))?)?;
        let oldest = page.iter().map(|f| f.ts.millis()).min();
        let n = page.len();
        for f in page.into_iter().filter(|f| f.ts >= since && f.ts < until) {
            all.insert(f.sort_key(), f);
        }
        match oldest {
            Some(o) if n >= page_len && o - 1 < end => end = o - 1,
            _ => break,
        }
    }
    let v: Vec<FundingRate> = all.into_values().collect();
    on_page(&v)?;
    Ok(v.len() as u64)
}

/// The last delivered trade of a market.
#[derive(Clone, Copy, Debug)]
pub struct After {
    /// Its id.
    pub id: u64,
    /// Its event time.
    pub ts: Ts,
}

/// REST trades newer than a point, oldest first.
#[derive(Debug, Default)]
pub struct Fill {
    /// The trades (may include some already seen; the session drops those).
    pub trades: Vec<Trade>,
    /// False when the venue's REST window did not reach back to the point: trades in between
    /// are lost and the session reports an unfilled gap.
    pub complete: bool,
}

/// Pages backward from the newest trades until a page reaches `after.id` (venues whose REST
/// pages go back in time by an id cursor): `first` is the newest page's URL, `older(id)` the URL
/// of the page before trade `id`. Returns the trades newer than `after`, oldest first.
pub fn fill_backward(
    rest: &mut HttpClient,
    first: String,
    older: impl Fn(u64) -> String,
    parse: impl Fn(&str) -> Result<Vec<Trade>, ConnectorError>,
    after: After,
    max_pages: usize,
) -> Result<Fill, ConnectorError> {
    let mut out: Vec<Trade> = Vec::new();
    let mut url = first;
    for _ in 0..max_pages {
        let page = parse(&rest.get(&url)?)?;
        let Some(oldest) = page.iter().filter_map(|t| t.trade_id).min() else {
            return Ok(finish(out, after, true)); // nothing older exists
        };
        out.extend(page);
        if oldest <= after.id + 1 {
            return Ok(finish(out, after, true));
        }
        url = older(oldest);
    }
    Ok(finish(out, after, false))
}

/// Keeps trades newer than `after`, sorted by id, without repeats.
pub fn finish(mut trades: Vec<Trade>, after: After, complete: bool) -> Fill {
    trades.retain(|t| t.trade_id.is_some_and(|id| id > after.id));
    trades.sort_by_key(|t| t.trade_id);
    trades.dedup_by_key(|t| t.trade_id);
    Fill { trades, complete }
}

/// A URL base without its trailing slashes.
pub fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}
