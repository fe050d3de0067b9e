//! Pure scheduling arithmetic: shards, phase offsets, ticks.
//!
//! A monitor with interval `I` ticks at `phase + k * I` for integer `k`,
//! where `phase` is a stable hash of the monitor id modulo `I`. The phase
//! spreads monitors with the same interval over the whole interval, and the
//! period is exactly `I` forever: jitter never changes the period.

/// Number of shards monitors are spread over.
pub const SHARDS: u32 = 64;

/// A stable 64-bit mix of an integer (splitmix64 finaliser). Stable across
/// builds and platforms, unlike `std`'s `DefaultHasher`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn shard_of(monitor_id: i64, shards: u32) -> u32 {
    (mix(monitor_id as u64) % u64::from(shards)) as u32
}

/// The monitor's offset within its interval, in `[0, interval_ms)`.
pub fn phase_ms(monitor_id: i64, interval_ms: i64) -> i64 {
    (mix((monitor_id as u64) ^ 0x5EED) % interval_ms as u64) as i64
}

/// The first tick strictly after `after_ms`.
pub fn next_tick_after(after_ms: i64, interval_ms: i64, phase_ms: i64) -> i64 {
    let k = (after_ms - phase_ms).div_euclid(interval_ms) + 1;
    phase_ms + k * interval_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_on_the_grid_and_strictly_later() {
        for (after, interval, phase) in [
            (0, 1000, 0),
            (999, 1000, 0),
            (1000, 1000, 0),
            (5, 60_000, 17_123),
            (-7, 1000, 3),
        ] {
            let t = next_tick_after(after, interval, phase);
            assert!(t > after);
            assert!(t - after <= interval);
            assert_eq!((t - phase).rem_euclid(interval), 0);
        }
    }

    #[test]
    fn the_period_never_drifts() {
        let interval = 60_000;
        let phase = phase_ms(42, interval);
        let mut t = next_tick_after(1_700_000_000_000, interval, phase);
        for _ in 0..1000 {
            let next = next_tick_after(t, interval, phase);
            assert_eq!(next - t, interval);
            t = next;
        }
    }

    #[test]
    fn phases_are_stable_and_spread() {
        assert_eq!(phase_ms(7, 60_000), phase_ms(7, 60_000));
        let interval = 10_000;
        let mut buckets = [0u32; 10];
        for id in 0..10_000 {
            let p = phase_ms(id, interval);
            assert!((0..interval).contains(&p));
            buckets[(p / 1000) as usize] += 1;
        }
        // Every tenth of the interval gets a fair share (1000 expected).
        assert!(
            buckets.iter().all(|&b| (800..1200).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn shards_cover_the_range() {
        let mut seen = vec![false; SHARDS as usize];
        for id in 0..10_000 {
            seen[shard_of(id, SHARDS) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
