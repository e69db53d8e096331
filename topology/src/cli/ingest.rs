//! `tickflow ingest`: a venue's live trades into the trades topic, the log of record that
//! processing jobs (`run`, `aggregate --kafka-topic … --group`) read and checkpoint against.
//!
//! On start it reads the last trade of each symbol from the tail of the topic (keys are
//! `exchange:symbol`) and resumes after it: the first connection fills everything since from
//! the venue's REST history before live trades flow, so a restart after downtime the venue's
//! history still covers leaves every venue trade in the topic exactly once, in order. A hole
//! the history cannot cover is logged, counted and recorded on the gaps topic with its bounds
//! (never hidden). A session that cannot continue (gap fill refused, retries exhausted) exits
//! non-zero; SIGTERM/SIGINT flush the producer before exit.
//!
//! With `--feed VENUE:SYMBOLS` (repeatable) one job ingests several venues: each venue's
//! session runs on its own thread ([`tickflow_connectors::live::run_many`]) and hands trades
//! to the producer through a bounded channel; a venue that cannot be reached retries, one whose
//! session gives up is reported and restarted after its last delivered trades, and the others
//! never wait for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tickflow_connectors::history::After;
use tickflow_connectors::kafka::{self, KafkaSink};

use crate::cli::kafka::BrokerArgs;
use crate::cli::stream::{source_help, LiveArgs};

/// Flags of `tickflow ingest`.
#[derive(Args)]
pub struct IngestArgs {
    // the venues come from the registry
    #[arg(long, help = source_help(), required_unless_present = "feeds", conflicts_with = "feeds")]
    source: Option<String>,
    /// Several venues in one job: VENUE:SYMBOL[,SYMBOL…], repeatable (e.g. --feed
    /// binance:BTC/USDT,ETH/USDT --feed okx:BTC/USDT --feed kraken:BTC/USD).
    #[arg(long = "feed", conflicts_with_all = ["symbols", "ws_url", "rest_url"])]
    feeds: Vec<String>,
    /// With --feed: a venue's own URLs, VENUE=WS_URL[,REST_URL] (repeatable; tests, proxies).
    #[arg(long = "feed-url", requires = "feeds")]
    feed_urls: Vec<String>,
    /// With --feed: the longest wait before restarting a venue session that gave up.
    #[arg(long, default_value = "1m")]
    restart_backoff: String,
    #[command(flatten)]
    live: LiveArgs,
    #[command(flatten)]
    brokers: BrokerArgs,
    /// The trades topic [default: `<namespace>.trades`].
    #[arg(long)]
    topic: Option<String>,
    /// Where unfillable holes are recorded [default: `<namespace>.gaps`].
    #[arg(long)]
    gaps_topic: Option<String>,
    /// Where trades refused by the validation rule set go, with the reason [default: `<namespace>.dlq`].
    #[arg(long)]
    dlq_topic: Option<String>,
    /// Refuse trades stamped more than this after their receipt (a venue clock far ahead, a
    /// corrupted frame): dead-lettered, never published.
    #[arg(long, default_value = "5m")]
    max_future: String,
    /// How far back (records per partition) to look for each symbol's last trade on start.
    #[arg(long, default_value_t = 1_000_000)]
    resume_scan: i64,
    /// Do not resume from the topic's tail (start with live trades only).
    #[arg(long)]
    no_resume: bool,
}

