//! Perpetual backtests through the CLI: at leverage 1 without funding a linear perpetual equals
//! the spot backtest (fills, equity, final value); with a funding file every payment is the
//! position held before the funding time × the mark (the last close) × the rate, and the
//! final value moves by exactly the funding paid.

mod common;

use std::collections::BTreeMap;

use common::{shared_data, tickflow_ok};
use tickflow_model::{Decimal, Notional};

fn run(dir: &std::path::Path, name: &str, symbol: &str, extra: &[&str]) -> (serde_json::Value, String, String) {
    let bars = shared_data().join("backtrader/orcl-1995-2014.txt");
    let out = dir.join(name);
    let args = [
        "backtest",
        "--bars",
        bars.to_str().unwrap(),
        "--symbol",
        symbol,
        "--strategy",
        "sma_cross",
        "--param",
        "fast=10",
        "--param",
        "slow=30",
        "--cash",
        "100000",
        "--commission",
        "0.001",
        "--sizer",
        "fixed:100",
        "--out-dir",
        out.to_str().unwrap(),
    ];
    tickflow_ok(&[&args[..], extra].concat());
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    (summary, std::fs::read_to_string(out.join("fills.csv")).unwrap(), std::fs::read_to_string(out.join("equity.csv")).unwrap())
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn a_linear_perpetual_at_leverage_one_without_funding_equals_spot() {
    let dir = tempfile::tempdir().unwrap();
    let (spot, spot_fills, spot_eq) = run(dir.path(), "spot", "ORCL/USD", &[]);
    let (perp, perp_fills, perp_eq) = run(dir.path(), "perp", "ORCL/USD:USD", &["--leverage", "1"]);
    assert!(spot_fills.lines().count() > 20, "{spot_fills}");
    assert_eq!(perp_fills.replace("ORCL/USD:USD", "ORCL/USD"), spot_fills);
    assert_eq!(perp_eq, spot_eq);
    assert_eq!(perp["summary"]["final_value"], spot["summary"]["final_value"]);
    assert_eq!((perp["summary"]["funding_paid"].as_str(), perp["summary"]["liquidations"].as_u64()), (Some("0"), Some(0)));
    assert_eq!(perp["derivatives"]["leverage"], "1");
}

#[test]
fn funding_is_charged_on_the_position_held_at_each_funding_time() {
    let dir = tempfile::tempdir().unwrap();
    let symbol = "ORCL/USD:USD";
    // the bars' closes by close time (daily bars close at the next midnight)
    let bars = tickflow_connectors::read_bars(shared_data().join("backtrader/orcl-1995-2014.txt").to_str().unwrap(), "file", symbol).unwrap();
    let closes: BTreeMap<i64, Decimal> = bars.iter().map(|b| (b.close_time().millis(), b.close)).collect();
    // funding every 8 hours over 1996–1997, the rate's sign and size changing
    let (start, day) = (820_454_400_000i64, 86_400_000i64); // 1996-01-01
    let mut csv = String::from("timestamp,exchange,symbol,funding_rate,mark_price\n");
    let mut events = Vec::new();
    for k in 0..(2 * 365 * 3) {
        let ts = start + k * day / 3 + 3_600_000;
        let rate = format!("{}0.000{:03}", if k % 5 == 0 { "-" } else { "" }, (k * 37) % 1000);
        csv.push_str(&format!("{ts},file,{symbol},{rate},\n"));
        events.push((ts, Notional::parse_bytes(rate.as_bytes()).unwrap()));
    }
    let funding = dir.path().join("funding.csv");
    std::fs::write(&funding, csv).unwrap();
    let (plain, plain_fills, _) = run(dir.path(), "plain", symbol, &["--leverage", "2"]);
    let (funded, fills, _) = run(dir.path(), "funded", symbol, &["--leverage", "2", "--funding", funding.to_str().unwrap()]);
    assert_eq!(fills, plain_fills, "fixed sizes: funding changes no order");
    assert_eq!(funded["funding_events"], events.len());
    // the oracle: position from the fills before each funding time, mark = the last close
    let fills: Vec<(i64, Decimal)> = fills
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let size: Decimal = f[5].parse().unwrap();
            (f[1].parse().unwrap(), if f[3] == "buy" { size } else { -size })
        })
        .collect();
    let mut paid = Decimal::ZERO;
    let mut charged = 0;
    let mut want_rows = vec!["time,symbol,position,mark,rate,payment".to_string()];
    for (ts, rate) in &events {
        let pos: Decimal = fills.iter().filter(|(t, _)| t <= ts).fold(Decimal::ZERO, |a, (_, s)| a + *s);
        let Some((_, mark)) = closes.range(..=*ts).next_back() else { continue };
        if pos.is_zero() {
            continue;
        }
        charged += 1;
        let payment = pos.checked_mul(*mark).unwrap().checked_mul_rate(*rate).unwrap();
        paid += payment;
        want_rows.push(format!("{ts},{symbol},{pos},{mark},{rate},{payment}"));
    }
    // funding.csv: one row per payment, as the oracle computes it
    let written = std::fs::read_to_string(dir.path().join("funded/funding.csv")).unwrap();
    assert_eq!(written.lines().collect::<Vec<_>>(), want_rows);
    assert!(!dir.path().join("plain/funding.csv").exists(), "no funding file without --funding");
    assert!(charged > 300, "{charged} payments");
    assert_eq!(dec(&funded["summary"]["funding_paid"]), paid);
    assert_eq!(dec(&funded["summary"]["final_value"]), dec(&plain["summary"]["final_value"]) - paid);
}
