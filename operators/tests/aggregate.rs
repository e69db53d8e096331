//! The aggregate operator inside real timely dataflows: determinism across workers, shuffles,
//! duplicates, late trades and revisions.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use tickflow_model::{Bar, Instrument, LateDisposition, LateTrade, Side, Timeframe, Trade, Ts};
use tickflow_operators::{
    trade_source, AggregateBars, AggregateConfig, BatchFeed, FillPolicy, LatePolicy, OrderedSink, PipelineMetrics, Routing, SourceConfig, TradeFeed, VecFeed,
};

const SEC: i64 = 1_000_000_000;

/// (instrument, open time, open, high, low, close, volume, trades)
type Summary = Vec<(Instrument, i64, String, String, String, String, String, u64)>;
/// Bars and late trades with their emission times.
type Output = (Vec<(u64, Bar)>, Vec<(u64, LateTrade)>);

fn tr(sym: &str, ts_ms: i64, id: u64, px: &str, qty: &str) -> Trade {
    Trade {
        instrument: Instrument::new("test", sym).unwrap(),
        trade_id: Some(id),
        ts: Ts::from_millis(ts_ms),
        ingest_ts: Ts(0),
        price: px.parse().unwrap(),
        amount: qty.parse().unwrap(),
        side: if id.is_multiple_of(3) { Side::Sell } else { Side::Buy },
    }
}

/// Deterministic pseudo-random tape: 2 symbols, bursts, ~4000 trades over ~40 minutes.
fn tape(n: usize) -> Vec<Trade> {
    let mut x: u64 = 42;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ts = 1_700_000_000_000i64;
    let mut out = Vec::new();
    let (mut ida, mut idb) = (1000u64, 5000u64);
    for _ in 0..n {
        ts += (next() % 1200) as i64;
        let r = next();
        let (sym, id) = if r.is_multiple_of(2) {
            ida += 1;
            ("BTC/USDT", ida)
        } else {
            idb += 1;
            ("ETH/USDT", idb)
        };
        let px = format!("{}.{}", 100 + (r >> 8) % 50, (r >> 20) % 100);
        let qty = format!("0.{:04}", 1 + (r >> 32) % 9999);
        out.push(tr(sym, ts, id, &px, &qty));
    }
    out
}

#[derive(Clone)]
struct Run {
    cfg: AggregateConfig,
    ooo_ms: i64,
    routing: Routing,
}

impl Run {
    /// Exchanged by instrument (the default routing).
    fn new(cfg: AggregateConfig, ooo_ms: i64) -> Self {
        Run { cfg, ooo_ms, routing: Routing::ByInstrument }
    }
    fn batched(&self) -> Self {
        let mut r = self.clone();
        r.ooo_ms = -1 - r.ooo_ms; // negative marks: use BatchFeed (decoded in `run`)
        r
    }
}

/// Runs the dataflow with `workers` threads; `partitions` feeds are assigned `p % peers`.
fn run(partitions: Vec<Vec<Trade>>, workers: usize, r: Run) -> Output {
    run_with_budget(partitions, workers, r, SourceConfig::default().activation_budget)
}

/// [`run`] with the source polling each feed for up to `budget` trades per activation.
fn run_with_budget(partitions: Vec<Vec<Trade>>, workers: usize, r: Run, budget: usize) -> Output {
    let bars = Arc::new(Mutex::new(Vec::new()));
    let late = Arc::new(Mutex::new(Vec::new()));
    let (b2, l2) = (bars.clone(), late.clone());
    let parts = Arc::new(partitions);
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let feeds: Vec<Box<dyn TradeFeed>> = parts
            .iter()
            .enumerate()
            .filter(|(p, _)| p % peers == index)
            .map(|(p, v)| {
                if r.ooo_ms < 0 {
                    Box::new(BatchFeed::from_trades(format!("p{p}"), v.clone(), 5)) as Box<dyn TradeFeed>
                } else {
                    Box::new(VecFeed::new(format!("p{p}"), v.clone())) as Box<dyn TradeFeed>
                }
            })
            .collect();
        let (b3, l3) = (b2.clone(), l2.clone());
        let r = r.clone();
        let errors = Rc::new(RefCell::new(Vec::new()));
        worker.dataflow::<u64, _, _>(|scope| {
            let metrics = Arc::new(PipelineMetrics::new());
            let ooo = if r.ooo_ms < 0 { -1 - r.ooo_ms } else { r.ooo_ms };
            let src = SourceConfig { out_of_orderness: ooo * 1_000_000, batch: 7, activation_budget: budget, ..Default::default() };
            let trades = trade_source(scope, "src", feeds, src, metrics.clone(), errors.clone());
            let (bars, late) = trades.aggregate_bars_routed(r.cfg.clone(), metrics, r.routing).unwrap();
            bars.ordered_sink("bars", |b: &Bar| b.sort_key(), move |t, v| b3.lock().unwrap().extend(v.drain(..).map(|b| (t, b))));
            late.ordered_sink(
                "late",
                |l: &LateTrade| (l.trade.instrument, l.trade.ts, l.trade.trade_id),
                move |t, v| l3.lock().unwrap().extend(v.drain(..).map(|l| (t, l))),
            );
        });
        while worker.step_or_park(None) {}
        assert!(errors.borrow().is_empty());
    })
    .unwrap();
    let b = bars.lock().unwrap().clone();
    let l = late.lock().unwrap().clone();
    (b, l)
}

