//! Venue parsers against real recorded payloads: CCXT's static fixtures (raw response and CCXT's
//! own parsed result), Nautilus' REST samples and cryptofeed's WebSocket captures.

mod common;

use common::data;
use tickflow_connectors::venues::{binance, bybit, coinbase, kraken, okx};
use tickflow_model::{Instrument, Side, Timeframe, Ts};

fn fixture(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data().join("ccxt-static/response").join(name)).unwrap()).unwrap()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap()
}

const FAR: Ts = Ts(i64::MAX);

fn check_trades(parsed: &[tickflow_model::Trade], want: &serde_json::Value) {
    let want = want.as_array().unwrap();
    assert_eq!(parsed.len(), want.len());
    for (t, w) in parsed.iter().zip(want) {
        assert_eq!(t.trade_id.map(|i| i.to_string()), w["id"].as_str().map(String::from), "id");
        assert_eq!(t.ts.millis(), w["timestamp"].as_i64().unwrap(), "timestamp");
        assert_eq!(t.side, if w["side"] == "buy" { Side::Buy } else { Side::Sell }, "taker side");
        assert_eq!(t.price.to_f64(), f(&w["price"]), "price");
        assert_eq!(t.amount.to_f64(), f(&w["amount"]), "amount");
        assert_eq!(t.instrument.symbol(), w["symbol"].as_str().unwrap());
    }
}

fn check_ohlcv(bars: &[tickflow_model::Bar], want: &serde_json::Value) {
    let want = want.as_array().unwrap();
    assert_eq!(bars.len(), want.len(), "candle count");
    for (b, w) in bars.iter().zip(want) {
        let w = w.as_array().unwrap();
        assert_eq!(b.open_time.millis(), w[0].as_i64().unwrap());
        assert_eq!([b.open.to_f64(), b.high.to_f64(), b.low.to_f64(), b.close.to_f64(), b.volume.to_f64()], [f(&w[1]), f(&w[2]), f(&w[3]), f(&w[4]), f(&w[5])]);
    }
}

/// CCXT's handling of `since` and `limit` in `fetchOHLCV` (drop earlier candles, keep `limit`).
fn ccxt_window(bars: Vec<tickflow_model::Bar>, input: &serde_json::Value) -> Vec<tickflow_model::Bar> {
    let since = input.get(2).and_then(|s| s.as_i64());
    let limit = input.get(3).and_then(|s| s.as_u64()).map(|l| l as usize);
    let mut v: Vec<_> = bars.into_iter().filter(|b| since.is_none_or(|s| b.open_time.millis() >= s)).collect();
    if let Some(l) = limit {
        v.truncate(l);
    }
    v
}

