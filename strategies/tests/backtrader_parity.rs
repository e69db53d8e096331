//! Backtest parity with Backtrader (the oracle): `data/backtrader_smacross_orcl.json` was
//! produced by Backtrader 1.9.78.123 with `data/gen_backtrader_smacross.py` on
//! `../shared/data/backtrader/orcl-1995-2014.txt`.

use std::path::{Path, PathBuf};

use tickflow_model::{Bar, Decimal, Instrument, OrderSide, OrderStatus, Timeframe, Ts};
use tickflow_operators::broker::{BrokerConfig, Commission};
use tickflow_strategies::{build, Backtest, Sizer, StrategyParams};

fn shared_data() -> PathBuf {
    std::env::var("TICKFLOW_SHARED_DATA").map(PathBuf::from).unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// Yahoo CSV, raw OHLC (like Backtrader's GenericCSVData in the generator).
fn orcl() -> Vec<Bar> {
    let text = std::fs::read_to_string(shared_data().join("backtrader/orcl-1995-2014.txt")).unwrap();
    let inst = Instrument::new("file", "ORCL/USD").unwrap();
    let day = Timeframe::from_secs(86_400).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let d = |i: usize| f[i].parse::<Decimal>().unwrap();
            let mut b = Bar::carried(inst, day, f[0].parse::<Ts>().unwrap(), d(4));
            (b.open, b.high, b.low, b.close, b.volume) = (d(1), d(2), d(3), d(4), d(6));
            b
        })
        .collect()
}

fn date(ts: Ts) -> String {
    ts.to_rfc3339()[..10].to_string()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(a == b || ((a - b) / b).abs() <= 1e-9, "{what}: {a} vs Backtrader {b}");
}

#[test]
fn sma_cross_matches_backtrader_order_by_order() {
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backtrader_smacross_orcl.json")).unwrap())
            .unwrap();
    let cfg = BrokerConfig {
        cash: Decimal::from_int(100_000),
        commission: Commission::Percent { maker: "0.001".parse().unwrap(), taker: "0.001".parse().unwrap() },
        ..Default::default()
    };
    let strat = build("sma_cross", &StrategyParams::parse(["fast=10", "slow=30"]).unwrap()).unwrap();
    let r = Backtest::run(strat, cfg, Sizer::PercentOfCash(Decimal::from_int(95)), &orcl()).unwrap();

    // orders: one per Backtrader order, same dates, sides, status, sizes, prices, commissions
    let w_orders = want["orders"].as_array().unwrap();
    let ours: Vec<_> = r.orders.iter().filter(|o| o.status != OrderStatus::Expired).collect();
    assert_eq!(ours.len(), w_orders.len(), "order count");
    for (o, w) in ours.iter().zip(w_orders) {
        let created = date(Ts(o.created.0 - 86_400_000_000_000));
        assert_eq!(created, w["created"].as_str().unwrap(), "order {} created", o.id);
        assert_eq!(o.side, if w["side"] == "buy" { OrderSide::Buy } else { OrderSide::Sell }, "order {} side", o.id);
        let status = match o.status {
            OrderStatus::Filled => "Completed",
            OrderStatus::Rejected => "Margin",
            other => panic!("unexpected status {other:?}"),
        };
        assert_eq!(status, w["status"].as_str().unwrap(), "order {} on {created}", o.id);
        close(o.size.to_f64(), w["size"].as_f64().unwrap().abs(), &format!("order {} size", o.id));
        if o.status == OrderStatus::Filled {
            let f = r.fills.iter().find(|f| f.order_id == o.id).unwrap();
            assert_eq!(date(f.ts), w["executed"].as_str().unwrap(), "order {} executed", o.id);
            close(f.price.to_f64(), w["price"].as_f64().unwrap(), &format!("order {} price", o.id));
            close(f.commission.to_f64(), w["commission"].as_f64().unwrap(), &format!("order {} commission", o.id));
        }
    }
    // round trips
    let w_trades = want["trades"].as_array().unwrap();
    assert_eq!(r.trades.len(), w_trades.len(), "trade count");
    for (t, w) in r.trades.iter().zip(w_trades) {
        assert_eq!((date(t.entry_time), date(t.exit_time)), (w["entry"].as_str().unwrap().to_string(), w["exit"].as_str().unwrap().to_string()));
        close(t.entry_price.to_f64(), w["entry_price"].as_f64().unwrap(), "entry price");
        close(t.pnl.to_f64(), w["pnl"].as_f64().unwrap(), "pnl");
        close(t.net_pnl().to_f64(), w["pnlcomm"].as_f64().unwrap(), "pnl after commission");
    }
    let fv: f64 = r.summary.final_value.parse().unwrap();
    close(fv, want["final_value"].as_f64().unwrap(), "final value");
    close(r.equity.last().unwrap().cash.to_f64(), want["cash"].as_f64().unwrap(), "final cash");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // analyzers: Backtrader's SharpeRatio and DrawDown
    let an = &want["analyzers"];
    close(r.summary.sharpe_backtrader, an["sharpe"].as_f64().unwrap(), "SharpeRatio");
    close(r.summary.max_drawdown_pct, an["max_drawdown_pct"].as_f64().unwrap(), "DrawDown max %");
    close(r.summary.max_drawdown, an["max_moneydown"].as_f64().unwrap(), "DrawDown max money");
    assert_eq!(r.summary.max_drawdown_bars as u64, an["max_drawdown_len"].as_u64().unwrap(), "DrawDown max length");
}

