//! Failed-login throttling (see [`Throttle`]).
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use crate::ControlError;

/// Failed-login throttling, kept in two bounded tables:
/// * per (username, source address): three free attempts, then a lock that doubles with every
///   further failure (2 s, 4 s, … capped at 5 min); a success clears it;
/// * per source address, whatever the name: [`FREE_PER_SOURCE`] free failures, then the same
///   doubling lock, so one address cannot try many names quickly.
///
/// A guesser therefore locks only itself out: the same name from another address is untouched.
#[derive(Default)]
pub(super) struct Throttle {
    pub(super) by_name: Failures<(String, IpAddr)>,
    pub(super) by_source: Failures<IpAddr>,
}

pub(super) struct Entry {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
}

/// One table: at most [`MAX_ENTRIES`]; when full, the entry idle the longest makes room.
pub(super) struct Failures<K> {
    entries: HashMap<K, Entry>,
}

impl<K> Default for Failures<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

pub(super) const FREE_ATTEMPTS: u32 = 3;
pub(super) const FREE_PER_SOURCE: u32 = 20;
const MAX_LOCK_MS: i64 = 300_000;
const FORGET_AFTER_MS: i64 = 3_600_000;
pub(super) const MAX_ENTRIES: usize = 10_000;

impl<K: Eq + Hash + Clone> Failures<K> {
    fn locked(&self, key: &K, now: i64) -> Option<u64> {
        self.entries
            .get(key)
            .filter(|e| e.locked_until_ms > now)
            .map(|e| ((e.locked_until_ms - now) as u64).div_ceil(1000))
    }

    fn fail(&mut self, key: &K, now: i64, free: u32) {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_ENTRIES {
            self.entries
                .retain(|_, e| now - e.last_ms < FORGET_AFTER_MS);
            if self.entries.len() >= MAX_ENTRIES
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_ms)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            count: 0,
            last_ms: now,
            locked_until_ms: 0,
        });
        if now - e.last_ms >= FORGET_AFTER_MS {
            e.count = 0;
        }
        e.count += 1;
        e.last_ms = now;
        if e.count > free {
            let exp = (e.count - free).min(20);
            e.locked_until_ms = now + (1000i64 << exp).min(MAX_LOCK_MS);
        }
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Throttle {
    pub(super) fn check(&self, key: &(String, IpAddr), now: i64) -> Result<(), ControlError> {
        match self
            .by_name
            .locked(key, now)
            .max(self.by_source.locked(&key.1, now))
        {
            Some(retry_after_secs) => Err(ControlError::Throttled { retry_after_secs }),
            None => Ok(()),
        }
    }

    pub(super) fn fail(&mut self, key: &(String, IpAddr), now: i64) {
        self.by_name.fail(key, now, FREE_ATTEMPTS);
        self.by_source.fail(&key.1, now, FREE_PER_SOURCE);
    }

    pub(super) fn succeed(&mut self, key: &(String, IpAddr)) {
        self.by_name.forget(key);
    }
}
