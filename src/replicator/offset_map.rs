//! The per-partition map from source offsets to target offsets.
//!
//! Copied records form runs of consecutive source offsets that landed at
//! consecutive target offsets (dense runs); a gap in the source
//! (compaction, transaction markers, aborted records, skipped cycle
//! records) or in the target (the markers of kcp's own transactions) ends
//! one. A partition with no gaps is one run, whatever its size.
//!
//! Small gaps do not start a new run: a transactional source leaves a
//! marker after every transaction, and kcp's transactions leave one on the
//! target after every checkpoint, so one run per gap would grow a map
//! without bound. Gaps of up to [`MAX_LOOSE_GAP`] offsets on either side
//! join a *loose* run instead, which covers at most [`MAX_LOOSE_SPAN`]
//! target offsets and keeps its extent on both sides but not where its
//! gaps are. An offset inside a loose run translates to
//! [`Translation::Within`]: the target's provenance headers, which name
//! each copy's source offset, place it exactly ([`OffsetMap::pin`] then
//! records the answer, see `super::place`).
//!
//! `src_end` is the next source offset to process: every source offset below
//! it was either copied (and is in a run) or skipped. `dst_end` is the
//! target offset the next copied record lands at, as long as only the
//! replicator writes to the target partition.

use serde::{Deserialize, Serialize};

/// The largest gap, on either side, that a loose run absorbs.
pub const MAX_LOOSE_GAP: i64 = 16;

/// The most target offsets a loose run covers: what placing an offset in
/// it reads at worst (by bisection, about 16 short reads).
pub const MAX_LOOSE_SPAN: i64 = 1 << 16;

/// A run. Dense: `len` source offsets from `src` landed at `dst..dst+len`.
/// Loose (`span` set, `len` 0): copies of source offsets in
/// `src..src+span.src` landed in order in `dst..dst+span.dst`, with gaps
/// the map does not place; both ranges end right after a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub src: i64,
    pub dst: i64,
    pub len: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

/// How many source and target offsets a loose run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub src: i64,
    pub dst: i64,
}

impl Run {
    /// A dense run.
    pub fn dense(src: i64, dst: i64, len: i64) -> Self {
        Run {
            src,
            dst,
            len,
            span: None,
        }
    }

    /// The source offset after the run.
    pub fn src_end(&self) -> i64 {
        self.src + self.span.map_or(self.len, |s| s.src)
    }

    /// The target offset after the run.
    pub fn dst_end(&self) -> i64 {
        self.dst + self.span.map_or(self.len, |s| s.dst)
    }

    /// Whether `len` records from (`src`, `dst`), consecutive on both
    /// sides, join this run: densely when they follow it without a gap,
    /// loosely across a small gap while the run stays short enough.
    fn absorb(&mut self, src: i64, dst: i64, len: i64) -> bool {
        let (src_gap, dst_gap) = (src - self.src_end(), dst - self.dst_end());
        if self.span.is_none() && src_gap == 0 && dst_gap == 0 {
            self.len += len;
            return true;
        }
        let fits = (0..=MAX_LOOSE_GAP).contains(&src_gap)
            && (0..=MAX_LOOSE_GAP).contains(&dst_gap)
            && dst + len - self.dst <= MAX_LOOSE_SPAN;
        if fits {
            self.span = Some(Span {
                src: src + len - self.src,
                dst: dst + len - self.dst,
            });
            self.len = 0;
        }
        fits
    }
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
    /// The Kafka ids of the source and target topics this map is about,
    /// when both clusters give ids. A topic deleted and created again gets
    /// a new id, so a map whose ids differ from the topics' is not theirs.
    /// Absent in maps from before kcp recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_ids: Option<TopicIds>,
    /// Storage bookkeeping (see `map_store`): how many leading chunks of
    /// runs are already stored as segment records of their own. Runs are
    /// append-only, so a stored segment never changes.
    /// Not part of the JSON: the head record carries it (`map_store`).
    #[serde(skip)]
    pub segments: usize,
}

/// The topic ids a map was written for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicIds {
    pub source: String,
    pub target: String,
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
    /// Inside a loose run: the answer is the first target offset in
    /// `dst_from..dst_to` holding the copy of a source offset at or after
    /// the committed one, `dst_to` when none does. The target's provenance
    /// headers give it (`super::place`).
    Within { dst_from: i64, dst_to: i64 },
}

