//! Live paths of the binary against a local WebSocket server replaying Binance's recorded
//! aggregate trades (freqtrade's XRP/ETH recording).

mod common;

use common::{tickflow_ok, ws_server};

#[test]
fn stream_and_live_aggregate() {
    let ws = ws_server(3000);
    let dir = tempfile::tempdir().unwrap();
    // stream: every trade, once, in order
    let out = dir.path().join("live.csv");
    // the same live feed flags for both commands
    let feed = ["--source", "binance", "--symbols", "XRP/ETH", "--ws-url", &ws, "--rest-url", "http://127.0.0.1:9", "--max-trades", "3000"];
    tickflow_ok(&[&["stream"][..], &feed, &["-o", out.to_str().unwrap()]].concat());
    let text = std::fs::read_to_string(&out).unwrap();
    let ids: Vec<u64> = text.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
    assert_eq!(ids.len(), 3000);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    // live bars equal the bars of the same trades read from the streamed file
    let live_bars = dir.path().join("live_bars.csv");
    tickflow_ok(
        &[&["aggregate"][..], &feed, &["--idle-timeout", "1h", "--timeframes", "1m,5m", "--out", live_bars.to_str().unwrap(), "--no-progress"]].concat(),
    );
    let file_bars = dir.path().join("file_bars.csv");
    tickflow_ok(&["aggregate", "-i", out.to_str().unwrap(), "--timeframes", "1m,5m", "--out", file_bars.to_str().unwrap(), "--no-progress"]);
    let live = common::read_bars(&live_bars);
    let file = common::read_bars(&file_bars);
    assert!(live.len() > 50);
    assert_eq!(live, file, "live aggregation equals file aggregation of the same trades");
}

/// A WebSocket server whose first connection sends trades 0..100 and drops; later ones start at
/// trade 200, so the client must fill 100..200 from REST.
fn gappy_ws_server() -> String {
    let plan = |conn: usize| match conn {
        0 => (0..100, std::time::Duration::ZERO),
        _ => (200..300, std::time::Duration::from_secs(5)),
    };
    common::ws_serving(std::sync::Arc::new(common::payloads()), plan)
}

/// An HTTP server that answers every request with 404.
fn not_found_server() -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\nConnection: close\r\n\r\n{\"code\":-1,\"msg\":\"not found\"}");
        }
    });
    url
}

#[test]
fn a_live_session_that_cannot_fill_its_gap_fails_the_run() {
    let (ws, rest) = (gappy_ws_server(), not_found_server());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bars.csv");
    let o = common::tickflow(&[
        "aggregate",
        "--source",
        "binance",
        "--symbols",
        "XRP/ETH",
        "--ws-url",
        &ws,
        "--rest-url",
        &rest,
        "--stale-after",
        "2s",
        "--max-trades",
        "1000",
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a live run with an unfillable gap must not exit 0: {err}");
    assert!(err.contains("404"), "the reason is reported: {err}");
}

/// #15: a live session streams one market kind (spot and each perpetual kind have their own
/// endpoint); mixing them is a clear error before any connection, and `ingest --feed` splits
/// them into one session each.
#[test]
fn a_session_streams_one_market_kind() {
    let o = common::tickflow(&["stream", "--source", "bybit", "--symbols", "BTC/USDT,BTC/USDT:USDT", "--ws-url", "ws://127.0.0.1:9", "--max-trades", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("mixes spot and linear perpetual markets"), "{err}");
}
