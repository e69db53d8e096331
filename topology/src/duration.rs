//! Human durations for flags: `0`, `500ms`, `5s`, `1m`, `2h`, `250us`, `10ns`.

use anyhow::{bail, Result};

/// Parses a duration into nanoseconds.
pub fn parse_nanos(s: &str) -> Result<i64> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let Ok(n) = n.parse::<i64>() else { bail!("invalid duration {s:?}: expected e.g. 500ms, 5s, 1m") };
    let mult: i64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => bail!("invalid duration {s:?}: unit must be ns, us, ms, s, m, h or d"),
    };
    n.checked_mul(mult).ok_or_else(|| anyhow::anyhow!("duration {s:?} is too long"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_nanos("5s").unwrap(), 5_000_000_000);
        assert_eq!(super::parse_nanos("0").unwrap(), 0);
        assert_eq!(super::parse_nanos("250ms").unwrap(), 250_000_000);
        assert!(super::parse_nanos("5").is_err());
        assert!(super::parse_nanos("x").is_err());
        assert!(super::parse_nanos("5y").is_err());
    }
}
