//! OHLCV accumulator (pure core): folds trades or other accumulators into one bar.
//!
//! Every field is an associative, commutative fold (open/close pick the least/greatest trade by
//! [`Trade::order_key`]), so a bar is independent of arrival order and a higher timeframe rolled
//! up from lower accumulators equals direct aggregation of the same trades.
//!
//! [`RunSums`] is the batch path's scratch for a run of trades in one window: raw `i128`
//! mantissas summed with wrapping arithmetic and an overflow flag (no branch per trade), folded
//! into a [`BarAccum`] once per run by [`BarAccum::merge_run`], which refuses an overflowed run
//! ([`RunOverflow`]) so the caller folds its trades one by one on the saturating path instead.
//! The dependency is one-way: the engine uses this module, never the reverse.

use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, TradeKey, Ts};

/// A bar under construction (serializable for checkpoints).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BarAccum {
    open_k: TradeKey,
    close_k: TradeKey,
    high: Decimal,
    low: Decimal,
    volume: Decimal,
    quote_volume: Notional,
    buy_volume: Decimal,
    sell_volume: Decimal,
    count: u64,
}

impl BarAccum {
    /// An accumulator holding one trade.
    #[inline]
    pub fn from_trade(t: &Trade) -> Self {
        Self::from_parts(t.order_key(), t.price, t.amount, t.side)
    }

    /// An accumulator holding one trade given by its parts (`k` is its [`Trade::order_key`]).
    #[inline]
    pub fn from_parts(k: TradeKey, price: Decimal, amount: Decimal, side: Side) -> Self {
        let (buy, sell) = match side {
            Side::Buy => (amount, Decimal::ZERO),
            Side::Sell => (Decimal::ZERO, amount),
            Side::Unknown => (Decimal::ZERO, Decimal::ZERO),
        };
        BarAccum {
            open_k: k,
            close_k: k,
            high: price,
            low: price,
            volume: amount,
            quote_volume: price.mul_notional(amount),
            buy_volume: buy,
            sell_volume: sell,
            count: 1,
        }
    }

    /// Folds one trade in.
    #[inline]
    pub fn add(&mut self, t: &Trade) {
        self.add_parts(t.order_key(), t.price, t.amount, t.side)
    }

    /// Folds one trade in, given by its parts.
    #[inline]
    pub fn add_parts(&mut self, k: TradeKey, price: Decimal, amount: Decimal, side: Side) {
        if k < self.open_k {
            self.open_k = k;
        }
        if k > self.close_k {
            self.close_k = k;
        }
        // new highs and lows are rare: these branches predict well
        if price > self.high {
            self.high = price;
        }
        if price < self.low {
            self.low = price;
        }
        self.volume += amount;
        self.quote_volume += price.mul_notional(amount);
        match side {
            Side::Buy => self.buy_volume += amount,
            Side::Sell => self.sell_volume += amount,
            Side::Unknown => {}
        }
        self.count += 1;
    }

    /// Folds a run of trades summed in [`RunSums`]; an overflowed run is refused (`self`
    /// unchanged) and its trades must be folded one by one ([`add_parts`](Self::add_parts)).
    #[inline]
    pub(crate) fn merge_run(&mut self, r: &RunSums) -> Result<(), RunOverflow> {
        if r.overflow {
            return Err(RunOverflow);
        }
        if let Some(k) = r.open_k {
            if k < self.open_k {
                self.open_k = k;
            }
        }
        if let Some(k) = r.close_k {
            if k > self.close_k {
                self.close_k = k;
            }
        }
        if r.count > 0 {
            self.high = self.high.max(Decimal::from_mantissa(r.high));
            self.low = self.low.min(Decimal::from_mantissa(r.low));
        }
        self.volume += Decimal::from_mantissa(r.volume);
        self.quote_volume += Notional::from_mantissa(r.quote);
        self.buy_volume += Decimal::from_mantissa(r.buy);
        self.sell_volume += Decimal::from_mantissa(r.sell);
        self.count += r.count;
        Ok(())
    }

    /// Folds another accumulator in (roll-up).
    #[inline]
    pub fn merge(&mut self, o: &BarAccum) {
        if o.open_k < self.open_k {
            self.open_k = o.open_k;
        }
        if o.close_k > self.close_k {
            self.close_k = o.close_k;
        }
        self.high = self.high.max(o.high);
        self.low = self.low.min(o.low);
        self.volume += o.volume;
        self.quote_volume += o.quote_volume;
        self.buy_volume += o.buy_volume;
        self.sell_volume += o.sell_volume;
        self.count += o.count;
    }

    /// Trades folded in.
    pub fn trades(&self) -> u64 {
        self.count
    }
    /// Σ amount.
    pub fn volume(&self) -> Decimal {
        self.volume
    }
    /// Σ price·amount.
    pub fn quote_volume(&self) -> Notional {
        self.quote_volume
    }
    /// Event time of the first trade (by [`Trade::order_key`]).
    pub fn first_ts(&self) -> Ts {
        Ts(self.open_k.ts)
    }
    /// Event time of the last trade.
    pub fn last_ts(&self) -> Ts {
        Ts(self.close_k.ts)
    }

