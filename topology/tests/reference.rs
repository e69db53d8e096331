//! Exchange and third-party references (../shared/data/PROVENANCE.md §0.1, §0.2).

mod common;

use std::collections::BTreeMap;

use common::{read_bars, shared_data, tickflow_ok};
use tickflow_model::Decimal;

fn dec(v: &serde_json::Value) -> Decimal {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        serde_json::Value::Number(n) => n.to_string().parse().unwrap(),
        other => panic!("not a decimal: {other}"),
    }
}

/// Kraken's own 1-minute candles vs our aggregation of Kraken's trades, with `carry`.
#[test]
fn kraken_trades_reproduce_kraken_1m_candles() {
    let data = shared_data();
    let trades: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("trades/kraken/nautilus_http_trades_XBTUSDT.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("kraken.csv");
    let mut text = String::from("timestamp,symbol,price,amount,side,trade_id\n");
    let rows = trades["result"]["XBTUSDT"].as_array().unwrap();
    assert_eq!(rows.len(), 1000);
    for r in rows {
        // Kraken: [price, volume, time (float seconds), "b"/"s", "m"/"l", misc, trade_id]
        let time = r[2].as_f64().unwrap();
        text.push_str(&format!("{},BTC/USDT,{},{},{},{}\n", time, r[0].as_str().unwrap(), r[1].as_str().unwrap(), r[3].as_str().unwrap(), r[6]));
    }
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("bars.csv");
    tickflow_ok(&[
        "aggregate",
        "--input",
        csv.to_str().unwrap(),
        "--exchange",
        "kraken",
        "--timeframes",
        "1m",
        "--fill",
        "carry",
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ]);
    let bars: BTreeMap<i64, common::Row> = read_bars(&out).into_iter().map(|r| (r.open_time / 1000, r)).collect();

    let ohlc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("klines/kraken/nautilus_http_ohlc_XBTUSDT_1m.json")).unwrap()).unwrap();
    // full minutes strictly inside the trade window: 17:24 .. 00:12 (2025-11-10/11)
    let (first, last) = (1_762_795_440i64, 1_762_819_920i64);
    let mut checked = 0;
    let mut empty = 0;
    for c in ohlc["result"]["XBTUSDT"].as_array().unwrap() {
        let t = c[0].as_i64().unwrap();
        if t < first || t > last {
            continue;
        }
        let b = bars.get(&t).unwrap_or_else(|| panic!("no bar for minute {t}"));
        assert_eq!(b.open, dec(&c[1]), "open at {t}");
        assert_eq!(b.high, dec(&c[2]), "high at {t}");
        assert_eq!(b.low, dec(&c[3]), "low at {t}");
        assert_eq!(b.close, dec(&c[4]), "close at {t}");
        assert_eq!(b.volume, dec(&c[6]), "volume at {t}");
        assert_eq!(b.trades, c[7].as_u64().unwrap(), "count at {t}");
        assert_eq!(b.revision, 0);
        if b.trades == 0 {
            empty += 1;
        }
        checked += 1;
    }
    assert_eq!(checked, 409, "every full minute is compared");
    assert_eq!(empty, 137, "empty minutes are carried, as Kraken does");
}

/// freqtrade's converter output (its own test asserts exact equality) vs ours, `none` fill.
#[test]
fn freqtrade_xrp_eth_trades_reproduce_1m_and_5m_candles() {
    let dir = tempfile::tempdir().unwrap();
    let csv = common::freqtrade_csv(dir.path());
    let out = dir.path().join("bars.csv");
    tickflow_ok(&[
        "aggregate",
        "-i",
        csv.to_str().unwrap(),
        "--symbol",
        "XRP/ETH",
        "--exchange",
        "binance",
        "--timeframes",
        "5m,1m",
        "--out",
        out.to_str().unwrap(),
        "--no-progress",
    ]);
    let bars = read_bars(&out);
    for (tf, file, n) in [("1m", "XRP_ETH-1m.csv", 2469), ("5m", "XRP_ETH-5m.csv", 706)] {
        let ours: Vec<&common::Row> = bars.iter().filter(|b| b.timeframe == tf).collect();
        let text = std::fs::read_to_string(shared_data().join("klines/freqtrade").join(file)).unwrap();
        let want: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert_eq!(want.len(), n);
        assert_eq!(ours.len(), n, "{tf}: bar count");
        for (b, w) in ours.iter().zip(&want) {
            assert_eq!(b.symbol, "XRP/ETH");
            assert_eq!(b.open_time, w[0].parse::<i64>().unwrap(), "{tf} open time");
            let d = |s: &str| s.parse::<Decimal>().unwrap();
            assert_eq!((b.open, b.high, b.low, b.close, b.volume), (d(w[2]), d(w[3]), d(w[4]), d(w[5]), d(w[6])), "{tf} at {}", w[1]);
        }
    }
}

/// A run with shuffled (within the disorder bound) and duplicated trades gives the same file.
#[test]
fn shuffled_and_duplicated_input_gives_identical_bars() {
    let dir = tempfile::tempdir().unwrap();
    let csv = common::freqtrade_csv(dir.path());
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    let ts = |l: &str| l.split(',').next().unwrap().parse::<i64>().unwrap();
    // swap neighbours less than 2 s apart; re-send every 7th trade a few rows later
    let mut x: u64 = 99;
    for _ in 0..3 {
        for i in 1..lines.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(2) && (ts(lines[i]) - ts(lines[i - 1])).abs() < 2_000 {
                lines.swap(i, i - 1);
            }
        }
    }
    let mut noisy = vec![header.to_string()];
    for (i, l) in lines.iter().enumerate() {
        noisy.push(l.to_string());
        if i.is_multiple_of(7) && i + 3 < lines.len() {
            noisy.push(lines[i.saturating_sub(2)].to_string());
        }
    }
    let noisy_csv = dir.path().join("noisy.csv");
    std::fs::write(&noisy_csv, noisy.join("\n")).unwrap();
    let run = |input: &std::path::Path, out: &str| {
        let out = dir.path().join(out);
        tickflow_ok(&[
            "aggregate",
            "-i",
            input.to_str().unwrap(),
            "--symbol",
            "XRP/ETH",
            "--timeframes",
            "1m,5m",
            "--fill",
            "carry",
            "--late",
            "revise",
            "--out-of-orderness",
            "5s",
            "--out",
            out.to_str().unwrap(),
            "--no-progress",
        ]);
        std::fs::read(out).unwrap()
    };
    let clean = run(&csv, "clean.csv");
    let noisy_out = run(&noisy_csv, "noisy_bars.csv");
    assert!(clean.len() > 10_000);
    assert_eq!(clean, noisy_out, "shuffling within 5 s and duplicating changed the bars");
}
