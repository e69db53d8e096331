//! `tickflow backtest`: strategies over bars (from a bar file, or from trades aggregated in the
//! same dataflow), one run or a parameter sweep spread over workers.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::job::InputSpec;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use tickflow_connectors::{Cell, ColType, TableFormat, TableWriter};
use tickflow_model::{Bar, ClosedTrade, Decimal, Fill, Order, Ts};
use tickflow_operators::{OrderedSink, PipelineMetrics, TradeFeed};
use tickflow_strategies::{BacktestEvent, BacktestStage, EquityPoint, LiveViews, RunSpec, Summary};

use super::backtest_out::{publish_run, store_run, write_run, write_views};
use crate::cluster::ClusterArgs;

/// The `--strategy` help, from the strategy registry.
pub fn strategy_help() -> String {
    format!("Strategy: {}", tickflow_strategies::names())
}

/// Flags of `tickflow backtest`.
#[derive(Args)]
pub struct BacktestArgs {
    /// Bar file: tickflow bar CSV or Parquet, or Backtrader/Yahoo CSV.
    #[arg(long, conflicts_with = "trades")]
    pub(crate) bars: Option<String>,
    /// Trade file (CSV or Parquet), aggregated into bars in the same dataflow (see --timeframe).
    #[arg(long)]
    pub(crate) trades: Option<String>,
    /// Trades from this Kafka topic (every partition, read to the end offsets taken at start),
    /// aggregated to --timeframe bars in the dataflow.
    #[arg(long, conflicts_with_all = ["bars", "trades"])]
    pub(crate) kafka_topic: Option<String>,
    /// Bar timeframe: built from --trades, or selected from a --bars file holding several.
    #[arg(long, default_value = "1m")]
    pub(crate) timeframe: String,
    /// Strategy (see the README's strategy table).
    #[arg(long, help = strategy_help())]
    pub(crate) strategy: String,
    /// Parameter (repeatable): fast=10, or a sweep: fast=5..50:5, slow=100,200.
    #[arg(long = "param")]
    pub(crate) params: Vec<String>,
    /// Starting cash.
    #[arg(long, default_value = "100000")]
    pub(crate) cash: String,
    /// Commission as a fraction of traded value (taker; also maker unless --maker-commission).
    #[arg(long, default_value = "0")]
    pub(crate) commission: String,
    /// Commission for limit orders, as a fraction of value.
    #[arg(long)]
    pub(crate) maker_commission: Option<String>,
    /// Fixed commission per order instead of a fraction.
    #[arg(long, conflicts_with = "commission")]
    pub(crate) commission_fixed: Option<String>,
    /// Slippage: percent:P (fraction, e.g. percent:0.0005) or fixed:X (price units).
    #[arg(long)]
    pub(crate) slippage: Option<String>,
    /// Sizer: fixed:N, percent:P (of cash) or all-in.
    #[arg(long, default_value = "percent:95")]
    pub(crate) sizer: String,
    /// Fill market orders at the signal bar's close (look-ahead; off by default).
    #[arg(long)]
    pub(crate) cheat_on_close: bool,
    /// Perpetuals and futures (symbols like BTC/USDT:USDT, BTC/USD:BTC): leverage; initial
    /// margin = notional / leverage.
    #[arg(long, default_value = "1")]
    pub(crate) leverage: String,
    /// Perpetuals and futures: maintenance margin rate (sets the liquidation price).
    #[arg(long, default_value = "0.005")]
    pub(crate) maintenance_margin: String,
    /// Perpetuals and futures: contract size (base units per contract for linear, quote units
    /// per contract for inverse).
    #[arg(long, default_value = "1")]
    pub(crate) contract_size: String,
    /// Funding-rate file (`fetch funding` output, CSV or Parquet) applied to open perpetual
    /// positions at each funding time.
    #[arg(long)]
    pub(crate) funding: Option<String>,
    /// Rank sweep runs by: sharpe, total_return, sqn, profit_factor or max_drawdown_pct.
    #[arg(long, default_value = "sharpe")]
    pub(crate) rank_by: String,
    /// Output directory.
    #[arg(long, default_value = "tickflow-backtest")]
    pub(crate) out_dir: String,
    /// Also write a self-contained HTML report of the reported run (candles with its fills and
    /// indicators, equity, drawdown, analyzers, trades; `--bars` input, CSV tables).
    #[arg(long)]
    pub(crate) report: Option<String>,
    /// Format of the output tables (orders, fills, trades, equity, leaderboards): csv or
    /// parquet (exact Decimal128, Timestamp(ns, UTC); summary.json stays JSON).
    #[arg(long, default_value = "csv")]
    pub(crate) format: String,
    /// Symbol for Backtrader/Yahoo bar files (default from the file name).
    #[arg(long)]
    pub(crate) symbol: Option<String>,
    /// Exchange id for files without one.
    #[arg(long, default_value = "file")]
    pub(crate) exchange: String,
    /// Also publish the reported run's orders, fills and equity to `<namespace>.orders`,
    /// `.fills` and `.equity` (Kafka/Redpanda; see --brokers, --namespace).
    #[arg(long)]
    pub(crate) publish: bool,
    #[command(flatten)]
    pub(crate) kafka: crate::cli::kafka::BrokerArgs,
    #[command(flatten)]
    pub(crate) questdb: crate::cli::questdb::QuestDbArgs,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub(crate) help: Option<bool>,
}

