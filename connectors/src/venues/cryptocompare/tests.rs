//! Table tests of the CryptoCompare parsers against the recorded min-api responses.

use super::*;
use std::path::PathBuf;

fn data(name: &str) -> String {
    let root = std::env::var("TICKFLOW_SHARED_DATA").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let p = root.join("cryptocompare/json").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (set TICKFLOW_SHARED_DATA to the shared data directory)", p.display()))
}

fn inst() -> Instrument {
    Instrument::new("cryptocompare", "BTC/USD").unwrap()
}

#[test]
fn float_artifacts_round_at_the_ninth_digit() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(round_decimal("120.21000000000001").unwrap(), d("120.21"));
    assert_eq!(round_decimal("0.1234567895").unwrap(), d("0.123456790"));
    assert_eq!(round_decimal("-0.1234567895").unwrap(), d("-0.123456790"));
    assert_eq!(round_decimal("0.1234567894999").unwrap(), d("0.123456789"));
    assert_eq!(round_decimal("3449.12").unwrap(), d("3449.12"));
    assert_eq!(round_decimal("3424").unwrap(), d("3424"));
    assert!(round_decimal("abc").is_err());
}

#[test]
fn endpoints_by_timeframe() {
    let tf = |s: &str| s.parse::<Timeframe>().unwrap();
    assert_eq!(unit_and_aggregate(tf("1m")).unwrap(), ("minute", 1));
    assert_eq!(unit_and_aggregate(tf("15m")).unwrap(), ("minute", 15));
    assert_eq!(unit_and_aggregate(tf("4h")).unwrap(), ("hour", 4));
    assert_eq!(unit_and_aggregate(tf("1d")).unwrap(), ("day", 1));
    assert!(unit_and_aggregate(tf("30s")).is_err());
    assert_eq!(pair("btc/usd").unwrap(), ("BTC".into(), "USD".into()));
    assert!(pair("BTCUSD").is_err());
}

#[test]
fn recorded_v1_minutes_parse_exactly() {
    let body = data("btc_to_usd_histo_minute_with_to_ts.json");
    let tf: Timeframe = "1m".parse().unwrap();
    let page = parse_legacy(&body, inst(), tf, Ts::now()).unwrap();
    assert_eq!((page.bars.len(), page.rejected, page.forming, page.empty), (1441, 0, 0, 0));
    let first = &page.bars[0];
    assert_eq!(first.open_time.0, 1_502_428_620 * 1_000_000_000);
    assert_eq!(
        (first.open, first.high, first.low, first.close),
        ("3451.92".parse().unwrap(), "3452.78".parse().unwrap(), "3448.82".parse().unwrap(), "3449.12".parse().unwrap())
    );
    assert_eq!(first.volume, "14.82".parse().unwrap());
    assert_eq!(first.quote_volume, "51173.22".parse().unwrap());
    assert_eq!(page.bars.last().unwrap().open_time.0, 1_502_515_020 * 1_000_000_000, "limit rows end at toTs inclusive");
    // a bar still forming at `now` is held back
    let now = Ts(1_502_515_020 * 1_000_000_000 + 30_000_000_000);
    let page = parse_legacy(&body, inst(), tf, now).unwrap();
    assert_eq!((page.bars.len(), page.forming), (1440, 1));
}

#[test]
fn limit_n_returns_n_plus_one_and_the_inconsistent_forming_day_is_rejected() {
    let body = data("btc_to_usd_histo_day_with_limit_10.json");
    let page = parse_legacy(&body, inst(), "1d".parse().unwrap(), Ts::now()).unwrap();
    assert_eq!(page.bars.len() + page.rejected, 11);
    assert_eq!(page.rejected, 1, "high 3915.57 < close 3937.77");
    assert!(page.bars.iter().all(|b| b.open_time.0 / 1_000_000_000 % 86_400 == 0));
}

