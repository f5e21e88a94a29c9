//! Records deleted on the source before they were copied: retention removed
//! the oldest segment during the backfill, DeleteRecords moved the log
//! start, or the log start moved between reading it and the first fetch.
//!
//! The source consumer runs with `auto.offset.reset=error`, so such a fetch
//! is an error, never librdkafka's silent jump to the end; the copy loop
//! then reads the partitions' log starts and [`find`] names the ranges that
//! are gone. The plan decides what happens next
//! ([`OnDeleted`](super::plan::OnDeleted)): stop (the default), or go on
//! from the new log start and count what could not be copied.

use std::collections::HashMap;
use std::fmt;

/// Source offsets `from..to` of a partition that were deleted before kcp
/// copied them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRange {
    pub topic: String,
    pub partition: i32,
    pub from: i64,
    pub to: i64,
}

impl DeletedRange {
    /// How many records are gone.
    pub fn count(&self) -> u64 {
        u64::try_from(self.to - self.from).unwrap_or(0)
    }
}

impl fmt::Display for DeletedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}-{}`: offsets {} to {} ({} record(s))",
            self.topic,
            self.partition,
            self.from,
            self.to - 1,
            self.count()
        )
    }
}

/// The notice for a range skipped as the plan allows.
pub(crate) fn skipping(range: &DeletedRange) -> String {
    format!(
        "records deleted on the source before they could be copied, going on without them (on_deleted_records: skip): {range}"
    )
}

/// The ranges deleted before they were copied: every partition whose next
/// source offset to copy (`next`) is below its log start.
pub(crate) fn find<'a>(
    next: impl IntoIterator<Item = (&'a str, i32, i64)>,
    log_start: &HashMap<(String, i32), i64>,
) -> Vec<DeletedRange> {
    next.into_iter()
        .filter_map(|(topic, partition, next)| {
            let start = *log_start.get(&(topic.to_owned(), partition))?;
            (next < start).then(|| DeletedRange {
                topic: topic.to_owned(),
                partition,
                from: next,
                to: start,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_partitions_behind_their_log_start_lost_records() {
        let starts: HashMap<(String, i32), i64> = [
            (("a".to_owned(), 0), 100),
            (("a".to_owned(), 1), 0),
            (("b".to_owned(), 0), 50),
        ]
        .into_iter()
        .collect();
        let found = find(
            [("a", 0, 40), ("a", 1, 7), ("b", 0, 50), ("c", 0, 3)],
            &starts,
        );
        assert_eq!(
            found,
            [DeletedRange {
                topic: "a".to_owned(),
                partition: 0,
                from: 40,
                to: 100
            }]
        );
        assert_eq!(found[0].count(), 60);
        assert_eq!(
            found[0].to_string(),
            "`a-0`: offsets 40 to 99 (60 record(s))"
        );
    }
}
