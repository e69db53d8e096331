//! Information-driven bars (pure core): tick, volume, value ("dollar"), imbalance and run bars
//! and Renko bricks, from one instrument's trades in event-time order; and Heikin-Ashi bars from
//! time bars.
//!
//! Trades must arrive in [`Trade::order_key`] order (the timely shell,
//! [`crate::info_bars::InfoBars`], releases them so once the watermark passes them): every bar
//! is then a function of the trade sequence alone, whatever the worker count or replay speed.
//!
//! # Boundary rules
//! - **tick:N** — a bar closes on its N-th trade.
//! - **volume:V**, **value:Q** — as Nautilus's volume and value aggregators, a trade that
//!   crosses the threshold is **split**: the part that fills the bar to exactly `V` (value bars:
//!   `Q ÷ price`, truncated to 9 decimals) closes it, the rest opens the next bar; a trade
//!   spanning several thresholds emits several bars (each exactly `V`, never a zero-volume
//!   bar), all opened and closed by that trade. A trade exactly at the threshold closes the bar
//!   and leaves nothing over. Split pieces count as one trade in each bar they land in. A
//!   trade worth more than [`MAX_BARS_PER_TRADE`] bars (a size far too small for the market)
//!   closes that many, the last holding the rest of it, so one trade's output stays bounded.
//! - **imbalance (tib/vib/dib:T0[:SPAN])** — López de Prado's imbalance bars: each trade is
//!   signed by its taker side (`b = +1` buy, `−1` sell; the venue's flag rather than the tick
//!   rule) and weighted `v` = 1, its amount or its quote value; the bar closes on the trade at
//!   which `|Σ b·v| ≥ E[T] · |E[b·v]|`. `E[T]` starts at T0 and is an EWMA (span SPAN bars,
//!   α = 2 ÷ (SPAN + 1)) of the closed bars' trade counts; `E[b·v]` is an EWMA over every trade
//!   so far, this one included, with a span of SPAN · T0 trades (as mlfinlab's
//!   `expected_imbalance_window`, a per-trade span of a few trades lets the threshold collapse
//!   to bars of one trade).
//! - **run (trb/vrb/drb:T0[:SPAN])** — run bars: the bar closes when `max(Σ_buys v, Σ_sells v)
//!   ≥ E[T] · max(P[b=+1]·E[v | buy], (1 − P[b=+1])·E[v | sell])`, each expectation an EWMA over
//!   the trades so far (span SPAN · T0; the side's own trades for `E[v | side]`).
//! - **renko:B** — bricks on a grid anchored at the first trade's price: when a trade's price is
//!   `k ≥ 1` bricks above (below) the last brick's close, `k` bricks are emitted, each `B` tall
//!   (open and close on the grid, high/low their range); the first carries the trades since the
//!   previous brick (their volume, count and ids), the others of the same jump no trades. One
//!   brick in either direction forms a brick (no two-brick reversal rule). A jump of more than
//!   [`MAX_BRICKS_PER_TRADE`] bricks (a brick far too small for the market) emits that many,
//!   the last spanning the rest of the jump, so one trade's output stays bounded.
//!
//! Imbalance and run bars compare `f64` expectations (in a fixed order, so deterministically);
//! every bar's prices and volumes are exact. A partial bar at the end of the input is not
//! emitted (it has not closed); it is [`InfoBarBuilder::open_trades`] trades long.
//!
//! # Example
//!
//! ```
//! use tickflow_model::{BarKind, Instrument, Side, Trade, Ts};
//! use tickflow_operators::bars::InfoBarBuilder;
//!
//! let btc = Instrument::new("x", "BTC/USDT").unwrap();
//! let trade = |id: u64, price: &str, amount: &str| Trade {
//!     instrument: btc, trade_id: Some(id), ts: Ts::from_millis(id as i64), ingest_ts: Ts(0),
//!     price: price.parse().unwrap(), amount: amount.parse().unwrap(), side: Side::Buy,
//! };
//! let mut b = InfoBarBuilder::new(btc, "volume:2".parse().unwrap());
//! let mut out = Vec::new();
//! for t in [trade(1, "100", "1.5"), trade(2, "101", "5"), trade(3, "99", "0.5")] {
//!     b.push(&t, &mut out);
//! }
//! // 1.5 + 0.5 of trade 2 close bar 1; 2 and 2 more of trade 2 are bars 2 and 3; its last 0.5
//! // and trade 3 wait in the open bar
//! let v: Vec<String> = out.iter().map(|b| format!("{} {}..{} V={}", b.kind, b.open, b.close, b.volume)).collect();
//! assert_eq!(v, ["volume:2 100..101 V=2", "volume:2 101..101 V=2", "volume:2 101..101 V=2"]);
//! assert_eq!(b.open_trades(), 2);
//! ```

