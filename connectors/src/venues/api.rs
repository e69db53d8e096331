//! The one interface every venue implements ([`Venue`]) and the types its operations use.
//!
//! A venue folder (`venues/<venue>/`) holds the payload parsers (with the recorded payloads in
//! their doc comments and table tests beside them) and one `impl Venue`; the shared machinery
//! it builds on stays outside: [`crate::http`] (client, retries, budgets), [`crate::history`]
//! (pager interface, checkpoint, forward candle pager, gap-fill helpers) and [`crate::live`]
//! (the session engine, which drives a venue's [`LiveProtocol`]).

use std::time::Duration;

use tickflow_model::{Bar, FundingRate, Instrument, MarketKind, Timeframe, Trade, Ts};

use crate::history::{After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget, Secret};
use crate::ConnectorError;

/// How far a venue offers an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Offered.
    Yes,
    /// Offered within a limit (the note says which, e.g. "last 24 h").
    Limited(&'static str),
    /// Not offered (why, and what to use instead).
    No(&'static str),
}

impl Support {
    /// True unless [`Support::No`].
    pub fn offered(self) -> bool {
        !matches!(self, Support::No(_))
    }
}

/// What a venue offers, for help texts, the README table and clear refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `fetch trades`: REST trade history ([`Venue::trade_history`]).
    pub trades: Support,
    /// `fetch ohlcv`: REST candle history ([`Venue::candles`]).
    pub ohlcv: Support,
    /// `stream` / `aggregate --source`: a live protocol ([`Venue::live`]).
    pub stream: Support,
    /// `verify`: the venue's candles follow tickflow's bar convention (carry fill, exact volume,
    /// trade count), so they can be compared minute by minute with aggregated trades.
    pub verify: Support,
    /// `fetch funding`: perpetual funding-rate history ([`Venue::funding`]).
    pub funding: Support,
}

/// The operations a venue may offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// REST trade history.
    Trades,
    /// REST candle history.
    Ohlcv,
    /// Live trades.
    Stream,
    /// Venue candles vs aggregated trades.
    Verify,
    /// REST funding-rate history of perpetuals.
    Funding,
}

impl Operation {
    /// Every operation, in table order.
    pub const ALL: [Operation; 5] = [Operation::Trades, Operation::Ohlcv, Operation::Stream, Operation::Verify, Operation::Funding];
    /// The command offering it.
    pub fn command(self) -> &'static str {
        match self {
            Operation::Trades => "fetch trades",
            Operation::Ohlcv => "fetch ohlcv",
            Operation::Stream => "stream",
            Operation::Verify => "verify",
            Operation::Funding => "fetch funding",
        }
    }
    /// This operation's entry of `caps`.
    pub fn of(self, caps: &Capabilities) -> Support {
        match self {
            Operation::Trades => caps.trades,
            Operation::Ohlcv => caps.ohlcv,
            Operation::Stream => caps.stream,
            Operation::Verify => caps.verify,
            Operation::Funding => caps.funding,
        }
    }
}

/// The error of an operation a venue does not offer.
pub fn unsupported(venue: &str, caps: &Capabilities, op: Operation) -> ConnectorError {
    let why = match op.of(caps) {
        Support::No(why) => why.to_string(),
        _ => "not implemented".to_string(),
    };
    ConnectorError::Unsupported { venue: venue.to_string(), what: op.command().to_string(), why }
}

/// A REST trade history request.
pub struct HistoryRequest {
    /// The client (with the venue's budget).
    pub client: HttpClient,
    /// REST base URL (default: the venue's).
    pub rest_url: Option<String>,
    /// CCXT symbol.
    pub symbol: String,
    /// Start.
    pub since: Ts,
    /// End, exclusive.
    pub until: Ts,
    /// A saved cursor to continue from.
    pub cursor: Option<String>,
    /// Aggregators: the underlying exchange.
    pub market: Option<String>,
    /// API key (aggregators); sent as a header, never logged.
    pub api_key: Option<Secret>,
}

/// Which price a candle follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CandlePrice {
    /// Traded prices (with volume and trade counts).
    #[default]
    Trade,
    /// A perpetual's mark price (no volume).
    Mark,
    /// The index price a perpetual tracks (no volume).
    Index,
}

