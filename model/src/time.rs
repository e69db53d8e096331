//! Event time: nanosecond timestamps, timeframes and timestamp parsing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Nanoseconds per unit.
pub const NANOS_PER_MICRO: i64 = 1_000;
/// Nanoseconds per millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;
/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A point in time: nanoseconds since the Unix epoch, UTC.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ts(pub i64);

impl Ts {
    /// From epoch milliseconds.
    pub const fn from_millis(ms: i64) -> Ts {
        Ts(ms * NANOS_PER_MILLI)
    }
    /// From epoch seconds.
    pub const fn from_secs(s: i64) -> Ts {
        Ts(s * NANOS_PER_SEC)
    }
    /// From epoch milliseconds; `None` past year 2262 (external input goes through this).
    #[inline]
    pub fn checked_from_millis(ms: i64) -> Option<Ts> {
        ms.checked_mul(NANOS_PER_MILLI).map(Ts)
    }
    /// From epoch seconds; `None` past year 2262.
    #[inline]
    pub fn checked_from_secs(s: i64) -> Option<Ts> {
        s.checked_mul(NANOS_PER_SEC).map(Ts)
    }
    /// From epoch microseconds; `None` past year 2262.
    #[inline]
    pub fn checked_from_micros(us: i64) -> Option<Ts> {
        us.checked_mul(NANOS_PER_MICRO).map(Ts)
    }
    /// From epoch seconds plus nanoseconds (`0 ≤ nanos < 10⁹`); `None` out of range.
    #[inline]
    pub fn checked_from_secs_nanos(s: i64, nanos: i64) -> Option<Ts> {
        if !(0..NANOS_PER_SEC).contains(&nanos) {
            return None;
        }
        s.checked_mul(NANOS_PER_SEC)?.checked_add(nanos).map(Ts)
    }
    /// Epoch nanoseconds.
    pub const fn nanos(self) -> i64 {
        self.0
    }
    /// Epoch milliseconds (floor).
    pub const fn millis(self) -> i64 {
        self.0.div_euclid(NANOS_PER_MILLI)
    }
    /// The wall clock now. Only live sources may call this; replay never does.
    pub fn now() -> Ts {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ts(d.as_nanos().min(i64::MAX as u128) as i64)
    }
    /// A non-negative integer epoch of fewer than 20 digits in s/ms/µs/ns, told apart by
    /// magnitude (the rule of [`parse_bytes`](Self::parse_bytes)); `None` past `i64::MAX` ns.
    #[inline]
    pub const fn from_epoch_auto(v: u64) -> Option<Ts> {
        if v > i64::MAX as u64 {
            return None;
        }
        let v = v as i64;
        // checked: 2·10¹⁰ seconds is past year 2262 and must not wrap into 2019
        let ns = if v < 100_000_000_000 {
            v.checked_mul(NANOS_PER_SEC)
        } else if v < 100_000_000_000_000 {
            v.checked_mul(NANOS_PER_MILLI)
        } else if v < 100_000_000_000_000_000 {
            v.checked_mul(NANOS_PER_MICRO)
        } else {
            Some(v)
        };
        match ns {
            Some(n) => Some(Ts(n)),
            None => None,
        }
    }
    /// Parses a timestamp: an integer epoch in s/ms/µs/ns (told apart by magnitude), a decimal
    /// number of epoch seconds (`1762795433.9717445`, exact to the nanosecond), or RFC 3339
    /// (`2019-10-11T00:00:11.620Z`, `…+02:00`).
    ///
    /// Magnitude rule for integers: |v| < 10¹¹ → seconds, < 10¹⁴ → milliseconds,
    /// < 10¹⁷ → microseconds, otherwise nanoseconds (the ranges meet around 1973 and 5138).
    #[inline]
    pub fn parse_bytes(s: &[u8]) -> Result<Ts, ModelError> {
        // fast path: a plain non-negative integer epoch
        if s.len() <= 19 {
            if let Some(ts) = crate::digits::parse_u64(s).and_then(Ts::from_epoch_auto) {
                return Ok(ts);
            }
        }
        let s = s.trim_ascii();
        let bad = |reason| ModelError::Timestamp { input: crate::error::clip(s), reason };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() >= 10 && s[4] == b'-' {
            return parse_rfc3339(s).ok_or_else(|| bad("not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM))"));
        }
        if s.iter().all(|b| b.is_ascii_digit() || *b == b'-') {
            let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
            if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad("not an integer epoch"));
            }
            let mut v: i128 = 0;
            for &d in digits {
                v = v * 10 + (d - b'0') as i128;
            }
            let ns = if v < 100_000_000_000 {
                v * NANOS_PER_SEC as i128
            } else if v < 100_000_000_000_000 {
                v * NANOS_PER_MILLI as i128
            } else if v < 100_000_000_000_000_000 {
                v * NANOS_PER_MICRO as i128
            } else {
                v
            };
            let ns = if neg { -ns } else { ns };
            return i64::try_from(ns).map(Ts).map_err(|_| bad("out of range"));
        }
        // decimal epoch seconds
        let d = crate::Decimal::parse_bytes(s).map_err(|_| bad("not a number or RFC 3339 time"))?;
        let ns = d.mantissa(); // scale 9 == nanoseconds
        i64::try_from(ns).map(Ts).map_err(|_| bad("out of range"))
    }
    /// Formats as RFC 3339 UTC with the shortest exact fraction.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut out = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60);
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }
}

