//! The QuestDB sink against a strict stand-in server (tables, types, timestamps, dedup) with
//! injected failures, and against a real QuestDB when `QDB_HTTP_ADDR` is set.

#[path = "support/qdb_server.rs"]
mod qdb_server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qdb_server::{Fault, QdbServer, Val};
use tickflow_connectors::questdb::{FlushPolicy, QuestDbConf, QuestDbSink, QuestDbStats, Table};
use tickflow_connectors::{TradeCsvOptions, TradeCsvReader};
use tickflow_model::{Bar, Decimal, Instrument, Notional, Timeframe, Trade, TradeRows, Ts};

fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// The freqtrade XRP/ETH tape (real Binance trades, PROVENANCE.md).
fn xrp_eth() -> Vec<Trade> {
    let path = shared_data().join("trades/freqtrade/XRP_ETH-trades.csv");
    let opts =
        TradeCsvOptions { default_symbol: Some("XRP/ETH".into()), exchange: "binance".into(), ingest_ts: Ts(1_700_000_000_000_000_000), ..Default::default() };
    let mut r = TradeCsvReader::open(path.to_str().unwrap(), opts).expect("shared data: XRP_ETH-trades.csv");
    let mut rows = TradeRows::default();
    let mut out = Vec::new();
    loop {
        rows.clear();
        let more = r.read_rows(&mut rows, 4096).unwrap();
        out.extend((0..rows.len()).map(|i| rows.get(i)));
        if !more {
            break;
        }
    }
    out
}

fn policy(max_rows: usize, max_outage: Duration) -> FlushPolicy {
    FlushPolicy { max_rows, max_outage, ..Default::default() }
}

fn connect(server: &QdbServer, extra: &str, p: FlushPolicy) -> (QuestDbSink, Arc<QuestDbStats>) {
    let stats = Arc::new(QuestDbStats::default());
    let conf = QuestDbConf::parse(&server.conf(extra)).unwrap();
    (QuestDbSink::connect(&conf, p, stats.clone()).unwrap(), stats)
}

/// Every trade is in `trades` once, with exact-as-double prices, its ids and both timestamps.
fn assert_trades_stored(server: &QdbServer, trades: &[Trade]) {
    let rows = server.rows("trades");
    let mut want: Vec<(i64, i64, f64, f64, String)> = trades
        .iter()
        .map(|t| {
            (
                t.ts.0,
                t.trade_id.unwrap() as i64,
                t.price.to_f64(),
                t.amount.to_f64(),
                if t.side == tickflow_model::Side::Buy { "buy".into() } else { "sell".into() },
            )
        })
        .collect();
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut got: Vec<(i64, i64, f64, f64, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["exchange"], Val::Sym("binance".into()));
            assert_eq!(r["symbol"], Val::Sym("XRP/ETH".into()));
            assert_eq!(r["ingest_ts"], Val::Ts(1_700_000_000_000_000_000 / 1000 * 1000));
            (
                r["ts"].as_i64().unwrap(),
                r["trade_id"].as_i64().unwrap(),
                r["price"].as_f64().unwrap(),
                r["amount"].as_f64().unwrap(),
                r["side"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got.len(), want.len(), "one row per trade");
    assert_eq!(got, want);
}

#[test]
fn tables_are_created_as_wal_day_partitioned_with_upsert_keys() {
    let server = QdbServer::start();
    let _ = connect(&server, "", FlushPolicy::default());
    let s = server.state.lock().unwrap();
    assert_eq!(s.tables.keys().cloned().collect::<Vec<_>>(), ["bars", "equity", "fills", "funding", "late_trades", "orders", "price_candles", "trades"]);
    assert_eq!(s.tables["price_candles"].keys, ["open_time", "exchange", "symbol", "timeframe", "price"]);
    let bars = &s.tables["bars"];
    assert_eq!((bars.designated.as_str(), bars.partition.as_str(), bars.wal), ("open_time", "DAY", true));
    // `seq` numbers information-driven bars (several may open on one nanosecond); 0 for time bars
    assert_eq!(bars.keys, ["open_time", "exchange", "symbol", "timeframe", "seq"]);
    assert_eq!(s.tables["trades"].keys, ["ts", "exchange", "symbol", "trade_id", "side", "price", "amount"]);
}

#[test]
fn a_real_tape_lands_once_per_trade_with_exact_values() {
    let trades = xrp_eth();
    assert!(trades.len() > 12_000);
    let server = QdbServer::start();
    let (mut sink, stats) = connect(&server, "", policy(5_000, Duration::from_secs(5)));
    for t in &trades {
        sink.trade(t).unwrap();
    }
    sink.flush().unwrap();
    assert_trades_stored(&server, &trades);
    assert_eq!(stats.rows[Table::Trades.index()].load(std::sync::atomic::Ordering::Relaxed), trades.len() as u64);
    // thresholds: 5 000 rows per request
    assert_eq!(server.state.lock().unwrap().writes, trades.len().div_ceil(5_000) as u64);
    // a second run over the same input adds nothing
    for t in &trades {
        sink.trade(t).unwrap();
    }
    sink.flush().unwrap();
    assert_trades_stored(&server, &trades);
}

fn bar(close: &str, revision: u32, trades: u64) -> Bar {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    Bar {
        instrument: Instrument::new("kraken", "XRP/ETH").unwrap(),
        kind: Default::default(),
        timeframe: "1m".parse::<Timeframe>().unwrap(),
        open_time: Ts(1_577_836_800_000_000_000),
        open: d("0.000334"),
        high: d("0.000340"),
        low: d("0.000330"),
        close: d(close),
        volume: d("1150"),
        quote_volume: "0.3841".parse::<Notional>().unwrap(),
        trades,
        buy_volume: d("1150"),
        sell_volume: Decimal::ZERO,
        first_trade_id: Some(7),
        last_trade_id: None,
        revision,
        seq: 0,
    }
}

#[test]
fn a_revision_overwrites_its_bar() {
    let server = QdbServer::start();
    let (mut sink, _) = connect(&server, "", FlushPolicy::default());
    sink.bar(&bar("0.000334", 0, 2)).unwrap();
    sink.flush().unwrap();
    sink.bar(&bar("0.000335", 1, 3)).unwrap();
    sink.flush().unwrap();
    let rows = server.rows("bars");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r["revision"].clone(), r["trades"].clone(), r["close"].clone()), (Val::I64(1), Val::I64(3), Val::F64(0.000335)));
    assert_eq!((r["timeframe"].clone(), r["open_time"].clone()), (Val::Sym("1m".into()), Val::Ts(1_577_836_800_000_000_000)));
    assert!(!r.contains_key("last_trade_id"), "None is NULL (the column is left out)");
}