#[test]
fn binance_matches_ccxt() {
    let fx = fixture("binance.json");
    for case in fx["methods"]["fetchTrades"].as_array().unwrap() {
        let inst = Instrument::new("binance", case["input"][0].as_str().unwrap()).unwrap();
        let trades = binance::parse_agg_trades(&case["httpResponse"].to_string(), inst, Ts(0)).unwrap();
        check_trades(&trades, &case["parsedResponse"]);
    }
    let mut n = 0;
    for case in fx["methods"]["fetchOHLCV"].as_array().unwrap() {
        let inst = Instrument::new("binance", case["input"][0].as_str().unwrap()).unwrap();
        let tf: Timeframe = case["input"][1].as_str().unwrap().parse().unwrap();
        let bars = binance::parse_klines(&case["httpResponse"].to_string(), inst, tf, FAR).unwrap();
        check_ohlcv(&ccxt_window(bars, &case["input"]), &case["parsedResponse"]);
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(binance::market_id("BTC/USDT"), "BTCUSDT");
    assert_eq!(binance::ccxt_symbol("NKNUSDT").as_deref(), Some("NKN/USDT"));
    assert_eq!(binance::ccxt_symbol("LRCBTC").as_deref(), Some("LRC/BTC"));
}

/// CCXT's static fixtures of OKX and Bybit (copied with their provenance into
/// `tests/fixtures/ccxt/`): spot and linear-swap trades and candles parse to CCXT's result; an
/// OKX derivative's candle volume is `volCcy` (CCXT: index 6 unless spot), not the contracts.
#[test]
fn okx_and_bybit_match_ccxt() {
    let fx = |name: &str| -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ccxt").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (okx_fx, bybit_fx) = (fx("okx.json"), fx("bybit.json"));
    let (mut trades_cases, mut ohlcv_cases) = (0, 0);
    for case in okx_fx["methods"]["fetchTrades"].as_array().unwrap() {
        check_trades(&okx::parse_trades(&case["httpResponse"].to_string(), "okx", Ts(0)).unwrap(), &case["parsedResponse"]);
        trades_cases += 1;
    }
    for case in okx_fx["methods"]["fetchOHLCV"].as_array().unwrap() {
        let symbol = case["input"][0].as_str().unwrap();
        let tf: Timeframe = case["input"][1].as_str().unwrap().parse().unwrap();
        let body = case["httpResponse"].to_string();
        let bars = okx::parse_candles(&body, Instrument::new("okx", symbol).unwrap(), tf).unwrap();
        check_ohlcv(&ccxt_window(bars, &case["input"]), &case["parsedResponse"]);
        // the same rows as a swap's: volume from volCcy (index 6)
        let swap = okx::parse_candles(&body, Instrument::new("okx", "BTC/USDT:USDT").unwrap(), tf).unwrap();
        let raw = case["httpResponse"]["data"].as_array().unwrap();
        for b in &swap {
            let row = raw.iter().find(|r| r[0].as_str().unwrap().parse::<i64>().unwrap() == b.open_time.millis()).unwrap();
            assert_eq!(b.volume.to_string(), row[6].as_str().unwrap().parse::<tickflow_model::Decimal>().unwrap().to_string());
            assert_eq!(b.instrument.symbol(), "BTC/USDT:USDT");
        }
        ohlcv_cases += 1;
    }
    for case in bybit_fx["methods"]["fetchTrades"].as_array().unwrap() {
        let trades = bybit::parse_trades(&case["httpResponse"].to_string(), "bybit", Ts(0)).unwrap();
        let want = case["parsedResponse"].as_array().unwrap();
        assert_eq!(trades.len(), want.len());
        for (t, w) in trades.iter().zip(want) {
            // UUID ids are kept as a stable 64-bit hash of the text
            assert_eq!(t.trade_id, Some(bybit::trade_id(w["id"].as_str().unwrap())));
            assert_eq!((t.ts.millis(), t.instrument.symbol()), (w["timestamp"].as_i64().unwrap(), w["symbol"].as_str().unwrap()));
            assert_eq!((t.price.to_f64(), t.amount.to_f64()), (f(&w["price"]), f(&w["amount"])));
            assert_eq!(t.side, if w["side"] == "buy" { Side::Buy } else { Side::Sell });
        }
        trades_cases += 1;
    }
    for case in bybit_fx["methods"]["fetchOHLCV"].as_array().unwrap() {
        let inst = Instrument::new("bybit", case["input"][0].as_str().unwrap()).unwrap();
        let tf: Timeframe = case["input"][1].as_str().unwrap().parse().unwrap();
        let bars = bybit::parse_klines(&case["httpResponse"].to_string(), inst, tf, FAR, true).unwrap();
        assert!(bars.iter().all(|b| b.instrument.symbol() == "BTC/USDT:USDT"));
        check_ohlcv(&ccxt_window(bars, &case["input"]), &case["parsedResponse"]);
        ohlcv_cases += 1;
    }
    assert_eq!((trades_cases, ohlcv_cases), (2, 2));
}

#[test]
fn kraken_matches_ccxt() {
    let fx = fixture("kraken.json");
    for case in fx["methods"]["fetchTrades"].as_array().unwrap() {
        let (trades, last) = kraken::parse_trades(&case["httpResponse"].to_string(), "kraken", Ts(0)).unwrap();
        check_trades(&trades, &case["parsedResponse"]);
        assert_eq!(last.as_deref(), Some("1710327959173746878"));
    }
    for case in fx["methods"]["fetchOHLCV"].as_array().unwrap() {
        let tf: Timeframe = case["input"][1].as_str().unwrap().parse().unwrap();
        let bars = kraken::parse_ohlc(&case["httpResponse"].to_string(), "kraken", tf).unwrap();
        check_ohlcv(&ccxt_window(bars, &case["input"]), &case["parsedResponse"]);
    }
    assert_eq!(kraken::ccxt_symbol("XXBTZUSD").as_deref(), Some("BTC/USD"));
    assert_eq!(kraken::ccxt_symbol("XBT/USD").as_deref(), Some("BTC/USD"));
    assert_eq!(kraken::ccxt_symbol("XDGUSD").as_deref(), Some("DOGE/USD"));
    assert_eq!(kraken::market_id("BTC/USDT"), "XBTUSDT");
}

#[test]
fn coinbase_matches_ccxt_and_stores_the_taker_side() {
    let fx = fixture("coinbaseexchange.json");
    for case in fx["methods"]["fetchTrades"].as_array().unwrap() {
        let inst = Instrument::new("coinbase", case["input"][0].as_str().unwrap()).unwrap();
        let trades = coinbase::parse_trades(&case["httpResponse"].to_string(), inst, Ts(0)).unwrap();
        assert_eq!(case["httpResponse"][0]["side"], "sell");
        assert_eq!(trades[0].side, Side::Buy, "a hit resting sell is a taker buy");
        check_trades(&trades, &case["parsedResponse"]);
    }
    for case in fx["methods"]["fetchOHLCV"].as_array().unwrap() {
        let inst = Instrument::new("coinbase", case["input"][0].as_str().unwrap()).unwrap();
        let tf: Timeframe = case["input"][1].as_str().unwrap().parse().unwrap();
        let bars = coinbase::parse_candles(&case["httpResponse"].to_string(), inst, tf, FAR).unwrap();
        check_ohlcv(&ccxt_window(bars, &case["input"]), &case["parsedResponse"]);
    }
}

#[test]
fn every_recording_of_these_venues_parses() {
    let d = data();
    let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap();
    // Nautilus REST samples
    let inst = Instrument::new("binance", "ETH/BTC").unwrap();
    assert_eq!(binance::parse_trades(&read("rest-samples/binance/nautilus_spot_trades_response.json"), inst, Ts(0)).unwrap().len(), 1);
    let k = binance::parse_klines(&read("rest-samples/binance/nautilus_spot_klines_response.json"), inst, "1w".parse().unwrap(), FAR).unwrap();
    assert_eq!((k.len(), k[0].trades), (1, 308));
    // Kraken's 1000-trade tape and OHLC recording
    let (trades, _) = kraken::parse_trades(&read("trades/kraken/nautilus_http_trades_XBTUSDT.json"), "kraken", Ts(0)).unwrap();
    assert_eq!(trades.len(), 1000);
    assert!(trades.windows(2).all(|w| w[1].trade_id.unwrap() == w[0].trade_id.unwrap() + 1));
    assert_eq!(trades[0].ts, Ts(1_762_795_433_971_744_500));
    let ohlc = kraken::parse_ohlc(&read("klines/kraken/nautilus_http_ohlc_XBTUSDT_1m.json"), "kraken", "1m".parse().unwrap()).unwrap();
    assert_eq!(ohlc.len(), 720, "721 rows minus the forming candle");
    // cryptofeed WebSocket sessions: every frame either yields trades or is another channel
    let frames = |p: &str| -> Vec<String> {
        read(p).lines().filter(|l| !l.contains(" <-> ") && !l.contains(" <- ")).filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string())).collect()
    };
    let bf = frames("ws-samples/binance/cryptofeed_BINANCE.ws.1.0");
    let agg = bf.iter().filter_map(|m| binance::parse_ws(m, "binance", Ts(0)).unwrap()).count();
    assert_eq!(agg, bf.iter().filter(|m| m.contains("\"e\":\"aggTrade\"")).count());
    assert_eq!(agg, 2);
    let kf = frames("ws-samples/kraken/cryptofeed_KRAKEN.ws.48.0");
    let per_msg: Vec<usize> =
        kf.iter().filter(|m| m.starts_with('[') && m.contains("\"trade\"")).map(|m| kraken::parse_ws_v1(m, "kraken", Ts(0)).unwrap().len()).collect();
    assert!(!per_msg.is_empty() && per_msg.iter().all(|n| *n >= 1), "{per_msg:?}");
    assert!(kf.iter().all(|m| kraken::parse_ws_v1(m, "kraken", Ts(0)).is_ok()));
    let v2 = kraken::parse_ws_v2(&read("ws-samples/kraken/nautilus_ws_trade_update.json"), "kraken", Ts(0)).unwrap();
    assert_eq!(v2.len(), 2);
    assert_eq!((v2[0].instrument.symbol(), v2[0].price.to_string(), v2[0].amount.to_string()), ("BTC/USD", "105944.2".into(), "0.00027625".into()));
    assert_eq!((v2[0].trade_id, v2[0].side, v2[1].side), (Some(10_218_208), Side::Buy, Side::Sell));
    assert_eq!(v2[1].ts, Ts::parse_bytes(b"2023-10-06T17:35:56.123456Z").unwrap());
    for other in ["ws-samples/kraken/nautilus_ws_ohlc_update.json", "ws-samples/kraken/nautilus_ws_ticker_snapshot.json"] {
        assert!(kraken::parse_ws_v2(&read(other), "kraken", Ts(0)).unwrap().is_empty(), "{other}");
    }
    let cf = frames("ws-samples/coinbase/cryptofeed_COINBASE.ws.28.0");
    let cb = cf.iter().filter_map(|m| coinbase::parse_ws(m, "coinbase", Ts(0)).unwrap()).count();
    assert_eq!(cb, cf.iter().filter(|m| m.contains("\"type\":\"match\"") || m.contains("\"type\":\"last_match\"")).count());
    assert_eq!(cb, 107);
}

