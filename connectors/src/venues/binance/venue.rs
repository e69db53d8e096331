//! Binance as a [`Venue`]: `aggTrades` history, klines (traded, mark, index), funding, the
//! `aggTrade` stream and the `markPrice` funding stream — spot on `api`/`stream`, USDⓈ-M
//! perpetuals and quarterlies on `fapi`/`fstream`, COIN-M on `dapi`/`dstream`.

use std::time::Duration;

use tickflow_model::{Bar, Decimal, FundingRate, MarketKind, Notional, Trade, Ts};

use super::{market_id, parse_agg_trades, parse_klines, parse_ws};
use crate::history::{base, finish, page_candles_forward, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{
    CandleRequest, CandleSummary, Capabilities, FundingRequest, HistoryRequest, IdOrder, LiveProtocol, Market, Operation, Support, Venue,
};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://api.binance.com";
/// USDⓈ-M futures REST base (linear perpetuals).
pub const FAPI_URL: &str = "https://fapi.binance.com";
/// COIN-M futures REST base (inverse perpetuals).
pub const DAPI_URL: &str = "https://dapi.binance.com";
/// WebSocket base.
pub const WS_URL: &str = "wss://stream.binance.com:9443";
/// USDⓈ-M futures WebSocket base (linear perpetuals).
pub const FSTREAM_URL: &str = "wss://fstream.binance.com";

/// COIN-M futures WebSocket base (inverse perpetuals and futures).
pub const DSTREAM_URL: &str = "wss://dstream.binance.com";

/// Which Binance API serves a market kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// `api.binance.com`, `/api/v3`.
    Spot,
    /// USDⓈ-M futures: `fapi.binance.com`, `/fapi/v1` (linear perpetuals and quarterlies).
    UsdM,
    /// COIN-M futures: `dapi.binance.com`, `/dapi/v1` (inverse perpetuals and quarterlies).
    CoinM,
}

impl Api {
    fn of(kind: MarketKind) -> Api {
        match kind {
            MarketKind::Spot => Api::Spot,
            MarketKind::LinearPerpetual | MarketKind::LinearFuture => Api::UsdM,
            MarketKind::InversePerpetual | MarketKind::InverseFuture => Api::CoinM,
        }
    }
    /// The API of a session's markets (a session holds one kind).
    fn of_session(markets: &[Market]) -> Api {
        markets.first().and_then(|m| MarketKind::of(&m.symbol).ok()).map_or(Api::Spot, Api::of)
    }
    /// Default REST base and path prefix.
    fn rest(self) -> (&'static str, &'static str) {
        match self {
            Api::Spot => (REST_URL, "/api/v3"),
            Api::UsdM => (FAPI_URL, "/fapi/v1"),
            Api::CoinM => (DAPI_URL, "/dapi/v1"),
        }
    }
    fn ws(self) -> &'static str {
        match self {
            Api::Spot => WS_URL,
            Api::UsdM => FSTREAM_URL,
            Api::CoinM => DSTREAM_URL,
        }
    }
}

/// Binance: spot, USDⓈ-M and COIN-M perpetuals and quarterly futures.
pub struct Binance;

