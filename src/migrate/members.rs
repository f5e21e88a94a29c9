//! Whether a cutover wave's consumer groups have left the cluster, judged
//! from what the cluster answered to DescribeConsumerGroups. Pure: no
//! network, no clock; [`execute`](super::execute) asks and waits.

use crate::connect::admin::{AdminError, GroupDescription, coordinator_not_ready};

/// What a DescribeConsumerGroups answer says about the groups' members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Members {
    /// No group has a member left.
    Gone,
    /// Some groups still have members (named, with their counts);
    /// `statics` names the static members (`group.instance.id`) among them.
    Present { busy: String, statics: Vec<String> },
    /// A coordinator is loading or moving, or the call timed out: ask again.
    NotReady(String),
    /// The cluster cannot list members (no such API, no permission): wait
    /// for the committed offsets to stay unchanged instead.
    Unknown(String),
}

/// Judges one DescribeConsumerGroups answer.
pub(crate) fn assess(answer: Result<&[GroupDescription], &AdminError>) -> Members {
    let described = match answer {
        Ok(described) => described,
        Err(e @ AdminError::Timeout { .. }) => return Members::NotReady(e.to_string()),
        Err(e) if coordinator_not_ready(e.code()) => return Members::NotReady(e.to_string()),
        Err(e) => return Members::Unknown(e.to_string()),
    };
    let failed = |loading: bool| {
        described
            .iter()
            .filter(|g| g.error.is_some())
            .filter(|g| g.error_code.as_deref().is_some_and(coordinator_not_ready) == loading)
            .map(|g| format!("{}: {}", g.group_id, g.error.as_deref().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let unknown = failed(false);
    if !unknown.is_empty() {
        return Members::Unknown(unknown.join("; "));
    }
    let loading = failed(true);
    if !loading.is_empty() {
        return Members::NotReady(loading.join("; "));
    }
    let busy: Vec<String> = described
        .iter()
        .filter(|g| !g.members.is_empty())
        .map(|g| format!("{} ({} member(s))", g.group_id, g.members.len()))
        .collect();
    let statics: Vec<String> = described
        .iter()
        .flat_map(|g| {
            g.members.iter().filter_map(|m| {
                let id = m.group_instance_id.as_deref()?;
                Some(format!("{} (group.instance.id {id})", g.group_id))
            })
        })
        .collect();
    if busy.is_empty() {
        Members::Gone
    } else {
        Members::Present {
            busy: busy.join(", "),
            statics,
        }
    }
}

/// What to tell the operator about static members still in a group: a
/// static member's consumer does not leave the group when it stops; the
/// coordinator removes it once `session.timeout.ms` has passed.
pub(crate) fn static_note(statics: &[String]) -> Option<String> {
    (!statics.is_empty()).then(|| {
        format!(
            "static member(s) {}: a consumer with group.instance.id stays in its group for session.timeout.ms after it stops (it sends no LeaveGroup); kcp waits until the coordinator removes it (the Admin API's removeMembersFromConsumerGroup removes it at once)",
            statics.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::connect::admin::MemberInfo;

    fn group(id: &str, members: usize, error: Option<(&str, &str)>) -> GroupDescription {
        GroupDescription {
            group_id: id.to_owned(),
            state: if members > 0 { "Stable" } else { "Empty" }.to_owned(),
            partition_assignor: String::new(),
            simple: false,
            members: (0..members)
                .map(|i| MemberInfo {
                    member_id: format!("m{i}"),
                    client_id: "c".to_owned(),
                    host: "/127.0.0.1".to_owned(),
                    group_instance_id: (i == 1).then(|| format!("{id}-static")),
                    assignment: Vec::new(),
                })
                .collect(),
            error: error.map(|(_, message)| message.to_owned()),
            error_code: error.map(|(code, _)| code.to_owned()),
        }
    }

    #[test]
    fn groups_without_members_are_gone_and_others_are_named() {
        let groups = [group("a", 0, None), group("b", 2, None)];
        assert_eq!(assess(Ok(&groups[..1])), Members::Gone);
        assert_eq!(
            assess(Ok(&groups)),
            Members::Present {
                busy: "b (2 member(s))".to_owned(),
                statics: vec!["b (group.instance.id b-static)".to_owned()],
            }
        );
        let note = static_note(&["b (group.instance.id b-static)".to_owned()]).unwrap();
        assert!(note.contains("session.timeout.ms"), "{note}");
        assert_eq!(static_note(&[]), None);
    }

    /// A coordinator that is still loading (a fresh target, a broker that
    /// just restarted) is asked again; it must not switch the wait to the
    /// quiet-window fallback for the rest of the run.
    #[test]
    fn a_loading_coordinator_is_asked_again() {
        let groups = [
            group("a", 0, None),
            group("b", 0, Some(("COORDINATOR_LOAD_IN_PROGRESS", "loading"))),
        ];
        assert!(matches!(assess(Ok(&groups)), Members::NotReady(m) if m.contains("b: loading")));
        let moved = AdminError::Failed {
            call: "DescribeConsumerGroups",
            code: "NOT_COORDINATOR".to_owned(),
            message: "moved".to_owned(),
        };
        assert!(matches!(assess(Err(&moved)), Members::NotReady(_)));
        let slow = AdminError::Timeout {
            call: "DescribeConsumerGroups",
            timeout: Duration::from_secs(10),
        };
        assert!(matches!(assess(Err(&slow)), Members::NotReady(_)));
    }

    /// Clusters that cannot describe groups at all fall back to the quiet
    /// window (the broker lacks the API, or the principal may not describe).
    #[test]
    fn a_cluster_that_cannot_describe_groups_falls_back() {
        let unsupported = AdminError::Failed {
            call: "DescribeConsumerGroups",
            code: "_UNSUPPORTED_FEATURE".to_owned(),
            message: "broker does not support DescribeGroups".to_owned(),
        };
        assert!(
            matches!(assess(Err(&unsupported)), Members::Unknown(m) if m.contains("DescribeGroups"))
        );
        let denied = [
            group("a", 0, None),
            group(
                "b",
                0,
                Some(("GROUP_AUTHORIZATION_FAILED", "not authorized")),
            ),
        ];
        assert_eq!(
            assess(Ok(&denied)),
            Members::Unknown("b: not authorized".to_owned())
        );
    }
}
