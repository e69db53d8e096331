//! Helpers shared by the connector integration tests.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

/// `../shared/data` beside the repository (override with `TICKFLOW_SHARED_DATA`).
pub fn data() -> PathBuf {
    std::env::var("TICKFLOW_SHARED_DATA").map(PathBuf::from).unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// freqtrade's recording of 12,477 Binance XRP/ETH aggregate trades: the raw `aggTrades`
/// payload objects (`{"a","p","q","f","l","T","m","M"}`) in id order.
pub fn freqtrade_agg_trades() -> Vec<serde_json::Value> {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(data().join("trades/freqtrade/XRP_OLD-trades.json.gz")).unwrap()).read_to_string(&mut s).unwrap();
    let v: Vec<serde_json::Value> = serde_json::from_str(&s).unwrap();
    v.into_iter().map(|t| t["info"].clone()).collect()
}