impl CandlePrice {
    /// `trade`, `mark`, `index`.
    pub fn name(self) -> &'static str {
        match self {
            CandlePrice::Trade => "trade",
            CandlePrice::Mark => "mark",
            CandlePrice::Index => "index",
        }
    }
}

impl std::str::FromStr for CandlePrice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trade" => Ok(CandlePrice::Trade),
            "mark" => Ok(CandlePrice::Mark),
            "index" => Ok(CandlePrice::Index),
            _ => Err(format!("{s:?}: use trade, mark or index")),
        }
    }
}

/// A REST candle history request.
pub struct CandleRequest<'a> {
    /// The client (with the venue's budget).
    pub client: &'a mut HttpClient,
    /// REST base URL (default: the venue's).
    pub rest_url: Option<&'a str>,
    /// CCXT symbol.
    pub symbol: &'a str,
    /// Candle length.
    pub timeframe: Timeframe,
    /// Start.
    pub since: Ts,
    /// End, exclusive.
    pub until: Ts,
    /// Aggregators: the underlying exchange (or index).
    pub market: Option<&'a str>,
    /// API key (aggregators); sent as a header, never logged.
    pub api_key: Option<&'a Secret>,
    /// Traded, mark or index prices ([`Venue::candle_prices`] says which a venue serves).
    pub price: CandlePrice,
}

impl CandleRequest<'_> {
    /// The REST base: the override, else `default`, without trailing slashes.
    pub fn base(&self, default: &str) -> String {
        crate::history::base(self.rest_url.unwrap_or(default)).to_string()
    }
}

/// A REST funding-rate history request.
pub struct FundingRequest<'a> {
    /// The client (with the venue's budget).
    pub client: &'a mut HttpClient,
    /// REST base URL (default: the venue's for the market).
    pub rest_url: Option<&'a str>,
    /// CCXT symbol of a perpetual (`BTC/USDT:USDT`, `BTC/USD:BTC`).
    pub symbol: &'a str,
    /// Start (funding times at or after it).
    pub since: Ts,
    /// End, exclusive.
    pub until: Ts,
}

impl FundingRequest<'_> {
    /// The REST base: the override, else `default`, without trailing slashes.
    pub fn base(&self, default: &str) -> String {
        crate::history::base(self.rest_url.unwrap_or(default)).to_string()
    }
}

/// Counts of a candle fetch beyond the bars written (aggregators that screen their rows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Screened {
    /// Pages requested.
    pub pages: u64,
    /// Closed bars rejected as inconsistent (high/low not bounding open/close).
    pub rejected: u64,
    /// Bars still forming, held back.
    pub forming: u64,
}

/// What a candle fetch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CandleSummary {
    /// Bars handed over.
    pub bars: u64,
    /// Screening counts, for venues that screen rows.
    pub screened: Option<Screened>,
}

/// How `fetch ohlcv --resume` treats an existing output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CandleResume {
    /// Pages go forward: keep the file and continue after its last bar.
    AfterLastBar,
    /// Pages go backward and are written once: refuse (the message says why).
    Refuse(&'static str),
    /// The file is written anew.
    Restart,
}

/// One subscribed market.
#[derive(Clone, Debug)]
pub struct Market {
    /// CCXT symbol.
    pub symbol: String,
    /// The venue's market id (`BTCUSDT`, `BTC-USD`, `XBTUSD` for Kraken REST).
    pub id: String,
    /// The instrument recorded on trades.
    pub instrument: Instrument,
}

/// How a venue numbers trades within a market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdOrder {
    /// Every trade gets the next id: a jump is a hole, filled from REST at once.
    Contiguous,
    /// Ids only increase: anything at or below the last id is a duplicate.
    Increasing,
    /// No usable order (UUIDs): duplicates are found in a bounded set of recent ids.
    Unordered,
}

