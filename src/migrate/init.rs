//! `kcp migrate init`: a migration plan from the scanned state.
//!
//! [`draft`] is pure: it selects the topics and consumer groups and groups
//! the consumer groups into cutover waves (groups that share a topic move
//! together, so no topic is read on both clusters at once), smallest lag
//! first. [`check_target`] compares the draft with the target's live
//! partition counts. [`render`] writes the documented YAML.

use crate::exit::{Diagnostic, ExitStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::assets::yaml_string;
use crate::replicator::plan::DEFAULT_MAP_TOPIC;
use crate::state::State;

/// What `init` was asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub source: String,
    pub target: String,
    pub credentials_file: PathBuf,
    pub topics_include: Option<String>,
    pub groups_include: Option<String>,
    pub plan_out: PathBuf,
    /// The target registry of `cutover.schemas` (a name under
    /// `schema_registries:`); without it the section is drafted commented out.
    pub target_registry: Option<String>,
    /// The target Connect cluster of `cutover.connectors`.
    pub target_connect: Option<String>,
    /// Consumer-last: the waves holding a group matching this pattern move
    /// after the producers (`after_producers: true`).
    pub consumers_last: Option<String>,
}

/// The plan before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Selected topic → partition count on the source.
    pub topics: BTreeMap<String, usize>,
    pub waves: Vec<DraftWave>,
    /// Groups left out by `--groups-include`.
    pub groups_left_out: Vec<String>,
    /// Topics kcp does not migrate (Connect and MirrorMaker 2 bookkeeping):
    /// the plan excludes them so the replicator leaves them too.
    pub topics_left_out: Vec<String>,
    /// `cutover.schemas`: a scanned registry (the state holds one or more).
    pub schemas: Option<DraftPeer>,
    /// `cutover.connectors`: a scanned Connect cluster on the source.
    pub connectors: Option<DraftPeer>,
    /// Sink connectors' consumer groups: they move with
    /// `cutover.connectors`, not in a wave.
    pub sink_groups: Vec<String>,
}

/// A registry or Connect cluster for the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftPeer {
    pub source: String,
    pub target: Option<String>,
    /// Other scanned candidates, named in a comment.
    pub others: Vec<String>,
}

/// The first of `names` that is not `target`, with the rest.
fn peer(names: Vec<String>, target: Option<&String>) -> Option<DraftPeer> {
    let mut names: Vec<String> = names.into_iter().filter(|n| Some(n) != target).collect();
    if names.is_empty() {
        return None;
    }
    let source = names.remove(0);
    Some(DraftPeer {
        source,
        target: target.cloned(),
        others: names,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct DraftWave {
    pub groups: Vec<String>,
    pub topics: Vec<String>,
    pub lag: i64,
    /// Groups that are Kafka Streams applications (see [`streams_apps`]),
    /// with one of their internal topics: they also produce.
    pub streams: Vec<(String, String)>,
    /// Moves after the producers (`--consumers-last`).
    pub after_producers: bool,
}

/// The groups that are Kafka Streams applications: the source holds an
/// internal topic of theirs, `<application.id>-...-changelog` or
/// `-repartition` (a Streams application's group id is its
/// `application.id`). Returned with one such topic, as evidence.
pub fn streams_apps<'a>(
    groups: &[String],
    topics: impl IntoIterator<Item = &'a String> + Clone,
) -> Vec<(String, String)> {
    groups
        .iter()
        .filter_map(|g| {
            let prefix = format!("{g}-");
            topics
                .clone()
                .into_iter()
                .find(|t| {
                    t.starts_with(&prefix)
                        && (t.ends_with("-changelog") || t.ends_with("-repartition"))
                })
                .map(|t| (g.clone(), t.clone()))
        })
        .collect()
}

/// Problems with an init request.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "cluster `{name}` is not in the state file (scanned: {})",
        crate::report::list(known)
    )]
    NotScanned { name: String, known: Vec<String> },
    #[error("source and target must be different clusters (both are `{0}`)")]
    SameCluster(String),
    #[error("{flag} `{pattern}` is not a valid regular expression: {message}")]
    BadPattern {
        flag: &'static str,
        pattern: String,
        message: String,
    },
    #[error("no topic of `{0}` is selected")]
    NoTopics(String),
    #[error(
        "target topic `{topic}` has {on_target} partition(s), {}",
        if .on_target < .on_source {
            format!("fewer than the source's {}: copying would break partition order", .on_source)
        } else {
            format!("more than the source's {}: producers moved to the target would hash keys to other partitions than the copied records", .on_source)
        }
    )]
    PartitionCount {
        topic: String,
        on_source: usize,
        on_target: usize,
    },
    #[error("`{}` already exists", .0.display())]
    Exists(PathBuf),
    #[error(
        "--consumers-last selects group `{group}`, a Kafka Streams application (internal topic `{topic}`): it also produces, so it cannot keep running on the source after the producers moved"
    )]
    ConsumerLastProduces { group: String, topic: String },
    #[error("--consumers-last `{0}` matches no consumer group of the plan's waves")]
    NoConsumerLast(String),
}