use tickflow_model::{Bar, BarKind, Decimal, Instrument, Measure, Notional, Side, Timeframe, Trade, NANOS_PER_SEC};

use super::accum::BarAccum;

/// The longest span an information-driven bar's `timeframe` states (Timeframe's own limit).
const MAX_SPAN_SECS: i64 = 366 * 86_400 * 10;

/// Renko: the most bricks one trade emits (see the module's boundary rules).
pub const MAX_BRICKS_PER_TRADE: u128 = 1_000;

/// Volume and value bars: the most bars one trade closes (see the module's boundary rules).
pub const MAX_BARS_PER_TRADE: usize = 1_000;

/// Expectations of imbalance and run bars (EWMAs).
#[derive(Clone, Debug, Default)]
struct Expect {
    /// EWMA factor of the bar lengths (span SPAN bars).
    alpha_bars: f64,
    /// EWMA factor of the per-trade statistics (span SPAN · T0 trades).
    alpha: f64,
    bar_len: f64,
    signed: Option<f64>,
    p_buy: Option<f64>,
    v_buy: Option<f64>,
    v_sell: Option<f64>,
    theta: f64,
    buys: f64,
    sells: f64,
}

fn ewma(prev: Option<f64>, x: f64, alpha: f64) -> f64 {
    prev.map_or(x, |p| alpha * x + (1.0 - alpha) * p)
}

/// Builds one instrument's information-driven bars of one [`BarKind`].
#[derive(Clone, Debug)]
pub struct InfoBarBuilder {
    instrument: Instrument,
    kind: BarKind,
    /// The bar being filled.
    open: Option<BarAccum>,
    expect: Expect,
    /// Renko: the last brick's close (the first trade's price before any brick).
    anchor: Option<Decimal>,
    /// Bars emitted so far (the next bar's `seq`).
    seq: u64,
}

impl InfoBarBuilder {
    /// A builder of `kind` bars (not `Time` or `HeikinAshi`, which come from time bars) for
    /// `instrument`.
    pub fn new(instrument: Instrument, kind: BarKind) -> Self {
        let mut expect = Expect::default();
        if let BarKind::Imbalance(_, e) | BarKind::Run(_, e) = kind {
            expect.alpha_bars = 2.0 / (e.span as f64 + 1.0);
            expect.alpha = 2.0 / (e.span as f64 * e.expected_ticks as f64 + 1.0);
            expect.bar_len = e.expected_ticks as f64;
        }
        InfoBarBuilder { instrument, kind, open: None, expect, anchor: None, seq: 0 }
    }

    /// Trades in the bar not yet closed.
    pub fn open_trades(&self) -> u64 {
        self.open.as_ref().map_or(0, BarAccum::trades)
    }

    /// The kind built.
    pub fn kind(&self) -> BarKind {
        self.kind
    }

    /// Folds the next trade (in order), appending the bars it closes to `out`.
    pub fn push(&mut self, t: &Trade, out: &mut Vec<Bar>) {
        match self.kind {
            BarKind::Tick(n) => {
                self.add(t, t.amount);
                if self.open_trades() >= n {
                    self.close(out);
                }
            }
            BarKind::Volume(step) => self.push_volume(t, step, out),
            BarKind::Value(step) => self.push_value(t, Notional::from_mantissa(step.mantissa().saturating_mul(tickflow_model::ONE)), out),
            BarKind::Imbalance(m, _) => self.push_imbalance(t, m, false, out),
            BarKind::Run(m, _) => self.push_imbalance(t, m, true, out),
            BarKind::Renko(brick) => self.push_renko(t, brick, out),
            // not built from trades (see `HeikinAshiBuilder`)
            BarKind::Time | BarKind::HeikinAshi => {}
        }
    }

