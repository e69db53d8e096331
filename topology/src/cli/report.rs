//! `tickflow report`: the HTML report of a backtest's output directory, or the candle view of a
//! bar file ([`crate::report`]).

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;
use tickflow_model::Bar;

use crate::bars_in::load_bars;
use crate::report::{candles, decimate, flatten_stats, indicator_lines, render, FillMark, ReportData, MAX_EQUITY_POINTS};

/// The file `backtest --report` leaves in its output directory: the bar file it read (and its
/// exchange, timeframe, symbol), for `report --from DIR` without `--bars`.
pub const REPORT_INPUT: &str = "report-input.json";

/// Flags of `report`.
#[derive(Args)]
pub struct ReportArgs {
    /// A backtest's output directory (`backtest --out-dir`, CSV tables): fills, equity, trades
    /// and analyzers over its bars (`--bars`, the file the backtest read; an output directory is
    /// the same for any input, so it does not name it).
    #[arg(long = "from")]
    pub from: Option<String>,
    /// Bar file (tickflow bar CSV or Parquet, Backtrader/Yahoo CSV): the candles.
    #[arg(long)]
    pub bars: Option<String>,
    /// Symbol to draw (a file may hold several; Backtrader/Yahoo files: the name to give).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Series to draw from a file holding several: a timeframe (`1m`) or a bar kind.
    #[arg(long)]
    pub timeframe: Option<String>,
    /// Exchange id for files without one.
    #[arg(long, default_value = "file")]
    pub exchange: String,
    /// Output HTML file.
    #[arg(short = 'o', long)]
    pub out: String,
}

/// Runs the command.
pub fn run(a: ReportArgs) -> Result<()> {
    let data = match &a.from {
        Some(dir) => {
            let summary = read_summary(Path::new(dir))?;
            let input: Option<serde_json::Value> = std::fs::read_to_string(Path::new(dir).join(REPORT_INPUT)).ok().and_then(|t| serde_json::from_str(&t).ok());
            let recorded = |k: &str| input.as_ref().and_then(|v| v.get(k)).and_then(|v| v.as_str()).map(String::from);
            let Some(bars_path) = a.bars.clone().or_else(|| recorded("bars")) else {
                bail!("--from {dir} needs --bars FILE: the bar file the backtest read (backtest --report records it)")
            };
            let exchange = if a.bars.is_none() { recorded("exchange").unwrap_or_else(|| a.exchange.clone()) } else { a.exchange.clone() };
            let symbol = a.symbol.clone().or_else(|| recorded("symbol"));
            let bars = match &a.timeframe {
                Some(tf) => load_bars(&bars_path, None, Some(tf), &exchange)?,
                // as the backtest read them: its timeframe selects only from a file of several
                None => load_bars(&bars_path, None, None, &exchange).or_else(|_| load_bars(&bars_path, None, recorded("timeframe").as_deref(), &exchange))?,
            };
            backtest_report(Path::new(dir), &summary, &bars, symbol.as_deref())?
        }
        None => {
            let Some(path) = &a.bars else { bail!("give --from DIR (a backtest's output) or --bars FILE") };
            let bars = load_bars(path, a.symbol.as_deref(), a.timeframe.as_deref(), &a.exchange)?;
            bar_report(path, &bars)
        }
    };
    write(&a.out, &data)
}

/// Writes the page and prints what it holds.
pub fn write(out: &str, data: &ReportData) -> Result<()> {
    let html = render(data)?;
    std::fs::write(out, &html).with_context(|| format!("writing {out}"))?;
    println!("report             {out} ({} bars, {} fills, {:.1} MiB)", data.candles.len(), data.fills.len(), html.len() as f64 / 1048576.0);
    Ok(())
}

/// The candle view of a bar file: revised bars outlined, carried bars grey.
pub fn bar_report(path: &str, bars: &[Bar]) -> ReportData {
    let b0 = &bars[0];
    let carried = bars.iter().filter(|b| b.is_carried()).count();
    let revised = bars.iter().filter(|b| b.revision > 0).count();
    let mut notes = Vec::new();
    if carried + revised > 0 {
        notes.push(format!("{carried} carried bars (no trades: grey), {revised} revised bars (a late trade changed them: orange outline)."));
    }
    ReportData {
        title: format!(
            "{} {} — {}",
            b0.instrument.symbol(),
            b0.series(),
            Path::new(path).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
        ),
        subtitle: span(bars),
        candles: candles(bars),
        stats: vec![
            ("bars".into(), bars.len().to_string()),
            ("carried".into(), carried.to_string()),
            ("revised".into(), revised.to_string()),
            ("exchange".into(), b0.instrument.exchange().to_string()),
        ],
        notes,
        ..Default::default()
    }
}

fn span(bars: &[Bar]) -> String {
    let (first, last) = (&bars[0], &bars[bars.len() - 1]);
    format!("{} {} · {} → {} · {} bars", first.instrument.exchange(), first.instrument.symbol(), first.open_time, last.open_time, bars.len())
}

