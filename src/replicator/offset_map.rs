//! The per-partition map from source offsets to target offsets.
//!
//! Copied records form runs of consecutive source offsets that landed at
//! consecutive target offsets; a gap in the source (compaction, transaction
//! markers, aborted records, skipped cycle records) starts a new run. A
//! partition with no gaps is one run, whatever its size.
//!
//! `src_end` is the next source offset to process: every source offset below
//! it was either copied (and is in a run) or skipped. `dst_end` is the
//! target offset the next copied record lands at, as long as only the
//! replicator writes to the target partition.

use serde::{Deserialize, Serialize};

/// A run: `len` source offsets from `src` landed at `dst..dst+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub src: i64,
    pub dst: i64,
    pub len: i64,
}

/// The map of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetMap {
    /// The source offset copying began at (the source's log start then).
    /// Offsets below it were never seen. Absent until copying starts.
    pub src_start: Option<i64>,
    pub runs: Vec<Run>,
    pub src_end: i64,
    pub dst_end: i64,
    /// Storage bookkeeping (see `map_store`): how many leading chunks of
    /// runs are already stored as segment records of their own. Runs are
    /// append-only, so a stored segment never changes.
    /// Not part of the JSON: the head record carries it (`map_store`).
    #[serde(skip)]
    pub segments: usize,
}

/// The answer to "where does a consumer committed at source offset C resume
/// on the target?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// Resume at this target offset: it holds the first copied record at or
    /// after the committed source offset, so nothing is skipped or re-read.
    Exact(i64),
    /// The committed offset lies beyond what has been copied (records up to
    /// `copied_up_to`, exclusive, have been processed).
    NotYetCopied { copied_up_to: i64 },
    /// The committed offset is before the first record the replicator saw
    /// (the source had deleted older records when copying started).
    BeforeStart { first_copied: i64 },
}

impl OffsetMap {
    /// Marks where copying of this partition begins.
    pub fn start_at(&mut self, src: i64, dst: i64) {
        if self.src_start.is_none() {
            self.src_start = Some(src);
            self.src_end = self.src_end.max(src);
            self.dst_end = self.dst_end.max(dst);
        }
    }

    /// Records that source offset `src` was copied to target offset `dst`.
    /// Calls must come in source order (the producer preserves order).
    pub fn record_copy(&mut self, src: i64, dst: i64) {
        match self.runs.last_mut() {
            Some(run) if run.src + run.len == src && run.dst + run.len == dst => run.len += 1,
            _ => self.runs.push(Run { src, dst, len: 1 }),
        }
        self.src_end = self.src_end.max(src + 1);
        self.dst_end = self.dst_end.max(dst + 1);
    }

    /// Records that `len` consecutive source offsets from `src` landed at
    /// consecutive target offsets from `dst`.
    pub fn record_run(&mut self, src: i64, dst: i64, len: i64) {
        if len <= 0 {
            return;
        }
        match self.runs.last_mut() {
            Some(run) if run.src + run.len == src && run.dst + run.len == dst => run.len += len,
            _ => self.runs.push(Run { src, dst, len }),
        }
        self.src_end = self.src_end.max(src + len);
        self.dst_end = self.dst_end.max(dst + len);
    }

    /// Records that source offsets below `src_end` were processed, some
    /// without a copy (gaps, skipped records).
    pub fn advance_source(&mut self, src_end: i64) {
        self.src_end = self.src_end.max(src_end);
    }

    /// The first source offset the map knows of.
    pub fn first_source(&self) -> Option<i64> {
        self.runs.first().map(|r| r.src)
    }

    /// The last source offset copied.
    pub fn last_copied(&self) -> Option<i64> {
        self.runs.last().map(|r| r.src + r.len - 1)
    }

    /// Translates a committed source offset (the next record the group would
    /// read) into the target offset to commit.
    pub fn translate(&self, committed: i64) -> Translation {
        if committed > self.src_end {
            return Translation::NotYetCopied {
                copied_up_to: self.src_end,
            };
        }
        let start = self.src_start.or_else(|| self.first_source()).unwrap_or(0);
        if committed < start {
            return Translation::BeforeStart {
                first_copied: start,
            };
        }
        // The first run that ends after `committed`.
        let i = self.runs.partition_point(|r| r.src + r.len <= committed);
        match self.runs.get(i) {
            Some(run) if committed >= run.src => {
                Translation::Exact(run.dst + (committed - run.src))
            }
            // In a gap before `run`: the next copied record is the run's first.
            Some(run) => Translation::Exact(run.dst),
            // After every copied record but within what was processed.
            None => Translation::Exact(self.dst_end),
        }
    }

    /// The reverse of [`translate`](Self::translate), for rollback: the
    /// source offset a consumer resumes at after reading the target up to
    /// `committed` (exclusive). Exact while only the replicator has written
    /// to the target partition (before producers move).
    pub fn reverse(&self, committed: i64) -> i64 {
        let i = self.runs.partition_point(|r| r.dst + r.len <= committed);
        match self.runs.get(i) {
            Some(run) if committed >= run.dst => run.src + (committed - run.dst),
            // Before `run` (or in a gap of the target): nothing of it read yet.
            Some(run) if i > 0 || self.src_start.is_none() => run.src,
            Some(_) => self.src_start.unwrap_or(0),
            None => self.src_end,
        }
    }

