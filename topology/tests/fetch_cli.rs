//! `tickflow fetch trades` against a local HTTP server replaying Kraken's recorded trades:
//! pagination by cursor, a 429 with Retry-After in the middle, and an interrupted fetch resumed
//! without duplicates.

mod common;
#[path = "../../connectors/tests/support/http_stub.rs"]
mod http_stub;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{shared_data, tickflow_ok};
use http_stub::{respond, respond_json};

/// Serves `/0/public/Trades?pair=XBTUSDT&since=NS` from the recording, 300 trades a page; the
/// `rate_limit_at`-th request gets a 429 once.
fn serve(rate_limit_at: usize) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared_data().join("trades/kraken/nautilus_http_trades_XBTUSDT.json")).unwrap()).unwrap();
    let rows: Vec<(i64, serde_json::Value)> = rec["result"]["XBTUSDT"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let t: tickflow_model::Ts = r[2].to_string().parse().unwrap();
            (t.0, r.clone())
        })
        .collect();
    let (requests, limited) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (rq, lim) = (requests.clone(), limited.clone());
    let url = http_stub::serve(move |req, stream| {
        let line = &req.line;
        let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
        if n == rate_limit_at && lim.load(Ordering::SeqCst) == 0 {
            lim.fetch_add(1, Ordering::SeqCst);
            respond(stream, "429 Too Many Requests", "Retry-After: 0\r\n", "");
            return;
        }
        if line.contains("/0/public/OHLC") {
            let body = std::fs::read_to_string(shared_data().join("klines/kraken/nautilus_http_ohlc_XBTUSDT_1m.json")).unwrap();
            respond_json(stream, "200 OK", &body);
            return;
        }
        let since: i64 = line.split("since=").nth(1).and_then(|s| s.split([' ', '&']).next()).and_then(|s| s.parse().ok()).unwrap_or(0);
        let page: Vec<&(i64, serde_json::Value)> = rows.iter().filter(|(t, _)| *t > since).take(300).collect();
        let last = page.last().map(|(t, _)| *t).unwrap_or(since);
        let body = serde_json::json!({"error": [], "result": {"XBTUSDT": page.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), "last": last.to_string()}})
            .to_string();
        respond_json(stream, "200 OK", &body);
    });
    (url, requests, limited)
}

fn ids(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path).unwrap().lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect()
}