#[test]
fn injected_failures_lose_nothing_and_duplicate_nothing() {
    let trades = xrp_eth();
    let server = QdbServer::start();
    // the client's own retries are short so the sink's retry loop is exercised too
    let (mut sink, stats) = connect(&server, "retry_timeout=300;request_timeout=1000;", policy(2_000, Duration::from_secs(60)));
    server.inject([
        Fault::Status(500),
        Fault::Status(503),
        Fault::ResetBefore,
        Fault::ResetAfter, // applied, then the answer is lost: the resend must not duplicate
        Fault::Stall(Duration::from_millis(1500)),
        Fault::Status(500),
        Fault::ResetAfter,
    ]);
    for t in &trades {
        sink.trade(t).unwrap();
    }
    sink.flush().unwrap();
    assert_trades_stored(&server, &trades);
    let s = server.state.lock().unwrap();
    assert!(s.faults.is_empty(), "every fault was hit");
    assert!(s.lines_applied > trades.len() as u64, "some batches really were sent twice ({} lines for {} trades)", s.lines_applied, trades.len());
    assert!(stats.flush_errors.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

#[test]
fn a_30_second_outage_blocks_the_sink_and_loses_nothing() {
    let trades = xrp_eth();
    let server = QdbServer::start();
    let (mut sink, stats) = connect(&server, "retry_timeout=1000;request_timeout=2000;", policy(4_000, Duration::from_secs(120)));
    let half = trades.len() / 2;
    for t in &trades[..half] {
        sink.trade(t).unwrap();
    }
    sink.flush().unwrap();
    server.outage(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    for t in &trades[half..] {
        sink.trade(t).unwrap(); // blocks inside the first threshold flush until QuestDB is back
    }
    sink.flush().unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(29), "the sink waited out the outage ({:?})", t0.elapsed());
    assert!(stats.flush_errors.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    assert_trades_stored(&server, &trades);
}

#[test]
fn errors_that_retrying_cannot_fix_surface() {
    // wrong credentials: not retried
    let server = QdbServer::start();
    let (mut sink, _) = connect(&server, "username=u;password=p;", FlushPolicy::default());
    server.state.lock().unwrap().auth = Some("Basic other".into());
    sink.trade(&xrp_eth()[0]).unwrap();
    let t0 = Instant::now();
    let e = sink.flush().unwrap_err().to_string();
    assert!(e.contains("authentication"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    // an outage longer than the limit: an error, the rows still buffered
    let server = QdbServer::start();
    let (mut sink, _) = connect(&server, "retry_timeout=100;", policy(1_000_000, Duration::from_secs(1)));
    server.inject(std::iter::repeat_n(Fault::Status(500), 1000));
    sink.trade(&xrp_eth()[0]).unwrap();
    assert!(sink.flush().is_err());
    assert_eq!(sink.buffered_rows(), 1, "nothing dropped");
}

/// #14 item 8: a batch QuestDB rejects (400, invalid content) was retried as transient for up
/// to `max_outage` and then failed without committing, so every restart looped on the same
/// rows. Now the batch is split until the refused rows stand alone: they are dead-lettered and
/// counted, every other row is stored, and the flush succeeds at once.
#[test]
fn a_rejected_batch_is_split_and_only_the_refused_rows_are_dead_lettered() {
    let server = QdbServer::start();
    let (mut sink, stats) = connect(&server, "", policy(1_000_000, Duration::from_secs(30)));
    let trades = xrp_eth();
    // two rows QuestDB cannot store (in the stand-in: any batch holding these trade ids)
    let bad = [trades[100].trade_id.unwrap(), trades[9_000].trade_id.unwrap()];
    for id in bad {
        server.poison(&format!("trade_id={id}i"));
    }
    for t in &trades {
        sink.trade(t).unwrap();
    }
    let t0 = Instant::now();
    sink.flush().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "no retrying until the outage limit ({:?})", t0.elapsed());
    let r = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(stats.rejected_rows.load(r), 2);
    assert_eq!(stats.rows[Table::Trades.index()].load(r), trades.len() as u64 - 2);
    assert_eq!(sink.buffered_rows(), 0);
    let good: Vec<Trade> = trades.iter().filter(|t| !bad.contains(&t.trade_id.unwrap())).copied().collect();
    assert_trades_stored(&server, &good);
    // ~2·log2(12477) requests, not one per row
    assert!(server.state.lock().unwrap().writes < 100, "{}", server.state.lock().unwrap().writes);
}

/// An outage while a rejected batch is being split loses nothing: the rows not yet stored (or
/// refused) go back into the buffer, in order, and the flush reports the error.
#[test]
fn an_outage_while_isolating_keeps_every_unsent_row_buffered() {
    let server = QdbServer::start();
    let (mut sink, stats) = connect(&server, "retry_timeout=100;", policy(1_000_000, Duration::from_millis(500)));
    let trades = &xrp_eth()[..1000];
    server.poison(&format!("trade_id={}i", trades[10].trade_id.unwrap()));
    // every write that is not rejected for the poisoned row fails with 500
    server.inject(std::iter::repeat_n(Fault::Status(500), 10_000));
    for t in trades {
        sink.trade(t).unwrap();
    }
    assert!(sink.flush().is_err());
    let r = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(stats.rows[Table::Trades.index()].load(r), 0);
    assert_eq!(sink.buffered_rows() as u64 + stats.rejected_rows.load(r), 1000, "every row is buffered or refused");
    // once QuestDB is back (and the poisoned row refused), the same sink stores the rest
    server.state.lock().unwrap().faults.clear();
    sink.flush().unwrap();
    assert_eq!(stats.rows[Table::Trades.index()].load(r), 999);
    assert_eq!(stats.rejected_rows.load(r), 1);
}

/// Against a real QuestDB (`QDB_HTTP_ADDR=host:9000`, optional `QDB_USER`/`QDB_PASSWORD`): two
/// runs over the same tape leave one row per trade, and a revision overwrites its bar.
#[test]
fn real_questdb_dedups_replays_and_revisions() {
    let Some(conf) = qdb_server::real_questdb_conf() else { return };
    let conf = QuestDbConf::parse(&conf).unwrap();
    let prefix = format!("tftest_{}_", std::process::id());
    let p = FlushPolicy { table_prefix: prefix.clone(), ..Default::default() };
    let trades = xrp_eth();
    let mut sink = QuestDbSink::connect(&conf, p, Arc::new(QuestDbStats::default())).unwrap();
    for _ in 0..2 {
        for t in &trades {
            sink.trade(t).unwrap();
        }
        sink.bar(&bar("0.000334", 0, 2)).unwrap();
        sink.bar(&bar("0.000335", 1, 3)).unwrap();
        sink.flush().unwrap();
    }
    let q = |sql: &str| -> serde_json::Value {
        // WAL tables apply asynchronously: poll until the count settles
        serde_json::from_str(&tickflow_connectors::questdb::exec(&conf, sql, Duration::from_secs(10)).unwrap()).unwrap()
    };
    let mut n = 0;
    for _ in 0..100 {
        n = q(&format!("SELECT count() FROM {prefix}trades"))["dataset"][0][0].as_i64().unwrap_or(0);
        if n == trades.len() as i64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(n, trades.len() as i64, "one row per trade after two runs");
    let b = q(&format!("SELECT revision, trades, close FROM {prefix}bars"));
    assert_eq!(b["dataset"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["dataset"][0][0].as_i64(), Some(1));
    for t in Table::ALL {
        q(&format!("DROP TABLE IF EXISTS {prefix}{}", t.base_name()));
    }
}
