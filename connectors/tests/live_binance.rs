//! The live Binance connector against local servers replaying real aggTrade payloads (freqtrade's
//! recording of 12,477 Binance XRP/ETH aggregate trades): a dropped connection, a stalled feed and
//! an overlapping resend — every trade must come out exactly once, in order.

mod common;
#[path = "support/http_stub.rs"]
mod http_stub;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::freqtrade_agg_trades;
use tickflow_connectors::http::RetryPolicy;
use tickflow_connectors::live::{run, run_observed, LiveConfig, LiveEvent, LiveStats};
use tickflow_model::Trade;

/// REST: `/api/v3/aggTrades?symbol=XRPETH&fromId=N&limit=L`.
fn rest_server(trades: Arc<Vec<serde_json::Value>>, hits: Arc<AtomicUsize>, happened: Arc<AtomicUsize>) -> String {
    http_stub::serve(move |req, stream| {
        hits.fetch_add(1, Ordering::SeqCst);
        let q = |k: &str| req.param(k).and_then(|v| v.parse::<u64>().ok());
        let (from, limit) = (q("fromId").unwrap_or(0), q("limit").unwrap_or(500).min(1000) as usize);
        // only trades that have already happened on the "exchange"
        let upto = happened.load(Ordering::SeqCst);
        let page: Vec<&serde_json::Value> = trades[..upto].iter().filter(|t| t["a"].as_u64().unwrap() >= from).take(limit).collect();
        http_stub::respond_json(stream, "200 OK", &serde_json::to_string(&page).unwrap());
    })
}

/// WebSocket: connection 1 sends trades [0, 3000) and drops; connection 2 sends [3500, 6000)
/// (500 missed) and then stalls; connection 3 sends [5800, end) (200 resent).
fn ws_server(trades: Arc<Vec<serde_json::Value>>, done: Arc<AtomicBool>, happened: Arc<AtomicUsize>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let n = trades.len();
        let plan = [(0usize, 3000usize, "drop"), (3500, 6000, "stall"), (5800, n, "stay")];
        for (conn, stream) in l.incoming().flatten().enumerate() {
            let Some(&(from, to, then)) = plan.get(conn) else { break };
            let mut ws = match tungstenite::accept(stream) {
                Ok(ws) => ws,
                Err(_) => continue,
            };
            // the trades skipped between connections happened meanwhile
            happened.fetch_max(from, Ordering::SeqCst);
            for (i, t) in trades[from..to].iter().enumerate() {
                happened.fetch_max(from + i + 1, Ordering::SeqCst);
                let mut data = t.clone();
                data["e"] = "aggTrade".into();
                data["s"] = "XRPETH".into();
                data["E"] = t["T"].clone();
                let msg = serde_json::json!({"stream": "xrpeth@aggTrade", "data": data}).to_string();
                if ws.send(tungstenite::Message::Text(msg)).is_err() {
                    break;
                }
            }
            let _ = ws.flush();
            match then {
                "drop" => drop(ws), // abrupt: no close frame
                "stall" => {
                    // keep the socket open and silent well past the client's stale timeout
                    std::thread::sleep(Duration::from_millis(1500));
                    drop(ws);
                }
                _ => {
                    while !done.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    break;
                }
            }
        }
    });
    url
}

/// A Binance XRP/ETH session against local servers.
fn config(ws_url: String, rest_url: String, stale_after: Duration) -> LiveConfig {
    LiveConfig {
        retry: RetryPolicy { base: Duration::from_millis(10), cap: Duration::from_millis(50), max_retries: 5, seed: 9 },
        ws_url,
        rest_url,
        stale_after,
        ..LiveConfig::for_venue("binance", vec!["XRP/ETH".into()]).unwrap()
    }
}

