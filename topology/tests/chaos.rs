//! Chaos: the live deployment (ingest → trades topic → checkpointed processing with paper
//! trading) killed with SIGKILL at seeded random points and restarted, against one uninterrupted
//! run over the same trades.
//!
//! A loopback Binance (WebSocket + REST) publishes the recorded XRP/ETH aggregate trades
//! (12,477 real trades, ids contiguous) as a live venue does: one every 2 ms of wall time from the
//! first connection on; a connection streams what is published after it connected; REST
//! `aggTrades?fromId=` answers (slowly, 300 ms a page) from what is published so far.
//!
//! - `tickflow ingest` is killed 5 times at seeded points (one of them while it backfills from
//!   REST after a 3 s outage, seen on `/readyz`), each time after a seeded downtime restarted.
//! - `tickflow aggregate --follow --group P --resume` (bars, late trades and paper trading into
//!   topics and QuestDB) is killed 5 times at seeded points (two of them right after a checkpoint
//!   was written) and restarted; once the ingest has every trade, a last bounded `--resume` run
//!   reads to the end of the topic.
//!
//! Then: the trades topic holds every venue trade exactly once, in order; the compacted bars
//! topic, the bar rows rebuilt from it, the QuestDB stand-in (a real QuestDB too when
//! `QDB_HTTP_ADDR` is set) and the paper-trading orders, fills and equity equal those of one
//! uninterrupted run. Seed: `TICKFLOW_CHAOS_SEED` (default fixed), printed on failure.
//!
//! Runs on a real broker (nisshi in CI, `KAFKA_BROKERS` for Redpanda), else on rdkafka's mock
//! cluster.

mod common;
#[path = "../../connectors/tests/support/http_stub.rs"]
mod http_stub;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{payloads, read_all, tickflow_ok};
use qdb_server::QdbServer;
use tickflow_model::Decimal;

/// Wall time between two published trades.
const PACE: Duration = Duration::from_millis(2);

/// A seeded xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `[a, b)` milliseconds.
    fn ms(&mut self, a: u64, b: u64) -> Duration {
        Duration::from_millis(a + self.next() % (b - a))
    }
}

/// The loopback venue: its trades and the wall clock they are published on (started by the
/// first WebSocket connection).
struct Venue {
    trades: Vec<serde_json::Value>,
    start: OnceLock<Instant>,
}

impl Venue {
    fn published(&self) -> usize {
        match self.start.get() {
            Some(t) => ((t.elapsed().as_micros() / PACE.as_micros()) as usize).min(self.trades.len()),
            None => 0,
        }
    }

    fn frame(&self, i: usize) -> String {
        let mut d = self.trades[i].clone();
        d["e"] = "aggTrade".into();
        d["s"] = "XRPETH".into();
        serde_json::json!({"stream": "xrpeth@aggTrade", "data": d}).to_string()
    }

    /// The WebSocket endpoint: each connection streams the trades published after it opened.
    fn ws(self: &Arc<Self>) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}", l.local_addr().unwrap());
        let v = self.clone();
        std::thread::spawn(move || {
            for stream in l.incoming().flatten() {
                let v = v.clone();
                std::thread::spawn(move || {
                    let Ok(mut ws) = tungstenite::accept(stream) else { return };
                    v.start.get_or_init(Instant::now);
                    let mut i = v.published();
                    while i < v.trades.len() {
                        let p = v.published();
                        while i < p {
                            if ws.send(tungstenite::Message::Text(v.frame(i))).is_err() {
                                return; // the client is gone (killed)
                            }
                            i += 1;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    // everything published: hold the connection until the client goes away
                    while ws.read().is_ok() {}
                });
            }
        });
        url
    }

    /// Binance's `aggTrades?fromId=&limit=` over what is published so far, 300 ms a page.
    fn rest(self: &Arc<Self>) -> String {
        let v = self.clone();
        http_stub::serve(move |req, stream| {
            std::thread::sleep(Duration::from_millis(300));
            let q = |k: &str| req.param(k).and_then(|x| x.parse::<u64>().ok());
            let (from, limit) = (q("fromId").unwrap_or(0), q("limit").unwrap_or(500).min(1000) as usize);
            let page: Vec<&serde_json::Value> = v.trades[..v.published()].iter().filter(|t| t["a"].as_u64().unwrap() >= from).take(limit).collect();
            http_stub::respond_json(stream, "200 OK", &serde_json::to_string(&page).unwrap());
        })
    }
}