/// The sessions to run: `--source` with the live flags, or one per venue of `--feed`.
fn configs(a: &IngestArgs) -> Result<Vec<tickflow_connectors::live::LiveConfig>> {
    if let Some(source) = &a.source {
        return Ok(vec![a.live.config(source)?]);
    }
    // one session per venue and market kind (spot and perpetuals stream from different endpoints)
    type Groups = std::collections::BTreeMap<tickflow_model::MarketKind, Vec<String>>;
    let mut venues: std::collections::BTreeMap<String, Groups> = Default::default();
    for f in &a.feeds {
        let Some((venue, symbols)) = f.split_once(':') else { bail!("--feed {f:?}: use VENUE:SYMBOL[,SYMBOL…], e.g. binance:BTC/USDT") };
        let groups = venues.entry(venue.trim().to_ascii_lowercase()).or_default();
        for s in symbols.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let kind = tickflow_model::MarketKind::of(s).with_context(|| format!("--feed {f:?}"))?;
            let list = groups.entry(kind).or_default();
            if !list.iter().any(|x| x == s) {
                list.push(s.to_string());
            }
        }
    }
    let mut urls: std::collections::BTreeMap<String, (String, Option<String>)> = Default::default();
    for u in &a.feed_urls {
        let Some((venue, rest)) = u.split_once('=') else { bail!("--feed-url {u:?}: use VENUE=WS_URL[,REST_URL]") };
        let (ws, http) = match rest.split_once(',') {
            Some((w, h)) => (w.to_string(), Some(h.to_string())),
            None => (rest.to_string(), None),
        };
        if !venues.contains_key(venue) {
            bail!("--feed-url {venue}: no --feed for that venue");
        }
        urls.insert(venue.to_string(), (ws, http));
    }
    let mut cfgs = Vec::new();
    for (venue, groups) in venues {
        // a group beyond the venue's per-connection cap becomes several sessions
        let live = tickflow_connectors::venues::get(&venue).and_then(|v| v.live());
        let sessions = groups.into_iter().flat_map(|(kind, symbols)| {
            let cap = live.map_or(usize::MAX, |l| l.max_markets(kind)).max(1);
            symbols.chunks(cap).map(<[String]>::to_vec).collect::<Vec<_>>()
        });
        for symbols in sessions {
            let mut s = crate::config::SourceSection::default();
            a.live.apply(&mut s);
            s.symbols = symbols;
            if let Some((ws, http)) = urls.get(&venue) {
                s.ws_url = Some(ws.clone());
                s.rest_url = http.clone();
            }
            cfgs.push(crate::job::live_config(&venue, &s).with_context(|| format!("--feed {venue}"))?);
        }
    }
    Ok(cfgs)
}