fn cfg(tfs: &str, fill: FillPolicy, late: LatePolicy) -> AggregateConfig {
    let mut c = AggregateConfig::new(tickflow_model::parse_timeframes(tfs).unwrap());
    c.fill = fill;
    c.late = late;
    c.allowed_lateness = 3600 * SEC;
    c
}

/// Reference: direct, obviously-correct aggregation of a set of trades.
fn reference(trades: &[Trade], tf: Timeframe) -> Summary {
    let mut m: std::collections::BTreeMap<(Instrument, i64), Vec<Trade>> = Default::default();
    for t in trades {
        m.entry((t.instrument, tf.open_of(t.ts).0)).or_default().push(*t);
    }
    m.into_iter()
        .map(|((i, o), mut v)| {
            v.sort_by_key(|t| (t.ts, t.trade_id));
            let hi = v.iter().map(|t| t.price).max().unwrap();
            let lo = v.iter().map(|t| t.price).min().unwrap();
            let vol = v.iter().fold(tickflow_model::Decimal::ZERO, |a, t| a + t.amount);
            (i, o, v[0].price.to_string(), hi.to_string(), lo.to_string(), v.last().unwrap().price.to_string(), vol.to_string(), v.len() as u64)
        })
        .collect()
}

fn summarize(bars: &[(u64, Bar)], tf: &str) -> Summary {
    let tf: Timeframe = tf.parse().unwrap();
    let mut v: Vec<_> = bars
        .iter()
        .filter(|(_, b)| b.timeframe == tf)
        .map(|(_, b)| {
            (b.instrument, b.open_time.0, b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string(), b.volume.to_string(), b.trades)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn bars_equal_reference_for_every_timeframe_and_rollup() {
    let t = tape(4000);
    let (bars, late) = run(vec![t.clone()], 1, Run::new(cfg("1m,5m,7m,1h", FillPolicy::None, LatePolicy::Drop), 0));
    assert!(late.is_empty());
    for tf in ["1m", "5m", "7m", "1h"] {
        let want = reference(&t, tf.parse().unwrap());
        assert!(!want.is_empty());
        assert_eq!(summarize(&bars, tf), want, "timeframe {tf}");
    }
    // emitted at window end − 1, in time order
    for w in bars.windows(2) {
        assert!(w[0].0 <= w[1].0);
    }
    for (t, b) in &bars {
        assert_eq!(*t as i64, b.close_time().0 - 1);
    }
}

#[test]
fn identical_output_for_1_2_and_4_workers_and_partitions() {
    let t = tape(3000);
    // two partitions: split by symbol, so each partition is in order
    let (a, b): (Vec<Trade>, Vec<Trade>) = t.iter().partition(|x| x.instrument.symbol() == "BTC/USDT");
    let r = Run::new(cfg("1m,5m", FillPolicy::Carry, LatePolicy::Revise), 0);
    let one = run(vec![a.clone(), b.clone()], 1, r.clone());
    assert!(!one.0.is_empty());
    for w in [2, 4] {
        assert_eq!(run(vec![a.clone(), b.clone()], w, r.clone()), one, "{w} workers");
    }
    // each partition holds one instrument: aggregating where it is read gives the same output
    let local = Run { routing: Routing::Local, ..r.clone() };
    for w in [1, 2, 4] {
        assert_eq!(run(vec![a.clone(), b.clone()], w, local.clone()), one, "local routing, {w} workers");
        assert_eq!(run(vec![a.clone(), b.clone()], w, local.batched()), one, "local routing, batches, {w} workers");
    }
}

#[test]
fn shuffling_within_out_of_orderness_and_duplicating_change_no_bar() {
    let t = tape(3000);
    let r = Run::new(cfg("1m,5m", FillPolicy::Carry, LatePolicy::Revise), 10_000);
    let base = run(vec![t.clone()], 1, r.clone());
    assert!(base.1.is_empty());
    // shuffle: swap neighbours whose event times differ by < 10 s, several passes
    let mut s = t.clone();
    let mut x: u64 = 7;
    for _ in 0..5 {
        for i in 1..s.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(2) && (s[i].ts.0 - s[i - 1].ts.0).abs() < 5 * SEC {
                s.swap(i, i - 1);
            }
        }
    }
    assert_ne!(s, t);
    // verify the shuffle really stays within the allowed disorder
    let mut max = i64::MIN;
    for x in &s {
        assert!(x.ts.0 >= max.saturating_sub(10 * SEC));
        max = max.max(x.ts.0);
    }
    let shuffled = run(vec![s.clone()], 2, r.clone());
    assert_eq!(shuffled.0.iter().map(|x| x.1).collect::<Vec<_>>(), base.0.iter().map(|x| x.1).collect::<Vec<_>>());
    // duplicates (re-sent shortly after, as a reconnecting client would)
    let mut d = Vec::new();
    for (i, x) in s.iter().enumerate() {
        d.push(*x);
        if i.is_multiple_of(3) {
            d.push(*x);
        }
    }
    let dup = run(vec![d], 1, r);
    assert_eq!(dup.0.iter().map(|x| x.1).collect::<Vec<_>>(), base.0.iter().map(|x| x.1).collect::<Vec<_>>());
}

#[test]
fn a_late_trade_revises_exactly_one_bar() {
    let mut t = vec![
        tr("BTC/USDT", 0, 1, "100", "1"),
        tr("BTC/USDT", 30_000, 2, "101", "1"),
        tr("BTC/USDT", 61_000, 3, "102", "1"),
        tr("BTC/USDT", 125_000, 4, "103", "1"),
    ];
    // late: belongs to minute 0, arrives after the watermark reached 125 s
    t.push(tr("BTC/USDT", 45_000, 5, "99", "2"));
    t.push(tr("BTC/USDT", 190_000, 6, "104", "1"));
    let (bars, late) = run(vec![t.clone()], 1, Run::new(cfg("1m", FillPolicy::None, LatePolicy::Revise), 0));
    let revs: Vec<&Bar> = bars.iter().map(|(_, b)| b).filter(|b| b.revision > 0).collect();
    assert_eq!(revs.len(), 1, "{bars:#?}");
    let r = revs[0];
    assert_eq!(r.open_time, Ts(0));
    assert_eq!(r.revision, 1);
    assert_eq!((r.open.to_string(), r.high.to_string(), r.low.to_string(), r.close.to_string()), ("100".into(), "101".into(), "99".into(), "99".into()));
    assert_eq!(r.volume.to_string(), "4");
    assert_eq!(r.trades, 3);
    // the original emission is unchanged
    let orig = bars.iter().find(|(_, b)| b.open_time == Ts(0) && b.revision == 0).unwrap().1;
    assert_eq!((orig.close.to_string(), orig.trades), ("101".into(), 2));
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].1.disposition, LateDisposition::Revised);
    assert_eq!(late[0].1.watermark, Ts::from_millis(125_000));
    // policy drop: no revision, same late record
    let (bars, late) = run(vec![t], 1, Run::new(cfg("1m", FillPolicy::None, LatePolicy::Drop), 0));
    assert!(bars.iter().all(|(_, b)| b.revision == 0));
    assert_eq!(late[0].1.disposition, LateDisposition::Dropped);
}

