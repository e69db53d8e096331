//! `tickflow fetch trades`: historical trades from a venue's REST API into a trade CSV —
//! paginated, rate-limit aware, resumable (`<out>.checkpoint`), de-duplicated by trade id.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tickflow_connectors::history::Checkpoint;
use tickflow_connectors::http::{HttpClient, RetryPolicy, Secret};
use tickflow_connectors::venues::{self, CandleRequest, CandleResume, HistoryRequest, Operation, Venue};
use tickflow_connectors::TradeCsvWriter;
use tickflow_model::Ts;

use crate::job::api_key;

/// A time span `[since, until)` shared by the history commands.
#[derive(Args)]
pub struct SpanArgs {
    /// Start (epoch s/ms/µs/ns or RFC 3339).
    #[arg(long)]
    since: String,
    /// End, exclusive (default: now).
    #[arg(long)]
    until: Option<String>,
}

impl SpanArgs {
    /// Parsed and checked: `until` after `since`.
    pub fn resolve(&self) -> Result<(Ts, Ts)> {
        let since: Ts = self.since.parse().context("--since")?;
        let until: Ts = match &self.until {
            Some(u) => u.parse().context("--until")?,
            None => Ts::now(),
        };
        if until <= since {
            bail!("--until must be after --since");
        }
        Ok((since, until))
    }
}

/// What to fetch.
#[derive(Subcommand)]
pub enum FetchCmd {
    /// Public trades.
    Trades(FetchTradesArgs),
    /// Closed candles (written as tickflow bar CSV, JSON lines or Parquet).
    Ohlcv(FetchOhlcvArgs),
    /// Funding-rate history of a perpetual (`BTC/USDT:USDT`, `BTC/USD:BTC`).
    Funding(FetchFundingArgs),
}

/// Flags of `fetch funding`.
#[derive(Args)]
pub struct FetchFundingArgs {
    // the venues come from the registry
    #[arg(long, help = venues::source_help(Operation::Funding))]
    source: String,
    /// CCXT symbol of a perpetual: BTC/USDT:USDT (linear), BTC/USD:BTC (inverse).
    #[arg(long)]
    symbol: String,
    #[command(flatten)]
    span: SpanArgs,
    /// Output file: CSV (`timestamp,exchange,symbol,funding_rate,mark_price`), or Parquet
    /// (.parquet).
    #[arg(short = 'o', long)]
    out: String,
    /// Override the REST base URL.
    #[arg(long)]
    rest_url: Option<String>,
    #[command(flatten)]
    stores: crate::cli::funding_out::FundingStoreArgs,
}

/// Flags of `fetch ohlcv`.
#[derive(Args)]
pub struct FetchOhlcvArgs {
    // the venues come from the registry
    #[arg(long, help = source_help(Operation::Ohlcv))]
    source: String,
    /// cryptocompare: exchange instead of the CCCAGG index; coindesk: the market (default kraken).
    #[arg(long)]
    market: Option<String>,
    /// File holding the CryptoCompare/CoinDesk API key (else $CRYPTOCOMPARE_API_KEY). Never logged.
    #[arg(long)]
    api_key_file: Option<String>,
    /// CCXT symbol.
    #[arg(long)]
    symbol: String,
    /// Candle length, e.g. 1m, 1h, 1d.
    #[arg(long, default_value = "1m")]
    timeframe: String,
    /// Which price: trade, or a perpetual's mark or index price (candles without volume; keep
    /// them in their own file).
    #[arg(long, default_value = "trade")]
    price: String,
    #[command(flatten)]
    span: SpanArgs,
    /// Output bar file: CSV, or JSON lines (.jsonl) or Parquet (.parquet) by extension.
    #[arg(short = 'o', long)]
    out: String,
    /// Override the REST base URL.
    #[arg(long)]
    rest_url: Option<String>,
    /// Continue an interrupted fetch: keep the bars already in `--out` and fetch from the
    /// candle after the last one (forward-paging venues).
    #[arg(long)]
    resume: bool,
    /// Hide the progress bar.
    #[arg(long)]
    no_progress: bool,
    /// With --price mark|index: also write QuestDB's `price_candles` table (DEDUP on open time,
    /// exchange, symbol, timeframe, price) and/or publish to `<namespace>.price_candles` (key
    /// `exchange:symbol:timeframe:price:open_time`; record `tickflow.price_candle.v1`). Traded
    /// bars reach QuestDB and Kafka from `aggregate`/`run`.
    #[command(flatten)]
    stores: crate::cli::funding_out::FundingStoreArgs,
}