fn read_summary(dir: &Path) -> Result<serde_json::Value> {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {} (a backtest's --out-dir?)", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))
}

/// Reads a CSV table of the backtest directory (`name.csv`) as a header and rows.
fn table(dir: &Path, name: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let p = dir.join(format!("{name}.csv"));
    if !p.exists() && dir.join(format!("{name}.parquet")).exists() {
        bail!("{}: reports read the CSV tables (run the backtest with --format csv)", dir.display());
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap_or_default().split(',').map(String::from).collect();
    let rows = lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(String::from).collect()).collect();
    Ok((header, rows))
}

fn col(header: &[String], name: &str, file: &str) -> Result<usize> {
    header.iter().position(|h| h == name).with_context(|| format!("{file}.csv has no {name} column"))
}

/// The report of a backtest directory over its bars: the candles of `symbol` (else of the first
/// instrument filled, else the first in the file) with that instrument's fills.
pub fn backtest_report(dir: &Path, summary: &serde_json::Value, all_bars: &[Bar], symbol: Option<&str>) -> Result<ReportData> {
    let num = |s: &str, what: &str| s.parse::<f64>().with_context(|| format!("{what}: {s:?} is not a number"));
    let (h, rows) = table(dir, "fills")?;
    let (t, sym, side, price, size) =
        (col(&h, "time", "fills")?, col(&h, "symbol", "fills")?, col(&h, "side", "fills")?, col(&h, "price", "fills")?, col(&h, "size", "fills")?);
    let instruments: std::collections::BTreeSet<String> = all_bars.iter().map(|b| b.instrument.symbol().to_string()).collect();
    let drawn = match symbol {
        Some(s) => s.to_ascii_uppercase(),
        None => rows.first().map(|r| r[sym].clone()).or_else(|| instruments.iter().next().cloned()).unwrap_or_default(),
    };
    let bars: Vec<Bar> = all_bars.iter().filter(|b| b.instrument.symbol() == drawn).copied().collect();
    if bars.is_empty() {
        bail!("no bars of {drawn} (the file holds {})", instruments.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let bars = &bars[..];
    let fills = rows
        .iter()
        .filter(|r| r[sym] == drawn)
        .map(|r| {
            Ok(FillMark {
                time: r[t].parse().context("fills time")?,
                side: r[side].clone(),
                price: num(&r[price], "fill price")?,
                size: num(&r[size], "fill size")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (h, rows) = table(dir, "equity")?;
    let (t, v) = (col(&h, "time", "equity")?, col(&h, "value", "equity")?);
    let equity = rows.iter().map(|r| Ok((r[t].parse::<i64>().context("equity time")?, num(&r[v], "equity value")?))).collect::<Result<Vec<_>>>()?;
    let (h, rows) = table(dir, "trades")?;
    let mut trades = vec![h];
    trades.extend(rows);
    let strategy = summary.get("strategy").and_then(|v| v.as_str()).unwrap_or("");
    let mut lines = Vec::new();
    if let Some(reg) = tickflow_strategies::REGISTRY.iter().find(|r| r.name == strategy) {
        let mut given = tickflow_strategies::StrategyParams::default();
        if let Some(p) = summary.get("params").and_then(|v| v.as_object()) {
            for (k, v) in p {
                if let Some(x) = v.as_f64() {
                    given.set(k, x);
                }
            }
        }
        for (name, params, overlay) in reg.plot_specs(&given) {
            lines.extend(indicator_lines(bars, name, &params, overlay)?);
        }
    }
    let params: Vec<String> =
        summary.get("params").and_then(|v| v.as_object()).map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect()).unwrap_or_default();
    let mut notes = Vec::new();
    if instruments.len() > 1 {
        notes.push(format!(
            "The run traded {} instruments; drawn: {drawn} (`tickflow report --from {} --symbol …` for another). Equity, analyzers and trades are the whole run's.",
            instruments.len(),
            dir.display()
        ));
    }
    let equity_points = equity.len();
    let shown = decimate(&equity, MAX_EQUITY_POINTS);
    if shown.len() < equity_points {
        notes.push(format!("Equity decimated for display: {} of {equity_points} points (each bucket's first, lowest, highest and last).", shown.len()));
    }
    // a sweep: its leaderboard (the swept parameters are the columns between rank and the metrics)
    let (mut leaderboard, mut sweep_params) = (Vec::new(), Vec::new());
    if dir.join("leaderboard.csv").exists() {
        let (h, rows) = table(dir, "leaderboard")?;
        let end = col(&h, "final_value", "leaderboard")?;
        // only this run's sweep: its best row holds the run's parameters (not a stale file)
        let ours = rows.first().is_some_and(|best| {
            h[1..end]
                .iter()
                .zip(&best[1..end])
                .all(|(k, v)| summary.pointer(&format!("/params/{k}")).and_then(|x| x.as_f64()).zip(v.parse::<f64>().ok()).is_some_and(|(a, b)| a == b))
        });
        if ours {
            sweep_params = h[1..end].to_vec();
            leaderboard = vec![h];
            leaderboard.extend(rows);
        }
    }
    let mut stats = flatten_stats(summary.get("summary").unwrap_or(&serde_json::Value::Null));
    stats.insert(0, ("strategy".into(), format!("{strategy} {}", params.join(" "))));
    Ok(ReportData {
        title: format!("{strategy} {}", params.join(" ")),
        subtitle: span(bars),
        candles: candles(bars),
        fills,
        lines,
        equity: shown,
        equity_points,
        stats,
        trades,
        notes,
        leaderboard,
        sweep_params,
    })
}