#[test]
fn too_late_trades_and_carry_revisions() {
    let mut c = cfg("1m", FillPolicy::Carry, LatePolicy::Revise);
    c.allowed_lateness = 200 * SEC;
    let t = vec![
        tr("BTC/USDT", 0, 1, "100", "1"),
        tr("BTC/USDT", 200_000, 2, "101", "1"),
        // watermark 250 s: minute 3 closes, minutes 1 and 2 are emitted carried at 100
        tr("BTC/USDT", 250_000, 3, "101.5", "1"),
        // minute 1 becomes real; carried minute 2 follows the new close
        tr("BTC/USDT", 70_000, 4, "95", "1"),
        // more than 200 s below the watermark: too late
        tr("BTC/USDT", 10_000, 5, "1", "1"),
        tr("BTC/USDT", 400_000, 6, "102", "1"),
    ];
    let (bars, late) = run(vec![t], 1, Run::new(c, 0));
    let get = |o: i64, rev: u32| bars.iter().map(|x| x.1).find(|b| b.open_time == Ts::from_millis(o) && b.revision == rev);
    let m1 = get(60_000, 0).unwrap();
    assert_eq!((m1.trades, m1.close.to_string()), (0, "100".to_string()));
    let m1 = get(60_000, 1).unwrap();
    assert_eq!((m1.trades, m1.close.to_string(), m1.low.to_string()), (1, "95".to_string(), "95".to_string()));
    let m2 = get(120_000, 1).unwrap();
    assert_eq!((m2.trades, m2.close.to_string()), (0, "95".to_string()));
    assert!(get(120_000, 2).is_none());
    // a real bar sits between: later carried bars follow it, unrevised
    assert_eq!(get(300_000, 0).unwrap().close.to_string(), "101.5");
    assert!(get(300_000, 1).is_none());
    assert!(get(0, 1).is_none(), "too-late trade must not revise");
    assert_eq!(bars.iter().filter(|x| x.1.revision > 0).count(), 2);
    let d: Vec<_> = late.iter().map(|l| l.1.disposition).collect();
    assert_eq!(d, vec![LateDisposition::TooLate, LateDisposition::Revised]); // sorted by event time
}

