//! A topology file and the command line `run --dry-run` prints for it describe the same job:
//! for every deployment file, and for a configuration that sets every key.

use tickflow::cli::run::command_line;
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
        let line = command_line(&by_file);
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
            max_future: "90s".into(),
            max_instruments: 1234,
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
            max_carry_windows: 42,
            kinds: vec!["tick:1000".into(), "dollar:1e6".into()],
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
            leverage: s("3"),
            maintenance_margin: s("0.005"),
            contract_size: s("0.01"),
            funding: s("funding.csv"),
        }),
        run: RunSection {
            progress: false,
            checkpoint_interval: "5m".into(),
            checkpoint_wall_interval: "30s".into(),
            checkpoint_store: "dir:/var/lib/tickflow".into(),
        },
    };
    let back = tickflow::cli::run::parse_command_line(&command_line(&cfg)).unwrap();
    assert_eq!(back, cfg);
    // the other two source kinds
    let mut files = cfg.clone();
    files.source = SourceSection { kind: "files".into(), files: vec!["a.csv".into(), "b c.csv".into()], ..SourceSection::default() };
    assert_eq!(tickflow::cli::run::parse_command_line(&command_line(&files)).unwrap(), files);
    let mut live = cfg;
    live.source = SourceSection { kind: "live".into(), venue: s("okx"), symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()], ..SourceSection::default() };
    assert_eq!(tickflow::cli::run::parse_command_line(&command_line(&live)).unwrap(), live);
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
    let by_line = tickflow::cli::run::parse_command_line(&command_line(&cfg)).unwrap();
    let mut other = by_line.clone();
    other.bars.allowed_lateness = "3h".into();
    assert_ne!(other, cfg);
    // a topic source without a topic, a live one without a venue: refused before anything runs
    let mut kafka = JobConfig::default();
    kafka.source.kind = "kafka".into();
    kafka.sinks.bars_file = Some("b.csv".into());
    assert!(tickflow::job::Job::check(&kafka).unwrap_err().to_string().contains("needs topic"));
    kafka.source.kind = "live".into();
    assert!(tickflow::job::Job::check(&kafka).unwrap_err().to_string().contains("needs venue"));
    kafka.source.kind = "files".into();
    assert!(tickflow::job::Job::check(&kafka).unwrap_err().to_string().contains("no input"));
    // strategy flags without a strategy are refused
    let lone = tickflow::cli::flags::JobFlags { cash: Some("1".into()), ..Default::default() };
    assert!(lone.config().unwrap_err().to_string().contains("need --strategy"));
}

// the configuration on its own: defaults, the file, environment overrides

fn vars(v: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
}

#[test]
fn defaults_file_values_and_env_overrides() {
    let cfg = JobConfig::parse(
        "[source]\nkind = \"files\"\nfiles = [\"a.csv\"]\n[sinks]\nbars_file = \"b.csv\"\n",
        vars(&[("TICKFLOW__CLUSTER__WORKERS", "4"), ("TICKFLOW__BARS__TIMEFRAMES", "1m,1h"), ("TICKFLOW__CLUSTER__PROCESS", "1"), ("OTHER", "x")]),
    )
    .unwrap();
    assert_eq!(cfg.cluster, ClusterSection { workers: 4, processes: 1, process: 1, hostfile: None });
    assert_eq!(cfg.bars.timeframes, ["1m", "1h"]);
    assert_eq!(cfg.bars.fill, "none");
    assert_eq!(cfg.source.files, ["a.csv"]);
    assert_eq!(cfg.sinks.bars_file.as_deref(), Some("b.csv"));
    assert_eq!(cfg.source.exchange, "unknown");
    assert!(cfg.run.progress);
    let line = command_line(&cfg).join(" ");
    assert!(line.starts_with("tickflow aggregate --input a.csv --out b.csv --exchange unknown"), "{line}");
    assert!(line.contains("--timeframes 1m,1h --workers 4 --processes 1 --process 1"), "{line}");
}

#[test]
fn the_defaults_are_those_of_an_empty_file() {
    let empty = JobConfig::parse("[source]\nkind = \"files\"\n", vars(&[])).unwrap();
    assert_eq!(empty, JobConfig::default());
    let st = JobConfig::parse("[source]\nkind = \"files\"\n[strategy]\nname = \"x\"\n", vars(&[])).unwrap();
    assert_eq!(st.strategy, Some(StrategySection::named("x")));
}

#[test]
fn unknown_keys_and_bad_env_names_are_errors() {
    let e = JobConfig::parse("[source]\nkind = \"files\"\nfilez = []\n", vars(&[])).unwrap_err();
    assert!(format!("{e:#}").contains("unknown field `filez`"), "{e:#}");
    let e = JobConfig::parse("[source]\nkind = \"files\"\n", vars(&[("TICKFLOW__WORKERS", "2")])).unwrap_err();
    assert!(e.to_string().contains("expected TICKFLOW__<SECTION>__<KEY>"), "{e}");
    let e = JobConfig::parse("[source]\nkind = \"files\"\n[strategy]\nname = \"sma_cross\"\nparms = []\n", vars(&[])).unwrap_err();
    assert!(format!("{e:#}").contains("unknown field `parms`"), "{e:#}");
}

#[test]
fn strategy_and_live_keys_reach_the_command_line() {
    let cfg = JobConfig::parse(
        "[source]\nkind = \"live\"\nvenue = \"binance\"\nsymbols = [\"BTC/USDT\"]\n[sinks]\nbars_file = \"b.csv\"\ntrades_topic = \"t.trades\"\nquestdb = true\n[strategy]\nname = \"sma_cross\"\nparams = [\"fast=3\", \"slow=8\"]\ntimeframe = \"5m\"\npublish = true\n",
        vars(&[]),
    )
    .unwrap();
    let line = command_line(&cfg).join(" ");
    for part in [
        "tickflow aggregate --source binance --symbols BTC/USDT",
        "--trades-topic t.trades",
        "--questdb ",
        "--strategy sma_cross --param fast=3 --param slow=8 --strategy-timeframe 5m",
        "--cash 100000 --commission 0 --sizer percent:95 --publish",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
}

#[test]
fn a_file_job_with_a_group_resumes_unless_told_otherwise() {
    let parse = |extra: &str| JobConfig::parse(&format!("[source]\nkind = \"kafka\"\ntopic = \"t\"\n{extra}"), vars(&[])).unwrap().source.resume;
    assert!(parse("group = \"g\"\n"), "a supervised job restores its checkpoint on start");
    assert!(!parse("group = \"g\"\nresume = false\n"));
    assert!(!parse("group = \"g\"\nfrom = \"2024-01-01T00:00:00Z\"\n"), "from a time: not resumed");
    assert!(!parse(""), "no group: nothing to resume");
    // the environment can turn it off
    let off = JobConfig::parse("[source]\nkind = \"kafka\"\ntopic = \"t\"\ngroup = \"g\"\n", vars(&[("TICKFLOW__SOURCE__RESUME", "false")])).unwrap();
    assert!(!off.source.resume);
}