#[test]
fn reconnects_gap_fills_and_delivers_every_trade_once_in_order() {
    let trades = Arc::new(freqtrade_agg_trades());
    assert_eq!(trades.len(), 12_477);
    let (hits, done, happened) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let rest = rest_server(trades.clone(), hits.clone(), happened.clone());
    let ws = ws_server(trades.clone(), done.clone(), happened.clone());
    let cfg = config(ws, rest, Duration::from_millis(300));
    let last_id = trades.last().unwrap()["a"].as_u64().unwrap();
    let mut got = Vec::new();
    let stop = AtomicBool::new(false);
    let stats = run(&cfg, &stop, |t| {
        let id = t.trade_id.unwrap();
        got.push(t);
        id < last_id
    })
    .unwrap();
    done.store(true, Ordering::SeqCst);
    let ids: Vec<u64> = got.iter().map(|t| t.trade_id.unwrap()).collect();
    let want: Vec<u64> = trades.iter().map(|t| t["a"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), want.len(), "{stats:?}");
    assert_eq!(ids, want, "every trade exactly once, in order");
    assert_eq!(stats.connects, 3, "{stats:?}");
    assert!(stats.stale >= 1, "the stalled feed was detected: {stats:?}");
    // at least the 500 trades missed between connections came from REST (more if REST ran
    // ahead of the resumed stream), and whatever arrived twice was dropped
    assert!(stats.gap_filled >= 500, "{stats:?}");
    assert!(stats.duplicates >= 200, "the overlapping resend was dropped: {stats:?}");
    assert!(hits.load(Ordering::SeqCst) >= 1);
    // prices and sides are the payload's (m = buyer is maker → taker sell)
    assert_eq!(got[0].price.to_string(), "0.00141342");
    assert_eq!(got[0].side, tickflow_model::Side::Sell);
}

/// Serves `frames` on one WebSocket connection, then stays open until `done`.
/// A session over `frames` on the WebSocket and `trades` as the REST history: its config, the
/// REST hit counter, the flag that lets the WebSocket server finish, and the last trade id.
fn replaying(trades: &Arc<Vec<serde_json::Value>>, frames: Vec<String>) -> (LiveConfig, Arc<AtomicUsize>, Arc<AtomicBool>, u64) {
    let done = Arc::new(AtomicBool::new(false));
    let (hits, happened) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(trades.len())));
    let rest = rest_server(trades.clone(), hits.clone(), happened);
    let cfg = config(ws_frames(frames, done.clone()), rest, Duration::from_secs(5));
    (cfg, hits, done, trades.last().unwrap()["a"].as_u64().unwrap())
}

/// Runs the session until the trade with `last_id` is delivered, then lets the WebSocket server
/// finish (`done`): the stats, the trades delivered and every event observed, in order.
fn run_to(cfg: &LiveConfig, last_id: u64, done: &AtomicBool) -> (LiveStats, Vec<Trade>, Vec<LiveEvent>) {
    let (mut got, mut events) = (Vec::new(), Vec::new());
    let stop = AtomicBool::new(false);
    let stats = run_observed(
        cfg,
        &stop,
        |t| {
            let id = t.trade_id.unwrap();
            got.push(t);
            id < last_id
        },
        |e| events.push(e),
    )
    .unwrap();
    done.store(true, Ordering::SeqCst);
    (stats, got, events)
}

fn ws_frames(frames: Vec<String>, done: Arc<AtomicBool>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let Some(stream) = l.incoming().flatten().next() else { return };
        let Ok(mut ws) = tungstenite::accept(stream) else { return };
        for f in frames {
            if ws.send(tungstenite::Message::Text(f)).is_err() {
                return;
            }
        }
        let _ = ws.flush();
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    url
}

fn frame(t: &serde_json::Value) -> String {
    let mut data = t.clone();
    data["e"] = "aggTrade".into();
    data["s"] = "XRPETH".into();
    data["E"] = t["T"].clone();
    serde_json::json!({"stream": "xrpeth@aggTrade", "data": data}).to_string()
}