/// A tape with late trades (beyond 2 s of disorder) and duplicates.
fn late_and_duplicated_tape() -> Vec<Trade> {
    let mut t = tape(3000);
    for i in (50..t.len()).step_by(97) {
        let mut late = t[i - 40];
        late.trade_id = late.trade_id.map(|x| x + 1_000_000);
        t.insert(i, late);
    }
    for i in (10..t.len()).step_by(53) {
        let d = t[i - 3];
        t.insert(i, d);
    }
    t
}

#[test]
fn batch_feed_fast_path_equals_per_trade_path() {
    // a tape with late trades and duplicates, cut into small single-instrument batches
    let t = late_and_duplicated_tape();
    let r = Run::new(cfg("1m,5m", FillPolicy::Carry, LatePolicy::Revise), 2_000);
    let per_trade = run(vec![t.clone()], 1, r.clone());
    assert!(!per_trade.1.is_empty(), "the tape has late trades");
    assert_eq!(run(vec![t.clone()], 1, r.batched()), per_trade);
    assert_eq!(run(vec![t], 2, r.batched()), per_trade);
}

#[test]
fn the_activation_budget_changes_no_bar_late_trade_or_timestamp() {
    // one poll per activation (the smallest steps) up to many polls per activation: bars, late
    // trades and the timely times they travel at are the same, for both feed paths
    let t = late_and_duplicated_tape();
    let r = Run::new(cfg("1m,5m", FillPolicy::Carry, LatePolicy::Revise), 2_000);
    let reference = run_with_budget(vec![t.clone()], 1, r.clone(), 1);
    assert!(!reference.1.is_empty() && reference.0.iter().any(|(_, b)| b.revision > 0), "the tape revises bars");
    for budget in [7, 100, 65_536] {
        assert_eq!(run_with_budget(vec![t.clone()], 1, r.clone(), budget), reference, "budget {budget}");
        assert_eq!(run_with_budget(vec![t.clone()], 2, r.batched(), budget), reference, "batched, budget {budget}");
    }
}

