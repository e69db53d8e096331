//! A topology file and the command line `run --dry-run` prints for it describe the same job:
//! for every deployment file, and for a configuration that sets every key.

use tickflow::config::{ClusterSection, JobConfig, KafkaSection, RunSection, SinksSection, SourceSection, StrategySection};

fn toml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_deployment_file_equals_its_command_line() {
    let mut files = Vec::new();
    toml_files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let path = f.to_str().unwrap();
        let by_file = JobConfig::load(path, std::iter::empty()).unwrap();
        let line = by_file.to_command_line();
        assert_eq!(line[..2], ["tickflow", "aggregate"], "{path}");
        let by_flags = tickflow::cli::run::parse_command_line(&line).unwrap_or_else(|e| panic!("{path}: {e:#}\n{line:?}"));
        assert_eq!(by_file, by_flags, "{path}: {line:?}");
        tickflow::job::Job::check(&by_file).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    }
}

#[test]
fn a_configuration_setting_every_key_survives_the_command_line() {
    let s = |x: &str| Some(x.to_string());
    let cfg = JobConfig {
        source: SourceSection {
            kind: "kafka".into(),
            files: Vec::new(),
            symbol: s("XRP/ETH"),
            exchange: "binance".into(),
            skip_bad: true,
            topic: s("t.trades"),
            from: None,
            to: s("2024-01-02T00:00:00Z"),
            follow: true,
            speed: "100x".into(),
            group: s("g1"),
            resume: true,
            dlq_topic: s("t.dead"),
            venue: None,
            symbols: Vec::new(),
            ws_url: s("ws://127.0.0.1:1"),
            rest_url: s("http://127.0.0.1:2"),
            stale_after: "9s".into(),
            max_trades: Some(77),
            market: s("kraken"),
            api_key_file: s("key file.txt"),
            idle_timeout: "3s".into(),
            keyed_partitions: true,
        },
        bars: tickflow::config::BarsSection {
            timeframes: vec!["1m".into(), "5m".into()],
            fill: "carry".into(),
            late: "revise".into(),
            out_of_orderness: "5s".into(),
            allowed_lateness: "2h".into(),
        },
        sinks: SinksSection {
            bars_file: s("b.csv"),
            late_file: s("l.csv"),
            bars_topic: s("t.bars"),
            late_topic: s("t.late"),
            trades_topic: s("t.copy"),
            questdb: true,
            questdb_conf: s("http::addr=127.0.0.1:9;"),
            questdb_prefix: "p_".into(),
            questdb_max_outage: "1m".into(),
        },
        kafka: KafkaSection { brokers: s("127.0.0.1:1"), namespace: "ns".into(), properties: vec!["acks=all".into(), "linger.ms=5".into()] },
        cluster: ClusterSection { workers: 3, processes: 2, process: 1, hostfile: s("hosts") },
        strategy: Some(StrategySection {
            name: "sma_cross".into(),
            params: vec!["fast=3".into(), "slow=8".into()],
            timeframe: s("5m"),
            cash: "5000".into(),
            commission: "0.001".into(),
            slippage: s("percent:0.01"),
            sizer: "fixed:2".into(),
            events_file: s("ev.jsonl"),
            publish: true,
        }),
        run: RunSection { progress: false },
    };
    let back = tickflow::cli::run::parse_command_line(&cfg.to_command_line()).unwrap();
    assert_eq!(back, cfg);
    // the other two source kinds
    let mut files = cfg.clone();
    files.source = SourceSection { kind: "files".into(), files: vec!["a.csv".into(), "b c.csv".into()], ..SourceSection::default() };
    assert_eq!(tickflow::cli::run::parse_command_line(&files.to_command_line()).unwrap(), files);
    let mut live = cfg;
    live.source = SourceSection { kind: "live".into(), venue: s("okx"), symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()], ..SourceSection::default() };
    assert_eq!(tickflow::cli::run::parse_command_line(&live.to_command_line()).unwrap(), live);
}

#[test]
fn flags_override_the_file_and_a_different_job_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.toml");
    std::fs::write(&f, "[source]\nkind = \"files\"\nfiles = [\"a.csv\"]\n[bars]\nfill = \"carry\"\n[sinks]\nbars_file = \"b.csv\"\n").unwrap();
    let mut cfg = JobConfig::load(f.to_str().unwrap(), std::iter::empty()).unwrap();
    assert_eq!(cfg.bars.fill, "carry");
    let flags = tickflow::cli::flags::JobFlags { fill: Some("none".into()), workers: Some(2), ..Default::default() };
    flags.apply(&mut cfg).unwrap();
    assert_eq!((cfg.bars.fill.as_str(), cfg.cluster.workers), ("none", 2));
    assert_eq!(cfg.source.files, ["a.csv"], "a flag that is not given leaves the file's key");
    let by_line = tickflow::cli::run::parse_command_line(&cfg.to_command_line()).unwrap();
    let mut other = by_line.clone();
    other.bars.allowed_lateness = "3h".into();
    assert_ne!(other, cfg);
    // strategy flags without a strategy are refused
    let lone = tickflow::cli::flags::JobFlags { cash: Some("1".into()), ..Default::default() };
    assert!(lone.config().unwrap_err().to_string().contains("need --strategy"));
}
