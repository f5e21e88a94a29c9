//! The replication part of a migration plan file (YAML).
//!
//! ```yaml
//! version: 1
//! name: orders-to-new
//! credentials_file: kcp-credentials.yaml   # relative to the plan file
//! source: prod                            # names in the credentials file
//! target: new-cluster
//! topics:
//!   include: '^orders\.'                  # default: every non-internal topic
//!   exclude: '\.tmp$'
//!   rename: { prefix: '', suffix: '' }
//!   merge: 'orders'                       # fan-in: may share these target topics with other sources
//! replication:
//!   read_committed: true
//!   max_bytes_per_sec: 50000000
//!   checkpoint_interval_ms: 2000
//!   transactions: true                    # default (false with scale_out): fence a frozen or second copier
//!   start_from: earliest                  # or latest, or an RFC 3339 time (see `start`)
//! ```

use crate::exit::{Diagnostic, ExitStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use super::start::{Start, StartFrom, StartOverride, StartRules};

mod cutover;
mod replication;

use cutover::check_consumer_last;
pub use cutover::{
    Cutover, CutoverConnectors, CutoverGateway, CutoverMode, CutoverSchemas, FenceProducers, Wave,
    anchored,
};
use replication::check_metadata_sync;
pub use replication::{MetadataSync, OnDeleted, ReplicationSettings};

/// Default name of the compacted topic on the target that holds offset maps.
pub const DEFAULT_MAP_TOPIC: &str = "_kcp-offset-map";

/// A plan file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    pub name: String,
    pub credentials_file: PathBuf,
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub topics: TopicSelection,
    #[serde(default)]
    pub replication: ReplicationSettings,
    /// The phased cutover (`kcp migrate init` writes it; `migrate execute` runs it).
    #[serde(default)]
    pub cutover: Option<Cutover>,
}

/// Which topics to copy and what to call them on the target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSelection {
    #[serde(default)]
    pub include: Option<String>,
    #[serde(default)]
    pub exclude: Option<String>,
    #[serde(default)]
    pub rename: Rename,
    /// Fan-in: the source topics (whole-name regular expression) whose
    /// target topic may also receive other sources' copies. Every plan
    /// writing such a target topic must say so (see `claims`).
    #[serde(default)]
    pub merge: Option<String>,
}

/// Target topic name = prefix + source name + suffix.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
    /// The other way (set by kcp for a consumer-last copy back, never read
    /// from a file): target name = source name without prefix and suffix.
    #[serde(skip)]
    pub invert: bool,
}

/// Problems with a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plan file `{path}`, at `{location}`: {message}")]
    Invalid {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("plan file `{path}` has version {found}; this kcp reads version 1")]
    Version { path: PathBuf, found: u32 },
}

impl Diagnostic for PlanError {
    fn status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            PlanError::Read { .. } => {
                "pass an existing file with `--plan` (write one with `kcp migrate init`)".into()
            }
            PlanError::Invalid { .. } => "see docs/reference/plan-file.md for the format".into(),
            PlanError::Version { .. } => {
                "install the kcp that wrote the plan, or write a new plan".into()
            }
        })
    }
}

/// A plan with its selection compiled.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    pub path: PathBuf,
    pub plan: Plan,
    include: Option<Regex>,
    exclude: Option<Regex>,
    merge: Option<Regex>,
    starts: StartRules,
    /// The ACL and quota syncs' principal mapping (empty without one).
    principals: crate::assets::PrincipalMap,
}