/// The Kafka API to run against: a real broker, else the mock cluster.
enum Kafka {
    Real(common::broker::Broker),
    Mock(rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
}

impl Kafka {
    fn start() -> Kafka {
        match common::broker::broker() {
            Some(b) => Kafka::Real(b),
            None => Kafka::Mock(rdkafka::mocking::MockCluster::new(1).unwrap()),
        }
    }
    fn brokers(&self) -> String {
        match self {
            Kafka::Real(b) => b.addr.clone(),
            Kafka::Mock(c) => c.bootstrap_servers(),
        }
    }
    /// The namespace's topics, one partition each.
    fn topics(&self, ns: &str) {
        match self {
            Kafka::Real(b) => {
                tickflow_ok(&["topics", "create", "--brokers", &b.addr, "--namespace", ns, "--partitions", "1"]);
            }
            Kafka::Mock(c) => {
                for t in ["trades", "bars", "late", "orders", "fills", "equity", "gaps", "checkpoints", "dlq"] {
                    c.create_topic(&format!("{ns}.{t}"), 1, 1).unwrap();
                }
            }
        }
    }
}

/// Where the processing runs write bars and paper trading in QuestDB.
enum Qdb {
    StandIn(QdbServer),
    Real { conf: String, prefix: String },
}

impl Qdb {
    fn conf(&self) -> String {
        match self {
            Qdb::StandIn(s) => s.conf("retry_timeout=300;request_timeout=2000;"),
            Qdb::Real { conf, .. } => conf.clone(),
        }
    }
    fn flags(&self) -> Vec<String> {
        let mut v = vec!["--questdb".to_string(), "--questdb-conf".to_string(), self.conf()];
        if let Qdb::Real { prefix, .. } = self {
            v.extend(["--questdb-prefix".to_string(), prefix.clone()]);
        }
        v
    }
    /// Every row of `table`, as text, one per upsert key; for a real QuestDB once `rows` rows
    /// are visible (WAL tables apply asynchronously).
    fn rows(&self, table: &str, rows: usize) -> Vec<String> {
        match self {
            Qdb::StandIn(s) => s.rows(table).into_iter().map(|r| format!("{r:?}")).collect(),
            Qdb::Real { conf, prefix } => {
                let c = tickflow_connectors::questdb::QuestDbConf::parse(conf).unwrap();
                let q = |sql: &str| -> serde_json::Value {
                    serde_json::from_str(&tickflow_connectors::questdb::exec(&c, sql, Duration::from_secs(10)).unwrap()).unwrap()
                };
                for _ in 0..150 {
                    if q(&format!("SELECT count() FROM {prefix}{table}"))["dataset"][0][0].as_i64().unwrap_or(0) >= rows as i64 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                let all = q(&format!("SELECT * FROM {prefix}{table}"));
                let cols: Vec<String> = all["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
                let mut out: Vec<String> = all["dataset"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| cols.iter().zip(r.as_array().unwrap()).map(|(c, v)| format!("{c}={v}")).collect::<Vec<_>>().join(" "))
                    .collect();
                out.sort();
                out
            }
        }
    }
    fn drop_tables(&self) {
        if let Qdb::Real { conf, prefix } = self {
            let c = tickflow_connectors::questdb::QuestDbConf::parse(conf).unwrap();
            for t in ["trades", "bars", "orders", "fills", "equity", "late_trades", "funding"] {
                let _ = tickflow_connectors::questdb::exec(&c, &format!("DROP TABLE IF EXISTS {prefix}{t}"), Duration::from_secs(10));
            }
        }
    }
}

/// The processing job's flags (bars 1m/5m with carry, paper trading on 1m, published).
fn processing(brokers: &str, ns: &str, group: &str, out: &std::path::Path, qdb: &Qdb) -> Vec<String> {
    let topic = format!("{ns}.bars");
    let mut v: Vec<String> = [
        "aggregate",
        "--kafka-topic",
        "c.trades",
        "--brokers",
        brokers,
        "--namespace",
        ns,
        "--bars-topic",
        &topic,
        "--out",
        out.to_str().unwrap(),
        "--group",
        group,
        "--timeframes",
        "1m,5m",
        "--fill",
        "carry",
        "--late",
        "revise",
        "--out-of-orderness",
        "2s",
        "--allowed-lateness",
        "10m",
        "--idle-timeout",
        "1h",
        "--checkpoint-wall-interval",
        "0s",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=3",
        "--param",
        "slow=8",
        "--sizer",
        "fixed:1000",
        "--commission",
        "0.001",
        "--publish",
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(qdb.flags());
    v
}

/// A child whose stderr lines arrive on a channel.
struct Proc {
    child: Child,
    lines: Receiver<String>,
}

impl Proc {
    fn spawn(args: &[String], extra: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
            .args(args)
            .args(extra)
            .env("TICKFLOW_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Proc { child, lines }
    }
    /// SIGKILL.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
    /// Waits up to `t` for a line containing one of `any` (the process keeps running); which.
    fn wait_for_any(&self, any: &[&str], t: Duration) -> Option<usize> {
        let end = Instant::now() + t;
        loop {
            match self.lines.recv_timeout(end.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    if let Some(i) = any.iter().position(|s| l.contains(s)) {
                        return Some(i);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits up to `t` for a line containing `s`.
    fn wait_for(&self, s: &str, t: Duration) -> bool {
        self.wait_for_any(&[s], t).is_some()
    }
}

/// `GET path` on a metrics endpoint: the body when the status is `code`.
fn get(addr: &str, path: &str, code: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    (text.split_whitespace().nth(1)? == code.to_string()).then(|| text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn trade_ids(brokers: &str) -> Vec<u64> {
    read_all(brokers, "c.trades", 1).iter().map(|(_, v, _)| serde_json::from_str::<serde_json::Value>(v).unwrap()["trade_id"].as_u64().unwrap()).collect()
}

/// The last record per key of a topic (what compaction keeps).
fn compacted(brokers: &str, topic: &str) -> BTreeMap<String, String> {
    read_all(brokers, topic, 1).into_iter().map(|(k, v, _)| (k, v)).collect()
}

/// A bar's fields, as numbers: (open, high, low, close, volume, trades, revision).
type BarFields = (Decimal, Decimal, Decimal, Decimal, Decimal, u64, u64);

/// The bar rows rebuilt from a compacted bars topic: (symbol, timeframe, open ms) → fields.
fn rebuilt(topic: &BTreeMap<String, String>) -> BTreeMap<(String, String, i64), BarFields> {
    let d = |v: &serde_json::Value| -> Decimal { v.as_str().map(|s| s.parse().unwrap()).unwrap_or_else(|| v.to_string().parse().unwrap()) };
    topic
        .values()
        .map(|v| {
            let r: serde_json::Value = serde_json::from_str(v).unwrap();
            let key = (r["symbol"].as_str().unwrap().to_string(), r["timeframe"].as_str().unwrap().to_string(), r["open_time"].as_i64().unwrap() / 1_000_000);
            (key, (d(&r["open"]), d(&r["high"]), d(&r["low"]), d(&r["close"]), d(&r["volume"]), r["trades"].as_u64().unwrap(), r["revision"].as_u64().unwrap()))
        })
        .collect()
}

/// A bar file's last row per key (its latest revision).
fn file_bars(path: &std::path::Path) -> BTreeMap<(String, String, i64), BarFields> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (s, tf, ot, o, h, l, c, v, n, rev) =
        (col("symbol"), col("timeframe"), col("open_time"), col("open"), col("high"), col("low"), col("close"), col("volume"), col("trades"), col("revision"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let d = |i: usize| -> Decimal { f[i].parse().unwrap() };
            ((f[s].to_string(), f[tf].to_string(), f[ot].parse().unwrap()), (d(o), d(h), d(l), d(c), d(v), f[n].parse().unwrap(), f[rev].parse().unwrap()))
        })
        .collect()
}

#[test]
fn the_deployment_killed_at_seeded_points_stores_what_an_uninterrupted_run_stores() {
    let seed: u64 = std::env::var("TICKFLOW_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_202);
    let kafka = Kafka::start();
    let brokers = kafka.brokers();
    kafka.topics("c");
    kafka.topics("u");
    let dir = tempfile::tempdir().unwrap();
    let real = qdb_server::real_questdb_conf();
    let (qc, qu) = match &real {
        Some(conf) => (
            Qdb::Real { conf: conf.clone(), prefix: format!("chaos_{}_", std::process::id()) },
            Qdb::Real { conf: conf.clone(), prefix: format!("whole_{}_", std::process::id()) },
        ),
        None => (Qdb::StandIn(QdbServer::start()), Qdb::StandIn(QdbServer::start())),
    };
    let venue = Arc::new(Venue { trades: payloads(), start: OnceLock::new() });
    let n = venue.trades.len();
    let want_ids: Vec<u64> = venue.trades.iter().map(|t| t["a"].as_u64().unwrap()).collect();
    let (ws, rest) = (venue.ws(), venue.rest());

    // ---- ingest: 5 SIGKILLs at seeded points, one of them during a backfill
    let ingest_args: Vec<String> = [
        "ingest",
        "--source",
        "binance",
        "--symbols",
        "XRP/ETH",
        "--ws-url",
        &ws,
        "--rest-url",
        &rest,
        "--brokers",
        &brokers,
        "--namespace",
        "c",
        "--stale-after",
        "60s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let b2 = brokers.clone();
    let ingest = std::thread::spawn(move || -> (usize, usize) {
        let mut rng = Rng(seed | 1);
        let (mut kills, mut in_backfill) = (0, 0);
        let metrics = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let mut addr = metrics();
        let mut p = Proc::spawn(&ingest_args, &["--metrics-addr", &addr]);
        for k in 0..5 {
            if k == 3 {
                // a 3 s outage, then killed while backfilling what it missed
                let t0 = Instant::now();
                let mut seen = false;
                while t0.elapsed() < Duration::from_secs(20) {
                    if get(&addr, "/readyz", 503).is_some_and(|b| b.contains("backfilling")) {
                        seen = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                in_backfill += usize::from(seen);
            } else {
                std::thread::sleep(rng.ms(1_000, 3_500));
            }
            p.kill();
            kills += 1;
            std::thread::sleep(if k == 2 { Duration::from_secs(3) } else { rng.ms(100, 1_500) });
            addr = metrics();
            p = Proc::spawn(&ingest_args, &["--metrics-addr", &addr]);
        }
        // the last one runs until the topic has every trade, then stops (SIGTERM: flushed)
        let t0 = Instant::now();
        while trade_ids(&b2).len() < n && t0.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(500));
        }
        // SAFETY: kill(2) on our own child process id
        unsafe { libc::kill(p.child.id() as i32, libc::SIGTERM) };
        assert!(p.child.wait().unwrap().success(), "the ingest ends cleanly on SIGTERM");
        (kills, in_backfill)
    });

    // ---- processing: 5 SIGKILLs at seeded points, two of them right after a checkpoint
    let t0 = Instant::now();
    while read_all(&brokers, "c.trades", 1).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the ingest wrote nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rng = Rng(seed.rotate_left(17) | 1);
    let (mut kills, mut after_checkpoint, mut restored) = (0, 0, 0);
    for k in 0..5 {
        let args = processing(&brokers, "c", "P", &dir.path().join(format!("run{k}.csv")), &qc);
        let p = Proc::spawn(&args, &["--resume", "--follow"]);
        // the first run may die before its first checkpoint; every run after the second restores
        let start = p.wait_for_any(&["restoring from checkpoint", "no checkpoint yet"], Duration::from_secs(30));
        restored += usize::from(start == Some(0));
        if k == 1 || k == 3 {
            after_checkpoint += usize::from(p.wait_for("checkpoint written", Duration::from_secs(60)));
        } else {
            std::thread::sleep(rng.ms(1_000, 4_000));
        }
        p.kill();
        kills += 1;
        std::thread::sleep(rng.ms(0, 1_000));
    }
    let (ingest_kills, in_backfill) = ingest.join().unwrap();
    assert_eq!(trade_ids(&brokers), want_ids, "every venue trade exactly once, in order (seed {seed})");
    assert!(read_all(&brokers, "c.gaps", 1).is_empty(), "REST covered every outage");
    // the last processing run reads to the end of the topic
    tickflow_ok(
        &[processing(&brokers, "c", "P", &dir.path().join("last.csv"), &qc), vec!["--resume".to_string()]]
            .concat()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!((ingest_kills, in_backfill), (5, 1), "ingest killed 5 times, once during a backfill (seed {seed})");
    assert_eq!((kills, after_checkpoint), (5, 2), "processing killed 5 times, twice right after a checkpoint (seed {seed})");
    assert!(restored >= 3, "the restarts restored checkpoints ({restored} of 4; seed {seed})");

    // ---- one uninterrupted run over the same trades
    let whole = dir.path().join("whole.csv");
    tickflow_ok(&processing(&brokers, "u", "U", &whole, &qu).iter().map(String::as_str).collect::<Vec<_>>());

    let (got_bars, want_bars) = (compacted(&brokers, "c.bars"), compacted(&brokers, "u.bars"));
    assert!(want_bars.len() > 1_000, "{} bars", want_bars.len());
    assert_eq!(got_bars, want_bars, "compacted bars topic (seed {seed})");
    // the bar rows rebuilt from the topic are the uninterrupted bar file's latest rows
    assert_eq!(rebuilt(&got_bars), file_bars(&whole), "bars rebuilt from the topic (seed {seed})");
    for t in ["orders", "fills", "equity"] {
        let (got, want) = (compacted(&brokers, &format!("c.{t}")), compacted(&brokers, &format!("u.{t}")));
        assert!(!want.is_empty(), "the strategy trades: {t}");
        assert_eq!(got, want, "paper trading {t} (seed {seed})");
    }
    let fills = compacted(&brokers, "u.fills").len();
    assert!(fills >= 10, "{fills} fills");
    eprintln!("chaos seed {seed}: {n} trades, {} bars, {fills} fills; ingest killed {ingest_kills}x ({in_backfill} in a backfill), processing {kills}x ({after_checkpoint} right after a checkpoint, {restored} restores)", want_bars.len());
    for (t, rows) in [("trades", n), ("bars", want_bars.len()), ("orders", 1), ("fills", 1), ("equity", 1)] {
        let want = qu.rows(t, rows);
        assert!(!want.is_empty(), "{t}");
        assert_eq!(qc.rows(t, want.len()), want, "QuestDB {t} (seed {seed})");
    }
    qc.drop_tables();
    qu.drop_tables();
}
