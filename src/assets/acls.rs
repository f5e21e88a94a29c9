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
use super::infra::cloud_api_key_variables;
use super::terraform::{CONFLUENT, KAFKA, Output, TfProject};
use super::topics::{confluent_kafka_variables, kafka_provider_variables};
use super::{AssetError, GeneratedFile, LeftOut, Request, TargetType, render};
use crate::report::plan::msk_cluster;
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
    let (bindings, iam_count) = bindings(state, cluster, &mut left_out);
    let mut translation = Translation::new(&req.source);
    for b in &bindings {
        if let Err(skipped) = translation.add(b, req) {
            left_out.push(skipped);
        }
    }
    let Translation {
        mut context,
        mut mapping_rows,
    } = translation;
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
    if let Some(table) = principal_table(&mapping_rows) {
        project.about.push(table);
    }
    if req.target_type == TargetType::ConfluentCloud {
        confluent_cloud(&mut project, &context)?;
    } else {
        kafka(
            &mut project,
            &context,
            req.target_type,
            &cluster.auth_method,
        )?;
    }
    project.left_out = left_out.clone();
    project.left_out.sort();
    Ok((project.files()?, left_out))
}

/// The bindings to translate: the scanned ACLs, then the grants of the
/// cluster's MSK IAM policies (what they cannot express goes to
/// `left_out`); with the number of grants.
fn bindings(
    state: &State,
    cluster: &KafkaCluster,
    left_out: &mut Vec<LeftOut>,
) -> (Vec<Binding>, usize) {
    let mut bindings: Vec<Binding> = cluster.acls.iter().map(from_acl).collect();
    let policies = cluster
        .msk_arn
        .as_deref()
        .and_then(|arn| msk_cluster(state, cluster).map(|m| (arn, &m.iam_policies)));
    let Some((arn, policies)) = policies else {
        return (bindings, 0);
    };
    let (grants, skipped) = iam::translate(arn, policies);
    left_out.extend(skipped);
    let iam_count = grants.len();
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
    (bindings, iam_count)
}

/// The bindings translated so far: the template's context and, per source
/// principal, what it becomes on the target (for the README).
struct Translation<'a> {
    context: Context<'a>,
    mapping_rows: BTreeMap<String, String>,
}

impl<'a> Translation<'a> {
    fn new(source: &'a str) -> Self {
        Translation {
            context: Context {
                source,
                acls: BTreeMap::new(),
                existing_service_accounts: BTreeMap::new(),
                new_service_accounts: BTreeMap::new(),
            },
            mapping_rows: BTreeMap::new(),
        }
    }

    /// Adds one binding, or says why it is left out.
    fn add(&mut self, b: &Binding, req: &Request) -> Result<(), LeftOut> {
        let cc = req.target_type == TargetType::ConfluentCloud;
        let left_out = |reason: String| LeftOut {
            subject: subject(b),
            reason,
        };
        if let Some(reason) = untranslatable(b, cc) {
            return Err(left_out(reason.to_owned()));
        }
        let entry = if cc {
            self.map_to_service_account(&b.principal, req)
                .map_err(left_out)?;
            confluent_entry(b)
        } else {
            let target = kafka_principal(&b.principal, &req.principals);
            self.mapping_rows
                .insert(b.principal.clone(), format!("`{target}`"));
            kafka_entry(b, target)
        };
        self.context.acls.insert(entry.key(), entry);
        Ok(())
    }

    /// Records the Confluent Cloud service account of a source principal.
    fn map_to_service_account(&mut self, principal: &str, req: &Request) -> Result<(), String> {
        match service_account(principal, req)? {
            ServiceAccount::Existing(id) => {
                self.mapping_rows.insert(
                    principal.to_owned(),
                    format!("existing service account `{id}`"),
                );
                self.context
                    .existing_service_accounts
                    .insert(principal.to_owned(), id);
            }
            ServiceAccount::New(name) => {
                self.context
                    .new_service_accounts
                    .insert(principal.to_owned(), name);
            }
        }
        Ok(())
    }
}

