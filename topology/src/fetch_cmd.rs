//! `tickflow fetch trades`: historical trades from a venue's REST API into a trade CSV —
//! paginated, rate-limit aware, resumable (`<out>.checkpoint`), de-duplicated by trade id.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tickflow_connectors::history::{BinanceHistory, Checkpoint, CoinDeskHistory, CoinbaseHistory, KrakenHistory, OkxHistory, TradeHistory};
use tickflow_connectors::http::{HttpClient, RateBudget, RetryPolicy};
use tickflow_connectors::TradeCsvWriter;
use tickflow_model::Ts;

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
    /// Closed candles (written as tickflow bar CSV).
    Ohlcv(FetchOhlcvArgs),
}

/// Flags of `fetch ohlcv`.
#[derive(Args)]
pub struct FetchOhlcvArgs {
    /// Venue: binance, bybit, coinbase, kraken, okx; cryptocompare (min-api) / coindesk (CoinDesk
    /// Data API); or ccxt:EXCHANGE_ID.
    #[arg(long)]
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
    #[command(flatten)]
    span: SpanArgs,
    /// Output bar CSV (or .jsonl).
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
}

/// Flags of `fetch trades`.
#[derive(Args)]
pub struct FetchTradesArgs {
    /// Venue: binance, coinbase, kraken, okx; coindesk (CoinDesk Data API, with --market); or
    /// ccxt:EXCHANGE_ID (builds with --features ccxt).
    #[arg(long)]
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
    /// Output trade CSV (appended to when resuming).
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

/// Runs `fetch`.
pub fn run(cmd: FetchCmd) -> Result<()> {
    match cmd {
        FetchCmd::Trades(a) => trades(a),
        FetchCmd::Ohlcv(a) => ohlcv(a),
    }
}

fn ohlcv(a: FetchOhlcvArgs) -> Result<()> {
    use tickflow_connectors::history::{fetch_klines, KlineVenue};
    if a.source == "cryptocompare" || a.source == "coindesk" {
        return ohlcv_cryptocompare(a);
    }
    if let Some(id) = ccxt_id(&a.source) {
        #[cfg(feature = "ccxt")]
        return ccxt_ohlcv(id, &a);
        #[cfg(not(feature = "ccxt"))]
        return Err(ccxt_unavailable(id));
    }
    let tf: tickflow_model::Timeframe = a.timeframe.parse()?;
    let (since, until) = a.span.resolve()?;
    // --resume: continue after the last bar already written (the file keeps its rows)
    let existing = if a.resume && std::path::Path::new(&a.out).exists() {
        if a.source == "okx" {
            bail!("--resume: OKX candles page backward and are written once at the end; fetch the span again");
        }
        tickflow_connectors::read_bars(&a.out, &a.source, &a.symbol)?.iter().map(|b| b.open_time).max()
    } else {
        None
    };
    let since = match existing {
        Some(last) => since.max(tickflow_model::Ts(last.0 + tf.nanos())),
        None => since,
    };
    let create_writer = || -> Result<tickflow_connectors::BarWriter> {
        Ok(if existing.is_some() { tickflow_connectors::BarWriter::append(&a.out)? } else { tickflow_connectors::BarWriter::create(&a.out)? })
    };
    let default_base = match a.source.as_str() {
        "binance" => "https://api.binance.com",
        "bybit" => "https://api.bybit.com",
        "coinbase" => "https://api.exchange.coinbase.com",
        "kraken" => "https://api.kraken.com",
        "okx" => "https://www.okx.com",
        other => bail!("--source {other}: candle history is available for binance, bybit, coinbase, kraken, okx, cryptocompare, coindesk and ccxt:<id>"),
    };
    let base = a.rest_url.clone().unwrap_or_else(|| default_base.to_string());
    let mut writer = create_writer()?;
    let mut client = HttpClient::new(RetryPolicy::default(), Duration::from_secs(30)).with_budget(RateBudget::for_venue(&a.source));
    let pb = span_progress(since, until, a.no_progress);
    let on_page = |bars: &[tickflow_model::Bar]| {
        if let Some(b) = bars.last() {
            pb.set_position(((b.open_time.0 - since.0).max(0) / 1_000_000_000) as u64);
        }
        writer.write_all(bars)
    };
    let n = match (a.source.as_str(), KlineVenue::parse(&a.source)) {
        ("kraken", _) => tickflow_connectors::history::fetch_kraken_ohlc(&mut client, &base, &a.symbol, tf, since, until, on_page)?,
        ("okx", _) => tickflow_connectors::history::fetch_okx_candles(&mut client, &base, &a.symbol, tf, since, until, on_page)?,
        (_, Some(venue)) => fetch_klines(&mut client, venue, &base, &a.symbol, tf, since, until, on_page)?,
        (other, None) => bail!("--source {other}: no candle history"),
    };
    pb.finish_and_clear();
    println!(
        "fetched {n} {} candles of {} from {} into {} ({} requests, {} rate-limited)",
        a.timeframe, a.symbol, a.source, a.out, client.stats.requests, client.stats.rate_limited
    );
    Ok(())
}

fn ohlcv_cryptocompare(a: FetchOhlcvArgs) -> Result<()> {
    use tickflow_connectors::history::{fetch_cryptocompare, CryptoCompareApi};
    let tf: tickflow_model::Timeframe = a.timeframe.parse()?;
    let (since, until) = a.span.resolve()?;
    let (api, default_base) = if a.source == "coindesk" {
        (CryptoCompareApi::DataApi { market: a.market.clone().unwrap_or_else(|| "kraken".into()) }, "https://data-api.coindesk.com")
    } else {
        (CryptoCompareApi::Legacy { exchange: a.market.clone() }, "https://min-api.cryptocompare.com")
    };
    let key = api_key(a.api_key_file.as_deref())?;
    let mut client = HttpClient::new(RetryPolicy::default(), Duration::from_secs(30)).with_budget(RateBudget::for_venue(&a.source));
    if let Some(k) = &key {
        client = client.with_header("authorization", &format!("Apikey {k}"));
    }
    let base = a.rest_url.clone().unwrap_or_else(|| default_base.to_string());
    let mut writer = tickflow_connectors::BarWriter::create(&a.out)?;
    let s = fetch_cryptocompare(&mut client, &api, &base, &a.symbol, tf, since, until, |bars| writer.write_all(bars))?;
    println!(
        "fetched {} {} candles of {} from {} into {} ({} pages, {} requests, {} rate-limited, {} inconsistent rejected, {} forming held back, api key {})",
        s.bars,
        a.timeframe,
        a.symbol,
        a.source,
        a.out,
        s.pages,
        client.stats.requests,
        client.stats.rate_limited,
        s.rejected,
        s.forming,
        if key.is_some() { "set" } else { "not set" }
    );
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

/// The CryptoCompare/CoinDesk API key: from `file`, else `$CRYPTOCOMPARE_API_KEY`; blank is none.
/// The key is never printed or logged.
pub fn api_key(file: Option<&str>) -> Result<Option<String>> {
    let key = match file {
        Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("--api-key-file {f}"))?),
        None => std::env::var("CRYPTOCOMPARE_API_KEY").ok(),
    };
    Ok(key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()))
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
    let out = std::io::BufWriter::new(std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out))?);
    let mut writer = TradeCsvWriter::new(&a.out, out)?;
    let n = tickflow_connectors::ccxt_venues::fetch_trades(id, a.rest_url.as_deref(), &a.symbol, since, until, |page| {
        page.iter().try_for_each(|t| writer.write(t))?;
        writer.flush()
    })?;
    println!("fetched {n} trades of {} from ccxt:{id} into {}", a.symbol, a.out);
    Ok(())
}

