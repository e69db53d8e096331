//! A blocking HTTP client for venue REST APIs with the retry rules every connector needs.
//!
//! - 429 / 418 (rate limited / banned) and 5xx: wait, then retry. The wait is the server's
//!   `Retry-After` (seconds or an HTTP date) when given, else capped exponential backoff with
//!   full jitter (`rand(0, min(cap, base · 2^attempt))`).
//! - other 4xx: a clear error with the body (never retried).
//! - transport errors (connection refused/reset, timeouts): retried like 5xx.
//! - a venue's published budget ([`RateBudget`], from [`crate::venues::Venue::budget`]): requests are weighted per endpoint and held
//!   back before the budget of the sliding window would be exceeded, so 429s stay the exception;
//!   where the venue reports the weight it has counted (Binance `X-MBX-USED-WEIGHT-1M`), the
//!   client also pauses until the venue's window resets once 90% of it is used.
//!
//! Base URLs are always configurable, so tests and proxies point connectors at 127.0.0.1.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ConnectorError;

/// A secret (an API key): its `Debug` output is redacted, so it never reaches logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself (for a header or URL, never for output).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A venue's request budget: at most `limit` weight in any sliding `window`.
#[derive(Clone, Debug)]
pub struct RateBudget {
    /// Weight allowed per window.
    pub limit: u32,
    /// Window length.
    pub window: Duration,
    /// Weight of requests whose URL contains the pattern (first match; default 1).
    pub weights: Vec<(&'static str, u32)>,
    /// A response header carrying the weight the venue has counted, the venue's limit and the
    /// length of its (epoch-aligned) window.
    pub used_header: Option<(&'static str, u32, Duration)>,
}

impl RateBudget {
    /// The weight a request to `url` counts (capped at the limit).
    pub fn weight(&self, url: &str) -> u32 {
        self.weights.iter().find(|(p, _)| url.contains(p)).map_or(1, |(_, w)| *w).min(self.limit)
    }
}

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
    /// Requests held back by the budget.
    pub throttled: u64,
}

/// The client.
pub struct HttpClient {
    agent: ureq::Agent,
    policy: RetryPolicy,
    rng: u64,
    headers: Vec<(String, String)>,
    budget: Option<RateBudget>,
    /// (sent at, weight) of the requests inside the budget's window.
    sent: VecDeque<(Instant, u32)>,
    /// Counters.
    pub stats: HttpStats,
}

impl HttpClient {
    /// A client with a request timeout.
    pub fn new(policy: RetryPolicy, timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(timeout).user_agent(concat!("tickflow/", env!("CARGO_PKG_VERSION"))).build();
        HttpClient { agent, rng: policy.seed | 1, policy, headers: Vec::new(), budget: None, sent: VecDeque::new(), stats: HttpStats::default() }
    }

    /// Keeps requests within `budget` (`None`: no budget).
    pub fn with_budget(mut self, budget: Option<RateBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Waits until a request to `url` fits the budget, then books it.
    fn take_budget(&mut self, url: &str) {
        let Some(b) = &self.budget else { return };
        let w = b.weight(url);
        loop {
            let now = Instant::now();
            while self.sent.front().is_some_and(|(at, _)| now.duration_since(*at) >= b.window) {
                self.sent.pop_front();
            }
            let used: u32 = self.sent.iter().map(|(_, w)| w).sum();
            match self.sent.front() {
                Some((oldest, _)) if used + w > b.limit => {
                    self.stats.throttled += 1;
                    let wait = b.window.saturating_sub(now.duration_since(*oldest));
                    tracing::debug!(url, used, limit = b.limit, wait_ms = wait.as_millis() as u64, "request budget: waiting");
                    std::thread::sleep(wait);
                }
                _ => break,
            }
        }
        self.sent.push_back((Instant::now(), w));
    }

    /// After a response: pause until the venue's window resets if it reports 90% used.
    fn check_used_weight(&mut self, used: Option<&str>) {
        let (Some(b), Some(used)) = (&self.budget, used.and_then(|u| u.trim().parse::<u64>().ok())) else { return };
        let Some((_, limit, window)) = b.used_header else { return };
        if used * 10 >= limit as u64 * 9 {
            let w = window.as_nanos().max(1) as i64;
            let now = tickflow_model::Ts::now().0;
            let wait = Duration::from_nanos((w - now.rem_euclid(w)) as u64);
            self.stats.throttled += 1;
            tracing::warn!(used, limit, wait_ms = wait.as_millis() as u64, "venue reports its request weight nearly used: pausing");
            std::thread::sleep(wait);
        }
    }

    /// Sends `name: value` with every request (e.g. an API key). Header values are never logged.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.set_header(name, value);
        self
    }

