//! `tickflow fetch funding` against a loopback server that answers like Binance USDⓈ-M/COIN-M
//! (`/fapi`, `/dapi` `fundingRate`, ascending, `limit` ≤ 1000) and Bybit v5
//! (`/v5/market/funding/history`, newest first, `limit` ≤ 200) and OKX v5
//! (`/api/v5/public/funding-rate-history`, `before`/`after`, `limit` ≤ 100, the settled
//! `realizedRate`), with a year of 8-hourly funding
//! — more than one page everywhere — and refuses what the venues refuse: a market id on the
//! wrong endpoint, a spot category. The requests carry CCXT's endpoints and market ids
//! (`connectors/tests/fixtures/ccxt/funding_binance.json`, CCXT's request fixture).

mod common;
#[path = "../../connectors/tests/support/http_stub.rs"]
mod http_stub;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{tickflow, tickflow_ok};

const START: i64 = 1_704_067_200_000; // 2024-01-01
const EIGHT_H: i64 = 8 * 3_600_000;
const N: i64 = 1095; // one year of funding times

/// The rate at funding time `i`: exact decimals of varying length and sign.
fn rate(i: i64) -> String {
    let v = (i * 7919) % 2001 - 1000; // -1000..1000
    let s = if v < 0 { "-" } else { "" };
    format!("{s}0.0000{:04}{}", v.abs(), if i % 3 == 0 { "362041" } else { "" })
}

fn param(target: &str, k: &str) -> Option<i64> {
    target.split(['?', '&']).find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('='))).and_then(|v| v.parse().ok())
}

fn in_span(target: &str) -> Vec<i64> {
    let (s, e) = (param(target, "startTime").unwrap_or(START), param(target, "endTime").unwrap_or(i64::MAX));
    (0..N).filter(|i| (s..=e).contains(&(START + i * EIGHT_H))).collect()
}

