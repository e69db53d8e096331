//! `tickflow fetch trades` for Binance, Coinbase and OKX against a local server. Each venue's
//! REST shape is the recorded one (Binance `aggTrades`, Coinbase `/products/{id}/trades`,
//! OKX `history-trades`) over a generated tape with a three-hour quiet stretch. The server caps
//! pages below what the client asks and answers the second request with a 429; the fetch is
//! interrupted after three pages and resumed. Every trade in `[since, until)` must be written
//! once, in order.

mod common;
#[path = "../../connectors/tests/support/http_stub.rs"]
mod http_stub;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::tickflow_ok;
use serde_json::{json, Value};

#[derive(Clone, Copy)]
struct T {
    id: u64,
    ms: i64,
    taker_buy: bool,
}

const T0: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z

fn tape() -> Vec<T> {
    let mut x: u64 = 5;
    let mut ms = T0;
    (0..3000u64)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ms += (x % 4000) as i64; // bursts: several trades may share a millisecond
            if i == 1500 {
                ms += 3 * 3_600_000; // a quiet stretch
            }
            T { id: 1_000_000 + i, ms, taker_buy: x.is_multiple_of(2) }
        })
        .collect()
}

fn price(t: &T) -> String {
    format!("{}.{:02}", 94_000 + t.id % 997, t.id % 100)
}

fn qty(t: &T) -> String {
    format!("0.{:08}", 1 + (t.id * 7919) % 99_999_999)
}

fn param(target: &str, k: &str) -> Option<i64> {
    target.split(['?', '&']).find_map(|kv| kv.strip_prefix(&format!("{k}="))).and_then(|v| v.parse().ok())
}