/// Final contents of the differential views: (rank, run, value µ) and per (run, instrument)
/// (fills, notional µ).
#[derive(Default)]
pub(crate) struct Views {
    pub(crate) leaderboard: BTreeMap<(u32, u32, i64), isize>,
    pub(crate) fills: BTreeMap<(u32, tickflow_model::Instrument), (isize, isize)>,
}

/// Everything collected for one run.
#[derive(Default)]
pub(crate) struct RunOut {
    pub(crate) orders: Vec<Order>,
    pub(crate) fills: Vec<Fill>,
    pub(crate) trades: Vec<ClosedTrade>,
    pub(crate) equity: Vec<EquityPoint>,
    pub(crate) funding: Vec<tickflow_operators::broker::FundingPayment>,
    pub(crate) summary: Option<Summary>,
}

/// Runs the command.
pub fn run(a: BacktestArgs) -> Result<()> {
    let sim = crate::sim::SimSettings {
        cash: &a.cash,
        commission: &a.commission,
        maker_commission: a.maker_commission.as_deref(),
        commission_fixed: a.commission_fixed.as_deref(),
        slippage: a.slippage.as_deref(),
        sizer: &a.sizer,
        cheat_on_close: a.cheat_on_close,
        derivatives: crate::sim::derivatives(Some(&a.leverage), Some(&a.maintenance_margin), Some(&a.contract_size))?,
        funding: crate::sim::funding(a.funding.as_deref())?,
    };
    let runs = sim.runs(&a.strategy, &a.params)?;
    if !["sharpe", "total_return", "sqn", "profit_factor", "max_drawdown_pct"].contains(&a.rank_by.as_str()) {
        bail!("--rank-by: use sharpe, total_return, sqn, profit_factor or max_drawdown_pct");
    }
    let bars: Vec<Bar> = match (&a.bars, &a.trades) {
        (Some(b), None) => {
            let symbol = a.symbol.clone().unwrap_or_else(|| crate::bars_in::default_symbol(b));
            let mut v = tickflow_connectors::read_bars(b, &a.exchange, &symbol)?;
            let tf: tickflow_model::Timeframe = a.timeframe.parse()?;
            if v.iter().any(|x| x.timeframe != v[0].timeframe) {
                v.retain(|x| x.timeframe == tf);
            }
            if v.is_empty() {
                bail!("{b} holds no {} bars", a.timeframe);
            }
            v
        }
        (None, Some(_)) => Vec::new(),
        (None, None) if a.kafka_topic.is_some() => Vec::new(),
        _ => bail!("give --bars FILE, --trades FILE or --kafka-topic TOPIC"),
    };
    let timeframe: tickflow_model::Timeframe = a.timeframe.parse()?;
    std::fs::create_dir_all(&a.out_dir).with_context(|| format!("creating {}", a.out_dir))?;
    let runs = Arc::new(runs);
    let bars = Arc::new(bars);
    let report_bars = bars.clone();
    if a.report.is_some() && a.bars.is_none() && a.trades.is_none() {
        bail!("--report draws the bars of --bars FILE or --trades FILE (a topic: aggregate to a bar file first)");
    }
    let keep_bars = a.report.is_some() && a.trades.is_some();
    // trades to aggregate into bars in the dataflow: a file, or every partition of a Kafka topic
    // (input p is read by worker p % n, as in `aggregate`)
    let inputs: Vec<InputSpec> = match (&a.trades, &a.kafka_topic) {
        (Some(path), _) => {
            let opts = tickflow_connectors::TradeCsvOptions {
                default_symbol: a.symbol.clone(),
                exchange: a.exchange.clone(),
                skip_bad: false,
                ingest_ts: Ts::now(),
                ..Default::default()
            };
            vec![InputSpec::Csv { path: path.clone(), opts }]
        }
        (None, Some(topic)) => {
            // every partition, read to the end offsets taken at start
            let mut flow = crate::config::JobConfig::default();
            flow.source.kind = "kafka".into();
            flow.kafka = a.kafka.section();
            crate::job::kafka_inputs(&flow, topic, true)?
        }
        (None, None) => Vec::new(),
    };
    let runs2 = runs.clone();
    let detailed = runs.len() == 1;
    let start = std::time::Instant::now();
    type WorkerOut = Option<(BTreeMap<u32, RunOut>, Views, Vec<Bar>)>;
    let guards = timely::execute(a.cluster.timely_config()?, move |worker| -> Result<WorkerOut, String> {
        let (index, peers) = (worker.index(), worker.peers());
        let collected: Rc<RefCell<BTreeMap<u32, RunOut>>> = Rc::new(RefCell::new(BTreeMap::new()));
        let views: Rc<RefCell<Views>> = Rc::new(RefCell::new(Views::default()));
        // `--trades … --report`: the bars built in the dataflow, gathered for the report
        let built: Rc<RefCell<Vec<Bar>>> = Rc::new(RefCell::new(Vec::new()));
        let mut input = crate::bars_in::BarInput::new();
        let errors: tickflow_operators::FeedErrors = Rc::new(RefCell::new(Vec::new()));
        worker.dataflow::<u64, _, _>(|scope| -> Result<(), String> {
            let from_trades = !inputs.is_empty();
            let bar_stream = match from_trades {
                true => {
                    let mut feeds: Vec<Box<dyn TradeFeed>> = Vec::new();
                    for (p, input) in inputs.iter().enumerate().filter(|(p, _)| p % peers == index) {
                        feeds.push(input.open_feed(p, None, Arc::new(Default::default()), Default::default())?);
                    }
                    let job = crate::job::Job::new(Vec::new(), tickflow_operators::AggregateConfig::new(vec![timeframe]), Default::default());
                    let w = crate::dataflow::Wiring {
                        index,
                        metrics: Arc::new(PipelineMetrics::new()),
                        feed_errors: errors.clone(),
                        sinks: Default::default(),
                        report: Default::default(),
                        keep_tail: 0,
                        checkpoint: Default::default(),
                    };
                    crate::dataflow::trades_to_bars(scope, &job, feeds, &w).map_err(|e| e.to_string())?.0
                }
                false => input.to_stream(scope),
            };
            if keep_bars && from_trades {
                let b = built.clone();
                bar_stream.clone().ordered_sink("ReportBars", |x: &Bar| x.sort_key(), move |_t, v| b.borrow_mut().append(v));
            }
            let events = bar_stream.backtest(runs2.clone()).map_err(|e| e.to_string())?;
            // differential views, maintained incrementally; their final state is kept
            let v = views.clone();
            events.clone().leaderboard(10).inner.ordered_sink(
                "LeaderboardSink",
                |x: &((u32, u32, i64), u64, isize)| x.0,
                move |_t, d| {
                    let mut v = v.borrow_mut();
                    for (row, _, diff) in d.drain(..) {
                        *v.leaderboard.entry(row).or_insert(0) += diff;
                    }
                },
            );
            let (counts, notional) = events.clone().fill_totals();
            let v = views.clone();
            counts.inner.ordered_sink(
                "FillCountSink",
                |x: &(((u32, tickflow_model::Instrument), isize), u64, isize)| x.0,
                move |_t, d| {
                    let mut v = v.borrow_mut();
                    for (((run, inst), n), _, diff) in d.drain(..) {
                        v.fills.entry((run, inst)).or_default().0 += n * diff;
                    }
                },
            );
            let v = views.clone();
            notional.inner.ordered_sink(
                "NotionalSink",
                |x: &(((u32, tickflow_model::Instrument), isize), u64, isize)| x.0,
                move |_t, d| {
                    let mut v = v.borrow_mut();
                    for (((run, inst), n), _, diff) in d.drain(..) {
                        v.fills.entry((run, inst)).or_default().1 += n * diff;
                    }
                },
            );
            let c = collected.clone();
            events.ordered_sink(
                "BacktestSink",
                |e: &BacktestEvent| e.run(),
                move |_t, v| {
                    let mut c = c.borrow_mut();
                    for e in v.drain(..) {
                        let r = c.entry(e.run()).or_default();
                        // sweeps keep summaries only; the winner is re-run alone for its details
                        match e {
                            BacktestEvent::Summary(_, s) => r.summary = Some(*s),
                            _ if !detailed => {}
                            BacktestEvent::Order(_, o) => r.orders.push(*o),
                            BacktestEvent::Fill(_, f) => r.fills.push(*f),
                            BacktestEvent::Trade(_, t) => r.trades.push(*t),
                            BacktestEvent::Equity(_, p) => r.equity.push(p),
                            BacktestEvent::Funding(_, f) => r.funding.push(*f),
                        }
                    }
                },
            );
            Ok(())
        })?;
        if index == 0 && inputs.is_empty() {
            crate::bars_in::feed(input, &bars).map_err(|e| e.to_string())?;
        } else {
            input.close();
        }
        while worker.step_or_park(None) {}
        if let Some(e) = errors.borrow().first() {
            return Err(e.to_string());
        }
        Ok(if index == 0 {
            Some((std::mem::take(&mut *collected.borrow_mut()), std::mem::take(&mut *views.borrow_mut()), std::mem::take(&mut *built.borrow_mut())))
        } else {
            None
        })
    })
    .map_err(|e| anyhow!("starting timely: {e}"))?;
    let mut results = BTreeMap::new();
    let mut views = Views::default();
    let mut built: Vec<Bar> = Vec::new();
    for r in guards.join() {
        if let Some((m, v, b)) = r.map_err(|e| anyhow!(e))?.map_err(|e| anyhow!(e))? {
            results = m;
            views = v;
            built = b;
        }
    }
    // the latest revision of each bar built from the trades
    built.sort_by_key(|b| b.sort_key());
    let mut latest: Vec<Bar> = Vec::with_capacity(built.len());
    for b in built {
        match latest.last_mut() {
            Some(l) if l.series_key() == b.series_key() && l.open_time == b.open_time => *l = b,
            _ => latest.push(b),
        }
    }
    let report_bars: Arc<Vec<Bar>> = if report_bars.is_empty() { Arc::new(latest) } else { report_bars };
    if a.cluster.process != 0 {
        return Ok(());
    }
    if !detailed {
        let format = table_format(&a)?;
        // re-run the winner alone (same bars, same code) for its orders, fills, trades, equity
        report_sweep(&a, &runs, &results, &views)?;
        let best = best_run(&results, &a.rank_by).ok_or_else(|| anyhow!("no run produced a summary"))?;
        let params: Vec<String> = runs[best as usize].params.values().iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!();
        println!("best of {} runs by {}: {}", runs.len(), a.rank_by, params.join(" "));
        let dir = a.out_dir.clone();
        run(BacktestArgs { params, ..a })?;
        // the sweep's views, not the single re-run's
        return write_views(Path::new(&dir), &views, format);
    }
    report(&a, &runs, results, views, start.elapsed(), &report_bars)
}

