//! Instruments: an exchange id plus a CCXT-style symbol (`BASE/QUOTE[:SETTLE]`).
//!
//! Both names live inline in fixed-capacity, `Copy` strings so trades can cross timely worker
//! and process boundaries without heap allocations; the instrument also carries a stable 64-bit
//! id (FNV-1a of `exchange:symbol`), identical in every process, used to partition data across
//! workers and to key per-instrument state.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// An inline ASCII/UTF-8 string of at most `N` bytes.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SmallStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> SmallStr<N> {
    /// Copies `s`, failing when it is longer than `N` bytes.
    pub fn new(s: &str) -> Option<Self> {
        if s.len() > N || N > 255 {
            return None;
        }
        let mut bytes = [0u8; N];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(SmallStr { len: s.len() as u8, bytes })
    }
    /// The string.
    pub fn as_str(&self) -> &str {
        // Constructed only from &str, so always valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}
impl<const N: usize> Hash for SmallStr<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}
impl<const N: usize> fmt::Display for SmallStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl<const N: usize> fmt::Debug for SmallStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Longest exchange id.
pub const EXCHANGE_MAX: usize = 23;
/// Longest symbol.
pub const SYMBOL_MAX: usize = 39;

/// A tradable instrument on one exchange.
///
/// Ordered by `(exchange, symbol)`; equality and hashing use the names (the id is derived).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instrument {
    exchange: SmallStr<EXCHANGE_MAX>,
    symbol: SmallStr<SYMBOL_MAX>,
    id: u64,
}

/// FNV-1a, 64 bit: stable across processes, platforms and releases (unlike `DefaultHasher`).
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= b':' as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Instrument {
    /// Validates and builds an instrument. The exchange id is lower-cased ASCII
    /// (`binance`, `kraken`, `coinbase`); the symbol must look like `BASE/QUOTE` or
    /// `BASE/QUOTE:SETTLE` (CCXT's unified form), upper-cased.
    pub fn new(exchange: &str, symbol: &str) -> Result<Self, ModelError> {
        // bounded before any copy: a hostile 100 MB name costs nothing
        if exchange.len() > 4 * EXCHANGE_MAX {
            return Err(ModelError::Name { what: "exchange", input: crate::error::clip(exchange.as_bytes()), reason: "longer than 23 bytes" });
        }
        if symbol.len() > 4 * SYMBOL_MAX {
            return Err(ModelError::Name { what: "symbol", input: crate::error::clip(symbol.as_bytes()), reason: "longer than 39 bytes" });
        }
        let ex = exchange.trim().to_ascii_lowercase();
        if ex.is_empty() || !ex.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
            return Err(ModelError::Name { what: "exchange", input: crate::error::clip(exchange.as_bytes()), reason: "use letters, digits, '_', '-' or '.'" });
        }
        let sym = symbol.trim().to_ascii_uppercase();
        let (pair, _settle) = sym.split_once(':').unwrap_or((&sym, ""));
        let ok = match pair.split_once('/') {
            Some((b, q)) => !b.is_empty() && !q.is_empty() && !q.contains('/'),
            None => false,
        };
        if !ok || sym.bytes().any(|b| b == b',' || b == b'"' || b.is_ascii_whitespace() || !b.is_ascii_graphic()) {
            return Err(ModelError::Name {
                what: "symbol",
                input: crate::error::clip(symbol.as_bytes()),
                reason: "expected CCXT form BASE/QUOTE, e.g. BTC/USDT",
            });
        }
        let exchange_s = SmallStr::new(&ex).ok_or_else(|| ModelError::Name {
            what: "exchange",
            input: crate::error::clip(exchange.as_bytes()),
            reason: "longer than 23 bytes",
        })?;
        let symbol_s = SmallStr::new(&sym).ok_or_else(|| ModelError::Name {
            what: "symbol",
            input: crate::error::clip(symbol.as_bytes()),
            reason: "longer than 39 bytes",
        })?;
        Ok(Instrument { exchange: exchange_s, symbol: symbol_s, id: fnv1a64(&[ex.as_bytes(), sym.as_bytes()]) })
    }
    /// Exchange id, e.g. `kraken`.
    pub fn exchange(&self) -> &str {
        self.exchange.as_str()
    }
    /// CCXT symbol, e.g. `BTC/USDT`.
    pub fn symbol(&self) -> &str {
        self.symbol.as_str()
    }
    /// Base currency.
    pub fn base(&self) -> &str {
        self.symbol().split('/').next().unwrap_or("")
    }
    /// Quote currency (settlement suffix removed).
    pub fn quote(&self) -> &str {
        let q = self.symbol().split('/').nth(1).unwrap_or("");
        q.split(':').next().unwrap_or(q)
    }
    /// Stable 64-bit id (FNV-1a of `exchange:symbol`), used for partitioning and state keys.
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The key to route this instrument's data to a worker by (timely exchanges take its low
    /// bits when the worker count is a power of two). FNV-1a's lowest bit is only the parity of
    /// the name's bytes, so the id itself would put e.g. BTC/USDT and ETH/USDT on the same one
    /// of two workers for a reason unrelated to load; a 64-bit finaliser mixes every bit into
    /// the low ones. Deterministic: the same instrument always lands on the same worker.
    #[inline]
    pub fn route(&self) -> u64 {
        let mut k = self.id;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
    /// The Kafka-style key `exchange:symbol`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.exchange(), self.symbol())
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.exchange(), self.symbol())
    }
}
impl fmt::Debug for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.exchange(), self.symbol())
    }
}

