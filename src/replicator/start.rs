//! Where copying of a partition begins the first time (plan keys
//! `replication.start_from` and `replication.start_overrides`). A partition
//! with an offset map resumes from it whatever these say.
//!
//! ```yaml
//! replication:
//!   start_from: earliest                # earliest | latest | 2026-11-01T00:00:00Z
//!   start_overrides:                    # the first whose `topics` matches wins
//!     - { topics: 'logs\..*', start_from: latest }
//!     - { topics: orders, offsets: { 0: 1200, 3: 50 } }   # other partitions: start_from
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Deserialize;

/// A start position as written in the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum StartFrom {
    /// The source's log start (what retention kept): the whole history.
    #[default]
    Earliest,
    /// The source's end when kcp first sees the partition: new records only.
    Latest,
    /// The first record with a timestamp at or after this instant
    /// (ListOffsets by time); the end when there is none.
    Timestamp(DateTime<Utc>),
}

impl TryFrom<String> for StartFrom {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "earliest" => Ok(StartFrom::Earliest),
            "latest" => Ok(StartFrom::Latest),
            other => DateTime::parse_from_rfc3339(other)
                .map(|t| StartFrom::Timestamp(t.with_timezone(&Utc)))
                .map_err(|_| {
                    format!(
                        "`{other}` is not a start position: use earliest, latest or an RFC 3339 time such as 2026-11-01T00:00:00Z"
                    )
                }),
        }
    }
}

impl fmt::Display for StartFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartFrom::Earliest => f.write_str("earliest"),
            StartFrom::Latest => f.write_str("latest"),
            StartFrom::Timestamp(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

/// A start for the topics a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartOverride {
    /// A regular expression matched against the whole source topic name.
    pub topics: String,
    #[serde(default)]
    pub start_from: Option<StartFrom>,
    /// Explicit source offsets by partition.
    #[serde(default)]
    pub offsets: BTreeMap<i32, i64>,
}

/// Where one partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Offset(i64),
}

/// The plan's start rules with their patterns compiled.
#[derive(Debug, Clone, Default)]
pub struct StartRules {
    default: StartFrom,
    overrides: Vec<(Regex, StartOverride)>,
}

impl StartRules {
    /// Compiles the overrides; an error names the override's index and the
    /// problem.
    pub(crate) fn new(
        default: StartFrom,
        overrides: &[StartOverride],
    ) -> Result<Self, (usize, String)> {
        let mut compiled = Vec::new();
        for (i, o) in overrides.iter().enumerate() {
            let re = Regex::new(&format!("^(?:{})$", o.topics))
                .map_err(|e| (i, format!("not a valid regular expression: {e}")))?;
            if let Some((p, offset)) = o.offsets.iter().find(|(p, o)| **p < 0 || **o < 0) {
                return Err((
                    i,
                    format!("partition {p} offset {offset}: both must be >= 0"),
                ));
            }
            compiled.push((re, o.clone()));
        }
        Ok(StartRules {
            default,
            overrides: compiled,
        })
    }

    /// Where `topic`-`partition` starts: the first matching override's
    /// offset for the partition, else its `start_from`, else the plan's.
    pub fn start_for(&self, topic: &str, partition: i32) -> Start {
        let matching = self.overrides.iter().find(|(re, _)| re.is_match(topic));
        if let Some((_, o)) = matching
            && let Some(offset) = o.offsets.get(&partition)
        {
            return Start::Offset(*offset);
        }
        match matching
            .and_then(|(_, o)| o.start_from)
            .unwrap_or(self.default)
        {
            StartFrom::Earliest => Start::Earliest,
            StartFrom::Latest => Start::Latest,
            StartFrom::Timestamp(t) => Start::Timestamp(t.timestamp_millis()),
        }
    }

    /// Whether every partition starts at its log start (no query needed).
    pub fn all_earliest(&self) -> bool {
        self.default == StartFrom::Earliest
            && self.overrides.iter().all(|(_, o)| {
                o.offsets.is_empty() && o.start_from.is_none_or(|s| s == StartFrom::Earliest)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_override_wins_and_offsets_beat_its_start_from() {
        let overrides: Vec<StartOverride> = serde_norway::from_str(
            "- { topics: 'logs\\..*', start_from: latest }\n- { topics: orders, start_from: '2026-11-01T00:00:00Z', offsets: { 0: 1200 } }\n- { topics: '.*', start_from: earliest }\n",
        )
        .unwrap();
        let rules = StartRules::new(StartFrom::Latest, &overrides).unwrap();
        assert_eq!(rules.start_for("logs.app", 3), Start::Latest);
        assert_eq!(rules.start_for("orders", 0), Start::Offset(1200));
        assert_eq!(
            rules.start_for("orders", 1),
            Start::Timestamp(1_793_491_200_000)
        );
        assert_eq!(rules.start_for("payments", 0), Start::Earliest);
        assert!(!rules.all_earliest());
        assert!(StartRules::default().all_earliest());
    }

    #[test]
    fn bad_positions_and_patterns_are_named() {
        let err = StartFrom::try_from("yesterday".to_owned()).unwrap_err();
        assert!(
            err.contains("earliest, latest or an RFC 3339 time"),
            "{err}"
        );
        let bad = StartOverride {
            topics: "(".into(),
            start_from: None,
            offsets: BTreeMap::new(),
        };
        assert_eq!(
            StartRules::new(StartFrom::Earliest, &[bad]).unwrap_err().0,
            0
        );
        let negative = StartOverride {
            topics: "t".into(),
            start_from: None,
            offsets: BTreeMap::from([(0, -5)]),
        };
        assert!(
            StartRules::new(StartFrom::Earliest, &[negative])
                .unwrap_err()
                .1
                .contains(">= 0")
        );
    }
}