/// The answer to "which source offset does a consumer resume at after
/// reading the target up to T?" (rollback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reverse {
    Exact(i64),
    /// Inside a loose run: the source offset of the first copy in
    /// `dst_from..dst_to`, `src_to` when there is none.
    Within {
        dst_from: i64,
        dst_to: i64,
        src_to: i64,
    },
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
        self.record_run(src, dst, 1);
    }

    /// Records that `len` consecutive source offsets from `src` landed at
    /// consecutive target offsets from `dst`.
    pub fn record_run(&mut self, src: i64, dst: i64, len: i64) {
        if len <= 0 {
            return;
        }
        if !self
            .runs
            .last_mut()
            .is_some_and(|run| run.absorb(src, dst, len))
        {
            self.runs.push(Run::dense(src, dst, len));
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
        self.runs.last().map(|r| r.src_end() - 1)
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
        let i = self.runs.partition_point(|r| r.src_end() <= committed);
        match self.runs.get(i) {
            Some(run) if committed == run.src => Translation::Exact(run.dst),
            Some(run) if committed > run.src && run.span.is_some() => Translation::Within {
                dst_from: run.dst,
                dst_to: run.dst_end(),
            },
            Some(run) if committed > run.src => Translation::Exact(run.dst + (committed - run.src)),
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
    pub fn reverse(&self, committed: i64) -> Reverse {
        let i = self.runs.partition_point(|r| r.dst_end() <= committed);
        Reverse::Exact(match self.runs.get(i) {
            Some(run) if committed == run.dst => run.src,
            Some(run) if committed > run.dst && run.span.is_some() => {
                return Reverse::Within {
                    dst_from: committed,
                    dst_to: run.dst_end(),
                    src_to: run.src_end(),
                };
            }
            Some(run) if committed > run.dst => run.src + (committed - run.dst),
            // Before `run` (or in a gap of the target): nothing of it read yet.
            Some(run) if i > 0 || self.src_start.is_none() => run.src,
            Some(_) => self.src_start.unwrap_or(0),
            None => self.src_end,
        })
    }

    /// Records where the target's provenance placed an offset inside the
    /// loose run that ends at target offset `dst_to`, so that translating
    /// it needs no read again (in memory: a pinned map is not stored). The
    /// copies of source offsets below `src` lie below target offset `dst`,
    /// the others at or above it; the first of those in the run, if any,
    /// is the copy of `first.0` at `first.1`. The run is cut in two there.
    pub fn pin(&mut self, dst_to: i64, (src, dst): (i64, i64), first: Option<(i64, i64)>) {
        let i = self.runs.partition_point(|r| r.dst_end() < dst_to);
        let Some(run) = self.runs.get(i).copied() else {
            return;
        };
        let inside = run.span.is_some()
            && run.dst_end() == dst_to
            && (run.src + 1..=run.src_end()).contains(&src)
            && (run.dst..=run.dst_end()).contains(&dst);
        if !inside {
            return;
        }
        let loose = |from: (i64, i64), to: (i64, i64)| Run {
            src: from.0,
            dst: from.1,
            len: 0,
            span: Some(Span {
                src: to.0 - from.0,
                dst: to.1 - from.1,
            }),
        };
        let mut parts = vec![loose((run.src, run.dst), (src, dst))];
        let end = (run.src_end(), run.dst_end());
        if let Some(first) = first.filter(|f| f.0 >= src && f.1 >= dst && f.1 < end.1) {
            parts.push(loose(first, end));
        }
        self.runs.splice(i..=i, parts);
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

    /// Places an offset like `super::super::place` does, with the
    /// target's copies given as (source, target) pairs, and checks that the
    /// pinned map then answers alone.
    fn placed(m: &mut OffsetMap, copies: &[(i64, i64)], committed: i64) -> Translation {
        let Translation::Within { dst_from, dst_to } = m.translate(committed) else {
            return m.translate(committed);
        };
        let found = copies
            .iter()
            .copied()
            .find(|&(s, d)| (dst_from..dst_to).contains(&d) && s >= committed);
        let at = found.map_or(dst_to, |(_, d)| d);
        m.pin(dst_to, (committed, at), found);
        assert_eq!(m.translate(committed), Translation::Exact(at), "pinned");
        Translation::Exact(at)
    }

    /// [`placed`] for [`OffsetMap::reverse`].
    fn placed_reverse(m: &mut OffsetMap, copies: &[(i64, i64)], committed: i64) -> i64 {
        let Reverse::Within {
            dst_from,
            dst_to,
            src_to,
        } = m.reverse(committed)
        else {
            let Reverse::Exact(src) = m.reverse(committed) else {
                unreachable!()
            };
            return src;
        };
        let first = copies
            .iter()
            .copied()
            .find(|&(_, d)| (dst_from..dst_to).contains(&d));
        let src = first.map_or(src_to, |(s, _)| s);
        m.pin(dst_to, (src, dst_from), first);
        assert_eq!(m.reverse(committed), Reverse::Exact(src), "pinned");
        src
    }

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
        assert_eq!(m.runs, [Run::dense(0, 0, 1000)]);
        assert_eq!(m.translate(0), Translation::Exact(0));
        assert_eq!(m.translate(500), Translation::Exact(500));
        assert_eq!(m.translate(1000), Translation::Exact(1000));
        assert_eq!(
            m.translate(1001),
            Translation::NotYetCopied { copied_up_to: 1000 }
        );
    }

    #[test]
    fn large_gaps_start_new_runs_and_translate_to_the_next_copied_record() {
        // Source 0..5 copied, 5..30 compacted away, 30..32 copied, 32 is a
        // transaction marker, processed up to 33.
        let m = map(
            &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (30, 5), (31, 6)],
            33,
        );
        assert_eq!(m.runs.len(), 2);
        assert!(
            m.runs.iter().all(|r| r.span.is_none()),
            "dense: {:?}",
            m.runs
        );
        assert_eq!(m.translate(4), Translation::Exact(4));
        assert_eq!(
            m.translate(5),
            Translation::Exact(5),
            "in the gap: the next copied record"
        );
        assert_eq!(m.translate(29), Translation::Exact(5));
        assert_eq!(m.translate(30), Translation::Exact(5));
        assert_eq!(m.translate(31), Translation::Exact(6));
        assert_eq!(
            m.translate(32),
            Translation::Exact(7),
            "after the last copy, within what was processed"
        );
        assert_eq!(m.translate(33), Translation::Exact(7));
        assert_eq!(
            m.translate(34),
            Translation::NotYetCopied { copied_up_to: 33 }
        );
    }

    /// A transactional source (a marker after every 10 records) copied by
    /// transactions (a marker on the target after every 25 copies): 100,000
    /// records would make 14,000 dense runs; loose runs keep two, and
    /// every offset still translates exactly once placed.
    #[test]
    fn markers_on_both_sides_keep_the_map_small_and_exact() {
        let mut copies = Vec::new();
        let (mut src, mut dst) = (0i64, 0i64);
        for i in 1..=100_000i64 {
            copies.push((src, dst));
            src += if i % 10 == 0 { 2 } else { 1 };
            dst += if i % 25 == 0 { 2 } else { 1 };
        }
        let mut m = map(&copies, src);
        // 104,000 target offsets in runs of at most 65,536.
        assert_eq!(m.runs.len(), 2, "{:?}", m.runs);
        assert!(m.runs.iter().all(|r| r.dst_end() - r.dst <= MAX_LOOSE_SPAN));
        for committed in (0..src).step_by(997).chain([src - 1, src]) {
            let expected = copies
                .iter()
                .find(|(s, _)| *s >= committed)
                .map_or(m.dst_end, |(_, d)| *d);
            assert_eq!(
                placed(&mut m, &copies, committed),
                Translation::Exact(expected),
                "committed {committed}"
            );
        }
        // Pinning cut runs; the map still answers every other offset.
        for committed in (0..src).step_by(331) {
            let expected = copies
                .iter()
                .find(|(s, _)| *s >= committed)
                .map_or(m.dst_end, |(_, d)| *d);
            assert_eq!(
                placed(&mut m, &copies, committed),
                Translation::Exact(expected),
                "committed {committed} after pins"
            );
        }
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
        assert_eq!(m.runs, [Run::dense(0, 0, 100)]);
        m.record_run(125, 100, 5);
        assert_eq!(m.runs.len(), 2);
        assert_eq!((m.src_end, m.dst_end), (130, 105));
        m.record_run(130, 105, 0);
        assert_eq!(m.runs.len(), 2);
        // A small gap joins a loose run.
        m.record_run(133, 106, 4);
        assert_eq!(m.runs.len(), 2);
        assert_eq!(
            m.runs[1].span,
            Some(Span {
                src: 137 - 125,
                dst: 110 - 100
            })
        );
    }

    #[test]
    fn extend_from_ignores_known_entries() {
        let mut m = map(&[(0, 0), (1, 1)], 2);
        m.extend_from([(1, 1), (2, 2), (3, 3)]);
        assert_eq!(m.runs, [Run::dense(0, 0, 4)]);
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
            let mut m = map(&copied, end);
            for committed in 1..=end {
                let expected = copied
                    .iter()
                    .find(|(s, _)| *s >= committed)
                    .map_or(dst, |(_, d)| *d);
                assert_eq!(
                    placed(&mut m, &copied, committed),
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
        let mut copies: Vec<(i64, i64)> = (0..10).map(|i| (5 + i, i)).collect();
        copies.extend((0..3).map(|i| (17 + i, 10 + i)));
        let mut m = OffsetMap::default();
        m.start_at(5, 0);
        m.record_run(5, 0, 10); // 5..15 -> 0..10
        m.advance_source(17); // 15, 16 were markers
        m.record_run(17, 10, 3); // 17..20 -> 10..13
        m.advance_source(21);
        for committed in 5..=21 {
            let Translation::Exact(t) = placed(&mut m, &copies, committed) else {
                continue;
            };
            // Going back lands on a source offset that resumes at the
            // same record.
            let back = placed_reverse(&mut m, &copies, t);
            assert_eq!(
                placed(&mut m, &copies, back),
                Translation::Exact(t),
                "{committed}"
            );
        }
        assert_eq!(placed_reverse(&mut m, &copies, 0), 5);
        assert_eq!(placed_reverse(&mut m, &copies, 10), 17);
        assert_eq!(placed_reverse(&mut m, &copies, 13), 21);
        assert_eq!(placed_reverse(&mut m, &copies, 12), 19);
    }
}
