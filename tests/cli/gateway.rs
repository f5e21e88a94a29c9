//! `kcp gateway` on the Kafka test bed: librdkafka clients that know only
//! the gateway's address produce, consume in a group, commit and make admin
//! calls; they see only gateway addresses; TLS towards the client, TLS and
//! mutual TLS upstream, and SASL passed through to the broker.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, TopicPartitionList};

use crate::kafka::block;
use crate::require_testbed;
use crate::support::{KafkaCluster, KafkaSpec, write_credentials};

/// A running `kcp gateway`; SIGTERM then kill on drop.
struct GatewayProcess {
    child: Child,
    /// What it printed on stdout (`--output json`).
    listening: serde_json::Value,
    stderr: std::path::PathBuf,
}

impl GatewayProcess {
    fn start(dir: &Path, creds: &Path, cluster: &str, extra: &[&str]) -> Self {
        let stderr = dir.join(format!("gateway-{cluster}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["gateway", "--output", "json", "--cluster", cluster])
            .arg("--credentials-file")
            .arg(creds)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("KCP_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start kcp gateway");
        let mut text = String::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            text.push_str(&line);
            if line == "}" {
                break;
            }
        }
        let listening = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "gateway printed no JSON ({e}): {text}\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        GatewayProcess {
            child,
            listening,
            stderr,
        }
    }

    fn bootstrap(&self) -> String {
        self.listening["bootstrap"].as_str().unwrap().to_owned()
    }

    /// Every broker address the gateway serves at start.
    fn broker_addresses(&self) -> BTreeSet<String> {
        self.listening["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["gateway"].as_str().unwrap().to_owned())
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Stops it as an operator would; the documented status.
    fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gateway log ---\n{}", self.log());
        }
    }
}

fn client(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

/// Produces `n` records per partition with keys `p-i`, idempotently.
fn produce(config: &ClientConfig, topic: &str, partitions: i32, n: usize) {
    let producer: BaseProducer = config
        .clone()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for p in 0..partitions {
        for i in 0..n {
            let key = format!("{p}-{i}");
            let mut record = BaseRecord::to(topic).key(&key).payload(&key).partition(p);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        assert!(
                            matches!(
                                e.rdkafka_error_code(),
                                Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                            ),
                            "{e}"
                        );
                        producer.poll(Duration::from_millis(10));
                        record = back;
                    }
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.in_flight_count(), 0);
}

/// Consumes in group `group` until `expected` records arrived, committing
/// synchronously; the keys read.
fn consume(config: &ClientConfig, topic: &str, group: &str, expected: usize) -> BTreeSet<String> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut keys = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while keys.len() < expected {
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} records arrived",
            keys.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            keys.insert(String::from_utf8(m.key().unwrap().to_vec()).unwrap());
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    keys
}

fn create_topic(bootstrap_config: &ClientConfig, topic: &str, partitions: i32, rf: i32) {
    let admin: AdminClient<DefaultClientContext> = bootstrap_config.create().unwrap();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(rf));
    for result in block(admin.create_topics(&[new], &AdminOptions::new())).unwrap() {
        result.unwrap();
    }
}

fn expected_keys(partitions: i32, n: usize) -> BTreeSet<String> {
    (0..partitions)
        .flat_map(|p| (0..n).map(move |i| format!("{p}-{i}")))
        .collect()
}