impl fmt::Debug for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}
impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}
impl FromStr for Ts {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ts::parse_bytes(s.as_bytes())
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days in month `m` (1–12) of proleptic Gregorian year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn num(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |a, &d| a * 10 + (d - b'0') as i64))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fffffffff](Z|±HH:MM)`; a bare date is midnight UTC; a missing zone is UTC.
fn parse_rfc3339(s: &[u8]) -> Option<Ts> {
    let y = num(&s[0..4])?;
    if s.get(7) != Some(&b'-') {
        return None;
    }
    let mo = num(s.get(5..7)?)? as u32;
    let d = num(s.get(8..10)?)? as u32;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None; // 2024-02-31 is an error, not 2024-03-02
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut nanos = 0i64;
    let mut rest = &s[10..];
    if !rest.is_empty() {
        if !(rest[0] == b'T' || rest[0] == b't' || rest[0] == b' ') || rest.len() < 9 {
            return None;
        }
        let h = num(&rest[1..3])?;
        let mi = num(&rest[4..6])?;
        let se = num(&rest[7..9])?;
        if rest[3] != b':' || rest[6] != b':' || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + se;
        rest = &rest[9..];
        if rest.first() == Some(&b'.') {
            let end = rest[1..].iter().position(|b| !b.is_ascii_digit()).map_or(rest.len(), |p| p + 1);
            let frac = &rest[1..end];
            if frac.is_empty() || frac.len() > 9 {
                return None;
            }
            nanos = num(frac)? * 10i64.pow(9 - frac.len() as u32);
            rest = &rest[end..];
        }
        match rest {
            [] | [b'Z'] | [b'z'] => {}
            [sign @ (b'+' | b'-'), hh0, hh1, b':', mm0, mm1] => {
                let (oh, om) = (num(&[*hh0, *hh1])?, num(&[*mm0, *mm1])?);
                if oh > 23 || om > 59 {
                    return None; // +99:99 is not an offset
                }
                let off = oh * 3600 + om * 60;
                secs -= if *sign == b'+' { off } else { -off };
            }
            _ => return None,
        }
    }
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos).map(Ts)
}

/// The length of a tumbling bar window, aligned to the Unix epoch (UTC).
///
/// Windows are left-closed `[open, open + tf)` and labelled by their open time. Any positive
/// multiple of a second is allowed (`1s` … `1w`); weekly windows are epoch-aligned, i.e. they
/// open on Thursdays 00:00 UTC.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe {
    nanos: i64,
}

impl Timeframe {
    /// A timeframe of `secs` seconds.
    pub fn from_secs(secs: i64) -> Result<Self, ModelError> {
        if secs <= 0 || secs > 366 * 86_400 * 10 {
            return Err(ModelError::Timeframe { input: format!("{secs}s"), reason: "must be between 1s and 10 years" });
        }
        Ok(Timeframe { nanos: secs * NANOS_PER_SEC })
    }
    /// Length in nanoseconds.
    #[inline]
    pub const fn nanos(self) -> i64 {
        self.nanos
    }
    /// Length in seconds.
    pub const fn secs(self) -> i64 {
        self.nanos / NANOS_PER_SEC
    }
    /// Open time of the window containing `t`.
    #[inline]
    pub const fn open_of(self, t: Ts) -> Ts {
        Ts(t.0 - t.0.rem_euclid(self.nanos))
    }
    /// True when `self` windows are unions of `other` windows.
    pub const fn is_multiple_of(self, other: Timeframe) -> bool {
        self.nanos % other.nanos == 0
    }
}

impl FromStr for Timeframe {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = |reason| ModelError::Timeframe { input: s.to_string(), reason };
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| bad("missing unit (s, m, h, d, w)"))?;
        let (n, unit) = t.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad("missing count, e.g. 1m"))?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad("unknown unit; use s, m, h, d or w")),
        };
        Timeframe::from_secs(n.checked_mul(mult).ok_or_else(|| bad("too long"))?).map_err(|_| bad("must be between 1s and 10 years"))
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs();
        for (len, unit) in [(7 * 86_400, "w"), (86_400, "d"), (3600, "h"), (60, "m")] {
            if s % len == 0 {
                return write!(f, "{}{unit}", s / len);
            }
        }
        write!(f, "{s}s")
    }
}
impl fmt::Debug for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
crate::serde_as_text!(Timeframe);

/// Parses a comma-separated list of timeframes (`"1m,5m,1h"`), sorted and de-duplicated.
pub fn parse_timeframes(s: &str) -> Result<Vec<Timeframe>, ModelError> {
    let mut v = s.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect::<Result<Vec<Timeframe>, _>>()?;
    if v.is_empty() {
        return Err(ModelError::Timeframe { input: s.to_string(), reason: "no timeframe given" });
    }
    v.sort();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_by_magnitude_and_rfc3339() {
        let want = Ts(1_570_752_011_620_000_000);
        for s in [
            "1570752011620",
            "1570752011620000",
            "1570752011620000000",
            "1570752011.62",
            "2019-10-11T00:00:11.620Z",
            "2019-10-11T02:00:11.62+02:00",
            "2019-10-11 00:00:11.62",
        ] {
            assert_eq!(Ts::parse_bytes(s.as_bytes()).unwrap(), want, "{s}");
        }
        assert_eq!("1570752011".parse::<Ts>().unwrap(), Ts::from_secs(1_570_752_011));
        assert_eq!("1762795433.9717445".parse::<Ts>().unwrap(), Ts(1_762_795_433_971_744_500));
        assert_eq!("2019-10-11".parse::<Ts>().unwrap(), Ts::from_secs(1_570_752_000));
        for bad in ["", "x", "2019-13-01T00:00:00Z", "2019-10-11T25:00:00Z", "2019-10-11T00:00:00.1234567891Z", "99999999999999999999"] {
            assert!(bad.parse::<Ts>().is_err(), "{bad}");
        }
        assert_eq!(want.to_rfc3339(), "2019-10-11T00:00:11.62Z");
    }

    #[test]
    fn impossible_dates_offsets_and_overflowing_epochs_are_errors_not_wrapped() {
        for bad in [
            "2024-02-31T00:00:00Z",
            "2023-02-29",
            "2024-04-31T00:00:00Z",
            "2024-01-01T00:00:00+99:99",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00-05:60",
            "20000000000",          // 2·10¹⁰ s: year 2603, past i64 ns (wrapped to 2019-03-22 before)
            "9223372036854775807",  // i64::MAX ns is fine…
            "92233720368547758070", // …ten times it is not
        ] {
            let r = bad.parse::<Ts>();
            if bad == "9223372036854775807" {
                assert_eq!(r.unwrap(), Ts(i64::MAX));
            } else {
                assert!(r.is_err(), "{bad} parsed as {r:?}");
            }
        }
        assert_eq!("2024-02-29".parse::<Ts>().unwrap().to_rfc3339(), "2024-02-29T00:00:00Z");
        assert_eq!("2000-02-29".parse::<Ts>().unwrap().to_rfc3339(), "2000-02-29T00:00:00Z");
        assert!("1900-02-29".parse::<Ts>().is_err());
        assert_eq!(Ts::from_epoch_auto(20_000_000_000), None);
        assert_eq!(Ts::from_epoch_auto(9_223_372_036), Some(Ts(9_223_372_036_000_000_000)));
        assert_eq!(Ts::checked_from_millis(i64::MAX / 1000), None);
        assert_eq!(Ts::checked_from_millis(1_570_752_011_620), Some(Ts(1_570_752_011_620_000_000)));
        assert_eq!(Ts::checked_from_secs(10_000_000_000), None);
        assert_eq!(Ts::checked_from_micros(i64::MIN), None);
        assert_eq!(Ts::checked_from_secs_nanos(1, 1_000_000_000), None);
        assert_eq!(Ts::checked_from_secs_nanos(1, 5), Some(Ts(1_000_000_005)));
        // a long bad input is echoed clipped
        let long = format!("2024-{}", "9".repeat(100_000));
        let e = long.parse::<Ts>().unwrap_err().to_string();
        assert!(e.len() < 300, "{} bytes", e.len());
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 18_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn timeframes() {
        let tfs = parse_timeframes("1h, 1m,5m,1m").unwrap();
        assert_eq!(tfs.iter().map(|t| t.to_string()).collect::<Vec<_>>(), ["1m", "5m", "1h"]);
        assert_eq!("90s".parse::<Timeframe>().unwrap().to_string(), "90s");
        assert_eq!("1w".parse::<Timeframe>().unwrap().secs(), 604_800);
        for bad in ["", "m", "0m", "5x", "-1m", "1"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad}");
        }
        let m = Timeframe::from_secs(60).unwrap();
        assert_eq!(m.open_of(Ts(119_999_999_999)), Ts(60_000_000_000));
        assert_eq!(m.open_of(Ts(-1)), Ts(-60_000_000_000));
    }
}
