//! [`FundingRate`]: one funding event of a perpetual swap.
//!
//! At each funding time a perpetual's longs pay its shorts `position value × rate` (the shorts
//! pay when the rate is negative). Venues publish rates with up to 18 fractional digits (OKX:
//! `0.0000983434362041`), so the rate is a [`Notional`] (exact to 18 digits), never a float.
//!
//! ```
//! use tickflow_model::{FundingRate, Instrument, Notional, Ts};
//! let f = FundingRate {
//!     instrument: Instrument::new("binance", "BTC/USDT:USDT").unwrap(),
//!     ts: Ts::from_millis(1_700_000_000_000),
//!     rate: Notional::parse_bytes(b"0.0000983434362041").unwrap(),
//!     mark_price: None,
//! };
//! assert_eq!(f.rate.to_string(), "0.0000983434362041");
//! assert_eq!(f.sort_key().1, Ts::from_millis(1_700_000_000_000));
//! ```

use crate::{Decimal, Instrument, Notional, Ts};

/// One funding event: the rate applied at `ts` to open positions in `instrument`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundingRate {
    /// The perpetual (`BTC/USDT:USDT`, `BTC/USD:BTC`).
    pub instrument: Instrument,
    /// The funding time.
    pub ts: Ts,
    /// The rate (per funding interval; positive: longs pay shorts).
    pub rate: Notional,
    /// The mark price the venue settled at, when it publishes one.
    pub mark_price: Option<Decimal>,
}

impl FundingRate {
    /// The order funding events are written in: instrument, then time.
    pub fn sort_key(&self) -> (Instrument, Ts) {
        (self.instrument, self.ts)
    }
}
