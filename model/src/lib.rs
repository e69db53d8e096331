//! # tickflow-model
//!
//! Domain types shared by every tickflow crate: exact decimals ([`Decimal`], [`Notional`]),
//! event time ([`Ts`], [`Timeframe`]), instruments in CCXT form ([`Instrument`]), trades
//! ([`Trade`]) and bars ([`Bar`]). serde only: no I/O, no runtime.

#![warn(missing_docs)]

/// serde as the type's text (`Display` / `FromStr`): `1m`, `tick:1000`.
#[macro_export]
#[doc(hidden)]
macro_rules! serde_as_text {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

mod bar;
mod bar_kind;
mod decimal;
pub mod digits;
mod error;
mod funding;
mod instrument;
mod market;
mod order;
pub mod record;
mod time;
mod trade;
pub mod validate;

pub use bar::{Bar, LateDisposition, LateTrade, Series};
pub use bar_kind::{parse_bar_kinds, BarKind, Expectation, Measure};
pub use decimal::{Decimal, Notional, NOTIONAL_SCALE, ONE, SCALE};
pub use error::{clip, clip_to, ModelError, ECHO_MAX};
pub use funding::FundingRate;
pub use instrument::{fnv1a64, Instrument, Side, SmallStr, EXCHANGE_MAX, SYMBOL_MAX};
pub use market::MarketKind;
pub use order::{ClosedTrade, Fill, Order, OrderKind, OrderSide, OrderStatus};
pub use record::{BarRecord, EquityRecord, FundingRecord, LateRecord, PriceCandleRecord, RunRecord, TradeRecord, RECORD_VERSION};
pub use time::{civil_from_days, days_from_civil, days_in_month, parse_timeframes, Timeframe, Ts, NANOS_PER_MICRO, NANOS_PER_MILLI, NANOS_PER_SEC};
pub use trade::{Trade, TradeBatch, TradeKey, TradeRows};
