//! Bitstamp end to end through the binary, against loopback servers speaking its documented
//! REST shapes and replaying its recorded WebSocket trade frame: `fetch trades` (the recent
//! window only, refusing an older `--since`), `fetch ohlcv` (paged by time through a 429) and
//! `stream`. Bitstamp is wired in by its folder and one registry line; the help texts list it.

mod common;
#[path = "../../connectors/tests/support/http_stub.rs"]
mod http_stub;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{shared_data, tickflow, tickflow_ok};
use serde_json::{json, Value};

/// Trades of the last 50 minutes (ids increase, several per second).
fn recent_tape(now_s: i64) -> Vec<(u64, i64, String, String, bool)> {
    (0..600u64)
        .map(|i| {
            (300_000_000 + i * 3, now_s - 3000 + (i as i64) * 4, format!("{}.{:02}", 97_000 + i % 50, i % 100), format!("0.{:08}", 1 + i * 7919), i % 3 != 0)
        })
        .collect()
}

const C0: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

/// One-minute candles from C0 on (2500 of them).
fn candle(i: i64) -> Value {
    let o = 90_000 + i % 300;
    json!({"timestamp": (C0 + i * 60).to_string(), "open": format!("{o}.5"), "high": format!("{}.0", o + 7), "low": format!("{}.25", o - 3),
           "close": format!("{}.75", o + 1), "volume": format!("{}.{:08}", i % 5, i * 13 % 100_000_000)})
}

/// The REST stub: transactions of `tape` (newest first) and candles; the second request gets a
/// 429. Returns its URL, the request targets and the number of requests.
fn rest(tape: Vec<(u64, i64, String, String, bool)>) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let (targets, hits) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicUsize::new(0)));
    let (tg, h) = (targets.clone(), hits.clone());
    let url = http_stub::serve(move |req, s| {
        tg.lock().unwrap().push(req.target.clone());
        if h.fetch_add(1, Ordering::SeqCst) == 1 {
            http_stub::respond(s, "429 Too Many Requests", "Retry-After: 0\r\n", "");
            return;
        }
        if req.target.starts_with("/api/v2/transactions/btcusd/?time=") {
            let rows: Vec<Value> = tape
                .iter()
                .rev()
                .map(|(id, t, p, a, buy)| json!({"date": t.to_string(), "tid": id.to_string(), "amount": a, "price": p, "type": if *buy { "0" } else { "1" }}))
                .collect();
            http_stub::respond_json(s, "200 OK", &Value::Array(rows).to_string());
        } else if req.target.starts_with("/api/v2/ohlc/btcusd/?step=60&limit=1000&") {
            let p = |k: &str| req.param(k).and_then(|v| v.parse::<i64>().ok()).unwrap();
            let (start, end, limit) = (p("start"), p("end"), p("limit"));
            let rows: Vec<Value> = (0..2500).filter(|i| (start..=end).contains(&(C0 + i * 60))).take(limit as usize).map(candle).collect();
            http_stub::respond_json(s, "200 OK", &json!({"data": {"pair": "BTC/USD", "ohlc": rows}}).to_string());
        } else {
            http_stub::respond(s, "404 Not Found", "", "");
        }
    });
    (url, targets, hits)
}

