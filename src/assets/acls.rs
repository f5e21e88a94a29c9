//! `create-asset acls`: the scanned ACLs, and the ACL equivalents of the
//! cluster's MSK IAM policies ([`super::iam`]), translated for the target.
//!
//! Confluent Cloud grants ACLs to service accounts: each source principal is
//! mapped to an existing one (principal mapping file) or gets a new one.
//! A Kafka target (Mongey/kafka provider) keeps principals as they are unless
//! mapped; IAM roles become `User:<role name>`. What cannot be translated is
//! listed, with the reason, in the README and the command's output.

use std::collections::BTreeMap;

use serde::Serialize;

use super::iam;
use super::terraform::{CONFLUENT, KAFKA, Output, TfProject, Variable};
use super::topics::{confluent_kafka_variables, kafka_provider_variables};
use super::{AssetError, GeneratedFile, LeftOut, Request, TargetType, render};
use crate::state::{
    AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType, KafkaCluster, State,
};

/// One ACL in the generated `locals.acls` map.
#[derive(Debug, Serialize)]
struct Entry {
    /// Source principal (Confluent Cloud: key into the service-account ids)
    /// or target principal (Kafka).
    principal: String,
    host: String,
    resource_type: String,
    resource_name: String,
    pattern: String,
    operation: String,
    permission: String,
}

#[derive(Debug, Serialize)]
struct Context<'a> {
    source: &'a str,
    acls: BTreeMap<String, Entry>,
    /// Source principal → existing service account id.
    existing_service_accounts: BTreeMap<String, String>,
    /// Source principal → display name of a new service account.
    new_service_accounts: BTreeMap<String, String>,
}

/// A binding with its source principal, from a scanned ACL or an IAM policy.
struct Binding {
    principal: String,
    from: String,
    host: String,
    resource_type: AclResourceType,
    resource_name: String,
    pattern: AclPatternType,
    operation: AclOperation,
    permission: AclPermission,
}

