//! Kafka transport against rdkafka's in-process `MockCluster` (a Kafka-protocol broker served on
//! 127.0.0.1 by librdkafka itself): `publish`, then `replay`/`aggregate --kafka-topic` at several
//! speeds and worker counts, the bars topic, and the dead-letter topic for malformed records.
//! (`--from` seeks with `offsets_for_times`, which the mock does not implement; that is covered
//! against a real broker in `kafka_broker.rs`.)

mod common;

use std::time::Duration;

use common::{freqtrade_csv, read_all, tickflow, tickflow_ok};
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[test]
fn topic_replays_give_the_file_bars_at_every_speed_and_worker_count() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("t.trades", 4, 1).unwrap();
    cluster.create_topic("t.bars", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // a real tape (one instrument) and a generated four-symbol tape spread over the partitions
    let real = freqtrade_csv(dir.path());
    let gen = dir.path().join("gen.csv");
    tickflow_ok(&["generate", "--out", gen.to_str().unwrap(), "--trades", "60000", "--symbols", "BTC/USDT,ETH/USDT,SOL/USDT,XRP/USDT", "--seed", "3"]);
    let out =
        tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "t.trades", "--brokers", &brokers]);
    assert!(out.contains("published 12477 trades to t.trades (12477 acknowledged"), "{out}");
    let out = tickflow_ok(&["publish", "-i", gen.to_str().unwrap(), "--exchange", "binance", "--topic", "t.trades", "--brokers", &brokers]);
    assert!(out.contains("published 60000 trades"), "{out}");

    // the file path, as the reference (with information-driven and Heikin-Ashi bars beside the
    // time bars: deterministic at every speed and worker count like them)
    let common =
        ["--timeframes", "1m,5m,1h", "--fill", "carry", "--no-progress", "--bars", "tick:500,volume:20000,dollar:1000000,vib:2000,trb:1000,renko:1,heikinashi"];
    let by_file = dir.path().join("file.csv");
    let mut args = vec![
        "aggregate",
        "-i",
        real.to_str().unwrap(),
        "--symbol",
        "XRP/ETH",
        "--exchange",
        "binance",
        "-i",
        gen.to_str().unwrap(),
        "--out",
        by_file.to_str().unwrap(),
    ];
    args.extend(common);
    // (one --symbol applies to files without a symbol column; the generated file has one)
    tickflow_ok(&args);
    let want = std::fs::read_to_string(&by_file).unwrap();
    assert!(want.lines().count() > 3000, "{}", want.lines().count());
    for series in [",tick:500,", ",volume:20000,", ",value:1000000,", ",vib:2000:20,", ",trb:1000:20,", ",renko:1,", ",heikinashi:1m,"] {
        assert!(want.lines().filter(|l| l.contains(series)).count() > 1, "{series} bars in the reference");
    }

    // (the topic is keyed by instrument, so `--keyed-partitions` may aggregate where it reads)
    for (workers, speed, keyed) in
        [("1", "max", false), ("2", "max", false), ("4", "max", false), ("2", "2000000x", false), ("2", "max", true), ("4", "max", true)]
    {
        let o = dir.path().join(format!("kafka-{workers}-{speed}-{keyed}.csv"));
        let mut args = vec!["replay", "--kafka-topic", "t.trades", "--brokers", &brokers, "--speed", speed, "-w", workers, "--out", o.to_str().unwrap()];
        args.extend(common);
        if keyed {
            args.push("--keyed-partitions");
        }
        let stdout = tickflow_ok(&args);
        assert!(stdout.contains("72477"), "{stdout}");
        assert_eq!(std::fs::read_to_string(&o).unwrap(), want, "-w {workers} --speed {speed} keyed {keyed}: same bars as the file path");
    }

    // bars to a topic: one record per bar row, keyed per bar, with schema headers
    let o = dir.path().join("with-topic.csv");
    let mut args = vec!["aggregate", "--kafka-topic", "t.trades", "--brokers", &brokers, "--bars-topic", "t.bars", "--out", o.to_str().unwrap()];
    args.extend(common);
    tickflow_ok(&args);
    let records = read_all(&brokers, "t.bars", 1);
    assert_eq!(records.len(), want.lines().count() - 1, "every bar row is published");
    let keys: std::collections::BTreeSet<&str> = records.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys.len(), records.len(), "one key per bar (no revisions in this tape)");
    assert!(records.iter().all(|r| r.2.iter().any(|(k, v)| k == "schema" && v == "tickflow.bar.v1")));
    let first: serde_json::Value = serde_json::from_str(&records[0].1).unwrap();
    assert_eq!(first["v"], 1);
}

