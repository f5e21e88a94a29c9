//! The `cutover` part of a plan: waves, hooks or the gateway, the producer
//! fence, schemas and connectors, and the checks of consumer-last waves.

use regex::Regex;
use serde::Deserialize;

use super::Plan;
use super::replication::yes;

/// How consumers and producers move to the target.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cutover {
    /// Catch-up is done when every partition's lag stays below this many
    /// records for `lag_sustain_secs`.
    #[serde(default = "default_lag_threshold")]
    pub lag_threshold_records: i64,
    #[serde(default = "default_lag_sustain")]
    pub lag_sustain_secs: u64,
    /// Producers count as stopped when no source partition grows for this long.
    #[serde(default = "default_quiet")]
    pub producer_quiet_secs: u64,
    /// Without a stop hook, how long a group's committed offsets must stay
    /// unchanged before kcp takes its consumers as stopped when the cluster
    /// cannot list group members (DescribeGroups refused).
    #[serde(default = "default_group_quiet")]
    pub group_quiet_secs: u64,
    /// A hook still running after this long is killed and the step fails.
    #[serde(default = "default_hook_timeout")]
    pub hook_timeout_secs: u64,
    /// Shell command that stops the producers writing to the source.
    #[serde(default)]
    pub stop_producers: Option<String>,
    /// Shell command that starts the producers against the target (the
    /// point of no return).
    #[serde(default)]
    pub start_producers: Option<String>,
    /// Consumer groups in the order they move.
    #[serde(default)]
    pub waves: Vec<Wave>,
    /// Fence the producers at `producers/stop`: deny-Write ACLs on the
    /// plan's source topics (see `migrate::fence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence_producers: Option<FenceProducers>,
    /// Copy the Schema Registry's subjects (ids kept) before the consumer
    /// waves, and again before the producers move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schemas: Option<CutoverSchemas>,
    /// Move the Kafka Connect connectors: sinks as a wave after the
    /// consumer waves, sources with the producers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectors: Option<CutoverConnectors>,
    /// How clients move: hooks and the operator (default), or `kcp
    /// gateway`'s routes (`gateway`, with `cutover.gateway`).
    #[serde(default, skip_serializing_if = "CutoverMode::is_hooks")]
    pub mode: CutoverMode,
    /// The gateway clients use, for `mode: gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<CutoverGateway>,
}

/// `cutover.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CutoverMode {
    /// Hooks (or the operator) stop and start the applications.
    #[default]
    Hooks,
    /// Clients stay connected to `kcp gateway`, whose routes kcp switches
    /// (docs/gateway.md).
    Gateway,
}

impl CutoverMode {
    fn is_hooks(&self) -> bool {
        *self == CutoverMode::Hooks
    }
}

/// `cutover.gateway`: where kcp reaches the gateway's admin interface.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CutoverGateway {
    /// `http://HOST:PORT` of `kcp gateway --admin-addr`, or a list, one
    /// per replica; a host resolving to several addresses (a Kubernetes
    /// headless Service) stands for a replica at each.
    pub admin: AdminAddresses,
}

/// `cutover.gateway.admin`: one address or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum AdminAddresses {
    One(String),
    Several(Vec<String>),
}

impl AdminAddresses {
    /// Every address given.
    pub fn urls(&self) -> Vec<String> {
        match self {
            AdminAddresses::One(url) => vec![url.clone()],
            AdminAddresses::Several(urls) => urls.clone(),
        }
    }
}

/// `cutover.schemas`: which registries (names under `schema_registries:`
/// in the credentials file) and which subjects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CutoverSchemas {
    pub source: String,
    pub target: String,
    /// Subjects whose whole name matches (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<String>,
    /// Subjects left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_subjects: Option<String>,
    /// Put target subjects in IMPORT mode for the copy (default). `false`
    /// for a target without modes (Apicurio): `--without-import-mode`.
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub import_mode: bool,
}

