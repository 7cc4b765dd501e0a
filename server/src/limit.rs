//! Per-source rate limits for the agent endpoints, so a flood of bogus enrolments or connections
//! from one address costs the panel little and never starves healthy agents:
//! * enrolment: every attempt spends from the source's bucket (nodes enrol once);
//! * connection: only refused attempts (unknown or revoked token) spend, so a fleet behind one
//!   NAT reconnecting after a panel restart is never slowed, while a source that keeps
//!   presenting bad tokens is turned away before its token is even looked up.
//!
//! Tables are bounded: at most [`MAX_SOURCES`] addresses each; when full, sources whose bucket has
//! refilled are forgotten first, then the longest-idle one.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

pub const MAX_SOURCES: usize = 10_000;

/// A token bucket per source address.
pub struct SourceLimit {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl SourceLimit {
    pub fn new(burst: u32, per_sec: f64) -> Self {
        Self {
            burst: f64::from(burst),
            per_sec,
            buckets: Mutex::default(),
        }
    }

    /// Whether `source` may act now (and spends one token if so).
    pub fn take(&self, source: IpAddr) -> bool {
        self.take_at(source, Instant::now())
    }

    /// Whether `source` has a token left, without spending it.
    pub fn allows(&self, source: IpAddr) -> bool {
        let now = Instant::now();
        let buckets = self.lock();
        buckets
            .get(&source)
            .is_none_or(|b| self.refilled(*b, now) >= 1.0)
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_sec).min(self.burst)
    }

    fn take_at(&self, source: IpAddr, now: Instant) -> bool {
        let mut buckets = self.lock();
        if !buckets.contains_key(&source) && buckets.len() >= MAX_SOURCES {
            buckets.retain(|_, b| {
                (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_sec) < self.burst
            });
            if buckets.len() >= MAX_SOURCES
                && let Some(idle) = buckets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k)
            {
                buckets.remove(&idle);
            }
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        *bucket = Bucket {
            tokens: if tokens >= 1.0 { tokens - 1.0 } else { tokens },
            at: now,
        };
        tokens >= 1.0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn sources(&self) -> usize {
        self.lock().len()
    }
}

/// The agent endpoints' limits.
pub struct AgentLimits {
    /// Enrolment attempts: 10 at once, then one every 5 s.
    pub enrol: SourceLimit,
    /// Refused connection attempts: 20 at once, then one a second.
    pub refused_connects: SourceLimit,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            enrol: SourceLimit::new(10, 0.2),
            refused_connects: SourceLimit::new(20, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let limit = SourceLimit::new(3, 1.0);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let t0 = Instant::now();
        assert!((0..3).all(|_| limit.take_at(a, t0)));
        assert!(!limit.take_at(a, t0), "burst spent");
        assert!(limit.take_at(b, t0), "another source is not affected");
        assert!(
            limit.take_at(a, t0 + Duration::from_millis(1_100)),
            "refilled"
        );
        assert!(!limit.take_at(a, t0 + Duration::from_millis(1_200)));
    }

    #[test]
    fn the_table_is_bounded() {
        let limit = SourceLimit::new(1, 0.001);
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 100) {
            limit.take_at(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert_eq!(limit.sources(), MAX_SOURCES);
    }
}
