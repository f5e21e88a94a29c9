//! Verification of a compacted partition, record by record (pure).
//!
//! Compaction removes a record once a later record has the same key, and a
//! tombstone (a null value) once `delete.retention.ms` has passed; it runs
//! on each cluster at its own time. So a compacted partition's copy may
//! lack records the source still holds, and the other way round, without
//! anything being lost. [`compare`] matches the two sides by source offset
//! and accepts a record present on one side only when compaction explains
//! it there; every other difference is a mismatch.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One record, by its source offset (on the target: the offset its
/// provenance names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyed {
    pub offset: i64,
    /// A hash of the key (`None`: no key).
    pub key: Option<u64>,
    /// A null value.
    pub tombstone: bool,
    /// Checksum of key, value, headers and timestamp.
    pub digest: u64,
}

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Compared {
    /// Records held on both sides, identical.
    pub matched: u64,
    /// Records held on one side only that compaction explains.
    pub compacted: u64,
    /// Differing records, or records held on one side only that compaction
    /// cannot explain: the first few offsets.
    pub mismatched: Vec<i64>,
    pub mismatch_count: u64,
}

/// Compares a compacted partition's source records with its copies.
/// `target_keys_after`: keys of records on the target that are not copies
/// (producers already writing there), all later than every copy.
pub(crate) fn compare(
    source: &[Keyed],
    target: &[Keyed],
    target_keys_after: &HashSet<u64>,
) -> Compared {
    let src: BTreeMap<i64, &Keyed> = source.iter().map(|r| (r.offset, r)).collect();
    let dst: BTreeMap<i64, &Keyed> = target.iter().map(|r| (r.offset, r)).collect();
    let none = HashSet::new();
    let src_keys = KeyIndex::new(source, &none);
    let dst_keys = KeyIndex::new(target, target_keys_after);
    let latest = latest_by_key(source.iter().chain(target));
    let mut out = Compared::default();
    let mismatch = |offset: i64, out: &mut Compared| {
        out.mismatch_count += 1;
        if out.mismatched.len() < 5 {
            out.mismatched.push(offset);
        }
    };
    for (offset, s) in &src {
        match dst.get(offset) {
            Some(t) if t.digest == s.digest => out.matched += 1,
            Some(_) => mismatch(*offset, &mut out),
            None if dst_keys.explains_missing(s, &latest) => out.compacted += 1,
            None => mismatch(*offset, &mut out),
        }
    }
    for (offset, t) in &dst {
        if src.contains_key(offset) {
            continue;
        }
        if src_keys.explains_missing(t, &latest) {
            out.compacted += 1;
        } else {
            mismatch(*offset, &mut out);
        }
    }
    out
}

/// Per key, the first and last offsets one side holds.
struct KeyIndex<'a> {
    first: HashMap<u64, i64>,
    last: HashMap<u64, i64>,
    later: &'a HashSet<u64>,
}

impl<'a> KeyIndex<'a> {
    fn new(records: &[Keyed], later: &'a HashSet<u64>) -> Self {
        let (mut first, mut last) = (HashMap::new(), HashMap::new());
        for r in records {
            if let Some(k) = r.key {
                first
                    .entry(k)
                    .and_modify(|f: &mut i64| *f = (*f).min(r.offset))
                    .or_insert(r.offset);
                last.entry(k)
                    .and_modify(|l: &mut i64| *l = (*l).max(r.offset))
                    .or_insert(r.offset);
            }
        }
        KeyIndex { first, last, later }
    }

    /// Whether this side's compaction explains that it lacks `r` (held by
    /// the other side): this side holds a later record of its key, or the
    /// key's latest record (on either side) is a tombstone at or after `r`
    /// and this side holds nothing of the key (the tombstone removed
    /// everything before it, then itself).
    fn explains_missing(&self, r: &Keyed, latest: &HashMap<u64, (i64, bool)>) -> bool {
        let Some(key) = r.key else {
            // Compaction never keeps a record without a key, nor removes
            // one selectively: only a broker that refused it differs.
            return false;
        };
        if self.later.contains(&key) || self.last.get(&key).is_some_and(|l| *l > r.offset) {
            return true;
        }
        let deleted = latest
            .get(&key)
            .is_some_and(|(offset, tombstone)| *tombstone && *offset >= r.offset);
        deleted && !self.first.contains_key(&key)
    }
}

/// Per key, the offset of its latest record on either side and whether it
/// is a tombstone.
fn latest_by_key<'a>(records: impl Iterator<Item = &'a Keyed>) -> HashMap<u64, (i64, bool)> {
    let mut out: HashMap<u64, (i64, bool)> = HashMap::new();
    for r in records {
        if let Some(k) = r.key {
            let e = out.entry(k).or_insert((r.offset, r.tombstone));
            if r.offset >= e.0 {
                *e = (r.offset, r.tombstone);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: i64, key: u64, value: u64) -> Keyed {
        Keyed {
            offset,
            key: Some(key),
            tombstone: false,
            digest: key * 1000 + value,
        }
    }

    fn tomb(offset: i64, key: u64) -> Keyed {
        Keyed {
            tombstone: true,
            ..rec(offset, key, 0)
        }
    }

    #[test]
    fn a_record_compacted_away_on_either_side_is_explained() {
        // k1 written at 0 and 2, k2 at 1: the target kept 1 and 2.
        let source = [rec(0, 1, 0), rec(1, 2, 0), rec(2, 1, 1)];
        let target = [rec(1, 2, 0), rec(2, 1, 1)];
        let c = compare(&source, &target, &HashSet::new());
        assert_eq!((c.matched, c.compacted, c.mismatch_count), (2, 1, 0));
        // The other way round: the source compacted after the copy.
        let c = compare(&target, &source, &HashSet::new());
        assert_eq!((c.matched, c.compacted, c.mismatch_count), (2, 1, 0));
    }

    #[test]
    fn a_missing_record_with_no_later_version_is_a_gap() {
        let source = [rec(0, 1, 0), rec(1, 2, 0), rec(2, 3, 0)];
        let target = [rec(0, 1, 0), rec(2, 3, 0)];
        let c = compare(&source, &target, &HashSet::new());
        assert_eq!(c.mismatch_count, 1);
        assert_eq!(c.mismatched, [1]);
        // A later record of the key written to the target by a producer
        // that already moved explains it.
        let c = compare(&source, &target, &HashSet::from([2]));
        assert_eq!(c.mismatch_count, 0);
    }

    #[test]
    fn a_changed_record_is_a_mismatch_even_when_compacted() {
        let source = [rec(0, 1, 0), rec(1, 1, 1)];
        let target = [rec(1, 1, 9)];
        let c = compare(&source, &target, &HashSet::new());
        assert_eq!((c.compacted, c.mismatch_count), (1, 1));
    }

    #[test]
    fn a_removed_tombstone_is_explained_only_with_its_history() {
        // k1 = 0, deleted at 1: the target removed both.
        let source = [rec(0, 1, 0), tomb(1, 1), rec(2, 2, 0)];
        let target = [rec(2, 2, 0)];
        let c = compare(&source, &target, &HashSet::new());
        assert_eq!((c.compacted, c.mismatch_count), (2, 0));
        // The tombstone missing while the old value survives: k1 would
        // still be alive on the target.
        let target = [rec(0, 1, 0), rec(2, 2, 0)];
        let c = compare(&source, &target, &HashSet::new());
        assert_eq!(c.mismatched, [1]);
    }
}