/// Runs the command.
pub fn run(a: IngestArgs) -> Result<()> {
    let mut cfgs = configs(&a)?;
    let kcfg = a.brokers.config()?;
    let topics = a.brokers.topics();
    let topic = a.topic.clone().unwrap_or_else(|| topics.name("trades"));
    let gaps_topic = a.gaps_topic.clone().unwrap_or_else(|| topics.name("gaps"));
    let dlq_topic = a.dlq_topic.clone().unwrap_or_else(|| topics.name("dlq"));
    let max_future = crate::duration::parse_nanos(&a.max_future).context("--max-future")?.max(0);
    for cfg in &mut cfgs {
        cfg.max_future = max_future;
        if cfg.symbols.is_empty() {
            bail!("ingest needs --symbols");
        }
    }
    if !a.no_resume {
        let wanted: Vec<tickflow_model::Instrument> = cfgs
            .iter()
            .flat_map(|c| c.symbols.iter().map(|s| tickflow_model::Instrument::new(&c.exchange, s)))
            .collect::<Result<_, _>>()
            .context("--symbols")?;
        let last = kafka::last_trades(&kcfg, &topic, &wanted, a.resume_scan).with_context(|| format!("reading the tail of {topic}"))?;
        for (inst, t) in &last {
            let Some(cfg) = cfgs.iter_mut().find(|c| c.exchange == inst.exchange() && c.symbols.iter().any(|s| s == inst.symbol())) else { continue };
            match t.trade_id {
                Some(id) => {
                    tracing::info!(exchange = inst.exchange(), symbol = inst.symbol(), after_id = id, after = %t.ts, "resuming after the topic's last trade");
                    cfg.resume_after.insert(inst.symbol().to_string(), After { id, ts: t.ts });
                }
                None => tracing::warn!(symbol = inst.symbol(), "the topic's last trade has no id: resuming with live trades only"),
            }
        }
        for i in wanted.iter().filter(|i| !last.contains_key(i)) {
            tracing::info!(exchange = i.exchange(), symbol = i.symbol(), "no trade of this symbol in the topic's tail: starting with live trades");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    crate::shutdown::install();
    let s2 = stop.clone();
    // SIGTERM/SIGINT: the sessions stop within a quarter second; the producer is flushed below
    std::thread::spawn(move || {
        while !crate::shutdown::requested() {
            std::thread::sleep(Duration::from_millis(50));
        }
        s2.store(true, Ordering::SeqCst);
    });
    let publisher = std::cell::RefCell::new(Publisher {
        sink: KafkaSink::new(&kcfg, "tickflow-ingest")?,
        side: KafkaSink::new(&kcfg, "tickflow-ingest")?,
        topic: topic.clone(),
        gaps_topic: gaps_topic.clone(),
        dlq_topic: dlq_topic.clone(),
        n: 0,
        gaps: 0,
        rejected: 0,
        max: a.live.max_trades,
        acked: Instant::now(),
        err: None,
        side_err: None,
    });
    crate::telemetry::global().set_ready(true);
    let live = &crate::telemetry::global().live;
    let outcome: Result<String> = if cfgs.len() == 1 {
        // one venue: a session that gives up ends the job (non-zero; its supervisor restarts it)
        let mut observe = live.observer();
        let result = tickflow_connectors::live::run_observed(
            &cfgs[0],
            &stop,
            |t| publisher.borrow_mut().trade(&t),
            |e| {
                observe(&e);
                publisher.borrow_mut().event(e);
            },
        );
        result.context("live session gave up").map(|stats| {
            format!(
                "{} connections, {} stale, {} gap-filled, {} unfilled gaps, {} duplicates dropped, {} bad frames, {} refused trades",
                stats.connects, stats.stale, stats.gap_filled, stats.gaps_unfilled, stats.duplicates, stats.bad_frames, stats.rejected
            )
        })
    } else {
        // several venues: each on its own session; one that gives up restarts, the others go on
        let restart = crate::duration::parse_nanos(&a.restart_backoff).context("--restart-backoff")?.max(1);
        let mut observers: Vec<_> = cfgs.iter().map(|_| live.observer()).collect();
        let reports = tickflow_connectors::live::run_many(
            cfgs,
            stop.clone(),
            65_536,
            Duration::from_nanos(restart as u64),
            |t| publisher.borrow_mut().trade(&t),
            |i, venue, note| match note {
                tickflow_connectors::live::VenueNote::Event(e) => {
                    observers[i](&e);
                    publisher.borrow_mut().event(e);
                }
                tickflow_connectors::live::VenueNote::Failed(why, retry) => {
                    live.session_restarts.fetch_add(1, Ordering::Relaxed);
                    eprintln!("venue {venue} gave up ({why}); restarting in {retry:?}, the other venues continue");
                }
            },
        );
        Ok(reports
            .iter()
            .map(|r| {
                format!(
                    "{}: {} connections, {} gap-filled, {} unfilled gaps, {} duplicates dropped, {} refused trades, {} restarts{}",
                    r.venue,
                    r.stats.connects,
                    r.stats.gap_filled,
                    r.stats.gaps_unfilled,
                    r.stats.duplicates,
                    r.stats.rejected,
                    r.restarts,
                    r.last_error.as_deref().map(|e| format!(" (last: {e})")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    };
    let mut p = publisher.into_inner();
    // whatever happened, what was sent is flushed before exit
    let flushed = p.sink.flush(Duration::from_secs(30));
    if let Err(e) = p.side.flush(Duration::from_secs(30)) {
        p.side_err.get_or_insert(e.into());
    }
    eprintln!("ingested {} trades into {topic} ({} unfillable gaps recorded on {gaps_topic}, {} refused trades on {dlq_topic})", p.n, p.gaps, p.rejected);
    let summary = outcome?;
    if let Some(e) = p.err.or(p.side_err) {
        return Err(e.context("writing to the trades topic"));
    }
    flushed.context("flushing the trades topic")?;
    eprintln!("{summary}");
    Ok(())
}

/// Where an ingest's sessions deliver: trades to the trades topic (acknowledged at least every
/// second), holes to the gaps topic, refused trades to the dead-letter topic.
struct Publisher {
    sink: KafkaSink,
    side: KafkaSink,
    topic: String,
    gaps_topic: String,
    dlq_topic: String,
    n: u64,
    gaps: u64,
    rejected: u64,
    max: Option<u64>,
    acked: Instant,
    err: Option<anyhow::Error>,
    side_err: Option<anyhow::Error>,
}

impl Publisher {
    /// Publishes a trade; false to stop (an error, or `--max-trades` reached).
    fn trade(&mut self, t: &tickflow_model::Trade) -> bool {
        if let Err(e) = self.sink.send_trade(&self.topic, t) {
            self.err = Some(e.into());
            return false;
        }
        self.n += 1;
        if self.acked.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = self.sink.flush(Duration::from_secs(30)) {
                self.err = Some(e.into());
                return false;
            }
            self.acked = Instant::now();
        }
        self.max.is_none_or(|m| self.n < m)
    }

    /// Records refused trades and unfillable holes.
    fn event(&mut self, e: tickflow_connectors::live::LiveEvent) {
        use tickflow_connectors::live::LiveEvent;
        match e {
            LiveEvent::Rejected(t, why) => {
                // dead-lettered with the reason, never published to the trades topic; not
                // flushed here (a burst of refusals must not stall the session)
                self.rejected += 1;
                let rec = tickflow_model::TradeRecord::from(&*t);
                let origin = format!("live:{}", t.instrument.exchange());
                let payload = serde_json::to_vec(&rec).unwrap_or_default();
                if let Err(e) = self.side.send(
                    &self.dlq_topic,
                    &rec.key(),
                    &payload,
                    tickflow_model::Ts::now().millis(),
                    kafka::DLQ_SCHEMA,
                    &[("reason", why.as_str()), ("origin", &origin)],
                ) {
                    self.side_err = Some(e.into());
                }
            }
            LiveEvent::Gap(g) => {
                self.gaps += 1;
                let key = format!("{}:{}", g.instrument.exchange(), g.instrument.symbol());
                if let Err(e) = self
                    .side
                    .send_json(&self.gaps_topic, &key, &g, g.after_ts.millis(), "tickflow.gap.v1")
                    .and_then(|_| self.side.flush(Duration::from_secs(30)))
                {
                    self.side_err = Some(e.into());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::IngestArgs,
    }

    fn configs(argv: &[&str]) -> anyhow::Result<Vec<tickflow_connectors::live::LiveConfig>> {
        let cli = Cli::try_parse_from(std::iter::once("ingest").chain(argv.iter().copied())).unwrap();
        super::configs(&cli.args)
    }

    /// #15: a venue's symbols become one session per market kind, and a kind with more markets
    /// than the venue's per-connection cap (Binance futures: 200 streams) several sessions of at
    /// most the cap, in the order given; `stream` refuses such a group with the way out.
    #[test]
    fn feeds_split_by_market_kind_and_connection_cap() {
        let perps: Vec<String> = (0..450).map(|i| format!("C{i}/USDT:USDT")).collect();
        let feed = format!("binance:BTC/USDT,{}", perps.join(","));
        let cfgs = configs(&["--feed", &feed, "--feed", "okx:BTC/USDT:USDT,BTC/USD:BTC"]).unwrap();
        let sizes: Vec<(String, usize)> = cfgs.iter().map(|c| (c.venue.clone(), c.symbols.len())).collect();
        let want: Vec<(String, usize)> =
            [("binance", 1), ("binance", 200), ("binance", 200), ("binance", 50), ("okx", 1), ("okx", 1)].iter().map(|(v, n)| (v.to_string(), *n)).collect();
        assert_eq!(sizes, want);
        let streamed: Vec<String> = cfgs[1..4].iter().flat_map(|c| c.symbols.clone()).collect();
        assert_eq!(streamed, perps, "every perpetual once, in order");
        let mut s = crate::config::SourceSection { symbols: perps[..201].to_vec(), ..Default::default() };
        let e = crate::job::live_config("binance", &s).unwrap_err().to_string();
        assert!(e.contains("at most 200") && e.contains("--feed"), "{e}");
        s.symbols.truncate(200);
        assert!(crate::job::live_config("binance", &s).is_ok());
    }
}
