//! The credentials-file template `discover` writes for `kcp scan`: one
//! entry per discovered MSK cluster, with its bootstrap servers for the
//! best auth method it has enabled, and the other methods as comments.
//! No secret is written: passwords are `${VAR}` references. Running
//! discover again only appends clusters the file does not name yet, so
//! whatever the user edited stays as it is.

use std::collections::BTreeSet;

use crate::state::MskCluster;

/// Appends entries for `clusters` (region, cluster) that `existing` does not
/// name yet. Returns the new text and how many entries were added.
/// `existing` is left byte for byte as it was.
pub(crate) fn update(
    existing: Option<&str>,
    clusters: &[(&str, &MskCluster)],
) -> Result<(String, usize), String> {
    let known = match existing {
        Some(text) if !text.trim().is_empty() => names(text)?,
        _ => BTreeSet::new(),
    };
    let mut out = match existing {
        Some(text) if !text.trim().is_empty() => {
            let mut t = text.to_owned();
            if !t.ends_with('\n') {
                t.push('\n');
            }
            t
        }
        _ => HEADER.to_owned(),
    };
    let mut added = 0;
    let mut taken = known.clone();
    for (region, c) in clusters {
        // The same cluster already has an entry (by ARN or name).
        if known.contains(&c.arn) || known.contains(&c.name) {
            continue;
        }
        let name = if taken.contains(&c.name) {
            format!("{}-{region}", c.name)
        } else {
            c.name.clone()
        };
        taken.insert(name.clone());
        out.push_str(&entry(&name, region, c));
        added += 1;
    }
    Ok((out, added))
}

const HEADER: &str = "# kcp credentials file, started by `kcp discover` (docs/reference/credentials.md).\n# Fill in user names and set the password variables; discover only appends\n# clusters it has not listed yet and never changes what is here.\nclusters:\n";

/// Names and ARNs the file already lists.
fn names(text: &str) -> Result<BTreeSet<String>, String> {
    let doc: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| format!("it is not valid YAML: {e}"))?;
    let mut out = BTreeSet::new();
    if let Some(list) = doc.get("clusters").and_then(|c| c.as_sequence()) {
        for c in list {
            for key in ["name", "msk_arn"] {
                if let Some(v) = c.get(key).and_then(|v| v.as_str()) {
                    out.insert(v.to_owned());
                }
            }
        }
    }
    Ok(out)
}

/// An environment variable name for a cluster's password.
fn env_var(name: &str) -> String {
    let mut v: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        v.insert(0, '_');
    }
    format!("{v}_KAFKA_PASSWORD")
}

fn entry(name: &str, region: &str, c: &MskCluster) -> String {
    let q = crate::assets::yaml_string;
    // Preferred method first: SCRAM, IAM, TLS, plaintext.
    let methods = [
        ("sasl_scram", c.auth.sasl_scram),
        ("sasl_iam", c.auth.iam),
        ("tls", c.auth.tls),
        ("plaintext", c.auth.unauthenticated),
    ];
    let chosen = methods.iter().find(|(_, on)| *on).map(|(m, _)| *m);
    let mut s = format!(
        "\n  # MSK cluster {} in {region} ({}), discovered by kcp.\n",
        c.name,
        match c.cluster_type {
            crate::state::MskClusterType::Provisioned => "provisioned",
            crate::state::MskClusterType::Serverless => "serverless",
        }
    );
    for (method, servers) in &c.bootstrap_servers {
        if Some(method.as_str()) != chosen {
            s.push_str(&format!("  #   {method}: {}\n", servers.join(",")));
        }
    }
    s.push_str(&format!(
        "  - name: {}\n    msk_arn: {}\n    bootstrap_servers:\n",
        q(name),
        q(&c.arn)
    ));
    match chosen.and_then(|m| c.bootstrap_servers.get(m)) {
        Some(servers) => {
            for server in servers {
                s.push_str(&format!("      - {}\n", q(server)));
            }
        }
        None => s.push_str("      # GetBootstrapBrokers gave nothing: fill in host:port.\n      - \"CHANGE-ME:9092\"\n"),
    }
    let auth = match chosen {
        Some("sasl_scram") => format!(
            "      method: sasl_scram\n      mechanism: SCRAM-SHA-512\n      username: \"CHANGE-ME\"\n      password: ${{{}}}\n      tls: {{}}\n",
            env_var(name)
        ),
        Some("sasl_iam") => format!("      method: msk_iam\n      region: {}\n", q(region)),
        Some("tls") => "      method: tls\n".to_owned(),
        _ => "      method: plaintext\n".to_owned(),
    };
    s.push_str("    auth:\n");
    s.push_str(&auth);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MskAuth, MskClusterType};
    use std::collections::BTreeMap;

    fn cluster(name: &str, scram: bool, iam: bool) -> MskCluster {
        let json = serde_json::json!({
            "name": name, "arn": format!("arn:aws:kafka:us-east-1:1:cluster/{name}/u"),
            "cluster_type": "provisioned", "state": "ACTIVE", "created_at": null,
            "kafka_version": null, "broker_count": 3, "instance_type": null, "storage_gb_per_broker": null,
        });
        let mut c: MskCluster = serde_json::from_value(json).unwrap();
        c.cluster_type = MskClusterType::Provisioned;
        c.auth = MskAuth {
            sasl_scram: scram,
            iam,
            ..MskAuth::default()
        };
        c.bootstrap_servers = BTreeMap::from([
            (
                "sasl_scram".to_owned(),
                vec!["b-1:9096".to_owned(), "b-2:9096".to_owned()],
            ),
            ("sasl_iam".to_owned(), vec!["b-1:9098".to_owned()]),
        ]);
        c
    }

    #[test]
    fn writes_a_loadable_template_and_keeps_user_edits() {
        let a = cluster("orders", true, true);
        let (text, added) = update(None, &[("us-east-1", &a)]).unwrap();
        assert_eq!(added, 1);
        assert!(
            text.contains("password: ${ORDERS_KAFKA_PASSWORD}"),
            "{text}"
        );
        assert!(text.contains("#   sasl_iam: b-1:9098"), "{text}");
        // The template is a valid credentials file once the variable is set.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, &text).unwrap();
        let parsed = crate::connect::CredentialsFile::parse(&path, &text, |v| {
            (v == "ORDERS_KAFKA_PASSWORD").then(|| "x".to_owned())
        });
        assert!(parsed.is_ok(), "{parsed:?}");

        // A user edit survives; only the new cluster is appended.
        let edited = text.replace("\"CHANGE-ME\"", "migrator  # mine");
        let b = cluster("billing", false, true);
        let (again, added) =
            update(Some(&edited), &[("us-east-1", &a), ("us-east-1", &b)]).unwrap();
        assert_eq!(added, 1);
        assert!(again.starts_with(&edited));
        assert!(again.contains("method: msk_iam"), "{again}");
        assert!(update(Some("clusters: [unclosed"), &[]).is_err());
    }
}
