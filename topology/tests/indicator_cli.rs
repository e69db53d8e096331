//! `tickflow indicator` end to end: Backtrader's file in, Backtrader's values out.

mod common;

use common::{shared_data, tickflow, tickflow_ok};

fn reference() -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../operators/tests/data/backtrader_indicators_2006-day-001.csv"))
        .unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    (header, lines.map(|l| l.split(',').map(String::from).collect()).collect())
}

#[test]
fn indicator_command_reproduces_backtrader_for_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let bars = shared_data().join("backtrader/2006-day-001.txt");
    let (header, rows) = reference();
    let names = tickflow_operators::indicators::names();
    // the registry, not a hand list: a new indicator is covered as soon as it is registered
    for must in [
        "sma",
        "ema",
        "wma",
        "smma",
        "rsi",
        "macd",
        "bbands",
        "atr",
        "stochastic",
        "cci",
        "momentum",
        "roc",
        "williamsr",
        "dm",
        "highest",
        "lowest",
        "crossover",
    ] {
        assert!(names.contains(&must), "{must} is no longer registered");
    }
    for name in names {
        let out = dir.path().join(format!("{name}.csv"));
        let mut args = vec!["indicator", "--bars", bars.to_str().unwrap(), "--name", name, "-o", out.to_str().unwrap()];
        // Backtrader's defaults differ from the generator's 30-bar averages only for these
        if ["sma", "ema", "wma", "smma"].contains(&name) {
            args.extend(["--param", "period=30"]);
        }
        tickflow_ok(&args);
        matches_reference(&out, name, &header, &rows);
    }
}

/// The indicator file `out` equals the reference columns `<prefix>.<line>` at every bar.
fn matches_reference(out: &std::path::Path, prefix: &str, header: &[String], rows: &[Vec<String>]) {
    let text = std::fs::read_to_string(out).unwrap();
    let mut lines = text.lines();
    let cols: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(cols[0], "open_time");
    let got: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(got.len(), 255, "{prefix}");
    for (ci, line) in cols.iter().enumerate().skip(1) {
        let rc = header.iter().position(|h| *h == format!("{prefix}.{line}")).unwrap_or_else(|| panic!("{prefix}.{line}"));
        for (g, w) in got.iter().zip(rows) {
            match (g[ci].is_empty(), w[rc].is_empty()) {
                (true, true) => {}
                (false, false) => {
                    let (g, w): (f64, f64) = (g[ci].parse().unwrap(), w[rc].parse().unwrap());
                    assert!(g == w || (g - w).abs() / w.abs() <= 1e-9, "{prefix}.{line} on {}: {g} vs {w}", w);
                }
                _ => panic!("{prefix}.{line} on {}: warm-up differs ({:?} vs {:?})", w[0], g[ci], w[rc]),
            }
        }
    }
}

/// #16: `--param source=` through the command — another line, another indicator's line.
#[test]
fn indicator_command_takes_sources_like_backtrader() {
    let dir = tempfile::tempdir().unwrap();
    let bars = shared_data().join("backtrader/2006-day-001.txt");
    let (header, rows) = reference();
    for (prefix, name, params) in [
        ("highest_of_high", "highest", &["source=high"][..]),
        ("sma_of_rsi", "sma", &["period=10", "source=rsi(period=14)"][..]),
        ("ema_of_macd_signal", "ema", &["period=5", "source=macd(period_me1=12,period_me2=26).signal"][..]),
    ] {
        let out = dir.path().join(format!("{prefix}.csv"));
        let mut args = vec!["indicator", "--bars", bars.to_str().unwrap(), "--name", name, "-o", out.to_str().unwrap()];
        for p in params {
            args.extend(["--param", p]);
        }
        tickflow_ok(&args);
        matches_reference(&out, prefix, &header, &rows);
    }
    let r = tickflow(&["indicator", "--bars", bars.to_str().unwrap(), "--name", "atr", "--param", "source=close", "-o", "/dev/null"]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("takes no source"));
}

#[test]
fn indicator_output_is_identical_across_workers_and_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    let run = |w: &str| {
        let out = dir.path().join(format!("dm-{w}.csv"));
        tickflow_ok(&["indicator", "--bars", bars.to_str().unwrap(), "--name", "dm", "--param", "period=10", "-o", out.to_str().unwrap(), "-w", w]);
        std::fs::read(out).unwrap()
    };
    let one = run("1");
    assert!(one.len() > 100_000);
    assert_eq!(run("2"), one);
    for (args, needle) in [
        (vec!["--name", "nope"], "unknown indicator"),
        (vec!["--name", "sma", "--param", "period=-3"], "period must be an integer"),
        (vec!["--name", "sma", "--param", "lenght=3"], "no parameter \"lenght\""),
    ] {
        let mut a = vec!["indicator", "--bars", bars.to_str().unwrap(), "-o", "/dev/null"];
        a.extend(args);
        let r = tickflow(&a);
        assert!(!r.status.success());
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(e.contains(needle) && !e.contains("panicked"), "{e}");
    }
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "Date,Open,High,Low,Close,Volume,OpenInterest\n2006-01-02,1,2,1,1,0,0\n2006-01-03,1,2,x,1,0,0\n").unwrap();
    let r = tickflow(&["indicator", "--bars", bad.to_str().unwrap(), "--name", "sma", "-o", "/dev/null"]);
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && e.contains("bad.txt:3: low"), "{e}");
}