/// The venue's answer to `target` (pages capped at `cap`).
fn answer(venue: &str, target: &str, tape: &[T], cap: usize) -> Option<Value> {
    let newest_first = |keep: &dyn Fn(&T) -> bool| -> Vec<T> { tape.iter().rev().filter(|t| keep(t)).take(cap).copied().collect() };
    match venue {
        // spot, USDⓈ-M and COIN-M (perpetuals and quarterlies) serve the same rows; each server
        // answers its market only
        "binance" | "binance-usdm" | "binance-coinm" | "binance-usdm-future" | "binance-coinm-future"
            if target.starts_with(match venue {
                "binance" => "/api/v3/aggTrades?symbol=BTCUSDT&",
                "binance-usdm" => "/fapi/v1/aggTrades?symbol=BTCUSDT&",
                "binance-usdm-future" => "/fapi/v1/aggTrades?symbol=BTCUSDT_251226&",
                "binance-coinm-future" => "/dapi/v1/aggTrades?symbol=BTCUSD_251226&",
                _ => "/dapi/v1/aggTrades?symbol=BTCUSD_PERP&",
            }) =>
        {
            let page: Vec<T> = match (param(target, "fromId"), param(target, "startTime"), param(target, "endTime")) {
                (Some(from), _, _) => tape.iter().filter(|t| t.id as i64 >= from).take(cap).copied().collect(),
                (None, Some(s), Some(e)) => tape.iter().filter(|t| t.ms >= s && t.ms <= e).take(cap).copied().collect(),
                _ => return None,
            };
            // recorded shape: {"a","p","q","f","l","T","m","M"}
            Some(
                page.iter()
                    .map(|t| json!({"a": t.id, "p": price(t), "q": qty(t), "f": t.id * 3, "l": t.id * 3 + 1, "T": t.ms, "m": !t.taker_buy, "M": true}))
                    .collect(),
            )
        }
        "coinbase" if target.starts_with("/products/BTC-USD/trades?") => {
            let limit = param(target, "limit").unwrap_or(1000) as usize;
            let after = param(target, "after").map(|a| a as u64);
            let page: Vec<T> = newest_first(&|t: &T| after.is_none_or(|a| t.id < a)).into_iter().take(limit).collect();
            Some(
                page.iter()
                    .map(|t| {
                        let time = tickflow_model::Ts::from_millis(t.ms).to_rfc3339();
                        json!({"trade_id": t.id, "side": if t.taker_buy { "sell" } else { "buy" }, "size": qty(t), "price": price(t), "time": time})
                    })
                    .collect(),
            )
        }
        "okx" | "okx-swap" | "okx-future" if target.starts_with(&format!("/api/v5/market/history-trades?instId={}&", okx_inst(venue))) => {
            let after = param(target, "after")?;
            let page = match param(target, "type") {
                Some(2) => newest_first(&|t: &T| t.ms < after),
                _ => newest_first(&|t: &T| (t.id as i64) < after),
            };
            let data: Vec<Value> = page
                .iter()
                .map(|t| {
                    json!({"instId": okx_inst(venue), "tradeId": t.id.to_string(), "px": price(t), "sz": qty(t), "side": if t.taker_buy { "buy" } else { "sell" },
                           "ts": t.ms.to_string()})
                })
                .collect();
            Some(json!({"code": "0", "msg": "", "data": data}))
        }
        "krakenfutures" if target.starts_with("/api/history/v3/market/PF_XBTUSD/executions?") => {
            // the documented market-executions shape, ascending; the continuation token is
            // opaque to the client (here: the index of the next execution)
            let (since, before) = (param(target, "since")?, param(target, "before").unwrap_or(i64::MAX));
            let from = target.split("continuation_token=tok").nth(1).and_then(|s| s.split('&').next()).and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
            let span: Vec<T> = tape.iter().filter(|t| t.ms >= since && t.ms < before).copied().collect();
            let page = &span[from.min(span.len())..(from + cap).min(span.len())];
            let elements: Vec<Value> = page
                .iter()
                .map(|t| {
                    let ex = json!({"uid": t.id.to_string(), "timestamp": t.ms.to_string(), "quantity": qty(t), "price": price(t), "markPrice": price(t),
                                    "limitFilled": false, "takerOrder": {"uid": "o", "tradeable": "PF_XBTUSD", "direction": if t.taker_buy { "Buy" } else { "Sell" }}});
                    json!({"uid": format!("e{}", t.id), "timestamp": t.ms.to_string(), "event": {"Execution": {"execution": ex, "takerReducedQuantity": ""}}})
                })
                .collect();
            let mut body = json!({"len": elements.len().to_string(), "elements": elements});
            if from + cap < span.len() {
                body["continuationToken"] = format!("tok{}", from + cap).into();
            }
            Some(body)
        }
        "coindesk" if target.starts_with("/spot/v1/historical/trades?market=kraken&instrument=BTC-USDT") => {
            // documented shape; after_ts in seconds, continued strictly after last_ccseq
            let after = param(target, "after_ts")?;
            let seq = param(target, "last_ccseq");
            let page: Vec<T> = tape
                .iter()
                .filter(|t| match seq {
                    Some(q) => t.ms / 1000 >= after && t.id as i64 > q,
                    None => t.ms / 1000 >= after,
                })
                .take(cap)
                .copied()
                .collect();
            let data: Vec<Value> = page
                .iter()
                .map(|t| {
                    json!({"TYPE": "952", "MARKET": "kraken", "INSTRUMENT": "BTC-USDT", "SIDE": if t.taker_buy { "BUY" } else { "SELL" }, "ID": t.id.to_string(),
                           "TIMESTAMP": t.ms / 1000, "TIMESTAMP_NS": (t.ms % 1000) * 1_000_000, "PRICE": serde_json::from_str::<Value>(&price(t)).unwrap(),
                           "QUANTITY": serde_json::from_str::<Value>(&qty(t)).unwrap(), "CCSEQ": t.id})
                })
                .collect();
            Some(json!({"Data": data, "Err": {}}))
        }
        "okx" if target.starts_with("/api/v5/market/history-candles?instId=BTC-USDT&bar=1m") => {
            // the recorded candle shape: [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm], newest first
            let after = param(target, "after")?;
            let rows: Vec<Value> = (0..500i64)
                .rev()
                .map(|i| T0 + i * 60_000)
                .filter(|&ms| ms < after)
                .take(cap)
                .map(|ms| {
                    let i = (ms - T0) / 60_000;
                    let o = 94_000 + i;
                    json!([
                        ms.to_string(),
                        o.to_string(),
                        (o + 5).to_string(),
                        (o - 3).to_string(),
                        (o + 1).to_string(),
                        format!("{}.5", i + 1),
                        "1",
                        "94000",
                        "1"
                    ])
                })
                .collect();
            Some(json!({"code": "0", "msg": "", "data": rows}))
        }
        _ => None,
    }
}

