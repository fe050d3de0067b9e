//! Sign-in throttling: after [`MAX_FAILURES`] failed attempts within
//! [`WINDOW_MS`] for an account, or for a client address, further attempts
//! for it are refused until the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Keys tracked at most; past this the table is pruned of stale entries.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Throttle {
    /// Milliseconds until `key` may try again, or `None` if it may now.
    pub fn blocked_for(&self, key: &str, now: i64) -> Option<i64> {
        let mut map = self.failures.lock().expect("throttle lock");
        let q = map.get_mut(key)?;
        while q.front().is_some_and(|&t| t <= now - WINDOW_MS) {
            q.pop_front();
        }
        (q.len() >= MAX_FAILURES).then(|| q.front().map_or(0, |&t| t + WINDOW_MS - now))
    }

    pub fn fail(&self, key: &str, now: i64) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|&t| t > now - WINDOW_MS));
        }
        let q = map.entry(key.to_string()).or_default();
        q.push_back(now);
        while q.len() > MAX_FAILURES {
            q.pop_front();
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures.lock().expect("throttle lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let t = Throttle::default();
        for i in 0..MAX_FAILURES as i64 {
            assert_eq!(t.blocked_for("a", i), None);
            t.fail("a", i);
        }
        assert!(t.blocked_for("a", 10).is_some());
        assert_eq!(t.blocked_for("b", 10), None);
        assert_eq!(t.blocked_for("a", WINDOW_MS + 1), None);
    }
}