fn rows(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn fetch_trades_reads_the_recent_window_once_in_order() {
    let now = tickflow_model::Ts::now().0 / 1_000_000_000;
    let tape = recent_tape(now);
    let (url, targets, _) = rest(tape.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bitstamp.csv");
    let since = (now - 2400).to_string(); // 40 minutes ago: the hour window
    let stdout = tickflow_ok(&[
        "fetch",
        "trades",
        "--source",
        "bitstamp",
        "--symbol",
        "BTC/USD",
        "--since",
        &since,
        "-o",
        out.to_str().unwrap(),
        "--rest-url",
        &url,
        "--no-progress",
    ]);
    let want: Vec<_> = tape.iter().filter(|t| t.1 >= now - 2400).collect();
    assert!(stdout.contains(&format!("fetched {} trades", want.len())), "{stdout}");
    let got = rows(&out);
    let ids: Vec<u64> = got.iter().map(|r| r[3].parse().unwrap()).collect();
    assert_eq!(ids, want.iter().map(|t| t.0).collect::<Vec<_>>(), "every trade since --since once, oldest first");
    let first = &got[0];
    let dec = |x: &str| x.parse::<tickflow_model::Decimal>().unwrap();
    assert_eq!((dec(&first[4]), dec(&first[5])), (dec(&want[0].2), dec(&want[0].3)), "{first:?}");
    assert!(targets.lock().unwrap().iter().all(|t| t == "/api/v2/transactions/btcusd/?time=hour"), "{:?}", targets.lock().unwrap());
    assert!(!dir.path().join("bitstamp.csv.checkpoint").exists());
}

#[test]
fn fetch_trades_refuses_a_since_older_than_bitstamp_serves() {
    let (url, targets, _) = rest(Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("old.csv");
    let since = (tickflow_model::Ts::now().0 / 1_000_000_000 - 3 * 86_400).to_string();
    let o = tickflow(&["fetch", "trades", "--source", "bitstamp", "--symbol", "BTC/USD", "--since", &since, "-o", out.to_str().unwrap(), "--rest-url", &url]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("not supported by bitstamp") && err.contains("last minute, hour or day") && err.contains("fetch ohlcv"), "{err}");
    assert!(!out.exists(), "nothing written: no silent hole");
    assert!(targets.lock().unwrap().is_empty(), "refused before asking");
}

#[test]
fn fetch_ohlcv_pages_forward_through_a_429() {
    let (url, targets, _) = rest(Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bars.csv");
    let (since, until) = (C0.to_string(), (C0 + 2500 * 60).to_string());
    let stdout = tickflow_ok(&[&common::fetch_ohlcv("bitstamp", "BTC/USD", "1m", &since, &until, &url, &out)[..], &["--no-progress"]].concat());
    assert!(stdout.contains("fetched 2500 1m candles") && stdout.contains("1 rate-limited"), "{stdout}");
    let bars = common::read_bars(&out);
    assert_eq!(bars.len(), 2500);
    let step = bars[1].open_time - bars[0].open_time;
    assert!(step > 0 && bars.windows(2).all(|w| w[1].open_time - w[0].open_time == step), "contiguous, ascending, no repeats");
    let want = candle(1234);
    let dec = |x: &Value| x.as_str().unwrap().parse::<tickflow_model::Decimal>().unwrap();
    assert_eq!((bars[1234].open, bars[1234].close), (dec(&want["open"]), dec(&want["close"])));
    // three pages of at most 1000 candles (+ the retried one)
    assert_eq!(targets.lock().unwrap().len(), 4, "{:?}", targets.lock().unwrap());
    let o = tickflow(&[
        "fetch",
        "ohlcv",
        "--source",
        "bitstamp",
        "--symbol",
        "BTC/USD",
        "--timeframe",
        "2m",
        "--since",
        &since,
        "-o",
        out.to_str().unwrap(),
        "--rest-url",
        &url,
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not offered"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A WebSocket server that expects the Bitstamp subscription and sends `n` trades as the
/// recorded `live_trades` frame.
fn ws_server(n: u64) -> (String, Arc<Mutex<Vec<String>>>) {
    let rec = std::fs::read_to_string(shared_data().join("ws-samples/bitstamp/cryptofeed_BITSTAMP.ws.1.0")).unwrap();
    let line = rec.lines().find(|l| l.contains(r#""event":"trade""#) && !l.contains(" <- ")).unwrap();
    let template: Value = serde_json::from_str(line.split_once(": ").unwrap().1).unwrap();
    let subs = Arc::new(Mutex::new(Vec::new()));
    let s2 = subs.clone();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let Ok(mut ws) = tungstenite::accept(stream) else { continue };
            if let Ok(tungstenite::Message::Text(t)) = ws.read() {
                s2.lock().unwrap().push(t.to_string());
            }
            let _ = ws.send(tungstenite::Message::Text(r#"{"event":"bts:subscription_succeeded","channel":"live_trades_btcusd","data":{}}"#.into()));
            for i in 0..n {
                let mut m = template.clone();
                m["channel"] = "live_trades_btcusd".into();
                m["data"]["id"] = (400_000_000 + i * 2).into();
                m["data"]["microtimestamp"] = (1_735_689_600_000_000 + i as i64 * 250_000).to_string().into();
                m["data"]["price_str"] = format!("{}.5", 95_000 + i).into();
                m["data"]["amount_str"] = "0.01000000".into();
                m["data"]["type"] = (i % 2).into();
                if ws.send(tungstenite::Message::Text(m.to_string())).is_err() {
                    return;
                }
            }
            let _ = ws.flush();
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    });
    (url, subs)
}

#[test]
fn stream_writes_every_live_trade_once() {
    let (ws, subs) = ws_server(200);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.csv");
    tickflow_ok(&[
        "stream",
        "--source",
        "bitstamp",
        "--symbols",
        "BTC/USD",
        "--ws-url",
        &ws,
        "--rest-url",
        "http://127.0.0.1:9",
        "--max-trades",
        "200",
        "-o",
        out.to_str().unwrap(),
    ]);
    let got = rows(&out);
    assert_eq!(got.len(), 200);
    assert!(
        got.iter().enumerate().all(|(i, r)| r[3] == (400_000_000 + i as u64 * 2).to_string() && r[2] == "BTC/USD" && r[1] == "bitstamp"),
        "{:?}",
        &got[..2]
    );
    assert_eq!(subs.lock().unwrap()[0], r#"{"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}"#);
}

#[test]
fn the_help_texts_come_from_the_registry() {
    for (cmd, listed) in [
        (&["fetch", "trades", "--help"][..], true),
        (&["fetch", "ohlcv", "--help"][..], true),
        (&["stream", "--help"][..], true),
        (&["aggregate", "--help"][..], true),
        (&["verify", "--help"][..], false),
    ] {
        let help = tickflow_ok(cmd);
        assert_eq!(help.contains("bitstamp"), listed, "{cmd:?}:\n{help}");
        assert!(help.contains("kraken"), "{cmd:?}:\n{help}");
    }
}
