//! Table tests of the Bitstamp parsers: the recorded WebSocket trades and control events
//! (`shared/data/ws-samples/bitstamp`), and the documented REST shapes carrying the recorded
//! trade's values.

use super::*;
use crate::venues::api::LiveProtocol;

fn recorded_frames() -> Vec<String> {
    let root = std::env::var("TICKFLOW_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let text = std::fs::read_to_string(root.join("ws-samples/bitstamp/cryptofeed_BITSTAMP.ws.1.0")).unwrap();
    text.lines().filter(|l| !l.contains(" <- ") && !l.contains(" <-> ")).filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string())).collect()
}

/// symbol, price, amount, side, trade id, event time (ns)
type Expected = (&'static str, &'static str, &'static str, Side, u64, i64);
/// trade id, time (s), price, amount, side
type Row = (u64, i64, &'static str, &'static str, Side);

#[test]
fn websocket_frames() {
    let cases: &[(&str, Option<Expected>)] = &[
        (
            r#"{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1443875737346049,"sell_order_id":1443875731320832},"channel":"live_trades_ethusd","event":"trade"}"#,
            Some(("ETH/USD", "3805.44", "0.0792", Side::Buy, 216_000_477, 1_641_343_699_596_000_000)),
        ),
        (
            r#"{"data":{"id":7,"amount_str":"1.5","price_str":"0.5","type":1,"microtimestamp":"1000001"},"channel":"live_trades_xrpeur","event":"trade"}"#,
            Some(("XRP/EUR", "0.5", "1.5", Side::Sell, 7, 1_000_001_000)),
        ),
        (r#"{"event":"bts:subscription_succeeded","channel":"live_trades_btcusd","data":{}}"#, None),
        (r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#, None),
        (r#"{"event":"bts:request_reconnect","channel":"","data":""}"#, None),
        (r#"{"data":{"bids":[],"asks":[]},"channel":"diff_order_book_ethusd","event":"data"}"#, None),
    ];
    for (frame, want) in cases {
        let got = parse_ws(frame, "bitstamp", Ts(0)).unwrap();
        match want {
            None => assert!(got.is_empty(), "{frame}"),
            Some((symbol, price, amount, side, id, ts)) => {
                let t = &got[0];
                assert_eq!((t.instrument.symbol(), t.price.to_string(), t.amount.to_string(), t.side), (*symbol, price.to_string(), amount.to_string(), *side));
                assert_eq!((t.trade_id, t.ts), (Some(*id), Ts(*ts)));
            }
        }
    }
    assert!(is_reconnect_request(cases[4].0));
    assert!(!is_reconnect_request(cases[3].0) && Bitstamp.wants_reconnect(cases[4].0));
    assert!(parse_ws(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1}}"#, "bitstamp", Ts(0)).is_err());
}

#[test]
fn the_recording_has_ten_trades_among_book_updates() {
    let frames = recorded_frames();
    assert!(frames.len() > 700);
    let trades: Vec<Trade> = frames.iter().flat_map(|m| parse_ws(m, "bitstamp", Ts(0)).unwrap()).collect();
    assert_eq!(trades.len(), 10);
    assert!(trades.windows(2).all(|w| w[0].trade_id < w[1].trade_id), "ids increase across pairs");
}

#[test]
fn rest_transactions() {
    let inst = Instrument::new("bitstamp", "ETH/USD").unwrap();
    let cases: &[(&str, Result<Vec<Row>, &str>)] = &[
        (
            r#"[{"date":"1641343699","tid":"216000477","amount":"0.07920000","price":"3805.44","type":"0"},{"date":"1641343690","tid":"216000470","amount":"1.00000000","price":"3805.00","type":"1"}]"#,
            Ok(vec![(216_000_477, 1_641_343_699, "3805.44", "0.0792", Side::Buy), (216_000_470, 1_641_343_690, "3805", "1", Side::Sell)]),
        ),
        (
            r#"[{"date":1641343699,"tid":216000477,"amount":"0.0792","price":"3805.44","type":0}]"#,
            Ok(vec![(216_000_477, 1_641_343_699, "3805.44", "0.0792", Side::Buy)]),
        ),
        ("[]", Ok(vec![])),
        (r#"{"status":"error","reason":"Invalid currency pair"}"#, Err("error response")),
        (r#"[{"date":"x","tid":"1","amount":"1","price":"1","type":"0"}]"#, Err("not an integer")),
    ];
    for (body, want) in cases {
        let got = parse_transactions(body, inst, Ts(0));
        match want {
            Ok(rows) => {
                let got: Vec<_> =
                    got.unwrap().iter().map(|t| (t.trade_id.unwrap(), t.ts.0 / 1_000_000_000, t.price.to_string(), t.amount.to_string(), t.side)).collect();
                let rows: Vec<_> = rows.iter().map(|(i, s, p, a, d)| (*i, *s, p.to_string(), a.to_string(), *d)).collect();
                assert_eq!(got, rows, "{body}");
            }
            Err(msg) => assert!(got.unwrap_err().to_string().contains(msg), "{body}"),
        }
    }
}

#[test]
fn rest_ohlc() {
    let inst = Instrument::new("bitstamp", "BTC/USD").unwrap();
    let tf = Timeframe::from_secs(60).unwrap();
    let body = r#"{"data":{"pair":"BTC/USD","ohlc":[
        {"timestamp":"1641343740","open":"46433.81","high":"46440.00","low":"46430.00","close":"46431.10","volume":"1.20000000"},
        {"timestamp":"1641343680","open":"46421.54","high":"46433.81","low":"46419.77","close":"46433.81","volume":"0.41732410"}]}}"#;
    // at 1641343800 both are closed; at 1641343799 the second minute is still forming
    let cases: &[(i64, usize)] = &[(1_641_343_800, 2), (1_641_343_799, 1), (1_641_343_739, 0)];
    for (now, n) in cases {
        let bars = parse_ohlc(body, inst, tf, Ts::from_secs(*now)).unwrap();
        assert_eq!(bars.len(), *n, "now {now}");
        if let Some(b) = bars.first() {
            assert_eq!(
                (b.open_time, b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string()),
                (Ts::from_secs(1_641_343_680), "46421.54".into(), "46433.81".into(), "46419.77".into(), "46433.81".into())
            );
            assert_eq!(b.volume.to_string(), "0.4173241");
        }
    }
    assert!(parse_ohlc(r#"{"code":"API0005","errors":[{"message":"bad step"}]}"#, inst, tf, Ts(0)).is_err());
    assert!(parse_ohlc(r#"{"data":{}}"#, inst, tf, Ts(0)).is_err());
}

#[test]
fn symbols_and_windows() {
    for (symbol, id) in [("BTC/USD", "btcusd"), ("ETH/EUR", "etheur"), ("USDT/USD", "usdtusd")] {
        assert_eq!(market_id(symbol), id);
        assert_eq!(ccxt_symbol(id).as_deref(), Some(symbol));
    }
    let now = Ts::from_secs(1_700_000_000);
    let ago = |s: i64| Ts(now.0 - s * 1_000_000_000);
    let cases = [(30, ("minute", true)), (59, ("minute", true)), (600, ("hour", true)), (86_000, ("day", true)), (90_000, ("day", false))];
    for (secs, want) in cases {
        assert_eq!(venue_window(ago(secs), now), want, "{secs} s ago");
    }
    let client = || crate::http::HttpClient::new(crate::http::RetryPolicy::default(), std::time::Duration::from_secs(1));
    let e = BitstampHistory::new(client(), REST_URL, "BTC/USD", ago(2 * 86_400), now, now).err().unwrap().to_string();
    assert!(e.contains("not supported by bitstamp") && e.contains("fetch ohlcv"), "{e}");
    assert!(BitstampHistory::new(client(), REST_URL, "BTC/USD", ago(3_000), now, now).is_ok());
}