/// The OKX instrument a stub server answers for.
fn okx_inst(server: &str) -> &'static str {
    match server {
        "okx-swap" => "BTC-USDT-SWAP",
        "okx-future" => "BTC-USD-251226",
        _ => "BTC-USDT",
    }
}

fn serve(venue: &'static str, tape: Arc<Vec<T>>, cap: usize) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let url = http_stub::serve(move |req, s| {
        if venue == "coindesk" && !req.has_header("authorization: Apikey k3y") {
            http_stub::respond(s, "401 Unauthorized", "", "");
            return;
        }
        if h.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            http_stub::respond(s, "429 Too Many Requests", "Retry-After: 0\r\n", "");
            return;
        }
        match answer(venue, &req.target, &tape, cap) {
            Some(v) => http_stub::respond_json(s, "200 OK", &v.to_string()),
            None => http_stub::respond_json(s, "404 Not Found", &format!("unexpected request {}", req.target)),
        }
    });
    (url, hits)
}

fn written(path: &std::path::Path) -> Vec<(u64, i64, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[3].parse().unwrap(), f[0].parse::<i64>().unwrap() / 1_000_000, f[6].to_string())
        })
        .collect()
}

/// `fetch trades` of `symbol` from `source` over `[since, until)` into `out`.
fn trades_args<'a>(source: &'a str, symbol: &'a str, since: &'a str, until: &'a str, url: &'a str, out: &'a std::path::Path) -> Vec<&'a str> {
    vec![
        "fetch",
        "trades",
        "--source",
        source,
        "--symbol",
        symbol,
        "--since",
        since,
        "--until",
        until,
        "--rest-url",
        url,
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ]
}

fn fetch_resumes_and_writes_every_trade_once(venue: &'static str, cap: usize) {
    fetch_resumes_with(venue, cap, &[]);
}

fn fetch_resumes_with(venue: &'static str, cap: usize, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    fetch_into(venue, cap, extra, &dir.path().join(format!("{venue}.csv")));
}