#[test]
fn malformed_payloads_are_errors_not_panics() {
    let inst = Instrument::new("binance", "BTC/USDT").unwrap();
    for bad in
        ["", "{", "[{\"a\":1}]", "[{\"a\":\"x\",\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}]", "[{\"a\":1,\"p\":\"1e-99\",\"q\":\"1\",\"T\":1,\"m\":true}]"]
    {
        assert!(binance::parse_agg_trades(bad, inst, Ts(0)).is_err(), "{bad}");
    }
    assert!(binance::parse_klines("[[1,2]]", inst, "1m".parse().unwrap(), FAR).is_err());
    assert!(binance::parse_ws("{\"e\":\"aggTrade\",\"s\":\"BTCUSDT\"}", "binance", Ts(0)).is_err());
    assert!(binance::parse_ws("{\"e\":\"depthUpdate\"}", "binance", Ts(0)).unwrap().is_none());
    assert!(kraken::parse_trades("{\"error\":[\"EGeneral:Too many requests\"]}", "kraken", Ts(0)).unwrap_err().to_string().contains("Too many requests"));
    assert!(kraken::parse_trades("{\"error\":[],\"result\":{\"XBTUSD\":[[\"x\",\"1\",1.5,\"b\"]]}}", "kraken", Ts(0)).is_err());
    assert!(coinbase::parse_trades("[{\"trade_id\":1}]", inst, Ts(0)).is_err());
    assert!(coinbase::parse_ws(
        "{\"type\":\"match\",\"trade_id\":1,\"side\":\"buy\",\"size\":\"1\",\"price\":\"1\",\"time\":\"nope\",\"product_id\":\"A-B\"}",
        "coinbase",
        Ts(0)
    )
    .is_err());
}