impl Diagnostic for InitError {
    fn status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            InitError::NotScanned { .. } => "run `kcp scan clusters` for the source first".into(),
            InitError::SameCluster(_) => {
                "name the target cluster of the credentials file with --target".into()
            }
            InitError::BadPattern { .. } => {
                "patterns use Rust regex syntax and match whole names".into()
            }
            InitError::NoTopics(_) => "check --topics-include against the scanned topics".into(),
            InitError::PartitionCount {
                on_source,
                on_target,
                ..
            } => {
                if on_target < on_source {
                    "delete the target topic or add partitions to it, then run init again".into()
                } else {
                    "delete the target topic (partitions cannot be removed), then run init again"
                        .into()
                }
            }
            InitError::Exists(_) => "remove it, or write the plan elsewhere with --plan-out".into(),
            InitError::ConsumerLastProduces { .. } => "leave that group out of --consumers-last: its wave moves before the producers".into(),
            InitError::NoConsumerLast(_) => "the pattern matches whole group names; `kcp report plan` lists the groups and their waves".into(),
        })
    }
}

fn compile(flag: &'static str, pattern: &Option<String>) -> Result<Option<Regex>, InitError> {
    pattern
        .as_deref()
        .map(|p| {
            Regex::new(&format!("^(?:{p})$")).map_err(|e| InitError::BadPattern {
                flag,
                pattern: p.to_owned(),
                message: e.to_string(),
            })
        })
        .transpose()
}

/// Marks the waves holding a group that `pattern` matches as moving after
/// the producers; refuses a Kafka Streams wave (it also produces) and a
/// pattern that matches nothing.
fn mark_consumers_last(waves: &mut [DraftWave], pattern: Option<&String>) -> Result<(), InitError> {
    let Some(re) = compile("--consumers-last", &pattern.cloned())? else {
        return Ok(());
    };
    let mut any = false;
    for w in waves
        .iter_mut()
        .filter(|w| w.groups.iter().any(|g| re.is_match(g)))
    {
        if let Some((group, topic)) = w.streams.first() {
            return Err(InitError::ConsumerLastProduces {
                group: group.clone(),
                topic: topic.clone(),
            });
        }
        w.after_producers = true;
        any = true;
    }
    if !any {
        return Err(InitError::NoConsumerLast(
            pattern.cloned().unwrap_or_default(),
        ));
    }
    Ok(())
}