    /// Merges entries appended later (from provenance headers read on the
    /// target) into this map; entries at or below `last_copied` are ignored.
    pub fn extend_from(&mut self, pairs: impl IntoIterator<Item = (i64, i64)>) {
        for (src, dst) in pairs {
            if self.last_copied().is_none_or(|last| src > last) {
                self.record_copy(src, dst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(i64, i64)], src_end: i64) -> OffsetMap {
        let mut m = OffsetMap::default();
        m.start_at(0, 0);
        for &(s, d) in pairs {
            m.record_copy(s, d);
        }
        m.advance_source(src_end);
        m
    }

    #[test]
    fn consecutive_copies_form_one_run() {
        let m = map(&(0..1000).map(|i| (i, i)).collect::<Vec<_>>(), 1000);
        assert_eq!(
            m.runs,
            [Run {
                src: 0,
                dst: 0,
                len: 1000
            }]
        );
        assert_eq!(m.translate(0), Translation::Exact(0));
        assert_eq!(m.translate(500), Translation::Exact(500));
        assert_eq!(m.translate(1000), Translation::Exact(1000));
        assert_eq!(
            m.translate(1001),
            Translation::NotYetCopied { copied_up_to: 1000 }
        );
    }

    #[test]
    fn gaps_start_new_runs_and_translate_to_the_next_copied_record() {
        // Source 0..5 copied, 5..8 compacted away, 8..10 copied, 10 is a
        // transaction marker, processed up to 11.
        let m = map(
            &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (8, 5), (9, 6)],
            11,
        );
        assert_eq!(m.runs.len(), 2);
        assert_eq!(m.translate(4), Translation::Exact(4));
        assert_eq!(
            m.translate(5),
            Translation::Exact(5),
            "in the gap: the next copied record"
        );
        assert_eq!(m.translate(7), Translation::Exact(5));
        assert_eq!(m.translate(8), Translation::Exact(5));
        assert_eq!(m.translate(9), Translation::Exact(6));
        assert_eq!(
            m.translate(10),
            Translation::Exact(7),
            "after the last copy, within what was processed"
        );
        assert_eq!(m.translate(11), Translation::Exact(7));
        assert_eq!(
            m.translate(12),
            Translation::NotYetCopied { copied_up_to: 11 }
        );
    }

    #[test]
    fn a_map_starting_late_refuses_earlier_offsets() {
        let mut m = OffsetMap::default();
        m.start_at(100, 0);
        m.extend_from([(100, 0), (101, 1)]);
        assert_eq!(
            m.translate(50),
            Translation::BeforeStart { first_copied: 100 }
        );
        assert_eq!(m.translate(100), Translation::Exact(0));
    }

    #[test]
    fn runs_extend_and_merge() {
        let mut m = map(&[(0, 0), (1, 1)], 2);
        m.record_run(2, 2, 98);
        assert_eq!(
            m.runs,
            [Run {
                src: 0,
                dst: 0,
                len: 100
            }]
        );
        m.record_run(105, 100, 5);
        assert_eq!(m.runs.len(), 2);
        assert_eq!((m.src_end, m.dst_end), (110, 105));
        m.record_run(110, 105, 0);
        assert_eq!(m.runs.len(), 2);
    }

    #[test]
    fn extend_from_ignores_known_entries() {
        let mut m = map(&[(0, 0), (1, 1)], 2);
        m.extend_from([(1, 1), (2, 2), (3, 3)]);
        assert_eq!(
            m.runs,
            [Run {
                src: 0,
                dst: 0,
                len: 4
            }]
        );
        assert_eq!((m.src_end, m.dst_end), (4, 4));
    }

    #[test]
    fn random_gaps_translate_to_the_first_copied_record_at_or_after() {
        // Deterministic pseudo-random gaps.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50 {
            let mut copied = Vec::new();
            let (mut src, mut dst) = (0i64, 0i64);
            for _ in 0..200 {
                src += 1 + (next() % 4) as i64 * i64::from(next() % 3 == 0);
                copied.push((src, dst));
                dst += 1;
            }
            let end = src + 1 + (next() % 3) as i64;
            let m = map(&copied, end);
            for committed in 1..=end {
                let expected = copied
                    .iter()
                    .find(|(s, _)| *s >= committed)
                    .map_or(dst, |(_, d)| *d);
                assert_eq!(
                    m.translate(committed),
                    Translation::Exact(expected),
                    "committed {committed}"
                );
            }
            assert_eq!(
                m.translate(end + 1),
                Translation::NotYetCopied { copied_up_to: end }
            );
        }
    }

    #[test]
    fn reverse_undoes_translate() {
        let mut m = OffsetMap::default();
        m.start_at(5, 0);
        m.record_run(5, 0, 10); // 5..15 -> 0..10
        m.advance_source(17); // 15, 16 were markers
        m.record_run(17, 10, 3); // 17..20 -> 10..13
        m.advance_source(21);
        for committed in 5..=21 {
            if let Translation::Exact(t) = m.translate(committed) {
                // Going back lands on a source offset that resumes at the
                // same record.
                let back = m.reverse(t);
                assert_eq!(m.translate(back), Translation::Exact(t), "{committed}");
            }
        }
        assert_eq!(m.reverse(0), 5);
        assert_eq!(m.reverse(10), 17);
        assert_eq!(m.reverse(13), 21);
        assert_eq!(m.reverse(12), 19);
    }
}