/// Serves both venues; counts requests.
fn serve() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let url = http_stub::serve(move |req, s| {
        h.fetch_add(1, Ordering::SeqCst);
        let t = req.target.as_str();
        let binance = |path: &str, id: &str| t.starts_with(path) && t.contains(&format!("symbol={id}&"));
        if binance("/fapi/v1/fundingRate?", "BTCUSDT") || binance("/dapi/v1/fundingRate?", "BTCUSD_PERP") {
            let limit = param(t, "limit").unwrap_or(100).min(1000) as usize;
            let mark = t.starts_with("/fapi");
            let rows: Vec<serde_json::Value> = in_span(t)
                .into_iter()
                .take(limit)
                .map(|i| {
                    let mut r =
                        serde_json::json!({"symbol": if mark {"BTCUSDT"} else {"BTCUSD_PERP"}, "fundingTime": START + i * EIGHT_H, "fundingRate": rate(i)});
                    if mark {
                        r["markPrice"] = serde_json::json!(format!("{}.{:08}", 40_000 + i, i));
                    }
                    r
                })
                .collect();
            return http_stub::respond_json(s, "200 OK", &serde_json::Value::Array(rows).to_string());
        }
        if t.starts_with("/fapi/") || t.starts_with("/dapi/") {
            return http_stub::respond_json(s, "400 Bad Request", r#"{"code":-1121,"msg":"Invalid symbol."}"#);
        }
        if t.starts_with("/v5/market/funding/history?") {
            let category = t.split("category=").nth(1).and_then(|c| c.split('&').next()).unwrap_or("");
            if category != "linear" && category != "inverse" {
                return http_stub::respond_json(
                    s,
                    "200 OK",
                    r#"{"retCode":10001,"retMsg":"params error: category only support linear or inverse","result":{},"retExtInfo":{},"time":1}"#,
                );
            }
            let limit = param(t, "limit").unwrap_or(200).min(200) as usize;
            let sym = if category == "linear" { "BTCUSDT" } else { "BTCUSD" };
            let mut v = in_span(t);
            v.reverse(); // newest first
            let list: Vec<serde_json::Value> = v
                .into_iter()
                .take(limit)
                .map(|i| serde_json::json!({"symbol": sym, "fundingRate": rate(i), "fundingRateTimestamp": (START + i * EIGHT_H).to_string()}))
                .collect();
            let body = serde_json::json!({"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": list}, "retExtInfo": {}, "time": 1});
            return http_stub::respond_json(s, "200 OK", &body.to_string());
        }
        if t.starts_with("/api/v5/public/funding-rate-history?") {
            let inst = t.split("instId=").nth(1).and_then(|c| c.split('&').next()).unwrap_or("");
            if inst != "BTC-USDT-SWAP" && inst != "BTC-USD-SWAP" {
                return http_stub::respond_json(s, "200 OK", r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#);
            }
            // before: newer than; after: older than (both exclusive); newest first, ≤ 100
            let (newer, older) = (param(t, "before").unwrap_or(i64::MIN), param(t, "after").unwrap_or(i64::MAX));
            let limit = param(t, "limit").unwrap_or(100).min(100) as usize;
            let mut v: Vec<i64> = (0..N).filter(|i| (START + i * EIGHT_H) > newer && (START + i * EIGHT_H) < older).collect();
            v.reverse();
            let data: Vec<serde_json::Value> = v
                .into_iter()
                .take(limit)
                .map(|i| serde_json::json!({"fundingRate": "0.0001", "realizedRate": rate(i), "fundingTime": (START + i * EIGHT_H).to_string(), "instId": inst, "instType": "SWAP", "method": "next_period"}))
                .collect();
            return http_stub::respond_json(s, "200 OK", &serde_json::json!({"code": "0", "msg": "", "data": data}).to_string());
        }
        if t.starts_with("/derivatives/api/v4/historicalfundingrates?") {
            // Kraken Futures: the whole history, ascending, ISO times; 400 for a non-perpetual
            let sym = t.split("symbol=").nth(1).and_then(|c| c.split('&').next()).unwrap_or("");
            if sym != "PF_XBTUSD" && sym != "PI_XBTUSD" {
                return http_stub::respond_json(s, "400 Bad Request", r#"{"result":"error","error":"Invalid symbol"}"#);
            }
            let rates: Vec<serde_json::Value> = (0..N)
                .map(|i| {
                    let ts = tickflow_model::Ts::from_millis(START + i * EIGHT_H).to_rfc3339();
                    serde_json::json!({"timestamp": ts, "fundingRate": 1.33, "relativeFundingRate": rate(i)})
                })
                .collect();
            return http_stub::respond_json(s, "200 OK", &serde_json::json!({"result": "success", "rates": rates}).to_string());
        }
        http_stub::respond_json(s, "404 Not Found", "{}");
    });
    (url, hits)
}

fn fetch(source: &str, symbol: &str, url: &str, out: &std::path::Path) -> std::process::Output {
    fetch_with(source, symbol, url, out, &[])
}

/// `fetch funding` over the span the tests use (funding times 5 .. N − 10), with `extra` flags.
fn fetch_with(source: &str, symbol: &str, url: &str, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let (since, until) = ((START + 5 * EIGHT_H).to_string(), (START + (N - 10) * EIGHT_H).to_string());
    let args =
        ["fetch", "funding", "--source", source, "--symbol", symbol, "--since", &since, "--until", &until, "--rest-url", url, "--out", out.to_str().unwrap()];
    tickflow(&[&args[..], extra].concat())
}

/// [`fetch_with`], which must succeed.
fn fetch_ok(source: &str, symbol: &str, url: &str, out: &std::path::Path, extra: &[&str]) {
    let o = fetch_with(source, symbol, url, out, extra);
    assert!(o.status.success(), "{source} {symbol}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_year_of_funding_pages_through_every_venue_and_market_exactly() {
    let (url, hits) = serve();
    let dir = tempfile::tempdir().unwrap();
    // (venue, symbol, mark price in the rows, requests at least)
    for (source, symbol, mark, pages) in [
        ("binance", "BTC/USDT:USDT", true, 2),
        ("binance", "BTC/USD:BTC", false, 2),
        ("bybit", "BTC/USDT:USDT", false, 2),
        ("bybit", "BTC/USD:BTC", false, 2),
        ("okx", "BTC/USDT:USDT", false, 2),
        ("okx", "BTC/USD:BTC", false, 2),
        ("krakenfutures", "BTC/USD:USD", false, 1),
        ("krakenfutures", "BTC/USD:BTC", false, 1),
    ] {
        let out = dir.path().join(format!("{source}-{}.csv", symbol.replace(['/', ':'], "_")));
        let before = hits.load(Ordering::SeqCst);
        let o = fetch(source, symbol, &url, &out);
        assert!(o.status.success(), "{source} {symbol}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(hits.load(Ordering::SeqCst) - before >= pages, "{source} {symbol}: pages");
        let text = std::fs::read_to_string(&out).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], "timestamp,exchange,symbol,funding_rate,mark_price");
        let want: Vec<i64> = (5..N - 10).collect();
        assert_eq!(rows.len() - 1, want.len(), "{source} {symbol}: every funding time in [since, until) once");
        for (row, i) in rows[1..].iter().zip(want) {
            let f: Vec<&str> = row.split(',').collect();
            assert_eq!(f[0].parse::<i64>().unwrap(), START + i * EIGHT_H, "{source} {symbol}: ascending");
            assert_eq!((f[1], f[2]), (source, symbol));
            // exact: the venue's text with trailing zeros dropped
            let want_rate = rate(i);
            let want_rate = want_rate.trim_end_matches('0').trim_end_matches('.');
            assert_eq!(f[3], if want_rate == "0.0000" || want_rate == "-0.0000" { "0" } else { want_rate }, "{source} {symbol} at {i}");
            assert_eq!(f[4].is_empty(), !mark, "{row}");
        }
        assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("fetched {} funding rates", N - 15)));
    }
    // Parquet output
    let pq = dir.path().join("f.parquet");
    assert!(fetch("binance", "BTC/USDT:USDT", &url, &pq).status.success());
    assert!(tickflow_connectors::is_parquet(pq.to_str().unwrap()).unwrap());
}