#[test]
fn paginated_fetch_survives_a_429_and_resumes_without_duplicates() {
    let (url, requests, limited) = serve(2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kraken.csv");
    let o = out.to_str().unwrap();
    let common = [
        "fetch",
        "trades",
        "--source",
        "kraken",
        "--symbol",
        "BTC/USDT",
        "--since",
        "1762795000",
        "--until",
        "1762900000",
        "--rest-url",
        &url,
        "--out",
        o,
        "--no-progress",
    ];
    // interrupted after two pages (a 429 happens on the second request)
    let mut first = common.to_vec();
    first.extend(["--max-pages", "2"]);
    let stdout = tickflow_ok(&first);
    assert!(stdout.contains("stopped after 2 pages"), "{stdout}");
    let partial = ids(&out);
    assert!((590..=600).contains(&partial.len()), "{}", partial.len());
    assert!(partial.windows(2).all(|w| w[1] > w[0]), "pages overlap at boundaries but nothing is written twice");
    assert!(out.with_extension("csv.checkpoint").exists());
    assert_eq!(limited.load(Ordering::SeqCst), 1, "the server rate-limited once");
    // a run that died after writing rows past its checkpoint (and a torn last line): the
    // resume truncates the file to the checkpoint instead of appending after them
    let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    std::io::Write::write_all(&mut f, b"1762899999000000000,kraken,BTC/USDT,99999999,1,1,buy,1\n1762899999000000000,kra").unwrap();
    drop(f);
    // resumed: continues from the checkpoint
    let stdout = tickflow_ok(&common);
    assert!(stdout.contains("fetched 1000 trades"), "{stdout}");
    let got = ids(&out);
    assert_eq!(got.len(), 1000, "every trade once");
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gaps, no duplicates");
    assert_eq!(got[0], 10_218_208);
    assert!(!out.with_extension("csv.checkpoint").exists(), "finished fetches leave no checkpoint");
    assert!(requests.load(Ordering::SeqCst) >= 5, "4 pages + 1 retry + final empty page");
    // the fetched file aggregates like the original recording (the Kraken reference minute)
    let bars = dir.path().join("bars.csv");
    tickflow_ok(&["aggregate", "-i", o, "--timeframes", "1m", "--fill", "carry", "--out", bars.to_str().unwrap(), "--no-progress"]);
    let b = common::read_bars(&bars);
    assert!(b.len() > 400);
}

#[test]
fn an_interrupted_candle_fetch_resumes_after_its_last_bar() {
    let (url, _) = klines_server();
    let dir = tempfile::tempdir().unwrap();
    let (whole, parts) = (dir.path().join("whole.csv"), dir.path().join("parts.csv"));
    let run = |out: &std::path::Path, until: &str, resume: bool| {
        let mut args = vec![
            "fetch",
            "ohlcv",
            "--source",
            "binance",
            "--symbol",
            "XRP/ETH",
            "--since",
            "2019-10-11T00:00:00Z",
            "--until",
            until,
            "--rest-url",
            &url,
            "--out",
            out.to_str().unwrap(),
        ];
        if resume {
            args.push("--resume");
        }
        tickflow_ok(&args)
    };
    run(&whole, "2019-10-13T12:00:00Z", false);
    run(&parts, "2019-10-12T07:30:00Z", false); // stopped part-way
    let stdout = run(&parts, "2019-10-13T12:00:00Z", true);
    assert!(stdout.contains("fetched ") && !stdout.contains("fetched 2469"), "only the rest is fetched: {stdout}");
    assert_eq!(std::fs::read_to_string(&parts).unwrap(), std::fs::read_to_string(&whole).unwrap(), "no gap, no repeat, one header");
    // the same into Parquet: the resumed file holds what the CSV holds, and a backtest reads it
    let pq = dir.path().join("parts.parquet");
    run(&pq, "2019-10-12T07:30:00Z", false);
    let stdout = run(&pq, "2019-10-13T12:00:00Z", true);
    assert!(stdout.contains("fetched ") && !stdout.contains("fetched 2469"), "only the rest is fetched: {stdout}");
    let back = dir.path().join("back.csv");
    tickflow_ok(&["convert", "bars", pq.to_str().unwrap(), back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), std::fs::read_to_string(&whole).unwrap());
    let bt = |bars: &std::path::Path, out: &str| {
        let d = dir.path().join(out);
        tickflow_ok(&["backtest", "--bars", bars.to_str().unwrap(), "--strategy", "sma_cross", "--out-dir", d.to_str().unwrap()]);
        std::fs::read_to_string(d.join("fills.csv")).unwrap()
    };
    let fills = bt(&whole, "bt_csv");
    assert!(fills.lines().count() > 2, "{fills}");
    assert_eq!(bt(&pq, "bt_pq"), fills);
}

#[test]
fn kraken_ohlc_history_leaves_out_the_forming_candle_and_stops_when_nothing_is_new() {
    let (url, requests, _) = serve(usize::MAX);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.csv");
    let stdout = tickflow_ok(&common::fetch_ohlcv("kraken", "BTC/USDT", "1m", "1762700000", "1762900000", &url, &out));
    assert!(stdout.contains("fetched 720 1m candles"), "{stdout}");
    let rows = common::read_bars(&out);
    assert_eq!(rows.len(), 720, "721 recorded rows minus the forming one");
    assert!(rows.windows(2).all(|w| w[1].open_time == w[0].open_time + 60_000));
    assert_eq!(requests.load(Ordering::SeqCst), 2, "a second page brings nothing new");
}

#[test]
fn verify_finds_no_differing_minute_on_the_kraken_recording() {
    let (url, _, _) = serve(usize::MAX);
    let stdout = tickflow_ok(&["verify", "--source", "kraken", "--symbol", "BTC/USDT", "--since", "1762795000", "--until", "1762900000", "--rest-url", &url]);
    assert!(stdout.contains("1000 trades"), "{stdout}");
    assert!(stdout.contains("409 full minutes compared, 0 differ"), "{stdout}");
}

/// Binance-style `/api/v3/klines` over freqtrade's Binance XRP/ETH 1m candles; the 2nd request
/// gets a 429 once.
fn klines_server() -> (String, Arc<AtomicUsize>) {
    let text = std::fs::read_to_string(shared_data().join("klines/freqtrade/XRP_ETH-1m.csv")).unwrap();
    let rows: Vec<Vec<String>> = text.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect();
    let requests = Arc::new(AtomicUsize::new(0));
    let rq = requests.clone();
    let url = http_stub::serve(move |req, stream| {
        let line = &req.line;
        let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 2 {
            respond(stream, "429 Too Many Requests", "Retry-After: 0\r\n", "");
            return;
        }
        let q = |k: &str| line.split(&format!("{k}=")).nth(1).and_then(|s| s.split(['&', ' ']).next()).and_then(|s| s.parse::<i64>().ok());
        let (start, end, limit) = (q("startTime").unwrap_or(0), q("endTime").unwrap_or(i64::MAX), q("limit").unwrap_or(500) as usize);
        let page: Vec<serde_json::Value> = rows
            .iter()
            .filter(|r| {
                let t: i64 = r[0].parse().unwrap();
                t >= start && t <= end
            })
            .take(limit)
            .map(|r| {
                let t: i64 = r[0].parse().unwrap();
                serde_json::json!([t, r[2], r[3], r[4], r[5], r[6], t + 59_999, "0", 0, "0", "0", "0"])
            })
            .collect();
        let body = serde_json::to_string(&page).unwrap();
        respond_json(stream, "200 OK", &body);
    });
    (url, requests)
}

#[test]
fn ohlcv_history_pages_by_time_through_a_429() {
    let (url, requests) = klines_server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("xrp_eth_1m.csv");
    let stdout = tickflow_ok(&common::fetch_ohlcv("binance", "XRP/ETH", "1m", "2019-10-11T00:00:00Z", "2019-10-13T12:00:00Z", &url, &out));
    assert!(stdout.contains("fetched 2469 1m candles"), "{stdout}");
    assert!(stdout.contains("1 rate-limited"), "{stdout}");
    assert!(requests.load(Ordering::SeqCst) >= 5, "4 time pages of 1000 minutes + 1 retry");
    // exactly freqtrade's candles, once each, in order
    let bars = common::read_bars(&out);
    let want = std::fs::read_to_string(shared_data().join("klines/freqtrade/XRP_ETH-1m.csv")).unwrap();
    let want: Vec<Vec<&str>> = want.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(bars.len(), want.len());
    for (b, w) in bars.iter().zip(&want) {
        assert_eq!(b.open_time, w[0].parse::<i64>().unwrap());
        assert_eq!((b.open, b.close, b.volume), (w[2].parse().unwrap(), w[5].parse().unwrap(), w[6].parse().unwrap()));
    }
}

const CC_KEY: &str = "test-key-5f1c0ffee";

/// CryptoCompare min-api `/data/v2/histominute?…&toTs=…` over the recorded 1441 minutes ending
/// at 1502515020. Pages are capped at 500 rows (fewer than asked), earlier minutes come back as
/// all-zero rows (before the pair's history), requests without `authorization: Apikey <key>` get
/// a 401, and the 2nd request gets a 429 once.
fn cryptocompare_server() -> (String, Arc<AtomicUsize>) {
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared_data().join("cryptocompare/json/btc_to_usd_histo_minute_with_to_ts.json")).unwrap()).unwrap();
    let rows: Vec<serde_json::Value> = rec["Data"].as_array().unwrap().clone();
    let requests = Arc::new(AtomicUsize::new(0));
    let rq = requests.clone();
    let url = http_stub::serve(move |req, stream| {
        let (line, headers) = (&req.line, &req.headers);
        let authorized = headers.iter().any(|h| h.to_ascii_lowercase().starts_with("authorization:") && h.trim_end().ends_with(&format!("Apikey {CC_KEY}")));
        let n = rq.fetch_add(1, Ordering::SeqCst) + 1;
        if !authorized {
            let body = r#"{"Response":"Error","Message":"You need a valid auth key or api key to access this endpoint","Type":1}"#;
            respond(stream, "401 Unauthorized", "", body);
            return;
        }
        if n == 2 {
            respond(stream, "429 Too Many Requests", "Retry-After: 0\r\n", "");
            return;
        }
        assert!(line.starts_with("GET /data/v2/histominute?fsym=BTC&tsym=USD&"), "{line}");
        let q = |k: &str| line.split(&format!("{k}=")).nth(1).and_then(|s| s.split(['&', ' ']).next()).and_then(|s| s.parse::<i64>().ok());
        let (to, limit) = (q("toTs").unwrap(), q("limit").unwrap());
        let want = (limit + 1).min(500);
        let page: Vec<serde_json::Value> = (0..want)
            .rev()
            .map(|i| {
                let t = to - 60 * i;
                rows.iter()
                    .find(|r| r["time"].as_i64() == Some(t))
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"time": t, "open": 0, "high": 0, "low": 0, "close": 0, "volumefrom": 0, "volumeto": 0}))
            })
            .collect();
        let body = serde_json::json!({"Response": "Success", "Message": "", "HasWarning": false, "Type": 100,
                "Data": {"Aggregated": false, "TimeFrom": to - 60 * (want - 1), "TimeTo": to, "Data": page}})
        .to_string();
        respond_json(stream, "200 OK", &body);
    });
    (url, requests)
}

