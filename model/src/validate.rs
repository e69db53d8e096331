//! The one rule set every external trade passes, whatever its source (CSV row, Kafka record,
//! venue frame or REST page), so live and replayed data are accepted or refused alike.
//!
//! | rule | refused value | why |
//! |---|---|---|
//! | price > 0 | `0`, `-1` | no venue prints a free or negative trade; a zero price poisons OHLC |
//! | amount > 0 | `0`, `-0.5` | a zero-amount trade would move OHLC with no volume (venues never send one) |
//! | price × amount ≤ 10¹⁵ | `1e29 × 1e26` | a bounded size: a bar's exact quote volume (±1.7·10²⁰) cannot overflow in practice |
//! | event time ≥ 1970 | `-1` | tickflow's event time starts at the Unix epoch |
//! | event time ≤ reference + `max_future` | year 2100 | one far-future stamp would make every later trade late and a carried fill allocate every empty window up to it |
//!
//! The reference is the trade's ingest time, capped by the wall clock of the reader (a forged
//! ingest time cannot lift the bound); a trade with no ingest time is held to the wall clock.
//! Replaying an old topic is unaffected: its trades are in the past of both.

use std::fmt;

use crate::{Decimal, Ts, NANOS_PER_SEC};

/// Default plausibility bound: a trade may be stamped at most 5 minutes after its reference
/// (venue clocks run ahead of ours by milliseconds, not minutes).
pub const DEFAULT_MAX_FUTURE: i64 = 5 * 60 * NANOS_PER_SEC;

/// Largest accepted quote amount (price × amount) of one trade, in quote units.
pub const MAX_NOTIONAL: i128 = 1_000_000_000_000_000;

/// Why a trade was refused (see the [module](self) table).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Price zero or negative.
    Price(Decimal),
    /// Amount zero or negative.
    Amount(Decimal),
    /// Price × amount above [`MAX_NOTIONAL`].
    Notional(Decimal, Decimal),
    /// Event time before 1970.
    BeforeEpoch(Ts),
    /// Event time more than `max_future` after the reference time.
    TooFarAhead {
        /// The trade's event time.
        ts: Ts,
        /// The reference it was compared with.
        reference: Ts,
        /// The bound, ns.
        max_future: i64,
    },
}

impl Invalid {
    /// A short stable name for counters and dead-letter headers.
    pub fn kind(&self) -> &'static str {
        match self {
            Invalid::Price(_) => "price",
            Invalid::Amount(_) => "amount",
            Invalid::Notional(..) => "notional",
            Invalid::BeforeEpoch(_) => "before_epoch",
            Invalid::TooFarAhead { .. } => "too_far_ahead",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Price(p) => write!(f, "price must be positive (got {p})"),
            Invalid::Amount(a) => write!(f, "amount must be positive (got {a})"),
            Invalid::Notional(p, a) => write!(f, "price × amount is above {MAX_NOTIONAL} (price {p}, amount {a})"),
            Invalid::BeforeEpoch(t) => write!(f, "event time before 1970 ({} ns)", t.0),
            Invalid::TooFarAhead { ts, reference, max_future } => write!(
                f,
                "event time {ts} is more than {}s after its reference time {reference} (raise --max-future if the venue's clock is that far ahead)",
                max_future / NANOS_PER_SEC
            ),
        }
    }
}

impl std::error::Error for Invalid {}

/// The reference time of a trade: its ingest time when it has one (> 0), never later than
/// `now` (the reader's wall clock).
#[inline]
pub fn reference(ingest_ts: i64, now: i64) -> i64 {
    if ingest_ts > 0 {
        ingest_ts.min(now)
    } else {
        now
    }
}

/// Checks one trade's values against the rule set; `reference` from [`reference()`].
#[inline]
pub fn check_trade(price: Decimal, amount: Decimal, ts: i64, reference: i64, max_future: i64) -> Result<(), Invalid> {
    if price.mantissa() <= 0 {
        return Err(Invalid::Price(price));
    }
    if amount.mantissa() <= 0 {
        return Err(Invalid::Amount(amount));
    }
    // (no i128 division on the per-row path: compare mantissas)
    const LIMIT: i128 = MAX_NOTIONAL * crate::decimal::NOTIONAL_ONE;
    if price.mul_notional(amount).mantissa() > LIMIT {
        return Err(Invalid::Notional(price, amount));
    }
    if ts < 0 {
        return Err(Invalid::BeforeEpoch(Ts(ts)));
    }
    if ts > reference.saturating_add(max_future) {
        return Err(Invalid::TooFarAhead { ts: Ts(ts), reference: Ts(reference), max_future });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn each_rule_refuses_its_values_and_accepts_the_edges() {
        let now = 1_700_000_000 * NANOS_PER_SEC;
        let ok = |p: &str, a: &str, ts: i64| check_trade(d(p), d(a), ts, now, DEFAULT_MAX_FUTURE);
        assert_eq!(ok("1", "1", now), Ok(()));
        assert_eq!(ok("0.000000001", "0.000000001", 0), Ok(()));
        assert_eq!(ok("1", "1", now + DEFAULT_MAX_FUTURE), Ok(()));
        assert_eq!(ok("0", "1", now).unwrap_err().kind(), "price");
        assert_eq!(ok("-1", "1", now).unwrap_err().kind(), "price");
        assert_eq!(ok("1", "0", now).unwrap_err().kind(), "amount");
        assert_eq!(ok("1", "-0.5", now).unwrap_err().kind(), "amount");
        assert_eq!(ok("1000000000", "1000000", now), Ok(()));
        assert_eq!(ok("1000000000", "1000001", now).unwrap_err().kind(), "notional");
        // exactly 10^15 passes, one nano-unit more does not
        assert_eq!(ok("1000000000", "1000000.000000001", now).unwrap_err().kind(), "notional");
        assert_eq!(ok("99999999999999999999999999999", "99999999999999999999999999", now).unwrap_err().kind(), "notional");
        assert_eq!(ok("1", "1", -1).unwrap_err().kind(), "before_epoch");
        let far = ok("1", "1", now + DEFAULT_MAX_FUTURE + 1).unwrap_err();
        assert_eq!(far.kind(), "too_far_ahead");
        assert!(far.to_string().contains("--max-future"), "{far}");
        // year 2100 against a 2023 reference; i64::MAX does not overflow the bound
        assert!(ok("1", "1", 4_102_444_800 * NANOS_PER_SEC).is_err());
        assert!(check_trade(d("1"), d("1"), i64::MAX, i64::MAX - 1, i64::MAX).is_ok());
    }

    #[test]
    fn a_forged_ingest_time_cannot_lift_the_bound() {
        let now = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(reference(i64::MAX, now), now);
        assert_eq!(reference(now - 5, now), now - 5);
        assert_eq!(reference(0, now), now);
        assert_eq!(reference(-7, now), now);
    }
}
