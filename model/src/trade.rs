//! A public trade (tick).

use serde::{Deserialize, Serialize};

use crate::{Decimal, Instrument, Side, Ts};

// (TradeBatch below stores the same fields by column.)

/// One public trade as normalised by a connector.
///
/// `ts` is the venue's event time; `ingest_ts` is when tickflow first received it. Ingest time is
/// recorded once at the edge and carried through Kafka and replays unchanged: nothing downstream
/// recomputes it, and no aggregation depends on it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// Exchange and symbol.
    pub instrument: Instrument,
    /// The venue's trade id, when it has a numeric one. Used for de-duplication and ordering.
    pub trade_id: Option<u64>,
    /// Event time (venue matching time).
    pub ts: Ts,
    /// Ingest time: when tickflow received the trade (never recomputed).
    pub ingest_ts: Ts,
    /// Price, exact.
    pub price: Decimal,
    /// Base amount, exact.
    pub amount: Decimal,
    /// Taker side.
    pub side: Side,
}

impl Trade {
    /// Deterministic total order of trades within an instrument: event time, then trade id,
    /// then price and amount (a tie-break for venues without ids). A bar's open is the least
    /// trade in this order and its close the greatest, whatever order trades arrive in.
    #[inline]
    pub fn order_key(&self) -> TradeKey {
        TradeKey { ts: self.ts.0, id: self.trade_id.unwrap_or(u64::MAX), price: self.price.mantissa(), amount: self.amount.mantissa() }
    }
}

/// See [`Trade::order_key`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TradeKey {
    /// Event time, ns.
    pub ts: i64,
    /// Trade id (`u64::MAX` when none).
    pub id: u64,
    /// Price mantissa.
    pub price: i128,
    /// Amount mantissa.
    pub amount: i128,
}

/// A trade from column values (`u64::MAX` = no trade id).
#[inline]
#[allow(clippy::too_many_arguments)]
fn row(instrument: Instrument, ts: i64, id: u64, ingest: i64, price: Decimal, amount: Decimal, side: Side) -> Trade {
    Trade { instrument, trade_id: if id == u64::MAX { None } else { Some(id) }, ts: Ts(ts), ingest_ts: Ts(ingest), price, amount, side }
}

/// Trades of one instrument, in arrival order, stored by column: the unit that moves between
/// dataflow operators.
///
/// The instrument is stored once; each trade costs ~57 bytes in six contiguous columns, which
/// watermarking and aggregation scan linearly. Exchanges route one batch (not one trade) at a
/// time, and instrument names cross process boundaries once per batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeBatch {
    /// The instrument of every trade in the batch.
    pub instrument: Instrument,
    /// Event times, ns.
    pub ts: Vec<i64>,
    /// Trade ids (`u64::MAX` when the venue gave none).
    pub trade_id: Vec<u64>,
    /// Prices.
    pub price: Vec<Decimal>,
    /// Amounts.
    pub amount: Vec<Decimal>,
    /// Taker sides.
    pub side: Vec<Side>,
    /// Ingest times, ns.
    pub ingest_ts: Vec<i64>,
}

