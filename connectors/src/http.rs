//! A blocking HTTP client for venue REST APIs with the retry rules every connector needs.
//!
//! - 429 / 418 (rate limited / banned) and 5xx: wait, then retry. The wait is the server's
//!   `Retry-After` (seconds or an HTTP date) when given, else capped exponential backoff with
//!   full jitter (`rand(0, min(cap, base · 2^attempt))`).
//! - other 4xx: a clear error with the body (never retried).
//! - transport errors (connection refused/reset, timeouts): retried like 5xx.
//!
//! Base URLs are always configurable, so tests and proxies point connectors at 127.0.0.1.

use std::time::Duration;

use crate::ConnectorError;

/// Retry settings.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First backoff step.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
    /// Attempts after the first.
    pub max_retries: u32,
    /// Jitter seed (fixed in tests).
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_millis(250), cap: Duration::from_secs(30), max_retries: 8, seed: 0x5eed }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `attempt` (0-based), with full jitter.
    pub fn backoff(&self, attempt: u32, rng: &mut u64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(20));
        let ceiling = exp.min(self.cap).as_nanos() as u64;
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        Duration::from_nanos(if ceiling == 0 { 0 } else { *rng % (ceiling + 1) })
    }
}

/// Parses `Retry-After`: delta seconds, or an HTTP date relative to `now` (epoch seconds).
pub fn retry_after(value: &str, now_secs: i64) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT"
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() == 6 && parts[5] == "GMT" {
        let day: u32 = parts[1].parse().ok()?;
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == parts[2])? as u32 + 1;
        let year: i64 = parts[3].parse().ok()?;
        let hms: Vec<i64> = parts[4].split(':').map(|x| x.parse().ok()).collect::<Option<Vec<_>>>()?;
        if hms.len() != 3 {
            return None;
        }
        let at = tickflow_model::days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
        return Some(Duration::from_secs((at - now_secs).max(0) as u64));
    }
    None
}

/// Counters a client keeps (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests sent.
    pub requests: u64,
    /// Retries after 429/418.
    pub rate_limited: u64,
    /// Retries after 5xx or transport errors.
    pub server_errors: u64,
}

/// The client.
pub struct HttpClient {
    agent: ureq::Agent,
    policy: RetryPolicy,
    rng: u64,
    headers: Vec<(String, String)>,
    /// Counters.
    pub stats: HttpStats,
}

impl HttpClient {
    /// A client with a request timeout.
    pub fn new(policy: RetryPolicy, timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(timeout).user_agent(concat!("tickflow/", env!("CARGO_PKG_VERSION"))).build();
        HttpClient { agent, rng: policy.seed | 1, policy, headers: Vec::new(), stats: HttpStats::default() }
    }

    /// Sends `name: value` with every request (e.g. an API key). Header values are never logged.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// GET `url`, retrying per the policy; the body on 2xx.
    pub fn get(&mut self, url: &str) -> Result<String, ConnectorError> {
        let mut attempt = 0;
        loop {
            self.stats.requests += 1;
            let mut req = self.agent.get(url);
            for (k, v) in &self.headers {
                req = req.set(k, v);
            }
            let wait = match req.call() {
                Ok(resp) => return resp.into_string().map_err(|e| ConnectorError::io(url, e)),
                Err(ureq::Error::Status(code, resp)) => {
                    let after = resp.header("Retry-After").and_then(|h| retry_after(h, tickflow_model::Ts::now().0 / 1_000_000_000));
                    match code {
                        429 | 418 => {
                            self.stats.rate_limited += 1;
                            tracing::warn!(url, code, "rate limited");
                            after.unwrap_or_else(|| self.policy.backoff(attempt, &mut self.rng))
                        }
                        500..=599 => {
                            self.stats.server_errors += 1;
                            tracing::warn!(url, code, "server error");
                            after.unwrap_or_else(|| self.policy.backoff(attempt, &mut self.rng))
                        }
                        _ => {
                            let body = resp.into_string().unwrap_or_default();
                            return Err(ConnectorError::Http { url: url.into(), status: code, body: body.chars().take(300).collect() });
                        }
                    }
                }
                Err(ureq::Error::Transport(t)) => {
                    self.stats.server_errors += 1;
                    tracing::warn!(url, error = %t, "transport error");
                    self.policy.backoff(attempt, &mut self.rng)
                }
            };
            if attempt >= self.policy.max_retries {
                return Err(ConnectorError::Http { url: url.into(), status: 0, body: format!("gave up after {} attempts", attempt + 1) });
            }
            std::thread::sleep(wait.min(self.policy.cap));
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_seeded() {
        let p = RetryPolicy { base: Duration::from_millis(100), cap: Duration::from_secs(1), max_retries: 5, seed: 3 };
        let (mut r1, mut r2) = (3u64, 3u64);
        for attempt in 0..10 {
            let a = p.backoff(attempt, &mut r1);
            assert_eq!(a, p.backoff(attempt, &mut r2), "seeded");
            assert!(a <= Duration::from_millis(100) * (1 << attempt.min(20)) && a <= Duration::from_secs(1), "{attempt}: {a:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(retry_after("7", 0), Some(Duration::from_secs(7)));
        let now = 1_445_412_480 - 10; // 10 s before 2015-10-21T07:28:00Z
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 100), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", 0), None);
    }
}
