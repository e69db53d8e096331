//! `--questdb` end to end: the pipeline's QuestDB rows equal its file outputs, across reruns,
//! worker counts and injected sink failures; `backtest --questdb`; `questdb init`.
//! Runs against the strict stand-in server (connectors/tests/support/qdb_server.rs), and
//! against a real QuestDB when `QDB_HTTP_ADDR` is set.

mod common;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::collections::BTreeMap;
use std::path::Path;

use common::tickflow_ok;
use qdb_server::{Fault, QdbServer, Val};
use tickflow_model::Decimal;

fn tape(dir: &Path) -> String {
    common::late_tape(dir, "tape.csv", "11", "BTC/USDT,ETH/USDT", "40000")
}

fn dbl(s: &str) -> f64 {
    s.parse::<Decimal>().unwrap().to_f64()
}

/// The final bar per key (open time, exchange, symbol, timeframe) from a bar CSV, as the
/// QuestDB row it must be: the last revision wins.
/// (open time ns, exchange, symbol, timeframe) → (open, high, low, close, volume, trades, revision)
type BarTable = BTreeMap<(i64, String, String, String), (f64, f64, f64, f64, f64, i64, i64)>;

fn final_bars(path: &Path) -> BarTable {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut out = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let key = (
            f[col("open_time")].parse::<i64>().unwrap() * 1_000_000,
            f[col("exchange")].to_string(),
            f[col("symbol")].to_string(),
            f[col("timeframe")].to_string(),
        );
        let v = (
            dbl(f[col("open")]),
            dbl(f[col("high")]),
            dbl(f[col("low")]),
            dbl(f[col("close")]),
            dbl(f[col("volume")]),
            f[col("trades")].parse::<i64>().unwrap(),
            f[col("revision")].parse::<i64>().unwrap(),
        );
        out.insert(key, v);
    }
    out
}

fn qdb_bars(server: &QdbServer) -> BarTable {
    server
        .rows("bars")
        .into_iter()
        .map(|r| {
            let s = |c: &str| r[c].as_str().unwrap().to_string();
            let f = |c: &str| r[c].as_f64().unwrap();
            let i = |c: &str| r[c].as_i64().unwrap();
            (
                (i("open_time"), s("exchange"), s("symbol"), s("timeframe")),
                (f("open"), f("high"), f("low"), f("close"), f("volume"), i("trades"), i("revision")),
            )
        })
        .collect()
}

fn late_keys(path: &Path) -> Vec<(i64, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<(i64, String, String)> =
        text.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).map(|f| (f[0].parse().unwrap(), f[2].to_string(), f[8].to_string())).collect();
    v.sort();
    v.dedup();
    v
}

