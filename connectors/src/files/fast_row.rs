//! Single-pass parsing of one trade CSV row in its common shape.
//!
//! Trade files are mostly plain rows such as
//! `1735689600245758107,ETH/USDT,3400.02,0.17823468,1000001,sell`: unquoted fields, integer
//! epochs, plain decimals. [`parse_row`] reads such a row left to right exactly once, parsing
//! each field while looking for its terminator, with no separate separator scan and no field
//! table. Anything else — a quote, a field it does not read exactly, a short or long row, a
//! row cut off at the end of the buffer — returns `None`, and the reader parses that row with
//! the general, quote-aware path, which also produces the error message. Both paths yield the
//! same values for every row the fast path accepts.

use tickflow_model::digits::POW10;
use tickflow_model::{Decimal, Side, Ts};

/// What a column holds, in header order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ts,
    Symbol,
    Price,
    Amount,
    Id,
    Side,
    Exchange,
    Ingest,
    Skip,
}

/// One plainly parsed row; `symbol`/`exchange` are the raw field bytes when present.
pub(crate) struct Row<'a> {
    pub ts: i64,
    pub price: Decimal,
    pub amount: Decimal,
    pub id: Option<u64>,
    pub side: Side,
    pub ingest: Option<i64>,
    pub symbol: Option<&'a [u8]>,
    pub exchange: Option<&'a [u8]>,
    /// The symbol and exchange fields' bytes packed for a quick cache lookup (`None` when a
    /// field is longer than 16 bytes or near the end of the buffer); 0 for an absent field.
    pub key: Option<(u128, u128)>,
}

/// Digits from `p`: (value, digit count, position after them); the value is exact up to 19
/// digits (callers reject longer runs).
#[inline(always)]
fn digits(buf: &[u8], p: usize) -> (u64, usize, usize) {
    let (v, n) = tickflow_model::digits::leading_digits(buf, p);
    (v, n, p + n)
}

/// Up to 16 bytes of `buf[p..e]` as a number (a cache key), when the field is that short and
/// 16 bytes are readable from `p`.
#[inline(always)]
fn key16(buf: &[u8], p: usize, e: usize) -> Option<u128> {
    let n = e - p;
    let bytes: [u8; 16] = buf.get(p..p + 16)?.try_into().ok()?;
    let v = u128::from_le_bytes(bytes);
    match n {
        16 => Some(v),
        0..16 => Some(v & ((1u128 << (8 * n)) - 1)),
        _ => None,
    }
}

/// Position of the end of the unquoted field starting at `p` (a `,`, `\r` or `\n`); `None` on
/// a quote or when the buffer ends first.
#[inline(always)]
fn field_end(buf: &[u8], mut p: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // eight bytes per step: a byte equal to one of the stops becomes zero after the xor, and
    // `(x - 1) & !x & 0x80` flags zero bytes exactly up to the first one (the lowest flag)
    #[inline(always)]
    fn zeros(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    while let Some(bytes) = buf.get(p..p + 8) {
        let c = u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]);
        let hit = zeros(c ^ (ONES * b',' as u64)) | zeros(c ^ (ONES * b'\n' as u64)) | zeros(c ^ (ONES * b'\r' as u64)) | zeros(c ^ (ONES * b'"' as u64));
        if hit != 0 {
            let q = p + (hit.trailing_zeros() / 8) as usize;
            return (buf[q] != b'"').then_some(q);
        }
        p += 8;
    }
    while p < buf.len() {
        match buf[p] {
            b',' | b'\n' | b'\r' => return Some(p),
            b'"' => return None,
            _ => p += 1,
        }
    }
    None
}

/// An integer epoch, or any other timestamp form through [`Ts::parse_bytes`].
#[inline(always)]
fn timestamp(buf: &[u8], p: usize) -> Option<(i64, usize)> {
    let (v, n, e) = digits(buf, p);
    if n > 0 && n <= 19 && e < buf.len() && matches!(buf[e], b',' | b'\n' | b'\r') {
        return Ts::from_epoch_auto(v).map(|t| (t.0, e));
    }
    let e = field_end(buf, p)?;
    Ts::parse_bytes(&buf[p..e]).ok().map(|t| (t.0, e))
}