/// How a binding is named where it is left out.
fn subject(b: &Binding) -> String {
    format!(
        "ACL {} {} {} on {} `{}` ({}) from {}",
        b.principal,
        upper(&b.permission),
        upper(&b.operation),
        upper(&b.resource_type).to_lowercase(),
        b.resource_name,
        upper(&b.pattern).to_lowercase(),
        b.from
    )
}

/// The principal on a Kafka target: mapped, an IAM role's default, or as
/// is. The replicator's ACL sync maps principals with it too.
pub(crate) fn kafka_principal(principal: &str, map: &super::PrincipalMap) -> String {
    match map.get(principal) {
        Some(p) => p.to_owned(),
        None if principal.starts_with("arn:") => iam::default_principal(principal),
        None => principal.to_owned(),
    }
}

/// A Confluent Cloud ACL (Confluent's spelling; keyed by source principal).
fn confluent_entry(b: &Binding) -> Entry {
    Entry {
        principal: b.principal.clone(),
        host: "*".into(),
        resource_type: upper(&b.resource_type),
        resource_name: b.resource_name.clone(),
        pattern: upper(&b.pattern),
        operation: upper(&b.operation),
        permission: upper(&b.permission),
    }
}

/// A Mongey/kafka ACL (the Kafka Java API's spelling) for `principal`.
fn kafka_entry(b: &Binding, principal: String) -> Entry {
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
}

impl Entry {
    /// The entry's key in `locals.acls`: readable and unique.
    fn key(&self) -> String {
        format!(
            "{} {} {} {}:{} {}{}",
            self.principal,
            self.permission,
            self.operation,
            self.resource_type,
            self.resource_name,
            self.pattern,
            if self.host == "*" {
                String::new()
            } else {
                format!(" host {}", self.host)
            }
        )
    }
}

/// The README table of source principals and what they become.
fn principal_table(mapping_rows: &BTreeMap<String, String>) -> Option<String> {
    if mapping_rows.is_empty() {
        return None;
    }
    let mut table = String::from("| source principal | on the target |\n|---|---|\n");
    for (from, to) in mapping_rows {
        table.push_str(&format!(
            "| `{}` | {} |\n",
            from.replace('|', "\\|"),
            to.replace('|', "\\|")
        ));
    }
    Some(format!(
        "Principals (change them with `--principal-map FILE`):\n\n{}",
        table.trim_end()
    ))
}

/// The Confluent Cloud parts of the project: service accounts and ACLs
/// through the cluster's REST endpoint.
fn confluent_cloud(project: &mut TfProject, context: &Context<'_>) -> Result<(), AssetError> {
    project.about.push("Confluent Cloud ACLs belong to service accounts, take host `*` only, and are created through the cluster's REST endpoint with a Kafka API key; new service accounts need a Cloud API key.".into());
    project.providers.push(CONFLUENT);
    project.variables =
        cloud_api_key_variables("Cloud API key (creates service accounts)").to_vec();
    project.variables.extend(confluent_kafka_variables());
    project.main = render("acls/confluent-cloud.tf.j2", context)?;
    project.outputs.push(Output::new(
        "service_account_ids",
        "local.service_account_ids",
        "Service account id per source principal",
    ));
    Ok(())
}

/// The Kafka (and MSK) parts of the project: ACLs over the Kafka protocol.
fn kafka(
    project: &mut TfProject,
    context: &Context<'_>,
    target_type: TargetType,
    source_auth: &str,
) -> Result<(), AssetError> {
    project.about.push(if target_type == TargetType::Msk {
        "MSK enforces these ACLs for SASL/SCRAM and mTLS clients (set `allow.everyone.if.no.acl.found=false`); IAM-authenticated clients are authorized by IAM policies instead.".to_owned()
    } else {
        "The Mongey/kafka provider creates the ACLs over the Kafka protocol; its connection needs a principal allowed to alter ACLs.".to_owned()
    });
    project.providers.push(KAFKA);
    project.variables = kafka_provider_variables(source_auth);
    project.main = render("acls/kafka.tf.j2", context)?;
    project.outputs.push(Output::new(
        "acl_count",
        "length(kafka_acl.this)",
        "Number of ACLs created",
    ));
    Ok(())
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
