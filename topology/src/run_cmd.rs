//! `tickflow run --config topology.toml`: one topology from a file — a source (trade files, a
//! Kafka topic or a live venue), the bar aggregation, and sinks (bar/late files, a Kafka bars
//! topic) — with environment overrides. The file is translated into the flags of `aggregate`,
//! so both paths share one set of checks and one dataflow.
//!
//! ```toml
//! [source]
//! kind = "kafka"                # files | kafka | live
//! topic = "tickflow.trades"     # kafka: topic, from, to, follow, speed, group, resume
//! speed = "max"
//! # files = ["trades.csv"]      # files: files, symbol, exchange, skip_bad
//! # venue = "binance"           # live: venue, symbols, ws_url, rest_url (market, api_key_file
//!                               # for cryptocompare)
//! # symbols = ["BTC/USDT"]
//!
//! [bars]
//! timeframes = ["1m", "5m", "1h"]
//! fill = "carry"                # none | carry
//! late = "revise"               # drop | revise
//! out_of_orderness = "2s"
//! allowed_lateness = "1h"
//!
//! [sinks]
//! bars_file = "bars.csv"
//! late_file = "late.csv"
//! bars_topic = "tickflow.bars"
//! late_topic = "tickflow.late"
//! trades_topic = "tickflow.trades"   # live sources: every trade read, for later replays
//! questdb = true                # trades, bars, late trades to QuestDB (QDB_CLIENT_CONF)
//! # questdb_prefix = "paper_"
//!
//! [kafka]
//! brokers = "redpanda:9092"
//! namespace = "tickflow"
//!
//! [cluster]
//! workers = 2
//! # processes = 2              # cluster mode: the same file on every process, each with its
//! # hostfile = "hosts.txt"     # own TICKFLOW__CLUSTER__PROCESS=<i>
//!
//! [strategy]                    # optional: paper trading on the bars as they close
//! name = "sma_cross"
//! params = ["fast=10", "slow=30"]
//! timeframe = "1m"              # one of [bars] timeframes (default: the first)
//! cash = "100000"
//! commission = "0.001"
//! sizer = "percent:10"
//! events_file = "paper.jsonl"   # orders, fills, equity, summary as JSON lines
//! publish = true                # <namespace>.orders/.fills/.equity (and QuestDB with questdb = true)
//! ```
//!
//! Any value can be overridden with `TICKFLOW__<SECTION>__<KEY>` (e.g.
//! `TICKFLOW__KAFKA__BROKERS=127.0.0.1:9092`, `TICKFLOW__CLUSTER__WORKERS=4`).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser};
use serde::Deserialize;

/// Flags of `run`.
#[derive(Args)]
pub struct RunArgs {
    /// The topology file (TOML).
    #[arg(long, short = 'c')]
    config: String,
    /// Print the equivalent `aggregate` command line and exit.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    source: Source,
    #[serde(default)]
    bars: Bars,
    #[serde(default)]
    sinks: Sinks,
    #[serde(default)]
    kafka: Kafka,
    #[serde(default)]
    cluster: Cluster,
    strategy: Option<Strategy>,
}

