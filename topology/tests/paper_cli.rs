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

/// #15: paper trading a perpetual applies the same margin and funding as `backtest` on the
/// same bars: the funding payments in the event file equal the backtest's `funding.csv` (time,
/// position, payment), and so does the total in the summary.
#[test]
fn paper_trading_a_perpetual_pays_funding_like_the_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("perp.csv").to_string_lossy().into_owned();
    tickflow_ok(&["generate", "--out", &tape, "--trades", "150000", "--seed", "5", "--symbols", "BTC/USDT:USDT"]);
    // funding every five minutes over the tape's two hours, the sign and size changing
    let start = 1_735_689_600_000i64;
    let mut csv = String::from("timestamp,exchange,symbol,funding_rate,mark_price\n");
    for k in 0..26 {
        csv.push_str(&format!("{},synthetic,BTC/USDT:USDT,{}0.000{}7,\n", start + k * 300_000 + 30_000, if k % 3 == 0 { "-" } else { "" }, k % 10));
    }
    let funding = dir.path().join("funding.csv");
    std::fs::write(&funding, csv).unwrap();
    let f = funding.to_str().unwrap();
    let strat = [
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--cash",
        "100000",
        "--commission",
        "0.001",
        "--sizer",
        "fixed:1",
        "--leverage",
        "3",
        "--funding",
        f,
    ];
    let (bars, ev) = (dir.path().join("bars.csv"), dir.path().join("events.jsonl"));
    let (b, e) = (bars.to_str().unwrap(), ev.to_str().unwrap());
    tickflow_ok(&[&["aggregate", "-i", &tape, "--timeframes", "1m", "--no-progress", "--out", b, "--events-out", e][..], &strat].concat());
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&ev).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let paid: Vec<(i64, String, String)> = events
        .iter()
        .filter_map(|e| e.get("Funding"))
        .map(|f| (f[1]["ts"].as_i64().unwrap() / 1_000_000, f[1]["position"].as_str().unwrap().to_string(), f[1]["payment"].as_str().unwrap().to_string()))
        .collect();
    assert!(paid.len() > 5, "the strategy holds positions across funding times: {paid:?}");
    let bt = dir.path().join("bt");
    tickflow_ok(&[&["backtest", "--bars", b, "--timeframe", "1m", "--out-dir", bt.to_str().unwrap()][..], &strat].concat());
    let want: Vec<(i64, String, String)> = std::fs::read_to_string(bt.join("funding.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0].parse().unwrap(), c[2].to_string(), c[5].to_string())
        })
        .collect();
    assert_eq!(paid, want, "paper funding payments equal the backtest's");
    let summary = events.iter().filter_map(|e| e.get("Summary")).next_back().unwrap();
    let bt_summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(bt.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary[1]["funding_paid"], bt_summary["summary"]["funding_paid"]);
    assert_ne!(bt_summary["summary"]["funding_paid"], "0");
}