/// #14 items 1, 3 and 4: hostile frames among 200 recorded trades — price 0 and negative,
/// negative and zero amounts, a time in 2100, a time that overflows nanoseconds, and bogus ids
/// (10¹⁵ and u64::MAX) that made every later genuine trade a "duplicate". Each hostile frame
/// carries the id of the next genuine trade. Every genuine trade comes out once, in order; each
/// hostile one is refused and counted in exactly one counter; no REST fill is triggered.
#[test]
fn hostile_frames_are_refused_and_counted_and_the_stream_goes_on() {
    let trades = Arc::new(freqtrade_agg_trades()[..200].to_vec());
    let next = trades[100].clone();
    let with = |k: &str, v: serde_json::Value| {
        let mut t = next.clone();
        t[k] = v;
        frame(&t)
    };
    let hostile = vec![
        with("p", "0".into()),
        with("p", "-0.00141342".into()),
        with("q", "-5".into()),
        with("q", "0".into()),
        with("T", 4_102_444_800_000i64.into()),     // year 2100
        with("a", 1_000_000_000_000_000u64.into()), // id jump
        with("a", u64::MAX.into()),                 // id jump at the end of the range
        with("T", 9_223_372_036_854_775i64.into()), // ms overflowing i64 ns: a bad frame
    ];
    let mut frames: Vec<String> = trades[..100].iter().map(frame).collect();
    frames.extend(hostile);
    frames.extend(trades[100..].iter().map(frame));
    let (cfg, hits, done, last_id) = replaying(&trades, frames);
    let (stats, got, events) = run_to(&cfg, last_id, &done);
    let refused: Vec<(Option<u64>, String)> = events
        .into_iter()
        .filter_map(|e| match e {
            LiveEvent::Rejected(t, why) => Some((t.trade_id, why)),
            _ => None,
        })
        .collect();
    let ids: Vec<u64> = got.iter().map(|t| t.trade_id.unwrap()).collect();
    let want: Vec<u64> = trades.iter().map(|t| t["a"].as_u64().unwrap()).collect();
    assert_eq!(ids, want, "every genuine trade once, in order: {stats:?}");
    assert_eq!((stats.rejected, stats.id_jumps, stats.bad_frames, stats.duplicates), (7, 2, 1, 0), "{stats:?}");
    assert_eq!(refused.len(), 7);
    for (want, (_, why)) in ["price", "price", "amount", "amount", "--max-future", "implausibly far", "implausibly far"].iter().zip(&refused) {
        assert!(why.contains(want), "{want}: {why}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a bogus id must not trigger a REST gap fill");
    assert!(got.iter().all(|t| t.price.mantissa() > 0 && t.amount.mantissa() > 0));
}

/// A genuine trade the venue itself sent with a bad value (price 0, on its own id, also in its
/// REST history) is refused once and takes its place in the id sequence: the next id is no
/// hole, so no REST fill runs, no second dead letter comes from the history, and no false gap
/// is reported. (Before, its id stayed unseen: the next trade opened a "hole", the fill refused
/// the same trade again and reported a gap that was not there.)
#[test]
fn a_refused_trade_takes_its_place_in_the_id_sequence() {
    let mut trades = freqtrade_agg_trades()[..200].to_vec();
    trades[100]["p"] = "0".into();
    let bad_id = trades[100]["a"].as_u64().unwrap();
    let trades = Arc::new(trades);
    let frames: Vec<String> = trades.iter().map(frame).collect();
    let (cfg, hits, done, last_id) = replaying(&trades, frames);
    let (stats, got, events) = run_to(&cfg, last_id, &done);
    let got: Vec<u64> = got.iter().map(|t| t.trade_id.unwrap()).collect();
    let refused: Vec<Option<u64>> = events.iter().filter_map(|e| if let LiveEvent::Rejected(t, _) = e { Some(t.trade_id) } else { None }).collect();
    let gaps = events.iter().filter(|e| matches!(e, LiveEvent::Gap(_))).count();
    let want: Vec<u64> = trades.iter().map(|t| t["a"].as_u64().unwrap()).filter(|id| *id != bad_id).collect();
    assert_eq!(got, want, "every other trade once, in order: {stats:?}");
    assert_eq!(refused, vec![Some(bad_id)], "refused exactly once: {stats:?}");
    assert_eq!((stats.rejected, stats.gaps_unfilled, gaps), (1, 0, 0), "{stats:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no hole, no REST fill");
}

/// #14 item 10: a peer that accepts TCP and never answers the WebSocket handshake hung the
/// session (75 s+, no log). Every network step now has a timeout: the attempt fails, is
/// retried with backoff, and the session stops when asked.
#[test]
fn a_peer_that_never_answers_the_handshake_is_retried_not_waited_on() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new(); // open and silent
        for c in l.incoming().flatten() {
            a.fetch_add(1, Ordering::SeqCst);
            held.push(c);
        }
    });
    let mut cfg = config(url, "http://127.0.0.1:9".into(), Duration::from_millis(200));
    cfg.connect_timeout = Duration::from_millis(200);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // stop once the session has given up on the silent peer at least twice
            while accepted.load(Ordering::SeqCst) < 3 {
                std::thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::SeqCst);
        });
        let stats = run(&cfg, &stop, |_| true).unwrap();
        assert_eq!(stats.connects, 0, "{stats:?}");
    });
    assert!(accepted.load(Ordering::SeqCst) >= 3);
}