/// Fetches the tape's span into `out` in two runs (interrupted after two pages, then resumed)
/// and checks every trade arrived once; a Parquet `out` is read back through `convert`.
fn fetch_into(venue: &'static str, cap: usize, extra: &[&str], out: &std::path::Path) {
    let tape = Arc::new(tape());
    let (url, hits) = serve(venue, tape.clone(), cap);
    let (since, until) = (tape[100].ms, tape[2800].ms);
    let want: Vec<&T> = tape.iter().filter(|t| t.ms >= since && t.ms < until).collect();
    let symbol = match venue {
        "coinbase" => "BTC/USD",
        "krakenfutures" => "BTC/USD:USD",
        _ => "BTC/USDT",
    };
    let parquet = out.extension().is_some_and(|e| e == "parquet");
    // what the rows are read back from: the CSV itself, or the Parquet file converted
    let csv = if parquet { out.with_extension("back.csv") } else { out.to_path_buf() };
    let staged = std::path::PathBuf::from(format!("{}.part.csv", out.display()));
    let (s, u) = (since.to_string(), until.to_string());
    let mut args = trades_args(venue, symbol, &s, &u, &url, out);
    args.extend_from_slice(extra);
    let mut first = args.clone();
    first.extend(["--max-pages", "2"]);
    let stdout = tickflow_ok(&first);
    assert!(stdout.contains("stopped after 2 pages"), "{venue}: {stdout}");
    // an interrupted Parquet fetch leaves its CSV staging file, never a partial Parquet file
    assert_eq!(out.exists(), !parquet, "{venue}: {}", out.display());
    let partial = written(if parquet { &staged } else { out });
    assert!(!partial.is_empty() && partial.len() < want.len(), "{venue}: interrupted part-way ({} rows)", partial.len());
    let stdout = tickflow_ok(&args);
    assert!(stdout.contains(&format!("fetched {} trades", want.len())), "{venue}: {stdout}");
    assert!(!stdout.contains("k3y"), "the API key is never printed");
    if parquet {
        assert!(!staged.exists(), "{venue}: the staging file is removed once the Parquet file is written");
        tickflow_ok(&["convert", "trades", out.to_str().unwrap(), csv.to_str().unwrap()]);
    }
    assert!(!std::path::Path::new(&format!("{}.checkpoint", out.display())).exists(), "{venue}: checkpoint removed when complete");
    let got = written(&csv);
    let ids: Vec<u64> = got.iter().map(|r| r.0).collect();
    assert_eq!(ids, want.iter().map(|t| t.id).collect::<Vec<_>>(), "{venue}: every trade in the span once, in order");
    for (row, t) in got.iter().zip(&want) {
        assert_eq!(row.1, t.ms, "{venue}: event time");
        assert_eq!(row.2, if t.taker_buy { "buy" } else { "sell" }, "{venue}: taker side");
    }
    assert!(hits.load(Ordering::SeqCst) > 3, "{venue}: paged through a 429");
}

/// Kraken Futures' market executions, paged by continuation token through a 429, interrupted
/// and resumed from the saved token.
#[test]
fn krakenfutures_executions_history() {
    fetch_resumes_and_writes_every_trade_once("krakenfutures", 250);
}

#[test]
fn binance_agg_trades_history() {
    fetch_resumes_and_writes_every_trade_once("binance", 250);
}

#[test]
fn fetch_to_parquet_resumes_and_aggregates_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, pq) = (dir.path().join("b.csv"), dir.path().join("b.parquet"));
    fetch_into("binance", 250, &[], &csv);
    fetch_into("binance", 250, &[], &pq);
    // the Parquet file holds what the CSV holds, and aggregates to the same bars, byte for byte
    let back = std::fs::read_to_string(pq.with_extension("back.csv")).unwrap();
    let direct = std::fs::read_to_string(&csv).unwrap();
    let strip_ingest = |t: &str| t.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect::<Vec<_>>();
    assert_eq!(strip_ingest(&back), strip_ingest(&direct));
    let bars = |input: &std::path::Path, name: &str| {
        let out = dir.path().join(name);
        tickflow_ok(&["aggregate", "-i", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "--timeframes", "1m,1h", "-w", "2"]);
        std::fs::read(out).unwrap()
    };
    let (a, b) = (bars(&csv, "a.csv"), bars(&pq, "b_bars.csv"));
    assert!(a.len() > 1000);
    assert_eq!(a, b);
}

