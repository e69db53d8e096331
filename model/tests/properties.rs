//! Property tests (issue #14): arbitrary input never panics the parsers or the arithmetic, and
//! valid values round-trip exactly. Cases per property: `PROPTEST_CASES` (default 256).

use proptest::prelude::*;
use tickflow_model::{validate, Decimal, Notional, Timeframe, TradeRecord, Ts};

proptest! {
    /// Any bytes: a decimal or an error, never a panic; errors echo a bounded input.
    #[test]
    fn decimal_parsing_never_panics(s in proptest::collection::vec(any::<u8>(), 0..200)) {
        match Decimal::parse_bytes(&s) {
            Ok(d) => prop_assert_eq!(Decimal::parse_bytes(d.to_string().as_bytes()).unwrap(), d),
            Err(e) => prop_assert!(e.to_string().len() < 300),
        }
        let _ = Notional::parse_bytes(&s);
    }

    /// Decimal-looking text (signs, digits, dots, exponents) exercises the real parser paths.
    #[test]
    fn decimal_like_text_never_panics(s in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?([eE][-+]?[0-9]{1,4})?") {
        if let Ok(d) = Decimal::parse_bytes(s.as_bytes()) {
            prop_assert_eq!(Decimal::parse_bytes(d.to_string().as_bytes()).unwrap(), d);
        }
    }

    /// Every mantissa formats and parses back to itself.
    #[test]
    fn decimals_round_trip_through_text(m in any::<i128>()) {
        let d = Decimal::from_mantissa(m);
        prop_assert_eq!(d.to_string().parse::<Decimal>().unwrap(), d);
        let n = Notional::from_mantissa(m);
        prop_assert_eq!(Notional::parse_bytes(n.to_string().as_bytes()).unwrap(), n);
    }

    /// Checked and saturating arithmetic over the whole range: no overflow panic, and checked
    /// results are exact where they exist.
    #[test]
    fn arithmetic_never_panics(a in any::<i128>(), b in any::<i128>()) {
        let (x, y) = (Decimal::from_mantissa(a), Decimal::from_mantissa(b));
        let _ = x.saturating_add(y);
        let _ = x.saturating_sub(y);
        let _ = x.abs();
        let _ = x.mul_notional(y);
        let _ = x.to_f64();
        if let Ok(s) = x.checked_add(y) {
            prop_assert_eq!(s.mantissa(), a + b);
        }
        let _ = x.checked_mul(y);
        if let Some(q) = x.checked_div(y) {
            prop_assert!(b != 0);
            let _ = q;
        }
        let _ = Notional::from_mantissa(a).div_to_decimal(y);
        let _ = Notional::from_mantissa(a).saturating_add(Notional::from_mantissa(b));
        let _ = validate::check_trade(x, y, 0, 0, validate::DEFAULT_MAX_FUTURE);
    }

    /// Any bytes as a timestamp: a time or an error, never a panic or a wrapped value.
    #[test]
    fn timestamp_parsing_never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(t) = Ts::parse_bytes(&s) {
            let _ = t.to_rfc3339();
        }
    }

    /// RFC 3339-looking text with any field values: valid dates round-trip, impossible ones
    /// (2024-02-31, +99:99) are errors.
    #[test]
    fn rfc3339_like_text_round_trips_or_fails(
        y in 1970i64..2262, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, se in 0u32..61,
        frac in proptest::option::of(0u32..1_000_000_000), off in proptest::option::of((any::<bool>(), 0u32..100, 0u32..100)),
    ) {
        let mut s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}");
        if let Some(f) = frac {
            s.push_str(&format!(".{f:09}"));
        }
        match off {
            Some((neg, oh, om)) => s.push_str(&format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' })),
            None => s.push('Z'),
        }
        let valid_date = (1..=12).contains(&mo) && d >= 1 && d <= tickflow_model::days_in_month(y, mo);
        let valid_off = off.is_none_or(|(_, oh, om)| oh <= 23 && om <= 59);
        let r = s.parse::<Ts>();
        if !(valid_date && valid_off && h <= 23 && mi <= 59) {
            prop_assert!(r.is_err(), "{} parsed as {:?}", s, r);
        } else if off.is_none() && se < 60 {
            let t = r.unwrap();
            prop_assert_eq!(t.to_rfc3339().parse::<Ts>().unwrap(), t);
        }
    }

    /// Any epoch integer: checked conversions never wrap.
    #[test]
    fn epoch_conversions_are_checked(v in any::<i64>(), u in any::<u64>()) {
        if let Some(t) = Ts::checked_from_millis(v) {
            prop_assert_eq!(t.0 / 1_000_000, v);
        }
        if let Some(t) = Ts::checked_from_secs(v) {
            prop_assert_eq!(t.0 / 1_000_000_000, v);
        }
        if let Some(t) = Ts::from_epoch_auto(u) {
            prop_assert!(t.0 >= 0);
        }
    }

    /// The Kafka record decoder (JSON → record → checked trade) on arbitrary bytes.
    #[test]
    fn trade_record_decoding_never_panics(s in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = serde_json::from_slice::<TradeRecord>(&s) {
            let _ = r.to_trade();
        }
    }

    /// Records with arbitrary field values: accepted exactly when the rule set accepts them,
    /// and an accepted one round-trips.
    #[test]
    fn trade_records_follow_the_rule_set(
        ts in any::<i64>(), ingest in any::<i64>(), price in any::<i64>(), amount in any::<i64>(), id in proptest::option::of(any::<u64>()),
    ) {
        let json = format!(
            r#"{{"v":1,"exchange":"binance","symbol":"BTC/USDT","trade_id":{},"ts":{ts},"ingest_ts":{ingest},"price":"{}","amount":"{}","side":"buy"}}"#,
            id.map_or("null".to_string(), |i| i.to_string()),
            Decimal::from_mantissa(price as i128),
            Decimal::from_mantissa(amount as i128),
        );
        let r: TradeRecord = serde_json::from_str(&json).unwrap();
        let now = 1_800_000_000_000_000_000;
        let want = validate::check_trade(r.price, r.amount, ts, validate::reference(ingest, now), validate::DEFAULT_MAX_FUTURE);
        match r.to_trade_within(validate::DEFAULT_MAX_FUTURE, now) {
            Ok(t) => {
                prop_assert!(want.is_ok());
                prop_assert_eq!(TradeRecord::from(&t), r);
            }
            Err(_) => prop_assert!(want.is_err()),
        }
    }

    /// Timeframe strings: parse or error, never panic; parsed ones print back to themselves.
    #[test]
    fn timeframes_parse_or_fail(s in "[0-9]{0,25}[smhdwx]?") {
        if let Ok(tf) = s.parse::<Timeframe>() {
            prop_assert_eq!(tf.to_string().parse::<Timeframe>().unwrap(), tf);
        }
    }
}