/// Topics, groups and waves for a request, from the state alone.
pub fn draft(state: &State, req: &InitRequest) -> Result<Draft, InitError> {
    if req.source == req.target {
        return Err(InitError::SameCluster(req.source.clone()));
    }
    let cluster = state
        .clusters
        .get(&req.source)
        .filter(|c| c.scanned_at.is_some())
        .ok_or_else(|| InitError::NotScanned {
            name: req.source.clone(),
            known: state.clusters.keys().cloned().collect(),
        })?;
    let topics_re = compile("--topics-include", &req.topics_include)?;
    let schemas = peer(
        state.schema_registries.keys().cloned().collect(),
        req.target_registry.as_ref(),
    );
    let connectors = peer(
        state.connect_clusters_on(cluster.cluster_id.as_deref()),
        req.target_connect.as_ref(),
    );
    let sink_groups: BTreeSet<String> = connectors
        .iter()
        .flat_map(|p| &state.connect_clusters[&p.source].connectors)
        .filter(|(_, c)| c.kind == "sink")
        .map(|(name, c)| crate::kafka_connect::transform::sink_group(name, &c.config))
        .collect();
    let groups_re = compile("--groups-include", &req.groups_include)?;
    // Selected topics; those left out by their kind (Connect, MirrorMaker 2)
    // are excluded in the plan so the replicator leaves them too (reserved
    // names it never copies anyway).
    let mut topics: BTreeMap<String, usize> = BTreeMap::new();
    let mut topics_left_out = Vec::new();
    for (name, t) in &cluster.topics {
        if topics_re.as_ref().is_some_and(|re| !re.is_match(name)) {
            continue;
        }
        match crate::topic_config::not_migrated_reason(name, t.kind) {
            None => {
                topics.insert(name.clone(), t.partitions.len());
            }
            Some(_) if !crate::topic_config::reserved_name(name) => {
                topics_left_out.push(name.clone())
            }
            Some(_) => {}
        }
    }
    if topics.is_empty() {
        return Err(InitError::NoTopics(req.source.clone()));
    }
    // Groups reading selected topics, by the topics they read.
    let mut group_topics: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut groups_left_out = Vec::new();
    for (group, g) in &cluster.consumer_groups {
        let read: BTreeSet<&str> = g
            .offsets
            .iter()
            .map(|o| o.topic.as_str())
            .chain(
                g.members
                    .iter()
                    .flat_map(|m| m.assignments.iter().map(|a| a.topic.as_str())),
            )
            .filter(|t| topics.contains_key(*t))
            .collect();
        if read.is_empty() || sink_groups.contains(group) {
            continue;
        }
        if groups_re.as_ref().is_some_and(|re| !re.is_match(group)) {
            groups_left_out.push(group.clone());
            continue;
        }
        group_topics.insert(group, read);
    }
    let mut waves: Vec<DraftWave> = crate::report::plan::group_components(&group_topics)
        .into_iter()
        .map(|groups| {
            let topics: BTreeSet<&str> = groups
                .iter()
                .flat_map(|g| group_topics[g].iter().copied())
                .collect();
            let lag = groups
                .iter()
                .flat_map(|g| &cluster.consumer_groups[*g].offsets)
                .filter_map(|o| o.lag)
                .sum();
            let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
            DraftWave {
                streams: streams_apps(&groups, cluster.topics.keys()),
                groups,
                topics: topics.iter().map(|t| (*t).to_owned()).collect(),
                lag,
                after_producers: false,
            }
        })
        .collect();
    // Least lag first: the quickest wave proves the procedure.
    waves.sort_by(|a, b| (a.lag, &a.groups).cmp(&(b.lag, &b.groups)));
    mark_consumers_last(&mut waves, req.consumers_last.as_ref())?;
    Ok(Draft {
        topics,
        waves,
        groups_left_out,
        topics_left_out,
        schemas,
        connectors,
        sink_groups: sink_groups.into_iter().collect(),
    })
}

