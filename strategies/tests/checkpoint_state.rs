//! A backtest saved at any bar (state → JSON bytes → state) and continued in a fresh instance
//! produces exactly the events and summary of the uninterrupted run — for every registered
//! strategy, several instruments, and split points spread over the run.

use tickflow_model::{Bar, Decimal, Instrument, Notional, Timeframe, Ts};
use tickflow_operators::broker::{BrokerConfig, Commission};
use tickflow_strategies::{build, Backtest, BacktestState, NewEvents, Sizer, StrategyParams, Summary, REGISTRY};

/// A seeded random walk per instrument, one-minute bars, interleaved by close time.
fn bars(n: usize, seed: u64) -> Vec<Bar> {
    let m1 = Timeframe::from_secs(60).unwrap();
    let instruments = [Instrument::new("x", "BTC/USDT").unwrap(), Instrument::new("x", "ETH/USDT").unwrap()];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut price = [50_000i64, 3_000];
    let mut out = Vec::new();
    for k in 0..n {
        for (j, i) in instruments.iter().enumerate() {
            let step = (next() % 201) as i64 - 100;
            let open = price[j];
            price[j] = (price[j] + step * price[j] / 2_000).max(1);
            let close = price[j];
            let high = open.max(close) + (next() % 20) as i64;
            let low = (open.min(close) - (next() % 20) as i64).max(1);
            let d = Decimal::from_int;
            out.push(Bar::from_candle(*i, m1, Ts::from_secs(k as i64 * 60), [d(open), d(high), d(low), d(close)], d(1), Notional::ZERO));
        }
    }
    out
}

fn backtest(name: &str, params: &StrategyParams) -> Backtest {
    let cfg = BrokerConfig {
        cash: Decimal::from_int(1_000_000),
        commission: Commission::Percent { maker: "0.001".parse().unwrap(), taker: "0.001".parse().unwrap() },
        ..BrokerConfig::default()
    };
    let (n, p) = (name.to_string(), params.clone());
    Backtest::with_factory(Box::new(move || build(&n, &p)), cfg, Sizer::Fixed(Decimal::from_int(1))).unwrap().streaming()
}

fn run(mut bt: Backtest, bars: &[Bar], mut events: Vec<NewEvents>) -> (Vec<NewEvents>, Summary) {
    for b in bars {
        bt.on_bar(b);
        events.push(bt.take_new());
    }
    let (rest, summary) = bt.finish_streaming();
    events.push(rest);
    (events, summary)
}

fn flatten(ev: Vec<NewEvents>) -> NewEvents {
    let mut all = NewEvents::default();
    for e in ev {
        all.orders.extend(e.orders);
        all.fills.extend(e.fills);
        all.trades.extend(e.trades);
        all.equity.extend(e.equity);
    }
    all
}

#[test]
fn a_restored_backtest_continues_exactly() {
    let tape = bars(400, 0x9e37_79b9_7f4a_7c15);
    for r in REGISTRY {
        // short periods so every strategy trades within the tape
        let mut params = StrategyParams::default();
        for (k, v) in r.params {
            let v = if *v >= 2.0 { (*v / 3.0).round().max(2.0) } else { *v };
            params.set(k, v);
        }
        if r.name == "sma_cross" || r.name == "bracket_cross" {
            params.set("fast", 3.0);
            params.set("slow", 8.0);
        }
        let (whole, summary) = run(backtest(r.name, &params), &tape, Vec::new());
        let whole = flatten(whole);
        assert!(whole.fills.len() >= 4, "{}: the tape should make it trade (got {} fills)", r.name, whole.fills.len());
        for split in [1, 37, 150, 151, 399, tape.len() - 1] {
            let mut first = backtest(r.name, &params);
            let mut events = Vec::new();
            for b in &tape[..split] {
                first.on_bar(b);
                events.push(first.take_new());
            }
            let bytes = serde_json::to_vec(&first.snapshot().unwrap()).unwrap();
            drop(first);
            let state: BacktestState = serde_json::from_slice(&bytes).unwrap();
            let mut second = backtest(r.name, &params);
            second.restore(state).unwrap();
            // state → bytes → state is the identity
            assert_eq!(serde_json::to_vec(&second.snapshot().unwrap()).unwrap(), bytes, "{} split {split}", r.name);
            let (resumed, resumed_summary) = run(second, &tape[split..], events);
            assert_eq!(flatten(resumed), whole, "{} split {split}", r.name);
            assert_eq!(resumed_summary, summary, "{} split {split}", r.name);
        }
    }
}

#[test]
fn state_of_other_parameters_is_refused() {
    let tape = bars(50, 7);
    let p = StrategyParams::parse(["fast=3", "slow=8"]).unwrap();
    let mut a = backtest("sma_cross", &p);
    for b in &tape {
        a.on_bar(b);
    }
    let mut other = backtest("rsi_reversion", &StrategyParams::default());
    let err = other.restore(a.snapshot().unwrap()).unwrap_err().to_string();
    assert!(err.contains("strategy state"), "{err}");
}