#[test]
fn aggregate_two_matches_rolling_up_aggregate_one() {
    // PROVENANCE §0.3 counts 720/84/15 matching pairs; the last day pair includes a forming,
    // inconsistent day bar (high < close) that the parser rejects
    for (unit, secs, pairs) in [("minute", 60i64, 720), ("hour", 3600, 84), ("day", 86_400, 14)] {
        let (one, two) = (data(&format!("btc_to_usd_histo_{unit}_unaggregated.json")), data(&format!("btc_to_usd_histo_{unit}_aggregated.json")));
        let tf1 = Timeframe::from_secs(secs).unwrap();
        let tf2 = Timeframe::from_secs(2 * secs).unwrap();
        let far = Ts(i64::MAX);
        let ones = parse_legacy(&one, inst(), tf1, far).unwrap().bars;
        let twos = parse_legacy(&two, inst(), tf2, far).unwrap().bars;
        let by_open: std::collections::BTreeMap<i64, &Bar> = ones.iter().map(|b| (b.open_time.0, b)).collect();
        let mut compared = 0;
        for b in &twos {
            assert_eq!(b.open_time.0 % tf2.nanos(), 0, "aggregate bars are epoch-aligned");
            let (Some(a), Some(c)) = (by_open.get(&b.open_time.0), by_open.get(&(b.open_time.0 + tf1.nanos()))) else { continue };
            assert_eq!(b.open, a.open, "{unit} {}", b.open_time);
            assert_eq!(b.close, c.close);
            assert_eq!(b.high, a.high.max(c.high));
            assert_eq!(b.low, a.low.min(c.low));
            // CryptoCompare rounds summed volumes to 2 dp; both inputs already have ≤ 2 dp
            assert_eq!(b.volume, a.volume + c.volume);
            compared += 1;
        }
        assert_eq!(compared, pairs, "{unit}: aggregate bars compared");
    }
}

#[test]
fn data_api_shape_parses_the_same_bars() {
    let body = data("btc_to_usd_histo_hour.json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows: Vec<serde_json::Value> = v["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::json!({"UNIT":"HOUR","TIMESTAMP":r["time"],"TYPE":"267","MARKET":"cccagg","INSTRUMENT":"BTC-USD",
                "OPEN":r["open"],"HIGH":r["high"],"LOW":r["low"],"CLOSE":r["close"],"VOLUME":r["volumefrom"],"QUOTE_VOLUME":r["volumeto"],
                "TOTAL_TRADES":7,"VOLUME_BUY":r["volumefrom"],"VOLUME_SELL":0})
        })
        .collect();
    let data_api = serde_json::json!({"Data": rows, "Err": {}}).to_string();
    let tf: Timeframe = "1h".parse().unwrap();
    let legacy = parse_legacy(&body, inst(), tf, Ts(i64::MAX)).unwrap();
    let modern = parse_data_api(&data_api, inst(), tf, Ts(i64::MAX)).unwrap();
    assert_eq!(legacy.bars.len(), modern.bars.len());
    assert!(legacy.bars.len() > 100);
    for (a, b) in legacy.bars.iter().zip(&modern.bars) {
        assert_eq!(
            (a.open_time, a.open, a.high, a.low, a.close, a.volume, a.quote_volume),
            (b.open_time, b.open, b.high, b.low, b.close, b.volume, b.quote_volume)
        );
        assert_eq!((b.trades, b.buy_volume), (7, b.volume));
    }
    let err = parse_data_api(r#"{"Data":[],"Err":{"type":1,"message":"Unauthorized"}}"#, inst(), tf, Ts(i64::MAX)).unwrap_err();
    assert!(err.to_string().contains("Unauthorized"), "{err}");
}

#[test]
fn errors_and_leading_zero_rows() {
    let tf: Timeframe = "1m".parse().unwrap();
    let err = parse_legacy(r#"{"Response":"Error","Message":"You are over your rate limit please upgrade your account!","Type":99}"#, inst(), tf, Ts(i64::MAX))
        .unwrap_err();
    assert!(err.to_string().contains("rate limit"), "{err}");
    assert!(parse_legacy("<html>", inst(), tf, Ts(i64::MAX)).is_err());
    let v2 = r#"{"Response":"Success","Message":"","Data":{"Aggregated":false,"TimeFrom":0,"TimeTo":120,"Data":[
        {"time":0,"open":0,"high":0,"low":0,"close":0,"volumefrom":0,"volumeto":0},
        {"time":60,"open":1.5,"high":2,"low":1,"close":1.75,"volumefrom":3,"volumeto":4.5},
        {"time":120,"open":1.75,"high":1.7,"low":1,"close":1.75,"volumefrom":3,"volumeto":4.5}]}}"#;
    let page = parse_legacy(v2, inst(), tf, Ts(i64::MAX)).unwrap();
    assert_eq!((page.bars.len(), page.empty, page.rejected), (1, 1, 1));
    assert_eq!(page.bars[0].close, "1.75".parse().unwrap());
}

