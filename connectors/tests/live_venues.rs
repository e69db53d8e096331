//! Live sessions for Coinbase, Kraken (WS v2), Bybit v5, OKX v5, Bitstamp and the CryptoCompare
//! streamer against local WebSocket and REST servers. Frames and REST bodies are the recorded payloads
//! (`shared/data/ws-samples`, the nautilus/CCXT fixtures) with their trade fields replaced by a
//! generated tape; CryptoCompare's, of which no recording exists, follow its documented shapes.
//!
//! Each server drops the first connection mid-stream, lets 50 trades happen while the client is
//! away, stalls the second connection past the client's stale timeout, and resends 20 trades on
//! the third. REST starts with a 429 and serves short pages, so gap-fill pages several times.
//! Every trade must come out exactly once, in order.

mod common;
#[path = "support/http_stub.rs"]
mod http_stub;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::data;
use serde_json::{json, Value};
use tickflow_connectors::http::RetryPolicy;
use tickflow_connectors::live::{run, LiveConfig, LiveStats};
use tickflow_model::{Side, Trade, Ts};

/// The first recorded frame of `file` containing `needle`.
fn recorded_frame(file: &str, needle: &str) -> Value {
    let text = std::fs::read_to_string(data().join(file)).unwrap();
    let line = text.lines().find(|l| l.contains(needle) && !l.contains(" <- ")).unwrap();
    serde_json::from_str(line.split_once(": ").unwrap().1).unwrap()
}

#[derive(Clone, Debug)]
struct T {
    id: u64,
    ts_us: i64,
    price: String,
    size: String,
    taker_buy: bool,
}

fn tape(n: usize, first_id: u64) -> Vec<T> {
    let mut x: u64 = 77;
    let mut ts = 1_700_000_000_000_000i64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ts += 1 + (x % 400_000) as i64;
            T {
                id: first_id + i as u64,
                ts_us: ts,
                price: format!("{}.{:02}", 30_000 + x % 500, x % 100),
                size: format!("0.{:08}", 1 + x % 99_999_999),
                taker_buy: !x.is_multiple_of(3),
            }
        })
        .collect()
}

