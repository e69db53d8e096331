//! Restart-exact processing: a `--group` run checkpoints its state; `--resume` continues it.
//! What an interrupted run (bounded, or killed with SIGKILL) and its resumption store — the bar
//! file rows, the compacted bars topic, the QuestDB stand-in — equals what one uninterrupted run
//! stores, revisions included. Runs on rdkafka's mock cluster (the real-broker variant is in
//! `kafka_broker.rs`).

mod common;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{bar_rows as rows, read_all, tickflow_fails, tickflow_ok};
use qdb_server::QdbServer;
use rdkafka::mocking::MockCluster;

const AGG: [&str; 12] =
    ["--timeframes", "1m,5m", "--fill", "carry", "--late", "revise", "--out-of-orderness", "5s", "--allowed-lateness", "10m", "--idle-timeout", "1h"];
/// Paper trading on the 1m bars (published to `<ns>.orders`, `.fills`, `.equity`).
const PAPER: [&str; 10] = ["--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=5", "--sizer", "fixed:0.01", "--commission", "0.001"];

/// The last record per key of a topic (what compaction keeps).
fn compacted(brokers: &str, topic: &str) -> BTreeMap<String, String> {
    read_all(brokers, topic, 3).into_iter().map(|(k, v, _)| (k, v)).collect()
}

/// The QuestDB bars table as (key → row text), one row per key (the DEDUP upsert).
fn qdb_bars(server: &QdbServer) -> BTreeMap<String, String> {
    server
        .rows("bars")
        .into_iter()
        .map(|r| {
            let key = format!("{:?}:{:?}:{:?}:{:?}", r["exchange"], r["symbol"], r["timeframe"], r["open_time"]);
            let row = format!("{:?} {:?} {:?} {:?} {:?} {:?} {:?}", r["open"], r["high"], r["low"], r["close"], r["volume"], r["trades"], r["revision"]);
            (key, row)
        })
        .collect()
}

/// Every row of the QuestDB paper-trading tables (one per upsert key), as text.
fn qdb_paper(server: &QdbServer) -> Vec<String> {
    ["orders", "fills", "equity"].iter().flat_map(|t| server.rows(t).into_iter().map(move |r| format!("{t} {r:?}"))).collect()
}

/// The compacted paper-trading topics of `ns`.
fn paper_topics(brokers: &str, ns: &str) -> BTreeMap<String, String> {
    ["orders", "fills", "equity"].iter().flat_map(|t| compacted(brokers, &format!("{ns}.{t}")).into_iter().map(move |(k, v)| (format!("{t} {k}"), v))).collect()
}

/// Splits a trade CSV after its `n`-th row into two files with the header.
fn split(tape: &str, n: usize, dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(tape).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rest: Vec<&str> = lines.collect();
    let (a, b) = rest.split_at(n);
    let (pa, pb) = (dir.join("part1.csv"), dir.join("part2.csv"));
    std::fs::write(&pa, format!("{header}\n{}\n", a.join("\n"))).unwrap();
    std::fs::write(&pb, format!("{header}\n{}\n", b.join("\n"))).unwrap();
    (pa.to_string_lossy().into_owned(), pb.to_string_lossy().into_owned())
}

fn topics(cluster: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>, ns: &str, trade_partitions: i32) {
    cluster.create_topic(&format!("{ns}.trades"), trade_partitions, 1).unwrap();
    cluster.create_topic(&format!("{ns}.bars"), 3, 1).unwrap();
    cluster.create_topic(&format!("{ns}.checkpoints"), 1, 1).unwrap();
    for t in ["orders", "fills", "equity"] {
        cluster.create_topic(&format!("{ns}.{t}"), 3, 1).unwrap();
    }
}

fn publish(tape: &str, topic: &str, brokers: &str) {
    tickflow_ok(&["publish", "-i", tape, "--topic", topic, "--brokers", brokers]);
}

/// `aggregate` over `<ns>.trades` into `out`, `<ns>.bars` and QuestDB at `conf`.
fn aggregate(ns: &str, brokers: &str, conf: &str, out: &Path, extra: &[&str]) -> String {
    let (topic, bars) = (format!("{ns}.trades"), format!("{ns}.bars"));
    let args = ["aggregate", "--kafka-topic", &topic, "--brokers", brokers, "--namespace", ns, "--bars-topic", &bars, "--out", out.to_str().unwrap()];
    tickflow_ok(&[&args[..], &AGG, &["--no-progress", "--questdb", "--questdb-conf", conf], extra].concat())
}