/// #15 item 4: several sessions in one job. Session 0 streams 400 recorded trades; session 1's
/// venue cannot be reached at first, and when it can, its REST history refuses the gap fill
/// (HTTP 400) so the session gives up — it is reported and restarted, and session 0's trades
/// all arrive exactly once, in order, meanwhile.
#[test]
fn one_failing_venue_is_restarted_while_the_others_deliver_every_trade_once() {
    use tickflow_connectors::live::{run_many, VenueNote};
    let trades = Arc::new(freqtrade_agg_trades());
    let done = Arc::new(AtomicBool::new(false));
    let good = config(ws_frames(trades[..400].iter().map(frame).collect(), done.clone()), "http://127.0.0.1:9".into(), Duration::from_secs(30));
    // the failing venue: its WebSocket answers, its REST refuses every gap fill
    let refusing = http_stub::serve(|_, s| http_stub::respond_json(s, "400 Bad Request", r#"{"code":-1100,"msg":"Illegal characters found in parameter"}"#));
    let ws_bad = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}", l.local_addr().unwrap());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let ws = tungstenite::accept(s);
                    std::thread::sleep(Duration::from_secs(2));
                    drop(ws);
                });
            }
        });
        url
    };
    let mut bad = config(ws_bad, refusing, Duration::from_secs(30));
    bad.resume_after.insert("XRP/ETH".into(), tickflow_connectors::history::After { id: trades[10]["a"].as_u64().unwrap(), ts: tickflow_model::Ts(0) });
    let stop = Arc::new(AtomicBool::new(false));
    let (mut got, mut failed) = (Vec::new(), Vec::new());
    let reports = run_many(
        vec![good, bad],
        stop,
        16, // a small channel: sessions block rather than buffer
        Duration::from_millis(100),
        |t| {
            got.push(t.trade_id.unwrap());
            got.len() < 400
        },
        |i, venue, note| {
            if let VenueNote::Failed(why, _) = note {
                failed.push((i, venue.to_string(), why));
            }
        },
    );
    done.store(true, Ordering::SeqCst);
    let want: Vec<u64> = trades[..400].iter().map(|t| t["a"].as_u64().unwrap()).collect();
    assert_eq!(got, want, "the working session's trades, each once, in order");
    assert_eq!(reports.len(), 2);
    assert!(reports[1].restarts >= 1 && failed.iter().all(|(i, v, _)| *i == 1 && v == "binance"), "{reports:?} {failed:?}");
    assert!(failed[0].2.contains("400"), "{failed:?}");
    assert_eq!((reports[0].restarts, reports[0].stats.connects), (0, 1));
}

