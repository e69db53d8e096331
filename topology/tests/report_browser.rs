//! HTML reports rendered in a real headless Chromium (Debian's `chromium`, installed by
//! `.ci/run`): the page reports what it drew in `#tf-status`, read back with `--dump-dom`. Without
//! Chromium the tests say so and pass, unless `TICKFLOW_REQUIRE_CHROMIUM=1` (CI).
//! Screenshots go to `target/report-screenshots/` (a test artifact).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{orcl_sma_backtest, shared_data, tickflow_ok};

fn chromium() -> Option<PathBuf> {
    let candidates = [std::env::var("TICKFLOW_CHROMIUM").ok(), Some("chromium".into()), Some("chromium-browser".into())];
    for c in candidates.into_iter().flatten() {
        if Command::new(&c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Some(PathBuf::from(c));
        }
    }
    if std::env::var("TICKFLOW_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("TICKFLOW_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)");
    }
    eprintln!("skipping: no chromium on PATH (set TICKFLOW_REQUIRE_CHROMIUM=1 to fail instead)");
    None
}

fn base_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1400,1300",
        "--virtual-time-budget=10000",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// Renders `page`: the page's own status (JSON) and the browser's console output.
fn render(chrome: &Path, page: &Path, shot: Option<&Path>) -> (serde_json::Value, String) {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let out = Command::new(chrome).args(base_args(profile.path())).args(["--enable-logging=stderr", "--v=0", "--dump-dom", &url]).output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let console = String::from_utf8_lossy(&out.stderr).into_owned();
    let start =
        dom.find("<pre id=\"tf-status\">").unwrap_or_else(|| panic!("no status in the rendered page; stderr:\n{console}")) + "<pre id=\"tf-status\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end].replace("&quot;", "\"").replace("&amp;", "&");
    let status: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {text:?}: {e}\n{console}"));
    if let Some(shot) = shot {
        let profile = tempfile::tempdir().unwrap();
        let st = Command::new(chrome).args(base_args(profile.path())).arg(format!("--screenshot={}", shot.display())).arg(&url).output().unwrap();
        assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&st.stderr));
    }
    (status, console)
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Lines of a CSV file minus its header.
fn rows(p: &Path) -> usize {
    std::fs::read_to_string(p).unwrap().lines().skip(1).filter(|l| !l.is_empty()).count()
}

fn assert_clean(status: &serde_json::Value, console: &str) {
    assert_eq!(status["errors"], serde_json::json!([]), "page errors; console:\n{console}");
    assert_eq!(status["requests"], 0, "the report must not load anything");
    let from_page: Vec<&str> = console.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(from_page.is_empty(), "console output from the page: {from_page:?}");
}