    /// The bar (revision 0).
    pub fn to_bar(&self, instrument: Instrument, timeframe: Timeframe, open_time: Ts) -> Bar {
        let id = |k: &TradeKey| if k.id == u64::MAX { None } else { Some(k.id) };
        Bar {
            instrument,
            kind: tickflow_model::BarKind::Time,
            timeframe,
            open_time,
            open: Decimal::from_mantissa(self.open_k.price),
            high: self.high,
            low: self.low,
            close: Decimal::from_mantissa(self.close_k.price),
            volume: self.volume,
            quote_volume: self.quote_volume,
            trades: self.count,
            buy_volume: self.buy_volume,
            sell_volume: self.sell_volume,
            first_trade_id: id(&self.open_k),
            last_trade_id: id(&self.close_k),
            revision: 0,
            seq: 0,
        }
    }
}

/// A run's sums overflowed `i128`: fold its trades one by one instead.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunOverflow;

/// Sums of a run of trades in one window (the batch path), as raw mantissas with wrapping
/// arithmetic; `overflow` records any wrap, and [`BarAccum::merge_run`] then refuses the run.
pub(crate) struct RunSums {
    open_k: Option<TradeKey>,
    close_k: Option<TradeKey>,
    high: i128,
    low: i128,
    volume: i128,
    quote: i128,
    buy: i128,
    sell: i128,
    count: u64,
    overflow: bool,
}

impl Default for RunSums {
    fn default() -> Self {
        RunSums { open_k: None, close_k: None, high: i128::MIN, low: i128::MAX, volume: 0, quote: 0, buy: 0, sell: 0, count: 0, overflow: false }
    }
}

impl RunSums {
    /// Takes `k` into the run's open and close (runs whose trades are not in key order).
    #[inline]
    pub(crate) fn see_key(&mut self, k: TradeKey) {
        if k < self.open_k.unwrap_or(k) || self.open_k.is_none() {
            self.open_k = Some(k);
        }
        if self.close_k.is_none_or(|c| k > c) {
            self.close_k = Some(k);
        }
    }

    /// Sets the run's open and close (runs whose trades are in key order: first and last).
    #[inline]
    pub(crate) fn set_keys(&mut self, open: TradeKey, close: TradeKey) {
        (self.open_k, self.close_k) = (Some(open), Some(close));
    }

    /// Folds one trade's price and amount mantissas in.
    #[inline]
    pub(crate) fn add(&mut self, p: i128, q: i128, side: Side) {
        self.high = self.high.max(p);
        self.low = self.low.min(p);
        let (v, o1) = self.volume.overflowing_add(q);
        // price × amount: one widening multiply when both fit in 64 bits
        let (pq, o2) = match (i64::try_from(p), i64::try_from(q)) {
            (Ok(a), Ok(b)) => (a as i128 * b as i128, false),
            _ => p.overflowing_mul(q),
        };
        let (qv, o3) = self.quote.overflowing_add(pq);
        let (b, o4) = self.buy.overflowing_add(if side == Side::Buy { q } else { 0 });
        let (s, o5) = self.sell.overflowing_add(if side == Side::Sell { q } else { 0 });
        self.volume = v;
        self.quote = qv;
        self.buy = b;
        self.sell = s;
        self.count += 1;
        self.overflow |= o1 | o2 | o3 | o4 | o5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(ts: i64, id: u64, px: &str, qty: &str, side: Side) -> Trade {
        Trade {
            instrument: Instrument::new("test", "BTC/USDT").unwrap(),
            trade_id: Some(id),
            ts: Ts(ts),
            ingest_ts: Ts(0),
            price: px.parse().unwrap(),
            amount: qty.parse().unwrap(),
            side,
        }
    }

    #[test]
    fn ohlcv_independent_of_order_and_equal_to_rollup() {
        let ts = [
            trade(5, 1, "100", "1", Side::Buy),
            trade(5, 2, "102", "0.5", Side::Sell),
            trade(7, 3, "99.5", "2", Side::Buy),
            trade(9, 4, "101", "0.25", Side::Unknown),
            trade(9, 5, "100.5", "1", Side::Sell),
        ];
        let fold = |order: &[usize]| {
            let mut a = BarAccum::from_trade(&ts[order[0]]);
            for &i in &order[1..] {
                a.add(&ts[i]);
            }
            a
        };
        let a = fold(&[0, 1, 2, 3, 4]);
        assert_eq!(a, fold(&[4, 2, 0, 3, 1]));
        let mut r = fold(&[3, 1]);
        r.merge(&fold(&[4, 0, 2]));
        assert_eq!(a, r);
        let tf = Timeframe::from_secs(60).unwrap();
        let b = a.to_bar(ts[0].instrument, tf, Ts(0));
        assert_eq!(
            (b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string()),
            ("100".into(), "102".into(), "99.5".into(), "100.5".into())
        );
        assert_eq!(b.volume.to_string(), "4.75");
        assert_eq!(b.buy_volume.to_string(), "3");
        assert_eq!(b.sell_volume.to_string(), "1.5");
        assert_eq!(b.quote_volume.to_string(), "475.75"); // 100+51+199+25.25+100.5
        assert_eq!(b.trades, 5);
        assert_eq!((b.first_trade_id, b.last_trade_id), (Some(1), Some(5)));
        assert_eq!(b.vwap().unwrap().to_string(), "100.157894736");
    }
}
