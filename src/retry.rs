//! When and how long to wait before trying a request again.
//!
//! Only failures that may pass are retried: no connection, a timeout, a
//! reset, HTTP 5xx and 429. The wait grows exponentially with equal
//! jitter (half the ceiling plus a random share of the other half, so many
//! clients do not retry in lockstep), and a server's `Retry-After` is
//! honoured. `TAGPUB_RETRIES` (default 4) and `TAGPUB_RETRY_BASE`
//! (default `1s`) tune it.

use std::time::Duration;

const DEFAULT_RETRIES: u32 = 4;
const DEFAULT_BASE: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A `Retry-After` longer than this is not waited for: the failure is
/// reported, and `tagpub release` again finishes the job later.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts after the first.
    pub retries: u32,
    pub base: Duration,
}

impl Backoff {
    pub fn from_env() -> Backoff {
        let retries = crate::env::RETRIES
            .get()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_RETRIES);
        let base = crate::env::RETRY_BASE
            .get()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
            .unwrap_or(DEFAULT_BASE);
        Backoff { retries, base }
    }

    /// The wait before retry number `retry` (1-based): the server's
    /// `Retry-After` if it gave one, else a random time up to
    /// base × 2^(retry-1), at least half of it.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait;
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << (retry.saturating_sub(1)).min(16))
            .min(MAX_DELAY);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// A response's `Retry-After`, if it has a readable one.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// What the server said about retrying: `Retry-After` in seconds or as an
/// HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_jitter_bounds() {
        let backoff = Backoff {
            retries: 6,
            base: Duration::from_millis(100),
        };
        for retry in 1..=6u32 {
            let ceiling = Duration::from_millis(100 * (1 << (retry - 1)));
            for _ in 0..50 {
                let delay = backoff.delay(retry, None);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{retry}: {delay:?}"
                );
            }
        }
        assert!(backoff.delay(40, None) <= MAX_DELAY);
    }

    #[test]
    fn retry_after_wins() {
        let backoff = Backoff {
            retries: 3,
            base: Duration::from_secs(1),
        };
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let wait = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
