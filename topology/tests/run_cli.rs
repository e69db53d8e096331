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

#[test]
fn the_deployment_topology_files_are_valid() {
    // what compose.yaml runs: every key known, every flag accepted (a dry run parses them)
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/tickflow");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let out = common::tickflow(&["run", "--config", p.to_str().unwrap(), "--dry-run"]);
            assert!(out.status.success(), "{}: {}", p.display(), String::from_utf8_lossy(&out.stderr));
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("tickflow aggregate "));
            n += 1;
        }
    }
    assert!(n >= 1);
    // and a bad key is refused
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "[source]\nkind = \"live\"\nvenue = \"binance\"\nsymbols = [\"BTC/USDT\"]\n[sinks]\nbars_file = \"b.csv\"\n[strategy]\nname = \"sma_cross\"\nparms = []\n").unwrap();
    let out = common::tickflow(&["run", "--config", bad.path().to_str().unwrap(), "--dry-run"]);
    assert!(!out.status.success());
}
