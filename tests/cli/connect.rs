//! Connections to a real Apache Kafka cluster through every auth method of
//! the credentials file, each against the listener that speaks it
//! (`testbed/kafka.sh`): PLAINTEXT, SASL/PLAIN, SASL/SCRAM-SHA-256 and -512,
//! TLS, mutual TLS and SASL over TLS; and fast, explicit failures for a wrong
//! password, a wrong CA, an expired client certificate, a plaintext client
//! on a SASL listener and an unreachable broker. kcp's own protocol client
//! (client quotas) authenticates on every one of those listeners too.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kcp::connect::wire::{QuotaClient, WireError};
use kcp::connect::{ConnectError, ConnectOptions, CredentialsFile, connect};
use kcp::exit::Diagnostic;

use crate::require_testbed;
use crate::support::{KafkaCluster, free_port, write_credentials};

fn options() -> ConnectOptions {
    ConnectOptions {
        timeout: Duration::from_secs(15),
    }
}

/// Loads a one-cluster credentials file; `${PW}` resolves to `password`.
fn creds(dir: &Path, yaml: &str, password: &str) -> CredentialsFile {
    let path = write_credentials(dir, yaml);
    CredentialsFile::parse(&path, &std::fs::read_to_string(&path).unwrap(), |v| {
        (v == "PW").then(|| password.to_owned())
    })
    .unwrap()
}

fn cluster_yaml(name: &str, bootstrap: &str, auth: &str) -> String {
    format!(
        "clusters:\n  - name: {name}\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {auth}\n"
    )
}

#[test]
fn every_auth_method_connects_to_its_listener() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start(&tb);
    kafka.create_scram_user(&tb, "carol", "carol-secret");
    let (ca, cert, key) = kafka.tls_files();
    let cases = [
        ("plaintext", kafka.bootstrap(), "{ method: plaintext }".to_owned(), ""),
        (
            "sasl-plain",
            kafka.listener("SASL"),
            "{ method: sasl_plain, username: alice, password: \"${PW}\" }".to_owned(),
            "alice-secret",
        ),
        (
            "scram-256",
            kafka.listener("SASL"),
            "{ method: sasl_scram, mechanism: SCRAM-SHA-256, username: carol, password: \"${PW}\" }".to_owned(),
            "carol-secret",
        ),
        (
            "scram-512",
            kafka.listener("SASL"),
            "{ method: sasl_scram, mechanism: SCRAM-SHA-512, username: carol, password: \"${PW}\" }".to_owned(),
            "carol-secret",
        ),
        ("tls", kafka.listener("SSL"), format!("{{ method: tls, ca_cert: \"{ca}\" }}"), ""),
        (
            "mtls",
            kafka.listener("MTLS"),
            format!("{{ method: mtls, ca_cert: \"{ca}\", client_cert: \"{cert}\", client_key: \"{key}\" }}"),
            "",
        ),
        (
            "scram-512-over-tls",
            kafka.listener("SASL_SSL"),
            format!("{{ method: sasl_scram, mechanism: SCRAM-SHA-512, username: carol, password: \"${{PW}}\", tls: {{ ca_cert: \"{ca}\" }} }}"),
            "carol-secret",
        ),
        (
            "plain-over-tls",
            kafka.listener("SASL_SSL"),
            format!("{{ method: sasl_plain, username: alice, password: \"${{PW}}\", tls: {{ ca_cert: \"{ca}\" }} }}"),
            "alice-secret",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bootstrap, auth, password) in cases {
        let creds = creds(dir.path(), &cluster_yaml(name, &bootstrap, &auth), password);
        let started = Instant::now();
        let conn = connect(&creds.clusters[0], options())
            .unwrap_or_else(|e| panic!("{name}: {e}\nbroker log:\n{}", kafka.log_text()));
        let md = conn.metadata();
        assert_eq!(md.brokers.len(), 1, "{name}: {md:?}");
        assert_eq!(md.brokers[0].host, "127.0.0.1", "{name}");
        assert_eq!(
            format!("127.0.0.1:{}", md.brokers[0].port),
            bootstrap,
            "{name}: brokers are advertised on the listener the client used"
        );
        eprintln!("{name}: connected in {:?}", started.elapsed());
        quota_client_authenticates(name, &creds);
    }
    // The quota client refuses a wrong password without printing it.
    let creds = creds(
        dir.path(),
        &cluster_yaml(
            "bad",
            &kafka.listener("SASL"),
            "{ method: sasl_scram, mechanism: SCRAM-SHA-512, username: carol, password: \"${PW}\" }",
        ),
        "not-carols-secret",
    );
    let err = QuotaClient::connect(&creds.clusters[0], Duration::from_secs(15))
        .err()
        .expect("a wrong password is refused");
    assert!(matches!(err, WireError::Authentication { .. }), "{err}");
    assert!(!format!("{err:?}").contains("not-carols-secret"), "{err:?}");
}