#[cfg(feature = "ccxt")]
fn ccxt_ohlcv(id: &str, a: &FetchOhlcvArgs) -> Result<()> {
    let tf: tickflow_model::Timeframe = a.timeframe.parse()?;
    let (since, until) = a.span.resolve()?;
    let mut writer = tickflow_connectors::BarWriter::create(&a.out)?;
    let n = tickflow_connectors::ccxt_venues::fetch_ohlcv(id, a.rest_url.as_deref(), &a.symbol, tf, since, until, |bars| writer.write_all(bars))?;
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
    let (since, until) = a.span.resolve()?;
    tickflow_model::Instrument::new(&a.source, &a.symbol)?;
    let ck_path = format!("{}.checkpoint", a.out);
    let resume = Checkpoint::load(&ck_path)?;
    let client = HttpClient::new(RetryPolicy::default(), Duration::from_secs(30)).with_budget(RateBudget::for_venue(&a.source));
    let cursor = resume.as_ref().map(|c| c.cursor.clone());
    let url = |default: &'static str| a.rest_url.clone().unwrap_or_else(|| default.to_string());
    let mut history: Box<dyn TradeHistory> = match a.source.as_str() {
        "kraken" => Box::new(KrakenHistory::new(client, &url("https://api.kraken.com"), &a.symbol, since, until, cursor)),
        "binance" => Box::new(BinanceHistory::new(client, &url("https://api.binance.com"), &a.symbol, since, until, cursor)?),
        "coinbase" => Box::new(CoinbaseHistory::new(client, &url("https://api.exchange.coinbase.com"), &a.symbol, since, until, cursor)?),
        "okx" => Box::new(OkxHistory::new(client, &url("https://www.okx.com"), &a.symbol, since, until, cursor)),
        "coindesk" | "cryptocompare" => {
            let Some(key) = api_key(a.api_key_file.as_deref())? else {
                bail!("--source {}: the CoinDesk Data API needs an API key: --api-key-file FILE or $CRYPTOCOMPARE_API_KEY", a.source);
            };
            let market = a.market.clone().unwrap_or_else(|| "kraken".into());
            let client = client.with_header("authorization", &format!("Apikey {key}"));
            Box::new(CoinDeskHistory::new(client, &url("https://data-api.coindesk.com"), &market, &a.symbol, since, until, cursor)?)
        }
        "bybit" => bail!(
            "--source bybit: Bybit's public REST API serves only the most recent trades (no history); use `tickflow stream --source bybit` or `fetch ohlcv`"
        ),
        other => bail!("--source {other}: REST trade history is available for binance, coinbase, kraken, okx and coindesk"),
    };
    let fresh = resume.is_none();
    let file =
        std::fs::OpenOptions::new().create(true).append(!fresh).write(true).truncate(fresh).open(&a.out).with_context(|| format!("opening {}", a.out))?;
    let out = std::io::BufWriter::new(file);
    // a resumed file already has its header
    let mut writer = if fresh { TradeCsvWriter::new(&a.out, out)? } else { TradeCsvWriter::new_headerless(&a.out, out) };
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
    std::fs::remove_file(&ck_path).ok();
    println!("fetched {} trades of {} from {} into {}", ck.rows, a.symbol, a.source, a.out);
    Ok(())
}
