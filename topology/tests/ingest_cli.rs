//! `tickflow ingest`: live trades into the trades topic, resuming after the topic's last trade
//! with a REST backfill — every venue trade exactly once, in order, across restarts; holes the
//! venue's history cannot cover are recorded on the gaps topic. Loopback WebSocket and REST
//! servers replay Binance's recorded aggregate trades; the broker is rdkafka's mock cluster.

mod common;
#[path = "../../connectors/tests/support/http_stub.rs"]
mod http_stub;

use std::sync::Arc;

use common::{payloads, read_all, tickflow_ok};
use rdkafka::mocking::MockCluster;

/// Serves trades `from..` to every connection, then keeps it open.
fn ws_from(trades: Arc<Vec<serde_json::Value>>, from: usize) -> String {
    let n = trades.len();
    common::ws_serving(trades, move |_| (from..n, std::time::Duration::from_secs(10)))
}

/// Binance's `aggTrades?fromId=&limit=` over the trades in `window` (what the venue still has).
fn rest(trades: Arc<Vec<serde_json::Value>>, window: std::ops::Range<usize>) -> String {
    http_stub::serve(move |req, stream| {
        let q = |k: &str| req.param(k).and_then(|v| v.parse::<u64>().ok());
        let (from, limit) = (q("fromId").unwrap_or(0), q("limit").unwrap_or(500).min(1000) as usize);
        let page: Vec<&serde_json::Value> = trades[window.clone()].iter().filter(|t| t["a"].as_u64().unwrap() >= from).take(limit).collect();
        http_stub::respond_json(stream, "200 OK", &serde_json::to_string(&page).unwrap());
    })
}

fn ingest(brokers: &str, ws: &str, rest: &str, max: &str) -> String {
    let args = ["ingest", "--source", "binance", "--symbols", "XRP/ETH", "--ws-url", ws, "--rest-url", rest, "--brokers", brokers, "--namespace", "i"];
    tickflow_ok(&[&args[..], &["--max-trades", max, "--stale-after", "5s"]].concat())
}

#[test]
fn ingest_resumes_after_the_topics_last_trade_exactly_once_and_records_holes() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("i.trades", 2, 1).unwrap();
    cluster.create_topic("i.gaps", 1, 1).unwrap();
    let trades = Arc::new(payloads());
    let ids: Vec<u64> = trades.iter().map(|t| t["a"].as_u64().unwrap()).collect();
    let topic_ids = || -> Vec<u64> {
        read_all(&brokers, "i.trades", 2).iter().map(|(_, v, _)| serde_json::from_str::<serde_json::Value>(v).unwrap()["trade_id"].as_u64().unwrap()).collect()
    };

    // first run: trades 0..1000 live
    ingest(&brokers, &ws_from(trades.clone(), 0), &rest(trades.clone(), 0..0), "1000");
    assert_eq!(topic_ids(), ids[..1000]);

    // down while trades 1000..1500 happened; the restart backfills them from REST before the
    // live trades (from 1500) flow
    let out = ingest(&brokers, &ws_from(trades.clone(), 1500), &rest(trades.clone(), 0..3000), "2000");
    assert!(out.is_empty() || !out.contains("error"), "{out}");
    assert_eq!(topic_ids(), ids[..3000], "every trade exactly once, in order, across the restart");
    assert!(read_all(&brokers, "i.gaps", 1).is_empty(), "no hole");

    // down longer than the venue's REST history reaches: the hole is recorded with its bounds
    ingest(&brokers, &ws_from(trades.clone(), 3600), &rest(trades.clone(), 3500..4000), "100");
    let gaps = read_all(&brokers, "i.gaps", 1);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let g: serde_json::Value = serde_json::from_str(&gaps[0].1).unwrap();
    assert_eq!((g["after_id"].as_u64(), g["resumed_id"].as_u64()), (Some(ids[2999]), Some(ids[3500])), "{g}");
    assert_eq!(gaps[0].0, "binance:XRP/ETH");
    let got = topic_ids();
    assert_eq!(got[3000..], ids[3500..3600], "after the hole: what the venue still had, then live");
}

/// `GET path` on the metrics endpoint: (status code, body).
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()))
}

