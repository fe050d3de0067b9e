//! Password guessing is throttled per client and per account, so that
//! neither a guesser nor someone locking others out gets far:
//! - a client (its address, see `http::client`) gets
//!   [`CLIENT`]`.max` failures per window, whatever the accounts;
//! - an account gets [`ACCOUNT`]`.max` failures per (short) window from
//!   all clients together, so a guesser spread over many addresses stays
//!   slow while its owner waits a minute at most;
//! - a client that signed in to the account before is known to it and is
//!   not held back by the account's limit (only by its own).
//!
//! Every password check counts: sign-in, the second factor, re-authentication,
//! the current password when changing it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many failures within how long.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: usize,
    pub window_ms: i64,
}

pub const CLIENT: Limit = Limit {
    max: 5,
    window_ms: 15 * 60 * 1000,
};
pub const ACCOUNT: Limit = Limit {
    max: 5,
    window_ms: 60 * 1000,
};
/// How long a client stays known to an account after signing in to it.
pub const KNOWN_FOR_MS: i64 = 30 * 24 * 3600 * 1000;
/// Keys tracked at most; past this the tables are pruned of stale entries.
const MAX_KEYS: usize = 100_000;

/// One password check: whose account, from which client.
#[derive(Debug, Clone)]
pub struct Attempt {
    account: String,
    client: String,
}

impl Attempt {
    pub fn new(email: &str, client: Option<&str>) -> Attempt {
        Attempt {
            account: format!("account:{}", email.trim().to_lowercase()),
            client: format!("client:{}", client.unwrap_or_default()),
        }
    }

    /// The client, for log lines.
    pub fn client(&self) -> &str {
        &self.client
    }

    fn known_key(&self) -> String {
        format!("{}|{}", self.account, self.client)
    }
}

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    /// (account, client) pairs that signed in, and when.
    known: Mutex<HashMap<String, i64>>,
}

impl Throttle {
    /// Milliseconds until this attempt may be made, or `None` if it may now.
    pub fn blocked_for(&self, a: &Attempt, now: i64) -> Option<i64> {
        let client = self.wait(&a.client, CLIENT, now);
        if client.is_some() {
            return client;
        }
        if self.is_known(a, now) {
            return None;
        }
        self.wait(&a.account, ACCOUNT, now)
    }

    pub fn fail(&self, a: &Attempt, now: i64) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|&t| t > now - CLIENT.window_ms));
        }
        for (key, limit) in [(&a.client, CLIENT), (&a.account, ACCOUNT)] {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            while q.len() > limit.max {
                q.pop_front();
            }
        }
    }

    /// The password was right: the account's failures are forgotten and
    /// this client is known to it from now on. The client's own failures
    /// stay (a guesser that also has one account gains nothing).
    pub fn succeed(&self, a: &Attempt, now: i64) {
        self.failures
            .lock()
            .expect("throttle lock")
            .remove(&a.account);
        let mut known = self.known.lock().expect("throttle lock");
        if known.len() >= MAX_KEYS {
            known.retain(|_, &mut at| at > now - KNOWN_FOR_MS);
        }
        known.insert(a.known_key(), now);
    }

    fn is_known(&self, a: &Attempt, now: i64) -> bool {
        self.known
            .lock()
            .expect("throttle lock")
            .get(&a.known_key())
            .is_some_and(|&at| at > now - KNOWN_FOR_MS)
    }

    fn wait(&self, key: &str, limit: Limit, now: i64) -> Option<i64> {
        let mut map = self.failures.lock().expect("throttle lock");
        let q = map.get_mut(key)?;
        while q.front().is_some_and(|&t| t <= now - limit.window_ms) {
            q.pop_front();
        }
        (q.len() >= limit.max).then(|| q.front().map_or(0, |&t| t + limit.window_ms - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_times(t: &Throttle, a: &Attempt, n: usize, at: i64) {
        for _ in 0..n {
            t.fail(a, at);
        }
    }

    #[test]
    fn a_client_is_blocked_after_its_failures_until_the_window_passes() {
        let t = Throttle::default();
        // Made-up accounts, one client.
        for i in 0..CLIENT.max {
            let a = Attempt::new(&format!("nobody{i}@example.com"), Some("192.0.2.1"));
            assert_eq!(t.blocked_for(&a, 0), None);
            t.fail(&a, 0);
        }
        let next = Attempt::new("victim@example.com", Some("192.0.2.1"));
        assert!(t.blocked_for(&next, 10).is_some());
        // Another client, any account: untouched.
        let other = Attempt::new("victim@example.com", Some("192.0.2.2"));
        assert_eq!(t.blocked_for(&other, 10), None);
        assert_eq!(t.blocked_for(&next, CLIENT.window_ms + 1), None);
    }

    #[test]
    fn an_account_under_attack_waits_a_minute_and_its_known_clients_not_at_all() {
        let t = Throttle::default();
        let owner = Attempt::new("owner@example.com", Some("198.51.100.1"));
        t.succeed(&owner, 0);
        // Guesses spread over many clients.
        for i in 0..ACCOUNT.max {
            let a = Attempt::new("Owner@Example.com", Some(&format!("203.0.113.{i}")));
            t.fail(&a, 1_000);
        }
        let stranger = Attempt::new("owner@example.com", Some("203.0.113.200"));
        assert_eq!(t.blocked_for(&stranger, 1_000), Some(ACCOUNT.window_ms));
        assert_eq!(t.blocked_for(&stranger, 1_000 + ACCOUNT.window_ms), None);
        assert_eq!(t.blocked_for(&owner, 1_000), None, "a known client");
        // Its own failures still count against a known client.
        fail_times(&t, &owner, CLIENT.max, 2_000);
        assert!(t.blocked_for(&owner, 2_000).is_some());
        // Known for a while, not for ever.
        let later = Attempt::new("owner@example.com", Some("198.51.100.9"));
        t.succeed(&later, 0);
        fail_times(&t, &stranger, ACCOUNT.max, KNOWN_FOR_MS + 5);
        assert!(t.blocked_for(&later, KNOWN_FOR_MS + 5).is_some());
    }
}