    fn add(&mut self, t: &Trade, amount: Decimal) {
        let k = t.order_key();
        match &mut self.open {
            Some(o) => o.add_parts(k, t.price, amount, t.side),
            None => self.open = Some(BarAccum::from_parts(k, t.price, amount, t.side)),
        }
    }

    fn close(&mut self, out: &mut Vec<Bar>) {
        if let Some(o) = self.open.take() {
            let b = self.bar(&o);
            out.push(b);
        }
    }

    /// The next bar of the series from `o` (numbered).
    fn bar(&mut self, o: &BarAccum) -> Bar {
        // the whole seconds from the first trade that cover the last one
        let secs = ((o.last_ts().0 - o.first_ts().0).max(0) / NANOS_PER_SEC + 1).min(MAX_SPAN_SECS);
        let tf = Timeframe::from_secs(secs).unwrap_or_else(|_| Timeframe::from_secs(1).expect("1s is a timeframe"));
        let mut b = o.to_bar(self.instrument, tf, o.first_ts());
        b.kind = self.kind;
        b.seq = self.next_seq();
        b
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq - 1
    }

    fn push_volume(&mut self, t: &Trade, step: Decimal, out: &mut Vec<Bar>) {
        let mut left = t.amount;
        for n in 1.. {
            let have = self.open.as_ref().map_or(Decimal::ZERO, BarAccum::volume);
            // bounded output: the last bar one trade may close takes the rest of it
            let room = if n >= MAX_BARS_PER_TRADE { left } else { step.saturating_sub(have) };
            if left < room {
                if left.mantissa() > 0 {
                    self.add(t, left);
                }
                return;
            }
            self.add(t, room);
            self.close(out);
            left = left.saturating_sub(room);
            if left.mantissa() == 0 {
                return;
            }
        }
    }

    fn push_value(&mut self, t: &Trade, step: Notional, out: &mut Vec<Bar>) {
        let mut left = t.amount;
        for n in 1.. {
            if n >= MAX_BARS_PER_TRADE {
                // bounded output: the last bar one trade may close takes the rest of it
                self.add(t, left);
                self.close(out);
                return;
            }
            let have = self.open.as_ref().map_or(Notional::ZERO, BarAccum::quote_volume);
            let room = Notional::from_mantissa(step.mantissa().saturating_sub(have.mantissa()));
            let value = t.price.mul_notional(left);
            if value.mantissa() < room.mantissa() {
                if left.mantissa() > 0 {
                    self.add(t, left);
                }
                return;
            }
            // the amount that fills the bar (truncated); the whole rest when that rounds to
            // nothing (a threshold below one lot's value), so the trade still moves on
            let part = room.div_to_decimal(t.price).filter(|p| p.mantissa() > 0 && *p <= left).unwrap_or(left);
            self.add(t, part);
            self.close(out);
            left = left.saturating_sub(part);
            if left.mantissa() == 0 {
                return;
            }
        }
    }

    /// Imbalance (`run` false) and run bars; the expectations' parameters are in `self.expect`.
    fn push_imbalance(&mut self, t: &Trade, m: Measure, run: bool, out: &mut Vec<Bar>) {
        self.add(t, t.amount);
        let b = if t.side == Side::Buy { 1.0 } else { -1.0 };
        let v = match m {
            Measure::Tick => 1.0,
            Measure::Volume => t.amount.to_f64(),
            Measure::Value => t.price.mul_notional(t.amount).to_f64(),
        };
        let x = &mut self.expect;
        let threshold = if run {
            x.p_buy = Some(ewma(x.p_buy, if b > 0.0 { 1.0 } else { 0.0 }, x.alpha));
            if b > 0.0 {
                x.v_buy = Some(ewma(x.v_buy, v, x.alpha));
                x.buys += v;
            } else {
                x.v_sell = Some(ewma(x.v_sell, v, x.alpha));
                x.sells += v;
            }
            let p = x.p_buy.unwrap_or(0.5);
            x.bar_len * (p * x.v_buy.unwrap_or(0.0)).max((1.0 - p) * x.v_sell.unwrap_or(0.0))
        } else {
            x.signed = Some(ewma(x.signed, b * v, x.alpha));
            x.theta += b * v;
            x.bar_len * x.signed.unwrap_or(0.0).abs()
        };
        let theta = if run { x.buys.max(x.sells) } else { x.theta.abs() };
        if theta >= threshold {
            let len = self.open_trades() as f64;
            let x = &mut self.expect;
            x.bar_len = (x.alpha_bars * len + (1.0 - x.alpha_bars) * x.bar_len).max(1.0);
            x.theta = 0.0;
            x.buys = 0.0;
            x.sells = 0.0;
            self.close(out);
        }
    }

