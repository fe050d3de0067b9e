//! What a rollup bucket knows about the results in it, and how buckets merge.

use openseer_protocol::Outcome;

use super::sketch::Sketch;

/// One raw result, reduced to what rollups need.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSample {
    pub monitor_id: i64,
    pub region: String,
    pub scheduled_at: i64,
    pub outcome: Outcome,
    pub total_ms: Option<f64>,
    /// dns, connect, tls, first byte, transfer (ms), when the check reported them.
    pub phases: Option<[f64; 5]>,
}

impl RawSample {
    /// Latency counts for checks that got an answer: up, degraded and down
    /// (an answer that failed an assertion still took that long). Errors and
    /// missed checks have no meaningful latency.
    pub fn latency(&self) -> Option<f64> {
        match self.outcome {
            Outcome::Up | Outcome::Degraded | Outcome::Down => self.total_ms,
            Outcome::Error | Outcome::Missed => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub up: i64,
    pub degraded: i64,
    pub down: i64,
    pub error: i64,
    pub missed: i64,
    pub lat_count: i64,
    pub lat_min: Option<f64>,
    pub lat_max: Option<f64>,
    pub lat_sum: f64,
    pub phase_count: i64,
    /// dns, connect, tls, first byte, transfer sums (ms).
    pub phase_sums: [f64; 5],
    pub sketch: Sketch,
}

impl Aggregate {
    pub fn add(&mut self, s: &RawSample) {
        match s.outcome {
            Outcome::Up => self.up += 1,
            Outcome::Degraded => self.degraded += 1,
            Outcome::Down => self.down += 1,
            Outcome::Error => self.error += 1,
            Outcome::Missed => self.missed += 1,
        }
        if let Some(v) = s.latency() {
            self.lat_count += 1;
            self.lat_sum += v;
            self.lat_min = Some(self.lat_min.map_or(v, |m| m.min(v)));
            self.lat_max = Some(self.lat_max.map_or(v, |m| m.max(v)));
            self.sketch.add(v);
        }
        if let (Some(p), Some(_)) = (s.phases, s.latency()) {
            self.phase_count += 1;
            for (sum, v) in self.phase_sums.iter_mut().zip(p) {
                *sum += v;
            }
        }
    }

    pub fn merge(&mut self, o: &Aggregate) {
        self.up += o.up;
        self.degraded += o.degraded;
        self.down += o.down;
        self.error += o.error;
        self.missed += o.missed;
        self.lat_count += o.lat_count;
        self.lat_sum += o.lat_sum;
        self.lat_min = match (self.lat_min, o.lat_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.lat_max = match (self.lat_max, o.lat_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.phase_count += o.phase_count;
        for (a, b) in self.phase_sums.iter_mut().zip(o.phase_sums) {
            *a += b;
        }
        self.sketch.merge(&o.sketch);
    }

    pub fn total(&self) -> i64 {
        self.up + self.degraded + self.down + self.error + self.missed
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Checks that ran: everything but `missed`, which says nothing about the
    /// target (no worker ran the check).
    pub fn checked(&self) -> i64 {
        self.up + self.degraded + self.down + self.error
    }

    /// Share of checks that ran and found the target up (degraded is up,
    /// only slow); `None` when nothing ran.
    pub fn uptime(&self) -> Option<f64> {
        let checked = self.checked();
        (checked > 0).then(|| (self.up + self.degraded) as f64 / checked as f64)
    }

    /// A latency percentile (`q` in 0..=1), kept inside the exact min and max.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let v = self.sketch.quantile(q)?;
        Some(v.clamp(self.lat_min?, self.lat_max?))
    }

    pub fn mean(&self) -> Option<f64> {
        (self.lat_count > 0).then(|| self.lat_sum / self.lat_count as f64)
    }

    pub fn phase_means(&self) -> Option<[f64; 5]> {
        (self.phase_count > 0).then(|| self.phase_sums.map(|s| s / self.phase_count as f64))
    }
}
