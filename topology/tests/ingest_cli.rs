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
