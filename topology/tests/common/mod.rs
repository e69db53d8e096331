//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

pub mod broker;

use rdkafka::consumer::Consumer;
use rdkafka::message::{Headers, Message};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tickflow_model::Decimal;

/// The arguments of `fetch ohlcv --source SOURCE --symbol SYMBOL --timeframe TF --since SINCE
/// --until UNTIL --rest-url URL --out OUT` (a stub server at `url`).
pub fn fetch_ohlcv<'a>(source: &'a str, symbol: &'a str, timeframe: &'a str, since: &'a str, until: &'a str, url: &'a str, out: &'a Path) -> Vec<&'a str> {
    let out = out.to_str().unwrap();
    vec![
        "fetch",
        "ohlcv",
        "--source",
        source,
        "--symbol",
        symbol,
        "--timeframe",
        timeframe,
        "--since",
        since,
        "--until",
        until,
        "--rest-url",
        url,
        "--out",
        out,
    ]
}

/// `../shared/data` beside the repository (override with `TICKFLOW_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    if let Ok(p) = std::env::var("TICKFLOW_SHARED_DATA") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(p.join("PROVENANCE.md").exists(), "reference data not found at {} (set TICKFLOW_SHARED_DATA)", p.display());
    p
}

pub fn tickflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickflow")).args(args).env("TICKFLOW_LOG", "warn").output().expect("running tickflow")
}

pub fn tickflow_ok(args: &[&str]) -> String {
    let out = tickflow(args);
    assert!(out.status.success(), "tickflow {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs tickflow expecting failure; returns stderr.
#[allow(dead_code)]
pub fn tickflow_fails(args: &[&str]) -> String {
    let out = tickflow(args);
    assert!(!out.status.success(), "tickflow {args:?} should fail:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A parsed bar CSV row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub symbol: String,
    pub timeframe: String,
    pub open_time: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub trades: u64,
    pub revision: u32,
}

pub fn read_bars(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..9], ["symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume", "trades"]);
    let rev = header.iter().position(|h| *h == "revision").unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                symbol: f[0].into(),
                timeframe: f[1].into(),
                open_time: f[2].parse().unwrap(),
                open: f[3].parse().unwrap(),
                high: f[4].parse().unwrap(),
                low: f[5].parse().unwrap(),
                close: f[6].parse().unwrap(),
                volume: f[7].parse().unwrap(),
                trades: f[8].parse().unwrap(),
                revision: f[rev].parse().unwrap(),
            }
        })
        .collect()
}

/// freqtrade's 12,477 Binance XRP/ETH trades as a trade CSV in `dir` (use `--symbol XRP/ETH`).
pub fn freqtrade_csv(dir: &Path) -> PathBuf {
    use std::io::Read;
    let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(shared_data().join("trades/freqtrade/XRP_ETH-trades.json.gz")).unwrap());
    let mut s = String::new();
    gz.read_to_string(&mut s).unwrap();
    let trades: Vec<serde_json::Value> = serde_json::from_str(&s).unwrap();
    assert_eq!(trades.len(), 12_477);
    // [timestamp_ms, id, type, side, price, amount, cost]
    let mut text = String::from("timestamp,trade_id,side,price,amount\n");
    for t in &trades {
        text.push_str(&format!("{},{},{},{},{}\n", t[0], t[1].as_str().unwrap(), t[3].as_str().unwrap(), t[4], t[5]));
    }
    let p = dir.join("xrp_eth.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// A consumed record: key, payload, headers.
pub type Record = (String, String, Vec<(String, String)>);

/// All records of `topic` (every partition).
pub fn read_all(brokers: &str, topic: &str, partitions: i32) -> Vec<Record> {
    let c: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", "test").create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut end = 0;
    for p in 0..partitions {
        let (lo, hi) = c.fetch_watermarks(topic, p, std::time::Duration::from_secs(5)).unwrap();
        end += hi - lo;
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(lo)).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (out.len() as i64) < end && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(std::time::Duration::from_millis(100)) {
            let headers = m
                .headers()
                .map(|h| h.iter().map(|x| (x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned())).collect())
                .unwrap_or_default();
            out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                headers,
            ));
        }
    }
    out
}