#[test]
fn sums_near_the_decimal_range_saturate_instead_of_wrapping() {
    // mantissas of 1e38 (max ~1.7e38): two of them overflow the run sums, which must fall back
    // to saturating arithmetic rather than wrap around
    let huge = "100000000000000000000000000000"; // 1e29 units
    let t = vec![
        tr("BTC/USDT", 1_000, 1, "1", huge),
        tr("BTC/USDT", 2_000, 2, "1", huge),
        tr("BTC/USDT", 3_000, 3, "1", huge),
        tr("BTC/USDT", 4_000, 4, "1", "1"),
        tr("BTC/USDT", 70_000, 5, "1", "1"),
    ];
    let (bars, _) = run(vec![t], 1, Run::new(cfg("1m", FillPolicy::None, LatePolicy::Drop), 0));
    let b = bars.iter().find(|(_, b)| b.open_time == Ts(0)).unwrap().1;
    assert_eq!(b.trades, 4);
    assert_eq!(b.volume.mantissa(), i128::MAX, "saturated, not wrapped");
    assert!(b.quote_volume.mantissa() > 0);
    // and a normal window right after is unaffected
    let b2 = bars.iter().find(|(_, b)| b.open_time == Ts::from_millis(60_000)).unwrap().1;
    assert_eq!(b2.volume.to_string(), "1");
}

/// A live feed: recent trades once, then idle until a bar shows up (or it gives up).
struct IdleLiveFeed {
    sent: bool,
    bar_seen: Arc<std::sync::atomic::AtomicBool>,
    gave_up: Arc<std::sync::atomic::AtomicBool>,
    started: std::time::Instant,
}

impl TradeFeed for IdleLiveFeed {
    fn poll(&mut self, out: &mut tickflow_model::TradeRows, _max: usize) -> Result<tickflow_operators::FeedStatus, tickflow_operators::OperatorError> {
        use std::sync::atomic::Ordering;
        use tickflow_operators::FeedStatus;
        if !self.sent {
            self.sent = true;
            // two trades in a recent minute window: only the wall clock can close it
            let now = Ts::now().0;
            let minute = 60_000_000_000;
            let open = now - now.rem_euclid(minute) - 2 * minute; // ends ≥ 60 s before now
            for (i, off) in [1_000_000_000i64, 2_000_000_000].iter().enumerate() {
                let mut t = tr("BTC/USDT", 0, i as u64 + 1, "100", "1");
                t.ts = Ts(open + off);
                out.push(&t);
            }
            return Ok(FeedStatus::Ready);
        }
        if self.bar_seen.load(Ordering::SeqCst) {
            return Ok(FeedStatus::Done);
        }
        if self.started.elapsed() > std::time::Duration::from_secs(10) {
            self.gave_up.store(true, Ordering::SeqCst);
            return Ok(FeedStatus::Done);
        }
        Ok(FeedStatus::Idle)
    }
    fn is_live(&self) -> bool {
        true
    }
    fn name(&self) -> String {
        "live".into()
    }
}

#[test]
fn live_sources_close_bars_on_an_idle_timeout() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let bar_seen = Arc::new(AtomicBool::new(false));
    let gave_up = Arc::new(AtomicBool::new(false));
    let (b2, g2) = (bar_seen.clone(), gave_up.clone());
    timely::execute(timely::Config::thread(), move |worker| {
        let feed: Box<dyn TradeFeed> = Box::new(IdleLiveFeed { sent: false, bar_seen: b2.clone(), gave_up: g2.clone(), started: std::time::Instant::now() });
        let seen = b2.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let metrics = Arc::new(PipelineMetrics::new());
            let src = SourceConfig { out_of_orderness: 1_000_000_000, idle_timeout: Some(std::time::Duration::from_millis(20)), ..Default::default() };
            let trades = trade_source(scope, "live", vec![feed], src, metrics.clone(), Rc::new(RefCell::new(Vec::new())));
            let (bars, _) = trades.aggregate_bars(cfg("1m", FillPolicy::None, LatePolicy::Drop), metrics).unwrap();
            bars.ordered_sink(
                "bars",
                |b: &Bar| b.sort_key(),
                move |_t, v| {
                    if v.iter().any(|b| b.trades == 2) {
                        seen.store(true, Ordering::SeqCst);
                    }
                },
            );
        });
        while worker.step_or_park(Some(std::time::Duration::from_millis(5))) {}
    })
    .unwrap();
    assert!(bar_seen.load(Ordering::SeqCst), "the bar was emitted");
    assert!(!gave_up.load(Ordering::SeqCst), "it was emitted while the feed was live and idle, not at end of input");
}

