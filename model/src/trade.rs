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
        let id = self.trade_id[i];
        Trade {
            instrument: self.instrument,
            trade_id: if id == u64::MAX { None } else { Some(id) },
            ts: Ts(self.ts[i]),
            ingest_ts: Ts(self.ingest_ts[i]),
            price: self.price[i],
            amount: self.amount[i],
            side: self.side[i],
        }
    }
    /// The trades as rows.
    pub fn iter(&self) -> impl Iterator<Item = Trade> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}
