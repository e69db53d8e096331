//! Bybit v5 as a [`Venue`]: klines (traded, mark, index), funding, the `publicTrade` stream and
//! the `tickers` funding stream of spot pairs and linear/inverse perpetuals and dated futures
//! (no REST trade history).

use std::time::Duration;

use tickflow_model::{Bar, FundingRate, MarketKind, Trade, Ts};

use super::{market_id, parse_klines, parse_trades, parse_ws};
use crate::history::{base, page_candles_forward, After, Fill};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{CandleRequest, CandleSummary, Capabilities, FundingRequest, IdOrder, LiveProtocol, Market, Operation, Support, Venue};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://api.bybit.com";
/// WebSocket base (spot).
pub const WS_URL: &str = "wss://stream.bybit.com/v5/public/spot";

/// The v5 category of a session's markets (`spot`, `linear`, `inverse`); a session holds one.
fn category(markets: &[Market]) -> &'static str {
    match markets.first().map(|m| MarketKind::of(&m.symbol)) {
        Some(Ok(k)) => category_of(k),
        _ => "spot",
    }
}

/// `subscribe` requests of at most 10 topics each (Bybit's cap on a spot request's `args`;
/// applied to every category alike).
fn subscribe_frames(topics: impl Iterator<Item = String>) -> Vec<String> {
    let topics: Vec<String> = topics.collect();
    topics.chunks(10).map(|c| serde_json::json!({"op": "subscribe", "args": c}).to_string()).collect()
}

/// The v5 category serving a market kind: perpetuals and dated futures share `linear` (USDT and
/// USDC settled) and `inverse` (coin settled).
fn category_of(kind: MarketKind) -> &'static str {
    match kind {
        MarketKind::Spot => "spot",
        MarketKind::LinearPerpetual | MarketKind::LinearFuture => "linear",
        MarketKind::InversePerpetual | MarketKind::InverseFuture => "inverse",
    }
}

/// Bybit v5: spot, linear and inverse perpetuals and dated futures.
pub struct Bybit;