#[test]
fn funding_needs_a_perpetual_on_a_venue_that_lists_them() {
    let (url, _) = serve();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.csv");
    for (source, symbol, says) in
        [("binance", "BTC/USDT", "spot"), ("bybit", "BTC/USDT:USDT-251226", "future"), ("kraken", "BTC/USD:BTC", "fetch funding"), ("okx", "BTC/USDT", "spot")]
    {
        let o = fetch(source, symbol, &url, &out);
        assert!(!o.status.success(), "{source} {symbol}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{source} {symbol}: {err}");
    }
}

#[test]
fn requests_use_ccxts_endpoints_and_market_ids() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/tests/fixtures/ccxt/funding_binance.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let url = http_stub::serve(move |req, s| {
        s2.lock().unwrap().push(req.target.clone());
        http_stub::respond_json(s, "200 OK", "[]");
    });
    let dir = tempfile::tempdir().unwrap();
    for case in fixture["request"].as_array().unwrap() {
        let symbol = case["input"][0].as_str().unwrap();
        let want = case["url"].as_str().unwrap().split(".com").nth(1).unwrap();
        seen.lock().unwrap().clear();
        tickflow_ok(&[
            "fetch",
            "funding",
            "--source",
            "binance",
            "--symbol",
            symbol,
            "--since",
            "1704067200000",
            "--rest-url",
            &url,
            "--out",
            dir.path().join("x.csv").to_str().unwrap(),
        ]);
        let got = seen.lock().unwrap()[0].clone();
        // CCXT sends no time bounds in its fixture; ours add startTime/endTime/limit after them
        assert!(got.starts_with(&format!("{want}&")), "{symbol}: {got} vs CCXT's {want}");
    }
}

#[test]
fn funding_is_stored_in_questdb_once_per_key_across_refetches() {
    let (url, _) = serve();
    let server = qdb_server::QdbServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.csv");
    let conf = server.conf("");
    for _ in 0..2 {
        fetch_ok("binance", "BTC/USDT:USDT", &url, &out, &["--questdb", "--questdb-conf", &conf]);
    }
    let rows = server.rows("funding");
    assert_eq!(rows.len() as i64, N - 15, "one row per funding time after two fetches");
    let csv = std::fs::read_to_string(&out).unwrap();
    let want: std::collections::BTreeMap<i64, (f64, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse::<i64>().unwrap() * 1_000_000, (f[3].parse().unwrap(), f[4].parse().unwrap()))
        })
        .collect();
    for r in &rows {
        let ts = r["ts"].as_i64().unwrap();
        assert_eq!(r["symbol"], qdb_server::Val::Sym("BTC/USDT:USDT".into()));
        assert_eq!((r["funding_rate"].as_f64().unwrap(), r["mark_price"].as_f64().unwrap()), want[&ts], "{ts}");
    }
}

#[test]
fn funding_is_published_keyed_by_perpetual_and_time() {
    let (url, _) = serve();
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("f.funding", 2, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.csv");
    fetch_ok("okx", "BTC/USD:BTC", &url, &out, &["--publish", "--brokers", &brokers, "--namespace", "f"]);
    let recs = common::read_all(&brokers, "f.funding", 2);
    assert_eq!(recs.len() as i64, N - 15);
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut got: Vec<(i64, String)> = recs
        .iter()
        .map(|(k, v, h)| {
            let r: tickflow_model::FundingRecord = serde_json::from_str(v).unwrap();
            assert_eq!(k, &r.key());
            assert!(h.iter().any(|(n, v)| n == "schema" && v == "tickflow.funding.v1"), "{h:?}");
            let f = r.to_funding().unwrap();
            assert_eq!(f.instrument.key(), "okx:BTC/USD:BTC");
            (f.ts.millis(), f.rate.to_string())
        })
        .collect();
    got.sort();
    let want: Vec<(i64, String)> = csv.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).map(|f| (f[0].parse().unwrap(), f[3].to_string())).collect();
    assert_eq!(got, want, "the topic holds the file's events");
}