#[test]
fn a_late_arrival_into_a_still_open_bar_does_not_leak_window_ends_into_later_batches() {
    // B's first trade arrives after A moved the watermark past it (out-of-orderness 0), but its
    // 1m bar is still open: it is folded in as on time. Later batches of A carry newer stamps;
    // the window end opened by B must not be reused with their capabilities (it used to panic:
    // "Attempted to delay to a time ... not greater or equal to ... the capability's stamp").
    let mut t: Vec<Trade> = (0..=15).map(|i| tr("A/USD", i * 10_000, i as u64 + 1, "100", "1")).collect();
    t.push(tr("B/USD", 149_500, 1, "50", "2"));
    t.extend((0..=20).map(|i| tr("A/USD", 200_000 + i * 10_000, 100 + i as u64, "101", "1")));
    for r in [Run::new(cfg("1m", FillPolicy::None, LatePolicy::Drop), 0), Run::new(cfg("1m", FillPolicy::None, LatePolicy::Revise), 0)] {
        let (bars, _) = run(vec![t.clone()], 1, r.clone());
        let b: Vec<&Bar> = bars.iter().map(|(_, b)| b).filter(|b| b.instrument.symbol() == "B/USD").collect();
        assert_eq!(b.len(), 1, "B's trade is in its (still open) bar");
        assert_eq!((b[0].open_time.0, b[0].trades), (120_000_000_000, 1));
        assert_eq!(run(vec![t.clone()], 1, r.batched()).0, bars);
    }
}

/// Gives its trades on the first poll, then reports `Ready` with nothing until a downstream
/// operator on the same worker has seen them: a feed that needs the worker to step.
struct NeedsAStep {
    trades: Option<Vec<Trade>>,
    seen: Rc<std::cell::Cell<usize>>,
    empty_polls_in_a_row: usize,
}

impl TradeFeed for NeedsAStep {
    fn poll(&mut self, out: &mut tickflow_model::TradeRows, _max: usize) -> Result<tickflow_operators::FeedStatus, tickflow_operators::OperatorError> {
        use tickflow_operators::FeedStatus;
        if let Some(t) = self.trades.take() {
            t.iter().for_each(|t| out.push(t));
            self.empty_polls_in_a_row = 0;
            return Ok(FeedStatus::Ready);
        }
        if self.seen.get() > 0 {
            return Ok(FeedStatus::Done);
        }
        self.empty_polls_in_a_row += 1;
        if self.empty_polls_in_a_row > 1000 {
            // the source kept polling without letting the worker step
            return Err(tickflow_operators::OperatorError::feed(
                self.name(),
                None,
                tickflow_operators::FeedFault::Transient("polled 1000 times in a row without a step".into()),
            ));
        }
        Ok(FeedStatus::Ready)
    }
    fn name(&self) -> String {
        "needs-a-step".into()
    }
}

#[test]
fn a_feed_that_gives_nothing_ends_its_turn_so_the_worker_can_step() {
    let trades: Vec<Trade> = (0..10).map(|i| tr("BTC/USDT", i * 1_000, 1 + i as u64, "100", "1")).collect();
    let errors_seen = Arc::new(Mutex::new(Vec::new()));
    let errs = errors_seen.clone();
    timely::execute(timely::Config::thread(), move |worker| {
        let seen = Rc::new(std::cell::Cell::new(0usize));
        let feed = NeedsAStep { trades: Some(trades.clone()), seen: seen.clone(), empty_polls_in_a_row: 0 };
        let errors = Rc::new(RefCell::new(Vec::new()));
        worker.dataflow::<u64, _, _>(|scope| {
            use timely::dataflow::operators::Inspect;
            let s = seen.clone();
            trade_source(scope, "src", vec![Box::new(feed)], SourceConfig::default(), Arc::new(PipelineMetrics::new()), errors.clone())
                .inspect(move |b| s.set(s.get() + b.len()));
        });
        while worker.step_or_park(None) {}
        errs.lock().unwrap().extend(errors.borrow().iter().map(|e| e.to_string()));
        assert_eq!(seen.get(), 10);
    })
    .unwrap();
    assert!(errors_seen.lock().unwrap().is_empty(), "{:?}", errors_seen.lock().unwrap());
}
