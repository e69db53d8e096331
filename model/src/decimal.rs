//! Exact fixed-point decimals for prices, sizes and notionals.
//!
//! [`Decimal`] stores an `i128` count of nano-units (scale 9): every price and size a venue
//! publishes with up to nine fractional digits is held exactly, and sums of them are exact.
//! [`Notional`] stores `price × amount` products at scale 18, so quote volume
//! (Σ price·amount) is exact too. Nothing here uses `f64` except explicit, lossy
//! conversions for indicators ([`Decimal::to_f64`]).
//!
//! Parsing never rounds: a string with a non-zero digit beyond the ninth fractional place is
//! rejected with [`ModelError::Precision`]. Accumulation saturates instead of wrapping or
//! panicking; the representable range (±1.7·10²⁹ units, ±1.7·10²⁰ for notionals) is far beyond
//! any traded quantity.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// Fractional digits held by [`Decimal`].
pub const SCALE: u32 = 9;
/// `10^SCALE`: the mantissa of `1`.
pub const ONE: i128 = 1_000_000_000;
/// Fractional digits held by [`Notional`].
pub const NOTIONAL_SCALE: u32 = 18;
/// `10^NOTIONAL_SCALE`: the mantissa of a [`Notional`] `1`.
pub(crate) const NOTIONAL_ONE: i128 = 1_000_000_000_000_000_000;

/// An exact decimal with nine fractional digits (mantissa in nano-units).
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(i128);

/// An exact product of two [`Decimal`]s (scale 18), e.g. a trade's quote amount.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Notional(i128);

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal(0);
    /// One.
    pub const ONE: Decimal = Decimal(ONE);

    /// Builds a decimal from its raw nano-unit mantissa.
    #[inline]
    pub const fn from_mantissa(m: i128) -> Self {
        Decimal(m)
    }
    /// The raw mantissa (value × 10⁹).
    #[inline]
    pub const fn mantissa(self) -> i128 {
        self.0
    }
    /// An integer value.
    pub const fn from_int(v: i64) -> Self {
        Decimal(v as i128 * ONE)
    }
    /// True when zero.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// True when strictly negative.
    #[inline]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
    /// Absolute value.
    #[inline]
    pub const fn abs(self) -> Self {
        Decimal(self.0.saturating_abs())
    }
    /// Saturating sum (exact within range).
    #[inline]
    pub const fn saturating_add(self, o: Self) -> Self {
        Decimal(self.0.saturating_add(o.0))
    }
    /// Saturating difference (exact within range).
    #[inline]
    pub const fn saturating_sub(self, o: Self) -> Self {
        Decimal(self.0.saturating_sub(o.0))
    }
    /// Checked sum.
    pub fn checked_add(self, o: Self) -> Result<Self, ModelError> {
        self.0.checked_add(o.0).map(Decimal).ok_or(ModelError::Overflow { op: "add" })
    }
    /// Exact product as a [`Notional`] (saturating at the range limit).
    #[inline]
    pub const fn mul_notional(self, o: Self) -> Notional {
        // common case: both mantissas fit in 64 bits → one widening multiply, cannot overflow
        let (a, b) = (self.0 as i64, o.0 as i64);
        if a as i128 == self.0 && b as i128 == o.0 {
            Notional(a as i128 * b as i128)
        } else {
            Notional(self.0.saturating_mul(o.0))
        }
    }
    /// `self × o`, rounded half to even at nine decimals (money: commissions, values).
    /// `None` on overflow.
    pub fn checked_mul(self, o: Self) -> Option<Self> {
        let p = self.0.checked_mul(o.0)?; // scale 18
        let (q, r) = (p / ONE, p % ONE);
        let half = ONE / 2;
        let q = match r.abs().cmp(&half) {
            std::cmp::Ordering::Greater => q + p.signum(),
            std::cmp::Ordering::Equal if q % 2 != 0 => q + p.signum(),
            _ => q,
        };
        Some(Decimal(q))
    }
    /// `self × rate` for a rate exact to 18 decimals (funding), rounded half to even at nine
    /// decimals. `None` on overflow.
    pub fn checked_mul_rate(self, rate: Notional) -> Option<Self> {
        const E18: i128 = 1_000_000_000_000_000_000;
        let p = self.0.checked_mul(rate.0)?; // scale 27
        let (q, r) = (p / E18, p % E18);
        let q = match r.abs().cmp(&(E18 / 2)) {
            std::cmp::Ordering::Greater => q + p.signum(),
            std::cmp::Ordering::Equal if q % 2 != 0 => q + p.signum(),
            _ => q,
        };
        Some(Decimal(q))
    }
    /// `self / o`, truncated toward zero at nine decimals (sizes: never more than affordable).
    /// `None` for division by zero or overflow.
    pub fn checked_div(self, o: Self) -> Option<Self> {
        if o.0 == 0 {
            return None;
        }
        self.0.checked_mul(ONE).map(|n| Decimal(n / o.0))
    }
    /// Lossy conversion for floating-point consumers (indicators, analytics).
    #[inline]
    pub fn to_f64(self) -> f64 {
        // |m| < 2^53 is exact as f64, so one correctly rounded division gives the double
        // nearest the decimal value (what parsing the decimal string would give)
        if self.0.unsigned_abs() < (1u128 << 53) {
            return self.0 as i64 as f64 / ONE as f64;
        }
        let int = (self.0 / ONE) as f64;
        let frac = (self.0 % ONE) as f64 / ONE as f64;
        int + frac
    }
    /// Nearest decimal to a float, rounding half away from zero at the ninth digit.
    /// Only for values that are floats by nature (e.g. a percentage parameter).
    pub fn from_f64_lossy(v: f64) -> Option<Self> {
        if !v.is_finite() {
            return None;
        }
        let m = (v * ONE as f64).round();
        if m.abs() >= 1.0e38 {
            return None;
        }
        Some(Decimal(m as i128))
    }
    /// Parses an exact decimal from ASCII bytes: optional sign, digits, optional fraction,
    /// optional exponent (`1.5e-5`). Surrounding ASCII whitespace is ignored.
    #[inline]
    pub fn parse_bytes(s: &[u8]) -> Result<Self, ModelError> {
        match parse_fast(s, SCALE) {
            Some(m) => Ok(Decimal(m)),
            None => parse_scaled(s, SCALE).map(Decimal),
        }
    }
}

