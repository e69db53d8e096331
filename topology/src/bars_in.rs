//! Bars from files into a dataflow: read on worker 0, fed at their close time.

use anyhow::{bail, Result};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;

/// The input handle type for bars.
pub type BarInput = InputHandle<u64, CapacityContainerBuilder<Vec<Bar>>>;
use tickflow_model::Bar;

/// A default CCXT-style symbol for a Backtrader/Yahoo file: `orcl-1995-2014.txt` → `ORCL/USD`.
pub fn default_symbol(path: &str) -> String {
    let stem = std::path::Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or("DATA");
    let base: String = stem.split(['-', '_', '.']).next().unwrap_or("DATA").chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{}/USD", if base.is_empty() { "DATA".to_string() } else { base.to_ascii_uppercase() })
}

/// One series of a bar file (the latest revision of each bar); with `symbol` `None`, a file of
/// several instruments keeps them all (a backtest's report picks one).
pub fn load_bars(path: &str, symbol: Option<&str>, series: Option<&str>, exchange: &str) -> Result<Vec<Bar>> {
    let default_symbol = symbol.map(String::from).unwrap_or_else(|| default_symbol(path));
    let mut bars = tickflow_connectors::read_bars(path, exchange, &default_symbol)?;
    if let Some(s) = symbol {
        let s = s.to_ascii_uppercase();
        if bars.iter().any(|b| b.instrument.symbol() == s) {
            bars.retain(|b| b.instrument.symbol() == s);
        }
    }
    if let Some(series) = series {
        let (kind, tf) = Bar::parse_series(series)?;
        bars.retain(|b| b.kind == kind && tf.is_none_or(|tf| b.timeframe == tf));
    }
    let keys: std::collections::BTreeSet<_> = bars.iter().map(|b| (b.kind, b.series_key().2)).collect();
    if keys.len() > 1 {
        bail!("{path} holds {} series; choose one with --symbol and --timeframe", keys.len());
    }
    if bars.is_empty() {
        bail!("{path} holds no bars{}", series.map(|s| format!(" of {s}")).unwrap_or_default());
    }
    bars.sort_by_key(|b| b.sort_key());
    Ok(bars)
}

/// The timely time at which a bar is fed: its close time − 1 ns (it is final then).
pub fn bar_time(b: &Bar) -> Result<u64> {
    let t = b.close_time().0 - 1;
    if t < 0 {
        bail!("bar at {} is before 1970, which tickflow's event time does not represent", b.open_time);
    }
    Ok(t as u64)
}

/// Bars per timestamp when feeding files: stages sort bars within a timestamp, so coarser
/// timestamps change no result and save a progress round per bar.
pub const FEED_CHUNK: usize = 4096;

/// Sends `bars` (any order) through `input` in time order and closes it. Bars go in chunks of
/// [`FEED_CHUNK`], each chunk at the time of its first bar (never later than any bar in it).
pub fn feed(mut input: BarInput, bars: &[Bar]) -> Result<()> {
    let mut v: Vec<(u64, &Bar)> = bars.iter().map(|b| Ok((bar_time(b)?, b))).collect::<Result<_>>()?;
    v.sort_by_key(|(t, b)| (*t, b.sort_key()));
    for chunk in v.chunks(FEED_CHUNK) {
        let t = chunk[0].0;
        if t > *input.time() {
            input.advance_to(t);
        }
        for (_, b) in chunk {
            input.send(**b);
        }
    }
    input.close();
    Ok(())
}