/// Three brokers behind the gateway: each partition's leader is reached
/// through its own gateway port. Everything a client does goes through
/// the gateway, and no upstream address ever reaches the client.
#[test]
fn clients_that_know_only_the_gateway_produce_consume_commit_and_administer() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start_with(
        &tb,
        "gw-src",
        KafkaSpec {
            brokers: 3,
            ..KafkaSpec::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            kafka.bootstrap()
        ),
    );
    let gw = GatewayProcess::start(dir.path(), &creds, "src", &[]);
    let gateways = gw.broker_addresses();
    assert_eq!(gateways.len(), 3, "{}", gw.listening);
    let config = client(&gw.bootstrap(), &[]);

    // Admin: create a topic (CreateTopics goes to the controller's broker).
    create_topic(&config, "orders", 3, 3);
    produce(&config, "orders", 3, 2_000);
    let keys = consume(&config, "orders", "billing", 6_000);
    assert_eq!(keys, expected_keys(3, 2_000));

    // Metadata names only gateway addresses, one per broker.
    let consumer: BaseConsumer = config.clone().set("group.id", "billing").create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some("orders"), Duration::from_secs(10))
        .unwrap();
    let seen: BTreeSet<String> = metadata
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    assert_eq!(seen, gateways);
    // The group's commits are where the consumer left them (FindCoordinator
    // was rewritten, or the commit would have gone to no coordinator).
    let mut list = TopicPartitionList::new();
    for p in 0..3 {
        list.add_partition("orders", p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap();
    for e in committed.elements() {
        assert_eq!(e.offset(), rdkafka::Offset::Offset(2_000), "{e:?}");
    }

    // DescribeCluster (librdkafka's admin call) names gateway addresses too.
    let conn = kcp::connect::connect(
        &kcp::connect::CredentialsFile::parse(
            Path::new("gw.yaml"),
            &format!(
                "clusters:\n  - name: gw\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
                gw.bootstrap()
            ),
            |_| None,
        )
        .unwrap()
        .clusters[0],
        kcp::connect::ConnectOptions::default(),
    )
    .unwrap();
    let described = kcp::connect::admin::describe_cluster(&conn).unwrap();
    assert_eq!(
        described.cluster_id.as_deref(),
        Some(kafka.cluster_id.as_str())
    );
    let nodes: BTreeSet<String> = described
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.port))
        .collect();
    assert_eq!(nodes, gateways);
    drop(conn);

    // A second gateway on the first one's port: a clear error, exit 1.
    let port = gw.bootstrap().rsplit_once(':').unwrap().1.to_owned();
    let out = crate::run(
        crate::kcp()
            .args(["gateway", "--cluster", "src", "--credentials-file"])
            .arg(&creds)
            .args(["--listen", &format!("127.0.0.1:{port}")]),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "cannot listen on `127.0.0.1:{port}` for the bootstrap listener"
        )) && out
            .stderr
            .contains("another process may be listening on that port"),
        "{}",
        out.stderr
    );

    // SIGTERM stops it with the documented status.
    assert_eq!(gw.stop(), Some(130));
}

/// The gateway's own certificate towards the client (made here with
/// openssl, its own CA), mutual TLS towards the broker's MTLS listener.
#[test]
fn tls_towards_the_client_and_mutual_tls_upstream() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start_named(&tb, "gw-tls");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let (ca, client_cert, client_key) = kafka.tls_files();
    // The gateway's certificate is its principal upstream.
    kafka.admin(&tb, &["acl", "User:CN=kcp-client", "ALL", "TOPIC", "*"]);
    kafka.admin(&tb, &["acl", "User:CN=kcp-client", "ALL", "GROUP", "*"]);
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: mtls, ca_cert: \"{ca}\", client_cert: \"{client_cert}\", client_key: \"{client_key}\" }}\n",
            kafka.listener("MTLS")
        ),
    );
    let gw = GatewayProcess::start(
        dir.path(),
        &creds,
        "src",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(gw.listening["tls"], true);
    let tls = [
        ("security.protocol", "SSL"),
        ("ssl.ca.location", cert.to_str().unwrap()),
    ];
    let config = client(&gw.bootstrap(), &tls);
    create_topic(&config, "payments", 2, 1);
    produce(&config, "payments", 2, 500);
    assert_eq!(
        consume(&config, "payments", "ledger", 1_000),
        expected_keys(2, 500)
    );

    // A plaintext client is refused by the TLS listener (it never reaches
    // the broker).
    let plain: BaseConsumer = client(&gw.bootstrap(), &[]).create().unwrap();
    assert!(plain.fetch_metadata(None, Duration::from_secs(3)).is_err());
}

