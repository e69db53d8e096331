//! The venue registry: every `--source` of `fetch trades`, `fetch ohlcv`, `stream`, `verify`,
//! `aggregate --source` and the TOML config's live source is looked up here, and the CLI help
//! texts and the README's capability table are generated from it.

use super::api::{Operation, Support, Venue};
use super::*; // the venue modules
use crate::ConnectorError;

/// Every native venue, in help and table order. Adding a venue: its folder, and one line here.
#[rustfmt::skip]
pub static REGISTRY: &[&dyn Venue] = &[
    &binance::Binance,
    &coinbase::Coinbase,
    &kraken::Kraken,
    &krakenfutures::KrakenFutures,
    &bybit::Bybit,
    &okx::Okx,
    &cryptocompare::CryptoCompare,
    &cryptocompare::CoinDesk,
    &bitstamp::Bitstamp,
];

/// The venue with id `id`.
pub fn get(id: &str) -> Option<&'static dyn Venue> {
    REGISTRY.iter().copied().find(|v| v.id() == id)
}

/// The ids of the venues offering `op`.
pub fn ids(op: Operation) -> Vec<&'static str> {
    REGISTRY.iter().filter(|v| op.of(&v.capabilities()).offered()).map(|v| v.id()).collect()
}

/// The venue `id` if it offers `op`, else an error naming the venues that do (or why not).
pub fn for_operation(id: &str, op: Operation) -> Result<&'static dyn Venue, ConnectorError> {
    match get(id) {
        Some(v) if op.of(&v.capabilities()).offered() => Ok(v),
        Some(v) => Err(super::api::unsupported(v.id(), &v.capabilities(), op)),
        None => Err(ConnectorError::Payload {
            venue: id.into(),
            message: format!("--source {id}: unknown venue; {} is available for {}", op.command(), ids(op).join(", ")),
        }),
    }
}

/// [`for_operation`], and every symbol of a market kind the venue serves for `op` (the kind
/// comes from the symbol: `BTC/USDT:USDT` is a linear perpetual, never the spot pair).
pub fn for_markets(id: &str, op: Operation, symbols: &[&str]) -> Result<&'static dyn Venue, ConnectorError> {
    let v = for_operation(id, op)?;
    for symbol in symbols {
        let kind = super::market_kind(id, symbol)?;
        let served = v.market_kinds(op);
        if !served.contains(&kind) {
            let list = served.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
            return Err(ConnectorError::Unsupported {
                venue: id.into(),
                what: format!("{} {symbol}", op.command()),
                why: format!("{symbol} is a {kind} market; {} serves {list} markets for {}", v.title(), op.command()),
            });
        }
    }
    Ok(v)
}

/// The `--source` help of a command offering `op`: the venues that offer it.
pub fn source_help(op: Operation) -> String {
    format!("Venue: {} (capabilities: the README's venue table)", ids(op).join(", "))
}

fn cell(s: Support) -> String {
    match s {
        Support::Yes => "yes".into(),
        Support::Limited(note) => format!("yes ({note})"),
        Support::No(_) => "—".into(),
    }
}

/// The market kinds a venue serves: those of every operation it offers, then what single
/// operations add (`spot; fetch ohlcv also linear perpetual, inverse perpetual`), and the
/// perpetuals `fetch funding` serves.
fn markets_cell(v: &dyn Venue) -> String {
    use tickflow_model::MarketKind;
    let caps = v.capabilities();
    let offered: Vec<Operation> = Operation::ALL.into_iter().filter(|op| op.of(&caps).offered()).collect();
    let names = |ks: &[MarketKind]| ks.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
    // funding is of perpetuals by nature: listed on its own, not narrowing the common kinds
    let (funding, trading): (Vec<Operation>, Vec<Operation>) = offered.into_iter().partition(|op| *op == Operation::Funding);
    let common: Vec<MarketKind> = MarketKind::ALL.into_iter().filter(|k| trading.iter().all(|op| v.market_kinds(*op).contains(k))).collect();
    let mut cell = names(&common);
    for op in trading {
        let extra: Vec<MarketKind> = v.market_kinds(op).iter().copied().filter(|k| !common.contains(k)).collect();
        if !extra.is_empty() {
            cell.push_str(&format!("; {} also {}", op.command(), names(&extra)));
        }
    }
    for op in funding {
        cell.push_str(&format!("; {}: {}", op.command(), names(v.market_kinds(op))));
        if v.funding_stream().is_some() {
            cell.push_str(" (also live: `stream --funding`)");
        }
    }
    if v.candle_prices().len() > 1 {
        let prices: Vec<&str> = v.candle_prices().iter().map(|p| p.name()).collect();
        cell.push_str(&format!("; candles of {} prices (`--price`)", prices.join(", ")));
    }
    cell
}