#[test]
fn bybit_and_okx_recordings_parse() {
    let d = data();
    let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap();
    let t = bybit::parse_trades(&read("rest-samples/bybit/nautilus_http_get_trades_recent.json"), "bybit", Ts(0)).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].instrument.symbol(), "BTC/USDT:USDT");
    assert_eq!((t[0].price.to_string(), t[0].amount.to_string(), t[0].side), ("27450.5".into(), "0.005".into(), Side::Buy));
    assert_eq!(t[0].ts, Ts::from_millis(1_709_891_679_000));
    assert_eq!(t[0].trade_id, Some(bybit::trade_id("a905d5c3-1ed0-4f37-83e4-9c73a2fe2f01")), "UUID ids get a stable hash");
    assert_eq!(bybit::trade_id("2100000000007764263"), 2_100_000_000_007_764_263);
    let inst = Instrument::new("bybit", "BTC/USDT:USDT").unwrap();
    let k = bybit::parse_klines(&read("rest-samples/bybit/nautilus_http_get_klines_linear.json"), inst, "1m".parse().unwrap(), FAR, true).unwrap();
    assert_eq!((k.len(), k[0].close.to_string(), k[0].quote_volume.to_string()), (1, "27455".into(), "3390000".into()));
    let w = bybit::parse_ws(&read("ws-samples/bybit/nautilus_ws_public_trade.json"), "bybit", Ts(0)).unwrap();
    assert_eq!((w.len(), w[0].instrument.symbol(), w[0].side), (1, "BTC/USDT:USDT", Side::Buy));
    assert!(bybit::parse_trades("{\"retCode\":10006,\"retMsg\":\"Too many visits!\"}", "bybit", Ts(0)).unwrap_err().to_string().contains("Too many visits"));

    let t = okx::parse_trades(&read("rest-samples/okx/nautilus_http_get_trades.json"), "okx", Ts(0)).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].trade_id, t[0].side, t[1].side), (Some(734_864_333), Side::Sell, Side::Buy));
    let inst = Instrument::new("okx", "BTC/USDT").unwrap();
    // this recording flags both candles confirm = "0" (forming), so OKX's rule leaves them out
    let c = okx::parse_candles(&read("rest-samples/okx/nautilus_http_get_candlesticks.json"), inst, "1m".parse().unwrap()).unwrap();
    assert!(c.is_empty());
    let full = okx::parse_candles(&read("rest-samples/okx/nautilus_http_get_candlesticks_full.json"), inst, "1m".parse().unwrap()).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&read("rest-samples/okx/nautilus_http_get_candlesticks_full.json")).unwrap();
    let confirmed = raw["data"].as_array().unwrap().iter().filter(|r| r.get(8).and_then(|x| x.as_str()) != Some("0")).count();
    assert_eq!(full.len(), confirmed, "forming candles are left out");
    assert!(confirmed > 0);
    assert!(full.windows(2).all(|w| w[0].open_time < w[1].open_time), "sorted oldest first");
    let w = okx::parse_ws(&read("ws-samples/okx/nautilus_ws_trades.json"), "okx", Ts(0)).unwrap();
    assert_eq!(w[0].instrument.symbol(), "BTC/USD");
    // the cryptofeed session: every trades push parses, other channels yield nothing
    let frames: Vec<String> = read("ws-samples/okx/cryptofeed_OKX.ws.1.0")
        .lines()
        .filter(|l| !l.contains(" <-> ") && !l.contains(" <- "))
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
        .collect();
    let pushes = frames.iter().filter(|m| m.contains("\"channel\":\"trades\"") && m.contains("\"data\"")).count();
    let trades: Vec<_> = frames.iter().map(|m| okx::parse_ws(m, "okx", Ts(0)).unwrap()).collect();
    assert_eq!(trades.iter().filter(|v| !v.is_empty()).count(), pushes);
    assert!(trades.iter().flatten().any(|t| t.instrument.symbol() == "BTC/USD:BTC-220527"));
    assert_eq!(okx::ccxt_symbol("UNI-USD-SWAP").as_deref(), Some("UNI/USD:UNI"));
    assert_eq!(okx::ccxt_symbol("BTC-USDT-SWAP").as_deref(), Some("BTC/USDT:USDT"));
    assert!(okx::parse_trades("{\"code\":\"50011\",\"msg\":\"Too Many Requests\"}", "okx", Ts(0)).unwrap_err().to_string().contains("Too Many Requests"));
}