impl Venue for Binance {
    fn id(&self) -> &'static str {
        "binance"
    }
    fn title(&self) -> &'static str {
        "Binance"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        // 6000 weight per minute per IP; aggTrades 4 (with ids/times), klines 2, trades 25
        Some(RateBudget {
            limit: 5400,
            window: Duration::from_millis(60_000),
            weights: vec![("/aggTrades", 4), ("/klines", 2), ("/historicalTrades", 25)],
            used_header: Some(("x-mbx-used-weight-1m", 6000, Duration::from_secs(60))),
        })
    }
    /// USDⓈ-M and COIN-M futures: 2400 weight per minute per IP (kept to 90%), `aggTrades` 20,
    /// klines of 1000 rows (traded, mark, index) 5; the used weight comes back in the same header.
    fn budget_for(&self, symbol: &str) -> Option<RateBudget> {
        match MarketKind::of(symbol).map(Api::of) {
            Ok(Api::UsdM | Api::CoinM) => Some(RateBudget {
                limit: 2160,
                window: Duration::from_millis(60_000),
                weights: vec![("/aggTrades", 20), ("Klines?", 5), ("/klines", 5)],
                used_header: Some(("x-mbx-used-weight-1m", 2400, Duration::from_secs(60))),
            }),
            _ => self.budget(),
        }
    }
    fn market_id(&self, symbol: &str) -> String {
        MarketKind::of(symbol).map_or_else(|_| market_id(symbol), |k| super::perp_id(symbol, k))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Yes,
            stream: Support::Yes,
            verify: Support::No("Binance candles are not compared yet"),
            funding: Support::Yes,
        }
    }
    /// Spot `/api/v3/aggTrades`, USDⓈ-M `/fapi/v1/aggTrades` (`BTC/USDT:USDT` → `BTCUSDT`,
    /// `BTC/USDT:USDT-251226` → `BTCUSDT_251226`), COIN-M `/dapi/v1/aggTrades` (`BTC/USD:BTC` →
    /// `BTCUSD_PERP`): the same rows and paging. Futures sizes (`q`) count contracts, as CCXT's
    /// `amount` does (COIN-M: 100 USD for BTC, 10 USD for the others; USDⓈ-M: the base).
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let (default, prefix) = Api::of(crate::venues::market_kind("binance", &req.symbol)?).rest();
        let url = req.rest_url.clone().unwrap_or_else(|| default.into());
        Ok(Box::new(BinanceHistory::new(req.client, &url, &format!("{prefix}/aggTrades"), &req.symbol, req.since, req.until, req.cursor)?))
    }
    /// Every kind: spot, USDⓈ-M and COIN-M perpetuals and quarterly futures; funding of the
    /// perpetuals.
    fn market_kinds(&self, op: Operation) -> &'static [MarketKind] {
        match op {
            Operation::Ohlcv | Operation::Trades | Operation::Stream => &MarketKind::ALL,
            Operation::Funding => &[MarketKind::LinearPerpetual, MarketKind::InversePerpetual],
            Operation::Verify => &[MarketKind::Spot],
        }
    }
    /// `GET /api/v3/klines?symbol&interval&startTime&endTime&limit=1000` (spot),
    /// `/fapi/v1/klines` on the USDⓈ-M base (linear perpetuals and futures; same row layout,
    /// volume in the base asset) or `/dapi/v1/klines` on the COIN-M base (inverse; volume from
    /// the row's base-asset column, as CCXT, quote volume 0), forward by time; mark and index
    /// candles of the futures markets from `/fapi|dapi/v1/markPriceKlines` (`symbol`) and
    /// `indexPriceKlines` (`pair`; the same row layout, volume 0). `--rest-url` replaces the base.
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        use crate::venues::CandlePrice;
        let kind = crate::venues::market_kind("binance", req.symbol)?;
        let api = Api::of(kind);
        let (default, prefix) = api.rest();
        let (path, key) = match (api, req.price) {
            (_, CandlePrice::Trade) => ("klines", "symbol"),
            (Api::Spot, p) => return Err(crate::venues::payload_err("binance", format!("{} is a spot market: no {} candles served", req.symbol, p.name()))),
            (_, CandlePrice::Mark) => ("markPriceKlines", "symbol"),
            (_, CandlePrice::Index) => ("indexPriceKlines", "pair"),
        };
        let path = format!("{prefix}/{path}");
        let coinm_traded = api == Api::CoinM && req.price == CandlePrice::Trade;
        let (b, tf) = (req.base(default), req.timeframe);
        let inst = crate::venues::instrument("binance", "binance", req.symbol)?;
        // index klines take the pair (`BTCUSDT`, COIN-M `BTCUSD`), the others the contract
        let id = if key == "pair" { market_id(req.symbol) } else { super::perp_id(req.symbol, kind) };
        let (now, ms) = (Ts::now(), |t: i64| t / 1_000_000);
        let url = |s: i64, e: i64| format!("{b}{path}?{key}={id}&interval={tf}&startTime={}&endTime={}&limit=1000", ms(s), ms(e) - 1);
        // mark and index rows carry "ignore" fields where traded rows have volume and counts
        let traded = req.price == CandlePrice::Trade;
        let parse = |body: &str| {
            let mut v = if coinm_traded { super::parse_coinm_klines(body, inst, tf, now)? } else { parse_klines(body, inst, tf, now)? };
            if !traded {
                for b in &mut v {
                    *b = Bar::from_candle(b.instrument, b.timeframe, b.open_time, [b.open, b.high, b.low, b.close], Decimal::ZERO, Notional::ZERO);
                }
            }
            Ok(v)
        };
        let bars = page_candles_forward(req.client, tf, 1000, req.since, req.until, url, parse, on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    /// `GET /fapi/v1/fundingRate?symbol&startTime&endTime&limit=1000` on the USDⓈ-M base
    /// (`BTC/USDT:USDT` → `BTCUSDT`) or `/dapi/v1/fundingRate` on the COIN-M base
    /// (`BTC/USD:BTC` → `BTCUSD_PERP`), forward by time.
    fn funding(&self, req: FundingRequest<'_>, on_page: &mut dyn FnMut(&[FundingRate]) -> Result<(), ConnectorError>) -> Result<u64, ConnectorError> {
        let kind = crate::venues::market_kind("binance", req.symbol)?;
        let (default, path) = match kind {
            MarketKind::LinearPerpetual => (FAPI_URL, "/fapi/v1/fundingRate"),
            MarketKind::InversePerpetual => (DAPI_URL, "/dapi/v1/fundingRate"),
            k => return Err(crate::venues::payload_err("binance", format!("{} is a {k} market: funding rates are for perpetuals", req.symbol))),
        };
        let b = req.base(default);
        let inst = crate::venues::instrument("binance", "binance", req.symbol)?;
        let (id, end) = (super::perp_id(req.symbol, kind), req.until.millis() - 1);
        let url = |start: i64| format!("{b}{path}?symbol={id}&startTime={start}&endTime={end}&limit=1000");
        crate::history::page_funding_forward(req.client, 1000, req.since, req.until, url, |body| super::parse_funding(body, inst), on_page)
    }
    /// Traded prices (spot, USDⓈ-M), and mark and index prices of USDⓈ-M and COIN-M perpetuals.
    fn candle_prices(&self) -> &'static [crate::venues::CandlePrice] {
        use crate::venues::CandlePrice;
        &[CandlePrice::Trade, CandlePrice::Mark, CandlePrice::Index]
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
    fn funding_stream(&self) -> Option<&dyn crate::live::funding::FundingStream> {
        Some(self)
    }
}