impl Notional {
    /// Zero.
    pub const ZERO: Notional = Notional(0);
    /// Raw mantissa (value × 10¹⁸).
    #[inline]
    pub const fn mantissa(self) -> i128 {
        self.0
    }
    /// From a raw mantissa.
    #[inline]
    pub const fn from_mantissa(m: i128) -> Self {
        Notional(m)
    }
    /// Saturating sum.
    #[inline]
    pub const fn saturating_add(self, o: Self) -> Self {
        Notional(self.0.saturating_add(o.0))
    }
    /// `self / amount`, truncated toward zero to nine fractional digits (e.g. VWAP = Σpq / Σq).
    /// `None` when `amount` is zero or the quotient does not fit.
    #[inline]
    pub fn div_to_decimal(self, amount: Decimal) -> Option<Decimal> {
        // checked: i128::MIN / -1 (hostile negative amounts) is an overflow, not a panic
        self.0.checked_div(amount.0).map(Decimal)
    }
    /// Lossy conversion.
    pub fn to_f64(self) -> f64 {
        let one = 10i128.pow(NOTIONAL_SCALE);
        (self.0 / one) as f64 + (self.0 % one) as f64 / one as f64
    }
    /// Parses an exact notional (up to 18 fractional digits).
    pub fn parse_bytes(s: &[u8]) -> Result<Self, ModelError> {
        match parse_fast(s, NOTIONAL_SCALE) {
            Some(m) => Ok(Notional(m)),
            None => parse_scaled(s, NOTIONAL_SCALE).map(Notional),
        }
    }
}

