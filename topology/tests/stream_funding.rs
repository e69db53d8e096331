//! #15: `tickflow stream --funding` writes each settled funding event of a perpetual as a
//! `fetch funding` row, from the venue's funding stream (a loopback Bybit v5 ticker server with
//! the documented payload: a snapshot per period, then deltas), readable by `backtest --funding`.

mod common;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::net::TcpListener;
use std::time::Duration;

use common::{tickflow, tickflow_ok};

#[test]
fn stream_funding_writes_the_settled_events_of_a_bybit_perpetual() {
    const T1: i64 = 1_673_280_000_000;
    const H8: i64 = 8 * 3_600_000;
    let mut frames = Vec::new();
    for period in 0..3i64 {
        let ts = T1 - H8 + period * H8;
        let next = (T1 + period * H8).to_string();
        frames.push(
            serde_json::json!({"topic": "tickers.BTCUSDT", "type": "snapshot", "cs": 1, "ts": ts,
                "data": {"symbol": "BTCUSDT", "lastPrice": "17216.00", "markPrice": format!("{}.25", 17_000 + period), "indexPrice": "17227.36",
                         "nextFundingTime": next, "fundingRate": format!("-0.00021{period}")}})
            .to_string(),
        );
        // deltas: the rate moves, then only the mark does
        frames.push(
            serde_json::json!({"topic": "tickers.BTCUSDT", "type": "delta", "cs": 2, "ts": ts + 1000, "data": {"symbol": "BTCUSDT", "fundingRate": format!("0.00005{period}")}})
                .to_string(),
        );
        frames.push(
            serde_json::json!({"topic": "tickers.BTCUSDT", "type": "delta", "cs": 3, "ts": ts + 2000, "data": {"symbol": "BTCUSDT", "markPrice": format!("{}.75", 17_000 + period)}})
                .to_string(),
        );
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let subscriptions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let subs = subscriptions.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (frames, subs) = (frames.clone(), subs.clone());
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(s) else { return };
                if let Ok(tungstenite::Message::Text(t)) = ws.read() {
                    subs.lock().unwrap().push(t.to_string());
                }
                for f in frames {
                    if ws.send(tungstenite::Message::text(f)).is_err() {
                        return;
                    }
                }
                let _ = ws.flush();
                std::thread::sleep(Duration::from_secs(5));
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("funding.csv");
    let o = out.to_str().unwrap();
    let server = qdb_server::QdbServer::start();
    let conf = server.conf("");
    let args = ["stream", "--source", "bybit", "--symbols", "BTC/USDT:USDT", "--funding", "--ws-url", &url, "--out", o, "--max-trades", "2"];
    tickflow_ok(&[&args[..], &["--questdb", "--questdb-conf", &conf]].concat());
    // per funding time: the last rate streamed before it (the delta's) and the last mark
    let rows: Vec<(i64, String, tickflow_model::Notional, Option<String>)> = tickflow_connectors::read_funding(o)
        .unwrap()
        .iter()
        .map(|f| (f.ts.millis(), f.instrument.symbol().to_string(), f.rate, f.mark_price.map(|m| m.to_string())))
        .collect();
    let rate = |s: &str| tickflow_model::Notional::parse_bytes(s.as_bytes()).unwrap();
    let want = vec![
        (T1, "BTC/USDT:USDT".to_string(), rate("0.000050"), Some("17000.75".to_string())),
        (T1 + H8, "BTC/USDT:USDT".to_string(), rate("0.000051"), Some("17001.75".to_string())),
    ];
    assert_eq!(rows, want);
    // the same events in QuestDB's funding table
    let stored: Vec<(i64, f64, f64)> = server
        .rows("funding")
        .iter()
        .map(|r| (r["ts"].as_i64().unwrap() / 1_000_000, r["funding_rate"].as_f64().unwrap(), r["mark_price"].as_f64().unwrap()))
        .collect();
    assert_eq!(stored, [(T1, 0.00005, 17000.75), (T1 + H8, 0.000051, 17001.75)]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("timestamp,exchange,symbol,funding_rate,mark_price\n") && text.contains(",bybit,BTC/USDT:USDT,"), "{text}");
    let subs: Vec<serde_json::Value> = subscriptions.lock().unwrap().iter().map(|t| serde_json::from_str(t).unwrap()).collect();
    assert_eq!(subs, [serde_json::json!({"op": "subscribe", "args": ["tickers.BTCUSDT"]})]);

    let r = tickflow(&["stream", "--source", "bybit", "--symbols", "BTC/USDT", "--ws-url", "ws://127.0.0.1:9", "--questdb"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("go with --funding"));
    // spot symbols and venues without a funding stream are refused before connecting
    for (source, symbol, says) in
        [("bybit", "BTC/USDT", "spot"), ("kraken", "BTC/USD:BTC", "kraken"), ("bybit", "BTC/USDT:USDT,BTC/USD:BTC", "one market kind")]
    {
        let r = tickflow(&["stream", "--source", source, "--symbols", symbol, "--funding", "--ws-url", "ws://127.0.0.1:9", "--out", o]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(says), "{source} {symbol}: {err}");
    }
}