fn rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn num(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum V {
    Coinbase,
    Kraken,
    Bybit,
    /// Bybit's linear perpetual (`BTC/USDT:USDT`): the same stream layout, `category=linear`.
    BybitLinear,
    Okx,
    /// OKX's linear swap (`BTC/USDT:USDT`, instrument `BTC-USDT-SWAP`).
    OkxSwap,
    /// OKX's inverse quarterly (`BTC/USD:BTC-251226`, instrument `BTC-USD-251226`).
    OkxFuture,
    CryptoCompare,
    Bitstamp,
    /// Kraken Futures' linear perpetual (`PF_XBTUSD`).
    KrakenFutures,
}

impl V {
    fn name(self) -> &'static str {
        match self {
            V::Coinbase => "coinbase",
            V::Kraken => "kraken",
            V::Bybit | V::BybitLinear => "bybit",
            V::Okx | V::OkxSwap | V::OkxFuture => "okx",
            V::CryptoCompare => "cryptocompare",
            V::Bitstamp => "bitstamp",
            V::KrakenFutures => "krakenfutures",
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            V::Coinbase | V::Kraken | V::CryptoCompare | V::Bitstamp => "BTC/USD",
            V::Bybit | V::Okx => "BTC/USDT",
            V::BybitLinear | V::OkxSwap => "BTC/USDT:USDT",
            V::OkxFuture => "BTC/USD:BTC-251226",
            V::KrakenFutures => "BTC/USD:USD",
        }
    }
    /// OKX's instrument id of the market.
    fn okx_inst(self) -> &'static str {
        match self {
            V::OkxSwap => "BTC-USDT-SWAP",
            V::OkxFuture => "BTC-USD-251226",
            _ => "BTC-USDT",
        }
    }
    /// The subscription the client must send.
    fn expect_subscription(self) -> &'static str {
        match self {
            V::Coinbase => r#""channels":["matches"]"#,
            V::Kraken => r#""channel":"trade""#,
            V::Bybit | V::BybitLinear => r#""publicTrade.BTCUSDT""#,
            V::Okx => r#""instId":"BTC-USDT""#,
            V::OkxSwap => r#""instId":"BTC-USDT-SWAP""#,
            V::OkxFuture => r#""instId":"BTC-USD-251226""#,
            V::CryptoCompare => r#""subs":["0~Coinbase~BTC~USD"]"#,
            V::Bitstamp => r#"{"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}"#,
            V::KrakenFutures => r#""product_ids":["PF_XBTUSD"]"#,
        }
    }
    /// One WebSocket frame carrying `ts` (the recorded frame with its trade fields replaced).
    fn frame(self, ts: &[T]) -> String {
        match self {
            V::Coinbase => {
                let t = &ts[0];
                let mut m = recorded_frame("ws-samples/coinbase/cryptofeed_COINBASE.ws.28.0", r#""type":"match""#);
                m["trade_id"] = t.id.into();
                m["product_id"] = "BTC-USD".into();
                m["price"] = t.price.clone().into();
                m["size"] = t.size.clone().into();
                m["side"] = (if t.taker_buy { "sell" } else { "buy" }).into(); // the maker's side
                m["time"] = rfc3339(t.ts_us).into();
                m.to_string()
            }
            V::Kraken => {
                let mut m: Value =
                    serde_json::from_str(&std::fs::read_to_string(data().join("ws-samples/kraken/nautilus_ws_trade_update.json")).unwrap()).unwrap();
                let template = m["data"][0].clone();
                m["data"] = ts
                    .iter()
                    .map(|t| {
                        let mut d = template.clone();
                        d["symbol"] = "BTC/USD".into();
                        d["side"] = (if t.taker_buy { "buy" } else { "sell" }).into();
                        d["price"] = num(&t.price);
                        d["qty"] = num(&t.size);
                        d["trade_id"] = t.id.into();
                        d["timestamp"] = rfc3339(t.ts_us).into();
                        d
                    })
                    .collect();
                m.to_string()
            }
            V::Bybit | V::BybitLinear => {
                let mut m: Value =
                    serde_json::from_str(&std::fs::read_to_string(data().join("ws-samples/bybit/nautilus_ws_public_trade.json")).unwrap()).unwrap();
                let template = m["data"][0].clone();
                m["topic"] = "publicTrade.BTCUSDT".into();
                m["data"] = ts
                    .iter()
                    .map(|t| {
                        let mut d = template.clone();
                        d["T"] = (t.ts_us / 1000).into();
                        d["s"] = "BTCUSDT".into();
                        d["S"] = (if t.taker_buy { "Buy" } else { "Sell" }).into();
                        d["v"] = t.size.clone().into();
                        d["p"] = t.price.clone().into();
                        d["i"] = t.id.to_string().into();
                        d
                    })
                    .collect();
                m.to_string()
            }
            V::Okx | V::OkxSwap | V::OkxFuture => {
                let mut m = recorded_frame("ws-samples/okx/cryptofeed_OKX.ws.1.0", r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data""#);
                m["arg"]["instId"] = self.okx_inst().into();
                let mut template = m["data"][0].clone();
                template["instId"] = self.okx_inst().into();
                m["data"] = ts
                    .iter()
                    .map(|t| {
                        let mut d = template.clone();
                        d["tradeId"] = t.id.to_string().into();
                        d["px"] = t.price.clone().into();
                        d["sz"] = t.size.clone().into();
                        d["side"] = (if t.taker_buy { "buy" } else { "sell" }).into();
                        d["ts"] = (t.ts_us / 1000).to_string().into();
                        d
                    })
                    .collect();
                m.to_string()
            }
            V::CryptoCompare => {
                // the documented streamer trade message (TYPE 0); F: 1 sell, 2 buy
                let t = &ts[0];
                json!({"TYPE": "0", "M": "Coinbase", "FSYM": "BTC", "TSYM": "USD", "F": if t.taker_buy { "2" } else { "1" }, "ID": t.id.to_string(),
                       "TS": t.ts_us / 1_000_000, "TSNS": (t.ts_us % 1_000_000) * 1000, "Q": num(&t.size), "P": num(&t.price), "RTS": t.ts_us / 1_000_000})
                .to_string()
            }
            V::KrakenFutures => {
                // the documented v1 `trade` message
                let t = &ts[0];
                json!({"feed": "trade", "product_id": "PF_XBTUSD", "uid": t.id.to_string(), "side": if t.taker_buy { "buy" } else { "sell" }, "type": "fill",
                       "seq": t.id, "time": t.ts_us / 1000, "qty": num(&t.size), "price": num(&t.price)})
                .to_string()
            }
            V::Bitstamp => {
                let t = &ts[0];
                let mut m = recorded_frame("ws-samples/bitstamp/cryptofeed_BITSTAMP.ws.1.0", r#""event":"trade""#);
                m["channel"] = "live_trades_btcusd".into();
                let d = &mut m["data"];
                d["id"] = t.id.into();
                d["timestamp"] = (t.ts_us / 1_000_000).to_string().into();
                d["microtimestamp"] = t.ts_us.to_string().into();
                d["price_str"] = t.price.clone().into();
                d["price"] = num(&t.price);
                d["amount_str"] = t.size.clone().into();
                d["amount"] = num(&t.size);
                d["type"] = (if t.taker_buy { 0 } else { 1 }).into();
                m.to_string()
            }
        }
    }
    /// Trades per frame.
    fn per_frame(self) -> usize {
        match self {
            V::Coinbase | V::CryptoCompare | V::Bitstamp | V::KrakenFutures => 1,
            _ => 3,
        }
    }
    /// The REST answer to `target` given the trades that have happened.
    fn rest(self, target: &str, happened: &[T]) -> Option<String> {
        let q = |k: &str| target.split(&format!("{k}=")).nth(1).and_then(|s| s.split('&').next()).map(str::to_string);
        const PAGE: usize = 20;
        let newest_first =
            |before: Option<u64>, cap: usize| -> Vec<&T> { happened.iter().rev().filter(|t| before.is_none_or(|b| t.id < b)).take(cap).collect() };
        match self {
            V::Coinbase => {
                if !target.starts_with("/products/BTC-USD/trades") {
                    return None;
                }
                let page = newest_first(q("after").and_then(|a| a.parse().ok()), PAGE);
                Some(
                    Value::Array(
                        page.iter()
                            .map(|t| {
                                json!({"trade_id": t.id, "side": if t.taker_buy { "sell" } else { "buy" }, "size": t.size, "price": t.price, "time": rfc3339(t.ts_us)})
                            })
                            .collect(),
                    )
                    .to_string(),
                )
            }
            V::Kraken => {
                if !target.starts_with("/0/public/Trades?pair=XBTUSD") {
                    return None;
                }
                let since: i64 = q("since")?.parse().ok()?;
                let page: Vec<&T> = happened.iter().filter(|t| t.ts_us * 1000 > since).take(1000).collect();
                let last = page.last().map(|t| (t.ts_us * 1000).to_string()).unwrap_or_else(|| since.to_string());
                let rows: Vec<Value> = page
                    .iter()
                    .map(|t| {
                        json!([
                            t.price,
                            t.size,
                            num(&format!("{}.{:06}", t.ts_us / 1_000_000, t.ts_us % 1_000_000)),
                            if t.taker_buy { "b" } else { "s" },
                            "m",
                            "",
                            t.id
                        ])
                    })
                    .collect();
                Some(json!({"error": [], "result": {"XXBTZUSD": rows, "last": last}}).to_string())
            }
            V::Bybit | V::BybitLinear => {
                let category = if self == V::Bybit { "spot" } else { "linear" };
                if !target.starts_with(&format!("/v5/market/recent-trade?category={category}&symbol=BTCUSDT")) {
                    return None;
                }
                let list: Vec<Value> = newest_first(None, 60)
                    .iter()
                    .map(|t| {
                        json!({"execId": t.id.to_string(), "symbol": "BTCUSDT", "price": t.price, "size": t.size, "side": if t.taker_buy { "Buy" } else { "Sell" },
                               "time": (t.ts_us / 1000).to_string(), "isBlockTrade": false})
                    })
                    .collect();
                Some(json!({"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": list}}).to_string())
            }
            V::Okx | V::OkxSwap | V::OkxFuture => {
                let inst = self.okx_inst();
                let before = if target.starts_with(&format!("/api/v5/market/trades?instId={inst}&")) {
                    None
                } else if target.starts_with(&format!("/api/v5/market/history-trades?instId={inst}&")) {
                    Some(q("after")?.parse().ok()?)
                } else {
                    return None;
                };
                let data: Vec<Value> = newest_first(before, PAGE)
                    .iter()
                    .map(|t| {
                        json!({"instId": inst, "tradeId": t.id.to_string(), "px": t.price, "sz": t.size, "side": if t.taker_buy { "buy" } else { "sell" },
                               "ts": (t.ts_us / 1000).to_string()})
                    })
                    .collect();
                Some(json!({"code": "0", "msg": "", "data": data}).to_string())
            }
            V::CryptoCompare => {
                if !target.starts_with("/spot/v1/historical/trades?market=coinbase&instrument=BTC-USD") {
                    return None;
                }
                let after: i64 = q("after_ts")?.parse().ok()?;
                let rows: Vec<Value> = happened
                    .iter()
                    .filter(|t| t.ts_us / 1_000_000 >= after)
                    .take(1000)
                    .map(|t| {
                        json!({"TYPE": "952", "MARKET": "coinbase", "INSTRUMENT": "BTC-USD", "SIDE": if t.taker_buy { "BUY" } else { "SELL" }, "ID": t.id.to_string(),
                               "TIMESTAMP": t.ts_us / 1_000_000, "TIMESTAMP_NS": (t.ts_us % 1_000_000) * 1000, "PRICE": num(&t.price), "QUANTITY": num(&t.size), "CCSEQ": t.id})
                    })
                    .collect();
                Some(json!({"Data": rows, "Err": {}}).to_string())
            }
            V::KrakenFutures => {
                // the documented market executions, ascending from `since` (ms)
                if !target.starts_with("/api/history/v3/market/PF_XBTUSD/executions?") {
                    return None;
                }
                let since: i64 = q("since")?.parse().ok()?;
                let elements: Vec<Value> = happened
                    .iter()
                    .filter(|t| t.ts_us / 1000 >= since)
                    .map(|t| {
                        let ex = json!({"uid": t.id.to_string(), "timestamp": (t.ts_us / 1000).to_string(), "quantity": t.size, "price": t.price,
                                        "takerOrder": {"direction": if t.taker_buy { "Buy" } else { "Sell" }}});
                        json!({"uid": "e", "timestamp": (t.ts_us / 1000).to_string(), "event": {"Execution": {"execution": ex}}})
                    })
                    .collect();
                Some(json!({"len": elements.len().to_string(), "elements": elements}).to_string())
            }
            V::Bitstamp => {
                // the documented transactions shape: newest first, seconds, strings; the window
                // (`time=`) holds every trade that has happened here
                if !target.starts_with("/api/v2/transactions/btcusd/?time=") {
                    return None;
                }
                let rows: Vec<Value> = newest_first(None, 1000)
                    .iter()
                    .map(|t| {
                        json!({"date": (t.ts_us / 1_000_000).to_string(), "tid": t.id.to_string(), "amount": t.size, "price": t.price,
                               "type": if t.taker_buy { "0" } else { "1" }})
                    })
                    .collect();
                Some(Value::Array(rows).to_string())
            }
        }
    }
}

struct Servers {
    ws: String,
    rest: String,
    subscriptions: Arc<Mutex<Vec<String>>>,
    rest_hits: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

/// Connection plan: (first trade, end, then) per connection.
#[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
fn serve(v: V, trades: Arc<Vec<T>>, plan: Vec<(usize, usize, &'static str)>) -> Servers {
    // trades that have happened on the "exchange" (REST serves these)
    let happened = Arc::new(AtomicUsize::new(0));
    let (subscriptions, rest_hits, done) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));

    let (tr, hp, hits) = (trades.clone(), happened.clone(), rest_hits.clone());
    let rest = http_stub::serve(move |req, s| {
        if v == V::CryptoCompare && !req.has_header("authorization: Apikey testkey") {
            http_stub::respond(s, "401 Unauthorized", "", "");
            return;
        }
        if hits.fetch_add(1, Ordering::SeqCst) == 0 {
            http_stub::respond(s, "429 Too Many Requests", "Retry-After: 0\r\n", "");
            return;
        }
        match v.rest(&req.target, &tr[..hp.load(Ordering::SeqCst)]) {
            Some(body) => http_stub::respond_json(s, "200 OK", &body.to_string()),
            None => http_stub::respond(s, "404 Not Found", "", ""),
        }
    });

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ws = format!("ws://{}", l.local_addr().unwrap());
    let (subs, dn) = (subscriptions.clone(), done.clone());
    std::thread::spawn(move || {
        for (conn, stream) in l.incoming().flatten().enumerate() {
            let Some(&(from, to, then)) = plan.get(conn) else { break };
            // what happened while the client was away is on REST (before the handshake completes)
            happened.fetch_max(from, Ordering::SeqCst);
            let uri = Arc::new(Mutex::new(String::new()));
            let u2 = uri.clone();
            let Ok(mut ws) = tungstenite::accept_hdr(stream, move |req: &tungstenite::handshake::server::Request, resp| {
                *u2.lock().unwrap() = req.uri().to_string();
                Ok(resp)
            }) else {
                continue;
            };
            if v == V::CryptoCompare {
                assert!(uri.lock().unwrap().contains("api_key=testkey"), "the streamer takes the key in the URL");
            }
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => subs.lock().unwrap().push(t.to_string()),
                other => panic!("expected a subscription frame, got {other:?}"),
            }
            for chunk in trades[from..to].chunks(v.per_frame()) {
                if ws.send(tungstenite::Message::Text(v.frame(chunk))).is_err() {
                    break;
                }
            }
            let _ = ws.flush();
            match then {
                "drop" => drop(ws),
                "stall" => {
                    std::thread::sleep(Duration::from_millis(1200));
                    drop(ws);
                }
                "ask" => {
                    // Bitstamp's `bts:request_reconnect`: the client must go and come back
                    let _ = ws.send(tungstenite::Message::Text(r#"{"event":"bts:request_reconnect","channel":"","data":""}"#.into()));
                    while ws.read().is_ok() {}
                }
                _ => {
                    while !dn.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    break;
                }
            }
        }
    });
    Servers { ws, rest, subscriptions, rest_hits, done }
}

fn session(v: V, trades: &Arc<Vec<T>>, plan: Vec<(usize, usize, &'static str)>, stop_at: u64) -> (Vec<Trade>, LiveStats, Servers) {
    let servers = serve(v, trades.clone(), plan);
    let cfg = LiveConfig {
        venue: v.name().into(),
        ws_url: servers.ws.clone(),
        rest_url: servers.rest.clone(),
        symbols: vec![v.symbol().into()],
        exchange: if v == V::CryptoCompare { "coinbase".into() } else { v.name().into() },
        api_key: (v == V::CryptoCompare).then(|| tickflow_connectors::http::Secret::new("testkey")),
        stale_after: Duration::from_millis(300),
        retry: RetryPolicy { base: Duration::from_millis(10), cap: Duration::from_millis(50), max_retries: 5, seed: 3 },
        resume_after: Default::default(),
        max_future: tickflow_model::validate::DEFAULT_MAX_FUTURE,
        connect_timeout: Duration::from_secs(10),
    };
    let mut got = Vec::new();
    let stop = AtomicBool::new(false);
    let stats = run(&cfg, &stop, |t| {
        let id = t.trade_id.unwrap();
        got.push(t);
        id != stop_at
    })
    .unwrap();
    servers.done.store(true, Ordering::SeqCst);
    (got, stats, servers)
}

fn check_exactly_once(v: V) {
    let trades = Arc::new(tape(900, 5_000_000));
    let n = trades.len();
    let plan = vec![(0, 400, "drop"), (450, 800, "stall"), (780, n, "stay")];
    let (got, stats, servers) = session(v, &trades, plan, trades[n - 1].id);
    let ids: Vec<u64> = got.iter().map(|t| t.trade_id.unwrap()).collect();
    let want: Vec<u64> = trades.iter().map(|t| t.id).collect();
    assert_eq!(ids, want, "{v:?}: every trade exactly once, in order ({stats:?})");
    assert_eq!(stats.connects, 3, "{v:?} {stats:?}");
    assert!(stats.stale >= 1, "{v:?}: the stall was detected: {stats:?}");
    assert!(stats.gap_filled >= 50, "{v:?}: the 50 trades missed while away came from REST: {stats:?}");
    assert!(stats.duplicates >= 20, "{v:?}: the resent trades were dropped: {stats:?}");
    assert_eq!((stats.gaps_unfilled, stats.bad_frames), (0, 0), "{v:?} {stats:?}");
    assert!(servers.rest_hits.load(Ordering::SeqCst) >= 3, "{v:?}: a 429 and then pages");
    let subs = servers.subscriptions.lock().unwrap();
    assert_eq!(subs.len(), 3, "{v:?}: subscribed on every connection");
    assert!(subs.iter().all(|s| s.contains(v.expect_subscription())), "{v:?}: {subs:?}");
    // values as sent: exact decimals, taker side, event time
    for (t, w) in got.iter().zip(trades.iter()) {
        assert_eq!((t.price.to_string(), t.amount.to_string()), (trim(&w.price), trim(&w.size)), "{v:?}");
        assert_eq!(t.side, if w.taker_buy { Side::Buy } else { Side::Sell }, "{v:?}");
        let want_ts = if matches!(v, V::Bybit | V::BybitLinear | V::Okx | V::OkxSwap | V::OkxFuture | V::KrakenFutures) {
            Ts::from_millis(w.ts_us / 1000)
        } else {
            Ts(w.ts_us * 1000)
        };
        // Bitstamp's REST transactions carry whole seconds: gap-filled trades have those
        let from_rest = v == V::Bitstamp && t.ts == Ts::from_secs(w.ts_us / 1_000_000);
        assert!(t.ts == want_ts || from_rest, "{v:?} trade {}: {:?} vs {want_ts:?}", w.id, t.ts);
        assert_eq!(t.instrument.symbol(), v.symbol());
    }
}

/// Decimal text without trailing zeros (how `Decimal` prints).
fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[test]
fn coinbase_matches_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::Coinbase);
}

#[test]
fn kraken_v2_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::Kraken);
}

