//! `create-asset gateway`: `kcp gateway` as a Kubernetes Deployment of
//! several replicas sharing their routes through a compacted topic on the
//! target (`--routes-topic`), the Service clients use (the bootstrap port
//! and one port per broker of both clusters, with client-IP affinity so a
//! client's connections stay on one replica), a headless Service through
//! which `migrate execute` reaches every replica's admin interface, a
//! PodDisruptionBudget, and the plan's `cutover` keys. The pod security
//! settings are the replicator's (`templates/assets/kubernetes/`).
//!
//! The brokers come from the state: the source's node ids, and the
//! target's when it was scanned under the `--target` name; otherwise they
//! are assumed (left out, with the reason, so the user is told).

use serde::Serialize;

use super::replicator::{CREDENTIALS_FILE, k8s_name};
use super::{AssetError, GeneratedFile, LeftOut, Request, TargetType, render};
use crate::state::{KafkaCluster, State};

/// Clients' bootstrap port.
const BOOTSTRAP_PORT: u16 = 9092;
/// Source node N is served on this + N.
const SOURCE_PORT_BASE: u16 = 9100;
/// The admin interface's port.
const ADMIN_PORT: u16 = 19080;
/// Replicas of the Deployment.
const REPLICAS: u16 = 2;

#[derive(Debug, Serialize)]
struct BrokerPort {
    /// `source` or `target`.
    cluster: &'static str,
    node: i32,
    port: u16,
    /// The port's name (`src-N`, `dst-N`: at most 15 characters).
    name: String,
}

#[derive(Debug, Serialize)]
struct Context {
    name: String,
    k8s_name: String,
    service: String,
    admin_service: String,
    admin_url: String,
    source: String,
    target: String,
    routes_topic: String,
    replicas: u16,
    bootstrap_port: u16,
    admin_port: u16,
    source_port_base: u16,
    target_port_base: u16,
    brokers: Vec<BrokerPort>,
    target_assumed: bool,
    target_ids: String,
    credentials_file: &'static str,
    version: &'static str,
}

pub(crate) fn generate(
    state: &State,
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<(Vec<GeneratedFile>, Vec<LeftOut>), AssetError> {
    let target = req.target_name();
    let name = format!("{}-to-{target}", req.source);
    let k8s = k8s_name(&name);
    // `kcp-gateway-` + the name + `-admin` within a DNS label's 63.
    let short: String = k8s.chars().take(45).collect();
    let service = format!("kcp-gateway-{}", short.trim_end_matches('-'));
    let admin_service = format!("{service}-admin");
    let source_ids: Vec<i32> = cluster.brokers.iter().map(|b| b.id).collect();
    let scanned_target = state
        .clusters
        .get(&target)
        .map(|c| c.brokers.iter().map(|b| b.id).collect::<Vec<_>>())
        .filter(|ids| !ids.is_empty());
    let mut left_out = Vec::new();
    let target_ids = match scanned_target {
        Some(ids) => ids,
        None => {
            let ids = assumed_target_ids(req.target_type, source_ids.len());
            left_out.push(LeftOut {
                subject: format!("target `{target}`'s brokers"),
                reason: format!(
                    "not in the state file: ports assumed for node ids {}; scan the target under this name and generate again",
                    list_ids(&ids)
                ),
            });
            ids
        }
    };
    let highest = source_ids.iter().copied().max().unwrap_or(0).max(0);
    // The target's range starts past the source's, on a round hundred.
    let target_port_base =
        u16::try_from(i64::from(SOURCE_PORT_BASE) + (i64::from(highest) / 100 + 1) * 100 + 100)
            .map_err(|_| ports_error(highest))?;
    let mut brokers = Vec::new();
    for (cluster, base, ids, prefix) in [
        ("source", SOURCE_PORT_BASE, &source_ids, "src"),
        ("target", target_port_base, &target_ids, "dst"),
    ] {
        for &node in ids {
            let port = u16::try_from(i64::from(base) + i64::from(node))
                .ok()
                .filter(|_| node >= 0)
                .ok_or_else(|| ports_error(node))?;
            brokers.push(BrokerPort {
                cluster,
                node,
                port,
                name: format!("{prefix}-{node}"),
            });
        }
    }
    let context = Context {
        admin_url: format!("http://{admin_service}:{ADMIN_PORT}"),
        routes_topic: format!("kcp-gateway.{k8s}.routes"),
        name,
        k8s_name: k8s,
        service,
        admin_service,
        source: req.source.clone(),
        target,
        replicas: REPLICAS,
        bootstrap_port: BOOTSTRAP_PORT,
        admin_port: ADMIN_PORT,
        source_port_base: SOURCE_PORT_BASE,
        target_port_base,
        brokers,
        target_assumed: !left_out.is_empty(),
        target_ids: list_ids(&target_ids),
        credentials_file: CREDENTIALS_FILE,
        version: crate::VERSION,
    };
    let files = [
        ("kubernetes/kcp-gateway.yaml", "gateway/kubernetes.yaml.j2"),
        ("plan-cutover.yaml", "gateway/plan-cutover.yaml.j2"),
        ("README.md", "gateway/README.md.j2"),
    ]
    .into_iter()
    .map(|(path, template)| {
        Ok(GeneratedFile {
            path: path.to_owned(),
            contents: render(template, &context)?,
        })
    })
    .collect::<Result<Vec<_>, AssetError>>()?;
    Ok((files, left_out))
}

/// A target's node ids when it was not scanned: Confluent Cloud numbers
/// brokers from 0, MSK and Apache Kafka deployments usually from 1; as
/// many as the source has (at least 3).
fn assumed_target_ids(target_type: TargetType, source_brokers: usize) -> Vec<i32> {
    let n = i32::try_from(source_brokers.max(3)).unwrap_or(3);
    match target_type {
        TargetType::ConfluentCloud => (0..n).collect(),
        TargetType::Msk | TargetType::Kafka => (1..=n).collect(),
    }
}

fn list_ids(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn ports_error(node: i32) -> AssetError {
    AssetError::Ports {
        message: format!(
            "node id {node} does not fit the gateway's port scheme (node N on {SOURCE_PORT_BASE} + N, the target's above the source's)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unscanned_target_is_assumed_by_its_type() {
        assert_eq!(assumed_target_ids(TargetType::ConfluentCloud, 2), [0, 1, 2]);
        assert_eq!(assumed_target_ids(TargetType::Msk, 4), [1, 2, 3, 4]);
    }
}