    fn push_renko(&mut self, t: &Trade, brick: Decimal, out: &mut Vec<Bar>) {
        let Some(anchor) = self.anchor else {
            self.anchor = Some(t.price);
            self.add(t, t.amount);
            return;
        };
        self.add(t, t.amount);
        let moved = t.price.saturating_sub(anchor);
        let k = moved.mantissa() / brick.mantissa().max(1);
        if k == 0 {
            return;
        }
        let step = if k > 0 { brick } else { Decimal::from_mantissa(-brick.mantissa()) };
        let mut open = anchor;
        // memory stays bounded: a jump of more than MAX_BRICKS_PER_TRADE bricks (a brick far too
        // small for the market) ends in one bar spanning the rest of the jump
        let n = k.unsigned_abs().min(MAX_BRICKS_PER_TRADE);
        for i in 0..n {
            let close = if i + 1 == n { anchor.saturating_add(Decimal::from_mantissa(k.saturating_mul(brick.mantissa()))) } else { open.saturating_add(step) };
            let mut b = match (i, self.open.take()) {
                (0, Some(o)) => self.bar(&o),
                _ => {
                    let mut b = Bar::carried(self.instrument, Timeframe::from_secs(1).expect("1s is a timeframe"), t.ts, close);
                    b.kind = self.kind;
                    b.seq = self.next_seq();
                    b
                }
            };
            b.open = open;
            b.close = close;
            b.high = open.max(close);
            b.low = open.min(close);
            out.push(b);
            open = close;
        }
        self.anchor = Some(open);
    }
}

/// Heikin-Ashi bars of one instrument's time bars of one timeframe, in open-time order
/// (first emissions): `close = (O + H + L + C) ÷ 4`, `open = (previous HA open + previous HA
/// close) ÷ 2` (the first: `(O + C) ÷ 2`), `high = max(H, open, close)`, `low = min(L, open,
/// close)`, exact decimals truncated to 9 places; volumes, counts and ids as the bar's. Kind
/// [`BarKind::HeikinAshi`], same key otherwise.
#[derive(Clone, Debug, Default)]
pub struct HeikinAshiBuilder {
    prev: Option<(Decimal, Decimal)>,
}

impl HeikinAshiBuilder {
    /// The Heikin-Ashi bar of the next time bar.
    pub fn next(&mut self, b: &Bar) -> Bar {
        let q = |m: i128, d: i128| Decimal::from_mantissa(m / d);
        let close = q(b.open.mantissa().saturating_add(b.high.mantissa()).saturating_add(b.low.mantissa()).saturating_add(b.close.mantissa()), 4);
        let open = match self.prev {
            Some((po, pc)) => q(po.mantissa().saturating_add(pc.mantissa()), 2),
            None => q(b.open.mantissa().saturating_add(b.close.mantissa()), 2),
        };
        self.prev = Some((open, close));
        Bar { kind: BarKind::HeikinAshi, open, close, high: b.high.max(open).max(close), low: b.low.min(open).min(close), ..*b }
    }
}

#[cfg(test)]
mod tests {
    use tickflow_model::Ts;

    use super::*;

    fn inst() -> Instrument {
        Instrument::new("x", "BTC/USDT").unwrap()
    }

    fn tape(rows: &[(i64, &str, &str, Side)]) -> Vec<Trade> {
        rows.iter()
            .enumerate()
            .map(|(i, (ms, p, a, s))| Trade {
                instrument: inst(),
                trade_id: Some(i as u64 + 1),
                ts: Ts::from_millis(*ms),
                ingest_ts: Ts(0),
                price: p.parse().unwrap(),
                amount: a.parse().unwrap(),
                side: *s,
            })
            .collect()
    }