#[test]
fn ingest_is_not_ready_while_backfilling_and_unhealthy_when_the_feed_goes_quiet() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("i.trades", 1, 1).unwrap();
    cluster.create_topic("i.gaps", 1, 1).unwrap();
    let trades = Arc::new(payloads());
    ingest(&brokers, &ws_from(trades.clone(), 0), &rest(trades.clone(), 0..0), "100");

    // the restart backfills 100..600 from a slow REST history (1.5 s per page), then streams
    // 600..700 live and goes quiet with the connection open
    let t2 = trades.clone();
    let slow = http_stub::serve(move |req, stream| {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let from = req.param("fromId").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let page: Vec<&serde_json::Value> = t2[0..600].iter().filter(|t| t["a"].as_u64().unwrap() >= from).take(1000).collect();
        http_stub::respond_json(stream, "200 OK", &serde_json::to_string(&page).unwrap());
    });
    let ws = common::ws_serving(trades.clone(), |_| (600..700, std::time::Duration::from_secs(60)));
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let args = ["ingest", "--source", "binance", "--symbols", "XRP/ETH", "--ws-url", &ws, "--rest-url", &slow, "--brokers", &brokers, "--namespace", "i"];
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(args)
        .args(["--stale-after", "60s", "--metrics-addr", &addr, "--unhealthy-after", "1s"])
        .env("TICKFLOW_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut backfilling, mut ready_after, mut stale) = (false, false, None);
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(30) {
        match get(&addr, "/readyz") {
            Some((503, body)) if body.contains("backfilling") => backfilling = true,
            Some((200, _)) if backfilling => ready_after = true,
            _ => {}
        }
        if ready_after {
            if let Some((503, body)) = get(&addr, "/healthz") {
                stale = Some(body);
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let metrics = get(&addr, "/metrics").map(|(_, b)| b).unwrap_or_default();
    // SIGTERM: the producer is flushed and the ingest exits 0
    // SAFETY: kill(2) on our own child process id
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(backfilling, "/readyz said 503 backfilling during the REST backfill");
    assert!(ready_after, "/readyz said 200 once live");
    let stale = stale.expect("/healthz failed once no frame came for longer than --unhealthy-after");
    assert!(stale.contains("stale"), "{stale}");
    assert!(metrics.contains("tickflow_live_backfilled_trades_total 500"), "{metrics}");
    let ids: Vec<u64> =
        read_all(&brokers, "i.trades", 1).iter().map(|(_, v, _)| serde_json::from_str::<serde_json::Value>(v).unwrap()["trade_id"].as_u64().unwrap()).collect();
    let want: Vec<u64> = trades[..700].iter().map(|t| t["a"].as_u64().unwrap()).collect();
    assert_eq!(ids, want, "every trade once, in order");
}

/// #15 item 4: several venues in one ingest. Binance streams its recorded trades; Bybit's
/// endpoint refuses connections. Every Binance trade lands in the topic exactly once, keyed
/// `binance:XRP/ETH`; Bybit is reported (connect failures, retried) and does not hold the job.
#[test]
fn a_multi_venue_ingest_keeps_going_when_one_venue_is_down() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("m.trades", 2, 1).unwrap();
    let trades = Arc::new(payloads());
    let ids: Vec<u64> = trades.iter().map(|t| t["a"].as_u64().unwrap()).collect();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}", l.local_addr().unwrap()) // closed when `l` drops: connection refused
    };
    let (ws, http) = (ws_from(trades.clone(), 0), rest(trades.clone(), 0..0));
    let out = common::tickflow(&[
        "ingest",
        "--feed",
        "binance:XRP/ETH",
        "--feed",
        "bybit:BTC/USDT",
        "--feed-url",
        &format!("binance={ws},{http}"),
        "--feed-url",
        &format!("bybit={dead}"),
        "--brokers",
        &brokers,
        "--namespace",
        "m",
        "--max-trades",
        "800",
        "--stale-after",
        "5s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let recs = read_all(&brokers, "m.trades", 2);
    let got: Vec<u64> = recs.iter().map(|(_, v, _)| serde_json::from_str::<serde_json::Value>(v).unwrap()["trade_id"].as_u64().unwrap()).collect();
    assert_eq!(got, ids[..800], "every Binance trade once, in order");
    assert!(recs.iter().all(|(k, _, _)| k == "binance:XRP/ETH"));
    assert!(stderr.contains("binance: 1 connections") && stderr.contains("bybit: 0 connections"), "{stderr}");
    assert!(stderr.contains("ingested 800 trades"), "{stderr}");
    // a feed needs VENUE:SYMBOLS, and --feed-url a --feed of its venue
    let bad = common::tickflow(&["ingest", "--feed", "binance", "--brokers", &brokers]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("VENUE:SYMBOL"));
    let bad = common::tickflow(&["ingest", "--feed", "binance:XRP/ETH", "--feed-url", "okx=ws://x", "--brokers", &brokers]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no --feed for that venue"));
}