fn qdb_late(server: &QdbServer) -> Vec<(i64, String, String)> {
    let mut v: Vec<(i64, String, String)> = server
        .rows("late_trades")
        .into_iter()
        .map(|r| (r["ts"].as_i64().unwrap(), r["symbol"].as_str().unwrap().to_string(), r["disposition"].as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

/// `aggregate` over `tape` with late revisions, writing bars to `out` and to QuestDB at `conf`.
fn aggregate(conf: &str, tape: &str, out: &Path, extra: &[&str]) -> String {
    let args = ["aggregate", "-i", tape, "--timeframes", "1m,5m", "--late", "revise", "--allowed-lateness", "1h", "--out", out.to_str().unwrap()];
    tickflow_ok(&[&args[..], &["--no-progress", "--questdb", "--questdb-conf", conf], extra].concat())
}

#[test]
fn pipeline_rows_equal_the_file_outputs_across_reruns_workers_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let tape = tape(dir.path());
    let server = QdbServer::start();
    let (out, late) = (dir.path().join("bars.csv"), dir.path().join("late.csv"));
    let conf = server.conf("retry_timeout=300;request_timeout=2000;");
    aggregate(&conf, &tape, &out, &["--late-out", late.to_str().unwrap()]);
    let want_bars = final_bars(&out);
    assert!(want_bars.values().any(|v| v.6 > 0), "the tape produces revisions");
    assert_eq!(qdb_bars(&server), want_bars, "one row per bar, the last revision");
    let want_late = late_keys(&late);
    assert!(!want_late.is_empty());
    assert_eq!(qdb_late(&server), want_late);
    // trades: every distinct trade of the tape (duplicates in the tape collapse on the key)
    let text = std::fs::read_to_string(&tape).unwrap();
    let mut distinct: Vec<&str> = text.lines().skip(1).map(|l| l.rsplit_once(',').map(|(a, _)| a).unwrap_or(l)).collect();
    distinct.sort();
    distinct.dedup();
    let trades_after_first = server.rows("trades").len();
    assert_eq!(trades_after_first, distinct.len(), "one row per distinct trade");
    let lines_after_first = server.state.lock().unwrap().lines_applied;
    assert_eq!(server.state.lock().unwrap().execs.len(), tickflow_connectors::questdb::Table::COUNT, "the tables are created once per run, not per sink");

    // a rerun with 2 workers, through 500s and lost answers, changes nothing
    server.inject([Fault::Status(500), Fault::ResetAfter, Fault::ResetBefore, Fault::Status(503), Fault::ResetAfter]);
    aggregate(&conf, &tape, &out, &["--late-out", late.to_str().unwrap(), "--workers", "2"]);
    assert!(server.state.lock().unwrap().faults.is_empty(), "every fault was hit");
    assert!(server.state.lock().unwrap().lines_applied > 2 * lines_after_first - 1, "the rerun sent everything again");
    assert_eq!(final_bars(&out), want_bars, "2 workers: same bars");
    assert_eq!(qdb_bars(&server), want_bars);
    assert_eq!(qdb_late(&server), want_late);
    assert_eq!(server.rows("trades").len(), trades_after_first);
    assert_eq!(server.state.lock().unwrap().execs.len(), 2 * tickflow_connectors::questdb::Table::COUNT, "2 workers: still once per run");
}

#[test]
fn backtest_rows_equal_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = QdbServer::start();
    let out = dir.path().join("bt");
    let conf = server.conf("");
    for _ in 0..2 {
        let stdout = common::orcl_sma_backtest(&["--out-dir", out.to_str().unwrap(), "--questdb", "--questdb-conf", &conf]);
        assert!(stdout.contains("questdb "), "{stdout}");
    }
    let fills = std::fs::read_to_string(out.join("fills.csv")).unwrap();
    let want: Vec<(i64, i64, f64, f64)> = fills
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|f| (f[1].parse::<i64>().unwrap() * 1_000_000, f[0].parse().unwrap(), dbl(f[4]), dbl(f[5])))
        .collect();
    assert!(want.len() > 10);
    let mut got: Vec<(i64, i64, f64, f64)> = server
        .rows("fills")
        .iter()
        .map(|r| {
            assert_eq!(r["run"], Val::Sym("sma_cross fast=10 slow=30".into()));
            (r["ts"].as_i64().unwrap(), r["order_id"].as_i64().unwrap(), r["price"].as_f64().unwrap(), r["size"].as_f64().unwrap())
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut want = want;
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, want, "one row per fill after two runs");
    let orders = std::fs::read_to_string(out.join("orders.csv")).unwrap();
    let statuses: BTreeMap<i64, String> =
        orders.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).map(|f| (f[0].parse().unwrap(), f[9].to_string())).collect();
    let got: BTreeMap<i64, String> =
        server.rows("orders").iter().map(|r| (r["order_id"].as_i64().unwrap(), r["status"].as_str().unwrap().to_string())).collect();
    assert_eq!(got, statuses, "one row per order with its final status");
    let equity = std::fs::read_to_string(out.join("equity.csv")).unwrap();
    assert_eq!(server.rows("equity").len(), equity.lines().count() - 1);
}