#[test]
fn bybit_public_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::Bybit);
}

/// #15: Bybit's linear perpetual streams on the same layout (`publicTrade.BTCUSDT`), is labelled
/// `BTC/USDT:USDT`, and fills holes from `recent-trade?category=linear` (the server answers no
/// other category).
#[test]
fn bybit_linear_perpetual_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::BybitLinear);
}

#[test]
fn okx_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::Okx);
}

/// #15: OKX swaps and futures stream on the same `trades` channel by their instrument ids
/// (`BTC-USDT-SWAP`, `BTC-USD-251226`), are labelled with the unified symbol, and fill holes
/// from `trades`/`history-trades` of that instrument (the server answers no other id).
#[test]
fn okx_swap_and_future_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::OkxSwap);
    check_exactly_once(V::OkxFuture);
}

/// Kraken Futures' v1 `trade` feed (UUID ids: unordered), gap fills from the market executions.
#[test]
fn krakenfutures_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::KrakenFutures);
}

#[test]
fn cryptocompare_streamer_reconnects_and_gap_fills_from_the_data_api_exactly_once() {
    check_exactly_once(V::CryptoCompare);
}

#[test]
fn bitstamp_live_trades_reconnect_and_gap_fill_exactly_once() {
    check_exactly_once(V::Bitstamp);
}