/// A non-negative decimal `digits[.digits]` (≤ 18 digits, ≤ 9 after the point), or any other
/// form through [`Decimal::parse_bytes`].
#[inline(always)]
fn decimal(buf: &[u8], p: usize) -> Option<(Decimal, usize)> {
    let (int, ni, e) = digits(buf, p);
    let (v, nd, nf, e) = if e < buf.len() && buf[e] == b'.' {
        let (frac, nf, e2) = digits(buf, e + 1);
        // `int` has ni ≤ 18 digits when accepted below, so this cannot overflow then
        (int.wrapping_mul(POW10[nf.min(9)]).wrapping_add(frac), ni + nf, nf, e2)
    } else {
        (int, ni, 0, e)
    };
    if nd > 0 && nd <= 18 && nf <= 9 && e < buf.len() && matches!(buf[e], b',' | b'\n' | b'\r') {
        return Some((Decimal::from_mantissa(v as i128 * POW10[9 - nf] as i128), e));
    }
    let e = field_end(buf, p)?;
    Decimal::parse_bytes(&buf[p..e]).ok().map(|d| (d, e))
}

/// The column plan of the core layout `timestamp,symbol,price,amount,trade_id,side` (what
/// `tickflow` itself writes). Passing this constant to [`parse_row`] lets the compiler unroll
/// the field loop for it.
pub(crate) const CORE_PLAN: [Kind; 6] = [Kind::Ts, Kind::Symbol, Kind::Price, Kind::Amount, Kind::Id, Kind::Side];