/// `[strategy]`: paper trading on the bars (see `aggregate --strategy`).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Strategy {
    name: String,
    #[serde(default)]
    params: Vec<String>,
    timeframe: Option<String>,
    cash: Option<String>,
    commission: Option<String>,
    slippage: Option<String>,
    sizer: Option<String>,
    events_file: Option<String>,
    #[serde(default)]
    publish: bool,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Source {
    kind: String,
    #[serde(default)]
    files: Vec<String>,
    symbol: Option<String>,
    exchange: Option<String>,
    #[serde(default)]
    skip_bad: bool,
    topic: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    follow: bool,
    speed: Option<String>,
    group: Option<String>,
    #[serde(default)]
    resume: bool,
    venue: Option<String>,
    #[serde(default)]
    symbols: Vec<String>,
    ws_url: Option<String>,
    rest_url: Option<String>,
    market: Option<String>,
    api_key_file: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Bars {
    #[serde(default)]
    timeframes: Vec<String>,
    fill: Option<String>,
    late: Option<String>,
    out_of_orderness: Option<String>,
    allowed_lateness: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Sinks {
    bars_file: Option<String>,
    late_file: Option<String>,
    bars_topic: Option<String>,
    late_topic: Option<String>,
    trades_topic: Option<String>,
    #[serde(default)]
    questdb: bool,
    questdb_prefix: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Kafka {
    brokers: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Cluster {
    workers: Option<usize>,
    processes: Option<usize>,
    process: Option<usize>,
    hostfile: Option<String>,
}

/// Applies `TICKFLOW__SECTION__KEY=value` overrides to the parsed TOML document.
fn apply_env(doc: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    for (k, v) in vars {
        let Some(path) = k.strip_prefix("TICKFLOW__") else { continue };
        let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let [section, key] = parts.as_slice() else { bail!("{k}: expected TICKFLOW__<SECTION>__<KEY>") };
        let table = doc.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(table) = table.as_table_mut() else { bail!("{k}: [{section}] is not a table") };
        // numbers and booleans as such, lists as comma-separated, everything else a string
        let value = if let Ok(n) = v.parse::<i64>() {
            toml::Value::Integer(n)
        } else if let Ok(b) = v.parse::<bool>() {
            toml::Value::Boolean(b)
        } else if matches!(key.as_str(), "files" | "symbols" | "timeframes") {
            toml::Value::Array(v.split(',').map(|s| toml::Value::String(s.trim().to_string())).collect())
        } else {
            toml::Value::String(v)
        };
        table.insert(key.clone(), value);
    }
    Ok(())
}

/// The `aggregate` flags equivalent to `cfg`.
fn to_args(c: &Config) -> Result<Vec<String>> {
    let mut a: Vec<String> = vec!["tickflow".into()];
    let mut push = |k: &str, v: &str| {
        a.push(k.to_string());
        a.push(v.to_string());
    };
    match c.source.kind.as_str() {
        "files" => {
            if c.source.files.is_empty() {
                bail!("[source] kind = \"files\" needs files = [\"…\"]");
            }
            for f in &c.source.files {
                push("--input", f);
            }
        }
        "kafka" => push("--kafka-topic", c.source.topic.as_deref().context("[source] kind = \"kafka\" needs topic")?),
        "live" => {
            push("--source", c.source.venue.as_deref().context("[source] kind = \"live\" needs venue")?);
            if c.source.symbols.is_empty() {
                bail!("[source] kind = \"live\" needs symbols = [\"BTC/USDT\"]");
            }
            push("--symbols", &c.source.symbols.join(","));
        }
        other => bail!("[source] kind = {other:?}: expected files, kafka or live"),
    }
    for (flag, v) in [
        ("--symbol", &c.source.symbol),
        ("--exchange", &c.source.exchange),
        ("--from", &c.source.from),
        ("--to", &c.source.to),
        ("--speed", &c.source.speed),
        ("--ws-url", &c.source.ws_url),
        ("--rest-url", &c.source.rest_url),
        ("--market", &c.source.market),
        ("--api-key-file", &c.source.api_key_file),
        ("--fill", &c.bars.fill),
        ("--late", &c.bars.late),
        ("--out-of-orderness", &c.bars.out_of_orderness),
        ("--allowed-lateness", &c.bars.allowed_lateness),
        ("--late-out", &c.sinks.late_file),
        ("--bars-topic", &c.sinks.bars_topic),
        ("--late-topic", &c.sinks.late_topic),
        ("--trades-topic", &c.sinks.trades_topic),
        ("--questdb-prefix", &c.sinks.questdb_prefix),
        ("--group", &c.source.group),
        ("--brokers", &c.kafka.brokers),
        ("--namespace", &c.kafka.namespace),
    ] {
        if let Some(v) = v {
            push(flag, v);
        }
    }
    if !c.bars.timeframes.is_empty() {
        push("--timeframes", &c.bars.timeframes.join(","));
    }
    push("--out", c.sinks.bars_file.as_deref().context("[sinks] needs bars_file")?);
    if let Some(w) = c.cluster.workers {
        push("--workers", &w.to_string());
    }
    if let Some(n) = c.cluster.processes {
        push("--processes", &n.to_string());
    }
    if let Some(i) = c.cluster.process {
        push("--process", &i.to_string());
    }
    if let Some(h) = &c.cluster.hostfile {
        push("--hostfile", h);
    }
    if c.source.skip_bad {
        a.push("--skip-bad".into());
    }
    if c.source.follow {
        a.push("--follow".into());
    }
    if c.source.resume {
        a.push("--resume".into());
    }
    if c.sinks.questdb {
        a.push("--questdb".into());
    }
    if let Some(s) = &c.strategy {
        a.extend(["--strategy".to_string(), s.name.clone()]);
        for p in &s.params {
            a.extend(["--param".to_string(), p.clone()]);
        }
        for (flag, v) in [
            ("--strategy-timeframe", &s.timeframe),
            ("--cash", &s.cash),
            ("--commission", &s.commission),
            ("--slippage", &s.slippage),
            ("--sizer", &s.sizer),
            ("--events-out", &s.events_file),
        ] {
            if let Some(v) = v {
                a.extend([flag.to_string(), v.clone()]);
            }
        }
        if s.publish {
            a.push("--publish".into());
        }
    }
    Ok(a)
}

#[derive(Parser)]
#[command(no_binary_name = false, disable_help_flag = true)]
struct AsAggregate {
    #[command(flatten)]
    a: crate::AggregateArgs,
}

/// Runs `run`.
pub fn run(r: RunArgs) -> Result<()> {
    let text = std::fs::read_to_string(&r.config).with_context(|| format!("reading {}", r.config))?;
    let mut doc: toml::Table = toml::from_str(&text).with_context(|| format!("{}: not valid TOML", r.config))?;
    apply_env(&mut doc, std::env::vars())?;
    let cfg: Config = toml::Value::Table(doc).try_into().with_context(|| format!("{}: invalid topology", r.config))?;
    let args = to_args(&cfg)?;
    // the flags must parse (a dry run checks the file as far as it can without running it)
    let parsed = AsAggregate::try_parse_from(&args).map_err(|e| anyhow::anyhow!("{}: {e}", r.config))?;
    if r.dry_run {
        println!(
            "{}",
            args.iter().map(|s| if s.contains(' ') { format!("{s:?}") } else { s.clone() }).collect::<Vec<_>>().join(" ").replacen(
                "tickflow",
                "tickflow aggregate",
                1
            )
        );
        return Ok(());
    }
    crate::aggregate(parsed.a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_flag_translation() {
        let mut doc: toml::Table = toml::from_str("[source]\nkind = \"files\"\nfiles = [\"a.csv\"]\n[sinks]\nbars_file = \"b.csv\"\n").unwrap();
        apply_env(
            &mut doc,
            [
                ("TICKFLOW__CLUSTER__WORKERS".to_string(), "4".to_string()),
                ("TICKFLOW__BARS__TIMEFRAMES".into(), "1m,1h".into()),
                ("TICKFLOW__CLUSTER__PROCESS".into(), "1".into()),
                ("OTHER".into(), "x".into()),
            ]
            .into_iter(),
        )
        .unwrap();
        let cfg: Config = toml::Value::Table(doc).try_into().unwrap();
        let args = to_args(&cfg).unwrap().join(" ");
        assert_eq!(args, "tickflow --input a.csv --timeframes 1m,1h --out b.csv --workers 4 --process 1");
        let bad: Result<Config, _> = toml::from_str("[source]\nkind = \"files\"\nfilez = []\n");
        assert!(bad.unwrap_err().to_string().contains("unknown field"));
        let c: Config = toml::from_str("[source]\nkind = \"kafka\"\n[sinks]\nbars_file = \"b.csv\"\n").unwrap();
        assert!(to_args(&c).unwrap_err().to_string().contains("needs topic"));
        let c: Config = toml::from_str(
            "[source]\nkind = \"live\"\nvenue = \"binance\"\nsymbols = [\"BTC/USDT\"]\n[sinks]\nbars_file = \"b.csv\"\ntrades_topic = \"t.trades\"\nquestdb = true\n",
        )
        .unwrap();
        assert_eq!(to_args(&c).unwrap().join(" "), "tickflow --source binance --symbols BTC/USDT --trades-topic t.trades --out b.csv --questdb");
        let c: Config = toml::from_str(
            "[source]\nkind = \"files\"\nfiles = [\"a.csv\"]\n[sinks]\nbars_file = \"b.csv\"\n[strategy]\nname = \"sma_cross\"\nparams = [\"fast=3\", \"slow=8\"]\ntimeframe = \"5m\"\npublish = true\n",
        )
        .unwrap();
        assert_eq!(
            to_args(&c).unwrap().join(" "),
            "tickflow --input a.csv --out b.csv --strategy sma_cross --param fast=3 --param slow=8 --strategy-timeframe 5m --publish"
        );
    }
}