#[test]
fn malformed_records_go_to_the_dead_letter_topic_and_the_run_continues() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("d.trades", 1, 1).unwrap();
    cluster.create_topic("d.dlq", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = freqtrade_csv(dir.path());
    tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "d.trades", "--brokers", &brokers]);
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    let good =
        r#"{"v":1,"exchange":"binance","symbol":"XRP/ETH","trade_id":1,"ts":1570752011620000000,"ingest_ts":0,"price":"0.0014","amount":"1","side":"buy"}"#;
    for bad in ["not json", &good.replace(r#""v":1"#, r#""v":9"#), &good.replace(r#""price":"0.0014""#, r#""price":"-1""#)] {
        p.send(BaseRecord::to("d.trades").key("binance:XRP/ETH").payload(bad)).unwrap();
    }
    p.flush(Duration::from_secs(5)).unwrap();
    let o = dir.path().join("bars.csv");
    let out =
        tickflow(&["aggregate", "--kafka-topic", "d.trades", "--brokers", &brokers, "--dlq-topic", "d.dlq", "--out", o.to_str().unwrap(), "--no-progress"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("trades read") && l.contains(" 12477 ")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("bad rows skipped") && l.trim_end().ends_with(" 3")), "{stdout}");
    let dlq = read_all(&brokers, "d.dlq", 1);
    assert_eq!(dlq.len(), 3);
    let reasons: Vec<&str> = dlq.iter().map(|r| r.2.iter().find(|(k, _)| k == "reason").map(|(_, v)| v.as_str()).unwrap_or("")).collect();
    assert!(reasons[0].contains("expected"), "{reasons:?}");
    assert!(reasons[1].contains("version 9"), "{reasons:?}");
    assert!(reasons[2].contains("price must be positive"), "{reasons:?}");
    assert_eq!(dlq[0].1, "not json", "the original payload is kept");
    assert!(dlq.iter().all(|r| r.2.iter().any(|(k, v)| k == "origin" && v.starts_with("d.trades/0@"))));
}

#[test]
fn a_consumer_group_resumes_after_what_it_committed() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("g.trades", 2, 1).unwrap();
    cluster.create_topic("tickflow.checkpoints", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = freqtrade_csv(dir.path());
    tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "g.trades", "--brokers", &brokers]);
    let o = dir.path().join("a.csv");
    let read =
        |stdout: &str| -> u64 { stdout.lines().find(|l| l.starts_with("trades read")).and_then(|l| l.split_whitespace().nth(2)).unwrap().parse().unwrap() };
    let run = |extra: &[&str]| {
        let mut args = vec!["replay", "--kafka-topic", "g.trades", "--brokers", &brokers, "--group", "g1", "--out", o.to_str().unwrap(), "--no-progress"];
        args.extend_from_slice(extra);
        tickflow_ok(&args)
    };
    let first = run(&[]);
    assert_eq!(read(&first), 12_477);
    assert!(first.contains("offsets committed"), "{first}");
    // more trades arrive; resuming reads only those
    let gen = dir.path().join("gen.csv");
    tickflow_ok(&["generate", "--out", gen.to_str().unwrap(), "--trades", "5000", "--symbols", "BTC/USDT,ETH/USDT", "--seed", "5"]);
    tickflow_ok(&["publish", "-i", gen.to_str().unwrap(), "--topic", "g.trades", "--brokers", &brokers]);
    assert_eq!(read(&run(&["--resume"])), 5000, "only what came after the committed offsets");
    assert_eq!(read(&run(&["--resume"])), 0, "nothing new");
    assert_eq!(read(&run(&[])), 17_477, "without --resume the topic is read from the beginning");
}

