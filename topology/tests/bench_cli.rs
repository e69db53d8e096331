//! `tickflow-bench` (the benchmark binary, outside the shipped `tickflow`): its code paths on a
//! small workload — not its figures.

fn bench_ok(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow-bench")).args(args).env("TICKFLOW_LOG", "warn").output().expect("running tickflow-bench");
    assert!(out.status.success(), "tickflow-bench {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bench_aggregate_runs_every_configuration_and_reports_each() {
    // a small workload: the benchmark's code paths, not its figures
    let out = bench_ok(&["aggregate", "--trades", "20000", "--repeat", "2"]);
    let rate_of = |label: &str| -> f64 {
        let line = out.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"));
        line[label.len()..].split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no rate in {line:?}"))
    };
    for label in [
        "in-memory batches, 1 worker(s)",
        "in-memory batches, 2 worker(s)",
        "CSV file → bars, 1 worker(s)",
        "CSV file → bars, 2 worker(s)",
        "Parquet file → bars, 1 worker(s)",
        "Parquet file → bars, 2 worker(s)",
    ] {
        assert!(rate_of(label) > 0.0, "{label}: {out}");
    }
    // each child run processes the whole tape into the same bars at any worker count
    let child = |spec: &str, extra: &[&str]| -> serde_json::Value {
        let args = [&["aggregate", "--single", spec, "--trades", "20000"][..], extra].concat();
        serde_json::from_str(bench_ok(&args).trim()).unwrap()
    };
    let (one, two, exchanged) = (child("memory:1", &[]), child("memory:2", &[]), child("memory:2", &["--exchange", "--symbols", "8"]));
    assert_eq!(one["trades"], 20_000);
    assert_eq!((two["trades"].clone(), two["bars"].clone()), (one["trades"].clone(), one["bars"].clone()));
    let eight = child("memory:1", &["--symbols", "8"]);
    assert_eq!((exchanged["trades"].clone(), exchanged["bars"].clone()), (eight["trades"].clone(), eight["bars"].clone()));
    assert!(one["bars"].as_u64().unwrap() > 0);
}

/// `bench live` on a small tape: every configuration reports a rate (the bench itself fails when
/// a trade is missing) and the runtime's threads.
#[test]
fn bench_live_runs_every_session_count() {
    let out = bench_ok(&["live", "--trades", "4000", "--sessions", "1,4", "--repeat", "1"]);
    for sessions in ["1", "4"] {
        let row = out.lines().find(|l| l.starts_with(&format!("| {sessions} |"))).unwrap_or_else(|| panic!("no row for {sessions} sessions:\n{out}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let rate: f64 = cells[2].trim_end_matches(" M").parse().unwrap_or_else(|_| panic!("{row}"));
        let threads: usize = cells[3].parse().unwrap();
        assert!(rate > 0.0 && (1..=4).contains(&threads), "{row}");
    }
}

/// `bench indicators` on a few bars: a row per registered indicator and the whole library.
#[test]
fn bench_indicators_reports_every_registered_indicator() {
    let out = bench_ok(&["indicators", "--bars", "2000", "--repeat", "1"]);
    for name in tickflow_operators::indicators::names() {
        let row = out.lines().find(|l| l.starts_with(&format!("| `{name}` |"))).unwrap_or_else(|| panic!("no row for {name}:\n{out}"));
        let rate: f64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(rate > 0.0, "{row}");
    }
    assert!(out.lines().any(|l| l.starts_with(&format!("| all {} together |", tickflow_operators::indicators::names().len()))), "{out}");
}

#[test]
fn the_shipped_binary_has_no_bench_command() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow")).args(["bench", "aggregate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"), "{}", String::from_utf8_lossy(&out.stderr));
}