pub(crate) fn generate(
    state: &State,
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<(Vec<GeneratedFile>, Vec<LeftOut>), AssetError> {
    let mut left_out = Vec::new();
    let mut bindings: Vec<Binding> = cluster.acls.iter().map(from_acl).collect();
    let policies = cluster.msk_arn.as_deref().and_then(|arn| {
        state
            .msk_regions
            .values()
            .find_map(|r| r.clusters.get(arn))
            .map(|m| (arn, &m.iam_policies))
    });
    let mut iam_count = 0;
    if let Some((arn, policies)) = policies {
        let (grants, skipped) = iam::translate(arn, policies);
        left_out.extend(skipped);
        iam_count = grants.len();
        bindings.extend(grants.into_iter().map(|g| Binding {
            principal: g.iam_principal.clone(),
            from: format!("IAM policy grant to {}", g.iam_principal),
            host: "*".into(),
            resource_type: g.resource_type,
            resource_name: g.resource_name,
            pattern: g.pattern_type,
            operation: g.operation,
            permission: g.permission,
        }));
    }

    let cc = req.target_type == TargetType::ConfluentCloud;
    let mut context = Context {
        source: &req.source,
        acls: BTreeMap::new(),
        existing_service_accounts: BTreeMap::new(),
        new_service_accounts: BTreeMap::new(),
    };
    let mut mapping_rows = BTreeMap::new();
    for b in &bindings {
        let subject = format!(
            "ACL {} {} {} on {} `{}` ({}) from {}",
            b.principal,
            upper(&b.permission),
            upper(&b.operation),
            upper(&b.resource_type).to_lowercase(),
            b.resource_name,
            upper(&b.pattern).to_lowercase(),
            b.from
        );
        if let Some(reason) = untranslatable(b, cc) {
            left_out.push(LeftOut {
                subject,
                reason: reason.to_owned(),
            });
            continue;
        }
        let principal = if cc {
            match service_account(&b.principal, req) {
                Ok(ServiceAccount::Existing(id)) => {
                    mapping_rows.insert(
                        b.principal.clone(),
                        format!("existing service account `{id}`"),
                    );
                    context
                        .existing_service_accounts
                        .insert(b.principal.clone(), id);
                }
                Ok(ServiceAccount::New(name)) => {
                    context
                        .new_service_accounts
                        .insert(b.principal.clone(), name);
                }
                Err(reason) => {
                    left_out.push(LeftOut { subject, reason });
                    continue;
                }
            }
            b.principal.clone()
        } else {
            let target = match req.principals.get(&b.principal) {
                Some(p) => p.to_owned(),
                None if b.principal.starts_with("arn:") => iam::default_principal(&b.principal),
                None => b.principal.clone(),
            };
            mapping_rows.insert(b.principal.clone(), format!("`{target}`"));
            target
        };
        let entry = if cc {
            Entry {
                principal,
                host: "*".into(),
                resource_type: upper(&b.resource_type),
                resource_name: b.resource_name.clone(),
                pattern: upper(&b.pattern),
                operation: upper(&b.operation),
                permission: upper(&b.permission),
            }
        } else {
            Entry {
                principal,
                host: b.host.clone(),
                resource_type: match b.resource_type {
                    AclResourceType::TransactionalId => "TransactionalID".into(),
                    other => camel(&other),
                },
                resource_name: b.resource_name.clone(),
                pattern: camel(&b.pattern),
                operation: camel(&b.operation),
                permission: camel(&b.permission),
            }
        };
        let key = format!(
            "{} {} {} {}:{} {}{}",
            entry.principal,
            entry.permission,
            entry.operation,
            entry.resource_type,
            entry.resource_name,
            entry.pattern,
            if entry.host == "*" {
                String::new()
            } else {
                format!(" host {}", entry.host)
            }
        );
        context.acls.insert(key, entry);
    }
    dedupe_display_names(&mut context.new_service_accounts);
    for (principal, name) in &context.new_service_accounts {
        mapping_rows.insert(principal.clone(), format!("new service account `{name}`"));
    }

    let mut project = TfProject::new(
        "acls",
        req.target_type.name(),
        &req.source,
        format!("ACLs of `{}` for the target", req.source),
    );
    project.about.push(format!(
        "`main.tf` creates {} ACL(s) for {} principal(s), from {} scanned ACL(s){}.",
        context.acls.len(),
        mapping_rows.len(),
        cluster.acls.len(),
        if iam_count > 0 {
            format!(" and {iam_count} grant(s) of the cluster's MSK IAM policies (every resource of every statement)")
        } else {
            String::new()
        }
    ));
    if !mapping_rows.is_empty() {
        let mut table = String::from("| source principal | on the target |\n|---|---|\n");
        for (from, to) in &mapping_rows {
            table.push_str(&format!(
                "| `{}` | {} |\n",
                from.replace('|', "\\|"),
                to.replace('|', "\\|")
            ));
        }
        project.about.push(format!(
            "Principals (change them with `--principal-map FILE`):\n\n{}",
            table.trim_end()
        ));
    }
    if cc {
        project.about.push("Confluent Cloud ACLs belong to service accounts, take host `*` only, and are created through the cluster's REST endpoint with a Kafka API key; new service accounts need a Cloud API key.".into());
        project.providers.push(CONFLUENT);
        project.variables = vec![
            Variable::secret(
                "confluent_cloud_api_key",
                "Cloud API key (creates service accounts)",
            ),
            Variable::secret("confluent_cloud_api_secret", "Secret of the Cloud API key"),
        ];
        project.variables.extend(confluent_kafka_variables());
        project.main = render("acls/confluent-cloud.tf.j2", &context)?;
        project.outputs.push(Output::new(
            "service_account_ids",
            "local.service_account_ids",
            "Service account id per source principal",
        ));
    } else {
        project.about.push(if req.target_type == TargetType::Msk {
            "MSK enforces these ACLs for SASL/SCRAM and mTLS clients (set `allow.everyone.if.no.acl.found=false`); IAM-authenticated clients are authorized by IAM policies instead.".to_owned()
        } else {
            "The Mongey/kafka provider creates the ACLs over the Kafka protocol; its connection needs a principal allowed to alter ACLs.".to_owned()
        });
        project.providers.push(KAFKA);
        project.variables = kafka_provider_variables(&cluster.auth_method);
        project.main = render("acls/kafka.tf.j2", &context)?;
        project.outputs.push(Output::new(
            "acl_count",
            "length(kafka_acl.this)",
            "Number of ACLs created",
        ));
    }
    project.left_out = left_out.clone();
    project.left_out.sort();
    Ok((project.files()?, left_out))
}

fn from_acl(a: &AclBinding) -> Binding {
    Binding {
        principal: a.principal.clone(),
        from: "the scanned ACLs".into(),
        host: a.host.clone(),
        resource_type: a.resource_type,
        resource_name: a.resource_name.clone(),
        pattern: a.pattern_type,
        operation: a.operation,
        permission: a.permission,
    }
}

/// Why a binding cannot be created on the target, if it cannot.
fn untranslatable(b: &Binding, cc: bool) -> Option<&'static str> {
    use AclResourceType as R;
    if matches!(b.resource_type, R::DelegationToken | R::User) {
        return Some(if cc {
            "Confluent Cloud has no ACLs on delegation tokens or users"
        } else {
            "the Mongey/kafka provider cannot manage delegation-token or user ACLs; create them with kafka-acls"
        });
    }
    if !cc {
        return None;
    }
    if b.host != "*" {
        return Some(
            "Confluent Cloud ACLs take host `*` only; granting it from any host would widen access",
        );
    }
    if b.operation == AclOperation::ClusterAction {
        return Some(
            "CLUSTER_ACTION is for brokers talking to each other; a managed target does not need it",
        );
    }
    None
}

