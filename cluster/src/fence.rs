//! The self-fence: a node that has not heard from a raft leader lately
//! stops scheduling on its own, before the leader gives its shards away.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Whether this node may schedule: it heard from a leader (or, as leader,
/// from a quorum) within the fence timeout. A single node without a
/// cluster is never fenced.
pub struct Fence {
    start: Instant,
    timeout_ms: u64,
    /// ms since `start` of the last proof of leadership; `u64::MAX`: never fenced.
    last: AtomicU64,
}

impl Fence {
    pub fn never() -> Fence {
        Fence {
            start: Instant::now(),
            timeout_ms: 0,
            last: AtomicU64::new(u64::MAX),
        }
    }

    pub fn new(timeout_ms: u64) -> Fence {
        Fence {
            start: Instant::now(),
            timeout_ms,
            last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    pub fn heard(&self) {
        if self.last.load(Ordering::Relaxed) != u64::MAX {
            self.last.store(self.now(), Ordering::Relaxed);
        }
    }

    pub fn allows(&self) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        last == u64::MAX || (last > 0 && self.now().saturating_sub(last) <= self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fence_closes_when_no_leader_is_heard_and_opens_when_one_is() {
        let f = Fence::new(50);
        assert!(!f.allows(), "closed until a leader is heard");
        f.heard();
        assert!(f.allows());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!f.allows(), "closed after the timeout");
        f.heard();
        assert!(f.allows());
        let alone = Fence::never();
        alone.heard();
        assert!(alone.allows());
    }
}