/// Flags of `fetch trades`.
#[derive(Args)]
pub struct FetchTradesArgs {
    // the venues come from the registry
    #[arg(long, help = source_help(Operation::Trades))]
    source: String,
    /// coindesk: the exchange whose trades to fetch (default kraken).
    #[arg(long)]
    market: Option<String>,
    /// coindesk: file holding the API key (else $CRYPTOCOMPARE_API_KEY). Never logged.
    #[arg(long)]
    api_key_file: Option<String>,
    /// CCXT symbol, e.g. BTC/USDT.
    #[arg(long)]
    symbol: String,
    #[command(flatten)]
    span: SpanArgs,
    /// Output trade file: CSV (appended to when resuming), or Parquet (.parquet; staged as
    /// `<out>.part.csv` until the fetch completes).
    #[arg(short = 'o', long)]
    out: String,
    /// Override the REST base URL (tests, proxies).
    #[arg(long)]
    rest_url: Option<String>,
    /// Stop after this many pages (the checkpoint lets a later run continue).
    #[arg(long)]
    max_pages: Option<u64>,
    /// Hide the progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// The `--source` help of a fetch command: the registry's venues offering `op`, and CCXT.
fn source_help(op: Operation) -> String {
    format!("{}; or ccxt:EXCHANGE_ID (builds with --features ccxt)", venues::source_help(op))
}

/// A REST client with the request budget of the API serving `symbol` at `venue`.
fn client(venue: &dyn Venue, symbol: &str) -> HttpClient {
    HttpClient::new(RetryPolicy::default(), Duration::from_secs(30)).with_budget(venue.budget_for(symbol))
}

/// Runs `fetch`.
pub fn run(cmd: FetchCmd) -> Result<()> {
    match cmd {
        FetchCmd::Trades(a) => trades(a),
        FetchCmd::Ohlcv(a) => ohlcv(a),
        FetchCmd::Funding(a) => funding(a),
    }
}

fn funding(a: FetchFundingArgs) -> Result<()> {
    let venue = venues::for_markets(&a.source, Operation::Funding, &[&a.symbol])?;
    let (since, until) = a.span.resolve()?;
    let mut sinks = crate::cli::funding_out::FundingSinks::open(&a.out, &a.stores, "tickflow-fetch")?;
    let mut client = client(venue, &a.symbol);
    let req = tickflow_connectors::venues::FundingRequest { client: &mut client, rest_url: a.rest_url.as_deref(), symbol: &a.symbol, since, until };
    let n = venue.funding(req, &mut |page| sinks.write(page))?;
    sinks.finish()?;
    println!(
        "fetched {n} funding rates of {} from {} into {} ({} requests, {} rate-limited)",
        a.symbol, a.source, a.out, client.stats.requests, client.stats.rate_limited
    );
    Ok(())
}

fn ohlcv(a: FetchOhlcvArgs) -> Result<()> {
    if let Some(id) = ccxt_id(&a.source) {
        #[cfg(feature = "ccxt")]
        return ccxt_ohlcv(id, &a);
        #[cfg(not(feature = "ccxt"))]
        return Err(ccxt_unavailable(id));
    }
    let venue = venues::for_markets(&a.source, Operation::Ohlcv, &[&a.symbol])?;
    let price: venues::CandlePrice = a.price.parse().map_err(|e: String| anyhow::anyhow!("--price {e}"))?;
    if !venue.candle_prices().contains(&price) {
        let have: Vec<&str> = venue.candle_prices().iter().map(|p| p.name()).collect();
        bail!("--source {}: no {} candles (it serves {})", a.source, price.name(), have.join(", "));
    }
    let tf: tickflow_model::Timeframe = a.timeframe.parse()?;
    let (since, until) = a.span.resolve()?;
    // --resume: continue after the last bar already written (the file keeps its rows)
    let existing = match venue.candle_resume() {
        CandleResume::AfterLastBar if a.resume && std::path::Path::new(&a.out).exists() => {
            tickflow_connectors::read_bars(&a.out, &a.source, &a.symbol)?.iter().map(|b| b.open_time).max()
        }
        CandleResume::Refuse(why) if a.resume && std::path::Path::new(&a.out).exists() => bail!("{why}"),
        _ => None,
    };
    let since = match existing {
        Some(last) => since.max(tickflow_model::Ts(last.0 + tf.nanos())),
        None => since,
    };
    let stored = a.stores.questdb.questdb || a.stores.publish;
    if stored && price == venues::CandlePrice::Trade {
        bail!("--questdb/--publish store mark and index candles (--price mark|index); traded bars reach QuestDB and Kafka from `aggregate`/`run`");
    }
    let mut stores = if stored { Some(crate::cli::funding_out::Stores::open(&a.stores, "tickflow-fetch", "price_candles")?) } else { None };
    let mut writer = if existing.is_some() { tickflow_connectors::BarWriter::append(&a.out)? } else { tickflow_connectors::BarWriter::create(&a.out)? };
    let key = api_key(a.api_key_file.as_deref())?.map(Secret::new);
    let mut client = client(venue, &a.symbol);
    let pb = span_progress(since, until, a.no_progress);
    let mut on_page = |bars: &[tickflow_model::Bar]| {
        if let Some(b) = bars.last() {
            pb.set_position(((b.open_time.0 - since.0).max(0) / 1_000_000_000) as u64);
        }
        if let Some(s) = stores.as_mut() {
            s.price_candles(bars, price.name())?;
        }
        writer.write_all(bars)
    };
    let req = CandleRequest {
        client: &mut client,
        rest_url: a.rest_url.as_deref(),
        symbol: &a.symbol,
        timeframe: tf,
        since,
        until,
        market: a.market.as_deref(),
        api_key: key.as_ref(),
        price,
    };
    let summary = venue.candles(req, &mut on_page)?;
    writer.finish()?;
    if let Some(s) = stores.as_mut() {
        s.flush()?;
    }
    pb.finish_and_clear();
    let (n, stats) = (summary.bars, client.stats);
    match summary.screened {
        None => println!(
            "fetched {n} {} candles of {} from {} into {} ({} requests, {} rate-limited)",
            a.timeframe, a.symbol, a.source, a.out, stats.requests, stats.rate_limited
        ),
        Some(s) => println!(
            "fetched {n} {} candles of {} from {} into {} ({} pages, {} requests, {} rate-limited, {} inconsistent rejected, {} forming held back, api key {})",
            a.timeframe,
            a.symbol,
            a.source,
            a.out,
            s.pages,
            stats.requests,
            stats.rate_limited,
            s.rejected,
            s.forming,
            if key.is_some() { "set" } else { "not set" }
        ),
    }
    Ok(())
}

/// A progress bar over the seconds of history in `[since, until)`, with an ETA.
fn span_progress(since: Ts, until: Ts, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new((until.0 - since.0).max(1) as u64 / 1_000_000_000);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} s of history, ETA {eta} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// The CCXT exchange id of `--source ccxt:<id>`.
fn ccxt_id(source: &str) -> Option<&str> {
    source.strip_prefix("ccxt:")
}

#[cfg(not(feature = "ccxt"))]
fn ccxt_unavailable(id: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--source ccxt:{id}: this tickflow was built without CCXT; rebuild with `cargo build --release -p tickflow --features ccxt` (binance; add ccxt-<venue> features for more)"
    )
}