fn trades_read(stdout: &str) -> u64 {
    stdout.lines().find(|l| l.starts_with("trades read")).and_then(|l| l.split_whitespace().nth(2)).unwrap().parse().unwrap()
}

#[test]
fn a_resumed_bounded_run_stores_what_an_uninterrupted_run_stores() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let tape = common::late_tape(dir.path(), "tape.csv", "7", "BTC/USDT,ETH/USDT,SOL/USDT", "30000");
    // the split falls inside a minute (and a 5-minute window): both runs build its bars
    let (part1, part2) = split(&tape, 15_000, dir.path());
    for ns in ["r", "u", "o"] {
        topics(&cluster, ns, 3);
    }
    let (qr, qu, qo) = (QdbServer::start(), QdbServer::start(), QdbServer::start());
    let conf = |q: &QdbServer| q.conf("retry_timeout=300;request_timeout=2000;");
    let f = |n: &str| dir.path().join(n);

    // uninterrupted (a --group run too: both end suspended, with the last windows open)
    publish(&tape, "u.trades", &brokers);
    let paper = |extra: &[&'static str]| -> Vec<&'static str> { [&PAPER[..], &["--publish"], extra].concat() };
    let whole = aggregate("u", &brokers, &conf(&qu), &f("whole.csv"), &paper(&["--group", "U"]));
    assert_eq!(trades_read(&whole), 30_150);

    // part 1 on 2 workers, then part 2 resumed on 3 workers
    publish(&part1, "r.trades", &brokers);
    let first = aggregate("r", &brokers, &conf(&qr), &f("run1.csv"), &paper(&["--group", "G", "--workers", "2"]));
    assert_eq!(trades_read(&first), 15_000);
    publish(&part2, "r.trades", &brokers);
    let second = aggregate("r", &brokers, &conf(&qr), &f("run2.csv"), &paper(&["--group", "G", "--resume", "--workers", "3"]));
    assert_eq!(trades_read(&second), 15_150, "the resumed run reads only what came after the checkpoint");
    assert!(second.contains("offsets committed"), "{second}");

    // every bar row (first emissions and revisions) exactly once over the two runs
    let want = rows(&[&f("whole.csv")]);
    assert!(want.iter().any(|r| !r.ends_with(",0")), "the tape produces revisions");
    assert_eq!(rows(&[&f("run1.csv"), &f("run2.csv")]), want);
    // the compacted topic and QuestDB hold the same bars, key by key
    let want_topic = compacted(&brokers, "u.bars");
    assert!(want_topic.len() > 80, "{}", want_topic.len());
    assert_eq!(compacted(&brokers, "r.bars"), want_topic);
    let want_qdb = qdb_bars(&qu);
    assert_eq!(want_qdb.len(), want_topic.len());
    assert_eq!(qdb_bars(&qr), want_qdb);
    // paper trading continued with the same position, cash, pending orders and indicators: the
    // orders, fills and equity stored equal the uninterrupted run's
    let want_paper = paper_topics(&brokers, "u");
    let fills = want_paper.keys().filter(|k| k.starts_with("fills ")).count();
    assert!(fills >= 4, "the strategy trades on both sides of the split ({fills} fills)");
    assert_eq!(paper_topics(&brokers, "r"), want_paper);
    assert_eq!(qdb_paper(&qr), qdb_paper(&qu));
    assert!(qdb_paper(&qu).len() > fills);
    // the same strategy settings are required to resume
    let x = f("x.csv");
    let base = ["aggregate", "--kafka-topic", "r.trades", "--brokers", &brokers, "--namespace", "r", "--out", x.to_str().unwrap(), "--group", "G", "--resume"];
    // the same strategy with fast=3 instead of fast=2
    let other_paper: Vec<&str> = PAPER.iter().map(|a| if *a == "fast=2" { "fast=3" } else { *a }).collect();
    let other = tickflow_fails(&[&base[..], &AGG, &other_paper].concat());
    assert!(other.contains("other aggregation settings") && other.contains("fast=3"), "{other}");

    // resuming again with nothing new reads nothing and emits nothing
    let third = aggregate("r", &brokers, &conf(&qr), &f("run3.csv"), &paper(&["--group", "G", "--resume"]));
    assert_eq!(trades_read(&third), 0);
    assert!(rows(&[&f("run3.csv")]).is_empty());

    // the same without checkpoints: the window straddling the split is stored wrong (the bug
    // checkpoints fix), so the comparison above can fail
    publish(&part1, "o.trades", &brokers);
    aggregate("o", &brokers, &conf(&qo), &f("off1.csv"), &["--group", "O", "--checkpoint-store", "off"]);
    publish(&part2, "o.trades", &brokers);
    aggregate("o", &brokers, &conf(&qo), &f("off2.csv"), &["--group", "O", "--checkpoint-store", "off", "--resume"]);
    let off = compacted(&brokers, "o.bars");
    let wrong = want_topic.iter().filter(|(k, v)| off.get(*k) != Some(*v)).count();
    assert!(wrong > 0, "without checkpoints the stored bars differ");
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let tape = common::late_tape(dir.path(), "tape.csv", "9", "BTC/USDT,ETH/USDT,SOL/USDT", "30000");
    // one trade partition: a following run's watermark waits for every partition (an empty
    // one would hold it until the idle timeout, which is off here to keep the run deterministic)
    for ns in ["k", "w"] {
        topics(&cluster, ns, 1);
    }
    let (qk, qw) = (QdbServer::start(), QdbServer::start());
    let conf = |q: &QdbServer| q.conf("retry_timeout=300;request_timeout=2000;");
    let f = |n: &str| dir.path().join(n);
    publish(&tape, "k.trades", &brokers);
    publish(&tape, "w.trades", &brokers);
    let whole = aggregate("w", &brokers, &conf(&qw), &f("whole.csv"), &["--group", "W"]);
    let total = trades_read(&whole);

    // a paced, following run, killed (SIGKILL) after its third checkpoint
    let args: Vec<String> = [
        "aggregate",
        "--kafka-topic",
        "k.trades",
        "--brokers",
        &brokers,
        "--namespace",
        "k",
        "--bars-topic",
        "k.bars",
        "--out",
        f("killed.csv").to_str().unwrap(),
        "--group",
        "K",
        "--follow",
        "--speed",
        "60x",
        "--checkpoint-wall-interval",
        "0s",
        "--workers",
        "2",
        "--no-progress",
        "--questdb",
        "--questdb-conf",
        &conf(&qk),
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(AGG.iter().map(|s| s.to_string()))
    .collect();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_tickflow")).args(&args).env("RUST_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut boundary = None;
    let mut written = 0;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("checkpoint written") {
            written += 1;
            boundary = line.split("boundary=").nth(1).and_then(|s| s.split_whitespace().next()).map(String::from);
            if written == 3 {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(written, 3, "the following run wrote checkpoints");
    let boundary = boundary.unwrap();
    let boundary: tickflow_model::Ts = boundary.parse().unwrap_or_else(|e| panic!("{boundary}: {e}"));

    // resumed (bounded, to the end of the topic); its first boundary is one interval on
    let resumed = aggregate("k", &brokers, &conf(&qk), &f("resumed.csv"), &["--group", "K", "--resume", "--workers", "3", "--checkpoint-wall-interval", "0s"]);
    let read = trades_read(&resumed);
    assert!(read < total, "the resumed run does not read the topic again ({read} of {total})");
    // bounded restart cost: the counter of records read again (from the checkpoint's positions
    // to the first boundary passed) is at most one checkpoint interval of trades, counting the
    // out-of-order ones (up to 20 s late) on either side
    let reread: u64 = resumed
        .lines()
        .find(|l| l.starts_with("re-read (restore)"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no re-read count in {resumed}"))
        .parse()
        .unwrap();
    let text = std::fs::read_to_string(&tape).unwrap();
    let ts = |l: &str| l.split(',').next().unwrap().parse::<i64>().unwrap();
    let minute = 60_000_000_000;
    let one_interval = text.lines().skip(1).filter(|l| (boundary.0 - minute / 3..boundary.0 + minute + minute / 3).contains(&ts(l))).count() as u64;
    assert!(reread > 0 && reread <= one_interval, "re-read {reread} records; one interval holds about {one_interval}");
    assert!(reread * 10 < total, "{reread} of {total}");

    // what the killed run and its resumption stored equals the uninterrupted run's
    let want_topic = compacted(&brokers, "w.bars");
    assert!(want_topic.len() > 80);
    assert_eq!(compacted(&brokers, "k.bars"), want_topic);
    assert_eq!(qdb_bars(&qk), qdb_bars(&qw));
    // the resumed run's rows are the uninterrupted run's rows from the checkpoint on
    let whole_rows = rows(&[&f("whole.csv")]);
    for r in rows(&[&f("resumed.csv")]) {
        assert!(whole_rows.binary_search(&r).is_ok(), "a row the uninterrupted run never wrote: {r}");
    }
}
