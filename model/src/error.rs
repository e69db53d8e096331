//! The one error type of the model crate.

use thiserror::Error;

/// Everything that can go wrong when building domain values from untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[allow(missing_docs)]
pub enum ModelError {
    /// A decimal string could not be parsed.
    #[error("invalid decimal {input:?}: {reason}")]
    Decimal { input: String, reason: &'static str },
    /// A decimal has more fractional digits than tickflow's fixed scale can hold exactly.
    #[error("decimal {input:?} has more than {max} significant fractional digits; tickflow keeps values exact and will not round")]
    Precision { input: String, max: u32 },
    /// Arithmetic left the representable range.
    #[error("decimal overflow in {op}")]
    Overflow { op: &'static str },
    /// A timestamp could not be parsed.
    #[error("invalid timestamp {input:?}: {reason}")]
    Timestamp { input: String, reason: &'static str },
    /// A timeframe string such as `1m` or `4h` could not be parsed.
    #[error("invalid timeframe {input:?}: {reason}")]
    Timeframe { input: String, reason: &'static str },
    /// A bar kind such as `tick:1000` or `volume:50` could not be parsed.
    #[error("invalid bar kind {input:?}: {reason}")]
    BarKind { input: String, reason: &'static str },
    /// A symbol or exchange name is malformed or too long.
    #[error("invalid {what} {input:?}: {reason}")]
    Name { what: &'static str, input: String, reason: &'static str },
    /// A side string is not buy/sell.
    #[error("invalid side {input:?}: expected buy, sell, b, s or empty")]
    Side { input: String },
    /// A wire record is of an unknown version or holds invalid values.
    #[error("invalid record: {0}")]
    Record(String),
}

impl ModelError {
    /// Whether trying again could succeed: never — a value that does not parse or does not fit
    /// stays bad. (Every variant is listed, so a new one must decide.)
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::Decimal { .. }
            | ModelError::Precision { .. }
            | ModelError::Overflow { .. }
            | ModelError::Timestamp { .. }
            | ModelError::Timeframe { .. }
            | ModelError::BarKind { .. }
            | ModelError::Name { .. }
            | ModelError::Side { .. }
            | ModelError::Record(_) => false,
        }
    }
}

/// At most this many bytes of an offending input are echoed in an error (the rest is counted).
pub const ECHO_MAX: usize = 64;

/// An offending input as text for an error message, clipped to [`ECHO_MAX`] bytes with the full
/// length noted: a 600 KB bad field must not become a 600 KB log line or dead-letter header.
pub fn clip(s: &[u8]) -> String {
    clip_to(s, ECHO_MAX)
}

/// `s` as text, clipped to `max` bytes (never inside a UTF-8 sequence) with the full length
/// noted when it is longer.
pub fn clip_to(s: &[u8], max: usize) -> String {
    if s.len() <= max {
        return String::from_utf8_lossy(s).into_owned();
    }
    let mut cut = max;
    while cut > 0 && (s[cut] & 0xC0) == 0x80 {
        cut -= 1; // do not split a UTF-8 sequence
    }
    format!("{}…({} bytes)", String::from_utf8_lossy(&s[..cut]), s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_clipped_with_their_length() {
        assert_eq!(clip(b"1.2.3"), "1.2.3");
        let long = "é".repeat(1000);
        let c = clip(long.as_bytes());
        assert!(c.len() < ECHO_MAX + 20 && c.ends_with("…(2000 bytes)"), "{c}");
        let e = "9".repeat(600_000).parse::<crate::Decimal>().unwrap_err().to_string();
        assert!(e.len() < 200, "{} bytes", e.len());
    }

    #[test]
    fn model_errors_are_not_retryable() {
        let cases = [
            ("1.2.3".parse::<crate::Decimal>().unwrap_err(), false),
            ("7x".parse::<crate::Timeframe>().unwrap_err(), false),
            (ModelError::Overflow { op: "mul" }, false),
            (ModelError::Record("v9".into()), false),
        ];
        for (e, retry) in cases {
            assert_eq!(e.is_retryable(), retry, "{e}");
        }
    }
}