    fn run(kind: &str, trades: &[Trade]) -> (Vec<Bar>, u64) {
        let mut b = InfoBarBuilder::new(inst(), kind.parse().unwrap());
        let mut out = Vec::new();
        for t in trades {
            b.push(t, &mut out);
        }
        (out, b.open_trades())
    }

    fn show(bars: &[Bar]) -> Vec<String> {
        bars.iter()
            .map(|b| {
                format!(
                    "{} O={} H={} L={} C={} V={} n={} ids={:?}..{:?}",
                    b.open_time.0 / 1_000_000,
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    b.trades,
                    b.first_trade_id,
                    b.last_trade_id
                )
            })
            .collect()
    }

    const B: Side = Side::Buy;
    const S: Side = Side::Sell;

    #[test]
    fn tick_bars_close_on_the_nth_trade() {
        let t = tape(&[(1, "10", "1", B), (2, "12", "1", S), (3, "11", "2", B), (4, "9", "1", S), (5, "10", "1", B)]);
        let (bars, open) = run("tick:2", &t);
        assert_eq!(show(&bars), ["1 O=10 H=12 L=10 C=12 V=2 n=2 ids=Some(1)..Some(2)", "3 O=11 H=11 L=9 C=9 V=3 n=2 ids=Some(3)..Some(4)"]);
        assert_eq!(open, 1);
        assert_eq!(bars[0].kind, BarKind::Tick(2));
        assert_eq!(bars[0].timeframe.to_string(), "1s");
    }

    #[test]
    fn volume_bars_split_the_crossing_trade_exactly() {
        // exactly at the threshold: closes, nothing over
        let (bars, open) = run("volume:3", &tape(&[(1, "10", "1", B), (2, "11", "2", S)]));
        assert_eq!(show(&bars), ["1 O=10 H=11 L=10 C=11 V=3 n=2 ids=Some(1)..Some(2)"]);
        assert_eq!(open, 0);
        // one huge trade over several thresholds: three full bars, remainder opens the fourth
        let (bars, open) = run("volume:3", &tape(&[(1, "10", "1", B), (2, "11", "8.5", S), (3, "12", "1", B)]));
        assert_eq!(
            show(&bars),
            [
                "1 O=10 H=11 L=10 C=11 V=3 n=2 ids=Some(1)..Some(2)",
                "2 O=11 H=11 L=11 C=11 V=3 n=1 ids=Some(2)..Some(2)",
                "2 O=11 H=11 L=11 C=11 V=3 n=1 ids=Some(2)..Some(2)",
            ]
        );
        assert_eq!(open, 2, "0.5 of trade 2 and trade 3 wait in the open bar");
        assert_eq!(bars[1].sell_volume, "3".parse().unwrap());
        assert_eq!(bars.iter().map(|b| b.seq).collect::<Vec<_>>(), [0, 1, 2], "numbered: pieces of one trade stay apart");
        // a size far too small: one trade closes at most MAX_BARS_PER_TRADE bars, the last
        // holding the rest
        let (bars, open) = run("volume:0.001", &tape(&[(1, "10", "5", B)]));
        assert_eq!((bars.len(), open), (MAX_BARS_PER_TRADE, 0));
        assert_eq!(bars[0].volume.to_string(), "0.001");
        assert_eq!(bars.last().unwrap().volume.to_string(), "4.001");
        let (bars, _) = run("value:0.01", &tape(&[(1, "10", "5", B)]));
        assert_eq!(bars.len(), MAX_BARS_PER_TRADE);
        assert_eq!(bars.iter().map(|b| b.volume).fold(Decimal::ZERO, |a, v| a.saturating_add(v)).to_string(), "5");
    }