/// SASL is passed through: the client authenticates against the broker's
/// SASL_SSL listener through the gateway, with PLAIN and with SCRAM; a
/// wrong password is refused by the broker.
#[test]
fn sasl_plain_and_scram_are_passed_through_to_the_broker() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start_named(&tb, "gw-sasl");
    kafka.create_scram_user(&tb, "alice", "alice-scram");
    kafka.admin(&tb, &["acl", "User:alice", "ALL", "TOPIC", "*"]);
    kafka.admin(&tb, &["acl", "User:alice", "ALL", "GROUP", "*"]);
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, _) = kafka.tls_files();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: sasl_plain, username: admin, password: admin-secret, tls: {{ ca_cert: \"{ca}\" }} }}\n",
            kafka.listener("SASL_SSL")
        ),
    );
    let gw = GatewayProcess::start(dir.path(), &creds, "src", &[]);
    let plain = client(
        &gw.bootstrap(),
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "admin"),
            ("sasl.password", "admin-secret"),
        ],
    );
    create_topic(&plain, "audit", 1, 1);
    produce(&plain, "audit", 1, 300);

    let scram = client(
        &gw.bootstrap(),
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-scram"),
        ],
    );
    assert_eq!(
        consume(&scram, "audit", "auditors", 300),
        expected_keys(1, 300)
    );

    let wrong = client(
        &gw.bootstrap(),
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "not-her-password"),
        ],
    );
    let consumer: BaseConsumer = wrong.create().unwrap();
    let err = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap_err();
    assert!(!gw.log().contains("alice-scram") && !gw.log().contains("admin-secret"));
    drop(err);
}

/// Bad input: an unknown cluster is named with the ones the file has
/// (exit 2), before anything listens.
#[test]
fn an_unknown_cluster_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        "clusters:\n  - name: prod\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n",
    );
    let out = crate::run(
        crate::kcp()
            .args(["gateway", "--cluster", "prdo", "--credentials-file"])
            .arg(&creds),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("names no cluster `prdo` (it has: prod)"),
        "{}",
        out.stderr
    );
    let out = crate::run(
        crate::kcp()
            .args(["gateway", "--cluster", "prod", "--listen", "nowhere"])
            .arg("--credentials-file")
            .arg(&creds),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`nowhere` is not an address to listen on"),
        "{}",
        out.stderr
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost (PEM), which the
/// client trusts as its CA.
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("gateway.pem");
    let key = dir.join("gateway-key.pem");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=kcp-gateway"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (the test bed's certificates need it too)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Runs one of Kafka's own Java tools (the test bed's newest release) with
/// the Java client; its stdout. `input` goes to its stdin.
fn java_tool(
    tb: &crate::support::Testbed,
    logs: &Path,
    class: &str,
    args: &[&str],
    input: &str,
) -> String {
    use std::io::Write;
    let java = std::env::var_os("KCP_JAVA").unwrap_or_else(|| "java".into());
    let libs = tb
        .kafka_root
        .join(format!("{}/libs/*", crate::support::KAFKA_LATEST));
    let mut child = Command::new(java)
        .args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp"])
        .arg(libs)
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            crate::support::testbed_dir()
                .join("kafka/log4j2.properties")
                .display()
        ))
        .arg(format!("-Dkafka.logs.dir={}", logs.display()))
        .arg(class)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java (from testbed/install.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{class} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Java client (Kafka's own tools, which use the newest versions:
/// FindCoordinator v4+ batches, Produce and Fetch with KIP-951's endpoints)
/// creates a topic, produces and consumes in a group through the gateway.
#[test]
fn the_java_client_works_through_the_gateway() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start_named(&tb, "gw-java");
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            kafka.bootstrap()
        ),
    );
    let gw = GatewayProcess::start(dir.path(), &creds, "src", &[]);
    let bootstrap = gw.bootstrap();
    let server = ["--bootstrap-server", bootstrap.as_str()];
    java_tool(
        &tb,
        dir.path(),
        "org.apache.kafka.tools.TopicCommand",
        &[
            &server[..],
            &["--create", "--topic", "lines", "--partitions", "2"],
        ]
        .concat(),
        "",
    );
    let lines: Vec<String> = (0..200).map(|i| format!("line {i}")).collect();
    java_tool(
        &tb,
        dir.path(),
        "org.apache.kafka.tools.ConsoleProducer",
        &[&server[..], &["--topic", "lines"]].concat(),
        &(lines.join("\n") + "\n"),
    );
    let out = java_tool(
        &tb,
        dir.path(),
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            &server[..],
            &[
                "--topic",
                "lines",
                "--group",
                "readers",
                "--from-beginning",
                "--max-messages",
                "200",
            ],
        ]
        .concat(),
        "",
    );
    let got: BTreeSet<&str> = out.lines().collect();
    let want: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    // The group's commits (made by the Java consumer at close) are on the
    // cluster, read directly.
    let committed = crate::kafka::committed(&kafka.bootstrap(), "readers", "lines", 2);
    let total: i64 = committed.iter().map(|o| o.expect("committed")).sum();
    assert_eq!(total, 200, "{committed:?}");
}