/// #15: futures markets stream from their own base with the spot layout — USDⓈ-M perpetuals
/// and quarterlies from `fstream`, COIN-M from `dstream` — labelled with the unified symbol (a
/// USDⓈ-M perpetual's frames name the spot pair; the others their contract), and a hole is filled
/// from `/fapi` or `/dapi` with the contract id (the server answers no other path or id).
#[test]
fn futures_stream_labelled_by_their_market_and_fill_from_their_api() {
    use tickflow_connectors::venues::{binance::Binance, LiveProtocol, Market};
    for (symbol, id, rest_path, ws) in [
        ("BTC/USDT:USDT", "BTCUSDT", "/fapi/v1/aggTrades", "wss://fstream.binance.com"),
        ("BTC/USD:BTC", "BTCUSD_PERP", "/dapi/v1/aggTrades", "wss://dstream.binance.com"),
        ("BTC/USDT:USDT-251226", "BTCUSDT_251226", "/fapi/v1/aggTrades", "wss://fstream.binance.com"),
        ("BTC/USD:BTC-251226", "BTCUSD_251226", "/dapi/v1/aggTrades", "wss://dstream.binance.com"),
    ] {
        let trades = Arc::new(freqtrade_agg_trades()[..300].to_vec());
        let stream = format!("{}@aggTrade", id.to_ascii_lowercase());
        // the frames name the venue's id; trades 100..150 are missing from the stream (a hole)
        let frames: Vec<String> = trades
            .iter()
            .enumerate()
            .filter(|(i, _)| !(100..150).contains(i))
            .map(|(_, t)| frame(t).replace("xrpeth@aggTrade", &stream).replace("\"XRPETH\"", &format!("\"{id}\"")))
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        let api_hits = Arc::new(AtomicUsize::new(0));
        let (t2, h2, want_target) = (trades.clone(), api_hits.clone(), format!("{rest_path}?symbol={id}&"));
        let rest = http_stub::serve(move |req, s| {
            // only the market's own path and contract id
            if !req.target.starts_with(&want_target) {
                return http_stub::respond_json(s, "400 Bad Request", r#"{"code":-1121,"msg":"Invalid symbol."}"#);
            }
            h2.fetch_add(1, Ordering::SeqCst);
            let from = req.param("fromId").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let page: Vec<&serde_json::Value> = t2.iter().filter(|t| t["a"].as_u64().unwrap() >= from).take(1000).collect();
            http_stub::respond_json(s, "200 OK", &serde_json::to_string(&page).unwrap());
        });
        let cfg = LiveConfig { symbols: vec![symbol.into()], ..config(ws_frames(frames, done.clone()), rest, Duration::from_secs(5)) };
        let last = trades.last().unwrap()["a"].as_u64().unwrap();
        let (stats, got, _) = run_to(&cfg, last, &done);
        let want: Vec<u64> = trades.iter().map(|t| t["a"].as_u64().unwrap()).collect();
        assert_eq!(got.iter().map(|t| t.trade_id.unwrap()).collect::<Vec<_>>(), want, "{symbol}: every trade once, the hole filled");
        assert!(got.iter().all(|t| t.instrument.symbol() == symbol), "{symbol}: labelled by its market");
        assert!(api_hits.load(Ordering::SeqCst) >= 1 && stats.gap_filled >= 50, "{symbol}: the hole came from {rest_path}: {stats:?}");
        // the default base of the session is the market's stream host, with the contract id
        assert_eq!(LiveProtocol::market_id(&Binance, symbol, "binance"), id);
        let m = Market { symbol: symbol.into(), id: id.into(), instrument: got[0].instrument };
        assert_eq!(Binance.url("wss://stream.binance.com:9443", &[m], None), format!("{ws}/stream?streams={stream}"), "{symbol}");
    }
}

/// #15 item 4: sessions are tasks on one tokio runtime, not a thread each. Forty sessions (each
/// its own connection, 50 recorded trades) deliver every trade once, each session's in order,
/// while the runtime has at most one thread per core.
#[test]
fn forty_sessions_share_a_few_runtime_threads_and_deliver_every_trade_once() {
    use tickflow_connectors::live::run_many;
    const N: usize = 40;
    let trades = Arc::new(freqtrade_agg_trades());
    let done = Arc::new(AtomicBool::new(false));
    let cfgs: Vec<LiveConfig> = (0..N)
        .map(|k| {
            config(ws_frames(trades[k * 50..(k + 1) * 50].iter().map(frame).collect(), done.clone()), "http://127.0.0.1:9".into(), Duration::from_secs(30))
        })
        .collect();
    let venue_threads = || {
        std::fs::read_dir("/proc/self/task")
            .map(|d| d.flatten().filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("tickflow-venue"))).count())
            .unwrap_or(0)
    };
    let (mut got, mut seen_threads) = (Vec::new(), 0);
    let reports = run_many(
        cfgs,
        Arc::new(AtomicBool::new(false)),
        64,
        Duration::from_secs(1),
        |t| {
            got.push(t.trade_id.unwrap());
            if got.len() == N * 25 {
                seen_threads = venue_threads();
            }
            got.len() < N * 50
        },
        |_, _, _| {},
    );
    done.store(true, Ordering::SeqCst);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!((1..=cores).contains(&seen_threads), "{seen_threads} runtime threads for {N} sessions on {cores} cores");
    assert_eq!(reports.len(), N);
    let mut all = got.clone();
    all.sort_unstable();
    let want: Vec<u64> = trades[..N * 50].iter().map(|t| t["a"].as_u64().unwrap()).collect();
    assert_eq!(all, want, "every trade once");
    // each session's trades in its order
    for k in 0..N {
        let ids: Vec<u64> = got.iter().copied().filter(|id| want[k * 50..(k + 1) * 50].contains(id)).collect();
        assert_eq!(ids, want[k * 50..(k + 1) * 50], "session {k}");
    }
}
