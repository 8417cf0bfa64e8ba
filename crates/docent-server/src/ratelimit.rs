//! Per-bot token buckets (governor): one bucket per secret key, one per visitor of a
//! public key (its `user.id`, else the client address), so one noisy page cannot
//! starve the others.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::HeaderValue;
use axum::response::{IntoResponseParts, ResponseParts};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Caller;
use crate::config::{BotConfig, RateLimitConfig};

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The outcome shown in `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// Bucket size.
    pub limit: u32,
    /// Requests left in the bucket now.
    pub remaining: u32,
    /// Seconds until one more request is available.
    pub reset: u64,
}

impl IntoResponseParts for RateHeaders {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        let h = res.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
        Ok(res)
    }
}

struct BotLimits {
    secret: Limiter,
    public: Limiter,
    config: RateLimitConfig,
}

/// Every bot's buckets.
pub struct RateLimits {
    bots: HashMap<String, BotLimits>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("bots", &self.bots.keys().collect::<Vec<_>>()).finish()
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let one = NonZeroU32::MIN;
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(one)).allow_burst(NonZeroU32::new(burst).unwrap_or(one))
}

impl RateLimits {
    /// Buckets for `bots` (validated configuration: limits are at least 1).
    pub fn new(bots: &[BotConfig]) -> Arc<Self> {
        let bots = bots
            .iter()
            .map(|b| {
                let c = b.rate_limit;
                let limits = BotLimits {
                    secret: RateLimiter::keyed(quota(c.per_minute, c.burst)).with_middleware(),
                    public: RateLimiter::keyed(quota(c.public_per_minute, c.public_burst)).with_middleware(),
                    config: c,
                };
                (b.id.clone(), limits)
            })
            .collect();
        Arc::new(RateLimits { bots, clock: DefaultClock::default() })
    }

    /// Take one request from the caller's bucket on `bot`; `Err(seconds)` to wait.
    pub fn check(&self, bot: &str, caller: &Caller, visitor: &str) -> Result<RateHeaders, (RateHeaders, u64)> {
        let Some(limits) = self.bots.get(bot) else {
            return Ok(RateHeaders { limit: 0, remaining: 0, reset: 0 });
        };
        let (limiter, key, per_minute, burst) = if caller.is_public() {
            (
                &limits.public,
                format!("{}|{visitor}", caller.key_id()),
                limits.config.public_per_minute,
                limits.config.public_burst,
            )
        } else {
            (&limits.secret, caller.key_id().to_string(), limits.config.per_minute, limits.config.burst)
        };
        let reset = 60u64.div_ceil(u64::from(per_minute.max(1)));
        match limiter.check_key(&key) {
            Ok(snapshot) => Ok(RateHeaders { limit: burst, remaining: snapshot.remaining_burst_capacity(), reset }),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err((RateHeaders { limit: burst, remaining: 0, reset: secs.max(1) }, secs.max(1)))
            }
        }
    }

    /// Forget buckets that are full again (bounded memory with many visitors).
    pub fn housekeep(&self) {
        for l in self.bots.values() {
            l.secret.retain_recent();
            l.public.retain_recent();
        }
    }
}

/// Requests refused for a missing or invalid key, limited per client address: an
/// address that keeps presenting bad keys gets 429 (with `Retry-After`) before its
/// key is even looked up, so guessing keys or flooding without one cannot load the
/// store. Addresses with valid keys never touch this bucket.
pub struct AuthFailureLimiter {
    limiter: RateLimiter<std::net::IpAddr, DefaultKeyedStateStore<std::net::IpAddr>, DefaultClock>,
    /// Addresses whose bucket ran dry, and until when (checked before the key).
    blocked: std::sync::Mutex<HashMap<std::net::IpAddr, std::time::Instant>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for AuthFailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFailureLimiter").finish_non_exhaustive()
    }
}

impl AuthFailureLimiter {
    /// The bucket of `limits` (validated: at least 1).
    pub fn new(limits: &crate::config::LimitsConfig) -> Arc<Self> {
        Arc::new(AuthFailureLimiter {
            limiter: RateLimiter::keyed(quota(limits.auth_failures_per_minute, limits.auth_failure_burst)),
            blocked: std::sync::Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        })
    }

    /// `Some(seconds)` while `ip` must wait before presenting a key again.
    pub fn blocked_for(&self, ip: std::net::IpAddr) -> Option<u64> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *blocked.get(&ip)?;
        let now = std::time::Instant::now();
        if until <= now {
            blocked.remove(&ip);
            return None;
        }
        let wait = until - now;
        Some((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }

    /// Count one refused request from `ip`; `Some(seconds)` when that emptied its
    /// bucket (answer 429 instead of 401).
    pub fn failed(&self, ip: std::net::IpAddr) -> Option<u64> {
        match self.limiter.check_key(&ip) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
                blocked.insert(ip, std::time::Instant::now() + wait);
                Some((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
            }
        }
    }

    /// Forget addresses whose wait is over and buckets that are full again.
    pub fn housekeep(&self) {
        let now = std::time::Instant::now();
        self.blocked.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, until| *until > now);
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_with_too_many_bad_keys_waits_and_others_do_not() {
        let limits =
            crate::config::LimitsConfig { auth_failures_per_minute: 1, auth_failure_burst: 3, ..Default::default() };
        let l = AuthFailureLimiter::new(&limits);
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(l.blocked_for(a), None);
        for _ in 0..3 {
            assert_eq!(l.failed(a), None, "within the burst");
        }
        let wait = l.failed(a).expect("the fourth failure in a minute is refused");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.blocked_for(a).is_some(), "blocked before its key is looked at");
        assert_eq!(l.blocked_for(b), None, "another address is not affected");
        assert_eq!(l.failed(b), None);
    }
}