    /// [`HttpClient::with_header`] on a borrowed client.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// GET `url`, retrying per the policy; the body on 2xx.
    pub fn get(&mut self, url: &str) -> Result<String, ConnectorError> {
        let mut attempt = 0;
        loop {
            self.take_budget(url);
            self.stats.requests += 1;
            let mut req = self.agent.get(url);
            for (k, v) in &self.headers {
                req = req.set(k, v);
            }
            let wait = match req.call() {
                Ok(resp) => {
                    let header = self.budget.as_ref().and_then(|b| b.used_header).and_then(|(h, _, _)| resp.header(h).map(str::to_string));
                    let body = resp.into_string().map_err(|e| ConnectorError::io(url, e));
                    self.check_used_weight(header.as_deref());
                    return body;
                }
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

    /// A server answering every request with `used` as Binance's used-weight header; returns its
    /// URL and the arrival times of requests.
    fn weight_server(used: u32) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Instant>>>) {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let t2 = times.clone();
        std::thread::spawn(move || {
            for stream in l.incoming().flatten() {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                t2.lock().unwrap().push(Instant::now());
                let mut s = stream;
                let _ = write!(s, "HTTP/1.1 200 OK\r\nX-MBX-USED-WEIGHT-1M: {used}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]");
            }
        });
        (url, times)
    }

    #[test]
    fn the_budget_holds_requests_back_by_weight() {
        let (url, times) = weight_server(0);
        let budget = RateBudget { limit: 8, window: Duration::from_millis(300), weights: vec![("/heavy", 4)], used_header: None };
        let mut c = HttpClient::new(RetryPolicy::default(), Duration::from_secs(5)).with_budget(Some(budget));
        for _ in 0..6 {
            c.get(&format!("{url}/heavy")).unwrap(); // 4 each: two per window
        }
        let t = times.lock().unwrap().clone();
        assert_eq!(t.len(), 6);
        // requests i and i + 2 are a window apart (as the client sent them; the server's arrival
        // times jitter by scheduling on a loaded machine — one CI run saw 289 ms — so allow 60
        // ms; without the budget the gap is a few ms); nothing else is constrained
        for i in 0..4 {
            assert!(t[i + 2].duration_since(t[i]) >= Duration::from_millis(240), "{i}: {:?}", t[i + 2].duration_since(t[i]));
        }
        assert!(c.stats.throttled >= 2, "{:?}", c.stats);
        // light requests fit eight to a window: no waiting
        let mut light = HttpClient::new(RetryPolicy::default(), Duration::from_secs(5)).with_budget(Some(RateBudget {
            limit: 8,
            window: Duration::from_secs(60),
            weights: vec![],
            used_header: None,
        }));
        for _ in 0..8 {
            light.get(&format!("{url}/light")).unwrap();
        }
        assert_eq!(light.stats.throttled, 0);
    }

    #[test]
    fn a_nearly_used_venue_weight_pauses_until_its_window_resets() {
        let window = Duration::from_millis(400);
        let budget = || RateBudget { limit: 1000, window: Duration::from_secs(60), weights: vec![], used_header: Some(("x-mbx-used-weight-1m", 1000, window)) };
        // the venue reports 950 of 1000 used: every response pauses until its window resets
        let (url, _) = weight_server(950);
        let mut c = HttpClient::new(RetryPolicy::default(), Duration::from_secs(5)).with_budget(Some(budget()));
        let start = tickflow_model::Ts::now().0;
        c.get(&url).unwrap();
        let after = tickflow_model::Ts::now().0;
        assert_eq!(c.stats.throttled, 1, "{:?}", c.stats);
        let w = window.as_nanos() as i64;
        assert!(after.div_euclid(w) > start.div_euclid(w), "returned only after a window boundary");
        // below 90%: no pause
        let (url, _) = weight_server(100);
        let mut quiet = HttpClient::new(RetryPolicy::default(), Duration::from_secs(5)).with_budget(Some(budget()));
        quiet.get(&url).unwrap();
        quiet.get(&url).unwrap();
        assert_eq!(quiet.stats.throttled, 0);
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
