//! A DDSketch: a latency histogram with logarithmic bins, so that every
//! quantile it reports is within [`RELATIVE_ACCURACY`] of a value actually at
//! that rank. Sketches merge by adding bin counts, which is what lets an hour
//! be built from its minutes and a range from any mix of tiers without ever
//! averaging percentiles.
//!
//! Value `v > 0` falls in bin `ceil(log_gamma(v))`; bin `k` covers
//! `(gamma^(k-1), gamma^k]` and reports `2 gamma^k / (gamma + 1)`, at most
//! `alpha` away from anything in it. Values at or below [`MIN_VALUE`] are
//! counted as zero.

use std::collections::BTreeMap;

/// Relative accuracy of every quantile (0.5%, inside the 1% we promise).
pub const RELATIVE_ACCURACY: f64 = 0.005;
/// Latencies (milliseconds) at or below this count as 0.
pub const MIN_VALUE: f64 = 1e-3;
/// A sketch of latencies from 1 µs to 1 day needs about 1,900 bins; anything
/// claiming many more is not one of ours.
const MAX_BINS: u64 = 100_000;
const FORMAT: u8 = 1;

/// The one definition of a percentile everywhere (sketch, exact paths,
/// tests): nearest rank, as most monitoring tools. The `q` percentile of
/// `n` sorted values is the one at 1-based rank `ceil(q * n)`, so it is
/// always a value that was measured and p99 of fewer than 100 values is the
/// largest: one slow check among few is never hidden. Returns the 0-based
/// index (`n > 0`).
pub fn nearest_rank(q: f64, n: u64) -> usize {
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    let rank = (q * n as f64).ceil() as u64;
    (rank.max(1) - 1).min(n.saturating_sub(1)) as usize
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    bins: BTreeMap<i32, u64>,
    zeros: u64,
    count: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SketchError {
    #[error("sketch data is truncated")]
    Truncated,
    #[error("sketch format {0} is unknown")]
    Format(u8),
    #[error("sketch data is malformed: {0}")]
    Malformed(&'static str),
}

impl Sketch {
    pub fn add(&mut self, v: f64) {
        self.add_n(v, 1);
    }

    fn add_n(&mut self, v: f64, n: u64) {
        self.count += n;
        // NaN and negatives count as zero rather than poisoning the bins.
        if v.is_nan() || v <= MIN_VALUE {
            self.zeros += n;
            return;
        }
        let key = (v.ln() / gamma().ln()).ceil() as i32;
        *self.bins.entry(key).or_insert(0) += n;
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.count += other.count;
        self.zeros += other.zeros;
        for (&k, &n) in &other.bins {
            *self.bins.entry(k).or_insert(0) += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The [`nearest_rank`] value of the samples, within the relative
    /// accuracy; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = nearest_rank(q, self.count) as u64;
        if rank < self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        let g = gamma();
        for (&k, &n) in &self.bins {
            seen += n;
            if seen > rank {
                return Some(2.0 * g.powi(k) / (g + 1.0));
            }
        }
        None
    }

    /// Compact bytes: format, zero count, bin count, then each bin as the
    /// key's distance from the previous one and its count (LEB128 varints).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.bins.len() * 2);
        out.push(FORMAT);
        put_varint(&mut out, self.zeros);
        put_varint(&mut out, self.bins.len() as u64);
        let mut prev: i64 = 0;
        for (&k, &n) in &self.bins {
            let delta = i64::from(k) - prev;
            put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
            put_varint(&mut out, n);
            prev = i64::from(k);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Sketch, SketchError> {
        let mut r = Reader { bytes, at: 0 };
        let format = r.byte()?;
        if format != FORMAT {
            return Err(SketchError::Format(format));
        }
        let zeros = r.varint()?;
        let len = r.varint()?;
        if len > MAX_BINS {
            return Err(SketchError::Malformed("too many bins"));
        }
        let mut s = Sketch {
            zeros,
            count: zeros,
            ..Sketch::default()
        };
        let mut key: i64 = 0;
        for _ in 0..len {
            let z = r.varint()?;
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            key = key
                .checked_add(delta)
                .filter(|k| i32::try_from(*k).is_ok())
                .ok_or(SketchError::Malformed("bin key out of range"))?;
            let n = r.varint()?;
            s.count = s
                .count
                .checked_add(n)
                .ok_or(SketchError::Malformed("count overflows"))?;
            *s.bins.entry(key as i32).or_insert(0) += n;
        }
        if r.at != bytes.len() {
            return Err(SketchError::Malformed("trailing bytes"));
        }
        Ok(s)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, SketchError> {
        let b = *self.bytes.get(self.at).ok_or(SketchError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, SketchError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SketchError::Malformed("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[nearest_rank(q, sorted.len() as u64)]
    }

    #[test]
    fn nearest_rank_is_ceil_q_n() {
        assert_eq!(nearest_rank(0.99, 34), 33, "p99 of 34 is the largest");
        assert_eq!(nearest_rank(0.95, 7), 6);
        assert_eq!(nearest_rank(0.5, 4), 1, "the 2nd of 4");
        assert_eq!(nearest_rank(0.5, 5), 2);
        assert_eq!(nearest_rank(0.0, 5), 0);
        assert_eq!(nearest_rank(1.0, 5), 4);
        assert_eq!(nearest_rank(0.99, 1000), 989);
        assert_eq!(nearest_rank(f64::NAN, 3), 0);
    }

    #[test]
    fn one_slow_check_among_few_is_the_p95_and_p99() {
        // A minute of 7 checks, one of them 1,502 ms.
        let mut s = Sketch::default();
        for v in [5.1, 5.3, 4.9, 1502.0, 5.0, 5.2, 5.3] {
            s.add(v);
        }
        for q in [0.95, 0.99] {
            let got = s.quantile(q).unwrap();
            assert!(
                (got - 1502.0).abs() / 1502.0 <= RELATIVE_ACCURACY,
                "q {q}: {got}"
            );
        }
        // p50 of 7 is the 4th: 5.2.
        assert!((s.quantile(0.5).unwrap() - 5.2).abs() / 5.2 <= RELATIVE_ACCURACY);
    }

    #[test]
    fn every_quantile_is_within_the_relative_accuracy() {
        // A spread from 0.01 ms to 100 s, deterministic.
        let mut values: Vec<f64> = (0..20_000)
            .map(|i| 0.01 * 1.0007f64.powi(i % 16_000) + (i as f64) * 1e-4)
            .collect();
        let mut s = Sketch::default();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let got = s.quantile(q).unwrap();
            let want = exact(&values, q);
            assert!(
                ((got - want) / want).abs() <= RELATIVE_ACCURACY + 1e-12,
                "q {q}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn merging_equals_adding_everything_to_one() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        let mut all = Sketch::default();
        for i in 0..1000 {
            let v = 1.0 + (i * 37 % 1000) as f64;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn encoding_round_trips_including_zeros_and_wide_keys() {
        let mut s = Sketch::default();
        for v in [0.0, -3.0, f64::NAN, 0.002, 1.0, 250.0, 86_400_000.0] {
            s.add(v);
        }
        let back = Sketch::decode(&s.encode()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.count(), 7);
        assert_eq!(back.quantile(0.0), Some(0.0));
    }

    #[test]
    fn empty_sketch_has_no_quantiles_and_decodes() {
        let s = Sketch::default();
        assert_eq!(s.quantile(0.5), None);
        assert_eq!(Sketch::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn damaged_bytes_are_errors_not_panics() {
        let mut s = Sketch::default();
        s.add(12.0);
        s.add(900.0);
        let good = s.encode();
        for cut in 0..good.len() {
            assert!(Sketch::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(Sketch::decode(&[9]), Err(SketchError::Format(9)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Sketch::decode(&trailing).is_err());
        assert!(Sketch::decode(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(Sketch::decode(&[
            1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1
        ])
        .is_err());
    }
}