impl TradeBatch {
    /// An empty batch with room for `cap` trades.
    pub fn with_capacity(instrument: Instrument, cap: usize) -> Self {
        TradeBatch {
            instrument,
            ts: Vec::with_capacity(cap),
            trade_id: Vec::with_capacity(cap),
            price: Vec::with_capacity(cap),
            amount: Vec::with_capacity(cap),
            side: Vec::with_capacity(cap),
            ingest_ts: Vec::with_capacity(cap),
        }
    }
    /// All rows of `rows` as one batch per instrument (in instrument-index order, empty ones
    /// left out), each in row order: one pass collects each instrument's row indices, then each
    /// column is gathered per instrument. Each row is copied once however many instruments are
    /// interleaved.
    pub fn split_rows(rows: &TradeRows) -> Vec<TradeBatch> {
        if rows.instruments.len() == 1 {
            // one instrument: whole columns
            let mut b = TradeBatch::with_capacity(rows.instruments[0], rows.len());
            b.ts.extend_from_slice(&rows.ts);
            b.trade_id.extend_from_slice(&rows.trade_id);
            b.price.extend_from_slice(&rows.price);
            b.amount.extend_from_slice(&rows.amount);
            b.side.extend_from_slice(&rows.side);
            b.ingest_ts.extend_from_slice(&rows.ingest_ts);
            return if b.is_empty() { Vec::new() } else { vec![b] };
        }
        // row indices per instrument, then one column-wise gather per instrument and column
        // (exact-size iterators: no per-element capacity checks)
        let mut idx: Vec<Vec<u32>> = vec![Vec::new(); rows.instruments.len()];
        for (i, &k) in rows.inst.iter().enumerate() {
            idx[k as usize].push(i as u32);
        }
        rows.instruments
            .iter()
            .zip(&idx)
            .filter(|(_, ix)| !ix.is_empty())
            .map(|(inst, ix)| {
                fn gather<T: Copy>(col: &[T], ix: &[u32]) -> Vec<T> {
                    ix.iter().map(|&i| col[i as usize]).collect()
                }
                TradeBatch {
                    instrument: *inst,
                    ts: gather(&rows.ts, ix),
                    trade_id: gather(&rows.trade_id, ix),
                    price: gather(&rows.price, ix),
                    amount: gather(&rows.amount, ix),
                    side: gather(&rows.side, ix),
                    ingest_ts: gather(&rows.ingest_ts, ix),
                }
            })
            .collect()
    }
    /// Appends row `i` of `rows` (its instrument must be the batch's).
    #[inline(always)]
    pub fn push_row(&mut self, rows: &TradeRows, i: usize) {
        self.ts.push(rows.ts[i]);
        self.trade_id.push(rows.trade_id[i]);
        self.price.push(rows.price[i]);
        self.amount.push(rows.amount[i]);
        self.side.push(rows.side[i]);
        self.ingest_ts.push(rows.ingest_ts[i]);
    }
    /// A batch of one trade.
    pub fn single(t: &Trade) -> Self {
        let mut b = TradeBatch::with_capacity(t.instrument, 1);
        b.push(t);
        b
    }
    /// Appends a trade (its instrument must be the batch's).
    #[inline]
    pub fn push(&mut self, t: &Trade) {
        debug_assert_eq!(t.instrument, self.instrument);
        self.ts.push(t.ts.0);
        self.trade_id.push(t.trade_id.unwrap_or(u64::MAX));
        self.price.push(t.price);
        self.amount.push(t.amount);
        self.side.push(t.side);
        self.ingest_ts.push(t.ingest_ts.0);
    }
    /// Number of trades.
    #[inline]
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
    /// Trade `i` as a row.
    #[inline]
    pub fn get(&self, i: usize) -> Trade {
        row(self.instrument, self.ts[i], self.trade_id[i], self.ingest_ts[i], self.price[i], self.amount[i], self.side[i])
    }
    /// The trades as rows.
    pub fn iter(&self) -> impl Iterator<Item = Trade> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// Trades of any instruments in partition order, stored by column: what feeds hand to the
/// source operator. Each row names its instrument by an index into `instruments`.
///
/// Parsers push scalar fields straight into the columns, so no row struct is built or copied
/// on the way from bytes to bars.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeRows {
    /// Instruments referenced by `inst`.
    pub instruments: Vec<Instrument>,
    /// Index into `instruments`, per row.
    pub inst: Vec<u32>,
    /// Event times, ns.
    pub ts: Vec<i64>,
    /// Trade ids (`u64::MAX` when none).
    pub trade_id: Vec<u64>,
    /// Prices.
    pub price: Vec<Decimal>,
    /// Amounts.
    pub amount: Vec<Decimal>,
    /// Taker sides.
    pub side: Vec<Side>,
    /// Ingest times, ns.
    pub ingest_ts: Vec<i64>,
}