/// Binance's recorded aggregate trades (freqtrade's XRP/ETH recording), as WebSocket payloads.
pub fn payloads() -> Vec<serde_json::Value> {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(shared_data().join("trades/freqtrade/XRP_OLD-trades.json.gz")).unwrap()).read_to_string(&mut s).unwrap();
    let v: Vec<serde_json::Value> = serde_json::from_str(&s).unwrap();
    v.into_iter().map(|t| t["info"].clone()).collect()
}

/// Serves one connection per client with the first `n` trades, then keeps it open.
pub fn ws_server(n: usize) -> String {
    ws_serving(std::sync::Arc::new(payloads()), move |_| (0..n, std::time::Duration::from_secs(5)))
}

/// A Binance aggregate-trade WebSocket: connection `c` (counted from 0) gets the trades in
/// `plan(c).0` as combined-stream frames, then stays open for `plan(c).1`.
pub fn ws_serving(
    trades: std::sync::Arc<Vec<serde_json::Value>>,
    plan: impl Fn(usize) -> (std::ops::Range<usize>, std::time::Duration) + Send + Sync + 'static,
) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let plan = std::sync::Arc::new(plan);
    std::thread::spawn(move || {
        for (conn, stream) in l.incoming().flatten().enumerate() {
            let (trades, plan) = (trades.clone(), plan.clone());
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else { return };
                let (range, hold) = plan(conn);
                for t in &trades[range] {
                    let mut d = t.clone();
                    d["e"] = "aggTrade".into();
                    d["s"] = "XRPETH".into();
                    let msg = serde_json::json!({"stream": "xrpeth@aggTrade", "data": d}).to_string();
                    if ws.send(tungstenite::Message::Text(msg)).is_err() {
                        return;
                    }
                }
                let _ = ws.flush();
                std::thread::sleep(hold);
            });
        }
    });
    url
}

/// Every row of the bar files, as a sorted multiset (first emissions and revisions).
pub fn bar_rows(files: &[&Path]) -> Vec<String> {
    let mut v: Vec<String> = files.iter().flat_map(|f| std::fs::read_to_string(f).unwrap().lines().skip(1).map(String::from).collect::<Vec<_>>()).collect();
    v.sort();
    v
}

/// A seeded synthetic tape with late trades (8‰, up to 20 s) and duplicates (5‰) at `dir/name`.
pub fn late_tape(dir: &Path, name: &str, seed: &str, symbols: &str, trades: &str) -> String {
    let p = dir.join(name).to_string_lossy().into_owned();
    let args = ["generate", "--out", &p, "--trades", trades, "--seed", seed, "--symbols", symbols];
    tickflow_ok(&[&args[..], &["--late-per-mille", "8", "--max-delay", "20s", "--dup-per-mille", "5"]].concat());
    p
}

/// Runs the SMA(10/30) cross on Backtrader's ORCL bars with a 0.1% commission and a 95% sizer
/// (the Backtrader reference configuration) plus `extra` (`--out-dir`, ...); returns stdout.
pub fn orcl_sma_backtest(extra: &[&str]) -> String {
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    let args = ["backtest", "--bars", bars.to_str().unwrap(), "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30"];
    let rest = ["--cash", "100000", "--commission", "0.001", "--sizer", "percent:95"];
    tickflow_ok(&[&args[..], &rest, extra].concat())
}

/// A 20,000-trade synthetic tape with late trades, as a trade CSV in `dir`.
pub fn synthetic_tape(dir: &std::path::Path) -> String {
    let path = dir.join("t.csv").to_string_lossy().into_owned();
    let cfg = tickflow_connectors::SyntheticConfig { trades: 20_000, late_per_mille: 5, max_delay: 20_000_000_000, ..Default::default() };
    tickflow::cli::write_tape(&path, cfg, false).unwrap();
    path
}

/// A 1m/5m job over `input` with revisions, bar and late files, `workers` workers, no progress bar.
pub fn file_job(input: &str, out: &str, late: &str, workers: usize) -> tickflow::config::JobConfig {
    let mut cfg = tickflow::config::JobConfig::default();
    cfg.source.files = vec![input.to_string()];
    cfg.bars.timeframes = vec!["1m".into(), "5m".into()];
    cfg.bars.late = "revise".into();
    cfg.bars.out_of_orderness = "5s".into();
    cfg.sinks.bars_file = Some(out.to_string());
    cfg.sinks.late_file = Some(late.to_string());
    cfg.cluster.workers = workers;
    cfg.run.progress = false;
    cfg
}