    /// Nautilus's own volume- and value-bar cases (`tests/unit_tests/data/test_aggregation.py`,
    /// `VolumeBarAggregatorTests`/`ValueBarAggregatorTests`: step 10,000 and 100,000).
    #[test]
    fn nautilus_documented_cases() {
        // at the threshold: 3,000 + 4,000 + 3,000 → one bar of 10,000
        let (bars, open) = run("volume:10000", &tape(&[(0, "1.00001", "3000", B), (0, "1.00002", "4000", B), (0, "1.00000", "3000", B)]));
        assert_eq!(show(&bars), ["0 O=1.00001 H=1.00002 L=1 C=1 V=10000 n=3 ids=Some(1)..Some(3)"]);
        assert_eq!(open, 0);
        // beyond it: 2,000 + 3,000 + 25,000 → three bars of 10,000, the last two all of trade 3
        let (bars, open) = run("volume:10000", &tape(&[(0, "1.00001", "2000", B), (0, "1.00002", "3000", B), (0, "1.00000", "25000", B)]));
        assert_eq!(
            show(&bars),
            [
                "0 O=1.00001 H=1.00002 L=1 C=1 V=10000 n=3 ids=Some(1)..Some(3)",
                "0 O=1 H=1 L=1 C=1 V=10000 n=1 ids=Some(3)..Some(3)",
                "0 O=1 H=1 L=1 C=1 V=10000 n=1 ids=Some(3)..Some(3)",
            ]
        );
        assert_eq!(open, 0);
        // value: 3,000 @ 20.00001, 4,000 @ 20.00002, 5,000 @ 20 → two bars, O/H/L/C as Nautilus;
        // Nautilus rounds the split amount to the instrument's size precision (volumes 5,000 and
        // 5,000), tickflow truncates it to 9 decimals (4,999.9965… and 5,000.003…), and 2,000
        // of trade 3 (40,000) wait in the open bar in both
        let mut b = InfoBarBuilder::new(inst(), "value:100000".parse().unwrap());
        let mut bars = Vec::new();
        for t in tape(&[(0, "20.00001", "3000", B), (0, "20.00002", "4000", B), (0, "20.00000", "5000", B)]) {
            b.push(&t, &mut bars);
        }
        let ohlc: Vec<_> = bars.iter().map(|b| [b.open, b.high, b.low, b.close].map(|d| d.to_string())).collect();
        assert_eq!(ohlc, [["20.00001", "20.00002", "20.00001", "20.00002"], ["20.00002", "20.00002", "20", "20"]]);
        for (bar, nautilus) in bars.iter().zip([5000.0, 5000.0]) {
            assert!((bar.volume.to_f64() - nautilus).abs() < 0.005, "{}", bar.volume);
            assert!((bar.quote_volume.to_f64() - 100_000.0).abs() < 1e-3, "{}", bar.quote_volume);
        }
        let open_value = b.open.as_ref().map(|o| o.quote_volume().to_f64()).unwrap();
        assert!((open_value - 40_000.0).abs() < 0.2, "{open_value}"); // 40,000.11: the truncations carried
    }

    #[test]
    fn value_bars_split_by_quote_value() {
        // Q = 100: trade 1 is worth 50, trade 2 (price 25, amount 6) is worth 150: 2 of it fill
        // bar 1, 4 (= 100) make bar 2 exactly
        let (bars, open) = run("dollar:100", &tape(&[(1, "10", "5", B), (2, "25", "6", B)]));
        assert_eq!(show(&bars), ["1 O=10 H=25 L=10 C=25 V=7 n=2 ids=Some(1)..Some(2)", "2 O=25 H=25 L=25 C=25 V=4 n=1 ids=Some(2)..Some(2)"]);
        assert_eq!(bars.iter().map(|b| b.quote_volume.to_f64()).collect::<Vec<_>>(), [100.0, 100.0]);
        assert_eq!(open, 0);
        // a price that does not divide the room: the part is truncated to 9 decimals
        let (bars, _) = run("value:10", &tape(&[(1, "3", "5", B)]));
        assert_eq!(bars[0].volume.to_string(), "3.333333333");
        assert_eq!(bars.len(), 1);
    }