#[derive(Serialize, Deserialize)]
struct InstrumentRepr<'a> {
    exchange: std::borrow::Cow<'a, str>,
    symbol: std::borrow::Cow<'a, str>,
}
impl Serialize for Instrument {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        InstrumentRepr { exchange: self.exchange().into(), symbol: self.symbol().into() }.serialize(s)
    }
}
impl<'de> Deserialize<'de> for Instrument {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = InstrumentRepr::deserialize(d)?;
        Instrument::new(&r.exchange, &r.symbol).map_err(serde::de::Error::custom)
    }
}

/// The aggressor (taker) side of a trade.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The buyer was the taker.
    Buy,
    /// The seller was the taker.
    Sell,
    /// The venue does not say.
    #[default]
    Unknown,
}

impl Side {
    /// `buy`/`b`, `sell`/`s` (any case, surrounding spaces ignored); empty or `unknown` is Unknown.
    #[inline(always)]
    pub fn parse_bytes(s: &[u8]) -> Result<Side, ModelError> {
        // exact lower-case forms, compared inline (slice patterns would call memcmp); the rest
        // out of line so this stays small enough to inline into row parsers
        match s.len() {
            1 if s[0] == b'b' => Ok(Side::Buy),
            1 if s[0] == b's' => Ok(Side::Sell),
            3 if s[0] == b'b' && s[1] == b'u' && s[2] == b'y' => Ok(Side::Buy),
            4 if s[0] == b's' && s[1] == b'e' && s[2] == b'l' && s[3] == b'l' => Ok(Side::Sell),
            _ => Self::parse_bytes_general(s),
        }
    }

    #[cold]
    #[inline(never)]
    fn parse_bytes_general(s: &[u8]) -> Result<Side, ModelError> {
        let t = s.trim_ascii();
        if t.eq_ignore_ascii_case(b"buy") || t.eq_ignore_ascii_case(b"b") {
            Ok(Side::Buy)
        } else if t.eq_ignore_ascii_case(b"sell") || t.eq_ignore_ascii_case(b"s") {
            Ok(Side::Sell)
        } else if t.is_empty() || t.eq_ignore_ascii_case(b"unknown") {
            Ok(Side::Unknown)
        } else {
            Err(ModelError::Side { input: crate::error::clip(s) })
        }
    }
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
            Side::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_keys_spread_over_workers_where_raw_ids_follow_byte_parity() {
        let names: Vec<String> = (0..256).map(|i| format!("S{:03}/USDT", i * 7 % 1000)).collect();
        let insts: Vec<Instrument> = names.iter().map(|n| Instrument::new("binance", n).unwrap()).collect();
        for i in &insts {
            // the raw id's low bit is exactly the parity of the bytes of exchange:symbol
            let parity = i.key().bytes().fold(0u64, |a, b| a ^ (b as u64 & 1)) ^ (0xcbf2_9ce4_8422_2325 & 1);
            assert_eq!(i.id() & 1, parity);
        }
        // every residue class of 2 and 4 workers gets a fair share of route keys
        for workers in [2u64, 4] {
            let mut counts = vec![0usize; workers as usize];
            insts.iter().for_each(|i| counts[(i.route() % workers) as usize] += 1);
            let fair = insts.len() / workers as usize;
            assert!(counts.iter().all(|&c| c > fair / 2 && c < fair * 3 / 2), "{workers} workers: {counts:?}");
        }
        assert_eq!(insts[0].route(), Instrument::new("binance", &names[0]).unwrap().route());
    }

    use super::*;

    #[test]
    fn instruments_validate_and_hash_stably() {
        let a = Instrument::new("Kraken", "btc/usdt").unwrap();
        assert_eq!(a.exchange(), "kraken");
        assert_eq!(a.symbol(), "BTC/USDT");
        assert_eq!(a.base(), "BTC");
        assert_eq!(a.quote(), "USDT");
        assert_eq!(a.id(), fnv1a64(&[b"kraken", b"BTC/USDT"]));
        // pinned value: ids must never change between releases (they key persisted state)
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63dc4c8601ec8c);
        let p = Instrument::new("bybit", "BTC/USDT:USDT").unwrap();
        assert_eq!(p.quote(), "USDT");
        for bad in ["BTCUSDT", "/USDT", "BTC/", "BTC/USD/T", "BTC /USDT", "A,B/C"] {
            assert!(Instrument::new("x", bad).is_err(), "{bad}");
        }
        assert!(Instrument::new("", "BTC/USDT").is_err());
        assert!(Instrument::new("x", &format!("{}/USDT", "A".repeat(40))).is_err());
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, r#"{"exchange":"kraken","symbol":"BTC/USDT"}"#);
        assert_eq!(serde_json::from_str::<Instrument>(&j).unwrap(), a);
    }

    #[test]
    fn sides() {
        assert_eq!(Side::parse_bytes(b" sell").unwrap(), Side::Sell);
        assert_eq!(Side::parse_bytes(b"sell ").unwrap(), Side::Sell);
        assert_eq!(Side::parse_bytes(b"B").unwrap(), Side::Buy);
        assert_eq!(Side::parse_bytes(b"").unwrap(), Side::Unknown);
        assert!(Side::parse_bytes(b"long").is_err());
    }
}