#[test]
fn unknown_strategies_and_bad_parameters_are_clear_errors() {
    let e = |name: &str, p: &[&str]| build(name, &StrategyParams::parse(p.iter().copied()).unwrap()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e("sma_crosss", &[]).contains("unknown strategy"));
    assert!(e("sma_cross", &["fast=30", "slow=10"]).contains("fast < slow"));
    assert!(e("sma_cross", &["fats=3"]).contains("no parameter \"fats\""));
    assert!(e("sma_cross", &["fast=2.5"]).contains("integer"));
    assert!(e("rsi_reversion", &["lower=80", "upper=20"]).contains("lower < upper"));
    assert!(StrategyParams::parse(["fast"]).is_err());
    assert!("percent:0".parse::<Sizer>().is_err());
    assert!("percent:101".parse::<Sizer>().is_err());
    assert!("bogus".parse::<Sizer>().is_err());
    assert_eq!("all-in".parse::<Sizer>().unwrap(), Sizer::AllIn);
}

#[test]
fn bracket_strategy_matches_backtrader() {
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backtrader_bracket_orcl.json")).unwrap()).unwrap();
    let cfg = BrokerConfig {
        cash: Decimal::from_int(100_000),
        commission: Commission::Percent { maker: "0.001".parse().unwrap(), taker: "0.001".parse().unwrap() },
        ..Default::default()
    };
    let strat = build("bracket_cross", &StrategyParams::parse(["fast=10", "slow=30", "stop=0.05", "limit=0.10"]).unwrap()).unwrap();
    let r = Backtest::run(strat, cfg, Sizer::PercentOfCash(Decimal::from_int(95)), &orcl()).unwrap();

    // status counts (Backtrader notifies in event order, so compare as counts)
    let count = |side: OrderSide, st: OrderStatus| r.orders.iter().filter(|o| o.side == side && o.status == st).count();
    let wcount = |side: &str, st: &str| want["orders"].as_array().unwrap().iter().filter(|o| o["side"] == side && o["status"] == st).count();
    assert_eq!(count(OrderSide::Buy, OrderStatus::Filled), wcount("buy", "Completed"));
    assert_eq!(count(OrderSide::Sell, OrderStatus::Filled), wcount("sell", "Completed"));
    assert_eq!(count(OrderSide::Sell, OrderStatus::Canceled), wcount("sell", "Canceled"));
    assert_eq!(count(OrderSide::Buy, OrderStatus::Rejected), wcount("buy", "Margin"));

    // every execution, in time order
    let mut wf: Vec<&serde_json::Value> = want["orders"].as_array().unwrap().iter().filter(|o| o["status"] == "Completed").collect();
    wf.sort_by_key(|o| (o["executed"].as_str().unwrap().to_string(), if o["side"] == "buy" { 0 } else { 1 }));
    let mut ours = r.fills.clone();
    ours.sort_by_key(|f| (f.ts, f.side == OrderSide::Sell));
    assert_eq!(ours.len(), wf.len());
    for (f, w) in ours.iter().zip(wf) {
        assert_eq!(date(f.ts), w["executed"].as_str().unwrap(), "fill of order {}", f.order_id);
        assert_eq!(f.side.as_str(), w["side"].as_str().unwrap());
        close(f.price.to_f64(), w["price"].as_f64().unwrap(), &format!("fill price on {}", date(f.ts)));
        close(f.size.to_f64(), w["size"].as_f64().unwrap().abs(), "fill size");
        close(f.commission.to_f64(), w["commission"].as_f64().unwrap(), "fill commission");
    }
    let w_trades = want["trades"].as_array().unwrap();
    assert_eq!(r.trades.len(), w_trades.len());
    for (t, w) in r.trades.iter().zip(w_trades) {
        assert_eq!(date(t.exit_time), w["exit"].as_str().unwrap());
        close(t.net_pnl().to_f64(), w["pnlcomm"].as_f64().unwrap(), "pnl after commission");
    }
    let fv: f64 = r.summary.final_value.parse().unwrap();
    close(fv, want["final_value"].as_f64().unwrap(), "final value");
}