/// Refuses target topics whose partition count differs from the source's.
pub fn check_target(
    draft: &Draft,
    target_partitions: &BTreeMap<String, usize>,
) -> Result<(), InitError> {
    for (topic, &source) in &draft.topics {
        if let Some(&target) = target_partitions.get(topic)
            && target != source
        {
            return Err(InitError::PartitionCount {
                topic: topic.clone(),
                on_source: source,
                on_target: target,
            });
        }
    }
    Ok(())
}

/// The credentials path as the plan should name it: relative to the plan's
/// folder when it sits there, absolute otherwise.
fn credentials_ref(credentials: &Path, plan: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (c, p) = (abs(credentials), abs(plan));
    match (c.parent(), p.parent(), c.file_name()) {
        (Some(a), Some(b), Some(name)) if a == b => name.to_string_lossy().into_owned(),
        _ => c.display().to_string(),
    }
}

/// The plan file text.
pub fn render(req: &InitRequest, draft: &Draft, version: &str) -> String {
    let q = yaml_string;
    let mut s = format!(
        "# kcp migration plan: {src} to {dst}, written by `kcp migrate init` (kcp {version}).\n\
         # Reference: docs/reference/plan-file.md. Review the waves and fill in the\n\
         # hooks, then run: kcp migrate execute --plan {plan}\n\
         version: 1\nname: {name}\ncredentials_file: {creds}\nsource: {srcq}\ntarget: {dstq}\n",
        src = req.source,
        dst = req.target,
        plan = req.plan_out.display(),
        name = q(&format!("{}-to-{}", req.source, req.target)),
        creds = q(&credentials_ref(&req.credentials_file, &req.plan_out)),
        srcq = q(&req.source),
        dstq = q(&req.target),
    );
    s.push_str(&format!(
        "# {} topic(s), {} partition(s).\n",
        draft.topics.len(),
        draft.topics.values().sum::<usize>()
    ));
    if req.topics_include.is_some() || !draft.topics_left_out.is_empty() {
        s.push_str("topics:\n");
    }
    if let Some(include) = &req.topics_include {
        s.push_str(&format!("  include: {}\n", q(include)));
    }
    if !draft.topics_left_out.is_empty() {
        let names: Vec<String> = draft
            .topics_left_out
            .iter()
            .map(|t| regex::escape(t))
            .collect();
        s.push_str(&format!(
            "  # Kafka Connect and MirrorMaker 2 bookkeeping: not migrated.\n  exclude: {}\n",
            q(&names.join("|"))
        ));
    }
    s.push_str(&format!(
        "replication:\n  read_committed: true\n  checkpoint_interval_ms: 2000\n  offset_map_topic: {}\n",
        q(DEFAULT_MAP_TOPIC)
    ));
    s.push_str(
        "cutover:\n\
         \x20 # Catch-up ends when the total lag stays at or under this many records\n\
         \x20 # for lag_sustain_secs.\n\
         \x20 lag_threshold_records: 1000\n\
         \x20 lag_sustain_secs: 30\n\
         \x20 # Producers count as stopped once no source partition grows for this long.\n\
         \x20 producer_quiet_secs: 10\n\
         \x20 # Without a stop hook, on clusters that cannot list group members, a\n\
         \x20 # group counts as stopped once its offsets stay unchanged this long.\n\
         \x20 group_quiet_secs: 5\n\
         \x20 # A hook still running after this long is killed and the step fails.\n\
         \x20 hook_timeout_secs: 600\n\
         \x20 # Shell commands run by `migrate execute` (null: kcp waits for you).\n\
         \x20 # Hooks get KCP_PLAN, KCP_STEP, KCP_DIRECTION (forward|rollback),\n\
         \x20 # KCP_START_ON (source|target), KCP_BOOTSTRAP (servers of that cluster),\n\
         \x20 # KCP_WAVE and KCP_GROUPS. They must be safe to run twice.\n\
         \x20 stop_producers: null\n\
         \x20 # Starting producers on the target is the point of no return.\n\
         \x20 start_producers: null\n",
    );
    if draft.groups_left_out.is_empty() {
        s.push_str("  # Consumer groups that share a topic move together; least lag first.\n");
    } else {
        s.push_str(&format!(
            "  # Consumer groups that share a topic move together; least lag first.\n  # Left out by --groups-include: {}\n",
            draft.groups_left_out.join(", ")
        ));
    }
    if draft.waves.is_empty() {
        s.push_str("  waves: []\n");
    } else {
        s.push_str("  waves:\n");
        for (i, w) in draft.waves.iter().enumerate() {
            let list = |items: &[String]| items.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ");
            s.push_str(&format!(
                "    - name: {}\n      # lag at scan time: {} record(s)\n      groups: [{}]\n      topics: [{}]\n      # Stops these groups' consumers on the source (null: kcp waits until they leave).\n      stop_consumers: null\n      # Starts them against the target, from the translated offsets.\n      start_consumers: null\n",
                q(&format!("wave-{}", i + 1)),
                w.lag,
                list(&w.groups),
                list(&w.topics)
            ));
            if !w.streams.is_empty() {
                let apps: Vec<String> = w
                    .streams
                    .iter()
                    .map(|(g, t)| format!("{g} (internal topic {t})"))
                    .collect();
                s.push_str(&format!(
                    "      # Kafka Streams {}\n      # also produces: starting this wave on the target is a point of no return.\n      also_produces: true\n",
                    apps.join(", ")
                ));
            }
            if w.after_producers {
                s.push_str("      # Consumer-last: moves after the producers; until then kcp copies what\n      # they write to the target back to the source (docs/runbook.md).\n      after_producers: true\n");
            }
        }
    }
    render_peers(&mut s, draft);
    s
}