    #[test]
    fn imbalance_bars_follow_the_expectation() {
        // tib:2:1 → E[T] is the last bar's length (α = 1), E[b·v] an EWMA with α = 2/(1·2 + 1)
        // trade 1 (+): E=1, θ=1 ≥ 2·1? no; trade 2 (+): E=1, θ=2 ≥ 2 → bar of 2, E[T]=2
        // trade 3 (−): E=⅔·(−1)+⅓·1=−⅓, θ=−1: 1 ≥ 2·⅓ → bar of 1, E[T]=1
        // trade 4 (+): E=⅔−⅑=5/9, θ=1 ≥ 5/9 → bar of 1; trades 5, 6 likewise (E → 1, θ=1)
        let t = tape(&[(1, "10", "1", B), (2, "11", "1", B), (3, "10", "1", S), (4, "12", "1", B), (5, "12", "1", B), (6, "13", "1", B)]);
        let (bars, open) = run("tib:2:1", &t);
        assert_eq!(bars.iter().map(|b| b.trades).collect::<Vec<_>>(), [2, 1, 1, 1, 1]);
        assert_eq!(open, 0);
        // a long memory (tib:3:50, per-trade α = 2/151) keeps E[b·v] near 1, so the sell at
        // trade 3 only delays the close: θ = 1, 2, 1, 2, 3 ≥ 3·0.974 → one bar of 5, trade 6 open
        let (bars, open) = run("tib:3:50", &t);
        assert_eq!(bars.iter().map(|b| b.trades).collect::<Vec<_>>(), [5]);
        assert_eq!(open, 1);
        // run bars, trb:2:1: trade 1 (+) run 1 ≥ 2·max(1·1, 0) no; 2 (+) 2 ≥ 2 → bar
        let (bars, _) = run("trb:2:1", &t[..2]);
        assert_eq!(bars.iter().map(|b| b.trades).collect::<Vec<_>>(), [2]);
        // volume-weighted: one big buy against the expectation closes at once
        let (bars, _) = run("vib:1:1", &tape(&[(1, "10", "5", B)]));
        assert_eq!(bars.len(), 1);
    }

    #[test]
    fn renko_bricks_on_a_grid_from_the_first_price() {
        // anchor 100, brick 10: 105 nothing; 121 → two up bricks 100→110→120 (the first carries
        // trades 1–3, the second none); 111 nothing (above 110? one brick down needs ≤ 110);
        // 108 → one down brick 120→110
        let t = tape(&[(1, "100", "1", B), (2, "105", "1", B), (3, "121", "2", S), (4, "111", "1", B), (5, "108", "1", S)]);
        let (bars, open) = run("renko:10", &t);
        assert_eq!(
            show(&bars),
            [
                "1 O=100 H=110 L=100 C=110 V=4 n=3 ids=Some(1)..Some(3)",
                "3 O=110 H=120 L=110 C=120 V=0 n=0 ids=None..None",
                "4 O=120 H=120 L=110 C=110 V=2 n=2 ids=Some(4)..Some(5)",
            ]
        );
        assert_eq!(open, 0);
        // a brick far too small: one trade's jump of 10⁶ bricks is cut at the bound, the last
        // bar spanning the rest
        let (bars, _) = run("renko:0.000001", &tape(&[(1, "100", "1", B), (2, "101", "1", B)]));
        assert_eq!(bars.len() as u128, MAX_BRICKS_PER_TRADE);
        assert_eq!((bars[0].open.to_string(), bars[0].close.to_string()), ("100".to_string(), "100.000001".to_string()));
        let last = bars.last().unwrap();
        assert_eq!((last.open.to_string(), last.close.to_string()), ("100.000999".to_string(), "101".to_string()));
    }

    #[test]
    fn heikin_ashi_from_time_bars() {
        let tf = Timeframe::from_secs(60).unwrap();
        let bar = |o: &str, h: &str, l: &str, c: &str| {
            let d = |s: &str| s.parse::<Decimal>().unwrap();
            Bar::from_candle(inst(), tf, Ts(0), [d(o), d(h), d(l), d(c)], d("1"), Notional::ZERO)
        };
        let mut ha = HeikinAshiBuilder::default();
        let a = ha.next(&bar("10", "14", "9", "13"));
        assert_eq!((a.open.to_string(), a.high.to_string(), a.low.to_string(), a.close.to_string()), ("11.5".into(), "14".into(), "9".into(), "11.5".into()));
        let b = ha.next(&bar("13", "13", "11", "12"));
        // close (13+13+11+12)/4 = 12.25; open (11.5 + 11.5)/2 = 11.5; high max(13, ..); low min(11, 11.5)
        assert_eq!((b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string()), ("11.5".into(), "13".into(), "11".into(), "12.25".into()));
        assert_eq!(b.kind, BarKind::HeikinAshi);
        // exact to 9 decimals, truncated
        let c = ha.next(&bar("0.000000001", "0.000000001", "0.000000001", "0.000000002"));
        assert_eq!(c.close.to_string(), "0.000000001");
    }
}