/// `<id>@markPrice@1s` on `fstream` (USDⓈ-M) or `dstream` (COIN-M): the rate to be settled at the
/// next funding time and the mark price, every second.
impl crate::live::funding::FundingStream for Binance {
    fn default_url(&self, markets: &[Market]) -> &'static str {
        Api::of_session(markets).ws()
    }
    fn url(&self, ws_base: &str, markets: &[Market]) -> String {
        let streams: Vec<String> = markets.iter().map(|m| format!("{}@markPrice@1s", m.id.to_ascii_lowercase())).collect();
        format!("{}/stream?streams={}", base(ws_base), streams.join("/"))
    }
    fn subscribe(&self, _: &[Market]) -> Vec<String> {
        Vec::new()
    }
    fn parse(&self, text: &str, markets: &[Market]) -> Result<Vec<crate::live::funding::FundingUpdate>, ConnectorError> {
        super::parse_mark_price(text, markets)
    }
}

/// Spot `aggTrade` stream (contiguous aggregate ids per symbol); gap-fill by `aggTrades?fromId=`.
impl LiveProtocol for Binance {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        MarketKind::of(symbol).map_or_else(|_| market_id(symbol), |k| super::perp_id(symbol, k))
    }
    /// Spot: `wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade/…`; USDⓈ-M
    /// perpetuals and futures: the same on `wss://fstream.binance.com`, COIN-M on
    /// `wss://dstream.binance.com` (`btcusd_perp@aggTrade`), unless `--ws-url` names a base.
    fn url(&self, ws_base: &str, markets: &[Market], _key: Option<&str>) -> String {
        let ws_base = if ws_base == WS_URL { Api::of_session(markets).ws() } else { ws_base };
        let streams: Vec<String> = markets.iter().map(|m| format!("{}@aggTrade", m.id.to_ascii_lowercase())).collect();
        format!("{}/stream?streams={}", base(ws_base), streams.join("/"))
    }
    fn subscribe(&self, _: &[Market]) -> Vec<String> {
        Vec::new()
    }
    /// 1024 streams per connection on spot, 200 on the futures hosts (Binance's WebSocket
    /// limits).
    fn max_markets(&self, kind: MarketKind) -> usize {
        match Api::of(kind) {
            Api::Spot => 1024,
            Api::UsdM | Api::CoinM => 200,
        }
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        Ok(parse_ws(text, exchange, ingest)?.into_iter().collect())
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Contiguous
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let mut out = Vec::new();
        let mut next = after.id + 1;
        let (default, prefix) = Api::of_session(std::slice::from_ref(m)).rest();
        let rest_base = if rest_base == REST_URL { default } else { rest_base };
        let path = format!("{prefix}/aggTrades");
        loop {
            let url = format!("{}{path}?symbol={}&fromId={next}&limit=1000", base(rest_base), m.id);
            let page = parse_agg_trades(&rest.get(&url)?, m.instrument, ingest)?;
            let n = page.len();
            if let Some(last) = page.iter().filter_map(|t| t.trade_id).max() {
                next = last + 1;
            }
            out.extend(page);
            if n < 1000 {
                return Ok(finish(out, after, true));
            }
        }
    }
}