#[test]
fn bitstamp_request_reconnect_is_obeyed_and_gap_filled() {
    let trades = Arc::new(tape(300, 216_000_000));
    let n = trades.len();
    // 100 trades, then `bts:request_reconnect`; 30 happen meanwhile (REST), then the rest
    let (got, stats, servers) = session(V::Bitstamp, &trades, vec![(0, 100, "ask"), (130, n, "stay")], trades[n - 1].id);
    let ids: Vec<u64> = got.iter().map(|t| t.trade_id.unwrap()).collect();
    assert_eq!(ids, trades.iter().map(|t| t.id).collect::<Vec<_>>(), "{stats:?}");
    assert_eq!((stats.connects, stats.stale, stats.gaps_unfilled), (2, 0, 0), "reconnected on request, not by the stale timer: {stats:?}");
    assert!(stats.gap_filled >= 30, "{stats:?}");
    assert_eq!(servers.subscriptions.lock().unwrap().len(), 2);
}

#[test]
fn bybit_gap_beyond_the_rest_window_is_reported_not_hidden() {
    // 150 trades happen while away; Bybit's REST keeps the last 60
    let trades = Arc::new(tape(500, 9_000_000));
    let n = trades.len();
    let (got, stats, _servers) = session(V::Bybit, &trades, vec![(0, 200, "drop"), (350, n, "stay")], trades[n - 1].id);
    assert_eq!(stats.gaps_unfilled, 1, "{stats:?}");
    assert_eq!(got.len(), n - 90, "60 of the 150 recovered: {stats:?}");
    let ids: Vec<u64> = got.iter().map(|t| t.trade_id.unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "no duplicates");
}
