//! CCXT for the long tail (cargo feature `ccxt`, off by default): historical trades and OHLCV
//! from any venue of the official `ccxt` Rust crate (pinned `=4.5.91`), for `tickflow fetch
//! trades|ohlcv --source ccxt:<exchange-id>`.
//!
//! Only the venues whose crate features are enabled are compiled in: `ccxt` enables `binance`;
//! `ccxt-kraken`, `ccxt-okx`, `ccxt-bybit` and `ccxt-coinbaseexchange` add those. (The crate's
//! default build compiles every venue and needs far more memory than a small machine has.)
//!
//! What the crate gives and how tickflow takes it:
//! - The API is async (tokio); each call here runs on a private current-thread runtime.
//! - Prices and amounts are `f64`. They are turned back into exact decimals through their
//!   shortest round-trip text and rounded at the ninth decimal, which restores the venue's string
//!   for any value with at most 15 significant digits (all real crypto prices and sizes seen).
//!   The native connectors read the exact strings and remain the reference.
//! - Venue errors are `panic!`s that the crate catches with `catch_unwind` and returns as
//!   `ExchangeError`, so builds with this feature must keep `panic = "unwind"` (the workspace
//!   does). The caught panics' messages are silenced while a call runs.
//! - Its base URLs are overridable (`--rest-url`), so tests run against a local server.
//!
//! Recorded Binance payload the test serves (freqtrade's XRP/ETH `aggTrades`):
//! `{"a":13519807,"p":"0.00141342","q":"23.00000000","f":...,"l":...,"T":1570752011620,"m":true,"M":true}`.

use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use crate::venues::cryptocompare::round_decimal;
use crate::ConnectorError;

/// CCXT venues compiled into this build.
pub fn venues() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "ccxt") {
        v.push("binance");
    }
    if cfg!(feature = "ccxt-kraken") {
        v.push("kraken");
    }
    if cfg!(feature = "ccxt-okx") {
        v.push("okx");
    }
    if cfg!(feature = "ccxt-bybit") {
        v.push("bybit");
    }
    if cfg!(feature = "ccxt-coinbaseexchange") {
        v.push("coinbaseexchange");
    }
    v
}

fn err(id: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Payload { venue: format!("ccxt:{id}"), message: message.into() }
}

/// Exchange configuration: only spot markets, no client-side throttling (tickflow's own budget
/// and retry rules apply at the HTTP level of the native connectors; here the venue's 429s come
/// back as errors), and the public REST base overridden when `base_url` is given.
fn config(id: &str, base_url: Option<&str>) -> ::ccxt::Value {
    use ::ccxt::Params;
    let mut p = Params::new()
        .with_bool("enableRateLimit", true)
        .with_params("options", Params::new().with_params("fetchMarkets", Params::new().with_strs("types", &["spot"])));
    if let Some(base) = base_url {
        let base = base.trim_end_matches('/');
        // binance joins `urls.api.public` and the path; kraken-style venues add `/0/public/`
        let public = if id == "binance" { format!("{base}/api/v3") } else { base.to_string() };
        p = p.with_params("urls", Params::new().with_params("api", Params::new().with_str("public", &public)));
    }
    p.into_value()
}

fn runtime(id: &str) -> Result<tokio::runtime::Runtime, ConnectorError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| err(id, format!("tokio runtime: {e}")))
}

/// Runs `f` with the default panic hook silenced (the crate reports errors as caught panics).
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(hook);
    out
}

/// Runs `$body` with `$ex` bound to the typed exchange `id`, when compiled in.
macro_rules! with_exchange {
    ($id:expr, $cfg:expr, |$ex:ident| $body:expr) => {{
        match $id {
            #[cfg(feature = "ccxt")]
            "binance" => {
                let mut $ex = ::ccxt::Binance::new(Some($cfg));
                $body
            }
            #[cfg(feature = "ccxt-kraken")]
            "kraken" => {
                let mut $ex = ::ccxt::Kraken::new(Some($cfg));
                $body
            }
            #[cfg(feature = "ccxt-okx")]
            "okx" => {
                let mut $ex = ::ccxt::Okx::new(Some($cfg));
                $body
            }
            #[cfg(feature = "ccxt-bybit")]
            "bybit" => {
                let mut $ex = ::ccxt::Bybit::new(Some($cfg));
                $body
            }
            #[cfg(feature = "ccxt-coinbaseexchange")]
            "coinbaseexchange" => {
                let mut $ex = ::ccxt::Coinbaseexchange::new(Some($cfg));
                $body
            }
            other => Err(err(other, format!("not compiled in (this build has: {}); enable its cargo feature, e.g. ccxt-{other}", venues().join(", ")))),
        }
    }};
}

fn exact(id: &str, v: Option<f64>, what: &str) -> Result<Decimal, ConnectorError> {
    let v = v.filter(|x| x.is_finite()).ok_or_else(|| err(id, format!("trade without {what}")))?;
    round_decimal(&format!("{v}")).map_err(|e| err(id, format!("{what}: {e}")))
}