/// Fast path for the common `[-]digits[.digits]` form with at most 18 digits and at most
/// `scale` fractional digits; `None` sends the input to the general parser.
#[inline]
fn parse_fast(s: &[u8], scale: u32) -> Option<i128> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    // at most 18 digits and one dot: the digits cannot overflow a u64, so one unchecked pass
    if body.is_empty() || body.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    let mut dot = usize::MAX;
    for (i, &b) in body.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            v = v.wrapping_mul(10).wrapping_add(d as u64);
        } else if b == b'.' && dot == usize::MAX {
            dot = i;
        } else {
            return None;
        }
    }
    let (digits, nf) = if dot == usize::MAX { (body.len(), 0) } else { (body.len() - 1, body.len() - 1 - dot) };
    if digits == 0 || digits > 18 || nf as u32 > scale {
        return None;
    }
    let m = v as i128 * crate::digits::POW10[(scale as usize) - nf] as i128;
    Some(if neg { -m } else { m })
}

fn err(s: &[u8], reason: &'static str) -> ModelError {
    ModelError::Decimal { input: crate::error::clip(s), reason }
}

/// Parses `s` into a mantissa at `scale` fractional digits, exactly or not at all.
fn parse_scaled(s: &[u8], scale: u32) -> Result<i128, ModelError> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return Err(err(s, "empty"));
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    // split off the exponent
    let (num, exp) = match body.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => {
            let e = &body[i + 1..];
            let (eneg, ed) = match e.first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if ed.is_empty() || ed.len() > 4 || !ed.iter().all(u8::is_ascii_digit) {
                return Err(err(s, "bad exponent"));
            }
            let mut v: i32 = 0;
            for &d in ed {
                v = v * 10 + (d - b'0') as i32;
            }
            (&body[..i], if eneg { -v } else { v })
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = match num.iter().position(|&b| b == b'.') {
        Some(i) => (&num[..i], &num[i + 1..]),
        None => (num, &num[num.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(err(s, "no digits"));
    }
    // trailing zeros of the fraction carry no value
    let mut frac = frac_part;
    while let [rest @ .., b'0'] = frac {
        frac = rest;
    }
    let mut m: i128 = 0;
    for &d in int_part.iter().chain(frac.iter()) {
        if !d.is_ascii_digit() {
            return Err(err(s, "unexpected character"));
        }
        if m == 0 && d == b'0' {
            continue;
        }
        m = m.checked_mul(10).and_then(|m| m.checked_add((d - b'0') as i128)).ok_or_else(|| err(s, "too many digits"))?;
    }
    if !frac_part[frac.len()..].iter().all(u8::is_ascii_digit) {
        return Err(err(s, "unexpected character"));
    }
    // value = m × 10^(exp − frac.len()); mantissa = value × 10^scale
    let shift = exp as i64 - frac.len() as i64 + scale as i64;
    let m = if m == 0 {
        0
    } else if shift >= 0 {
        if shift > 38 {
            return Err(err(s, "out of range"));
        }
        m.checked_mul(10i128.pow(shift as u32)).ok_or_else(|| err(s, "out of range"))?
    } else {
        let div = if -shift > 38 { None } else { Some(10i128.pow((-shift) as u32)) };
        match div {
            Some(d) if m % d == 0 => m / d,
            _ => return Err(ModelError::Precision { input: crate::error::clip(s), max: scale }),
        }
    };
    Ok(if neg { -m } else { m })
}

fn write_scaled(f: &mut fmt::Formatter<'_>, m: i128, scale: u32) -> fmt::Result {
    let one = 10u128.pow(scale);
    let a = m.unsigned_abs();
    let (int, frac) = (a / one, a % one);
    if m < 0 {
        f.write_str("-")?;
    }
    write!(f, "{int}")?;
    if frac != 0 {
        let mut digits = [b'0'; 18];
        let mut v = frac;
        for i in (0..scale as usize).rev() {
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let mut end = scale as usize;
        while digits[end - 1] == b'0' {
            end -= 1;
        }
        f.write_str(".")?;
        // SAFETY-free: digits are ASCII
        f.write_str(std::str::from_utf8(&digits[..end]).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, SCALE)
    }
}
impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, SCALE)
    }
}
impl fmt::Display for Notional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, NOTIONAL_SCALE)
    }
}
impl fmt::Debug for Notional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, NOTIONAL_SCALE)
    }
}