#[cfg(feature = "ccxt")]
fn ccxt_trades(id: &str, a: &FetchTradesArgs) -> Result<()> {
    let (since, until) = a.span.resolve()?;
    let mut writer = tickflow_connectors::TradeWriter::create(&a.out, false)?;
    let n = tickflow_connectors::ccxt_venues::fetch_trades(id, a.rest_url.as_deref(), &a.symbol, since, until, |page| {
        page.iter().try_for_each(|t| writer.write(t))?;
        writer.flush()
    })?;
    writer.finish()?;
    println!("fetched {n} trades of {} from ccxt:{id} into {}", a.symbol, a.out);
    Ok(())
}

#[cfg(feature = "ccxt")]
fn ccxt_ohlcv(id: &str, a: &FetchOhlcvArgs) -> Result<()> {
    let tf: tickflow_model::Timeframe = a.timeframe.parse()?;
    let (since, until) = a.span.resolve()?;
    let mut writer = tickflow_connectors::BarWriter::create(&a.out)?;
    let n = tickflow_connectors::ccxt_venues::fetch_ohlcv(id, a.rest_url.as_deref(), &a.symbol, tf, since, until, |bars| writer.write_all(bars))?;
    writer.finish()?;
    println!("fetched {n} {} candles of {} from ccxt:{id} into {}", a.timeframe, a.symbol, a.out);
    Ok(())
}