/// kcp's own protocol client (client quotas) authenticates on the same
/// listener: the super user (ANONYMOUS on PLAINTEXT and SSL) reads quotas,
/// the others are authenticated and then refused by the authorizer.
fn quota_client_authenticates(name: &str, creds: &CredentialsFile) {
    let mut client = QuotaClient::connect(&creds.clusters[0], Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{name}: quota client: {e}"));
    match (name, client.describe_client_quotas()) {
        ("plaintext" | "tls", Ok(_)) => {}
        (_, Err(WireError::Broker { code, .. })) if code == "ClusterAuthorizationFailed" => {}
        (_, other) => panic!("{name}: DescribeClientQuotas: {other:?}"),
    }
}

/// A self-signed CA that signed nothing the broker has.
fn unrelated_ca(dir: &Path) -> String {
    let path = dir.join("other-ca.pem");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not-the-brokers-ca", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    path.display().to_string()
}

/// Connects and expects an error within `bound`.
fn fails_within(creds: &CredentialsFile, bound: Duration) -> ConnectError {
    let started = Instant::now();
    let err = connect(
        &creds.clusters[0],
        ConnectOptions {
            timeout: Duration::from_secs(10),
        },
    )
    .expect_err("the connection should fail");
    let elapsed = started.elapsed();
    assert!(elapsed < bound, "took {elapsed:?}: {err}");
    eprintln!("failed in {elapsed:?}: {err}");
    err
}

#[test]
fn wrong_credentials_fail_fast_with_their_own_error() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start(&tb);
    kafka.create_scram_user(&tb, "alice", "alice-secret");
    let dir = tempfile::tempdir().unwrap();

    // A wrong SCRAM password: an authentication error naming the cluster
    // and the method, never the password.
    let wrong = creds(
        dir.path(),
        &cluster_yaml(
            "secure-dc",
            &kafka.listener("SASL"),
            "{ method: sasl_scram, mechanism: SCRAM-SHA-512, username: alice, password: \"${PW}\" }",
        ),
        "not-her-password",
    );
    let err = fails_within(&wrong, Duration::from_secs(10));
    assert!(matches!(err, ConnectError::Authentication { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("cluster `secure-dc`"), "{text}");
    assert!(
        text.contains("SASL/SCRAM-SHA-512 as user `alice`"),
        "{text}"
    );
    assert!(!text.contains("not-her-password"), "{text}");
    assert!(err.hint().unwrap().contains("username and password"));

    // A CA that did not sign the broker's certificate: a TLS error.
    let other_ca = unrelated_ca(dir.path());
    let bad_ca = creds(
        dir.path(),
        &cluster_yaml(
            "tls-dc",
            &kafka.listener("SSL"),
            &format!("{{ method: tls, ca_cert: \"{other_ca}\" }}"),
        ),
        "",
    );
    let err = fails_within(&bad_ca, Duration::from_secs(10));
    assert!(matches!(err, ConnectError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("cluster `tls-dc`"), "{err}");
    assert!(err.hint().unwrap().contains("ca_cert"), "{:?}", err.hint());

    // An expired client certificate on the mutual-TLS listener: a TLS error
    // (the broker only answers `certificate unknown`), whose hint names the
    // client certificate's dates; before, it read as "no broker answered".
    let (ca, _, _) = kafka.tls_files();
    let (cert, key) = (dir.path().join("old.crt"), dir.path().join("old.key"));
    let made = Command::new(&tb.python)
        .arg(crate::support::testbed_dir().join("expired_cert.py"))
        .arg(kafka.dir().join("tls"))
        .args([&cert, &key])
        .status()
        .unwrap();
    assert!(made.success());
    let expired = creds(
        dir.path(),
        &cluster_yaml(
            "mtls-dc",
            &kafka.listener("MTLS"),
            &format!(
                "{{ method: mtls, ca_cert: \"{ca}\", client_cert: \"{}\", client_key: \"{}\" }}",
                cert.display(),
                key.display()
            ),
        ),
        "",
    );
    let err = fails_within(&expired, Duration::from_secs(15));
    assert!(matches!(err, ConnectError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("cluster `mtls-dc`"), "{err}");
    assert!(
        err.hint().unwrap().contains("validity dates"),
        "{:?}",
        err.hint()
    );

    // A plaintext client on a SASL listener: refused, naming the cluster.
    let mismatch = creds(
        dir.path(),
        &cluster_yaml("mismatch", &kafka.listener("SASL"), "{ method: plaintext }"),
        "",
    );
    let err = fails_within(&mismatch, Duration::from_secs(15));
    assert!(err.to_string().contains("cluster `mismatch`"), "{err}");

    // Nobody listening: unreachable, quickly.
    let nobody = creds(
        dir.path(),
        &cluster_yaml(
            "gone",
            &format!("127.0.0.1:{}", free_port()),
            "{ method: plaintext }",
        ),
        "",
    );
    let err = fails_within(&nobody, Duration::from_secs(10));
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
}

/// A client whose security protocol does not match the listener is told
/// so: a plaintext client on a SASL listener (the broker closes the
/// connection) is not "brokers are down", and a SCRAM client on a plaintext
/// listener is not "check the password".
#[test]
fn a_security_protocol_that_does_not_match_the_listener_is_named() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start(&tb);
    let dir = tempfile::tempdir().unwrap();

    let plain_on_sasl = creds(
        dir.path(),
        &cluster_yaml("dc", &kafka.listener("SASL"), "{ method: plaintext }"),
        "",
    );
    let err = fails_within(&plain_on_sasl, Duration::from_secs(10));
    assert!(matches!(err, ConnectError::ClosedByBroker { .. }), "{err}");
    assert!(
        err.hint().unwrap().contains("another security protocol"),
        "{:?}",
        err.hint()
    );

    let scram_on_plain = creds(
        dir.path(),
        &cluster_yaml(
            "dc",
            &kafka.bootstrap(),
            "{ method: sasl_scram, mechanism: SCRAM-SHA-512, username: alice, password: \"${PW}\" }",
        ),
        "alice-secret",
    );
    let err = fails_within(&scram_on_plain, Duration::from_secs(10));
    assert!(
        err.hint().unwrap().contains("does not use SASL"),
        "{err}: {:?}",
        err.hint()
    );
}