#[test]
fn the_other_recorded_sessions_parse_frame_by_frame() {
    let d = data();
    let frames = |p: &str| -> Vec<String> {
        std::fs::read_to_string(d.join(p))
            .unwrap()
            .lines()
            .filter(|l| !l.contains(" <-> ") && !l.contains(" <- "))
            .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
            .collect()
    };
    // Bybit's pre-v5 streams: every trade message yields its trades, nothing else errs
    for (file, symbol) in [("ws-samples/bybit/cryptofeed_BYBIT.ws.25.0", "BCH/USDT:USDT"), ("ws-samples/bybit/cryptofeed_BYBIT.ws.26.0", "BTC/USD:BTC")] {
        let f = frames(file);
        let parsed: Vec<Vec<tickflow_model::Trade>> = f.iter().map(|m| bybit::parse_ws(m, "bybit", Ts(0)).unwrap()).collect();
        let trade_msgs = f.iter().filter(|m| m.contains("\"topic\":\"trade.")).count();
        assert!(trade_msgs > 60, "{file}");
        assert_eq!(parsed.iter().filter(|v| !v.is_empty()).count(), trade_msgs, "{file}");
        let all: Vec<&tickflow_model::Trade> = parsed.iter().flatten().collect();
        assert!(all.iter().any(|t| t.instrument.symbol() == symbol), "{file}");
        assert!(all.iter().all(|t| !t.price.is_zero() && !t.amount.is_zero() && t.side != Side::Unknown), "{file}");
    }
    let first =
        bybit::parse_ws(&frames("ws-samples/bybit/cryptofeed_BYBIT.ws.25.0").into_iter().find(|m| m.contains("trade.BCHUSDT")).unwrap(), "bybit", Ts(0))
            .unwrap();
    assert_eq!((first[0].price.to_string(), first[0].amount.to_string(), first[0].ts), ("1053.9".into(), "0.14".into(), Ts::from_millis(1_618_677_785_116)));
    // Binance futures aggTrades and Kraken's ticker session: trades where there are trades, no errors
    let bf = frames("ws-samples/binance/cryptofeed_BINANCE_FUTURES.ws.1.0");
    let agg = bf.iter().filter_map(|m| binance::parse_ws(m, "binance", Ts(0)).unwrap()).count();
    assert_eq!(agg, bf.iter().filter(|m| m.contains("\"e\":\"aggTrade\"")).count());
    assert_eq!(agg, 91);
    assert!(frames("ws-samples/kraken/cryptofeed_KRAKEN.ws.49.0").iter().all(|m| kraken::parse_ws_v1(m, "kraken", Ts(0)).unwrap().is_empty()));
    // Bitstamp: 10 trades among 717 book updates and 40 subscription events
    use tickflow_connectors::venues::bitstamp;
    let bs = frames("ws-samples/bitstamp/cryptofeed_BITSTAMP.ws.1.0");
    let trades: Vec<tickflow_model::Trade> = bs.iter().flat_map(|m| bitstamp::parse_ws(m, "bitstamp", Ts(0)).unwrap()).collect();
    assert_eq!(trades.len(), 10);
    assert_eq!(trades.len(), bs.iter().filter(|m| m.contains("\"event\":\"trade\"")).count());
    let t = &trades[0];
    assert_eq!((t.instrument.symbol(), t.price.to_string(), t.amount.to_string(), t.side), ("ETH/USD", "3805.44".into(), "0.0792".into(), Side::Buy));
    assert_eq!((t.trade_id, t.ts), (Some(216_000_477), Ts(1_641_343_699_596_000_000)));
}

