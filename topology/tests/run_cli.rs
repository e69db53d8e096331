//! `tickflow run --config topology.toml` builds the same topology as the equivalent flags.

mod common;

use common::{freqtrade_csv, tickflow, tickflow_ok};

#[test]
fn a_topology_file_runs_like_the_equivalent_flags_with_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let csv = freqtrade_csv(dir.path());
    let by_flags = dir.path().join("flags.csv");
    tickflow_ok(&[
        "aggregate",
        "-i",
        csv.to_str().unwrap(),
        "--symbol",
        "XRP/ETH",
        "--exchange",
        "binance",
        "--timeframes",
        "1m,5m",
        "--fill",
        "carry",
        "--out",
        by_flags.to_str().unwrap(),
        "--no-progress",
    ]);
    let by_file = dir.path().join("file.csv");
    let cfg = dir.path().join("topology.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\nkind = \"files\"\nfiles = [{:?}]\nsymbol = \"XRP/ETH\"\nexchange = \"binance\"\n\n[bars]\ntimeframes = [\"1m\", \"5m\"]\nfill = \"none\"\n\n[sinks]\nbars_file = {:?}\n",
            csv.to_str().unwrap(),
            by_file.to_str().unwrap()
        ),
    )
    .unwrap();
    // the file says fill = none; the environment overrides it (and the worker count)
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("TICKFLOW__BARS__FILL", "carry")
        .env("TICKFLOW__CLUSTER__WORKERS", "2")
        .env("TICKFLOW_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&by_file).unwrap(), std::fs::read_to_string(&by_flags).unwrap());
    let dry = tickflow_ok(&["run", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert!(dry.starts_with("tickflow aggregate --input ") && dry.contains("--fill none"), "{dry}");
    // a typo is an error naming the key
    std::fs::write(&cfg, "[source]\nkind = \"files\"\nfilez = []\n").unwrap();
    let bad = tickflow(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown field `filez`"), "{}", String::from_utf8_lossy(&bad.stderr));
}