enum ServiceAccount {
    Existing(String),
    New(String),
}

/// The Confluent Cloud service account of a source principal.
fn service_account(principal: &str, req: &Request) -> Result<ServiceAccount, String> {
    if let Some(id) = req.principals.get(principal) {
        let id = id.strip_prefix("User:").unwrap_or(id);
        return Ok(ServiceAccount::Existing(id.to_owned()));
    }
    if principal.starts_with("arn:") {
        let name = iam::default_principal(principal);
        return Ok(ServiceAccount::New(name["User:".len()..].to_owned()));
    }
    match principal.split_once(':') {
        Some(("User", "*")) => Err("wildcard principal `User:*`: grant it on Confluent Cloud deliberately, or map it to a service account".into()),
        Some(("User", name)) if !name.is_empty() => Ok(ServiceAccount::New(name.to_owned())),
        _ => Err(format!(
            "principal `{principal}` is not a user; map it to a service account with --principal-map"
        )),
    }
}

/// Service-account display names are unique in an organisation: suffix repeats.
fn dedupe_display_names(accounts: &mut BTreeMap<String, String>) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for name in accounts.values_mut() {
        let n = seen.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            *name = format!("{name}-{n}");
        }
    }
}

/// `describe_configs` → `DESCRIBE_CONFIGS` (Confluent's spelling).
fn upper<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default()
}

/// `describe_configs` → `DescribeConfigs` (the Kafka Java API's spelling).
fn camel<T: Serialize>(v: &T) -> String {
    upper(v)
        .split('_')
        .map(|w| {
            let lower = w.to_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(upper(&AclOperation::DescribeConfigs), "DESCRIBE_CONFIGS");
        assert_eq!(camel(&AclOperation::IdempotentWrite), "IdempotentWrite");
        assert_eq!(upper(&AclResourceType::TransactionalId), "TRANSACTIONAL_ID");
    }

    #[test]
    fn display_names_stay_unique() {
        let mut m = BTreeMap::from([
            ("User:a".to_owned(), "a".to_owned()),
            ("arn:aws:iam::1:role/a".to_owned(), "a".to_owned()),
        ]);
        dedupe_display_names(&mut m);
        assert_eq!(m.values().cloned().collect::<Vec<_>>(), ["a", "a-2"]);
    }
}
