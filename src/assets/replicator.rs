//! `create-asset replicator`: how to run `kcp migrate replicate` for this
//! migration (a Kubernetes Deployment + ConfigMap, a systemd unit, and the
//! plan file they run), how to watch it (Prometheus alerting rules and a
//! Grafana dashboard, see `monitoring`), and, for teams that already run Kafka Connect, a
//! MirrorMaker 2 properties file and a Strimzi `KafkaMirrorMaker2` resource
//! that copy the same topics.
//!
//! Secrets stay out of every file: the kcp deployments mount the user's
//! credentials file (a Kubernetes Secret or a file readable by the service
//! user), MirrorMaker 2 reads them through Kafka's `FileConfigProvider`,
//! and Strimzi from Kubernetes Secrets.

use serde::Serialize;

use super::{
    AssetError, GeneratedFile, LeftOut, Request, TargetType, monitoring, render, select_topics,
};
use crate::state::KafkaCluster;

/// Where the deployments put the plan and the credentials file.
const PLAN_DIR: &str = "/etc/kcp/plan";
pub(crate) const CREDENTIALS_FILE: &str = "/etc/kcp/credentials/kcp-credentials.yaml";
/// The port of kcp's metrics and health listener (`--metrics-addr`), 9464
/// as for OpenTelemetry's Prometheus exporter.
const METRICS_PORT: u16 = 9464;
/// The secrets file MirrorMaker 2 reads with `FileConfigProvider`.
const MM2_SECRETS: &str = "/etc/kafka/kcp-mm2-secrets.properties";

/// How clients of one cluster authenticate, in Kafka client terms.
#[derive(Debug, Clone, Serialize)]
struct Security {
    /// `PLAINTEXT`, `SSL`, `SASL_SSL`.
    protocol: &'static str,
    /// SASL mechanism, if any.
    mechanism: Option<&'static str>,
    /// `kcp` auth method name, for the README.
    method: String,
    /// Strimzi `authentication.type`, if any.
    strimzi: Option<&'static str>,
    mtls: bool,
}

fn security(method: &str) -> Security {
    let (protocol, mechanism, strimzi, mtls) = match method {
        "plaintext" => ("PLAINTEXT", None, None, false),
        "tls" => ("SSL", None, None, false),
        "mtls" => ("SSL", None, Some("tls"), true),
        "sasl_plain" => ("SASL_SSL", Some("PLAIN"), Some("plain"), false),
        "msk_iam" => ("SASL_SSL", Some("AWS_MSK_IAM"), Some("custom"), false),
        _ => (
            "SASL_SSL",
            Some("SCRAM-SHA-512"),
            Some("scram-sha-512"),
            false,
        ),
    };
    Security {
        protocol,
        mechanism,
        method: method.to_owned(),
        strimzi,
        mtls,
    }
}

#[derive(Debug, Serialize)]
struct Side {
    alias: &'static str,
    name: String,
    /// Comma-separated; a placeholder when unknown.
    bootstrap: String,
    bootstrap_known: bool,
    security: Security,
}

#[derive(Debug, Serialize)]
struct Context {
    /// Plan name (`<source>-to-<target>`).
    name: String,
    /// A Kubernetes object name derived from `name`.
    k8s_name: String,
    source: Side,
    target: Side,
    include: Option<String>,
    exclude: Option<String>,
    /// MirrorMaker 2 `topics` (Java regex list) and `topics.exclude`.
    mm2_topics: String,
    mm2_exclude: String,
    topics: usize,
    partitions: usize,
    tasks: usize,
    plan_dir: &'static str,
    plan_file: String,
    credentials_file: &'static str,
    mm2_secrets: &'static str,
    version: &'static str,
    metrics_port: u16,
    target_type: &'static str,
    /// The rendered plan file (for the ConfigMap).
    plan: String,
}

