//! Cutover waves: consumer groups that share a topic move together, then
//! the producers of the wave's topics; smaller waves first.

use std::collections::{BTreeMap, BTreeSet};

use super::Wave;
use crate::state::KafkaCluster;

/// The numbered waves of a cluster's groups over the `migrated` topics, and
/// a last wave for the migrated topics no group reads.
pub(super) fn plan(cluster: &KafkaCluster, migrated: &BTreeSet<&str>) -> Vec<Wave> {
    let group_topics = group_topics(cluster);
    let mut waves: Vec<Wave> = group_components(&group_topics)
        .into_iter()
        .map(|members| wave(cluster, &group_topics, &members, migrated))
        .collect();
    // Smaller waves first: they prove the procedure at the least risk.
    waves.sort_by(|a, b| {
        (a.consumer_groups.len(), a.total_lag, &a.consumer_groups).cmp(&(
            b.consumer_groups.len(),
            b.total_lag,
            &b.consumer_groups,
        ))
    });
    let unconsumed = unconsumed(&waves, migrated);
    if !unconsumed.is_empty() {
        waves.push(Wave {
            number: 0,
            consumer_groups: Vec::new(),
            producer_topics: unconsumed,
            total_lag: 0,
        });
    }
    for (i, w) in waves.iter_mut().enumerate() {
        w.number = i + 1;
    }
    waves
}

/// The topics each group reads: committed offsets and member assignments.
fn group_topics(cluster: &KafkaCluster) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut group_topics: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (group, g) in &cluster.consumer_groups {
        let topics = group_topics.entry(group.as_str()).or_default();
        topics.extend(g.offsets.iter().map(|o| o.topic.as_str()));
        topics.extend(
            g.members
                .iter()
                .flat_map(|m| m.assignments.iter().map(|a| a.topic.as_str())),
        );
    }
    group_topics
}

/// One (unnumbered) wave: its groups, their migrated topics, their lag.
fn wave(
    cluster: &KafkaCluster,
    group_topics: &BTreeMap<&str, BTreeSet<&str>>,
    members: &[&str],
    migrated: &BTreeSet<&str>,
) -> Wave {
    let topics: BTreeSet<&str> = members
        .iter()
        .flat_map(|g| group_topics[g].iter().copied())
        .filter(|t| migrated.contains(t))
        .collect();
    let total_lag = members
        .iter()
        .flat_map(|g| &cluster.consumer_groups[*g].offsets)
        .filter_map(|o| o.lag)
        .sum();
    Wave {
        number: 0,
        consumer_groups: members.iter().map(|s| (*s).to_owned()).collect(),
        producer_topics: topics.iter().map(|s| (*s).to_owned()).collect(),
        total_lag,
    }
}

/// Migrated topics that no wave's groups read.
fn unconsumed(waves: &[Wave], migrated: &BTreeSet<&str>) -> Vec<String> {
    let consumed: BTreeSet<&str> = waves
        .iter()
        .flat_map(|w| w.producer_topics.iter().map(String::as_str))
        .collect();
    migrated
        .iter()
        .filter(|t| !consumed.contains(**t))
        .map(|t| (*t).to_owned())
        .collect()
}

/// Groups that share a topic, transitively: each inner list moves together.
/// Lists are in the order of their first group.
pub(crate) fn group_components<'a>(
    group_topics: &BTreeMap<&'a str, BTreeSet<&'a str>>,
) -> Vec<Vec<&'a str>> {
    let names: Vec<&str> = group_topics.keys().copied().collect();
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, g) in names.iter().enumerate() {
        for t in &group_topics[g] {
            match owner.get(t) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    owner.insert(t, i);
                }
            }
        }
    }
    let mut components: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let r = root(&mut parent, i);
        components.entry(r).or_default().push(name);
    }
    components.into_values().collect()
}