#[test]
fn the_backtrader_reference_report_draws_every_bar_fill_and_trade() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bt");
    let page = dir.path().join("report.html");
    let stdout = orcl_sma_backtest(&["--out-dir", out.to_str().unwrap(), "--report", page.to_str().unwrap()]);
    assert!(stdout.contains("report") && stdout.contains("5036 bars"), "{stdout}");
    let (status, console) = render(&chrome, &page, Some(&artifacts().join("orcl-sma-cross.png")));
    assert_clean(&status, &console);
    // every bar of Backtrader's ORCL file, one marker per fill, the 96 trades of the reference
    let bars = std::fs::read_to_string(shared_data().join("backtrader/orcl-1995-2014.txt")).unwrap().lines().skip(1).filter(|l| !l.is_empty()).count();
    assert_eq!(status["candles"], bars);
    assert_eq!(status["markers"], rows(&out.join("fills.csv")));
    assert_eq!(status["trades"], 96);
    assert_eq!(status["lines"], 2, "SMA(10) and SMA(30) over the candles");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let final_value: f64 = summary["summary"]["final_value"].as_str().unwrap().parse().unwrap();
    assert_eq!(status["equity_last"].as_f64().unwrap(), final_value);
    assert_eq!(status["equity_points"], rows(&out.join("equity.csv")));
    assert!(stdout.contains(&summary["summary"]["final_value"].as_str().unwrap().to_string()));

    // deterministic: the same run gives the same bytes, and `report --from` the same page
    let again = dir.path().join("again.html");
    orcl_sma_backtest(&["--out-dir", dir.path().join("bt2").to_str().unwrap(), "--report", again.to_str().unwrap()]);
    let (a, b) = (std::fs::read(&page).unwrap(), std::fs::read(&again).unwrap());
    assert!(a == b, "two runs gave different reports");
    let from = dir.path().join("from.html");
    let orcl = shared_data().join("backtrader/orcl-1995-2014.txt");
    tickflow_ok(&["report", "--from", out.to_str().unwrap(), "--bars", orcl.to_str().unwrap(), "--out", from.to_str().unwrap()]);
    assert!(std::fs::read(&from).unwrap() == a, "report --from differs from backtest --report");
    // --from alone: the bar file recorded by backtest --report
    tickflow_ok(&["report", "--from", out.to_str().unwrap(), "--out", from.to_str().unwrap()]);
    assert!(std::fs::read(&from).unwrap() == a, "report --from (recorded bars) differs");
    // self-contained: no URL the browser would fetch
    let html = String::from_utf8(a).unwrap();
    for needle in ["src=\"http", "href=\"http", "<link ", "@import", "fetch(", "XMLHttpRequest"] {
        assert!(!html.contains(needle), "the page references {needle}");
    }
    assert!(html.contains("Apache License") && html.contains("Lightweight Charts"), "the vendored library's licence travels with it");
}

#[test]
fn a_bar_file_report_marks_carried_and_revised_bars() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // a tape with late trades, aggregated with carry and revisions
    let tape = common::synthetic_tape(dir.path());
    let bars = dir.path().join("bars.csv");
    tickflow_ok(&[
        "aggregate",
        "-i",
        &tape,
        "--timeframes",
        "1m",
        "--fill",
        "carry",
        "--late",
        "revise",
        "--allowed-lateness",
        "1h",
        "--no-progress",
        "--out",
        bars.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&bars).unwrap();
    let symbol = text.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let page = dir.path().join("bars.html");
    let stdout = tickflow_ok(&["report", "--bars", bars.to_str().unwrap(), "--symbol", &symbol, "--out", page.to_str().unwrap()]);
    assert!(stdout.contains("report"), "{stdout}");
    let (status, console) = render(&chrome, &page, Some(&artifacts().join("bars.png")));
    assert_clean(&status, &console);
    // one candle per key (the latest revision), as the file's rows of that symbol
    let keys: std::collections::BTreeSet<&str> =
        text.lines().skip(1).filter(|l| l.starts_with(&format!("{symbol},"))).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(status["candles"], keys.len());
    assert_eq!(status["markers"], 0);
    let html = std::fs::read_to_string(&page).unwrap();
    let carried = text.lines().skip(1).filter(|l| l.starts_with(&format!("{symbol},")) && l.split(',').nth(8) == Some("0")).count();
    assert!(carried > 0 && html.contains(&format!("{carried} carried bars")) || carried == 0, "carried bars are named: {carried}");
    let revised = text.lines().skip(1).filter(|l| l.starts_with(&format!("{symbol},")) && !l.ends_with(",0")).count();
    assert!(revised > 0, "the tape's late trades revised bars");
}

