//! The per-connection rate limit of an agent's facts, swarm and VIP frames.

/// Facts, swarm and VIP frames one connection may send: a bucket of [`FrameBudget::BURST`]
/// frames refilled at [`FrameBudget::PER_SEC`] a second. An agent sends them when something
/// changed (facts at most every few seconds, swarm reports every 3 s, VIP changes during a
/// failover), far below this. Excess frames are dropped and counted; a connection that keeps
/// exceeding it ([`FrameBudget::DISCONNECT_AFTER`] drops within [`FrameBudget::WINDOW_MS`]) is
/// closed.
pub struct FrameBudget {
    tokens: f64,
    last_ms: i64,
    window_start_ms: i64,
    dropped_in_window: u32,
}

impl FrameBudget {
    pub const BURST: f64 = 30.0;
    pub const PER_SEC: f64 = 2.0;
    pub const WINDOW_MS: i64 = 10_000;
    pub const DISCONNECT_AFTER: u32 = 60;

    pub fn new(now_ms: i64) -> Self {
        Self {
            tokens: Self::BURST,
            last_ms: now_ms,
            window_start_ms: now_ms,
            dropped_in_window: 0,
        }
    }

    /// Whether a frame may pass now; `Err` once the connection should be closed.
    pub fn take(&mut self, now_ms: i64) -> Result<bool, Overrun> {
        let elapsed = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * Self::PER_SEC).min(Self::BURST);
        self.last_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(true);
        }
        if now_ms - self.window_start_ms >= Self::WINDOW_MS {
            self.window_start_ms = now_ms;
            self.dropped_in_window = 0;
        }
        self.dropped_in_window += 1;
        if self.dropped_in_window > Self::DISCONNECT_AFTER {
            Err(Overrun)
        } else {
            Ok(false)
        }
    }
}

/// A connection kept exceeding its [`FrameBudget`].
#[derive(Debug, PartialEq, Eq)]
pub struct Overrun;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_budget_allows_bursts_drops_floods_and_refills() {
        let mut b = FrameBudget::new(0);
        for _ in 0..FrameBudget::BURST as usize {
            assert_eq!(b.take(0), Ok(true));
        }
        assert_eq!(b.take(0), Ok(false), "over the burst: dropped");
        for _ in 0..FrameBudget::PER_SEC as usize {
            assert_eq!(b.take(1_000), Ok(true), "refilled after a second");
        }
        for _ in 1..FrameBudget::DISCONNECT_AFTER {
            assert_eq!(b.take(1_000), Ok(false));
        }
        assert_eq!(
            b.take(1_000),
            Err(Overrun),
            "a persistent offender is cut off"
        );

        let mut slow = FrameBudget::new(0);
        for second in 0..600 {
            assert_eq!(
                slow.take(second * 1_000),
                Ok(true),
                "one a second is always fine"
            );
        }
    }
}