mod trade_tests {
    use super::super::*;

    #[test]
    fn streamer_trades_and_control_messages() {
        let t = parse_streamer(
            r#"{"TYPE":"0","M":"Coinbase","FSYM":"BTC","TSYM":"USD","F":"2","ID":"1001","TS":1700000000,"Q":0.0123,"P":37000.5,"TOTAL":455.1,"RTS":1700000000,"TSNS":123000000,"CCSEQ":77}"#,
            Ts(0),
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].instrument.exchange(), t[0].instrument.symbol()), ("coinbase", "BTC/USD"));
        assert_eq!((t[0].price.to_string(), t[0].amount.to_string(), t[0].side, t[0].trade_id), ("37000.5".into(), "0.0123".into(), Side::Buy, Some(1001)));
        assert_eq!(t[0].ts, Ts(1_700_000_000_123_000_000));
        let sell = parse_streamer(r#"{"TYPE":"0","M":"Kraken","FSYM":"ETH","TSYM":"EUR","F":"1","ID":"x-1","TS":1,"Q":"1","P":"2"}"#, Ts(0)).unwrap();
        assert_eq!((sell[0].side, sell[0].trade_id), (Side::Sell, Some(tickflow_model::fnv1a64(&[b"x-1"]))));
        for control in [
            r#"{"TYPE":"20","MESSAGE":"STREAMERWELCOME"}"#,
            r#"{"TYPE":"16","MESSAGE":"SUBSCRIBECOMPLETE","SUB":"0~Coinbase~BTC~USD"}"#,
            r#"{"TYPE":"999","MESSAGE":"HEARTBEAT"}"#,
        ] {
            assert!(parse_streamer(control, Ts(0)).unwrap().is_empty(), "{control}");
        }
        let e =
            parse_streamer(r#"{"TYPE":"401","MESSAGE":"UNAUTHORIZED","PARAMETER":"format","INFO":"We only support JSON format with a valid api_key."}"#, Ts(0))
                .unwrap_err();
        assert!(e.to_string().contains("401 UNAUTHORIZED"), "{e}");
        assert!(parse_streamer(r#"{"TYPE":"0","M":"Coinbase","FSYM":"BTC","TSYM":"USD","F":"2","TS":1}"#, Ts(0)).is_err(), "no price");
        assert_eq!(streamer_sub("coinbase", "BTC/USD").unwrap(), "0~Coinbase~BTC~USD");
    }

    #[test]
    fn data_api_trades() {
        let inst = Instrument::new("kraken", "BTC/USD").unwrap();
        let body = r#"{"Data":[{"TYPE":"952","MARKET":"kraken","INSTRUMENT":"XBTUSD","SIDE":"SELL","ID":"64012345","TIMESTAMP":1700000001,"TIMESTAMP_NS":5000,"PRICE":37001.1,"QUANTITY":0.25,"CCSEQ":9}],"Err":{}}"#;
        let t = parse_data_api_trades(body, inst, Ts(0)).unwrap();
        assert_eq!((t[0].trade.trade_id, t[0].trade.side, t[0].ccseq), (Some(64_012_345), Side::Sell, Some(9)));
        assert_eq!((t[0].trade.price.to_string(), t[0].trade.ts), ("37001.1".into(), Ts(1_700_000_001_000_005_000)));
        let err = parse_data_api_trades(r#"{"Data":[],"Err":{"type":1,"message":"Not found"}}"#, inst, Ts(0)).unwrap_err();
        assert!(err.to_string().contains("Not found"));
    }
}