impl LoadedPlan {
    /// Reads and checks a plan file.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut plan = Self::parse(path, &text)?;
        if let Some(map) = plan.principal_map_path() {
            let invalid = |message: String| PlanError::Invalid {
                path: path.to_owned(),
                location: "replication.metadata_sync.principal_map".into(),
                message,
            };
            let text = std::fs::read_to_string(&map)
                .map_err(|e| invalid(format!("cannot read `{}`: {e}", map.display())))?;
            plan.principals = crate::assets::PrincipalMap::parse(&text)
                .map_err(|e| invalid(format!("`{}`: {e}", map.display())))?;
        }
        Ok(plan)
    }

    #[cfg(test)]
    pub(crate) fn set_principals(&mut self, map: crate::assets::PrincipalMap) {
        self.principals = map;
    }

    /// The ACL and quota syncs' principal mapping (empty without a file).
    pub fn principals(&self) -> &crate::assets::PrincipalMap {
        &self.principals
    }

    /// Parses plan text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, PlanError> {
        let invalid = |location: &str, message: String| PlanError::Invalid {
            path: path.to_owned(),
            location: location.to_owned(),
            message,
        };
        let de = serde_norway::Deserializer::from_str(text);
        let plan: Plan = serde_path_to_error::deserialize(de).map_err(|e| {
            let message = crate::yaml_error::locate_duplicate(text, &e.inner().to_string());
            invalid(&e.path().to_string(), message)
        })?;
        Self::from_plan(path, plan)
    }

    /// Checks a plan and compiles its selection.
    fn from_plan(path: &Path, plan: Plan) -> Result<Self, PlanError> {
        let invalid = |location: &str, message: String| PlanError::Invalid {
            path: path.to_owned(),
            location: location.to_owned(),
            message,
        };
        if plan.version != 1 {
            return Err(PlanError::Version {
                path: path.to_owned(),
                found: plan.version,
            });
        }
        let compile = |field: &str, re: &Option<String>| -> Result<Option<Regex>, PlanError> {
            re.as_deref()
                .map(|r| {
                    Regex::new(&format!("^(?:{r})$"))
                        .map_err(|e| invalid(field, format!("not a valid regular expression: {e}")))
                })
                .transpose()
        };
        let include = compile("topics.include", &plan.topics.include)?;
        let exclude = compile("topics.exclude", &plan.topics.exclude)?;
        let merge = compile("topics.merge", &plan.topics.merge)?;
        if plan.source == plan.target {
            return Err(invalid(
                "target",
                "source and target must be different clusters".into(),
            ));
        }
        if let Some(cutover) = &plan.cutover {
            let mut seen = std::collections::BTreeSet::new();
            check_consumer_last(&plan).map_err(|(at, message)| invalid(&at, message))?;
            for (i, wave) in cutover.waves.iter().enumerate() {
                for group in &wave.groups {
                    if !seen.insert(group.as_str()) {
                        return Err(invalid(
                            &format!("cutover.waves[{i}].groups"),
                            format!("group `{group}` is in more than one wave"),
                        ));
                    }
                }
            }
            if let Some(s) = &cutover.schemas {
                if s.source == s.target {
                    return Err(invalid(
                        "cutover.schemas.target",
                        "source and target must be different registries".into(),
                    ));
                }
                compile("cutover.schemas.subjects", &s.subjects)?;
                compile("cutover.schemas.exclude_subjects", &s.exclude_subjects)?;
            }
            if cutover.mode == CutoverMode::Gateway {
                if cutover.gateway.is_none() {
                    return Err(invalid(
                        "cutover.gateway",
                        "`mode: gateway` needs `gateway: { admin: http://HOST:PORT }`, the admin interface of `kcp gateway`".into(),
                    ));
                }
                if !plan.topics.rename.prefix.is_empty() || !plan.topics.rename.suffix.is_empty() {
                    return Err(invalid(
                        "topics.rename",
                        "`cutover.mode: gateway` keeps the clients' topic names: the target topics must have the source's names".into(),
                    ));
                }
            }
            if let Some(c) = &cutover.connectors {
                if c.source == c.target {
                    return Err(invalid(
                        "cutover.connectors.target",
                        "source and target must be different Connect clusters".into(),
                    ));
                }
                compile("cutover.connectors.include", &c.include)?;
            }
        }
        if plan.replication.transactions == Some(true) && plan.replication.scale_out {
            return Err(invalid(
                "replication.transactions",
                "cannot be combined with `scale_out` yet: one transactional id per plan fences every process but one; use one copier per plan with transactions, or scale out without them".into(),
            ));
        }
        if plan.replication.checkpoint_interval_ms == 0 {
            return Err(invalid(
                "replication.checkpoint_interval_ms",
                "must be positive".into(),
            ));
        }
        check_metadata_sync(&plan.replication).map_err(|(field, message)| {
            invalid(&format!("replication.metadata_sync.{field}"), message)
        })?;
        let starts = StartRules::new(
            plan.replication.start_from,
            &plan.replication.start_overrides,
        )
        .map_err(|(i, message)| invalid(&format!("replication.start_overrides[{i}]"), message))?;
        Ok(LoadedPlan {
            path: path.to_owned(),
            plan,
            include,
            exclude,
            merge,
            starts,
            principals: Default::default(),
        })
    }

    /// The plan of a consumer-last migration's copy back: from this plan's
    /// target to its source, over `topics` (target topic name → partition
    /// → the target offset the copy back starts at: the target's end when
    /// the producers stopped), under the name `<name>.reverse` (its own
    /// lease, transactional id and offset maps, kept on the source). No
    /// metadata sync (the source keeps its own configs), one copier,
    /// transactions as this plan. `topics.rename` is inverted: the
    /// prefix and suffix come off.
    pub fn reversed(
        &self,
        topics: &BTreeMap<String, BTreeMap<i32, i64>>,
    ) -> Result<LoadedPlan, PlanError> {
        let p = &self.plan;
        let names: Vec<String> = topics.keys().map(|t| regex::escape(t)).collect();
        let replication = ReplicationSettings {
            read_committed: true,
            max_bytes_per_sec: p.replication.max_bytes_per_sec,
            checkpoint_interval_ms: p.replication.checkpoint_interval_ms,
            offset_map_topic: p.replication.offset_map_topic.clone(),
            compression: p.replication.compression.clone(),
            topic_discovery_interval_secs: p.replication.topic_discovery_interval_secs,
            scale_out: false,
            on_deleted_records: OnDeleted::Stop,
            transactions: Some(p.replication.uses_transactions()),
            // A partition the moved producers' topics gain later starts at
            // its end when the copy back first sees it.
            start_from: StartFrom::Latest,
            start_overrides: topics
                .iter()
                .map(|(t, offsets)| StartOverride {
                    topics: regex::escape(t),
                    start_from: None,
                    offsets: offsets.clone(),
                })
                .collect(),
            metadata_sync: MetadataSync {
                topic_configs: false,
                ..MetadataSync::default()
            },
            copy_back: true,
        };
        let plan = Plan {
            version: 1,
            name: format!("{}.reverse", p.name),
            credentials_file: p.credentials_file.clone(),
            source: p.target.clone(),
            target: p.source.clone(),
            topics: TopicSelection {
                // Nothing when there is no topic (an include that matches no name).
                include: Some(if names.is_empty() {
                    "$.^".to_owned()
                } else {
                    names.join("|")
                }),
                rename: Rename {
                    invert: true,
                    ..p.topics.rename.clone()
                },
                ..TopicSelection::default()
            },
            replication,
            cutover: None,
        };
        Self::from_plan(&self.path, plan)
    }

    /// The principal mapping file of the ACL sync, resolved against the
    /// plan's folder.
    pub fn principal_map_path(&self) -> Option<PathBuf> {
        let p = self.plan.replication.metadata_sync.principal_map.as_ref()?;
        Some(if p.is_absolute() {
            p.clone()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        })
    }

    /// The credentials file, resolved against the plan's folder.
    pub fn credentials_path(&self) -> PathBuf {
        let p = &self.plan.credentials_file;
        if p.is_absolute() {
            p.clone()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// Whether a source topic is replicated. Internal topics (`__*`) and
    /// kcp's own topics (`_kcp*`) never are.
    pub fn selects(&self, topic: &str) -> bool {
        if crate::topic_config::reserved_name(topic) {
            return false;
        }
        self.include.as_ref().is_none_or(|re| re.is_match(topic))
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(topic))
    }

    /// Whether the user allowed the target topic of source topic `topic`
    /// to receive other sources' copies too (`topics.merge`, fan-in).
    pub fn merges(&self, topic: &str) -> bool {
        self.merge.as_ref().is_some_and(|re| re.is_match(topic))
    }

    /// Where a source partition without an offset map starts.
    pub fn start_for(&self, topic: &str, partition: i32) -> Start {
        self.starts.start_for(topic, partition)
    }

    /// Whether every partition starts at its log start.
    pub fn starts_at_earliest(&self) -> bool {
        self.starts.all_earliest()
    }

    /// The target name of a source topic.
    pub fn target_topic(&self, topic: &str) -> String {
        let r = &self.plan.topics.rename;
        if r.invert {
            return topic
                .strip_prefix(r.prefix.as_str())
                .and_then(|t| t.strip_suffix(r.suffix.as_str()))
                .unwrap_or(topic)
                .to_owned();
        }
        format!("{}{topic}{}", r.prefix, r.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &str) -> Result<LoadedPlan, PlanError> {
        LoadedPlan::parse(
            Path::new("/plans/p.yaml"),
            &format!(
                "version: 1\nname: p\ncredentials_file: creds.yaml\nsource: a\ntarget: b\n{extra}"
            ),
        )
    }

    #[test]
    fn selection_and_rename() {
        let p = plan("topics:\n  include: 'orders\\..*|payments'\n  exclude: '.*\\.tmp'\n  rename: { prefix: 'dc1.' }\n").unwrap();
        assert!(p.selects("orders.created"));
        assert!(p.selects("payments"));
        assert!(
            !p.selects("payments-old"),
            "include is anchored at both ends"
        );
        assert!(!p.selects("orders.x.tmp"));
        assert!(!p.selects("__consumer_offsets"));
        assert!(!p.selects("_kcp-offset-map"));
        assert_eq!(p.target_topic("orders.created"), "dc1.orders.created");
        assert_eq!(p.credentials_path(), Path::new("/plans/creds.yaml"));
        assert!(p.plan.replication.read_committed);
        assert!(!p.merges("orders.created"), "no merge unless asked");
        let p = plan("topics:\n  merge: 'orders\\..*'\n").unwrap();
        assert!(p.merges("orders.created"));
        assert!(!p.merges("xorders.created"), "merge is anchored");
        let e = plan("topics: { merge: '[' }\n").unwrap_err();
        assert!(e.to_string().contains("topics.merge"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let e = plan("topics: { include: '(' }\n").unwrap_err();
        assert!(e.to_string().contains("topics.include"), "{e}");
        let e = plan("replication: { read_comitted: true }\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown field `read_comitted`"),
            "{e}"
        );
        let e = LoadedPlan::parse(
            Path::new("p"),
            "version: 2\nname: p\ncredentials_file: c\nsource: a\ntarget: b\n",
        )
        .unwrap_err();
        assert!(matches!(e, PlanError::Version { found: 2, .. }));
        let e = LoadedPlan::parse(
            Path::new("p"),
            "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: a\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("must be different"), "{e}");
    }

    #[test]
    fn metadata_sync_defaults_and_errors() {
        let p = plan("").unwrap();
        let sync = &p.plan.replication.metadata_sync;
        assert_eq!(
            (sync.interval_secs, sync.topic_configs, sync.acls),
            (120, true, false)
        );
        assert!(sync.enabled());
        let off = plan("replication: { metadata_sync: { topic_configs: false } }\n").unwrap();
        assert!(!off.plan.replication.metadata_sync.enabled());
        let e = plan("replication: { metadata_sync: { interval_secs: 0 } }\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("replication.metadata_sync.interval_secs")
                && e.to_string().contains("topic_configs: false"),
            "{e}"
        );
        let e = plan("replication: { metadata_sync: { principal_map: m.yaml } }\n").unwrap_err();
        assert!(e.to_string().contains("acls: true"), "{e}");
        assert!(
            plan("replication: { metadata_sync: { quotas: true, principal_map: m.yaml } }\n")
                .is_ok()
        );
        let e =
            plan("replication: { scale_out: true, metadata_sync: { acls: true } }\n").unwrap_err();
        assert!(e.to_string().contains("scale_out"), "{e}");
        let e = plan("replication: { scale_out: true, metadata_sync: { quotas: true } }\n")
            .unwrap_err();
        assert!(e.to_string().contains("metadata_sync.quotas"), "{e}");
        let e = plan("replication: { metadata_sync: { intervall_secs: 5 } }\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown field `intervall_secs`"),
            "{e}"
        );
    }

    #[test]
    fn a_principal_map_that_cannot_be_read_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        let text = "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\nreplication: { metadata_sync: { acls: true, principal_map: m.yaml } }\n";
        std::fs::write(&path, text).unwrap();
        let e = LoadedPlan::load(&path).unwrap_err();
        assert!(e.to_string().contains("metadata_sync.principal_map"), "{e}");
        std::fs::write(
            dir.path().join("m.yaml"),
            "principals:\n  'User:a': 'User:b'\n",
        )
        .unwrap();
        let p = LoadedPlan::load(&path).unwrap();
        assert_eq!(p.principals().get("User:a"), Some("User:b"));
    }

    #[test]
    fn schemas_and_connectors_keys_are_checked() {
        let p = plan("cutover:\n  schemas: { source: s1, target: s2, subjects: 'orders-.*' }\n  connectors: { source: c1, target: c2 }\n").unwrap();
        let c = p.plan.cutover.unwrap();
        assert!(c.schemas.as_ref().unwrap().import_mode);
        assert!(
            anchored(c.schemas.unwrap().subjects.as_deref())
                .unwrap()
                .is_match("orders-value")
        );
        let p = plan("cutover:\n  mode: gateway\n  gateway: { admin: 'http://127.0.0.1:19080' }\n")
            .unwrap();
        let c = p.plan.cutover.unwrap();
        assert_eq!(
            (c.mode, c.gateway.unwrap().admin.urls()),
            (
                CutoverMode::Gateway,
                vec!["http://127.0.0.1:19080".to_owned()]
            )
        );
        let p =
            plan("cutover:\n  mode: gateway\n  gateway: { admin: ['http://a:1', 'http://b:1'] }\n")
                .unwrap();
        assert_eq!(
            p.plan.cutover.unwrap().gateway.unwrap().admin.urls(),
            ["http://a:1", "http://b:1"]
        );
        let e = plan("cutover:\n  mode: gateway\n").unwrap_err();
        assert!(e.to_string().contains("cutover.gateway"), "{e}");
        let e = plan("cutover:\n  schemas: { source: s1, target: s1 }\n").unwrap_err();
        assert!(e.to_string().contains("cutover.schemas.target"), "{e}");
        let e =
            plan("cutover:\n  connectors: { source: c1, target: c2, include: '(' }\n").unwrap_err();
        assert!(e.to_string().contains("cutover.connectors.include"), "{e}");
        let e =
            plan("cutover:\n  connectors: { source: c1, target: c2, sinks: true }\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `sinks`"), "{e}");
    }

    #[test]
    fn consumer_last_is_checked_and_reverses() {
        let waves = "cutover:\n  waves:\n    - { name: w1, groups: [g1] }\n    - { name: w2, groups: [g2], after_producers: true }\n";
        let p = plan(&format!(
            "topics: {{ include: 'orders|pay.ments' }}\n{waves}"
        ))
        .unwrap();
        assert!(p.plan.cutover.as_ref().unwrap().consumer_last());
        let e = plan("cutover:\n  waves:\n    - { name: w1, groups: [g1], after_producers: true, also_produces: true }\n").unwrap_err();
        assert!(
            e.to_string().contains("cutover.waves[0].also_produces"),
            "{e}"
        );
        let e = plan(&format!("{waves}  fence_producers: {{}}\n")).unwrap_err();
        assert!(e.to_string().contains("fence_producers.principals"), "{e}");
        let e = plan(&format!(
            "{waves}  mode: gateway\n  gateway: {{ admin: 'http://127.0.0.1:1' }}\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("cutover.mode"), "{e}");
        assert!(
            plan(&format!(
                "{waves}  fence_producers: {{ principals: ['User:app'] }}\n"
            ))
            .is_ok()
        );

        let topics = BTreeMap::from([
            ("orders".to_owned(), BTreeMap::from([(0, 40), (1, 7)])),
            ("pay.ments".to_owned(), BTreeMap::from([(0, 3)])),
        ]);
        let r = p.reversed(&topics).unwrap();
        assert_eq!(
            (
                r.plan.name.as_str(),
                r.plan.source.as_str(),
                r.plan.target.as_str()
            ),
            ("p.reverse", "b", "a")
        );
        assert!(r.selects("orders") && r.selects("pay.ments"));
        assert!(!r.selects("payxments"), "names are matched literally");
        assert!(!r.selects("orders2"));
        assert_eq!(r.start_for("orders", 1), Start::Offset(7));
        assert_eq!(r.start_for("pay.ments", 0), Start::Offset(3));
        assert_eq!(
            r.start_for("orders", 2),
            Start::Latest,
            "a partition added later"
        );
        assert!(!r.plan.replication.metadata_sync.enabled());
        assert!(r.plan.replication.copy_back && r.plan.replication.uses_transactions());
        assert!(r.plan.cutover.is_none());
        assert_eq!(r.target_topic("orders"), "orders");
        let none = p.reversed(&BTreeMap::new()).unwrap();
        assert!(!none.selects("orders"));

        // Renamed topics come back under their source names.
        let p = plan(&format!(
            "topics: {{ rename: {{ prefix: 'dc1.', suffix: '.v2' }} }}\n{waves}"
        ))
        .unwrap();
        let topics = BTreeMap::from([("dc1.orders.v2".to_owned(), BTreeMap::from([(0, 5)]))]);
        let r = p.reversed(&topics).unwrap();
        assert!(r.selects("dc1.orders.v2") && !r.selects("orders"));
        assert_eq!(r.target_topic("dc1.orders.v2"), "orders");
        assert_eq!(r.start_for("dc1.orders.v2", 0), Start::Offset(5));
        assert_eq!(
            p.target_topic("orders"),
            "dc1.orders.v2",
            "the plan itself unchanged"
        );
    }
}
