//! Paper trading in the topology (`aggregate --strategy`): the orders and fills of a strategy
//! running on the bars as they close equal `backtest` on the same bars, for 1 and 2 workers,
//! and reach QuestDB.

mod common;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::path::Path;

use common::tickflow_ok;
use qdb_server::QdbServer;

fn tape(dir: &Path) -> String {
    let p = dir.join("tape.csv").to_string_lossy().into_owned();
    tickflow_ok(&["generate", "--out", &p, "--trades", "150000", "--seed", "5", "--symbols", "BTC/USDT,ETH/USDT"]);
    p
}

/// (order id, fill time ns, price, size) of every fill event in a JSON-lines event file.
fn event_fills(path: &Path) -> Vec<(u64, i64, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<(u64, i64, String, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|e| e.get("Fill").cloned())
        .map(|f| {
            let f = &f[1];
            (f["order_id"].as_u64().unwrap(), f["ts"].as_i64().unwrap(), f["price"].as_str().unwrap().to_string(), f["size"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn paper_trading_equals_backtest_on_the_same_bars_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let tape = tape(dir.path());
    let qdb = QdbServer::start();
    let strat = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--cash", "100000", "--commission", "0.001", "--sizer", "percent:10"];
    let run = |tag: &str, workers: &str, extra: &[&str]| {
        let (out, ev) = (dir.path().join(format!("{tag}-bars.csv")), dir.path().join(format!("{tag}-events.jsonl")));
        let mut args = vec!["aggregate", "-i", &tape, "--timeframes", "1m,5m", "--strategy-timeframe", "1m", "--no-progress", "-w", workers];
        let (o, e) = (out.to_str().unwrap().to_string(), ev.to_str().unwrap().to_string());
        args.extend_from_slice(&["--out", &o, "--events-out", &e]);
        args.extend_from_slice(&strat);
        args.extend_from_slice(extra);
        let stdout = tickflow_ok(&args);
        assert!(stdout.contains("paper sma_cross fast=5 slow=20:"), "{stdout}");
        (out, ev, stdout)
    };
    let conf = qdb.conf("");
    let (bars, ev1, _) = run("w1", "1", &["--questdb", "--questdb-conf", &conf]);
    let fills = event_fills(&ev1);
    assert!(fills.len() > 5, "the strategy trades ({} fills)", fills.len());
    // the same strategy through `backtest` on the bar file this run wrote
    let bt = dir.path().join("bt");
    tickflow_ok(&[&["backtest", "--bars", bars.to_str().unwrap(), "--timeframe", "1m", "--out-dir", bt.to_str().unwrap()][..], &strat].concat());
    let text = std::fs::read_to_string(bt.join("fills.csv")).unwrap();
    let mut want: Vec<(u64, i64, String, String)> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|f| (f[0].parse().unwrap(), f[1].parse::<i64>().unwrap() * 1_000_000, f[4].to_string(), f[5].to_string()))
        .collect();
    want.sort();
    assert_eq!(fills, want, "paper fills equal the backtest's fills on the same bars");
    // 2 workers: byte-identical event file
    let (_, ev2, _) = run("w2", "2", &[]);
    assert_eq!(std::fs::read(&ev1).unwrap(), std::fs::read(&ev2).unwrap());
    // QuestDB holds one row per fill and per order, under the run id
    assert_eq!(qdb.rows("fills").len(), fills.len());
    assert!(qdb.rows("fills").iter().all(|r| r["run"].as_str() == Some("sma_cross fast=5 slow=20")));
    assert!(!qdb.rows("orders").is_empty());
    assert!(!qdb.rows("equity").is_empty());
}
