//! The worker's outbox: every result is written to disk (one file per batch,
//! fsynced) before it is sent, and removed only once a node acknowledged it.
//! A crash, a restart or a control-plane outage therefore loses nothing that
//! was checked; results are sent again and the node stores each run once.
//! The outbox is bounded: past `cap` results the oldest batches are dropped,
//! and counted.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use openseer_protocol::CheckResult;

use crate::state::{write_atomically, StateError};

pub struct Outbox {
    dir: PathBuf,
    /// (sequence number, results in the file), oldest first.
    files: VecDeque<(u64, usize)>,
    next_seq: u64,
    total: usize,
    cap: usize,
    dropped: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Outbox {
    pub fn open(dir: &Path, cap: usize) -> Result<Outbox, StateError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            found.push(seq);
        }
        found.sort_unstable();
        let mut outbox = Outbox {
            dir: dir.to_path_buf(),
            files: VecDeque::new(),
            next_seq: found.last().map_or(0, |s| s + 1),
            total: 0,
            cap: cap.max(1),
            dropped: 0,
        };
        for seq in found {
            match outbox.read(seq) {
                Ok(results) => {
                    outbox.total += results.len();
                    outbox.files.push_back((seq, results.len()));
                }
                Err(e) => {
                    // A half-written file cannot exist (writes are atomic),
                    // so this is damage from outside; set it aside, loudly.
                    tracing::error!(error = %e, seq, "unreadable outbox file set aside");
                    let _ =
                        std::fs::rename(outbox.path(seq), outbox.path(seq).with_extension("bad"));
                }
            }
        }
        Ok(outbox)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    fn read(&self, seq: u64) -> Result<Vec<CheckResult>, StateError> {
        let path = self.path(seq);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Persists a batch; only then may it be sent.
    pub fn push(&mut self, results: &[CheckResult]) -> Result<(), StateError> {
        if results.is_empty() {
            return Ok(());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = serde_json::to_vec(results).expect("results serialise");
        write_atomically(&self.path(seq), &bytes)?;
        self.files.push_back((seq, results.len()));
        self.total += results.len();
        while self.total > self.cap {
            let Some((old, n)) = self.files.pop_front() else {
                break;
            };
            let _ = std::fs::remove_file(self.path(old));
            self.total -= n;
            self.dropped += n as u64;
            tracing::warn!(
                dropped = n,
                dropped_total = self.dropped,
                cap = self.cap,
                "outbox full: dropped the oldest results"
            );
        }
        Ok(())
    }

    /// The oldest batch still to deliver.
    pub fn oldest(&self) -> Option<(u64, Vec<CheckResult>)> {
        let &(seq, _) = self.files.front()?;
        match self.read(seq) {
            Ok(r) => Some((seq, r)),
            Err(e) => {
                tracing::error!(error = %e, seq, "outbox file vanished or unreadable");
                None
            }
        }
    }

    /// The node answered for some of the batch: keep the rest.
    pub fn settle(&mut self, seq: u64, keep: &[CheckResult]) -> Result<(), StateError> {
        let Some(pos) = self.files.iter().position(|&(s, _)| s == seq) else {
            return Ok(());
        };
        let (_, n) = self.files[pos];
        if keep.is_empty() {
            std::fs::remove_file(self.path(seq)).map_err(io(&self.path(seq)))?;
            self.files.remove(pos);
        } else {
            write_atomically(
                &self.path(seq),
                &serde_json::to_vec(keep).expect("results serialise"),
            )?;
            self.files[pos].1 = keep.len();
        }
        self.total = self.total + keep.len() - n;
        Ok(())
    }

    /// Drops a file that cannot be read any more from the queue.
    pub fn skip(&mut self, seq: u64) {
        if let Some(pos) = self.files.iter().position(|&(s, _)| s == seq) {
            let (_, n) = self.files.remove(pos).expect("position is valid");
            self.total -= n;
        }
    }

    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openseer_protocol::Outcome;

    fn result(i: i64) -> CheckResult {
        CheckResult {
            run_id: format!("1.eu.{i}"),
            monitor_id: 1,
            region: "eu".into(),
            scheduled_at_ms: i,
            started_at_ms: i,
            outcome: Outcome::Up,
            error_kind: None,
            error_message: None,
            status_code: Some(200),
            total_ms: 1.0,
            body_bytes: 0,
            decoded_bytes: None,
            timings: None,
            tls: None,
            redirects: Vec::new(),
            assertions: Vec::new(),
        }
    }

    #[test]
    fn batches_survive_a_reopen_in_order_and_settle() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path(), 100).unwrap();
        o.push(&[result(1), result(2)]).unwrap();
        o.push(&[result(3)]).unwrap();
        drop(o);
        let mut o = Outbox::open(dir.path(), 100).unwrap();
        assert_eq!(o.len(), 3);
        let (seq, batch) = o.oldest().unwrap();
        assert_eq!(batch.len(), 2);
        o.settle(seq, &batch[1..]).unwrap();
        assert_eq!(o.len(), 2);
        let (seq, batch) = o.oldest().unwrap();
        assert_eq!(batch[0].run_id, "1.eu.2");
        o.settle(seq, &[]).unwrap();
        let (seq, batch) = o.oldest().unwrap();
        assert_eq!(batch[0].run_id, "1.eu.3");
        o.settle(seq, &[]).unwrap();
        assert!(o.is_empty() && o.oldest().is_none());
        // New batches after a reopen sort after the old ones.
        o.push(&[result(4)]).unwrap();
        drop(o);
        assert_eq!(
            Outbox::open(dir.path(), 100).unwrap().oldest().unwrap().1[0].run_id,
            "1.eu.4"
        );
    }

    #[test]
    fn the_cap_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path(), 3).unwrap();
        o.push(&[result(1), result(2)]).unwrap();
        o.push(&[result(3), result(4)]).unwrap();
        assert_eq!((o.len(), o.dropped()), (2, 2));
        assert_eq!(o.oldest().unwrap().1[0].run_id, "1.eu.3");
    }
}