impl FromStr for Decimal {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse_bytes(s.as_bytes())
    }
}
impl FromStr for Notional {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Notional::parse_bytes(s.as_bytes())
    }
}

impl std::ops::Add for Decimal {
    type Output = Decimal;
    #[inline]
    fn add(self, o: Self) -> Self {
        self.saturating_add(o)
    }
}
impl std::ops::Sub for Decimal {
    type Output = Decimal;
    #[inline]
    fn sub(self, o: Self) -> Self {
        self.saturating_sub(o)
    }
}
impl std::ops::Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Self {
        Decimal(self.0.saturating_neg())
    }
}
impl std::ops::AddAssign for Decimal {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        *self = self.saturating_add(o)
    }
}
impl std::ops::SubAssign for Decimal {
    #[inline]
    fn sub_assign(&mut self, o: Self) {
        *self = self.saturating_sub(o)
    }
}
impl std::ops::AddAssign for Notional {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        *self = self.saturating_add(o)
    }
}

macro_rules! serde_decimal {
    ($t:ident, $parse:expr) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    s.serialize_i128(self.0)
                }
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a decimal string or number")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                        $parse(v.as_bytes()).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                        $parse(v.to_string().as_bytes()).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                        $parse(v.to_string().as_bytes()).map_err(E::custom)
                    }
                    fn visit_i128<E: de::Error>(self, v: i128) -> Result<$t, E> {
                        Ok($t(v))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$t, E> {
                        // Rust prints the shortest string that round-trips: the number as written.
                        $parse(format!("{v}").as_bytes()).map_err(E::custom)
                    }
                }
                if d.is_human_readable() {
                    d.deserialize_any(V)
                } else {
                    d.deserialize_i128(V)
                }
            }
        }
    };
}
serde_decimal!(Decimal, Decimal::parse_bytes);
serde_decimal!(Notional, Notional::parse_bytes);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vwap_division_cannot_panic_on_hostile_values() {
        // i128::MIN / -1 overflowed (a worker panic) when negative amounts reached a bar
        assert_eq!(Notional::from_mantissa(i128::MIN).div_to_decimal(Decimal::from_mantissa(-1)), None);
        assert_eq!(Notional::from_mantissa(10).div_to_decimal(Decimal::ZERO), None);
        assert_eq!(Notional::from_mantissa(10 * ONE * ONE).div_to_decimal(Decimal::from_int(2)), Some(Decimal::from_int(5)));
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        for (input, shown) in [
            ("105433.60000", "105433.6"),
            ("0.00027625", "0.00027625"),
            ("-1.5", "-1.5"),
            ("+2", "2"),
            ("0", "0"),
            ("0.000000000", "0"),
            ("1e-5", "0.00001"),
            ("1.5E3", "1500"),
            (" 7.25 ", "7.25"),
            (".5", "0.5"),
            ("5.", "5"),
            ("0.000000001", "0.000000001"),
            ("-0.5", "-0.5"),
            ("999999999.999999999", "999999999.999999999"),
            ("0000000000000000000001.5", "1.5"),
            ("123456789.123456789", "123456789.123456789"),
            ("12345678901234567.8", "12345678901234567.8"),
            ("0.100000000000", "0.1"),
            ("-.25", "-0.25"),
            ("123456789012345678901.000000001", "123456789012345678901.000000001"),
        ] {
            assert_eq!(d(input).to_string(), shown, "{input}");
        }
    }

    #[test]
    fn fast_path_agrees_with_the_general_parser() {
        let mut x: u64 = 11;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"0123456789012345678901234567890123456789.-";
        for _ in 0..200_000 {
            let len = 1 + next() as usize % 24;
            let s: Vec<u8> = (0..len).map(|_| alphabet[next() as usize % alphabet.len()]).collect();
            let general = parse_scaled(&s, SCALE).ok();
            if let Some(fast) = parse_fast(&s, SCALE) {
                assert_eq!(Some(fast), general, "{:?}", String::from_utf8_lossy(&s));
            }
            assert_eq!(Decimal::parse_bytes(&s).ok().map(|d| d.0), general, "{:?}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn rejects_rounding_and_garbage() {
        assert!(matches!("0.0000000001".parse::<Decimal>(), Err(ModelError::Precision { .. })));
        assert!("1.0000000001e1".parse::<Decimal>().is_ok()); // = 10.000000001
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "1e+", "12a", "nan", "1e99999"] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn sums_are_exact_where_f64_is_not() {
        let mut acc = Decimal::ZERO;
        for _ in 0..10 {
            acc += d("0.1");
        }
        assert_eq!(acc, d("1"));
        let f: f64 = (0..10).map(|_| 0.1).sum();
        assert_ne!(f, 1.0);
    }

    #[test]
    fn notional_and_vwap() {
        let n = d("105433.6").mul_notional(d("0.00027625"));
        assert_eq!(n.to_string(), "29.126032");
        let q = d("0.00027625") + d("0.00005");
        let n2 = n + d("105410.1").mul_notional(d("0.00005"));
        let vwap = n2.div_to_decimal(q).unwrap();
        // (29.126032 + 5.270505) / 0.00032625 = 105429.998467432… truncated
        assert_eq!(vwap.to_string(), "105429.998467432");
        assert!(Notional::ZERO.div_to_decimal(Decimal::ZERO).is_none());
    }

    impl std::ops::Add for Notional {
        type Output = Notional;
        fn add(self, o: Self) -> Self {
            self.saturating_add(o)
        }
    }

    #[test]
    fn to_f64_equals_parsing_the_string() {
        for s in ["2.37037", "3.652778", "0.1", "105433.6", "0.00027625", "-7.046875", "95000", "123456.789012345"] {
            assert_eq!(d(s).to_f64(), s.parse::<f64>().unwrap(), "{s}");
        }
    }

    #[test]
    fn money_multiplication_and_division() {
        assert_eq!(d("2.5").checked_mul(d("0.001")).unwrap(), d("0.0025"));
        // half to even at the ninth decimal
        assert_eq!(d("0.000000005").checked_mul(d("0.1")).unwrap(), d("0")); // 0.0000000005 → 0
        assert_eq!(d("0.000000015").checked_mul(d("0.1")).unwrap(), d("0.000000002"));
        assert_eq!(d("-0.000000015").checked_mul(d("0.1")).unwrap(), d("-0.000000002"));
        assert_eq!(d("95000").checked_div(d("2.37037")).unwrap().to_string(), "40078.131262208");
        assert_eq!(d("1").checked_div(d("3")).unwrap(), d("0.333333333"));
        assert!(d("1").checked_div(Decimal::ZERO).is_none());
    }

    #[test]
    fn serde_accepts_strings_and_numbers() {
        let v: Vec<Decimal> = serde_json::from_str(r#"["1.25", 3, 0.00141342, 23.0]"#).unwrap();
        assert_eq!(v, vec![d("1.25"), d("3"), d("0.00141342"), d("23")]);
        assert_eq!(serde_json::to_string(&d("0.5")).unwrap(), "\"0.5\"");
    }

    #[test]
    fn saturates_instead_of_panicking() {
        let big = Decimal::from_mantissa(i128::MAX);
        assert_eq!(big + big, big);
        assert_eq!(big.mul_notional(big).mantissa(), i128::MAX);
    }
}