/// A selection pattern of the plan, anchored at both ends; `None` when
/// absent. Patterns were checked when the plan was loaded.
pub fn anchored(pattern: Option<&str>) -> Option<Regex> {
    pattern.and_then(|r| Regex::new(&format!("^(?:{r})$")).ok())
}

/// `cutover.connectors`: which Connect clusters (names under
/// `connect_clusters:` in the credentials file) and which connectors.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CutoverConnectors {
    pub source: String,
    pub target: String,
    /// Connectors whose whole name matches (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
}

/// Which principals `producers/stop` denies Write on the plan's topics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FenceProducers {
    /// `User:orders-app`, ... Empty: every principal an ALLOW ACL on the
    /// source lets write to one of the plan's topics.
    #[serde(default)]
    pub principals: Vec<String>,
}

impl Default for Cutover {
    fn default() -> Self {
        Cutover {
            lag_threshold_records: default_lag_threshold(),
            lag_sustain_secs: default_lag_sustain(),
            producer_quiet_secs: default_quiet(),
            group_quiet_secs: default_group_quiet(),
            hook_timeout_secs: default_hook_timeout(),
            stop_producers: None,
            start_producers: None,
            waves: Vec::new(),
            fence_producers: None,
            schemas: None,
            connectors: None,
            mode: CutoverMode::Hooks,
            gateway: None,
        }
    }
}

/// Consumer groups that move together (they share topics).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub name: String,
    pub groups: Vec<String>,
    /// Topics these groups read.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Shell command that stops the groups' consumers on the source (without
    /// it, kcp waits until the groups have no members).
    #[serde(default)]
    pub stop_consumers: Option<String>,
    /// Shell command that starts them against the target.
    #[serde(default)]
    pub start_consumers: Option<String>,
    /// These groups' applications also produce (Kafka Streams and the
    /// like): starting them on the target is a point of no return.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub also_produces: bool,
    /// Consumer-last: this wave moves after the producers. Until it moves,
    /// kcp copies the records the moved producers write to the target back
    /// to the source (`reverse/start` to `reverse/stop`), so that its
    /// consumers keep reading everything there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_producers: bool,
}

impl Cutover {
    /// Whether some wave moves after the producers (consumer-last).
    pub fn consumer_last(&self) -> bool {
        self.waves.iter().any(|w| w.after_producers)
    }
}

fn default_lag_threshold() -> i64 {
    1_000
}
fn default_lag_sustain() -> u64 {
    30
}
fn default_quiet() -> u64 {
    10
}
fn default_group_quiet() -> u64 {
    5
}
fn default_hook_timeout() -> u64 {
    600
}

/// Checks the consumer-last waves (`after_producers`): what the copy back
/// to the source needs. Returns the key and the message of the first
/// problem.
pub(super) fn check_consumer_last(plan: &Plan) -> Result<(), (String, String)> {
    let Some(cutover) = &plan.cutover else {
        return Ok(());
    };
    if !cutover.consumer_last() {
        return Ok(());
    }
    if let Some((j, w)) = cutover
        .waves
        .iter()
        .enumerate()
        .find(|(_, w)| w.after_producers && w.also_produces)
    {
        return Err((
            format!("cutover.waves[{j}].also_produces"),
            format!(
                "wave `{}` also produces and moves after the producers: until it moves it would write to the source while the producers write to the target, and the copy back could no longer translate its offsets exactly; move it before the producers",
                w.name
            ),
        ));
    }
    if cutover
        .fence_producers
        .as_ref()
        .is_some_and(|f| f.principals.is_empty())
    {
        return Err((
            "cutover.fence_producers.principals".into(),
            "consumer-last copies records back to the source with the source's credentials: name the producers' principals to fence (an empty list would fence every writer, the copy back included)".into(),
        ));
    }
    if cutover.mode == CutoverMode::Gateway {
        return Err((
            "cutover.mode".into(),
            "consumer-last waves (`after_producers`) are not supported through the gateway yet: the gateway routes a topic's produce and fetch together; use `mode: hooks` for a consumer-last plan".into(),
        ));
    }
    Ok(())
}