/// A venue's live protocol, driven by the shared session engine ([`crate::live::run`]).
pub trait LiveProtocol: Send + Sync {
    /// Default WebSocket and REST (gap-fill) base URLs.
    fn default_urls(&self) -> (&'static str, &'static str);
    /// The venue's market id for a CCXT symbol (`exchange`: the exchange recorded on trades,
    /// which aggregators such as CryptoCompare need).
    fn market_id(&self, symbol: &str, exchange: &str) -> String;
    /// The URL to connect to (`key`: the API key, for venues that take it in the URL).
    fn url(&self, ws_base: &str, markets: &[Market], key: Option<&str>) -> String {
        let _ = (markets, key);
        ws_base.to_string()
    }
    /// Aggregators: the default underlying exchange recorded on trades (`--market` overrides);
    /// `None` for an exchange, whose trades carry its own id.
    fn default_exchange(&self) -> Option<&'static str> {
        None
    }
    /// True when the session needs an API key.
    fn needs_api_key(&self) -> bool {
        false
    }
    /// Frames sent right after connecting.
    fn subscribe(&self, markets: &[Market]) -> Vec<String>;
    /// The most markets one connection may carry for a market kind (the venue's per-connection
    /// stream cap); a session holds at most this many (`ingest --feed` splits bigger groups into
    /// several sessions, `stream` refuses them).
    fn max_markets(&self, kind: MarketKind) -> usize {
        let _ = kind;
        usize::MAX
    }
    /// An application keep-alive frame and how often to send it.
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        None
    }
    /// The trades in a text frame (empty for acknowledgements, heartbeats, other channels).
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError>;
    /// True when the frame asks the client to reconnect (the session reconnects and gap-fills).
    fn wants_reconnect(&self, text: &str) -> bool {
        let _ = text;
        false
    }
    /// How trade ids are ordered.
    fn id_order(&self) -> IdOrder;
    /// Trades of `market` after `after` from REST, oldest first.
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, market: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError>;
}

/// A venue: identity, defaults, symbol mapping and the operations it offers. Operations it does
/// not offer return [`ConnectorError::Unsupported`] (REST) or `None` (live).
pub trait Venue: Send + Sync {
    /// The id used by `--source` and recorded on trades (`binance`, …).
    fn id(&self) -> &'static str;
    /// What the id stands for, e.g. `Binance spot` (help texts, README table).
    fn title(&self) -> &'static str;
    /// Default REST base URL.
    fn rest_url(&self) -> &'static str;
    /// The venue's published request budget for public endpoints.
    fn budget(&self) -> Option<RateBudget> {
        None
    }
    /// The budget of the API serving `symbol`'s market, where a venue's market kinds are served
    /// by APIs with their own limits (Binance's futures APIs); [`budget`](Self::budget) otherwise.
    fn budget_for(&self, symbol: &str) -> Option<RateBudget> {
        let _ = symbol;
        self.budget()
    }
    /// The venue's REST market id for a CCXT symbol (`BTC/USDT` → `BTCUSDT`).
    fn market_id(&self, symbol: &str) -> String;
    /// What it offers.
    fn capabilities(&self) -> Capabilities;
    /// The market kinds (from the symbol, [`MarketKind::of`]) it serves for `op`: spot unless a
    /// venue says more. Checked before any request ([`crate::venues::for_markets`]), so a perpetual
    /// symbol is never answered with the spot market of the same pair.
    fn market_kinds(&self, op: Operation) -> &'static [MarketKind] {
        let _ = op;
        &[MarketKind::Spot]
    }
    /// REST trade history, oldest first, resumable from a cursor.
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let _ = req;
        Err(unsupported(self.id(), &self.capabilities(), Operation::Trades))
    }
    /// Closed candles in `[since, until)` handed to `on_page` in ascending open time.
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        let _ = (req, on_page);
        Err(unsupported(self.id(), &self.capabilities(), Operation::Ohlcv))
    }
    /// Funding events in `[since, until)` handed to `on_page` in ascending time; returns how
    /// many.
    fn funding(&self, req: FundingRequest<'_>, on_page: &mut dyn FnMut(&[FundingRate]) -> Result<(), ConnectorError>) -> Result<u64, ConnectorError> {
        let _ = (req, on_page);
        Err(unsupported(self.id(), &self.capabilities(), Operation::Funding))
    }
    /// The candle prices it serves (traded prices unless a venue says more); perpetuals'
    /// mark and index candles are checked before any request.
    fn candle_prices(&self) -> &'static [CandlePrice] {
        &[CandlePrice::Trade]
    }
    /// How `fetch ohlcv --resume` works for this venue.
    fn candle_resume(&self) -> CandleResume {
        CandleResume::AfterLastBar
    }
    /// The live protocol, if the venue streams trades.
    fn live(&self) -> Option<&dyn LiveProtocol> {
        None
    }
    /// The live funding protocol of its perpetuals (`stream --funding`), if it streams rates.
    fn funding_stream(&self) -> Option<&dyn crate::live::funding::FundingStream> {
        None
    }
}
