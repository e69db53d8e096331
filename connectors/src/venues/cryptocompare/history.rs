//! CryptoCompare / CoinDesk REST history: Data API trades (forward by time and sequence) and
//! candles from min-api or the Data API (backward by `toTs`).

use tickflow_model::{Bar, Trade, Ts};

use super::{pair, parse_data_api, parse_data_api_trades, parse_legacy, unit_and_aggregate};
use crate::history::{base, TradeHistory};
use crate::http::HttpClient;
use crate::venues::api::Screened;
use crate::ConnectorError;

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
        let (b, q) = pair(symbol)?;
        let market = market.to_ascii_lowercase();
        let saved = cursor.and_then(|c| {
            let (t, q) = c.split_once(':')?;
            Some((t.parse().ok()?, q.parse().ok()))
        });
        Ok(CoinDeskHistory {
            client,
            base: base(base_url).to_string(),
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
        let page = parse_data_api_trades(&self.client.get(&url)?, self.instrument, Ts::now())?;
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

/// Closed candles of `symbol` in `[since, until)` from CryptoCompare, paging **backward** from
/// `until` by `toTs` (each page ends at `toTs` inclusive) until `since` or the start of the
/// pair's history (all-zero rows). Pages may be shorter than asked; the next `toTs` is one bar
/// before the earliest row seen, and rows are keyed by open time, so overlaps are harmless.
/// Bars are handed to `on_bars` once, in ascending open time.
#[allow(clippy::too_many_arguments)]
pub fn fetch_candles(
    client: &mut HttpClient,
    api: &CryptoCompareApi,
    base_url: &str,
    symbol: &str,
    timeframe: tickflow_model::Timeframe,
    since: Ts,
    until: Ts,
    on_bars: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<(u64, Screened), ConnectorError> {
    const LIMIT: i64 = 2000;
    let base = base_url.trim_end_matches('/');
    let (fsym, tsym) = pair(symbol)?;
    let (unit, aggregate) = unit_and_aggregate(timeframe)?;
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
    let mut summary = Screened::default();
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
            CryptoCompareApi::Legacy { .. } => parse_legacy(&body, inst, timeframe, now)?,
            CryptoCompareApi::DataApi { .. } => parse_data_api(&body, inst, timeframe, now)?,
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
    let out: Vec<Bar> = bars.into_values().collect();
    on_bars(&out)?;
    Ok((out.len() as u64, summary))
}
