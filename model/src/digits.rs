//! Fast parsing of ASCII digit strings (8 digits per step, SWAR).

/// Parses 1..=19 ASCII digits into a `u64`; `None` for anything else (empty, too long, a
/// non-digit). Eight digits are validated and combined per step with plain integer arithmetic.
#[inline]
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
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
        // combine: pairs, quads, octets (little-endian: first digit in the low byte)
        let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
        let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
        let d = (d.wrapping_mul(10_000) + (d >> 32)) & 0x0000_0000_FFFF_FFFF;
        v = v.checked_mul(100_000_000)?.checked_add(d)?;
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

#[cfg(test)]
mod tests {
    use super::parse_u64;

    #[test]
    fn agrees_with_std() {
        for s in ["0", "7", "12345678", "123456789", "1570752011620", "1762795433971744500", "9999999999999999999", "00000000", "0000000012"] {
            assert_eq!(parse_u64(s.as_bytes()), s.parse::<u64>().ok(), "{s}");
        }
        for s in ["", "12345678901234567890", "1234567a", "a2345678", "12345/78", "1234567:", "12 45678", "-1", "+1", "1.5"] {
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
