//! #15: live funding of perpetuals. Each venue's funding frame (the payloads of the venues'
//! documentation) parses to the subscribed market's update; the session settles one event per
//! funding time — the last rate and mark streamed before it — across a dropped connection.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tickflow_connectors::live::funding::{self, FundingTracker, FundingUpdate};
use tickflow_connectors::venues::{binance, bybit, okx, Market};
use tickflow_model::{Instrument, Notional, Ts};

fn market(venue: &str, symbol: &str, id: &str) -> Market {
    Market { symbol: symbol.into(), id: id.into(), instrument: Instrument::new(venue, symbol).unwrap() }
}

fn rate(s: &str) -> Notional {
    Notional::parse_bytes(s.as_bytes()).unwrap()
}

#[test]
fn each_venue_s_funding_frame_parses_to_the_subscribed_market() {
    // Binance USDⓈ-M "Mark Price Stream", wrapped as a combined stream
    let m = [market("binance", "BTC/USDT:USDT", "BTCUSDT")];
    let frame = r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#;
    let u = binance::parse_mark_price(frame, &m).unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].instrument.symbol(), "BTC/USDT:USDT");
    assert_eq!((u[0].event_ts, u[0].next_funding), (Ts::from_millis(1_562_305_380_000), Some(Ts::from_millis(1_562_306_400_000))));
    assert_eq!((u[0].rate, u[0].mark.map(|p| p.to_string())), (Some(rate("0.00038167")), Some("11794.15".to_string())));
    assert!(binance::parse_mark_price(r#"{"e":"aggTrade","s":"BTCUSDT"}"#, &m).unwrap().is_empty(), "other events yield nothing");
    let other = frame.replace("\"BTCUSDT\"", "\"ETHUSDT\"");
    assert!(binance::parse_mark_price(&other, &m).unwrap_err().to_string().contains("unsubscribed"));
    assert!(binance::parse_mark_price(&frame.replace("11794.15000000", "-1"), &m).unwrap_err().to_string().contains("positive"));
    assert!(binance::parse_mark_price(&frame.replace("0.00038167", "0.0003x"), &m).is_err());

    // Bybit v5 "Ticker": the recorded linear snapshot (nautilus `ws_ticker_linear.json`), then a
    // delta carrying only the mark price
    let m = [market("bybit", "BTC/USDT:USDT", "BTCUSDT")];
    let snap = std::fs::read_to_string(common::data().join("ws-samples/bybit/nautilus_ws_ticker_linear.json")).unwrap();
    let u = bybit::parse_ticker(&snap, &m).unwrap();
    assert_eq!((u[0].event_ts, u[0].next_funding), (Ts::from_millis(1_673_272_861_686), Some(Ts::from_millis(1_673_280_000_000))));
    assert_eq!((u[0].rate, u[0].mark.map(|p| p.to_string())), (Some(rate("-0.000212")), Some("17217.33".to_string())));
    let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"17218.00"},"cs":24987956060,"ts":1673272862686}"#;
    let d = bybit::parse_ticker(delta, &m).unwrap();
    assert_eq!((d[0].next_funding, d[0].rate, d[0].mark.map(|p| p.to_string())), (None, None, Some("17218".to_string())));
    assert!(bybit::parse_ticker(r#"{"op":"subscribe","success":true}"#, &m).unwrap().is_empty());

    // OKX "Funding rate channel"
    let m = [market("okx", "BTC/USD:BTC", "BTC-USD-SWAP")];
    let push = r#"{"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{"formulaType":"noRate","fundingRate":"0.0001875391284828","fundingTime":"1700726400000","impactValue":"","instId":"BTC-USD-SWAP","instType":"SWAP","interestRate":"","maxFundingRate":"0.00375","method":"current_period","minFundingRate":"-0.00375","nextFundingRate":"","nextFundingTime":"1700755200000","premium":"0.0001233824646391","settFundingRate":"0.0001699799259033","settState":"settled","sign":"","ts":"1700724675402"}]}"#;
    let u = okx::parse_funding_push(push, &m).unwrap();
    assert_eq!(u[0].instrument.symbol(), "BTC/USD:BTC");
    assert_eq!((u[0].next_funding, u[0].rate, u[0].mark), (Some(Ts::from_millis(1_700_726_400_000)), Some(rate("0.0001875391284828")), None));
    assert!(okx::parse_funding_push("pong", &m).unwrap().is_empty());
    assert!(okx::parse_funding_push(r#"{"event":"subscribe","arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"}}"#, &m).unwrap().is_empty());
}

#[test]
fn the_tracker_settles_each_funding_time_once_with_the_last_rate_and_mark() {
    let btc = Instrument::new("bybit", "BTC/USDT:USDT").unwrap();
    let eth = Instrument::new("bybit", "ETH/USDT:USDT").unwrap();
    let up = |i: Instrument, t: i64, next: Option<i64>, r: Option<&str>, mark: Option<&str>| FundingUpdate {
        instrument: i,
        event_ts: Ts::from_millis(t),
        next_funding: next.map(Ts::from_millis),
        rate: r.map(rate),
        mark: mark.map(|m| m.parse().unwrap()),
    };
    let mut t = FundingTracker::default();
    assert!(t.update(up(btc, 1, None, Some("0.1"), None)).is_none(), "no funding time yet: nothing to track");
    assert!(t.update(up(btc, 2, Some(100), Some("0.0001"), Some("50"))).is_none());
    assert!(t.update(up(eth, 3, Some(100), Some("0.0009"), Some("5"))).is_none());
    assert!(t.update(up(btc, 4, None, None, Some("51"))).is_none(), "a delta with the mark only");
    assert!(t.update(up(btc, 5, Some(100), Some("0.0002"), None)).is_none());
    assert!(t.update(up(btc, 6, Some(40), Some("0.9"), Some("1"))).is_none(), "an update naming an earlier time is stale");
    let f = t.update(up(btc, 101, Some(200), Some("0.0003"), None)).unwrap();
    assert_eq!((f.instrument, f.ts, f.rate, f.mark_price.map(|m| m.to_string())), (btc, Ts::from_millis(100), rate("0.0002"), Some("51".to_string())));
    assert!(t.update(up(btc, 102, Some(200), Some("0.0004"), None)).is_none(), "settled once");
    let e = t.update(up(eth, 103, Some(200), Some("0.0001"), None)).unwrap();
    assert_eq!((e.instrument, e.rate, e.mark_price.map(|m| m.to_string())), (eth, rate("0.0009"), Some("5".to_string())));
}

/// A Binance mark-price WebSocket: three funding periods (8 h apart) of updates every "second"
/// whose rate changes; the first connection drops in the middle of the second period, the
/// second one continues from there. Two events settle; the third period is still open.
#[test]
fn a_session_settles_every_funding_time_across_a_dropped_connection() {
    const T1: i64 = 1_700_006_400_000;
    const H8: i64 = 8 * 3_600_000;
    // (event time, next funding time, rate, mark)
    let updates: Vec<(i64, i64, String, String)> = (0..3)
        .flat_map(|period| {
            (0..5).map(move |k| {
                let e = T1 - H8 + period * H8 + k * 1000;
                (e, T1 + period * H8, format!("0.000{}{}", period + 1, k), format!("{}.5", 30_000 + period * 100 + k))
            })
        })
        .collect();
    let frames: Arc<Vec<String>> = Arc::new(
        updates
            .iter()
            .map(|(e, t, r, p)| {
                serde_json::json!({"stream": "btcusdt@markPrice@1s", "data": {"e": "markPriceUpdate", "E": e, "s": "BTCUSDT", "p": p, "i": p, "P": p, "r": r, "T": t}})
                    .to_string()
            })
            .collect(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let conns = Arc::new(AtomicUsize::new(0));
    let (f2, c2) = (frames.clone(), conns.clone());
    let paths = Arc::new(std::sync::Mutex::new(Vec::new()));
    let p2 = paths.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let c = c2.fetch_add(1, Ordering::SeqCst);
            let (frames, paths) = (f2.clone(), p2.clone());
            std::thread::spawn(move || {
                #[allow(clippy::result_large_err)] // tungstenite's callback signature
                let cb = |req: &tungstenite::handshake::server::Request, resp: tungstenite::handshake::server::Response| {
                    paths.lock().unwrap().push(req.uri().to_string());
                    Ok(resp)
                };
                let Ok(mut ws) = tungstenite::accept_hdr(s, cb) else { return };
                let range = if c == 0 { 0..7 } else { 7..frames.len() };
                for f in &frames[range] {
                    if ws.send(tungstenite::Message::text(f.clone())).is_err() {
                        return;
                    }
                }
                let _ = ws.flush();
                if c == 0 {
                    return; // dropped
                }
                std::thread::sleep(Duration::from_secs(5));
            });
        }
    });
    let m = [market("binance", "BTC/USDT:USDT", "BTCUSDT")];
    let stop = AtomicBool::new(false);
    let mut got = Vec::new();
    let stats = funding::run(&binance::Binance, Some(&url), &m, &stop, Duration::from_secs(5), 5, |f| {
        got.push(f);
        got.len() < 2
    })
    .unwrap();
    let want: Vec<(i64, String, String)> = vec![(T1, "0.00014".into(), "30004.5".into()), (T1 + H8, "0.00024".into(), "30104.5".into())];
    let seen: Vec<(i64, String, String)> = got.iter().map(|f| (f.ts.millis(), f.rate.to_string(), f.mark_price.unwrap().to_string())).collect();
    assert_eq!(seen, want);
    assert!(got.iter().all(|f| f.instrument.symbol() == "BTC/USDT:USDT" && f.instrument.exchange() == "binance"));
    assert_eq!((stats.connects, stats.events), (2, 2), "{stats:?}");
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    assert!(paths.lock().unwrap().iter().all(|p| p == "/stream?streams=btcusdt@markPrice@1s"), "{:?}", paths.lock().unwrap());
}

#[test]
fn a_session_that_cannot_connect_gives_up_with_an_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    drop(l); // nothing listens
    let m = [market("okx", "BTC/USDT:USDT", "BTC-USDT-SWAP")];
    let stop = AtomicBool::new(false);
    let e = funding::run(&okx::Okx, Some(&url), &m, &stop, Duration::from_secs(1), 2, |_| true).unwrap_err();
    assert!(e.to_string().contains("2 connection attempts failed"), "{e}");
}
