//! `tickflow indicator`: an indicator over a bar file, through the dataflow stage.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use tickflow_operators::indicators::Params;
use tickflow_operators::{IndicatorRow, IndicatorStage, OrderedSink};

use crate::cluster::ClusterArgs;

/// Flags of `tickflow indicator`.
#[derive(Args)]
pub struct IndicatorArgs {
    /// Bar file: tickflow bar CSV or Parquet, or Backtrader/Yahoo CSV (Date,Open,High,Low,Close,…).
    #[arg(long)]
    bars: String,
    // help generated from the indicator registry
    #[arg(long, help = name_help())]
    name: String,
    /// Parameter, Backtrader's names (repeatable): --param period=20 --param devfactor=2.5.
    #[arg(long = "param")]
    params: Vec<String>,
    /// Output CSV: open_time (epoch ms), then one column per indicator line.
    #[arg(short = 'o', long)]
    out: String,
    /// Symbol for Backtrader/Yahoo files (default from the file name, e.g. ORCL/USD); for
    /// tickflow bar files, selects one symbol.
    #[arg(long)]
    symbol: Option<String>,
    /// Series to select from a tickflow bar file holding several: a timeframe (`1m`) or another
    /// bar kind (`tick:1000`, `heikinashi:1h`).
    #[arg(long)]
    timeframe: Option<String>,
    /// Exchange id for Backtrader/Yahoo files.
    #[arg(long, default_value = "file")]
    exchange: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// `--name`'s help: every registered indicator.
fn name_help() -> String {
    format!("Indicator name: {}.", tickflow_operators::indicators::names().join(", "))
}

/// Runs the command.
pub fn run(a: IndicatorArgs) -> Result<()> {
    let params = Params::parse(a.params.iter().map(String::as_str))?;
    tickflow_operators::indicators::prepare(&a.name, &params)?; // clear errors before any work
    let bars = crate::bars_in::load_bars(&a.bars, a.symbol.as_deref(), a.timeframe.as_deref(), &a.exchange)?;
    let instruments: std::collections::BTreeSet<_> = bars.iter().map(|b| b.instrument).collect();
    if instruments.len() > 1 {
        bail!("{} holds {} series; choose one with --symbol and --timeframe", a.bars, instruments.len());
    }
    if tickflow_connectors::wants_parquet(&a.out) {
        bail!("{}: the indicator output is CSV; name it .csv", a.out);
    }
    let out_path = a.out.clone();
    let name = a.name.clone();
    let bars = std::sync::Arc::new(bars);
    let raw_params = a.params.clone();
    let guards = timely::execute(a.cluster.timely_config()?, move |worker| -> Result<(), String> {
        let params = Params::parse(raw_params.iter().map(String::as_str)).map_err(|e| e.to_string())?;
        let mut input = crate::bars_in::BarInput::new();
        let error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
        let mut writer: Option<std::io::BufWriter<std::fs::File>> = None;
        let index = worker.index();
        worker.dataflow::<u64, _, _>(|scope| -> Result<(), String> {
            let (lines, rows) = input.to_stream(scope).indicator(&name, &params).map_err(|e| e.to_string())?;
            if index == 0 {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&out_path).map_err(|e| format!("{out_path}: {e}"))?);
                writeln!(w, "open_time,{}", lines.join(",")).map_err(|e| e.to_string())?;
                writer = Some(w);
            }
            let err = error.clone();
            let mut w = writer.take();
            rows.ordered_sink(
                "IndicatorSink",
                |r: &IndicatorRow| (r.instrument, r.kind, r.open_time, r.seq),
                move |_t, v| {
                    if let Some(w) = w.as_mut() {
                        for r in v.drain(..) {
                            let vals: Vec<String> = r.values.iter().map(|x| if x.is_nan() { String::new() } else { format!("{x}") }).collect();
                            if let Err(e) = writeln!(w, "{},{}", r.open_time.millis(), vals.join(",")).and_then(|_| w.flush()) {
                                err.borrow_mut().get_or_insert(e.to_string());
                            }
                        }
                    }
                },
            );
            Ok(())
        })?;
        if index == 0 {
            crate::bars_in::feed(input, &bars).map_err(|e| e.to_string())?;
        } else {
            input.close();
        }
        while worker.step_or_park(None) {}
        let e = error.borrow().clone();
        e.map_or(Ok(()), Err)
    })
    .map_err(|e| anyhow!("starting timely: {e}"))?;
    for r in guards.join() {
        r.map_err(|e| anyhow!(e))?.map_err(|e| anyhow!(e)).context("indicator run")?;
    }
    Ok(())
}