#[test]
fn funding_rows_parse_exactly_and_refuse_what_is_not_a_rate() {
    use tickflow_connectors::venues::bybit;
    // Binance USDⓈ-M `GET /fapi/v1/fundingRate` (the API documentation's example)
    let inst = Instrument::new("binance", "BTC/USDT:USDT").unwrap();
    let body = r#"[{"symbol":"BTCUSDT","fundingRate":"-0.03750000","fundingTime":1570608000000,"markPrice":"34287.54619963"},
                   {"symbol":"BTCUSDT","fundingRate":"0.00010000","fundingTime":1570636800000,"markPrice":""}]"#;
    let v = binance::parse_funding(body, inst).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0].ts, v[0].rate.to_string(), v[0].mark_price.map(|m| m.to_string())),
        (Ts::from_millis(1_570_608_000_000), "-0.0375".into(), Some("34287.54619963".into()))
    );
    assert_eq!((v[1].rate.to_string(), v[1].mark_price), ("0.0001".into(), None));
    // Bybit v5 `GET /v5/market/funding/history` (the API documentation's example); OKX-style
    // 16-decimal rates stay exact
    let inst = Instrument::new("bybit", "ETH/USDT:USDT").unwrap();
    let body = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"ETHUSDT","fundingRate":"0.0000983434362041","fundingRateTimestamp":"1672041600000"}]},"retExtInfo":{},"time":1672051897447}"#;
    let v = bybit::parse_funding(body, inst).unwrap();
    assert_eq!((v[0].ts, v[0].rate.to_string()), (Ts::from_millis(1_672_041_600_000), "0.0000983434362041".into()));
    // OKX v5 `GET /api/v5/public/funding-rate-history` (the API documentation's example): the
    // settled realizedRate, else fundingRate
    let inst = Instrument::new("okx", "BTC/USD:BTC").unwrap();
    let body = r#"{"code":"0","msg":"","data":[{"fundingRate":"0.0000746","fundingTime":"1703059200000","instId":"BTC-USD-SWAP","instType":"SWAP","method":"next_period","realizedRate":"0.0000741"},
                  {"fundingRate":"-0.0000150","fundingTime":"1703030400000","instId":"BTC-USD-SWAP","instType":"SWAP","method":"next_period","realizedRate":""}]}"#;
    let v = tickflow_connectors::venues::okx::parse_funding(body, inst).unwrap();
    assert_eq!((v[0].ts, v[0].rate.to_string(), v[1].rate.to_string()), (Ts::from_millis(1_703_059_200_000), "0.0000741".into(), "-0.000015".into()));
    assert_eq!(tickflow_connectors::venues::okx::market_id("BTC/USD:BTC"), "BTC-USD-SWAP");
    let e =
        tickflow_connectors::venues::okx::parse_funding(r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#, inst).unwrap_err().to_string();
    assert!(e.contains("51001"), "{e}");
    // errors name the venue and what is wrong
    let e = bybit::parse_funding(r#"{"retCode":10001,"retMsg":"params error","result":{}}"#, inst).unwrap_err().to_string();
    assert!(e.contains("10001") && e.contains("params error"), "{e}");
    let e = binance::parse_funding(r#"[{"fundingTime":1,"fundingRate":"abc"}]"#, inst).unwrap_err().to_string();
    assert!(e.contains("binance") && e.contains("fundingRate"), "{e}");
    let e = binance::parse_funding(r#"[{"fundingRate":"0.1"}]"#, inst).unwrap_err().to_string();
    assert!(e.contains("without fundingTime"), "{e}");
}
