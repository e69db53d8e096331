//! `tickflow-bench backtest`: event-driven backtest throughput and a parameter sweep.

use std::time::Instant;

use anyhow::{anyhow, Result};
use clap::Args;
use tickflow::cluster::ClusterArgs;
use tickflow_model::Ts;

/// Flags of `bench backtest`.
#[derive(Args)]
pub struct BenchBacktestArgs {
    /// Generated 1-minute bars.
    #[arg(long, default_value_t = 1_000_000)]
    bars: usize,
    /// Sweep size (fast × slow combinations of the SMA cross).
    #[arg(long, default_value_t = 100)]
    sweep: usize,
    /// Worker counts for the sweep.
    #[arg(long, default_value = "1,2")]
    workers: String,
}

/// Seeded random-walk 1-minute bars.
pub(crate) fn bench_bars(n: usize) -> Vec<tickflow_model::Bar> {
    use tickflow_model::{Bar, Decimal, Instrument, Timeframe};
    let inst = Instrument::new("synthetic", "BTC/USDT").expect("valid");
    let tf = Timeframe::from_secs(60).expect("valid");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut price: i64 = 9_500_000; // cents (95000.00)
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let open = price;
            let step = (x % 2001) as i64 - 1000;
            price = (price + step).max(100);
            let hi = open.max(price) + (x >> 20) as i64 % 300;
            let lo = (open.min(price) - (x >> 40) as i64 % 300).max(1);
            let c = |v: i64| Decimal::from_mantissa(v as i128 * 10_000_000);
            let mut b = Bar::carried(inst, tf, Ts::from_secs(1_735_689_600 + 60 * i as i64), c(price));
            (b.open, b.high, b.low, b.close, b.volume) = (c(open), c(hi), c(lo), c(price), Decimal::ONE);
            b
        })
        .collect()
}

pub(crate) fn run(a: &BenchBacktestArgs) -> Result<()> {
    use tickflow_operators::broker::{BrokerConfig, Commission};
    use tickflow_strategies::{build, Backtest, Sizer, StrategyParams};
    println!("tickflow bench backtest — {} generated 1-minute bars, SMA cross, full broker (0.1% commission, 95% sizer)", a.bars);
    let bars = bench_bars(a.bars);
    let cfg = BrokerConfig {
        cash: tickflow_model::Decimal::from_int(100_000),
        commission: Commission::Percent { maker: "0.001".parse()?, taker: "0.001".parse()? },
        ..Default::default()
    };
    let sizer = Sizer::PercentOfCash(tickflow_model::Decimal::from_int(95));
    // the pure driver, one run
    let t = Instant::now();
    let r = Backtest::run(build("sma_cross", &StrategyParams::parse(["fast=10", "slow=30"])?)?, cfg, sizer, &bars)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{:<44} {:>10.2} M bars/s   ({} trades, final value {})",
        "1 run, SMA(10/30), driver",
        a.bars as f64 / secs / 1e6,
        r.trades.len(),
        r.summary.final_value
    );
    // sweeps through the dataflow stage
    let fasts = [2usize, 4, 6, 8, 10, 12, 14, 16, 18, 20];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    'outer: for slow in (25..).step_by(5) {
        for &f in &fasts {
            pairs.push((f, slow));
            if pairs.len() >= a.sweep {
                break 'outer;
            }
        }
    }
    let runs: Vec<tickflow_strategies::RunSpec> = pairs
        .iter()
        .map(|(f, s)| {
            Ok(tickflow_strategies::RunSpec {
                strategy: "sma_cross".into(),
                params: StrategyParams::parse([format!("fast={f}").as_str(), format!("slow={s}").as_str()])?,
                broker: cfg,
                sizer,
                funding: Default::default(),
            })
        })
        .collect::<Result<_>>()?;
    let runs = std::sync::Arc::new(runs);
    let bars = std::sync::Arc::new(bars);
    for w in a.workers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let workers: usize = w.parse()?;
        let (runs_w, bars_w) = (runs.clone(), bars.clone());
        let t = Instant::now();
        let guards = timely::execute(ClusterArgs { workers, ..Default::default() }.timely_config()?, move |worker| -> Result<usize, String> {
            use tickflow_strategies::BacktestStage;
            use timely::dataflow::operators::Inspect;
            let mut input = tickflow::bars_in::BarInput::new();
            let count = std::rc::Rc::new(std::cell::Cell::new(0usize));
            let c = count.clone();
            worker.dataflow::<u64, _, _>(|scope| -> Result<(), String> {
                input.to_stream(scope).backtest(runs_w.clone()).map_err(|e| e.to_string())?.inspect(move |e| {
                    if matches!(e, tickflow_strategies::BacktestEvent::Summary(..)) {
                        c.set(c.get() + 1);
                    }
                });
                Ok(())
            })?;
            if worker.index() == 0 {
                tickflow::bars_in::feed(input, &bars_w).map_err(|e| e.to_string())?;
            } else {
                input.close();
            }
            while worker.step_or_park(None) {}
            Ok(count.get())
        })
        .map_err(|e| anyhow!(e))?;
        let done: usize = guards.join().into_iter().map(|r| r.map_err(|e| anyhow!(e)).and_then(|r| r.map_err(|e| anyhow!(e)))).sum::<Result<usize>>()?;
        let secs = t.elapsed().as_secs_f64();
        let bar_runs = (bars.len() * done) as f64;
        println!(
            "{:<44} {:>10.2} M bar·runs/s ({:.2} M per worker, {done} runs, {secs:.2} s)",
            format!("sweep of {} runs through the dataflow, {workers} worker(s)", runs.len()),
            bar_runs / secs / 1e6,
            bar_runs / secs / 1e6 / workers as f64
        );
    }
    Ok(())
}
