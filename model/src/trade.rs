//! A public trade (tick).

use serde::{Deserialize, Serialize};

use crate::{Decimal, Instrument, Side, Ts};

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

/// Trades of one instrument, in arrival order: the unit that moves between dataflow operators.
///
/// Moving batches rather than single trades lets exchanges route one pointer per batch and lets
/// aggregators look up per-instrument state once per batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeBatch {
    /// Instrument id of every trade in the batch ([`Instrument::id`]).
    pub instrument_id: u64,
    /// The trades, all of the same instrument.
    pub trades: Vec<Trade>,
}
