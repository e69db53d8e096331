//! `tickflow stream`: live trades from a venue to a trade CSV (or stdout), with no holes and no
//! duplicates across reconnects.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tickflow_connectors::http::RetryPolicy;
use tickflow_connectors::live::LiveConfig;
use tickflow_connectors::venues::{self, Operation};
use tickflow_connectors::TradeCsvWriter;

/// Live-source flags shared by `stream` and `aggregate --source`.
#[derive(Args, Clone, Debug)]
pub struct LiveArgs {
    /// Comma-separated CCXT symbols, e.g. BTC/USDT,ETH/USDT.
    #[arg(long)]
    pub symbols: Option<String>,
    /// WebSocket base URL (default: the venue's).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// REST base URL for gap-fill (default: the venue's).
    #[arg(long)]
    pub rest_url: Option<String>,
    /// Reconnect when the feed is silent this long.
    #[arg(long, default_value = "30s")]
    pub stale_after: String,
    /// Stop after this many trades.
    #[arg(long)]
    pub max_trades: Option<u64>,
    /// Aggregators (cryptocompare): the exchange whose trades to stream (e.g. coinbase, kraken).
    #[arg(long)]
    pub market: Option<String>,
    /// Aggregators (cryptocompare): file holding the API key (else $CRYPTOCOMPARE_API_KEY). Never logged.
    #[arg(long)]
    pub api_key_file: Option<String>,
}

impl LiveArgs {
    /// The connector configuration for `source`.
    pub fn config(&self, source: &str) -> Result<LiveConfig> {
        let live = venues::for_operation(source, Operation::Stream)?.live().context("no live protocol")?;
        let symbols: Vec<String> = self.symbols.as_deref().unwrap_or("").split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if symbols.is_empty() {
            bail!("--symbols is required, e.g. --symbols BTC/USDT,ETH/USDT");
        }
        let mut cfg = LiveConfig::for_venue(source, symbols.clone())?;
        if let Some(default) = live.default_exchange() {
            cfg.exchange = self.market.clone().unwrap_or_else(|| default.into()).to_ascii_lowercase();
        }
        if live.needs_api_key() {
            let key = crate::fetch_cmd::api_key(self.api_key_file.as_deref())?;
            let Some(key) = key else {
                bail!("--source {source} needs an API key: --api-key-file FILE or $CRYPTOCOMPARE_API_KEY");
            };
            cfg.api_key = Some(tickflow_connectors::http::Secret::new(key));
        }
        for s in &symbols {
            tickflow_model::Instrument::new(&cfg.exchange, s)?;
        }
        if let Some(u) = &self.ws_url {
            cfg.ws_url = u.clone();
        }
        if let Some(u) = &self.rest_url {
            cfg.rest_url = u.clone();
        }
        cfg.stale_after = Duration::from_nanos(crate::duration::parse_nanos(&self.stale_after)?.max(1) as u64);
        cfg.retry = RetryPolicy::default();
        Ok(cfg)
    }
}

/// Flags of `tickflow stream`.
#[derive(Args)]
pub struct StreamArgs {
    // the venues come from the registry
    #[arg(long, help = source_help())]
    source: String,
    /// Output trade CSV, or - for stdout.
    #[arg(short = 'o', long, default_value = "-")]
    out: String,
    #[command(flatten)]
    live: LiveArgs,
}

/// The `--source` help of the live commands (`stream`, `aggregate --source`).
pub fn source_help() -> String {
    venues::source_help(Operation::Stream)
}

/// Runs the command.
pub fn run(a: StreamArgs) -> Result<()> {
    let cfg = a.live.config(&a.source)?;
    let out: Box<dyn std::io::Write> =
        if a.out == "-" { Box::new(std::io::stdout().lock()) } else { Box::new(std::io::BufWriter::new(std::fs::File::create(&a.out)?)) };
    let mut w = TradeCsvWriter::new(&a.out, out)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut n = 0u64;
    let mut err = None;
    let stats = tickflow_connectors::live::run(&cfg, &stop, |t| {
        if let Err(e) = w.write(&t).and_then(|_| w.flush()) {
            err = Some(e);
            return false;
        }
        n += 1;
        a.live.max_trades.is_none_or(|m| n < m)
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    eprintln!(
        "streamed {n} trades ({} connections, {} stale, {} gap-filled, {} unfilled gaps, {} duplicates dropped, {} bad frames)",
        stats.connects, stats.stale, stats.gap_filled, stats.gaps_unfilled, stats.duplicates, stats.bad_frames
    );
    Ok(())
}