/// Binance `aggTrades` (spot, USDⓈ-M, COIN-M): the first page by time (`startTime`/`endTime`, one-hour windows
/// until a trade is found), then forward by id (`fromId`). Cursor: `t<ms>` while searching by
/// time, `i<next id>` after.
pub struct BinanceHistory {
    client: HttpClient,
    base: String,
    /// `/api/v3/aggTrades`, `/fapi/v1/aggTrades` or `/dapi/v1/aggTrades`.
    path: String,
    market: String,
    instrument: tickflow_model::Instrument,
    cursor: String,
    until: Ts,
}

impl BinanceHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`, from `path` at
    /// `base_url`.
    pub fn new(client: HttpClient, base_url: &str, path: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Result<Self, ConnectorError> {
        let kind = crate::venues::market_kind("binance", symbol)?;
        Ok(BinanceHistory {
            client,
            base: base(base_url).to_string(),
            path: path.to_string(),
            market: super::perp_id(symbol, kind),
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
                    (format!("{}{}?symbol={}&startTime={ms}&endTime={end}&limit=1000", self.base, self.path, self.market), Some(end + 1))
                }
                Some(("i", id)) => (format!("{}{}?symbol={}&fromId={id}&limit=1000", self.base, self.path, self.market), None),
                Some(("d", _)) => return Ok(None),
                _ => return Err(bad()),
            };
            let page = parse_agg_trades(&self.client.get(&url)?, self.instrument, Ts::now())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each market kind is budgeted by the API serving it: spot by the spot weights (6000 per
    /// minute), the futures APIs by theirs (2400 per minute; `aggTrades` 20, 1000-row klines 5).
    #[test]
    fn each_api_has_its_own_request_budget() {
        let spot = Binance.budget_for("BTC/USDT").unwrap();
        assert_eq!((spot.limit, spot.weight("https://api.binance.com/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&limit=1000")), (5400, 4));
        for symbol in ["BTC/USDT:USDT", "BTC/USD:BTC", "BTC/USDT:USDT-251226", "BTC/USD:BTC-251226"] {
            let b = Binance.budget_for(symbol).unwrap();
            assert_eq!((b.limit, b.used_header.map(|h| h.1)), (2160, Some(2400)), "{symbol}");
            for (path, w) in [
                ("/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=1&limit=1000", 20),
                ("/dapi/v1/aggTrades?symbol=BTCUSD_PERP&fromId=1&limit=1000", 20),
                ("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1000", 5),
                ("/dapi/v1/markPriceKlines?symbol=BTCUSD_PERP&interval=1m&limit=1000", 5),
                ("/fapi/v1/indexPriceKlines?pair=BTCUSDT&interval=1m&limit=1000", 5),
                ("/fapi/v1/fundingRate?symbol=BTCUSDT&limit=1000", 1),
            ] {
                assert_eq!(b.weight(path), w, "{symbol} {path}");
            }
        }
    }
}