/// The `cutover.schemas` and `cutover.connectors` sections; commented out
/// while the target is not named (`--target-registry`, `--target-connect`).
fn render_peers(s: &mut String, draft: &Draft) {
    let q = yaml_string;
    let section = |s: &mut String, p: &DraftPeer, head: &str, key: &str, flag: &str, body: &str| {
        s.push_str(head);
        if !p.others.is_empty() {
            s.push_str(&format!(
                "  # Also scanned (one per plan): {}\n",
                p.others.join(", ")
            ));
        }
        let (c, target) = match &p.target {
            Some(t) => ("", q(t)),
            None => {
                s.push_str(&format!(
                    "  # Name the target with {flag} or below, then uncomment.\n"
                ));
                ("# ", q("TARGET"))
            }
        };
        s.push_str(&format!(
            "  {c}{key}:\n  {c}  source: {}\n  {c}  target: {target}\n",
            q(&p.source)
        ));
        for line in body.lines() {
            s.push_str(&format!("  {c}  {line}\n"));
        }
    };
    if let Some(p) = &draft.schemas {
        section(
            s,
            p,
            "  # Copy the registry's subjects keeping every schema id, before the\n  # consumer waves and again before the producers move.\n",
            "schemas",
            "--target-registry",
            "# false for a target without IMPORT mode (Apicurio's Confluent API).\nimport_mode: true",
        );
    }
    if let Some(p) = &draft.connectors {
        let groups = if draft.sink_groups.is_empty() {
            String::new()
        } else {
            format!(" ({})", draft.sink_groups.join(", "))
        };
        section(
            s,
            p,
            &format!(
                "  # Move the connectors: sinks as a wave after the waves above, their\n  # groups' offsets translated{groups}; sources stopped before the\n  # producers and re-created on the target with their offsets after them.\n"
            ),
            "connectors",
            "--target-connect",
            "# include: '.*'",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_topic_must_have_the_source_partition_count() {
        let draft = Draft {
            topics: [("orders".to_owned(), 3), ("logs".to_owned(), 1)].into(),
            waves: Vec::new(),
            groups_left_out: Vec::new(),
            topics_left_out: Vec::new(),
            schemas: None,
            connectors: None,
            sink_groups: Vec::new(),
        };
        let same: BTreeMap<String, usize> = [("orders".to_owned(), 3)].into();
        assert!(check_target(&draft, &same).is_ok());
        let fewer: BTreeMap<String, usize> = [("orders".to_owned(), 2)].into();
        let e = check_target(&draft, &fewer).unwrap_err();
        assert!(e.to_string().contains("fewer than the source's 3"), "{e}");
        let more: BTreeMap<String, usize> = [("logs".to_owned(), 4)].into();
        let e = check_target(&draft, &more).unwrap_err();
        assert!(e.to_string().contains("more than the source's 1"), "{e}");
        assert!(e.hint().unwrap().contains("cannot be removed"));
    }

    /// A request for the example state, onprem-prod to new-dc.
    fn example_request() -> InitRequest {
        InitRequest {
            source: "onprem-prod".into(),
            target: "new-dc".into(),
            credentials_file: "/plans/creds.yaml".into(),
            topics_include: None,
            groups_include: None,
            plan_out: "/plans/plan.yaml".into(),
            target_registry: None,
            target_connect: None,
            consumers_last: None,
        }
    }

    /// A scanned registry and the source's Connect cluster give the plan
    /// its `schemas` and `connectors` sections; a sink connector's group
    /// moves with the connectors, not in a wave.
    #[test]
    fn scanned_registries_and_connectors_are_drafted() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("state-examples/self-managed.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut state = crate::state::parse(&path, &text, chrono::Utc::now())
            .unwrap()
            .state;
        let cluster = &state.clusters["onprem-prod"];
        let (group, topic) = cluster
            .consumer_groups
            .iter()
            .find_map(|(g, c)| c.offsets.first().map(|o| (g.clone(), o.topic.clone())))
            .unwrap();
        let id = cluster.cluster_id.clone();
        state
            .schema_registries
            .insert("src-sr".into(), Default::default());
        let sink = crate::state::Connector {
            kind: "sink".into(),
            config: [
                ("topics".to_owned(), topic),
                ("consumer.override.group.id".to_owned(), group.clone()),
            ]
            .into(),
            ..Default::default()
        };
        state.connect_clusters.insert(
            "src-connect".into(),
            crate::state::ConnectCluster {
                kafka_cluster_id: id,
                connectors: [("out".to_owned(), sink)].into(),
                ..Default::default()
            },
        );
        let mut req = example_request();
        let parse = |req: &InitRequest| {
            let d = draft(&state, req).unwrap();
            let yaml = render(req, &d, "0.0.0");
            let plan = crate::replicator::LoadedPlan::parse(Path::new("/plans/plan.yaml"), &yaml)
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            (d, yaml, plan.plan.cutover.unwrap())
        };
        let (d, yaml, c) = parse(&req);
        assert!(c.schemas.is_none() && c.connectors.is_none(), "{yaml}");
        assert!(yaml.contains("  #   source: \"src-sr\"\n"), "{yaml}");
        assert!(yaml.contains("--target-connect"), "{yaml}");
        assert_eq!(d.sink_groups, std::slice::from_ref(&group));
        assert!(!c.waves.iter().any(|w| w.groups.contains(&group)));
        req.target_registry = Some("dst-sr".into());
        req.target_connect = Some("dst-connect".into());
        let (_, yaml, c) = parse(&req);
        let s = c.schemas.unwrap();
        assert_eq!(
            (s.source.as_str(), s.target.as_str(), s.import_mode),
            ("src-sr", "dst-sr", true),
            "{yaml}"
        );
        let k = c.connectors.unwrap();
        assert_eq!(
            (k.source.as_str(), k.target.as_str()),
            ("src-connect", "dst-connect")
        );
    }

    #[test]
    fn the_example_state_gives_a_documented_plan_the_replicator_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("state-examples/self-managed.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let state = crate::state::parse(&path, &text, chrono::Utc::now())
            .unwrap()
            .state;
        let req = example_request();
        let d = draft(&state, &req).unwrap();
        let yaml = render(&req, &d, "0.0.0");
        insta::assert_snapshot!("plan_self_managed", yaml);
        let loaded =
            crate::replicator::LoadedPlan::parse(Path::new("/plans/plan.yaml"), &yaml).unwrap();
        let waves = &loaded.plan.cutover.as_ref().unwrap().waves;
        assert_eq!(waves.len(), d.waves.len());
        assert!(!waves.is_empty());
        assert!(
            !d.topics.contains_key("__consumer_offsets")
                && !d.topics.contains_key("connect-offsets")
        );
    }

    /// `--consumers-last` marks the waves of the matching groups
    /// `after_producers`; the replicator reads the plan so; a Streams
    /// wave or a pattern matching nothing is refused.
    #[test]
    fn consumers_last_waves_are_drafted_after_the_producers() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("state-examples/self-managed.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let state = crate::state::parse(&path, &text, chrono::Utc::now())
            .unwrap()
            .state;
        let plain = draft(&state, &example_request()).unwrap();
        let last = plain
            .waves
            .iter()
            .find(|w| w.streams.is_empty())
            .unwrap()
            .groups[0]
            .clone();
        let req = InitRequest {
            consumers_last: Some(regex::escape(&last)),
            ..example_request()
        };
        let d = draft(&state, &req).unwrap();
        let marked: Vec<&DraftWave> = d.waves.iter().filter(|w| w.after_producers).collect();
        assert_eq!(marked.len(), 1);
        assert!(marked[0].groups.contains(&last));
        let yaml = render(&req, &d, "0.0.0");
        let loaded =
            crate::replicator::LoadedPlan::parse(Path::new("/plans/plan.yaml"), &yaml).unwrap();
        let cutover = loaded.plan.cutover.unwrap();
        assert!(cutover.consumer_last());
        let waves: Vec<&str> = cutover
            .waves
            .iter()
            .filter(|w| w.after_producers)
            .flat_map(|w| w.groups.iter().map(String::as_str))
            .collect();
        assert_eq!(waves, marked[0].groups);

        let req = InitRequest {
            consumers_last: Some("no-such-group".into()),
            ..example_request()
        };
        let e = draft(&state, &req).unwrap_err();
        assert!(matches!(e, InitError::NoConsumerLast(_)), "{e}");
        if let Some(streams) = plain.waves.iter().find(|w| !w.streams.is_empty()) {
            let req = InitRequest {
                consumers_last: Some(regex::escape(&streams.streams[0].0)),
                ..example_request()
            };
            let e = draft(&state, &req).unwrap_err();
            assert!(matches!(e, InitError::ConsumerLastProduces { .. }), "{e}");
        }
    }

    #[test]
    fn a_group_with_streams_internal_topics_is_a_streams_application() {
        let topics: Vec<String> = [
            "orders",
            "wordcount-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog",
            "billing-archive",
            "fraud-repartition",
        ]
        .map(String::from)
        .into();
        let groups: Vec<String> = ["wordcount", "billing", "fraud", "word"]
            .map(String::from)
            .into();
        assert_eq!(
            streams_apps(&groups, topics.iter()),
            [
                (
                    "wordcount".to_owned(),
                    "wordcount-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog".to_owned()
                ),
                ("fraud".to_owned(), "fraud-repartition".to_owned()),
            ]
        );
    }

    #[test]
    fn credentials_are_named_relative_to_the_plan_when_beside_it() {
        assert_eq!(
            credentials_ref(Path::new("/a/creds.yaml"), Path::new("/a/plan.yaml")),
            "creds.yaml"
        );
        assert_eq!(
            credentials_ref(Path::new("/b/creds.yaml"), Path::new("/a/plan.yaml")),
            "/b/creds.yaml"
        );
    }
}