fn metric(s: &Summary, by: &str) -> f64 {
    let v = match by {
        "total_return" => s.total_return,
        "sqn" => s.trades.sqn,
        "profit_factor" => s.trades.profit_factor,
        "max_drawdown_pct" => -s.max_drawdown_pct,
        _ => s.sharpe,
    };
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

fn best_run(results: &BTreeMap<u32, RunOut>, by: &str) -> Option<u32> {
    let mut v: Vec<(u32, f64)> = results.iter().filter_map(|(k, r)| r.summary.as_ref().map(|s| (*k, metric(s, by)))).collect();
    v.sort_by(|x, y| y.1.partial_cmp(&x.1).unwrap_or(std::cmp::Ordering::Equal).then(x.0.cmp(&y.0)));
    v.first().map(|x| x.0)
}

/// Writes `leaderboard.csv` (and the differential views) of a sweep and prints its top rows.
fn report_sweep(a: &BacktestArgs, runs: &[RunSpec], results: &BTreeMap<u32, RunOut>, views: &Views) -> Result<()> {
    let dir = Path::new(&a.out_dir);
    let mut ranked: Vec<(u32, Summary)> = results.iter().filter_map(|(k, r)| r.summary.clone().map(|s| (*k, s))).collect();
    if ranked.len() != runs.len() {
        bail!("{} of {} runs produced a summary", ranked.len(), runs.len());
    }
    ranked.sort_by(|x, y| metric(&y.1, &a.rank_by).partial_cmp(&metric(&x.1, &a.rank_by)).unwrap_or(std::cmp::Ordering::Equal).then(x.0.cmp(&y.0)));
    let keys: Vec<String> = runs[0].params.values().keys().cloned().collect();
    let format = table_format(a)?;
    let mut cols: Vec<(&str, ColType)> = vec![("rank", ColType::Int)];
    cols.extend(keys.iter().map(|k| (k.as_str(), ColType::Str)));
    cols.extend([
        ("final_value", ColType::Dec),
        ("total_return", ColType::Float),
        ("sharpe", ColType::Float),
        ("sortino", ColType::Float),
        ("max_drawdown_pct", ColType::Float),
        ("trades", ColType::Int),
        ("win_rate", ColType::Float),
        ("profit_factor", ColType::Float),
        ("sqn", ColType::Float),
    ]);
    let path = dir.join(format!("leaderboard.{}", format.extension()));
    let mut w = TableWriter::create(&path.to_string_lossy(), format, &cols)?;
    println!("{:<5} {:<28} {:>18} {:>10} {:>8}", "rank", "params", "final value", "sharpe", "trades");
    for (rank, (id, s)) in ranked.iter().enumerate() {
        let p: Vec<String> = keys.iter().map(|k| runs[*id as usize].params.values().get(k).map(|v| v.to_string()).unwrap_or_default()).collect();
        let mut row = vec![Cell::Int(rank as i64 + 1)];
        row.extend(p.iter().map(|v| Cell::Str(v.clone())));
        row.extend([
            s.final_value.parse::<Decimal>().map(Cell::Dec).unwrap_or(Cell::Null),
            Cell::Float(s.total_return),
            Cell::Float(s.sharpe),
            Cell::Float(s.sortino),
            Cell::Float(s.max_drawdown_pct),
            Cell::Int(s.trades.count as i64),
            Cell::Float(s.trades.win_rate),
            Cell::Float(s.trades.profit_factor),
            Cell::Float(s.trades.sqn),
        ]);
        w.row(&row)?;
        if rank < 10 {
            let shown: Vec<String> = keys.iter().zip(&p).map(|(k, v)| format!("{k}={v}")).collect();
            println!("{:<5} {:<28} {:>18} {:>10.3} {:>8}", rank + 1, shown.join(" "), s.final_value, s.sharpe, s.trades.count);
        }
    }
    w.finish()?;
    write_views(dir, views, format)
}

/// `--format`.
fn table_format(a: &BacktestArgs) -> Result<TableFormat> {
    a.format.parse().map_err(|e: String| anyhow!("--format {e}"))
}

fn report(a: &BacktestArgs, runs: &[RunSpec], results: BTreeMap<u32, RunOut>, views: Views, elapsed: std::time::Duration, bars: &[Bar]) -> Result<()> {
    let mut ranked: Vec<(u32, &RunOut)> = results.iter().filter(|(_, r)| r.summary.is_some()).map(|(k, v)| (*k, v)).collect();
    if ranked.len() != runs.len() {
        bail!("{} of {} runs produced a summary", ranked.len(), runs.len());
    }
    ranked.sort_by(|x, y| {
        let (mx, my) =
            (metric(x.1.summary.as_ref().unwrap_or(&Summary::default()), &a.rank_by), metric(y.1.summary.as_ref().unwrap_or(&Summary::default()), &a.rank_by));
        my.partial_cmp(&mx).unwrap_or(std::cmp::Ordering::Equal).then(x.0.cmp(&y.0))
    });
    let dir = Path::new(&a.out_dir);
    let (best_id, best) = ranked[0];
    let format = table_format(a)?;
    write_run(dir, best, &runs[best_id as usize], format)?;
    if a.publish {
        publish_run(a, best, &runs[best_id as usize])?;
    }
    if let Some(t) = a.questdb.target()? {
        store_run(&t, best, &runs[best_id as usize])?;
    }
    write_views(dir, &views, format)?;
    let s = best.summary.clone().unwrap_or_default();
    let params: Vec<String> = runs[best_id as usize].params.values().iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("strategy           {} {}", a.strategy, params.join(" "));
    if runs.len() > 1 {
        println!("sweep              {} runs, best by {} (leaderboard.csv)", runs.len(), a.rank_by);
    }
    println!("initial value      {:>16}", s.initial_value);
    println!("final value        {:>16}", s.final_value);
    println!("total return       {:>15.2}%", s.total_return * 100.0);
    println!("annual return      {:>15.2}%", s.annual_return * 100.0);
    println!("sharpe             {:>16.3}", s.sharpe);
    println!("sharpe (bt)        {:>16.3}", s.sharpe_backtrader);
    println!("sortino            {:>16.3}", s.sortino);
    println!("max drawdown       {:>15.2}% ({:.2}, {} bars)", s.max_drawdown_pct, s.max_drawdown, s.max_drawdown_bars);
    println!("trades             {:>16}   won {} lost {}", s.trades.count, s.trades.won, s.trades.lost);
    println!("win rate           {:>15.1}%", s.trades.win_rate * 100.0);
    println!("profit factor      {:>16.3}", s.trades.profit_factor);
    println!("expectancy         {:>16.2}", s.trades.expectancy);
    println!("sqn                {:>16.3}", s.trades.sqn);
    println!("orders             {:>16}", s.orders);
    println!("elapsed            {:>14.3} s", elapsed.as_secs_f64());
    let x = format.extension();
    println!("written to         {}/ (orders.{x} fills.{x} trades.{x} equity.{x} summary.json leaderboard_live.{x} fill_totals.{x})", a.out_dir);
    if let Some(out) = &a.report {
        // what the report drew, so `tickflow report --from DIR` finds the bars again (written only
        // with --report: the tables stay the same for any input)
        if let Some(b) = &a.bars {
            let input = serde_json::json!({"bars": b, "exchange": a.exchange, "timeframe": a.timeframe, "symbol": a.symbol});
            std::fs::write(dir.join(crate::cli::report::REPORT_INPUT), serde_json::to_string_pretty(&input)? + "\n")?;
        }
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json"))?)?;
        crate::cli::report::write(out, &crate::cli::report::backtest_report(dir, &summary, bars, a.symbol.as_deref())?)?;
    }
    Ok(())
}
