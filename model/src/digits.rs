//! Fast parsing of ASCII digit strings (8 digits per step, SWAR).

/// Parses 1..=20 ASCII digits into a `u64`; `None` for anything else (empty, too long, a
/// non-digit, above `u64::MAX`). Eight digits are validated and combined per step with plain integer arithmetic.
#[inline]
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    let mut rest = s;
    while rest.len() >= 8 {
        let chunk = u64::from_le_bytes([rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6], rest[7]]);
        let d = chunk.wrapping_sub(0x3030_3030_3030_3030);
        // every byte must be 0..=9: no borrow out of a byte, and no byte above 9
        let above_nine = d.wrapping_add(0x7676_7676_7676_7676);
        if (chunk & 0x8080_8080_8080_8080) != 0 || (d & 0x8080_8080_8080_8080) != 0 || (above_nine & 0x8080_8080_8080_8080) != 0 {
            return None;
        }
        v = v.checked_mul(100_000_000)?.checked_add(combine8(d))?;
        rest = &rest[8..];
    }
    for &b in rest {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// Eight digit values (bytes 0..=9, first digit in the low byte) as one number.
#[inline(always)]
fn combine8(d: u64) -> u64 {
    // pairs, quads, octets
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    (d.wrapping_mul(10_000) + (d >> 32)) & 0x0000_0000_FFFF_FFFF
}

/// Powers of ten that fit a `u64`.
pub const POW10: [u64; 19] = {
    let mut t = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The run of ASCII digits starting at `buf[p]`: `(value, count)`. Reads eight bytes per step.
/// The value is exact for counts up to 19 and wraps beyond (callers bound the count).
#[inline]
pub fn leading_digits(buf: &[u8], p: usize) -> (u64, usize) {
    let mut v: u64 = 0;
    let mut q = p;
    while let Some(bytes) = buf.get(q..q + 8) {
        let chunk = u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]);
        let d = chunk.wrapping_sub(0x3030_3030_3030_3030);
        // a byte is not a digit when it borrowed (below '0') or exceeds 9 (adding 0x76 sets its
        // top bit); borrows and carries only move upward, so the lowest flagged byte is exact
        let flags = (chunk | d | d.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
        if flags == 0 {
            v = v.wrapping_mul(100_000_000).wrapping_add(combine8(d));
            q += 8;
            continue;
        }
        let k = (flags.trailing_zeros() / 8) as usize;
        if k > 0 {
            // keep the k digits, shifted up so zeros lead
            v = v.wrapping_mul(POW10[k]).wrapping_add(combine8(d << (8 * (8 - k))));
        }
        return (v, q + k - p);
    }
    while q < buf.len() {
        let d = buf[q].wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(d as u64);
        q += 1;
    }
    (v, q - p)
}

#[cfg(test)]
mod tests {
    use super::{leading_digits, parse_u64};

    #[test]
    fn leading_digits_agree_with_a_scalar_scan() {
        let mut x: u64 = 11;
        for _ in 0..20_000 {
            let len = (x % 40) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // mostly digits, sometimes a separator or a byte just outside '0'..='9'
                    match x % 16 {
                        0 => b',',
                        1 => b'/',
                        2 => b':',
                        3 => 0xB0,
                        _ => b'0' + (x >> 8) as u8 % 10,
                    }
                })
                .collect();
            for p in 0..=buf.len() {
                let n = buf[p..].iter().take_while(|b| b.is_ascii_digit()).count();
                let (v, k) = leading_digits(&buf, p);
                assert_eq!(k, n, "{:?} at {p}", String::from_utf8_lossy(&buf));
                if n <= 19 {
                    let want = std::str::from_utf8(&buf[p..p + n]).unwrap().parse::<u64>().unwrap_or(0);
                    assert_eq!(v, want, "{:?} at {p}", String::from_utf8_lossy(&buf));
                }
            }
        }
    }

    #[test]
    fn agrees_with_std() {
        // 20 digits up to u64::MAX: hashed trade ids use the whole range (written, then unreadable
        // before)
        for s in [
            "0",
            "7",
            "12345678",
            "123456789",
            "1570752011620",
            "1762795433971744500",
            "9999999999999999999",
            "00000000",
            "0000000012",
            "12345678901234567890",
            "18446744073709551615",
        ] {
            assert_eq!(parse_u64(s.as_bytes()), s.parse::<u64>().ok(), "{s}");
        }
        for s in [
            "",
            "18446744073709551616",
            "99999999999999999999",
            "123456789012345678901",
            "1234567a",
            "a2345678",
            "12345/78",
            "1234567:",
            "12 45678",
            "-1",
            "+1",
            "1.5",
        ] {
            assert_eq!(parse_u64(s.as_bytes()), None, "{s}");
        }
        // every single-byte corruption of an 8-digit block is rejected
        for pos in 0..8 {
            for b in 0u8..=255 {
                if b.is_ascii_digit() {
                    continue;
                }
                let mut s = *b"12345678";
                s[pos] = b;
                assert_eq!(parse_u64(&s), None, "{s:?}");
            }
        }
    }
}