/// A unified CCXT trade as a tickflow trade.
fn to_trade(id: &str, instrument: Instrument, t: &::ccxt::types::Trade, ingest: Ts) -> Result<Trade, ConnectorError> {
    let ms = t.timestamp.ok_or_else(|| err(id, "trade without timestamp"))?;
    let trade_id = t.id.as_deref().map(crate::venues::id_or_hash);
    let side = match t.side.as_deref() {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        _ => Side::Unknown,
    };
    Ok(Trade {
        instrument,
        trade_id,
        ts: Ts::checked_from_millis(ms).ok_or_else(|| err(id, format!("trade time {ms} ms is out of range")))?,
        ingest_ts: ingest,
        price: exact(id, t.price, "price")?,
        amount: exact(id, t.amount, "amount")?,
        side,
    })
}

/// Trades of `symbol` in `[since, until)` from CCXT venue `id`, paging forward by time
/// (`since` = the last trade's time; the repeated boundary trades are dropped by id). Each page is
/// handed to `on_page`, oldest first. Returns the number of trades.
pub fn fetch_trades(
    id: &str,
    base_url: Option<&str>,
    symbol: &str,
    since: Ts,
    until: Ts,
    mut on_page: impl FnMut(&[Trade]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let instrument = Instrument::new(id, symbol).map_err(|e| err(id, e.to_string()))?;
    let rt = runtime(id)?;
    let cfg = config(id, base_url);
    quietly(|| {
        with_exchange!(id, cfg, |ex| {
            rt.block_on(async {
                ex.try_load_markets(false).await.map_err(|e| err(id, format!("load markets: {e}")))?;
                const HOUR_MS: i64 = 3_600_000;
                let mut from = since.millis();
                let mut last_id: Option<u64> = None;
                let mut total = 0u64;
                while from < until.millis() {
                    let page = ex.fetch_trades(symbol, Some(from), Some(1000), ()).await.map_err(|e| err(id, format!("fetch_trades: {e}")))?;
                    let ingest = Ts::now();
                    let mut trades = page.iter().map(|t| to_trade(id, instrument, t, ingest)).collect::<Result<Vec<_>, _>>()?;
                    trades.sort_by_key(|t| (t.ts, t.trade_id));
                    let Some(newest) = trades.last().map(|t| t.ts.millis()) else {
                        // venues answer `since` with a bounded window (binance: one hour); an
                        // empty page is a quiet stretch, not the end
                        from += HOUR_MS;
                        continue;
                    };
                    trades.retain(|t| t.ts >= since && t.ts < until && last_id.is_none_or(|l| t.trade_id.is_none_or(|i| i > l)));
                    if let Some(l) = trades.last().and_then(|t| t.trade_id) {
                        last_id = Some(l);
                    }
                    total += trades.len() as u64;
                    on_page(&trades)?;
                    // next page from the newest trade's millisecond (its neighbours come again and
                    // are dropped by id); a page of one millisecond moves on by one
                    from = if newest > from { newest } else { from + 1 };
                }
                Ok(total)
            })
        })
    })
}

/// Closed candles of `symbol` in `[since, until)` from CCXT venue `id`, paging forward by open
/// time. Candles still forming at the time of the call are left out.
pub fn fetch_ohlcv(
    id: &str,
    base_url: Option<&str>,
    symbol: &str,
    timeframe: Timeframe,
    since: Ts,
    until: Ts,
    mut on_page: impl FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let instrument = Instrument::new(id, symbol).map_err(|e| err(id, e.to_string()))?;
    let rt = runtime(id)?;
    let cfg = config(id, base_url);
    let tf = timeframe.to_string();
    let now = Ts::now();
    quietly(|| {
        with_exchange!(id, cfg, |ex| {
            rt.block_on(async {
                ex.try_load_markets(false).await.map_err(|e| err(id, format!("load markets: {e}")))?;
                let mut from = timeframe.open_of(since);
                let mut total = 0u64;
                while from < until {
                    let rows =
                        ex.fetch_ohlcv(symbol, Some(&tf), Some(from.millis()), Some(1000), ()).await.map_err(|e| err(id, format!("fetch_ohlcv: {e}")))?;
                    let mut bars = Vec::with_capacity(rows.len());
                    for r in &rows {
                        let Some(open_time) = Ts::checked_from_millis(r[0] as i64) else {
                            return Err(err(id, format!("candle time {} is out of range", r[0])));
                        };
                        if open_time < from || open_time >= until || Ts(open_time.0.saturating_add(timeframe.nanos())) > now {
                            continue;
                        }
                        let d = |i: usize, what: &str| exact(id, Some(r[i]), what);
                        let ohlc = [d(1, "open")?, d(2, "high")?, d(3, "low")?, d(4, "close")?];
                        bars.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, d(5, "volume")?, Notional::ZERO));
                    }
                    bars.sort_by_key(|b| b.open_time);
                    let Some(last) = bars.last().map(|b| b.open_time) else { return Ok(total) };
                    total += bars.len() as u64;
                    on_page(&bars)?;
                    from = Ts(last.0 + timeframe.nanos());
                }
                Ok(total)
            })
        })
    })
}
