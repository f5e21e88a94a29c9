//! Connections to a real Tansu broker: PLAINTEXT, SASL/SCRAM-SHA-512 (and
//! -256), and fast, explicit failures for a wrong password.
//!
//! Tansu cannot create SCRAM users through an authenticated listener, so the
//! SCRAM cluster is two brokers on one SQLite database: an open one for
//! administration and one with `--authentication` that clients use.

use std::time::{Duration, Instant};

use kcp::connect::{ConnectError, ConnectOptions, CredentialsFile, connect};

use crate::require_testbed;
use crate::support::{TansuBroker, write_credentials};

fn options() -> ConnectOptions {
    ConnectOptions {
        timeout: Duration::from_secs(15),
    }
}

#[test]
fn plaintext_connects_and_reads_metadata() {
    let tb = require_testbed!();
    let broker = TansuBroker::start(&tb);
    let dir = tempfile::tempdir().unwrap();
    let path = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: local\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            broker.bootstrap()
        ),
    );
    let creds = CredentialsFile::load(&path).unwrap();
    let conn = connect(creds.cluster("local").unwrap(), options()).unwrap();
    let md = conn.metadata();
    assert_eq!(md.brokers.len(), 1, "{md:?}");
    assert_eq!(md.brokers[0].port, broker.port);
    assert_eq!(md.brokers[0].host, "127.0.0.1");
    assert_eq!(md.topic_count, 0);
}

struct ScramCluster {
    admin: TansuBroker,
    secured: TansuBroker,
}

fn scram_cluster(tb: &crate::support::Testbed) -> ScramCluster {
    let admin = TansuBroker::start(tb);
    // Kafka keeps SCRAM credentials per mechanism.
    admin.create_scram_user(tb, "alice", "alice-secret", "scram512");
    admin.create_scram_user(tb, "alice", "alice-secret", "scram256");
    let secured = admin.start_sharing(tb, true);
    ScramCluster { admin, secured }
}

fn scram_creds(bootstrap: &str, mechanism: &str, password_var: &str) -> String {
    format!(
        "clusters:\n  - name: secure-dc\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth:\n      method: sasl_scram\n      mechanism: {mechanism}\n      username: alice\n      password: ${{{password_var}}}\n"
    )
}

#[test]
fn scram_sha_512_connects_with_the_right_password() {
    let tb = require_testbed!();
    let cluster = scram_cluster(&tb);
    let dir = tempfile::tempdir().unwrap();
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256"] {
        let path = write_credentials(
            dir.path(),
            &scram_creds(&cluster.secured.bootstrap(), mechanism, "KCP_TEST_PW"),
        );
        let creds = CredentialsFile::parse(&path, &std::fs::read_to_string(&path).unwrap(), |v| {
            (v == "KCP_TEST_PW").then(|| "alice-secret".to_owned())
        })
        .unwrap();
        let conn = connect(&creds.clusters[0], options()).unwrap_or_else(|e| {
            panic!(
                "{mechanism}: {e}\nbroker log:\n{}",
                cluster.secured.log_text()
            )
        });
        assert_eq!(conn.metadata().brokers.len(), 1);
    }
    // The admin listener is the same cluster, without authentication.
    drop(cluster.admin);
}

#[test]
fn a_wrong_password_fails_fast_naming_the_cluster_and_method() {
    let tb = require_testbed!();
    let cluster = scram_cluster(&tb);
    let dir = tempfile::tempdir().unwrap();
    let path = write_credentials(
        dir.path(),
        &scram_creds(&cluster.secured.bootstrap(), "SCRAM-SHA-512", "PW"),
    );
    let creds = CredentialsFile::parse(&path, &std::fs::read_to_string(&path).unwrap(), |_| {
        Some("not-her-password".into())
    })
    .unwrap();
    let started = Instant::now();
    let err = connect(
        &creds.clusters[0],
        ConnectOptions {
            timeout: Duration::from_secs(60),
        },
    )
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    assert!(matches!(err, ConnectError::Authentication { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("cluster `secure-dc`"), "{text}");
    assert!(
        text.contains("SASL/SCRAM-SHA-512 as user `alice`"),
        "{text}"
    );
    assert!(!text.contains("not-her-password"), "{text}");
    assert!(err.hint().unwrap().contains("username and password"));
    eprintln!("wrong password detected in {elapsed:?}: {text}");
}

#[test]
fn plaintext_client_on_a_sasl_listener_is_refused_clearly() {
    let tb = require_testbed!();
    let cluster = scram_cluster(&tb);
    let dir = tempfile::tempdir().unwrap();
    let path = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: mismatch\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            cluster.secured.bootstrap()
        ),
    );
    let creds = CredentialsFile::load(&path).unwrap();
    let started = Instant::now();
    let err = connect(
        &creds.clusters[0],
        ConnectOptions {
            timeout: Duration::from_secs(5),
        },
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(text.contains("cluster `mismatch`"), "{text}");
}