/// The README's venue capability table (Markdown), one row per registered venue.
pub fn capability_table() -> String {
    let mut t = String::from("| `--source` | venue |");
    for op in Operation::ALL {
        t.push_str(&format!(" {} |", op.command()));
    }
    t.push_str(" markets |\n|---|---|");
    t.push_str(&"---|".repeat(Operation::ALL.len() + 1));
    t.push('\n');
    for v in REGISTRY {
        let caps = v.capabilities();
        t.push_str(&format!("| `{}` | {} |", v.id(), v.title()));
        for op in Operation::ALL {
            t.push_str(&format!(" {} |", cell(op.of(&caps))));
        }
        t.push_str(&format!(" {} |", markets_cell(*v)));
        t.push('\n');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpClient, RetryPolicy};
    use crate::venues::api::{CandleRequest, HistoryRequest};
    use tickflow_model::{Timeframe, Ts};

    fn offline_client() -> HttpClient {
        let policy = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
        HttpClient::new(policy, std::time::Duration::from_millis(200))
    }

    #[test]
    fn ids_are_unique_and_lower_case() {
        let mut seen = std::collections::BTreeSet::new();
        for v in REGISTRY {
            assert!(seen.insert(v.id()), "{} twice", v.id());
            assert_eq!(v.id(), v.id().to_ascii_lowercase());
            assert!(get(v.id()).is_some());
        }
        assert!(get("nowhere").is_none());
    }

    /// What a venue declares is what it does: a refused operation says so (with the reason),
    /// an offered one gets past the refusal (here to a connection error at a closed port).
    #[test]
    fn capabilities_match_the_implementations() {
        for v in REGISTRY {
            let caps = v.capabilities();
            assert_eq!(caps.stream.offered(), v.live().is_some(), "{}: stream", v.id());
            let history = v.trade_history(HistoryRequest {
                client: offline_client(),
                rest_url: Some("http://127.0.0.1:9".into()),
                symbol: "BTC/USD".into(),
                since: Ts::now(),
                until: Ts(Ts::now().0 + 1),
                cursor: None,
                market: None,
                api_key: Some(crate::http::Secret::new("k")),
            });
            let refused = |e: &ConnectorError| matches!(e, ConnectorError::Unsupported { .. });
            assert_eq!(caps.trades.offered(), !history.as_ref().err().is_some_and(refused), "{}: trades", v.id());
            let mut client = offline_client();
            let req = CandleRequest {
                client: &mut client,
                rest_url: Some("http://127.0.0.1:9"),
                symbol: "BTC/USD",
                timeframe: Timeframe::from_secs(60).unwrap(),
                since: Ts(Ts::now().0 - 120_000_000_000),
                until: Ts::now(),
                market: None,
                api_key: None,
                price: Default::default(),
            };
            let candles = v.candles(req, &mut |_| Ok(()));
            assert_eq!(caps.ohlcv.offered(), !candles.as_ref().err().is_some_and(refused), "{}: ohlcv", v.id());
            if let Err(e @ ConnectorError::Unsupported { .. }) = history {
                assert!(e.to_string().contains("not supported by"), "{e}");
            }
        }
    }

    #[test]
    fn refusals_name_the_venues_that_can() {
        let e = for_operation("nowhere", Operation::Stream).err().unwrap().to_string();
        assert!(e.contains("binance") && e.contains("okx"), "{e}");
        let e = for_operation("bybit", Operation::Trades).err().unwrap().to_string();
        assert!(e.contains("only the most recent trades"), "{e}");
        assert!(for_operation("kraken", Operation::Verify).is_ok());
    }

    /// The market kind comes from the symbol: a perpetual is refused by a venue that serves only
    /// spot (Binance answered `BTC/USDT:USDT` with the spot pair's data), an option anywhere.
    #[test]
    fn market_kinds_come_from_the_symbol_and_are_checked() {
        assert!(for_markets("binance", Operation::Ohlcv, &["BTC/USDT"]).is_ok());
        assert!(for_markets("binance", Operation::Stream, &["BTC/USDT:USDT"]).is_ok(), "USDⓈ-M perpetuals stream from fstream");
        assert!(for_markets("binance", Operation::Stream, &["BTC/USD:BTC"]).is_ok(), "COIN-M perpetuals stream from dstream");
        let e = for_markets("coinbase", Operation::Stream, &["BTC/USD:BTC"]).err().unwrap().to_string();
        assert!(e.contains("inverse perpetual") && e.contains("serves spot"), "{e}");
        assert!(for_markets("binance", Operation::Ohlcv, &["BTC/USDT:USDT"]).is_ok());
        assert!(for_markets("binance", Operation::Ohlcv, &["BTC/USD:BTC", "BTC/USD:BTC-251226"]).is_ok(), "COIN-M candles");
        let e = for_markets("kraken", Operation::Ohlcv, &["BTC/USD", "BTC/USD:BTC-251226"]).err().unwrap().to_string();
        assert!(e.contains("BTC/USD:BTC-251226") && e.contains("inverse future"), "{e}");
        assert!(for_markets("bybit", Operation::Ohlcv, &["BTC/USDT:USDT", "BTC/USD:BTC", "ETH/USDT"]).is_ok());
        assert!(for_markets("bybit", Operation::Stream, &["BTC/USDT:USDT", "BTC/USD:BTC", "BTC/USDT:USDT-251226"]).is_ok());
        let e = for_markets("bybit", Operation::Funding, &["BTC/USDT:USDT-251226"]).err().unwrap().to_string();
        assert!(e.contains("linear future"), "{e}");
        let e = for_markets("okx", Operation::Trades, &["BTC/USDT:USDT-251226-100000-C"]).err().unwrap().to_string();
        assert!(e.contains("options"), "{e}");
    }

    #[test]
    fn the_table_has_a_row_per_venue() {
        let t = capability_table();
        assert_eq!(t.lines().count(), REGISTRY.len() + 2);
        assert!(t.lines().nth(2).unwrap().starts_with("| `binance` |"), "{t}");
    }
}