#[test]
fn cryptocompare_history_pages_backward_with_an_api_key_through_a_429() {
    let (url, requests) = cryptocompare_server();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("cc.key");
    std::fs::write(&key_file, format!("{CC_KEY}\n")).unwrap();
    let out = dir.path().join("btc_usd_1m.csv");
    let args = |key: bool| {
        let mut v = vec!["fetch", "ohlcv", "--source", "cryptocompare", "--symbol", "BTC/USD", "--since", "2017-08-10T00:00:00Z", "--until", "1502515080"];
        v.extend(["--rest-url", url.as_str(), "--out", out.to_str().unwrap()]);
        if key {
            v.extend(["--api-key-file", key_file.to_str().unwrap()]);
        }
        v.into_iter().map(String::from).collect::<Vec<String>>()
    };
    // without a key: a clear error, nothing retried
    let no_key: Vec<String> = args(false);
    let o = common::tickflow(&no_key.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("401") && err.contains("api key"), "{err}");
    let before = requests.load(Ordering::SeqCst);

    let with_key = args(true);
    let o = common::tickflow(&with_key.iter().map(String::as_str).collect::<Vec<_>>());
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("fetched 1441 1m candles"), "{stdout}");
    assert!(stdout.contains("1 rate-limited") && stdout.contains("api key set"), "{stdout}");
    assert!(!stdout.contains(CC_KEY) && !stderr.contains(CC_KEY), "the key is never printed");
    // 1441 recorded minutes = 500 + 500 + 441 rows; the third page reaches the zero rows before
    // the history begins and paging stops there; + 1 retry after the 429
    assert_eq!(requests.load(Ordering::SeqCst) - before, 3 + 1);
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared_data().join("cryptocompare/json/btc_to_usd_histo_minute_with_to_ts.json")).unwrap()).unwrap();
    let want = rec["Data"].as_array().unwrap();
    let bars = common::read_bars(&out);
    assert_eq!(bars.len(), want.len());
    for (b, w) in bars.iter().zip(want) {
        assert_eq!(b.open_time, w["time"].as_i64().unwrap() * 1000, "ascending, once each");
        assert_eq!(b.close, w["close"].to_string().parse().unwrap());
        assert_eq!(b.high, w["high"].to_string().parse().unwrap());
    }
}