/// Parses the row at the start of `buf` with the columns `plan`; returns the bytes consumed
/// (through the line feed) and the values, or `None` for the general path.
#[inline(always)]
pub(crate) fn parse_row<'a>(buf: &'a [u8], plan: &[Kind]) -> Option<(usize, Row<'a>)> {
    let mut row = Row {
        ts: 0,
        price: Decimal::ZERO,
        amount: Decimal::ZERO,
        id: None,
        side: Side::Unknown,
        ingest: None,
        symbol: None,
        exchange: None,
        key: Some((0, 0)),
    };
    let mut p = 0usize;
    let last = plan.len().checked_sub(1)?;
    for (i, kind) in plan.iter().enumerate() {
        let e = match kind {
            Kind::Ts => {
                let (t, e) = timestamp(buf, p)?;
                row.ts = t;
                e
            }
            Kind::Ingest => {
                let (t, e) = timestamp(buf, p)?;
                row.ingest = Some(t);
                e
            }
            Kind::Price => {
                let (d, e) = decimal(buf, p)?;
                row.price = d;
                e
            }
            Kind::Amount => {
                let (d, e) = decimal(buf, p)?;
                row.amount = d;
                e
            }
            Kind::Id => {
                let (v, n, e) = digits(buf, p);
                if n > 19 || e >= buf.len() || !matches!(buf[e], b',' | b'\n' | b'\r') {
                    return None; // `12.0`, spaces, …: general path
                }
                row.id = (n > 0).then_some(v);
                e
            }
            Kind::Side => {
                let e = field_end(buf, p)?;
                row.side = Side::parse_bytes(&buf[p..e]).ok()?;
                e
            }
            Kind::Symbol => {
                let e = field_end(buf, p)?;
                row.symbol = Some(&buf[p..e]);
                row.key = row.key.zip(key16(buf, p, e)).map(|((_, x), s)| (s, x));
                e
            }
            Kind::Exchange => {
                let e = field_end(buf, p)?;
                row.exchange = Some(&buf[p..e]);
                row.key = row.key.zip(key16(buf, p, e)).map(|((s, _), x)| (s, x));
                e
            }
            Kind::Skip => field_end(buf, p)?,
        };
        // terminator: `,` between fields; `\n` or `\r\n` after the last one
        let b = buf[e];
        if i < last {
            if b != b',' {
                return None;
            }
            p = e + 1;
        } else if b == b'\n' {
            return Some((e + 1, row));
        } else if b == b'\r' && buf.get(e + 1) == Some(&b'\n') {
            return Some((e + 2, row));
        } else {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{parse_row, Kind};
    use tickflow_model::{Decimal, Side, Ts};

    const PLAN: [Kind; 6] = [Kind::Ts, Kind::Symbol, Kind::Price, Kind::Amount, Kind::Id, Kind::Side];

    #[test]
    fn plain_rows_parse_like_the_general_parsers() {
        let rows: [&[u8]; 6] = [
            b"1735689600245758107,ETH/USDT,3400.02,0.17823468,1000001,sell\n",
            b"1570752011620,XRP/ETH,0.00141342,23.0,13519807,buy\r\n",
            b"1570752011,XRP/ETH,.5,7.,,\n",
            b"2019-10-11T00:00:11.620Z,XRP/ETH,100,0.123456789,1,B\n",
            b"1570752011620,VERYLONGBASENAME/USDT,1,2,3,s\n",
            b"1762795433.9717445,BTC/USD,95000,000000000000000001,42,unknown\n",
        ];
        for line in rows {
            let (n, r) = parse_row(line, &PLAN).unwrap_or_else(|| panic!("{:?}", String::from_utf8_lossy(line)));
            assert_eq!(n, line.len());
            let text = std::str::from_utf8(line).unwrap().trim_end();
            let f: Vec<&str> = text.split(',').collect();
            assert_eq!(Ts(r.ts), Ts::parse_bytes(f[0].as_bytes()).unwrap(), "{text}");
            assert_eq!(r.symbol, Some(f[1].as_bytes()));
            assert_eq!(r.price, Decimal::parse_bytes(f[2].as_bytes()).unwrap(), "{text}");
            assert_eq!(r.amount, Decimal::parse_bytes(f[3].as_bytes()).unwrap(), "{text}");
            assert_eq!(r.id, f[4].parse::<u64>().ok());
            assert_eq!(r.side, Side::parse_bytes(f[5].as_bytes()).unwrap());
        }
    }

    #[test]
    fn field_ends_agree_with_a_scalar_scan() {
        let mut x: u64 = 5;
        for _ in 0..20_000 {
            let len = (x % 30) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    [b',', b'\n', b'\r', b'"', b'a', b'+', b'-', b'\x0b', b'\x2b', 0x81, b'/', b'1', b'2', b'3', b'4', b'5'][(x % 16) as usize]
                })
                .collect();
            for p in 0..=buf.len() {
                let want = buf[p..].iter().position(|b| matches!(b, b',' | b'\n' | b'\r' | b'"')).map(|i| p + i).filter(|&q| buf[q] != b'"');
                assert_eq!(super::field_end(&buf, p), want, "{buf:?} at {p}");
            }
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_general_path() {
        for line in [
            &b"1735689600245758107,\"ETH/USDT\",3400.02,0.1,1,sell\n"[..],
            b"1735689600245758107,ETH/USDT,3400.02,0.1,1,sell",           // no line end yet
            b"1735689600245758107,ETH/USDT,3400.02,0.1,1\n",              // short row
            b"1735689600245758107,ETH/USDT,3400.02,0.1,1,sell,extra\n",   // long row
            b"1735689600245758107,ETH/USDT,3400.02,0.1,12.0,sell\n",      // id with a point
            b"1735689600245758107,ETH/USDT,abc,0.1,1,sell\n",             // bad price
            b"1735689600245758107,ETH/USDT,3400.02,0.1,1,sideways\n",     // bad side
            b"99999999999999999999,ETH/USDT,3400.02,0.1,1,sell\n",        // 20 digits
            b"9300000000000000000,ETH/USDT,3400.02,0.1,1,sell\n",         // past i64
            b"1735689600245758107,ETH/USDT,3400.0000000001,0.1,1,sell\n", // 10 decimals
            b"\n",
        ] {
            assert!(parse_row(line, &PLAN).is_none(), "{:?}", String::from_utf8_lossy(line));
        }
    }
}
