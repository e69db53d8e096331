//! `tickflow stream`: live trades from a venue to a trade CSV (or stdout), with no holes and no
//! duplicates across reconnects.

use anyhow::Result;
use clap::Args;
use tickflow_connectors::live::LiveConfig;
use tickflow_connectors::venues::{self, Operation};
use tickflow_connectors::TradeCsvWriter;

use crate::config::SourceSection;

/// Live-source flags shared by `stream` and `aggregate --source`; they map onto `[source]` keys.
#[derive(Args, Clone, Debug, Default)]
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
    /// Reconnect when the feed is silent this long [default: 30s].
    #[arg(long)]
    pub stale_after: Option<String>,
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
    /// Overrides the `[source]` keys these flags give.
    pub fn apply(&self, s: &mut SourceSection) {
        if let Some(v) = &self.symbols {
            s.symbols = v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
        }
        for (slot, v) in
            [(&mut s.ws_url, &self.ws_url), (&mut s.rest_url, &self.rest_url), (&mut s.market, &self.market), (&mut s.api_key_file, &self.api_key_file)]
        {
            if v.is_some() {
                *slot = v.clone();
            }
        }
        if let Some(v) = &self.stale_after {
            s.stale_after = v.clone();
        }
        if self.max_trades.is_some() {
            s.max_trades = self.max_trades;
        }
    }

    /// The connector configuration for `source` with these flags alone.
    pub fn config(&self, source: &str) -> Result<LiveConfig> {
        let mut s = SourceSection::default();
        self.apply(&mut s);
        crate::job::live_config(source, &s)
    }
}

/// Flags of `tickflow stream`.
#[derive(Args)]
pub struct StreamArgs {
    // the venues come from the registry
    #[arg(long, help = source_help())]
    source: String,
    /// Output trade file (CSV, or Parquet when it ends in .parquet, written when the stream
    /// stops), or - for CSV on stdout.
    #[arg(short = 'o', long, default_value = "-")]
    out: String,
    /// Stream the perpetuals' funding instead of trades: each settled funding event (the last
    /// rate streamed before its funding time, with the mark price) as a `fetch funding` row
    /// (CSV, or Parquet for .parquet; needs --out). --max-trades then counts events.
    #[arg(long)]
    funding: bool,
    #[command(flatten)]
    live: LiveArgs,
    /// With --funding: the stores besides the file.
    #[command(flatten)]
    stores: crate::cli::funding_out::FundingStoreArgs,
}

/// The `--source` help of the live commands (`stream`, `aggregate --source`).
pub fn source_help() -> String {
    venues::source_help(Operation::Stream)
}

/// Runs the command.
pub fn run(a: StreamArgs) -> Result<()> {
    if a.funding {
        return run_funding(&a);
    }
    anyhow::ensure!(
        !a.stores.publish && !a.stores.questdb.questdb,
        "--questdb/--publish go with --funding (live trades to Kafka and QuestDB: `tickflow ingest`)"
    );
    let cfg = a.live.config(&a.source)?;
    let mut w = if a.out == "-" {
        let out: Box<dyn std::io::Write> = Box::new(std::io::stdout().lock());
        tickflow_connectors::TradeWriter::Csv(TradeCsvWriter::new(&a.out, out)?)
    } else {
        tickflow_connectors::TradeWriter::create(&a.out, false)?
    };
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
    w.finish()?;
    eprintln!(
        "streamed {n} trades ({} connections, {} stale, {} gap-filled, {} unfilled gaps, {} duplicates dropped, {} bad frames, {} refused trades)",
        stats.connects, stats.stale, stats.gap_filled, stats.gaps_unfilled, stats.duplicates, stats.bad_frames, stats.rejected
    );
    Ok(())
}

/// `stream --funding`: settled funding events of perpetuals from the venue's funding stream
/// ([`tickflow_connectors::live::funding`]), written as they settle, until a signal or
/// `--max-trades` events.
fn run_funding(a: &StreamArgs) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tickflow_connectors::live::funding;
    let symbols: Vec<String> = a.live.symbols.as_deref().unwrap_or("").split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    anyhow::ensure!(!symbols.is_empty(), "--funding needs --symbols (perpetuals, e.g. BTC/USDT:USDT)");
    anyhow::ensure!(a.out != "-", "--funding writes a funding file: give --out FILE");
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let venue = venues::for_markets(&a.source, Operation::Funding, &refs)?;
    let fs = venue.funding_stream().ok_or_else(|| anyhow::anyhow!("{} streams no funding rates (`fetch funding` reads their history)", a.source))?;
    let kinds: std::collections::BTreeSet<tickflow_model::MarketKind> = refs.iter().filter_map(|s| tickflow_model::MarketKind::of(s).ok()).collect();
    anyhow::ensure!(kinds.len() == 1, "one market kind per funding stream (linear or inverse perpetuals): run one stream per kind");
    let markets = symbols
        .iter()
        .map(|s| Ok(venues::Market { symbol: s.clone(), id: venue.market_id(s), instrument: tickflow_model::Instrument::new(&a.source, s)? }))
        .collect::<Result<Vec<_>>>()?;
    let stale = match &a.live.stale_after {
        Some(s) => std::time::Duration::from_nanos(crate::duration::parse_nanos(s)?.max(0) as u64),
        None => std::time::Duration::from_secs(30),
    };
    let mut w = crate::cli::funding_out::FundingSinks::open(&a.out, &a.stores, "tickflow-stream")?;
    crate::shutdown::install();
    let (stop, done) = (AtomicBool::new(false), AtomicBool::new(false));
    let (mut n, mut err) = (0u64, None);
    let stats = std::thread::scope(|scope| {
        // a signal stops the session; its rows are then flushed and a Parquet file finished
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if crate::shutdown::requested() {
                    stop.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let r = funding::run(fs, a.live.ws_url.as_deref(), &markets, &stop, stale, 10, |f| {
            if let Err(e) = w.write(&[f]).and_then(|_| w.flush()) {
                err = Some(e);
                return false;
            }
            n += 1;
            a.live.max_trades.is_none_or(|m| n < m)
        });
        done.store(true, Ordering::SeqCst);
        r
    });
    let finished = w.finish();
    if let Some(e) = err {
        return Err(e.into());
    }
    let stats = stats?;
    finished?;
    eprintln!(
        "streamed {n} funding events ({} connections, {} stale, {} updates, {} bad frames)",
        stats.connects, stats.stale, stats.updates, stats.bad_frames
    );
    Ok(())
}
