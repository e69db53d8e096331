//! Separator scanning for CSV: positions of `,`, `\n` and `"` in a buffer.
//!
//! Separators are dense in trade files (one every ~10 bytes), where iterator-style `memchr`
//! calls pay their setup per match. This scanner compares 16 bytes at a time (SSE2, part of the
//! x86_64 baseline) into a bitmask and walks the set bits; other targets use a scalar loop.

/// What a separator is.
pub const COMMA: u8 = 0;
/// A line feed.
pub const NEWLINE: u8 = 1;
/// A double quote.
pub const QUOTE: u8 = 2;

/// Iterator over `(position, kind)` of `,`, `\n` and `"` in `buf`.
pub struct Separators<'a> {
    buf: &'a [u8],
    /// Start of the current 16-byte block.
    block: usize,
    /// Remaining matches in the current block (bit i = `buf[block + i]`).
    mask: u32,
    /// Which of them are line feeds / quotes.
    nl: u32,
    quote: u32,
}

impl<'a> Separators<'a> {
    /// Scans `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        let mut s = Separators { buf, block: 0, mask: 0, nl: 0, quote: 0 };
        s.load(0);
        s
    }

    #[inline]
    fn load(&mut self, at: usize) {
        let rest = &self.buf[at.min(self.buf.len())..];
        let (c, n, q) = if rest.len() >= 16 {
            masks16(&rest[..16])
        } else {
            let (mut c, mut n, mut q) = (0u32, 0u32, 0u32);
            for (i, &b) in rest.iter().enumerate() {
                c |= ((b == b',') as u32) << i;
                n |= ((b == b'\n') as u32) << i;
                q |= ((b == b'"') as u32) << i;
            }
            (c, n, q)
        };
        self.mask = c | n | q;
        self.nl = n;
        self.quote = q;
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn masks16(chunk: &[u8]) -> (u32, u32, u32) {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    debug_assert!(chunk.len() >= 16);
    // SAFETY: SSE2 is part of the x86_64 baseline; the load is unaligned and reads exactly the
    // 16 bytes of `chunk`, which the caller guarantees are in bounds.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
        let c = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8))) as u32;
        let n = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u32;
        let q = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u32;
        (c, n, q)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn masks16(chunk: &[u8]) -> (u32, u32, u32) {
    let (mut c, mut n, mut q) = (0u32, 0u32, 0u32);
    for (i, &b) in chunk[..16].iter().enumerate() {
        c |= ((b == b',') as u32) << i;
        n |= ((b == b'\n') as u32) << i;
        q |= ((b == b'"') as u32) << i;
    }
    (c, n, q)
}

impl Iterator for Separators<'_> {
    type Item = (usize, u8);
    #[inline]
    fn next(&mut self) -> Option<(usize, u8)> {
        loop {
            if self.mask != 0 {
                let i = self.mask.trailing_zeros();
                self.mask &= self.mask - 1;
                let kind = ((self.nl >> i) & 1) as u8 | (((self.quote >> i) & 1) as u8) << 1;
                return Some((self.block + i as usize, kind));
            }
            self.block += 16;
            if self.block >= self.buf.len() {
                return None;
            }
            self.load(self.block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Separators, COMMA, NEWLINE, QUOTE};

    #[test]
    fn finds_exactly_the_separators() {
        let mut x: u64 = 3;
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    [b',', b'\n', b'"', b'a', b'1', b'.', 0xFF, b'\r'][(x % 8) as usize]
                })
                .collect();
            let want: Vec<(usize, u8)> = buf
                .iter()
                .enumerate()
                .filter_map(|(i, b)| match b {
                    b',' => Some((i, COMMA)),
                    b'\n' => Some((i, NEWLINE)),
                    b'"' => Some((i, QUOTE)),
                    _ => None,
                })
                .collect();
            assert_eq!(Separators::new(&buf).collect::<Vec<_>>(), want, "len {len}");
        }
    }
}
