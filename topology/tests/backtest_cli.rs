//! `tickflow backtest` end to end.

mod common;

use common::{shared_data, tickflow, tickflow_ok};

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    ["orders.csv", "fills.csv", "trades.csv", "equity.csv", "summary.json", "leaderboard.csv", "leaderboard_live.csv", "fill_totals.csv"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok().map(|b| (f.to_string(), b)))
        .collect()
}

#[test]
fn cli_backtest_matches_backtrader_and_is_identical_across_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    let run = |tag: &str, extra: &[&str]| {
        let out = tmp.path().join(tag);
        let stdout = common::orcl_sma_backtest(&[&["--out-dir", out.to_str().unwrap()][..], extra].concat());
        (stdout, out)
    };
    let (stdout, out) = run("w1", &[]);
    assert!(stdout.contains("final value"), "{stdout}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let fv: f64 = summary["summary"]["final_value"].as_str().unwrap().parse().unwrap();
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strategies/tests/data/backtrader_smacross_orcl.json")).unwrap(),
    )
    .unwrap();
    let bt = want["final_value"].as_f64().unwrap();
    assert!(((fv - bt) / bt).abs() < 1e-9, "{fv} vs Backtrader {bt}");
    let trades = std::fs::read_to_string(out.join("trades.csv")).unwrap();
    assert!(trades.starts_with("symbol,entry_time,exit_time,side,size,entry_price,exit_price,pnl,commission"));
    assert_eq!(trades.lines().count() - 1, want["trades"].as_array().unwrap().len());
    let one = files(&out);
    assert_eq!(one.len(), 7);
    for w in ["2", "4"] {
        let (_, o) = run(&format!("w{w}"), &["-w", w]);
        assert_eq!(files(&o), one, "{w} workers");
    }
    // a sweep spread over workers ranks the same way
    let sweep = |w: &str| {
        let out = tmp.path().join(format!("sweep{w}"));
        tickflow_ok(&[
            "backtest",
            "--bars",
            bars.to_str().unwrap(),
            "--strategy",
            "sma_cross",
            "--param",
            "fast=5..15:5",
            "--param",
            "slow=30,50",
            "--commission",
            "0.001",
            "--out-dir",
            out.to_str().unwrap(),
            "-w",
            w,
        ]);
        files(&out)
    };
    let s1 = sweep("1");
    assert!(s1.iter().any(|(f, b)| f == "leaderboard.csv" && b.iter().filter(|c| **c == b'\n').count() == 7));
    assert_eq!(sweep("2"), s1);
    // the differential leaderboard (maintained incrementally from equity changes) ends in the
    // same order as ranking the runs by final value
    let dir = tmp.path().join("sweep1");
    let live = std::fs::read_to_string(dir.join("leaderboard_live.csv")).unwrap();
    let live_values: Vec<f64> = live.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert_eq!(live_values.len(), 6);
    assert!(live_values.windows(2).all(|w| w[0] >= w[1]), "{live}");
    let board = std::fs::read_to_string(dir.join("leaderboard.csv")).unwrap();
    let mut finals: Vec<f64> = board.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
    finals.sort_by(|a, b| b.partial_cmp(a).unwrap());
    for (l, f) in live_values.iter().zip(&finals) {
        assert!((l - f).abs() <= 1e-6, "live {l} vs final {f}");
    }
    // fill totals: as many fills as fills.csv of the best run has
    let totals = std::fs::read_to_string(dir.join("fill_totals.csv")).unwrap();
    assert_eq!(totals.lines().count(), 7, "{totals}");
}

#[test]
fn streaming_bars_from_trades_equal_the_bar_file_path() {
    let tmp = tempfile::tempdir().unwrap();
    let tape = tmp.path().join("tape.csv");
    tickflow_ok(&["generate", "--out", tape.to_str().unwrap(), "--trades", "400000", "--symbols", "BTC/USDT"]);
    let bars = tmp.path().join("bars.csv");
    tickflow_ok(&["aggregate", "-i", tape.to_str().unwrap(), "--timeframes", "1m", "--out", bars.to_str().unwrap(), "--no-progress"]);
    let common = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--commission", "0.001", "--sizer", "percent:50"];
    let a = tmp.path().join("from-file");
    let mut args = vec!["backtest", "--bars", bars.to_str().unwrap(), "--out-dir", a.to_str().unwrap()];
    args.extend_from_slice(&common);
    tickflow_ok(&args);
    let b = tmp.path().join("from-trades");
    let mut args = vec!["backtest", "--trades", tape.to_str().unwrap(), "--timeframe", "1m", "--out-dir", b.to_str().unwrap(), "-w", "2"];
    args.extend_from_slice(&common);
    tickflow_ok(&args);
    let fa = files(&a);
    assert!(fa.iter().any(|(f, b)| f == "fills.csv" && b.iter().filter(|c| **c == b'\n').count() > 10), "the strategy traded");
    assert_eq!(files(&b), fa);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    let b = bars.to_str().unwrap();
    for (args, needle) in [
        (vec!["--strategy", "nope"], "unknown strategy"),
        (vec!["--strategy", "sma_cross", "--param", "fast=50", "--param", "slow=10"], "fast < slow"),
        (vec!["--strategy", "sma_cross", "--param", "speed=3"], "no parameter \"speed\""),
        (vec!["--strategy", "sma_cross", "--sizer", "half"], "sizer"),
        (vec!["--strategy", "sma_cross", "--cash=-5"], "cash"),
        (vec!["--strategy", "sma_cross", "--commission", "2"], "commission"),
        (vec!["--strategy", "sma_cross", "--param", "fast=9..1:1"], "range"),
    ] {
        let mut a = vec!["backtest", "--bars", b, "--out-dir", "/tmp/tickflow-never"];
        a.extend(args);
        let r = tickflow(&a);
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && e.contains(needle) && !e.contains("panicked"), "{a:?}: {e}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, "Date,Open,High,Low,Close,Volume,OpenInterest\n2006-01-02,1,2,1,1,0,0\n2006-01-03,1,2,1\n").unwrap();
    let r = tickflow(&["backtest", "--bars", bad.to_str().unwrap(), "--strategy", "sma_cross", "--out-dir", tmp.path().join("o").to_str().unwrap()]);
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && e.contains("bad.txt:3") && !e.contains("panicked"), "{e}");
}
