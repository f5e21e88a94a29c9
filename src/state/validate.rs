//! Checks a typed state for problems that the types alone cannot rule out.
//! Every problem names its JSON pointer, so users can find it in the file.

use std::fmt;

use super::model::{CURRENT_SCHEMA_VERSION, State};

/// One problem in a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer (RFC 6901) to the offending value; empty for the root.
    pub pointer: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {at}: {}", self.message)
    }
}

/// Escapes one reference token for a JSON pointer.
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// All semantic problems of a state; empty when it is valid.
pub(crate) fn check(state: &State) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem =
        |pointer: String, message: String| problems.push(Problem { pointer, message });

    if state.schema_version != CURRENT_SCHEMA_VERSION {
        problem(
            "/schema_version".into(),
            format!(
                "expected {CURRENT_SCHEMA_VERSION}, found {}",
                state.schema_version
            ),
        );
    }
    if state.updated_at < state.created_at {
        problem(
            "/updated_at".into(),
            format!("is before created_at ({})", state.created_at.to_rfc3339()),
        );
    }

    for (region_name, region) in &state.msk_regions {
        let rp = format!("/msk_regions/{}", escape_token(region_name));
        for (arn, cluster) in &region.clusters {
            let cp = format!("{rp}/clusters/{}", escape_token(arn));
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() < 6 || parts[0] != "arn" || parts[2] != "kafka" {
                problem(
                    cp.clone(),
                    "key is not an MSK cluster ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/ID)"
                        .into(),
                );
            } else if parts[3] != region_name {
                problem(
                    cp.clone(),
                    format!(
                        "ARN is in region {}, but it is listed under region {region_name}",
                        parts[3]
                    ),
                );
            }
            if &cluster.arn != arn {
                problem(
                    format!("{cp}/arn"),
                    format!("does not match its key `{arn}`"),
                );
            }
        }
    }

    for (name, cluster) in &state.clusters {
        let cp = format!("/clusters/{}", escape_token(name));
        if cluster.bootstrap_servers.is_empty() {
            problem(
                format!("{cp}/bootstrap_servers"),
                "must list at least one host:port".into(),
            );
        }
        for (topic_name, topic) in &cluster.topics {
            let tp = format!("{cp}/topics/{}", escape_token(topic_name));
            for (i, partition) in topic.partitions.iter().enumerate() {
                let pp = format!("{tp}/partitions/{i}");
                if partition.id != i as i32 {
                    problem(
                        format!("{pp}/id"),
                        format!(
                            "expected partition ids 0..{} in order, found {}",
                            topic.partitions.len(),
                            partition.id
                        ),
                    );
                }
                if let (Some(lo), Some(hi)) = (partition.earliest_offset, partition.latest_offset)
                    && lo > hi
                {
                    problem(
                        pp,
                        format!("earliest_offset {lo} is after latest_offset {hi}"),
                    );
                }
            }
        }
        for (group_name, group) in &cluster.consumer_groups {
            let gp = format!("{cp}/consumer_groups/{}", escape_token(group_name));
            for (i, offset) in group.offsets.iter().enumerate() {
                if offset.lag.is_some_and(|lag| lag < 0) {
                    problem(
                        format!("{gp}/offsets/{i}/lag"),
                        "must not be negative".into(),
                    );
                }
            }
        }
    }
    problems
}
