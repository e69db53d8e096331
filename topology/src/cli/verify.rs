//! `tickflow verify`: the venue's own candles vs tickflow's aggregation of the venue's trades.
//!
//! Fetches trades and 1-minute candles for the span, aggregates the trades with the core bar
//! engine (carry fill, Kraken's convention for empty minutes) and compares every *full* minute
//! strictly inside the trade window: open, high, low, close, volume and trade count.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use tickflow_connectors::http::{HttpClient, RetryPolicy};
use tickflow_connectors::venues::{self, CandleRequest, HistoryRequest, Operation};
use tickflow_model::Timeframe;
use tickflow_operators::{AggregateConfig, BarEngine, Emit, FillPolicy};

/// Flags of `tickflow verify`.
#[derive(Args)]
pub struct VerifyArgs {
    // the venues come from the registry
    #[arg(long, help = venues::source_help(Operation::Verify))]
    source: String,
    /// CCXT symbol.
    #[arg(long)]
    symbol: String,
    #[command(flatten)]
    span: crate::cli::fetch::SpanArgs,
    /// Override the REST base URL.
    #[arg(long)]
    rest_url: Option<String>,
}

/// Runs the check; exits non-zero when minutes differ.
pub fn run(a: VerifyArgs) -> Result<()> {
    let venue = venues::for_markets(&a.source, Operation::Verify, &[&a.symbol])?;
    let (since, until) = a.span.resolve()?;
    let client = || HttpClient::new(RetryPolicy::default(), Duration::from_secs(30)).with_budget(venue.budget());
    let mut trades = Vec::new();
    let mut h = venue.trade_history(HistoryRequest {
        client: client(),
        rest_url: a.rest_url.clone(),
        symbol: a.symbol.clone(),
        since,
        until,
        cursor: None,
        market: None,
        api_key: None,
    })?;
    let mut last_id = None;
    while let Some(page) = h.next_page()? {
        for t in page {
            if t.trade_id.is_some() && t.trade_id <= last_id {
                continue;
            }
            last_id = t.trade_id.or(last_id);
            trades.push(t);
        }
    }
    if trades.len() < 2 {
        bail!("not enough trades in the span to compare");
    }
    let minute = Timeframe::from_secs(60)?;
    let mut client = client();
    let mut candles = Vec::new();
    let req = CandleRequest {
        client: &mut client,
        rest_url: a.rest_url.as_deref(),
        symbol: &a.symbol,
        timeframe: minute,
        since,
        until,
        market: None,
        api_key: None,
        price: Default::default(),
    };
    venue.candles(req, &mut |bars| {
        candles.extend_from_slice(bars);
        Ok(())
    })?;
    // aggregate with the engine: all trades on time, then finalize everything
    let mut cfg = AggregateConfig::new(vec![minute]);
    cfg.fill = FillPolicy::Carry;
    let mut engine = BarEngine::new(cfg)?;
    let mut ends = Vec::new();
    for t in &trades {
        engine.on_time(t, &mut ends);
    }
    let mut out = Vec::new();
    engine.finalize_until(i64::MAX, &mut out);
    let ours: BTreeMap<i64, tickflow_model::Bar> =
        out.into_iter().filter_map(|(_, e)| if let Emit::Bar(b) = e { Some((b.open_time.0, b)) } else { None }).collect();
    let first_full = minute.open_of(trades.iter().map(|t| t.ts).min().unwrap_or(since)).0 + minute.nanos();
    let last_full = minute.open_of(trades.iter().map(|t| t.ts).max().unwrap_or(until)).0 - minute.nanos();
    let (mut compared, mut differ) = (0u64, 0u64);
    for c in candles.iter().filter(|c| c.open_time.0 >= first_full && c.open_time.0 <= last_full) {
        compared += 1;
        let ok = ours
            .get(&c.open_time.0)
            .is_some_and(|b| (b.open, b.high, b.low, b.close, b.volume, b.trades) == (c.open, c.high, c.low, c.close, c.volume, c.trades));
        if !ok {
            differ += 1;
            match ours.get(&c.open_time.0) {
                Some(b) => println!(
                    "{}  venue O {} H {} L {} C {} V {} n {}  ours O {} H {} L {} C {} V {} n {}",
                    c.open_time, c.open, c.high, c.low, c.close, c.volume, c.trades, b.open, b.high, b.low, b.close, b.volume, b.trades
                ),
                None => println!("{}  venue has a candle, tickflow has none", c.open_time),
            }
        }
    }
    println!("{} trades, {} venue candles; {compared} full minutes compared, {differ} differ", trades.len(), candles.len());
    if compared == 0 {
        bail!("no full minute inside the trade window to compare");
    }
    if differ > 0 {
        bail!("{differ} of {compared} minutes differ");
    }
    Ok(())
}
