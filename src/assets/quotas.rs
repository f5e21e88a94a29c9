//! `create-asset quotas`: the scanned client quotas for a Kafka-compatible
//! target (`kafka`, `msk`), users mapped through the principal mapping
//! file as `create-asset acls` maps them ([`crate::quotas::diff::map_quotas`]).
//!
//! Two ways to apply them: `main.tf` with the Mongey/kafka provider's
//! `kafka_quota`, which names one entity by name (so default entities and
//! user + client-id pairs are not in it), and `apply-quotas.sh`, which
//! runs Kafka's `kafka-configs.sh` once per entity and covers every quota.

use std::collections::BTreeMap;

use serde::Serialize;

use super::terraform::{KAFKA, Output, TfProject};
use super::topics::kafka_provider_variables;
use super::{AssetError, GeneratedFile, LeftOut, Request, TargetType, render};
use crate::quotas::diff::{Quotas, map_quotas};
use crate::state::{KafkaCluster, QuotaEntity, QuotaName};

/// One `kafka_quota` in the generated `locals.quotas` map.
#[derive(Debug, Serialize)]
struct Entry {
    entity_type: &'static str,
    entity_name: String,
    config: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
struct Context<'a> {
    source: &'a str,
    quotas: BTreeMap<String, Entry>,
}

pub(crate) fn generate(
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<(Vec<GeneratedFile>, Vec<LeftOut>), AssetError> {
    if req.target_type == TargetType::ConfluentCloud {
        return Err(AssetError::Unsupported {
            kind: "quotas",
            target: "confluent-cloud",
            why: "Confluent Cloud has no Kafka client quotas (its quotas are per service account and cluster); use --target-type kafka or msk",
        });
    }
    if cluster.client_quotas.is_empty() {
        return Err(AssetError::NoQuotas {
            cluster: req.source.clone(),
        });
    }
    let (mapped, skipped) = map_quotas(&cluster.client_quotas, &req.principals);
    let left_out: Vec<LeftOut> = skipped
        .into_iter()
        .map(|s| LeftOut {
            subject: format!("quota of {}", s.entity),
            reason: s.reason,
        })
        .collect();
    let mut context = Context {
        source: &req.source,
        quotas: BTreeMap::new(),
    };
    let mut script_only = Vec::new();
    for (entity, values) in &mapped {
        match single_named(entity) {
            Some((entity_type, name)) => {
                context.quotas.insert(
                    format!("{entity_type} {name}"),
                    Entry {
                        entity_type,
                        entity_name: name.to_owned(),
                        config: values.clone(),
                    },
                );
            }
            None => script_only.push(format!("`{}`", entity.describe())),
        }
    }

    let mut project = TfProject::new(
        "quotas",
        req.target_type.name(),
        &req.source,
        format!("Client quotas of `{}` for the target", req.source),
    );
    project.about.push(format!(
        "`main.tf` creates {} client quota(s) with `kafka_quota`; `apply-quotas.sh` applies all {} scanned quota entities with Kafka's `kafka-configs.sh` instead (run one or the other, or `kcp migrate quotas`, which also keeps them in sync).",
        context.quotas.len(),
        mapped.len()
    ));
    if !script_only.is_empty() {
        project.about.push(format!(
            "Only in `apply-quotas.sh` (the provider's `kafka_quota` names one entity by name: no default entity, no user with client id): {}.",
            script_only.join(", ")
        ));
    }
    project.about.push("Run the script as `KAFKA_BOOTSTRAP=host:port [KAFKA_COMMAND_CONFIG=client.properties] [KAFKA_CONFIGS=/path/to/kafka-configs.sh] sh apply-quotas.sh`; the principal needs AlterConfigs on the cluster.".into());
    project.providers.push(KAFKA);
    project.variables = kafka_provider_variables(&cluster.auth_method);
    project.main = render("quotas/kafka.tf.j2", &context)?;
    project.outputs.push(Output::new(
        "quota_count",
        "length(kafka_quota.this)",
        "Number of client quotas created",
    ));
    project.left_out = left_out.clone();
    project.left_out.sort();
    let mut files = project.files()?;
    files.push(GeneratedFile {
        path: "apply-quotas.sh".into(),
        contents: script(&req.source, &mapped),
    });
    Ok((files, left_out))
}

/// The one named part of an entity, when it has exactly one part and it is
/// not a default: `("user", "alice")`.
fn single_named(entity: &QuotaEntity) -> Option<(&'static str, &str)> {
    match (&entity.user, &entity.client_id, &entity.ip) {
        (Some(QuotaName::Name(n)), None, None) => Some(("user", n)),
        (None, Some(QuotaName::Name(n)), None) => Some(("client-id", n)),
        (None, None, Some(QuotaName::Name(n))) => Some(("ip", n)),
        _ => None,
    }
}

/// `apply-quotas.sh`: one `kafka-configs.sh --alter` per entity.
fn script(source: &str, quotas: &Quotas) -> String {
    let mut out = format!(
        "#!/bin/sh\n# Client quotas of {}, for the target. Generated by kcp.\n# KAFKA_BOOTSTRAP=host:port [KAFKA_COMMAND_CONFIG=client.properties] [KAFKA_CONFIGS=kafka-configs.sh] sh apply-quotas.sh\nset -eu\n: \"${{KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to the target's bootstrap servers}}\"\n\nconfigs() {{\n  \"${{KAFKA_CONFIGS:-kafka-configs.sh}}\" --bootstrap-server \"$KAFKA_BOOTSTRAP\" ${{KAFKA_COMMAND_CONFIG:+--command-config \"$KAFKA_COMMAND_CONFIG\"}} \"$@\"\n}}\n\n",
        comment(source)
    );
    for (entity, values) in quotas {
        let config = values
            .iter()
            .map(|(k, v)| format!("{k}={}", number(*v)))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&format!(
            "# {}\nconfigs --alter --add-config {}{}\n",
            comment(&entity.describe()),
            sh_quote(&config),
            entity_args(entity)
        ));
    }
    out
}

/// A value as kafka-configs takes it: integral values without a fraction.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn entity_args(entity: &QuotaEntity) -> String {
    let mut args = String::new();
    for (kind, part) in [
        ("users", &entity.user),
        ("clients", &entity.client_id),
        ("ips", &entity.ip),
    ] {
        match part {
            None => {}
            Some(QuotaName::Default) => {
                args.push_str(&format!(" --entity-type {kind} --entity-default"));
            }
            Some(QuotaName::Name(n)) => {
                args.push_str(&format!(
                    " --entity-type {kind} --entity-name {}",
                    sh_quote(n)
                ));
            }
        }
    }
    args
}

/// A POSIX shell single-quoted word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Text safe inside a `#` comment line.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_words_are_quoted_and_numbers_plain() {
        assert_eq!(sh_quote("a'b $x"), "'a'\\''b $x'");
        assert_eq!(number(1024.0), "1024");
        assert_eq!(number(12.5), "12.5");
        let entity = QuotaEntity {
            user: Some(QuotaName::Default),
            client_id: Some(QuotaName::Name("c 1".into())),
            ip: None,
        };
        assert_eq!(
            entity_args(&entity),
            " --entity-type users --entity-default --entity-type clients --entity-name 'c 1'"
        );
        assert_eq!(comment("a\nb"), "a b");
    }
}