#[test]
fn questdb_init_creates_the_tables_and_prints_the_ddl() {
    let server = QdbServer::start();
    let out = tickflow_ok(&["questdb", "init", "--questdb-conf", &server.conf(""), "--questdb-prefix", "paper_"]);
    assert!(out.contains("paper_bars"), "{out}");
    assert_eq!(
        server.state.lock().unwrap().tables.keys().cloned().collect::<Vec<_>>(),
        ["paper_bars", "paper_equity", "paper_fills", "paper_funding", "paper_late_trades", "paper_orders", "paper_price_candles", "paper_trades"]
    );
    let ddl = tickflow_ok(&["questdb", "init", "--print"]);
    assert_eq!(ddl.lines().count(), 8);
    for l in ddl.lines() {
        qdb_server::parse_create(l.trim_end_matches(';')).unwrap();
    }
    // a bad configuration is a clear error, not a hang
    let o = common::tickflow(&["questdb", "init", "--questdb-conf", "tcp::addr=x:9009;"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("ILP over HTTP"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Against a real QuestDB (`QDB_HTTP_ADDR=host:9000`; `QDB_USER`/`QDB_PASSWORD` if auth is on):
/// two runs leave one row per bar key, equal to the file output.
#[test]
fn real_questdb_pipeline_twice_equals_the_file_output() {
    let Some(conf) = qdb_server::real_questdb_conf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tape = tape(dir.path());
    let prefix = format!("tfcli_{}_", std::process::id());
    let out = dir.path().join("bars.csv");
    for _ in 0..2 {
        aggregate(&conf, &tape, &out, &["--questdb-prefix", &prefix]);
    }
    let want = final_bars(&out);
    let c = tickflow_connectors::questdb::QuestDbConf::parse(&conf).unwrap();
    let q = |sql: &str| -> serde_json::Value {
        serde_json::from_str(&tickflow_connectors::questdb::exec(&c, sql, std::time::Duration::from_secs(10)).unwrap()).unwrap()
    };
    let mut n = 0;
    for _ in 0..150 {
        n = q(&format!("SELECT count() FROM {prefix}bars"))["dataset"][0][0].as_i64().unwrap_or(0);
        if n == want.len() as i64 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(n, want.len() as i64, "one row per bar key");
    let closes = q(&format!("SELECT sum(close), sum(trades) FROM {prefix}bars"));
    let (sum_close, sum_trades) = (closes["dataset"][0][0].as_f64().unwrap(), closes["dataset"][0][1].as_i64().unwrap());
    assert!((sum_close - want.values().map(|v| v.3).sum::<f64>()).abs() < 1e-6 * sum_close.abs());
    assert_eq!(sum_trades, want.values().map(|v| v.5).sum::<i64>());
    let revised = q(&format!("SELECT count() FROM {prefix}bars WHERE revision > 0"))["dataset"][0][0].as_i64().unwrap();
    assert_eq!(revised, want.values().filter(|v| v.6 > 0).count() as i64);
    for t in ["trades", "bars", "orders", "fills", "equity", "late_trades", "funding"] {
        q(&format!("DROP TABLE IF EXISTS {prefix}{t}"));
    }
}

#[test]
fn a_sink_that_fails_for_good_ends_a_live_run_with_the_error() {
    let ws = common::ws_server(3000);
    let server = QdbServer::start();
    server.inject(std::iter::repeat_n(Fault::Status(500), 100_000));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bars.csv");
    let t0 = std::time::Instant::now();
    // no --max-trades: without the failure this run would never end
    let o = common::tickflow(&[
        "aggregate",
        "--source",
        "binance",
        "--symbols",
        "XRP/ETH",
        "--ws-url",
        &ws,
        "--rest-url",
        "http://127.0.0.1:9",
        "--idle-timeout",
        "1h",
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
        "--questdb",
        "--questdb-conf",
        &server.conf("retry_timeout=100;"),
        "--questdb-max-outage",
        "1s",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("questdb"), "{err}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(60));
}