pub(crate) fn generate(
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<(Vec<GeneratedFile>, Vec<LeftOut>), AssetError> {
    let (selected, left_out) = select_topics(cluster, req)?;
    let target_name = req.target_name();
    let name = format!("{}-to-{}", req.source, target_name);
    let target_method = match req.target_type {
        TargetType::ConfluentCloud => "sasl_plain".to_owned(),
        TargetType::Msk if cluster.auth_method == "sasl_plain" => "sasl_scram".to_owned(),
        _ => cluster.auth_method.clone(),
    };
    let partitions: usize = selected.iter().map(|(_, t)| t.partitions.len()).sum();
    // MirrorMaker 2 takes a comma-separated list of Java regexes: pass the
    // pattern through when it has no comma, else list the selected topics.
    let mm2_topics = match &req.topics_include {
        Some(re) if !re.contains(',') => re.clone(),
        Some(_) => selected
            .iter()
            .map(|(n, _)| format!("\\Q{n}\\E"))
            .collect::<Vec<_>>()
            .join(","),
        None => ".*".to_owned(),
    };
    let mut exclude = vec!["__.*".to_owned(), "_kcp.*".to_owned()];
    exclude.extend(left_out.iter().filter_map(|l| {
        l.subject
            .strip_prefix("topic ")
            .filter(|t| !crate::topic_config::reserved_name(t))
            .map(|t| format!("\\Q{t}\\E"))
    }));
    if let Some(re) = &req.topics_exclude {
        exclude.push(if re.contains(',') {
            format!("\\Q{re}\\E")
        } else {
            re.clone()
        });
    }
    exclude.dedup();
    let context = Context {
        k8s_name: k8s_name(&name),
        plan_file: format!("{PLAN_DIR}/plan.yaml"),
        name,
        source: Side {
            alias: "source",
            name: req.source.clone(),
            bootstrap: cluster.bootstrap_servers.join(","),
            bootstrap_known: !cluster.bootstrap_servers.is_empty(),
            security: security(&cluster.auth_method),
        },
        target: Side {
            alias: "target",
            name: target_name,
            bootstrap: "TARGET-BOOTSTRAP:9092".into(),
            bootstrap_known: false,
            security: security(&target_method),
        },
        include: req.topics_include.clone(),
        exclude: req.topics_exclude.clone(),
        mm2_topics,
        mm2_exclude: exclude.join(","),
        topics: selected.len(),
        partitions,
        tasks: partitions.clamp(1, 8),
        plan_dir: PLAN_DIR,
        credentials_file: CREDENTIALS_FILE,
        mm2_secrets: MM2_SECRETS,
        version: crate::VERSION,
        metrics_port: METRICS_PORT,
        target_type: req.target_type.name(),
        plan: String::new(),
    };
    let mut context = context;
    context.plan = render("replicator/plan.yaml.j2", &context)?;
    let files = [
        ("plan.yaml", "replicator/plan.yaml.j2"),
        (
            "kubernetes/kcp-replicator.yaml",
            "replicator/kubernetes.yaml.j2",
        ),
        (
            "systemd/kcp-replicator.service",
            "replicator/kcp-replicator.service.j2",
        ),
        (
            "mirrormaker2/mm2.properties",
            "replicator/mm2.properties.j2",
        ),
        (
            "strimzi/kafka-mirror-maker-2.yaml",
            "replicator/strimzi-mirrormaker2.yaml.j2",
        ),
        ("README.md", "replicator/README.md.j2"),
    ]
    .into_iter()
    .map(|(path, template)| {
        let contents = if path == "plan.yaml" {
            context.plan.clone()
        } else {
            render(template, &context)?
        };
        Ok(GeneratedFile {
            path: path.to_owned(),
            contents,
        })
    })
    .collect::<Result<Vec<_>, AssetError>>()?;
    let mut files = files;
    files.push(GeneratedFile {
        path: "prometheus/kcp-alerts.yaml".to_owned(),
        contents: monitoring::alert_rules(&context.name, &context.k8s_name, context.version),
    });
    files.push(GeneratedFile {
        path: "grafana/kcp-dashboard.json".to_owned(),
        contents: monitoring::dashboard(&context.name, context.version),
    });
    Ok((files, left_out))
}

/// A DNS-1123 label: lowercase letters, digits and `-`, at most 63 characters.
pub(crate) fn k8s_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    match trimmed.trim_end_matches('-') {
        "" => "kcp-replicator".to_owned(),
        s => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_are_dns_labels() {
        assert_eq!(
            k8s_name("Prod_EU.cluster-to-New Target"),
            "prod-eu-cluster-to-new-target"
        );
        assert_eq!(k8s_name("ü!!"), "kcp-replicator");
        assert_eq!(k8s_name(&"a".repeat(80)).len(), 63);
    }
}