/// #15: the market type comes from the symbol. `fetch ohlcv --source bybit --symbol
/// BTC/USDT:USDT` requested `category=spot` and wrote spot candles labelled as the perpetual.
/// The stub serves Bybit v5 `/v5/market/kline` like the venue: the recorded linear kline
/// (nautilus `http_get_klines_linear.json`, its start floored to the minute) for
/// `category=linear&symbol=BTCUSDT`, and Bybit's error for any other category. A venue serving
/// no inverse perpetual refuses that symbol with a clear error instead of answering for the pair.
#[test]
fn a_perpetual_symbol_requests_the_perpetual_market_or_is_refused() {
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared_data().join("rest-samples/bybit/nautilus_http_get_klines_linear.json")).unwrap()).unwrap();
    let mut row = rec["result"]["list"][0].clone();
    let start: i64 = row[0].as_str().unwrap().parse().unwrap();
    let start = start - start % 60_000;
    row[0] = start.to_string().into();
    let categories = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = categories.clone();
    let url = http_stub::serve(move |req, stream| {
        let q = |k: &str| req.line.split(&format!("{k}=")).nth(1).and_then(|s| s.split(['&', ' ']).next()).unwrap_or("").to_string();
        seen.lock().unwrap().push(q("category"));
        let body = if q("category") == "linear" && q("symbol") == "BTCUSDT" {
            let from: i64 = q("start").parse().unwrap_or(0);
            let list = if from <= start { vec![row.clone()] } else { vec![] };
            serde_json::json!({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "symbol": "BTCUSDT", "list": list}})
        } else {
            serde_json::json!({"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}})
        };
        respond_json(stream, "200 OK", &body.to_string());
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("perp.csv");
    let since = (start / 1000).to_string();
    let until = (start / 1000 + 60).to_string();
    let stdout = tickflow_ok(&common::fetch_ohlcv("bybit", "BTC/USDT:USDT", "1m", &since, &until, &url, &out));
    assert!(stdout.contains("fetched 1 1m candles"), "{stdout}");
    assert!(categories.lock().unwrap().iter().all(|c| c == "linear"), "{:?}", categories.lock().unwrap());
    let text = std::fs::read_to_string(&out).unwrap();
    let bar = text.lines().nth(1).unwrap();
    assert!(bar.contains("BTC/USDT:USDT") && bar.contains("27450") && bar.contains("27455") && bar.contains("123.45"), "{text}");
    // Kraken's spot client serves no inverse perpetual: refused, nothing requested
    categories.lock().unwrap().clear();
    let o = common::tickflow(&common::fetch_ohlcv("kraken", "BTC/USD:BTC", "1m", &since, &until, &url, &out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("inverse perpetual"), "{err}");
    assert!(categories.lock().unwrap().is_empty());
}

/// #15: Binance USDⓈ-M perpetual candles come from `/fapi/v1/klines`. The stub serves CCXT's
/// static "swap ohlcv" response (`ccxt-static/response/binance.json`) on that path only (the
/// spot path gets Binance's invalid-symbol error, as the venue answers a perpetual id there),
/// and the bars equal CCXT's parsed response.
#[test]
fn binance_linear_perpetual_candles_match_ccxt() {
    let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(shared_data().join("ccxt-static/response/binance.json")).unwrap()).unwrap();
    let case = rec["methods"]["fetchOHLCV"].as_array().unwrap().iter().find(|c| c["description"] == "swap ohlcv").unwrap().clone();
    assert_eq!(case["input"][0], "BTC/USDT:USDT");
    let rows = case["httpResponse"].clone();
    let url = http_stub::serve(move |req, stream| {
        let body = if req.line.contains("/fapi/v1/klines?symbol=BTCUSDT&interval=1m") {
            let from: i64 = req.line.split("startTime=").nth(1).and_then(|s| s.split('&').next()).and_then(|s| s.parse().ok()).unwrap_or(0);
            let page: Vec<serde_json::Value> = rows.as_array().unwrap().iter().filter(|r| r[0].as_i64().unwrap() >= from).cloned().collect();
            serde_json::to_string(&page).unwrap()
        } else {
            r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_string()
        };
        respond_json(stream, "200 OK", &body);
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("swap.csv");
    let first = case["parsedResponse"][0][0].as_i64().unwrap();
    let (since, until) = ((first / 1000).to_string(), (first / 1000 + 180).to_string());
    let stdout = tickflow_ok(&common::fetch_ohlcv("binance", "BTC/USDT:USDT", "1m", &since, &until, &url, &out));
    assert!(stdout.contains("fetched 3 1m candles"), "{stdout}");
    let bars = common::read_bars(&out);
    let want = case["parsedResponse"].as_array().unwrap();
    assert_eq!(bars.len(), want.len());
    let dec = |v: &serde_json::Value| -> tickflow_model::Decimal { v.to_string().parse().unwrap() };
    for (b, w) in bars.iter().zip(want) {
        assert_eq!(b.open_time, w[0].as_i64().unwrap());
        assert_eq!((b.open, b.high, b.low, b.close, b.volume), (dec(&w[1]), dec(&w[2]), dec(&w[3]), dec(&w[4]), dec(&w[5])));
    }
    assert!(std::fs::read_to_string(&out).unwrap().contains("BTC/USDT:USDT"));
}

/// The first minute of the mark/index price servers' ten candles.
const T0: i64 = 1_700_000_000_000 / 60_000 * 60_000;

/// Serves mark and index candles like each venue, for the right path and market id only (see
/// `mark_and_index_candles_come_from_their_own_endpoints`): minute m's mark is 100 + m, its index
/// 200 + m.
fn price_server() -> String {
    http_stub::serve(|req, s| {
        let t = req.target.as_str();
        let q = |k: &str| req.param(k).and_then(|v| v.parse::<i64>().ok());
        // the price of minute m: mark = 100 + m, index = 200 + m
        let rows = |base: i64| -> Vec<(i64, i64)> {
            let (start, end) = (q("startTime").or(q("start")).unwrap_or(T0), q("endTime").or(q("end")).unwrap_or(T0 + 600_000));
            (0..10).map(|m| (T0 + m * 60_000, base + m)).filter(|(ts, _)| *ts >= start && *ts <= end).collect()
        };
        let binance = |base: i64| {
            let v: Vec<serde_json::Value> = rows(base)
                .iter()
                .map(|(ts, p)| {
                    serde_json::json!([ts, format!("{p}.5"), format!("{}", p + 1), format!("{p}"), format!("{p}.25"), "0", ts + 59_999, "0", 60, "0", "0", "0"])
                })
                .collect();
            serde_json::Value::Array(v).to_string()
        };
        let bybit = |base: i64| {
            let list: Vec<serde_json::Value> = rows(base)
                .iter()
                .rev()
                .map(|(ts, p)| serde_json::json!([ts.to_string(), format!("{p}.5"), format!("{}", p + 1), format!("{p}"), format!("{p}.25")]))
                .collect();
            serde_json::json!({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": list}, "retExtInfo": {}, "time": 1}).to_string()
        };
        // Kraken Futures charts: from/to epoch seconds; mark and spot (index) rows carry volume 0
        let kraken_futures = |base: i64| {
            let (lo, hi) = (q("from").map_or(T0, |s| s * 1000), q("to").map_or(i64::MAX, |s| s * 1000 + 999));
            let candles: Vec<serde_json::Value> = (0..10)
                .map(|m| (T0 + m * 60_000, base + m))
                .filter(|(ts, _)| *ts >= lo && *ts <= hi)
                .map(|(ts, p)| serde_json::json!({"time": ts, "open": format!("{p}.5"), "high": format!("{}", p + 1), "low": format!("{p}"), "close": format!("{p}.25"), "volume": 0}))
                .collect();
            serde_json::json!({"candles": candles, "more_candles": false}).to_string()
        };
        // OKX: [ts, o, h, l, c, confirm], newest first, older than `after`
        let okx = |base: i64| {
            let after = q("after").unwrap_or(i64::MAX);
            let data: Vec<serde_json::Value> = (0..10)
                .rev()
                .map(|m| (T0 + m * 60_000, base + m))
                .filter(|(ts, _)| *ts < after)
                .map(|(ts, p)| serde_json::json!([ts.to_string(), format!("{p}.5"), format!("{}", p + 1), format!("{p}"), format!("{p}.25"), "1"]))
                .collect();
            serde_json::json!({"code": "0", "msg": "", "data": data}).to_string()
        };
        let body = if t.starts_with("/fapi/v1/markPriceKlines?symbol=BTCUSDT&") || t.starts_with("/dapi/v1/markPriceKlines?symbol=BTCUSD_PERP&") {
            binance(100)
        } else if t.starts_with("/fapi/v1/indexPriceKlines?pair=BTCUSDT&") || t.starts_with("/dapi/v1/indexPriceKlines?pair=BTCUSD&") {
            binance(200)
        } else if t.starts_with("/v5/market/mark-price-kline?category=linear&symbol=BTCUSDT&") {
            bybit(100)
        } else if t.starts_with("/v5/market/index-price-kline?category=inverse&symbol=BTCUSD&") {
            bybit(200)
        } else if t.starts_with("/api/v5/market/history-mark-price-candles?instId=BTC-USDT-SWAP&") {
            okx(100)
        } else if t.starts_with("/api/charts/v1/mark/PI_XBTUSD/1m?") {
            kraken_futures(100)
        } else if t.starts_with("/api/charts/v1/spot/PF_XBTUSD/1m?") {
            kraken_futures(200)
        } else if t.starts_with("/api/v5/market/history-index-candles?instId=BTC-USD&") {
            okx(200)
        } else {
            return http_stub::respond_json(s, "400 Bad Request", r#"{"code":-1121,"msg":"Invalid symbol."}"#);
        };
        http_stub::respond_json(s, "200 OK", &body);
    })
}

/// Mark and index candles of perpetuals: Binance `/fapi|dapi/v1/markPriceKlines` (`symbol`) and
/// `indexPriceKlines` (`pair`), Bybit `mark-price-kline`/`index-price-kline`, OKX
/// `history-mark-price-candles` (the swap's `instId`) and `history-index-candles` (the index,
/// `BTC-USD`) (payload shapes of the venues' documentation: Binance's 12-field rows with volume
/// "0", Bybit's `[start, open, high, low, close]`, OKX's `[ts, o, h, l, c, confirm]`). The server
/// answers only the right path and market id.
#[test]
fn mark_and_index_candles_come_from_their_own_endpoints() {
    let url = price_server();
    let dir = tempfile::tempdir().unwrap();
    let (since, until) = (T0.to_string(), (T0 + 600_000).to_string());
    for (source, symbol, price, base) in [
        ("binance", "BTC/USDT:USDT", "mark", 100),
        ("binance", "BTC/USDT:USDT", "index", 200),
        ("binance", "BTC/USD:BTC", "mark", 100),
        ("binance", "BTC/USD:BTC", "index", 200),
        ("bybit", "BTC/USDT:USDT", "mark", 100),
        ("bybit", "BTC/USD:BTC", "index", 200),
        ("okx", "BTC/USDT:USDT", "mark", 100),
        ("okx", "BTC/USD:BTC-251226", "index", 200),
        ("krakenfutures", "BTC/USD:BTC", "mark", 100),
        ("krakenfutures", "BTC/USD:USD", "index", 200),
    ] {
        let out = dir.path().join(format!("{source}-{price}.csv"));
        let mut args = common::fetch_ohlcv(source, symbol, "1m", &since, &until, &url, &out);
        args.extend(["--price", price]);
        let stdout = tickflow_ok(&args);
        assert!(stdout.contains("fetched 10 1m candles"), "{source} {symbol} {price}: {stdout}");
        let bars = common::read_bars(&out);
        for (m, b) in bars.iter().enumerate() {
            let p = base + m as i64;
            let got = (b.open_time, b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string());
            assert_eq!(got, (T0 + m as i64 * 60_000, format!("{p}.5"), format!("{}", p + 1), format!("{p}"), format!("{p}.25")), "{source} {symbol} {price}");
            assert!(b.volume.is_zero() && b.trades == 0);
        }
    }
    for (source, symbol, price, says) in
        [("binance", "BTC/USDT", "mark", "spot"), ("kraken", "BTC/USD", "mark", "no mark candles"), ("bybit", "BTC/USDT", "index", "spot")]
    {
        let out = dir.path().join("x.csv");
        let mut args = common::fetch_ohlcv(source, symbol, "1m", &since, &until, &url, &out);
        args.extend(["--price", price]);
        let err = String::from_utf8_lossy(&common::tickflow(&args).stderr).to_string();
        assert!(err.contains(says), "{source} {symbol} {price}: {err}");
    }
}

/// #15: traded candles of every futures market come from the market's own endpoint and id, and
/// volume is read as CCXT reads it: Binance USDⓈ-M quarterlies on `/fapi/v1/klines`
/// (`BTCUSDT_251226`, volume = column 5), COIN-M perpetuals and quarterlies on `/dapi/v1/klines`
/// (`BTCUSD_PERP`, `BTCUSD_251226`; column 5 counts contracts, volume = the base column 7), OKX
/// swaps and futures (`BTC-USDT-SWAP`, `BTC-USD-251226`; volume = `volCcy`, not the contracts in
/// `vol`), Bybit dated futures (`category=linear&symbol=BTCUSDT-26DEC25`,
/// `category=inverse&symbol=BTCUSDZ25`). Row shapes are the venues' documented ones; the server
/// answers only the right path and id, with each venue's own error otherwise.
#[test]
fn futures_candles_come_from_each_market_s_endpoint() {
    const T0: i64 = 1_700_000_000_000 / 60_000 * 60_000;
    let wrong = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = wrong.clone();
    let url = http_stub::serve(move |req, s| {
        let t = req.target.as_str();
        let q = |k: &str| req.param(k).and_then(|v| v.parse::<i64>().ok());
        // minute m: open 100 + m; Binance columns 5 = 7 + m (contracts on COIN-M), 7 = 0.5 (base
        // on COIN-M, quote elsewhere), 9 = 3, 10 = 0.25; OKX vol = 9 (contracts), volCcy = 0.75
        let minutes = |lo: i64, hi: i64| (0..10).map(|m| (m, T0 + m * 60_000)).filter(move |(_, ts)| *ts >= lo && *ts <= hi);
        let binance = || {
            let (lo, hi) = (q("startTime").unwrap_or(T0), q("endTime").unwrap_or(i64::MAX));
            let v: Vec<serde_json::Value> = minutes(lo, hi)
                .map(|(m, ts)| {
                    serde_json::json!([
                        ts,
                        format!("{}", 100 + m),
                        format!("{}", 101 + m),
                        format!("{}", 99 + m),
                        format!("{}", 100 + m),
                        format!("{}", 7 + m),
                        ts + 59_999,
                        "0.5",
                        60,
                        "3",
                        "0.25",
                        "0"
                    ])
                })
                .collect();
            serde_json::Value::Array(v).to_string()
        };
        // `[ts, o, h, l, c, tail…]` as strings, newest-first pages (OKX, Bybit)
        let row = |m: i64, ts: i64, tail: &[&str]| {
            let mut r = vec![ts.to_string(), format!("{}", 100 + m), format!("{}", 101 + m), format!("{}", 99 + m), format!("{}", 100 + m)];
            r.extend(tail.iter().map(|t| t.to_string()));
            serde_json::json!(r)
        };
        let okx = || {
            let after = q("after").unwrap_or(i64::MAX);
            let v: Vec<serde_json::Value> =
                minutes(0, after - 1).collect::<Vec<_>>().into_iter().rev().map(|(m, ts)| row(m, ts, &["9", "0.75", "75", "1"])).collect();
            serde_json::json!({"code": "0", "msg": "", "data": v}).to_string()
        };
        let bybit = |category: &str| {
            let (lo, hi) = (q("start").unwrap_or(T0), q("end").unwrap_or(i64::MAX));
            let list: Vec<serde_json::Value> = minutes(lo, hi).collect::<Vec<_>>().into_iter().rev().map(|(m, ts)| row(m, ts, &["0.5", "50"])).collect();
            serde_json::json!({"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": list}, "retExtInfo": {}, "time": 1}).to_string()
        };
        // Kraken Futures charts: from/to in epoch seconds, time in ms
        let kraken_futures = |volume: &str| {
            let (lo, hi) = (q("from").map_or(T0, |s| s * 1000), q("to").map_or(i64::MAX, |s| s * 1000 + 999));
            let candles: Vec<serde_json::Value> = minutes(lo, hi)
                .map(|(m, ts)| {
                    serde_json::json!({"time": ts, "open": format!("{}", 100 + m), "high": format!("{}", 101 + m), "low": format!("{}", 99 + m),
                                       "close": format!("{}", 100 + m), "volume": serde_json::from_str::<serde_json::Value>(volume).unwrap()})
                })
                .collect();
            serde_json::json!({"candles": candles, "more_candles": false}).to_string()
        };
        let body = if t.starts_with("/fapi/v1/klines?symbol=BTCUSDT_251226&")
            || t.starts_with("/dapi/v1/klines?symbol=BTCUSD_PERP&")
            || t.starts_with("/dapi/v1/klines?symbol=BTCUSD_251226&")
        {
            binance()
        } else if t.starts_with("/api/v5/market/history-candles?instId=BTC-USDT-SWAP&")
            || t.starts_with("/api/v5/market/history-candles?instId=BTC-USD-251226&")
        {
            okx()
        } else if t.starts_with("/v5/market/kline?category=linear&symbol=BTCUSDT-26DEC25&") {
            bybit("linear")
        } else if t.starts_with("/v5/market/kline?category=inverse&symbol=BTCUSDZ25&") {
            bybit("inverse")
        } else if t.starts_with("/api/charts/v1/trade/PF_XBTUSD/1m?") {
            kraken_futures("0.5")
        } else if t.starts_with("/api/charts/v1/trade/FI_XBTUSD_251226/1m?") {
            kraken_futures("\"0.5\"")
        } else {
            seen.lock().unwrap().push(t.to_string());
            return http_stub::respond_json(s, "400 Bad Request", r#"{"code":-1121,"msg":"Invalid symbol."}"#);
        };
        http_stub::respond_json(s, "200 OK", &body);
    });
    let dir = tempfile::tempdir().unwrap();
    let (since, until) = (T0.to_string(), (T0 + 600_000).to_string());
    for (source, symbol, volume) in [
        ("binance", "BTC/USDT:USDT-251226", "7+m"),
        ("binance", "BTC/USD:BTC", "0.5"),
        ("binance", "BTC/USD:BTC-251226", "0.5"),
        ("okx", "BTC/USDT:USDT", "0.75"),
        ("okx", "BTC/USD:BTC-251226", "0.75"),
        ("bybit", "BTC/USDT:USDT-251226", "0.5"),
        ("bybit", "BTC/USD:BTC-251226", "0.5"),
        ("krakenfutures", "BTC/USD:USD", "0.5"),
        ("krakenfutures", "BTC/USD:BTC-251226", "0.5"),
    ] {
        let out = dir.path().join(format!("{source}-{}.csv", symbol.replace(['/', ':'], "_")));
        let stdout = tickflow_ok(&common::fetch_ohlcv(source, symbol, "1m", &since, &until, &url, &out));
        assert!(stdout.contains("fetched 10 1m candles"), "{source} {symbol}: {stdout}");
        let bars = common::read_bars(&out);
        assert_eq!(bars.len(), 10, "{source} {symbol}");
        for (m, b) in bars.iter().enumerate() {
            let m = m as i64;
            assert_eq!(
                (b.symbol.as_str(), b.open_time, b.open.to_string(), b.high.to_string()),
                (symbol, T0 + m * 60_000, format!("{}", 100 + m), format!("{}", 101 + m))
            );
            let want = if volume == "7+m" { format!("{}", 7 + m) } else { volume.to_string() };
            assert_eq!(b.volume.to_string(), want, "{source} {symbol}: volume column");
        }
    }
    assert!(wrong.lock().unwrap().is_empty(), "requests for another market: {:?}", wrong.lock().unwrap());
}

/// #15: mark and index candles are stored like bars — QuestDB's `price_candles` table (DEDUP on
/// open time, exchange, symbol, timeframe, price) and the compacted `price_candles` topic (key
/// `exchange:symbol:timeframe:price:open_time`) — and a refetch rewrites the same keys. Traded
/// candles are refused there (bars reach QuestDB and Kafka from `aggregate`/`run`).
#[test]
fn mark_and_index_candles_are_stored_once_per_key() {
    let url = price_server();
    let server = qdb_server::QdbServer::start();
    let conf = server.conf("");
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("p.price_candles", 2, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.csv");
    let (since, until) = (T0.to_string(), (T0 + 600_000).to_string());
    let stores = ["--questdb", "--questdb-conf", &conf, "--publish", "--brokers", &brokers, "--namespace", "p"];
    for _ in 0..2 {
        for price in ["mark", "index"] {
            let mut args = common::fetch_ohlcv("binance", "BTC/USDT:USDT", "1m", &since, &until, &url, &out);
            args.extend(["--price", price]);
            args.extend(stores);
            tickflow_ok(&args);
        }
    }
    // QuestDB: one row per candle and price, the venue's values
    let mut rows: Vec<(i64, String, f64)> = server
        .rows("price_candles")
        .iter()
        .map(|r| {
            assert_eq!((&r["symbol"], &r["timeframe"]), (&qdb_server::Val::Sym("BTC/USDT:USDT".into()), &qdb_server::Val::Sym("1m".into())));
            let price = match &r["price"] {
                qdb_server::Val::Sym(p) => p.clone(),
                v => panic!("price {v:?}"),
            };
            (r["open_time"].as_i64().unwrap() / 1_000_000, price, r["close"].as_f64().unwrap())
        })
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut want: Vec<(i64, String, f64)> = (0..10i64)
        .flat_map(|m| [(T0 + m * 60_000, "index".to_string(), 200.25 + m as f64), (T0 + m * 60_000, "mark".to_string(), 100.25 + m as f64)])
        .collect();
    want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    assert_eq!(rows, want);
    // Kafka: every fetch published (compaction keeps the last per key); 20 distinct keys
    let recs = common::read_all(&brokers, "p.price_candles", 2);
    assert_eq!(recs.len(), 40);
    let keys: std::collections::BTreeSet<&str> = recs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys.len(), 20);
    for (key, value, headers) in &recs {
        let v: serde_json::Value = serde_json::from_str(value).unwrap();
        let (price, open_time) = (v["price"].as_str().unwrap(), v["open_time"].as_i64().unwrap());
        assert_eq!(key, &format!("binance:BTC/USDT:USDT:1m:{price}:{open_time}"));
        let m = (open_time / 1_000_000 - T0) / 60_000;
        let base = if price == "mark" { 100 } else { 200 };
        assert_eq!(v["close"], format!("{}.25", base + m), "{value}");
        assert!(headers.iter().any(|(k, v)| k == "schema" && v == "tickflow.price_candle.v1"), "{headers:?}");
    }
    let args = common::fetch_ohlcv("binance", "BTC/USDT:USDT", "1m", &since, &until, &url, &out);
    let err = common::tickflow_fails(&[&args[..], &["--questdb", "--questdb-conf", &conf]].concat());
    assert!(err.contains("mark and index"), "{err}");
}
