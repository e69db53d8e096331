//! [`MarketKind`]: what a CCXT unified symbol names — spot, a perpetual swap or a dated future,
//! linear or inverse. The market type always comes from the symbol, never from a default, so a
//! venue asked for a market it does not serve can say so instead of answering for another one.
//!
//! | symbol | kind |
//! |---|---|
//! | `BTC/USDT` | spot |
//! | `BTC/USDT:USDT` | linear perpetual (settled in the quote) |
//! | `BTC/USD:BTC` | inverse perpetual (settled in the base) |
//! | `BTC/USDT:USDT-251226` | linear future expiring 2025-12-26 |
//! | `BTC/USD:BTC-251226` | inverse future |
//! | `BTC/USDT:USDT-251226-100000-C` | option (not a market tickflow trades) |
//!
//! ```
//! use tickflow_model::MarketKind;
//! assert_eq!(MarketKind::of("BTC/USDT").unwrap(), MarketKind::Spot);
//! assert_eq!(MarketKind::of("BTC/USDT:USDT").unwrap(), MarketKind::LinearPerpetual);
//! assert_eq!(MarketKind::of("BTC/USD:BTC").unwrap(), MarketKind::InversePerpetual);
//! assert_eq!(MarketKind::of("ETH/USDT:USDT-251226").unwrap(), MarketKind::LinearFuture);
//! assert!(MarketKind::of("BTC/USDT:USDT-251226-100000-C").is_err());
//! ```

use crate::ModelError;

/// The kind of market a CCXT unified symbol names (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarketKind {
    /// `BASE/QUOTE`.
    Spot,
    /// `BASE/QUOTE:SETTLE`, settled in another asset than the base (usually the quote).
    LinearPerpetual,
    /// `BASE/QUOTE:BASE`: margined and settled in the base asset.
    InversePerpetual,
    /// `BASE/QUOTE:SETTLE-YYMMDD`, linear.
    LinearFuture,
    /// `BASE/QUOTE:BASE-YYMMDD`, inverse.
    InverseFuture,
}

impl MarketKind {
    /// Every kind, in table order.
    pub const ALL: [MarketKind; 5] =
        [MarketKind::Spot, MarketKind::LinearPerpetual, MarketKind::InversePerpetual, MarketKind::LinearFuture, MarketKind::InverseFuture];

    /// The kind of `symbol`; an error for what is not a spot, swap or future symbol (options,
    /// a missing base or quote, a malformed expiry).
    pub fn of(symbol: &str) -> Result<MarketKind, ModelError> {
        let bad = |reason: &'static str| ModelError::Name { what: "market symbol", input: crate::clip(symbol.as_bytes()), reason };
        let (pair, settle) = match symbol.split_once(':') {
            Some((p, s)) => (p, Some(s)),
            None => (symbol, None),
        };
        let (base, quote) = pair.split_once('/').ok_or_else(|| bad("expected BASE/QUOTE[:SETTLE[-YYMMDD]]"))?;
        if base.is_empty() || quote.is_empty() || quote.contains('/') {
            return Err(bad("expected BASE/QUOTE[:SETTLE[-YYMMDD]]"));
        }
        let Some(settle) = settle else { return Ok(MarketKind::Spot) };
        let mut parts = settle.split('-');
        let asset = parts.next().unwrap_or("");
        if asset.is_empty() {
            return Err(bad("empty settlement asset"));
        }
        let inverse = asset.eq_ignore_ascii_case(base);
        match (parts.next(), parts.next()) {
            (None, _) => Ok(if inverse { MarketKind::InversePerpetual } else { MarketKind::LinearPerpetual }),
            (Some(expiry), None) => {
                if expiry.len() != 6 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("a future's expiry is YYMMDD"));
                }
                let (m, d) = (expiry[2..4].parse::<u32>().unwrap_or(0), expiry[4..6].parse::<u32>().unwrap_or(0));
                if !(1..=12).contains(&m) || d == 0 || d > 31 {
                    return Err(bad("a future's expiry is YYMMDD"));
                }
                Ok(if inverse { MarketKind::InverseFuture } else { MarketKind::LinearFuture })
            }
            (Some(_), Some(_)) => Err(bad("options are not supported (spot, perpetual and dated futures are)")),
        }
    }

    /// Its name in messages and tables.
    pub fn name(self) -> &'static str {
        match self {
            MarketKind::Spot => "spot",
            MarketKind::LinearPerpetual => "linear perpetual",
            MarketKind::InversePerpetual => "inverse perpetual",
            MarketKind::LinearFuture => "linear future",
            MarketKind::InverseFuture => "inverse future",
        }
    }
}

impl std::fmt::Display for MarketKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::MarketKind::{self, *};

    #[test]
    fn kinds_follow_ccxt_unified_symbols() {
        for (symbol, kind) in [
            ("BTC/USDT", Spot),
            ("XRP/ETH", Spot),
            ("BTC/USDT:USDT", LinearPerpetual),
            ("ETH/USDC:USDC", LinearPerpetual),
            ("BTC/USD:BTC", InversePerpetual),
            ("ETH/USD:ETH", InversePerpetual),
            ("BTC/USDT:USDT-251226", LinearFuture),
            ("BTC/USD:BTC-220527", InverseFuture),
        ] {
            assert_eq!(MarketKind::of(symbol).unwrap(), kind, "{symbol}");
        }
        for bad in ["BTCUSDT", "/USDT", "BTC/", "BTC/USDT:", "BTC/USDT:USDT-2512", "BTC/USDT:USDT-251326", "BTC/USDT:USDT-251226-100000-C", "A/B/C"] {
            let e = MarketKind::of(bad).unwrap_err().to_string();
            assert!(e.contains("market symbol"), "{bad}: {e}");
        }
    }
}