#[test]
fn a_backtest_publishes_its_orders_fills_and_equity() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    for t in ["b.orders", "b.fills", "b.equity"] {
        cluster.create_topic(t, 1, 1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bt");
    // (the reference configuration: its cash and sizer are also the defaults)
    let stdout = common::orcl_sma_backtest(&["--out-dir", out.to_str().unwrap(), "--publish", "--brokers", &brokers, "--namespace", "b"]);
    assert!(stdout.contains("published "), "{stdout}");
    let rows = |f: &str| std::fs::read_to_string(out.join(f)).unwrap().lines().count() - 1;
    let (orders, fills, equity) = (read_all(&brokers, "b.orders", 1), read_all(&brokers, "b.fills", 1), read_all(&brokers, "b.equity", 1));
    assert_eq!((orders.len(), fills.len(), equity.len()), (rows("orders.csv"), rows("fills.csv"), rows("equity.csv")));
    assert!(orders.len() > 10);
    let o: serde_json::Value = serde_json::from_str(&orders[0].1).unwrap();
    assert_eq!((o["v"].as_u64(), o["run"].as_str()), (Some(1), Some("sma_cross fast=10 slow=30")));
    assert_eq!(orders[0].0, "sma_cross fast=10 slow=30:1");
    assert!(fills.iter().all(|r| r.2.iter().any(|(k, v)| k == "schema" && v == "tickflow.fill.v1")));
}

#[test]
fn late_trades_go_to_the_late_topic() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("l.trades", 2, 1).unwrap();
    cluster.create_topic("l.late", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join("late.csv");
    tickflow_ok(&["generate", "--out", gen.to_str().unwrap(), "--trades", "20000", "--late-per-mille", "20", "--max-delay", "30s", "--seed", "8"]);
    tickflow_ok(&["publish", "-i", gen.to_str().unwrap(), "--topic", "l.trades", "--brokers", &brokers]);
    let o = dir.path().join("bars.csv");
    let stdout = tickflow_ok(&[
        "aggregate",
        "--kafka-topic",
        "l.trades",
        "--brokers",
        &brokers,
        "--late-topic",
        "l.late",
        "--late",
        "revise",
        "--out",
        o.to_str().unwrap(),
        "--no-progress",
    ]);
    let late: usize = stdout.lines().find(|l| l.starts_with("late trades")).and_then(|l| l.split_whitespace().nth(2)).unwrap().parse().unwrap();
    assert!(late > 50, "{stdout}");
    let records = read_all(&brokers, "l.late", 1);
    assert_eq!(records.len(), late, "every late trade is published");
    let r: serde_json::Value = serde_json::from_str(&records[0].1).unwrap();
    assert_eq!(r["v"], 1);
    assert!(["revised", "too_late", "dropped"].contains(&r["disposition"].as_str().unwrap()), "{r}");
}

#[test]
fn a_backtest_on_a_topic_equals_the_backtest_on_the_file() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("s.trades", 3, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = freqtrade_csv(dir.path());
    tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "s.trades", "--brokers", &brokers]);
    let strategy = ["--timeframe", "5m", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--commission", "0.001"];
    let by_file = dir.path().join("file");
    let mut args = vec!["backtest", "--trades", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--out-dir", by_file.to_str().unwrap()];
    args.extend(strategy);
    tickflow_ok(&args);
    let by_topic = dir.path().join("topic");
    let mut args = vec!["backtest", "--kafka-topic", "s.trades", "--brokers", &brokers, "-w", "2", "--out-dir", by_topic.to_str().unwrap()];
    args.extend(strategy);
    tickflow_ok(&args);
    for f in ["orders.csv", "fills.csv", "trades.csv", "equity.csv", "summary.json"] {
        let want = std::fs::read_to_string(by_file.join(f)).unwrap();
        assert_eq!(std::fs::read_to_string(by_topic.join(f)).unwrap(), want, "{f}");
        assert!(want.lines().count() > 2, "{f}");
    }
}

#[test]
fn paper_trading_on_a_replay_equals_the_file_run_at_any_speed_and_publishes_its_fills() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("p.trades", 3, 1).unwrap();
    for t in ["p.orders", "p.fills", "p.equity"] {
        cluster.create_topic(t, 1, 1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let real = freqtrade_csv(dir.path());
    tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "p.trades", "--brokers", &brokers]);
    let strategy = ["--timeframes", "1m", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--commission", "0.001", "--no-progress"];
    let by_file = dir.path().join("file.jsonl");
    let mut args = vec!["aggregate", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--out"];
    let file_bars = dir.path().join("file-bars.csv");
    args.extend([file_bars.to_str().unwrap(), "--events-out", by_file.to_str().unwrap()]);
    args.extend(strategy);
    tickflow_ok(&args);
    let want = std::fs::read_to_string(&by_file).unwrap();
    let fills = want.lines().filter(|l| l.starts_with("{\"Fill\"")).count();
    assert!(fills > 5, "the strategy trades ({fills} fills)");
    for (speed, workers, publish) in [("max", "1", false), ("2000000x", "2", true)] {
        let ev = dir.path().join(format!("replay-{speed}.jsonl"));
        let bars = dir.path().join(format!("replay-{speed}.csv"));
        let mut args = vec!["replay", "--kafka-topic", "p.trades", "--brokers", &brokers, "--namespace", "p", "--speed", speed, "-w", workers, "--out"];
        args.extend([bars.to_str().unwrap(), "--events-out", ev.to_str().unwrap()]);
        args.extend(strategy);
        if publish {
            args.push("--publish");
        }
        tickflow_ok(&args);
        assert_eq!(std::fs::read_to_string(&ev).unwrap(), want, "replay at {speed} with {workers} worker(s)");
    }
    let published = read_all(&brokers, "p.fills", 1);
    assert_eq!(published.len(), fills);
    assert!(published.iter().all(|r| r.0.starts_with("sma_cross fast=5 slow=20:")));
}

/// #14 items 1, 3, 5 and 7 on the Kafka path: a record stamped in 2100 published *before* the
/// real tape (it made every later trade `too_late`), zero and negative amounts, an event time
/// past i64, and a 600 KB bad decimal (its echoed reason made the dead-letter write fail with
/// `MessageSizeTooLarge`, exit 1, on every resume). All are dead letters with clipped reasons;
/// the run exits 0 and its bars equal the clean file's.
#[test]
fn hostile_records_are_dead_letters_and_the_bars_equal_the_clean_run() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("h.trades", 1, 1).unwrap();
    cluster.create_topic("h.dlq", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = freqtrade_csv(dir.path());
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &brokers).set("message.max.bytes", "2000000").create().unwrap();
    let good =
        r#"{"v":1,"exchange":"binance","symbol":"XRP/ETH","trade_id":1,"ts":1570752011620000000,"ingest_ts":0,"price":"0.0014","amount":"1","side":"buy"}"#;
    let huge = "9".repeat(600_000);
    let hostile = [
        good.replace("1570752011620000000", "4102444800000000000"),
        good.replace(r#""amount":"1""#, r#""amount":"0""#),
        good.replace(r#""amount":"1""#, r#""amount":"-1""#),
        good.replace("1570752011620000000", "99999999999999999999"),
        good.replace(r#""price":"0.0014""#, &format!(r#""price":"{huge}""#)),
    ];
    for bad in &hostile {
        p.send(BaseRecord::to("h.trades").key("binance:XRP/ETH").payload(bad.as_str())).unwrap();
    }
    p.flush(Duration::from_secs(5)).unwrap();
    tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "h.trades", "--brokers", &brokers]);
    let flags = ["--timeframes", "1m,5m", "--fill", "carry", "--no-progress"];
    let clean = dir.path().join("clean.csv");
    tickflow_ok(
        &[&["aggregate", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--out", clean.to_str().unwrap()][..], &flags].concat(),
    );
    let o = dir.path().join("bars.csv");
    let stdout = tickflow_ok(
        &[&["aggregate", "--kafka-topic", "h.trades", "--brokers", &brokers, "--dlq-topic", "h.dlq", "--out", o.to_str().unwrap()][..], &flags].concat(),
    );
    assert!(stdout.lines().any(|l| l.starts_with("bad rows skipped") && l.trim_end().ends_with(" 5")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("late trades") && l.contains(" 0 ")), "no trade was made late: {stdout}");
    assert_eq!(std::fs::read_to_string(&o).unwrap(), std::fs::read_to_string(&clean).unwrap(), "bars equal the clean run's");
    let dlq = read_all(&brokers, "h.dlq", 1);
    assert_eq!(dlq.len(), 5);
    let header = |r: &common::Record, k: &str| r.2.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let reasons: Vec<String> = dlq.iter().map(|r| header(r, "reason").unwrap_or_default()).collect();
    for (want, got) in ["--max-future", "amount must be positive", "amount must be positive", "expected i64", "too many digits"].iter().zip(&reasons) {
        assert!(got.contains(want), "{want}: {got}");
    }
    assert!(reasons.iter().all(|r| r.len() <= 600), "reasons are clipped: {:?}", reasons.iter().map(String::len).collect::<Vec<_>>());
    // the 600 KB record is referenced (origin + size), not copied; the others are kept verbatim
    assert_eq!(dlq[4].1, "");
    assert_eq!(header(&dlq[4], "omitted_bytes"), Some(hostile[4].len().to_string()));
    assert_eq!(dlq[0].1, hostile[0]);
    assert_eq!(header(&dlq[4], "origin").as_deref(), Some("h.trades/0@4"));
}

/// #14 item 9: a following job advanced an idle partition's watermark by the wall clock while
/// the broker was stalled (a 20 s SIGSTOP made 100 of 449 trades `too_late`). A partition is
/// "caught up" — the only state in which the clock may move its watermark — only while the
/// broker answers and the position is at its end.
#[test]
fn an_unreachable_broker_is_not_caught_up() {
    use tickflow_connectors::kafka::{KafkaConfig, PartitionReader, StartAt, StopAt};
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("s.trades", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = freqtrade_csv(dir.path());
    tickflow_ok(&["publish", "-i", real.to_str().unwrap(), "--symbol", "XRP/ETH", "--exchange", "binance", "--topic", "s.trades", "--brokers", &brokers]);
    let cfg = KafkaConfig { brokers: brokers.clone(), extra: Vec::new() };
    let mut r = PartitionReader::open(&cfg, "s.trades", 0, StartAt::Beginning, StopAt::Follow, None, None).unwrap();
    let mut rows = tickflow_model::TradeRows::default();
    let wait = |r: &mut PartitionReader, rows: &mut tickflow_model::TradeRows, want: bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while r.caught_up() != want {
            assert!(std::time::Instant::now() < deadline, "caught_up never became {want}");
            let _ = r.poll(rows, 10_000);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(!r.caught_up(), "12,477 records behind");
    wait(&mut r, &mut rows, true);
    assert_eq!(rows.len(), 12_477);
    cluster.broker_down(1).unwrap();
    wait(&mut r, &mut rows, false);
    // the outage costs the worker nothing: the broker is asked on a background thread (the
    // worker waited up to 250 ms a second per idle partition, and 1 s every 5 s for the lag)
    let (start, mut worst) = (std::time::Instant::now(), Duration::ZERO);
    while start.elapsed() < Duration::from_secs(6) {
        let t = std::time::Instant::now();
        assert!(!r.caught_up());
        let _ = r.lag();
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(worst < Duration::from_millis(100), "a call waited {worst:?} on the unreachable broker");
    cluster.broker_up(1).unwrap();
    wait(&mut r, &mut rows, true);
}
