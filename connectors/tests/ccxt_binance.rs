//! The CCXT path (`cargo test -p tickflow-connectors --features ccxt`) against a local server
//! answering like Binance with real recorded payloads: freqtrade's 12,477 XRP/ETH `aggTrades`
//! and data.binance.vision ADA/BTC 1-minute klines (21 rows). The ccxt crate's output, converted to
//! tickflow types, must equal what the native Binance parsers read from the same payloads.
#![cfg(feature = "ccxt")]

mod common;
#[path = "support/http_stub.rs"]
mod http_stub;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{data, freqtrade_agg_trades};
use serde_json::{json, Value};
use tickflow_connectors::ccxt_venues;
use tickflow_connectors::venues::binance;
use tickflow_model::{Instrument, Timeframe, Ts};

fn klines() -> Vec<Value> {
    let mut rows = Vec::new();
    for day in ["27", "28"] {
        let text = std::fs::read_to_string(data().join(format!("klines/binance/nautilus_ADABTC-1m-2021-11-{day}.csv"))).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split(',').collect();
            // REST shape: times and the trade count are numbers, the rest strings
            rows.push(json!([
                f[0].parse::<i64>().unwrap(),
                f[1],
                f[2],
                f[3],
                f[4],
                f[5],
                f[6].parse::<i64>().unwrap(),
                f[7],
                f[8].parse::<i64>().unwrap(),
                f[9],
                f[10],
                f[11]
            ]));
        }
    }
    rows
}

fn serve(trades: Arc<Vec<Value>>, klines: Arc<Vec<Value>>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let url = http_stub::serve(move |req, s| {
        h.fetch_add(1, Ordering::SeqCst);
        let param = |k: &str| req.param(k).and_then(|v| v.parse::<i64>().ok());
        let limit = param("limit").unwrap_or(500).clamp(1, 1000) as usize;
        let (start, end) = (param("startTime").unwrap_or(0), param("endTime").unwrap_or(i64::MAX));
        let target = req.target.as_str();
        let body = if target.starts_with("/api/v3/exchangeInfo") {
            let sym = |s: &str, b: &str, q: &str| json!({"symbol": s, "baseAsset": b, "quoteAsset": q, "status": "TRADING", "filters": [], "isSpotTradingAllowed": true});
            Some(json!({"timezone": "UTC", "serverTime": 1, "symbols": [sym("XRPETH", "XRP", "ETH"), sym("ADABTC", "ADA", "BTC")]}))
        } else if target.starts_with("/api/v3/aggTrades") {
            Some(Value::Array(trades.iter().filter(|t| (start..=end).contains(&t["T"].as_i64().unwrap())).take(limit).cloned().collect()))
        } else if target.starts_with("/api/v3/klines") {
            Some(Value::Array(klines.iter().filter(|k| (start..=end).contains(&k[0].as_i64().unwrap())).take(limit).cloned().collect()))
        } else {
            None
        };
        match body {
            Some(b) => http_stub::respond_json(s, "200 OK", &b.to_string()),
            None => http_stub::respond(s, "404 Not Found", "", ""),
        }
    });
    (url, hits)
}

#[test]
fn ccxt_trades_equal_the_native_parser_on_the_recorded_tape() {
    let trades = Arc::new(freqtrade_agg_trades());
    let (url, hits) = serve(trades.clone(), Arc::new(klines()));
    let first = trades[0]["T"].as_i64().unwrap();
    let last = trades.last().unwrap()["T"].as_i64().unwrap();
    let (since, until) = (Ts::from_millis(first), Ts::from_millis(last + 1));
    let mut got = Vec::new();
    let n = ccxt_venues::fetch_trades("binance", Some(&url), "XRP/ETH", since, until, |page| {
        got.extend_from_slice(page);
        Ok(())
    })
    .unwrap();
    let inst = Instrument::new("binance", "XRP/ETH").unwrap();
    let want = binance::parse_agg_trades(&Value::Array(trades.to_vec()).to_string(), inst, Ts(0)).unwrap();
    assert_eq!(n as usize, want.len());
    assert_eq!(got.len(), want.len(), "every trade once");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.trade_id, g.ts, g.price, g.amount, g.side, g.instrument), (w.trade_id, w.ts, w.price, w.amount, w.side, w.instrument));
    }
    assert!(hits.load(Ordering::SeqCst) > 13, "paged (1000 a page) after loading markets");
}

#[test]
fn ccxt_ohlcv_equals_the_native_parser_on_recorded_klines() {
    let rows = Arc::new(klines());
    let (url, _) = serve(Arc::new(Vec::new()), rows.clone());
    let tf: Timeframe = "1m".parse().unwrap();
    let first = Ts::from_millis(rows[0][0].as_i64().unwrap());
    let until = Ts::from_millis(rows.last().unwrap()[0].as_i64().unwrap() + 60_000);
    let mut got = Vec::new();
    ccxt_venues::fetch_ohlcv("binance", Some(&url), "ADA/BTC", tf, first, until, |bars| {
        got.extend_from_slice(bars);
        Ok(())
    })
    .unwrap();
    let inst = Instrument::new("binance", "ADA/BTC").unwrap();
    let want = binance::parse_klines(&Value::Array(rows.to_vec()).to_string(), inst, tf, Ts::now()).unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.len(), 21, "10 + 11 recorded rows");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.open_time, g.open, g.high, g.low, g.close, g.volume), (w.open_time, w.open, w.high, w.low, w.close, w.volume));
    }
}

#[test]
fn a_venue_not_compiled_in_is_a_clear_error() {
    let e = ccxt_venues::fetch_trades("hyperliquid", None, "BTC/USDC", Ts(0), Ts(1), |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("not compiled in") && e.contains("binance"), "{e}");
}
