//! Parquet through the CLI: CSV → Parquet → bars equals CSV → bars byte for byte (any number of
//! workers); pyarrow and polars read tickflow's Parquet and get the CSV's values; a polars-written
//! user file and Nautilus's recorded Binance Parquet aggregate to what a Python oracle computes.
//!
//! The Python oracle (`parquet_oracle.py`) needs pyarrow and polars: `.ci/run` installs them and
//! sets `TICKFLOW_REQUIRE_PYARROW=1` (missing modules then fail); elsewhere the oracle tests skip
//! with a message.

mod common;

use std::path::Path;
use std::process::Command;

use common::{shared_data, tickflow_ok};

/// Runs the oracle; `None` (after saying why) when Python lacks pyarrow/polars and CI does not
/// require them.
fn oracle(args: &[&str]) -> Option<String> {
    let have = Command::new("python3").args(["-c", "import pyarrow, polars"]).output().is_ok_and(|o| o.status.success());
    if !have {
        assert!(std::env::var_os("TICKFLOW_REQUIRE_PYARROW").is_none(), "TICKFLOW_REQUIRE_PYARROW is set but python3 cannot import pyarrow and polars");
        eprintln!("skipping the Python oracle: python3 cannot import pyarrow and polars (pip install pyarrow polars)");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parquet_oracle.py");
    let out = Command::new("python3").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "oracle {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A synthetic tape with late and duplicate trades, as CSV and converted to Parquet.
fn tapes(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (csv, pq) = (dir.join("t.csv"), dir.join("t.parquet"));
    tickflow_ok(&[
        "generate",
        "--out",
        s(&csv),
        "--trades",
        "60000",
        "--symbols",
        "BTC/USDT,ETH/USDT,SOL/USDT",
        "--late-per-mille",
        "20",
        "--dup-per-mille",
        "5",
    ]);
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    let stdout = tickflow_ok(&["convert", "trades", s(&csv), s(&pq)]);
    assert!(stdout.contains(&format!("converted {rows} trades")), "{stdout}");
    (csv, pq)
}

fn aggregate(input: &Path, out: &Path, workers: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["aggregate", "-i", s(input), "-o", s(out), "--timeframes", "1m,5m", "--late", "revise", "--out-of-orderness", "2s", "-w", workers];
    args.extend_from_slice(extra);
    tickflow_ok(&args);
    std::fs::read(out).unwrap()
}

#[test]
fn csv_to_parquet_to_bars_equals_csv_to_bars_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, pq) = tapes(dir.path());
    let want = aggregate(&csv, &dir.path().join("a.csv"), "1", &[]);
    assert!(want.len() > 10_000);
    for w in ["1", "3"] {
        assert_eq!(aggregate(&pq, &dir.path().join(format!("b{w}.csv")), w, &[]), want, "{w} workers");
    }
    // bars written as Parquet and converted back hold the same rows (convert keeps each bar's
    // latest revision, sorted by key: compare with the CSV's latest revisions)
    aggregate(&pq, &dir.path().join("b.parquet"), "2", &[]);
    tickflow_ok(&["convert", "bars", s(&dir.path().join("b.parquet")), s(&dir.path().join("back.csv"))]);
    tickflow_ok(&["convert", "bars", s(&dir.path().join("a.csv")), s(&dir.path().join("latest.csv"))]);
    assert_eq!(std::fs::read(dir.path().join("back.csv")).unwrap(), std::fs::read(dir.path().join("latest.csv")).unwrap());
}

#[test]
fn pyarrow_and_polars_read_tickflows_parquet_as_the_csv_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, pq) = tapes(dir.path());
    let (bars_csv, bars_pq) = (dir.path().join("bars.csv"), dir.path().join("bars.parquet"));
    aggregate(&csv, &bars_csv, "1", &[]);
    aggregate(&csv, &bars_pq, "1", &[]);
    let Some(out) = oracle(&["check", s(&pq), s(&csv), s(&bars_pq), s(&bars_csv)]) else { return };
    let trades = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    let rows = std::fs::read_to_string(&bars_csv).unwrap().lines().count() - 1;
    assert!(out.contains(&format!("checked trades {trades} bars {rows}")), "{out}");
}

#[test]
fn a_polars_written_user_file_aggregates_like_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = tapes(dir.path());
    let user = dir.path().join("user.parquet");
    let Some(out) = oracle(&["user", s(&csv), s(&user)]) else { return };
    assert!(out.contains("Float64") && out.contains("Categorical"), "{out}");
    let want = aggregate(&csv, &dir.path().join("a.csv"), "1", &[]);
    assert_eq!(aggregate(&user, &dir.path().join("u.csv"), "2", &["--exchange", "synthetic"]), want);
}

#[test]
fn nautilus_binance_parquet_aggregates_to_the_oracles_bar() {
    // 2,001 Binance BTCUSDT trades (Brotli; ms timestamps, float64 price/quantity, buyer_maker)
    let src = shared_data().join("trades/binance/nautilus_btcusdt-trades.parquet");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("n.csv");
    tickflow_ok(&["aggregate", "-i", s(&src), "--symbol", "BTC/USDT", "--exchange", "binance", "-o", s(&out), "--timeframes", "1m"]);
    let text = std::fs::read_to_string(&out).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    // open_time, open, high, low, close, volume, trades, buy, sell, first id, last id
    let ours = [2, 3, 4, 5, 6, 7, 8, 13, 14, 15, 16].map(|i| row[i]).join(",");
    assert_eq!(row[8], "2001", "{text}");
    let Some(want) = oracle(&["nautilus", s(&src)]) else { return };
    assert_eq!(ours, want.trim());
}

#[test]
fn backtest_tables_as_parquet_hold_the_csv_values() {
    let dir = tempfile::tempdir().unwrap();
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    let run = |format: &str| {
        let out = dir.path().join(format);
        let args = [
            "backtest",
            "--bars",
            s(&bars),
            "--strategy",
            "sma_cross",
            "--param",
            "fast=5..15:5",
            "--param",
            "slow=30",
            "--commission",
            "0.001",
            "--format",
            format,
            "--out-dir",
            s(&out),
        ];
        tickflow_ok(&args);
        out
    };
    let (csv, pq) = (run("csv"), run("parquet"));
    let names = ["orders", "fills", "trades", "equity", "leaderboard", "leaderboard_live", "fill_totals"];
    for n in names {
        assert!(csv.join(format!("{n}.csv")).exists() && !pq.join(format!("{n}.csv")).exists(), "{n}");
        let head = std::fs::read(pq.join(format!("{n}.parquet"))).unwrap();
        assert_eq!(&head[..4], b"PAR1", "{n}");
    }
    assert_eq!(std::fs::read(csv.join("summary.json")).unwrap(), std::fs::read(pq.join("summary.json")).unwrap());
    let mut args = vec!["tables", s(&csv), s(&pq)];
    args.extend(names);
    let Some(out) = oracle(&args) else { return };
    assert!(out.contains("checked 7 tables"), "{out}");
}