#[test]
fn the_demo_ends_with_a_report_to_open() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let stdout = tickflow_ok(&["demo", "--out-dir", d.to_str().unwrap()]);
    let page = d.join("report.html");
    assert!(stdout.contains(&format!("report             {}", page.display())), "{stdout}");
    let (status, console) = render(&chrome, &page, Some(&artifacts().join("demo.png")));
    assert_clean(&status, &console);
    // the drawn instrument: the first one filled; its 5m bars and its fills
    let fills = std::fs::read_to_string(d.join("backtest/fills.csv")).unwrap();
    let symbol = fills.lines().nth(1).map(|l| l.split(',').nth(2).unwrap().to_string()).expect("the demo backtest fills");
    let bars = std::fs::read_to_string(d.join("bars.csv")).unwrap();
    let keys: std::collections::BTreeSet<&str> =
        bars.lines().skip(1).filter(|l| l.starts_with(&format!("{symbol},5m,"))).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(status["candles"], keys.len());
    assert_eq!(status["markers"], fills.lines().skip(1).filter(|l| l.split(',').nth(2) == Some(symbol.as_str())).count());
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("backtest/summary.json")).unwrap()).unwrap();
    assert_eq!(status["equity_last"].as_f64().unwrap(), summary["summary"]["final_value"].as_str().unwrap().parse::<f64>().unwrap());
}

#[test]
fn a_sweep_report_has_its_leaderboard_and_heatmap() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let page = dir.path().join("sweep.html");
    orcl_sma_backtest(&["--param", "fast=5..15:5", "--param", "slow=20,30", "--out-dir", out.to_str().unwrap(), "--report", page.to_str().unwrap()]);
    let (status, console) = render(&chrome, &page, Some(&artifacts().join("sweep.png")));
    assert_clean(&status, &console);
    // 3 × 2 runs: every one in the leaderboard, one heatmap cell per (fast, slow)
    assert_eq!(status["leaderboard"], 6);
    assert_eq!(status["heatmap_cells"], 6);
    assert_eq!(status["leaderboard"], rows(&out.join("leaderboard.csv")));
    // the drawn run is the best one
    let board = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    let best: f64 = board.lines().nth(1).unwrap().split(',').nth(3).unwrap().parse().unwrap();
    assert_eq!(status["equity_last"].as_f64().unwrap(), best);
    // a later single run of other parameters in the same directory does not show the stale
    // sweep (the board is shown when its best row is the drawn run)
    let single = dir.path().join("single.html");
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    tickflow_ok(&[
        "backtest",
        "--bars",
        bars.to_str().unwrap(),
        "--strategy",
        "sma_cross",
        "--param",
        "fast=7",
        "--param",
        "slow=25",
        "--out-dir",
        out.to_str().unwrap(),
        "--report",
        single.to_str().unwrap(),
    ]);
    let (status, _) = render(&chrome, &single, None);
    assert_eq!(status["leaderboard"], 0);
}

#[test]
fn a_backtest_over_trades_reports_the_bars_it_built() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("tape.csv");
    tickflow_ok(&["generate", "--out", tape.to_str().unwrap(), "--trades", "200000", "--symbols", "BTC/USDT"]);
    let bars = dir.path().join("bars.csv");
    tickflow_ok(&["aggregate", "-i", tape.to_str().unwrap(), "--timeframes", "1m", "--out", bars.to_str().unwrap(), "--no-progress"]);
    let common = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--commission", "0.001", "--sizer", "percent:50"];
    let (from_trades, from_bars) = (dir.path().join("t.html"), dir.path().join("b.html"));
    let mut args = vec!["backtest", "--trades", tape.to_str().unwrap(), "--timeframe", "1m", "-w", "2", "--out-dir"];
    let out_t = dir.path().join("t");
    args.extend([out_t.to_str().unwrap(), "--report", from_trades.to_str().unwrap()]);
    args.extend(common);
    tickflow_ok(&args);
    let out_b = dir.path().join("b");
    let mut args = vec!["backtest", "--bars", bars.to_str().unwrap(), "--out-dir", out_b.to_str().unwrap(), "--report", from_bars.to_str().unwrap()];
    args.extend(common);
    tickflow_ok(&args);
    // the bars built in the dataflow are the bar file's: the same page, byte for byte
    assert!(std::fs::read(&from_trades).unwrap() == std::fs::read(&from_bars).unwrap(), "the report over trades differs from the one over their bars");
    let (status, console) = render(&chrome, &from_trades, None);
    assert_clean(&status, &console);
    assert_eq!(status["candles"], rows(&bars));
    assert_eq!(status["markers"], rows(&out_t.join("fills.csv")));
}