impl Venue for Bybit {
    fn id(&self) -> &'static str {
        "bybit"
    }
    fn title(&self) -> &'static str {
        "Bybit v5"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        // 600 requests per 5 s per IP
        Some(RateBudget { limit: 500, window: Duration::from_millis(5_000), weights: vec![], used_header: None })
    }
    fn market_id(&self, symbol: &str) -> String {
        market_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::No(
                "Bybit's public REST API serves only the most recent trades (no history); use `tickflow stream --source bybit` or `fetch ohlcv`",
            ),
            ohlcv: Support::Yes,
            stream: Support::Limited("gap-fill reaches the last 60 trades"),
            verify: Support::No("Bybit has no REST trade history"),
            funding: Support::Yes,
        }
    }
    /// Candles and live trades of spot pairs, linear (`BTC/USDT:USDT`, `BTC/USDT:USDT-251226`)
    /// and inverse (`BTC/USD:BTC`, `BTC/USD:BTC-251226`) perpetuals and futures; funding of the
    /// perpetuals.
    fn market_kinds(&self, op: Operation) -> &'static [MarketKind] {
        match op {
            Operation::Ohlcv | Operation::Stream => &MarketKind::ALL,
            Operation::Funding => &[MarketKind::LinearPerpetual, MarketKind::InversePerpetual],
            _ => &[MarketKind::Spot],
        }
    }
    /// `GET /v5/market/kline?category=<spot|linear|inverse>&symbol&interval&start&end&limit=1000`
    /// (newest first), forward by time; the category comes from the symbol's market kind.
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        let tf = req.timeframe;
        let interval = match tf.secs() {
            86_400 => "D".to_string(),
            604_800 => "W".to_string(),
            s if s % 60 == 0 && s < 86_400 => (s / 60).to_string(),
            _ => return Err(crate::venues::payload_err("bybit", format!("timeframe {tf} is not offered"))),
        };
        let b = req.base(REST_URL);
        let inst = crate::venues::instrument("bybit", "bybit", req.symbol)?;
        let category = category_of(crate::venues::market_kind("bybit", req.symbol)?);
        use crate::venues::CandlePrice;
        let path = match (req.price, category) {
            (CandlePrice::Trade, _) => "kline",
            (_, "spot") => return Err(crate::venues::payload_err("bybit", format!("{} is a spot market: no {} candles", req.symbol, req.price.name()))),
            (CandlePrice::Mark, _) => "mark-price-kline",
            (CandlePrice::Index, _) => "index-price-kline",
        };
        let (id, now, ms) = (market_id(req.symbol), Ts::now(), |t: i64| t / 1_000_000);
        let url =
            |s: i64, e: i64| format!("{b}/v5/market/{path}?category={category}&symbol={id}&interval={interval}&start={}&end={}&limit=1000", ms(s), ms(e) - 1);
        let traded = req.price == CandlePrice::Trade;
        let bars = page_candles_forward(req.client, tf, 1000, req.since, req.until, url, |body| parse_klines(body, inst, tf, now, traded), on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    /// `GET /v5/market/funding/history?category=<linear|inverse>&symbol&startTime&endTime&limit=200`
    /// (newest first), backward by time; the category comes from the symbol's market kind.
    fn funding(&self, req: FundingRequest<'_>, on_page: &mut dyn FnMut(&[FundingRate]) -> Result<(), ConnectorError>) -> Result<u64, ConnectorError> {
        let category = match crate::venues::market_kind("bybit", req.symbol)? {
            MarketKind::LinearPerpetual => "linear",
            MarketKind::InversePerpetual => "inverse",
            k => return Err(crate::venues::payload_err("bybit", format!("{} is a {k} market: funding rates are for perpetuals", req.symbol))),
        };
        let b = req.base(REST_URL);
        let inst = crate::venues::instrument("bybit", "bybit", req.symbol)?;
        let id = market_id(req.symbol);
        let url = |s: i64, e: i64| format!("{b}/v5/market/funding/history?category={category}&symbol={id}&startTime={s}&endTime={e}&limit=200");
        crate::history::page_funding_backward(req.client, 200, req.since, req.until, url, |body| super::parse_funding(body, inst), on_page)
    }
    /// Traded prices, and perpetuals' mark and index prices (`mark-price-kline`,
    /// `index-price-kline`: `[start, open, high, low, close]`, no volume).
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

/// `tickers.<id>` on `/v5/public/linear|inverse`: the next funding time, its current rate and the
/// mark price.
impl crate::live::funding::FundingStream for Bybit {
    fn default_url(&self, markets: &[Market]) -> &'static str {
        match category(markets) {
            "inverse" => "wss://stream.bybit.com/v5/public/inverse",
            _ => "wss://stream.bybit.com/v5/public/linear",
        }
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        subscribe_frames(markets.iter().map(|m| format!("tickers.{}", m.id)))
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some((r#"{"op":"ping"}"#, Duration::from_secs(20)))
    }
    fn parse(&self, text: &str, markets: &[Market]) -> Result<Vec<crate::live::funding::FundingUpdate>, ConnectorError> {
        super::parse_ticker(text, markets)
    }
}

/// Spot `publicTrade` (ids are not ordered across trades); REST keeps only the most recent
/// trades, so a long outage can leave an unfilled gap, which is reported.
impl LiveProtocol for Bybit {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        market_id(symbol)
    }
    /// `wss://stream.bybit.com/v5/public/<spot|linear|inverse>` by the markets' category (unless
    /// `--ws-url` names another base).
    fn url(&self, ws_base: &str, markets: &[Market], _key: Option<&str>) -> String {
        match category(markets) {
            c if ws_base == WS_URL && c != "spot" => format!("wss://stream.bybit.com/v5/public/{c}"),
            _ => ws_base.to_string(),
        }
    }
    /// One `subscribe` request per 10 topics (Bybit caps a spot request's `args` at 10).
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        subscribe_frames(markets.iter().map(|m| format!("publicTrade.{}", m.id)))
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some((r#"{"op":"ping"}"#, Duration::from_secs(20)))
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        parse_ws(text, exchange, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Unordered
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let url = format!("{}/v5/market/recent-trade?category={}&symbol={}&limit=60", base(rest_base), category(std::slice::from_ref(m)), m.id);
        let mut page = parse_trades(&rest.get(&url)?, m.instrument.exchange(), ingest)?;
        // the window reaches back far enough when it is not full or starts at or before the last
        // delivered trade (REST may also lag behind the stream)
        let complete = page.len() < 60 || page.iter().any(|t| t.ts <= after.ts);
        page.retain(|t| t.ts >= after.ts);
        page.sort_by_key(|t| t.ts);
        Ok(Fill { trades: page, complete })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bybit caps a spot `subscribe` request at 10 topics: 25 markets take three requests, each
    /// topic once, in order.
    #[test]
    fn subscriptions_go_ten_topics_per_request() {
        let markets: Vec<Market> = (0..25)
            .map(|i| {
                let symbol = format!("C{i}/USDT");
                Market { id: market_id(&symbol), instrument: tickflow_model::Instrument::new("bybit", &symbol).unwrap(), symbol }
            })
            .collect();
        let frames = LiveProtocol::subscribe(&Bybit, &markets);
        let args: Vec<Vec<String>> = frames
            .iter()
            .map(|f| {
                let v: serde_json::Value = serde_json::from_str(f).unwrap();
                assert_eq!(v["op"], "subscribe");
                v["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
            })
            .collect();
        assert_eq!(args.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        let want: Vec<String> = (0..25).map(|i| format!("publicTrade.C{i}USDT")).collect();
        assert_eq!(args.concat(), want);
    }
}