/// #15: every futures market's trade history comes from its own endpoint and id (Binance USDⓈ-M
/// and COIN-M perpetuals and quarterlies, OKX swaps and futures); each server answers only its
/// market, as the venues do, and the trades carry the unified symbol. Sizes stay in the venue's
/// contracts (as CCXT's `amount`).
#[test]
fn futures_trade_history_from_each_market_s_endpoint() {
    for (server, source, symbol) in [
        ("binance-usdm", "binance", "BTC/USDT:USDT"),
        ("binance-coinm", "binance", "BTC/USD:BTC"),
        ("binance-usdm-future", "binance", "BTC/USDT:USDT-251226"),
        ("binance-coinm-future", "binance", "BTC/USD:BTC-251226"),
        ("okx-swap", "okx", "BTC/USDT:USDT"),
        ("okx-future", "okx", "BTC/USD:BTC-251226"),
    ] {
        let tape = Arc::new(tape());
        let (url, _) = serve(server, tape.clone(), 250);
        let (since, until) = (tape[100].ms, tape[900].ms);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.csv");
        let (s, u) = (since.to_string(), until.to_string());
        let stdout = tickflow_ok(&trades_args(source, symbol, &s, &u, &url, &out));
        let want: Vec<u64> = tape.iter().filter(|t| t.ms >= since && t.ms < until).map(|t| t.id).collect();
        assert!(stdout.contains(&format!("fetched {} trades", want.len())), "{symbol}: {stdout}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.lines().skip(1).all(|l| l.split(',').nth(2) == Some(symbol)), "{symbol}: labelled as the perpetual");
        assert_eq!(written(&out).iter().map(|r| r.0).collect::<Vec<_>>(), want, "{symbol}");
    }
    // the spot server refuses a perpetual's request path (as Binance's spot API has no such market)
    let (url, _) = serve("binance", Arc::new(tape()), 250);
    let o = common::tickflow(&[
        "fetch",
        "trades",
        "--source",
        "binance",
        "--symbol",
        "BTC/USDT:USDT",
        "--since",
        "1735689600000",
        "--rest-url",
        &url,
        "--out",
        "/dev/null",
    ]);
    assert!(!o.status.success());
}

#[test]
fn coinbase_trades_history_by_id_bisection() {
    fetch_resumes_and_writes_every_trade_once("coinbase", 300);
}

#[test]
fn okx_history_trades_by_windows() {
    fetch_resumes_and_writes_every_trade_once("okx", 100);
}

#[test]
fn coindesk_data_api_trades_history_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k3y\n").unwrap();
    fetch_resumes_with("coindesk", 700, &["--market", "kraken", "--api-key-file", key.to_str().unwrap()]);
    // without a key: a clear error, before any request
    let out = common::tickflow(&["fetch", "trades", "--source", "coindesk", "--symbol", "BTC/USD", "--since", "1735689600", "--out", "/dev/null"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs an API key"));
}

#[test]
fn okx_candle_history_pages_backward_and_is_written_oldest_first() {
    let (url, hits) = serve("okx", Arc::new(Vec::new()), 100);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("okx-bars.csv");
    let (since, until) = ((T0 + 50 * 60_000).to_string(), (T0 + 450 * 60_000).to_string());
    let stdout = tickflow_ok(&common::fetch_ohlcv("okx", "BTC/USDT", "1m", &since, &until, &url, &out));
    assert!(stdout.contains("fetched 400 1m candles"), "{stdout}");
    let rows = common::read_bars(&out);
    assert_eq!(rows.len(), 400);
    assert_eq!(rows[0].open_time, T0 + 50 * 60_000);
    assert!(rows.windows(2).all(|w| w[1].open_time == w[0].open_time + 60_000), "ascending, no gaps, no repeats");
    assert_eq!(rows[0].open.to_string(), "94050");
    assert!(hits.load(Ordering::SeqCst) >= 5, "four pages of 100 after a 429");
}

#[test]
fn bybit_has_no_trade_history_and_says_so() {
    let out = common::tickflow(&["fetch", "trades", "--source", "bybit", "--symbol", "BTC/USDT", "--since", "1735689600", "--out", "/dev/null"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only the most recent trades"));
}

#[cfg(not(feature = "ccxt"))]
#[test]
fn ccxt_sources_need_the_ccxt_feature_and_say_how_to_get_it() {
    for kind in ["trades", "ohlcv"] {
        let out = common::tickflow(&["fetch", kind, "--source", "ccxt:binance", "--symbol", "BTC/USDT", "--since", "1735689600", "--out", "/dev/null"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--features ccxt"), "{kind}: {err}");
    }
}