fn trades(a: FetchTradesArgs) -> Result<()> {
    if let Some(id) = ccxt_id(&a.source) {
        #[cfg(feature = "ccxt")]
        return ccxt_trades(id, &a);
        #[cfg(not(feature = "ccxt"))]
        return Err(ccxt_unavailable(id));
    }
    let venue = venues::for_markets(&a.source, Operation::Trades, &[&a.symbol])?;
    let (since, until) = a.span.resolve()?;
    tickflow_model::Instrument::new(&a.source, &a.symbol)?;
    let ck_path = format!("{}.checkpoint", a.out);
    let resume = Checkpoint::load(&ck_path)?;
    let mut history = venue.trade_history(HistoryRequest {
        client: client(venue, &a.symbol),
        rest_url: a.rest_url.clone(),
        symbol: a.symbol.clone(),
        since,
        until,
        cursor: resume.as_ref().map(|c| c.cursor.clone()),
        market: a.market.clone(),
        api_key: api_key(a.api_key_file.as_deref())?.map(Secret::new),
    })?;
    // Parquet is written whole at the end: the pages go to a CSV staging file first (which
    // the checkpoint resumes), converted when the fetch completes
    let csv = if tickflow_connectors::wants_parquet(&a.out) { format!("{}.part.csv", a.out) } else { a.out.clone() };
    let fresh = resume.is_none();
    let file = std::fs::OpenOptions::new().create(true).append(!fresh).write(true).truncate(fresh).open(&csv).with_context(|| format!("opening {}", csv))?;
    // rows written after the checkpoint by a run that died are dropped: they come again
    if let Some(bytes) = resume.as_ref().map(|c| c.bytes).filter(|b| *b > 0) {
        let len = file.metadata().with_context(|| format!("reading {}", csv))?.len();
        if len < bytes {
            bail!("{} is shorter ({len} bytes) than its checkpoint says ({bytes}); remove both to fetch again", csv);
        }
        file.set_len(bytes).with_context(|| format!("truncating {} to its checkpoint", csv))?;
    }
    let out = std::io::BufWriter::new(file);
    // a resumed file already has its header
    let mut writer = if fresh { TradeCsvWriter::new(&csv, out)? } else { TradeCsvWriter::new_headerless(&csv, out) };
    let mut ck = resume.unwrap_or_default();
    let pb = span_progress(since, until, a.no_progress);
    let mut pages = 0u64;
    while let Some(page) = history.next_page()? {
        let mut last_ts = since;
        for t in &page {
            if let (Some(id), Some(last)) = (t.trade_id, ck.last_id) {
                if id <= last {
                    continue; // already written (page overlap or resume)
                }
            }
            writer.write(t)?;
            ck.rows += 1;
            ck.last_id = t.trade_id.or(ck.last_id);
            last_ts = t.ts;
        }
        writer.flush()?;
        // the data is durable before the checkpoint that points past it
        let f = writer.get_mut().get_ref();
        f.sync_data().with_context(|| format!("syncing {}", csv))?;
        ck.bytes = f.metadata().with_context(|| format!("reading {}", csv))?.len();
        ck.cursor = history.cursor();
        ck.save(&ck_path)?;
        pb.set_position(((last_ts.0 - since.0).max(0) / 1_000_000_000) as u64);
        pages += 1;
        if a.max_pages.is_some_and(|m| pages >= m) {
            pb.finish_and_clear();
            println!("stopped after {pages} pages ({} rows so far); run again to continue", ck.rows);
            return Ok(());
        }
    }
    pb.finish_and_clear();
    drop(writer);
    if csv != a.out {
        tickflow_connectors::convert_trades(&csv, &a.out, tickflow_connectors::TradeCsvOptions::default())?;
        std::fs::remove_file(&csv).with_context(|| format!("removing {csv}"))?;
    }
    std::fs::remove_file(&ck_path).ok();
    println!("fetched {} trades of {} from {} into {}", ck.rows, a.symbol, a.source, a.out);
    Ok(())
}