impl TradeRows {
    /// Number of rows.
    #[inline]
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
    /// Removes all rows and instruments.
    pub fn clear(&mut self) {
        self.instruments.clear();
        self.inst.clear();
        self.ts.clear();
        self.trade_id.clear();
        self.price.clear();
        self.amount.clear();
        self.side.clear();
        self.ingest_ts.clear();
    }
    /// The index of `i` in the instrument table, adding it when new.
    #[inline]
    pub fn intern(&mut self, i: Instrument) -> u32 {
        let id = i.id();
        match self.instruments.iter().position(|x| x.id() == id) {
            Some(p) => p as u32,
            None => {
                self.instruments.push(i);
                (self.instruments.len() - 1) as u32
            }
        }
    }
    /// Appends a row from its parts (`inst` from [`intern`](Self::intern)).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn push_parts(&mut self, inst: u32, ts: i64, trade_id: Option<u64>, price: Decimal, amount: Decimal, side: Side, ingest_ts: i64) {
        self.inst.push(inst);
        self.ts.push(ts);
        self.trade_id.push(trade_id.unwrap_or(u64::MAX));
        self.price.push(price);
        self.amount.push(amount);
        self.side.push(side);
        self.ingest_ts.push(ingest_ts);
    }
    /// Keeps the first `n` rows (the instrument table stays).
    pub fn truncate(&mut self, n: usize) {
        self.inst.truncate(n);
        self.ts.truncate(n);
        self.trade_id.truncate(n);
        self.price.truncate(n);
        self.amount.truncate(n);
        self.side.truncate(n);
        self.ingest_ts.truncate(n);
    }
    /// Appends a trade.
    pub fn push(&mut self, t: &Trade) {
        let i = self.intern(t.instrument);
        self.push_parts(i, t.ts.0, t.trade_id, t.price, t.amount, t.side, t.ingest_ts.0);
    }
    /// Row `i` as a trade.
    #[inline]
    pub fn get(&self, i: usize) -> Trade {
        row(self.instruments[self.inst[i] as usize], self.ts[i], self.trade_id[i], self.ingest_ts[i], self.price[i], self.amount[i], self.side[i])
    }
    /// The rows as trades.
    pub fn iter(&self) -> impl Iterator<Item = Trade> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::{TradeBatch, TradeRows};
    use crate::{Decimal, Instrument, Side};

    /// Reference: the rows of instrument index `k`, pushed one by one.
    fn rows_of(rows: &TradeRows, k: u32) -> TradeBatch {
        let mut want = TradeBatch::with_capacity(rows.instruments[k as usize], 0);
        (0..rows.len()).filter(|&i| rows.inst[i] == k).for_each(|i| want.push_row(rows, i));
        want
    }

    #[test]
    fn split_rows_keeps_each_instruments_rows_in_order() {
        let a = Instrument::new("x", "A/USD").unwrap();
        let b = Instrument::new("x", "B/USD").unwrap();
        let mut rows = TradeRows::default();
        let mut x: u64 = 9;
        for i in 0..1000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let inst = rows.intern(if x % 3 == 1 { a } else { b });
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            rows.push_parts(inst, i, Some(i as u64), Decimal::from_mantissa(i as i128 + 1), Decimal::from_mantissa(2 * i as i128), side, -i);
        }
        let want: Vec<TradeBatch> = (0..rows.instruments.len() as u32).map(|k| rows_of(&rows, k)).collect();
        assert!(want.len() == 2 && want.iter().all(|b| !b.is_empty()));
        assert_eq!(TradeBatch::split_rows(&rows), want);
        // one instrument: the whole columns
        let mut one = TradeRows::default();
        for i in 0..10 {
            let k = one.intern(a);
            one.push_parts(k, i, None, Decimal::from_mantissa(1), Decimal::from_mantissa(2), Side::Buy, 0);
        }
        assert_eq!(TradeBatch::split_rows(&one), vec![rows_of(&one, 0)]);
        assert!(TradeBatch::split_rows(&TradeRows::default()).is_empty());
    }
}
