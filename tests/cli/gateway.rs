//! `kcp gateway` on the Kafka test bed: librdkafka clients that know only
//! the gateway's address produce, consume in a group, commit and make admin
//! calls; they see only gateway addresses; TLS towards the client, TLS and
//! mutual TLS upstream, and SASL passed through to the broker. With a
//! target: switching, the proof of issue #21 with librdkafka and Java
//! clients moved by `migrate execute`, kill -9 of the gateway and of kcp
//! during a switch, and switched producers' ids.

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
pub(crate) struct GatewayProcess {
    child: Child,
    /// What it printed on stdout (`--output json`).
    pub(crate) listening: serde_json::Value,
    stderr: std::path::PathBuf,
}

impl GatewayProcess {
    pub(crate) fn start(dir: &Path, creds: &Path, cluster: &str, extra: &[&str]) -> Self {
        let stderr = dir.join(format!("gateway-{cluster}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["gateway", "--output", "json", "--cluster", cluster])
            .arg("--credentials-file")
            .arg(creds)
            .args(if extra.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
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

    pub(crate) fn bootstrap(&self) -> String {
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

    pub(crate) fn log(&self) -> String {
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

impl GatewayProcess {
    /// A call to the admin interface: (status, JSON body).
    pub(crate) fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let addr = self.listening["admin"].as_str().expect("an admin address");
        let port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        let (status, text) = crate::support::http_json(port, method, path, body);
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} {text:?} is not JSON: {e}"));
        (status, value)
    }

    fn route(&self, kind: &str, name: &str, cluster: &str) {
        let (status, body) = self.admin(
            "PUT",
            &format!("/routes/{kind}/{name}"),
            Some(&format!("{{\"cluster\": \"{cluster}\"}}")),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body[kind][name].as_str().unwrap_or("source"), cluster);
    }

    /// The route the gateway gives the client with this client id.
    pub(crate) fn client_route(&self, client_id: &str) -> Option<String> {
        let (_, clients) = self.admin("GET", "/clients", None);
        clients
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == client_id)
            .map(|c| c["route"].as_str().unwrap().to_owned())
    }
}

/// The committed offsets of `group` on the cluster at `bootstrap`.
fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = client(bootstrap, &[("group.id", group)]).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    (0..partitions)
        .map(|p| {
            got.find_partition(topic, p)
                .unwrap()
                .offset()
                .to_raw()
                .unwrap_or(-1)
        })
        .collect()
}

/// Commits `offsets` for `group` on the cluster at `bootstrap` (what
/// `migrate execute`'s offsets step does, here with identical offsets).
fn commit(bootstrap: &str, group: &str, topic: &str, offsets: &[i64]) {
    let consumer: BaseConsumer = client(bootstrap, &[("group.id", group)]).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets.iter().enumerate() {
        tpl.add_partition_offset(topic, p as i32, rdkafka::Offset::Offset(*o))
            .unwrap();
    }
    // A new cluster's coordinator may not be ready at the first commit.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
        assert!(Instant::now() < deadline, "commit on {bootstrap}: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// End offsets of a topic's partitions on the cluster at `bootstrap`.
pub(crate) fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = client(bootstrap, &[]).create().unwrap();
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect()
}

/// Polls `consumer` until `n` records arrived (or 60 s); their keys.
fn poll_keys(consumer: &BaseConsumer, n: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => keys.push(String::from_utf8(m.key().unwrap().to_vec()).unwrap()),
            Some(Err(e)) => eprintln!("consumer error event: {e}"),
            None => {}
        }
    }
    keys
}

/// Switching through the admin interface, with clients whose
/// configuration never changes: a consumer group is held, its connections
/// closed, its offsets copied and it is routed to the target, where the
/// same consumer instance goes on from the copied offsets (no record read
/// twice); then the topic's producers are held (a produce waits in the
/// gateway) and released to the target, where the held records land. A
/// restarted gateway resumes the routes from its file.
#[test]
fn a_group_and_a_topic_are_switched_to_the_target_and_the_routes_resumed() {
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "gw-src");
    let target = KafkaCluster::start_named(&tb, "gw-dst");
    let dir = tempfile::tempdir().unwrap();
    let creds = crate::support::write_pair_credentials(dir.path(), &source, &target);
    let routes_file = dir.path().join("routes.json");
    let routes_arg = routes_file.to_str().unwrap();
    let switching = [
        "--target-cluster",
        "dst",
        "--admin-addr",
        "127.0.0.1:0",
        "--routes-file",
        routes_arg,
    ];
    let gw = GatewayProcess::start(dir.path(), &creds, "src", &switching);
    let target_brokers = gw.listening["target_brokers"].as_array().unwrap().clone();
    assert_eq!(target_brokers.len(), 1, "{}", gw.listening);
    let (topic, group, parts) = ("orders", "billing", 2);
    for cluster in [&source, &target] {
        create_topic(&client(&cluster.bootstrap(), &[]), topic, parts, 1);
    }

    // Before: everything on the source. The same records are written to
    // the target directly, as the replicator would (same offsets).
    let producer: BaseProducer = client(
        &gw.bootstrap(),
        &[
            ("client.id", "app-producer"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
        ],
    )
    .create()
    .unwrap();
    let send = |from: usize, to: usize| {
        for i in from..to {
            let key = format!("{}-{i}", i as i32 % parts);
            producer
                .send(
                    BaseRecord::to(topic)
                        .key(&key)
                        .payload(&key)
                        .partition(i as i32 % parts),
                )
                .unwrap();
        }
    };
    send(0, 100);
    producer.flush(Duration::from_secs(30)).unwrap();
    produce_range(&target.bootstrap(), topic, parts, 0, 100);
    assert_eq!(end_offsets(&source.bootstrap(), topic, parts), [50, 50]);

    let consumer: BaseConsumer = client(
        &gw.bootstrap(),
        &[
            ("client.id", "app-consumer"),
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ],
    )
    .create()
    .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let first = poll_keys(&consumer, 100);
    assert_eq!(first.len(), 100);
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    assert_eq!(gw.client_route("app-consumer").as_deref(), Some("source"));

    // The consumer wave: hold, close, move the offsets, route.
    gw.route("groups", group, "held");
    // At its next heartbeat the member is told to rejoin; it revokes its
    // partitions and its JoinGroup waits in the gateway (parked).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = gw.admin("GET", &format!("/groups/{group}"), None);
        if status["clients"] == 1 && status["parked"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not parked: {status}");
        assert!(
            consumer
                .poll(Duration::from_millis(100))
                .is_none_or(|m| m.is_err())
        );
    }
    let offsets = committed(&source.bootstrap(), group, topic, parts);
    assert_eq!(offsets, [50, 50]);
    commit(&target.bootstrap(), group, topic, &offsets);
    gw.route("groups", group, "target");
    // New records exist on the target only: the consumer reads them, and
    // nothing it had read before.
    produce_range(&target.bootstrap(), topic, parts, 100, 120);
    let after = poll_keys(&consumer, 20);
    assert_eq!(after.len(), 20, "after the switch: {after:?}\n{}", gw.log());
    assert!(
        after.iter().all(|k| !first.contains(k)),
        "records read twice: {after:?}"
    );
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    assert_eq!(
        committed(&target.bootstrap(), group, topic, parts),
        [60, 60]
    );
    assert_eq!(
        committed(&source.bootstrap(), group, topic, parts),
        [50, 50]
    );
    assert_eq!(gw.client_route("app-consumer").as_deref(), Some("target"));

    // The producers: held (a produce waits in the gateway), then released
    // to the target.
    gw.route("topics", topic, "held");
    send(120, 130);
    let held_at = Instant::now();
    producer.poll(Duration::from_millis(1500));
    assert_eq!(producer.in_flight_count(), 10, "the produce is held");
    gw.route("topics", topic, "target");
    producer.flush(Duration::from_secs(30)).unwrap();
    let pause = held_at.elapsed();
    assert_eq!(end_offsets(&source.bootstrap(), topic, parts), [50, 50]);
    assert_eq!(end_offsets(&target.bootstrap(), topic, parts), [65, 65]);
    let last = poll_keys(&consumer, 10);
    assert_eq!(last.len(), 10, "the consumer reads what the producer wrote");
    eprintln!("producer pause {pause:?} (1.5 s of it held on purpose)");

    // A restarted gateway resumes the routes.
    drop(gw);
    let gw = GatewayProcess::start(dir.path(), &creds, "src", &switching);
    let (_, routes) = gw.admin("GET", "/routes", None);
    assert_eq!(routes["groups"][group], "target", "{routes}");
    assert_eq!(routes["topics"][topic], "target", "{routes}");
}

/// Producer ids are numbered per cluster, so an idempotent producer
/// switched to the target carries an id that the target may have given to
/// another producer: there its sequence numbers would be taken for that
/// producer's, and a batch whose sequence matches one of the other's is
/// acknowledged as a duplicate and never written. The gateway answers such
/// takes an id from the target for the switched producer and writes it
/// into its batches (librdkafka never asks for a new id itself): every
/// record the producer was told was written is on the target.
#[test]
fn a_switched_idempotent_producer_never_writes_to_the_target_under_a_producer_id_of_the_source() {
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "gwp-src");
    let target = KafkaCluster::start_named(&tb, "gwp-dst");
    let dir = tempfile::tempdir().unwrap();
    let creds = crate::support::write_pair_credentials(dir.path(), &source, &target);
    let gw = GatewayProcess::start(
        dir.path(),
        &creds,
        "src",
        &["--target-cluster", "dst", "--admin-addr", "127.0.0.1:0"],
    );
    for cluster in [&source, &target] {
        create_topic(&client(&cluster.bootstrap(), &[]), "events", 1, 1);
    }
    let idempotent = |bootstrap: &str, id: &str| -> BaseProducer {
        client(
            bootstrap,
            &[("client.id", id), ("enable.idempotence", "true")],
        )
        .create()
        .unwrap()
    };
    // One record per batch: batch i has sequence number i.
    let send = |producer: &BaseProducer, prefix: &str, range: std::ops::Range<usize>| {
        for i in range {
            let value = format!("{prefix}-{i}");
            producer
                .send(
                    BaseRecord::<(), _>::to("events")
                        .payload(&value)
                        .partition(0),
                )
                .unwrap();
            producer.flush(Duration::from_secs(30)).unwrap();
        }
    };
    // The target's first idempotent producer (id 0 there) writes 10.
    let other = idempotent(&target.bootstrap(), "other-app");
    send(&other, "other", 0..10);
    // The application's producer (id 0 on the source) writes 5 through
    // the gateway, is switched to the target and writes 5 more.
    let app = idempotent(&gw.bootstrap(), "app-producer");
    send(&app, "app", 0..5);
    gw.route("topics", "events", "target");
    send(&app, "app", 5..10);
    let on_target: BTreeSet<String> = read_all(&target.bootstrap(), "events", 15)
        .into_iter()
        .collect();
    let missing: Vec<String> = (5..10)
        .map(|i| format!("app-{i}"))
        .filter(|v| !on_target.contains(v))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not on the target: {missing:?}\n{}",
        gw.log()
    );
}

/// Every record value of `topic`'s partition 0 at `bootstrap`, waiting
/// (10 s at most) until there are `n`.
fn read_all(bootstrap: &str, topic: &str, n: usize) -> Vec<String> {
    let consumer: BaseConsumer = client(
        bootstrap,
        &[
            ("group.id", "kcp-test-reader"),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()
    .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while values.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    values
}

/// Produces records `from..to` (key `p-i`, partition `i % partitions`)
/// directly to the cluster at `bootstrap`.
fn produce_range(bootstrap: &str, topic: &str, partitions: i32, from: usize, to: usize) {
    let producer: BaseProducer = client(bootstrap, &[("linger.ms", "5")]).create().unwrap();
    for i in from..to {
        let p = i as i32 % partitions;
        let key = format!("{p}-{i}");
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&key).partition(p))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The language of a proof client: `testbed/gateway_clients.py`
/// (librdkafka) or its Java twin `testbed/gateway-java/GatewayClients.java`
/// (kafka-clients, compiled by `testbed/install.sh`). Both write the same
/// log, which `gateway_clients.py check` checks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    Python,
    Java,
}

/// Where `testbed/install.sh` compiled the Java gateway clients.
fn gateway_java_classes() -> std::path::PathBuf {
    let classes = std::env::var_os("KCP_GATEWAY_JAVA_CLASSES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/kcp/gateway-java/classes")
        });
    assert!(
        classes.join("GatewayClients.class").is_file(),
        "test bed incomplete: no Java gateway clients in {} (run `bash testbed/install.sh`)",
        classes.display()
    );
    classes
}

/// A client of the proof, killed on drop.
struct AppClient {
    child: Child,
    log: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl AppClient {
    /// Starts `role` (`produce` or `consume`) on `topic`; its log and
    /// stderr are `<name>.log` and `<name>.err` in `dir`.
    fn start(
        tb: &crate::support::Testbed,
        lang: Lang,
        dir: &Path,
        name: &str,
        role: &str,
        args: &[&str],
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        let err = dir.join(format!("{name}.err"));
        let mut command = match lang {
            Lang::Python => {
                let mut c = Command::new(&tb.python);
                c.arg(crate::support::testbed_dir().join("gateway_clients.py"));
                c
            }
            Lang::Java => {
                let mut c =
                    Command::new(std::env::var_os("KCP_JAVA").unwrap_or_else(|| "java".into()));
                let libs = tb
                    .kafka_root
                    .join(format!("{}/libs/*", crate::support::KAFKA_LATEST));
                c.args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp"])
                    .arg(format!(
                        "{}:{}",
                        gateway_java_classes().display(),
                        libs.display()
                    ))
                    .arg(format!(
                        "-Dlog4j2.configurationFile={}",
                        crate::support::testbed_dir()
                            .join("gateway-java/log4j2.properties")
                            .display()
                    ))
                    .arg("GatewayClients");
                c
            }
        };
        let child = command
            .arg(role)
            .args(args)
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        AppClient { child, log, err }
    }

    fn lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Still the process started at the beginning (never restarted).
    fn assert_running(&mut self, pid: u32) {
        assert_eq!(self.child.id(), pid);
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the client exited: {}",
            std::fs::read_to_string(&self.err).unwrap_or_default()
        );
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{}",
            std::fs::read_to_string(&self.err).unwrap_or_default()
        );
    }
}

impl Drop for AppClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A producer and a consumer of one language on their own topic and group.
struct ClientPair {
    lang: Lang,
    producer: AppClient,
    consumer: AppClient,
    /// Their process ids at start.
    pids: (u32, u32),
}

impl ClientPair {
    /// A producer and a consumer of `topic` (consumer group `group`)
    /// through `bootstrap`, each also given its `args`.
    fn start(
        tb: &crate::support::Testbed,
        lang: Lang,
        dir: &Path,
        (bootstrap, topic, group): (&str, &str, &str),
        args: ClientArgs<'_>,
    ) -> Self {
        let tag = format!("{lang:?}").to_lowercase();
        let common = ["--bootstrap", bootstrap, "--topic", topic];
        let producer_id = format!("{tag}-producer");
        let consumer_id = format!("{tag}-consumer");
        let producer = AppClient::start(
            tb,
            lang,
            dir,
            &format!("{tag}-produce"),
            "produce",
            &[
                &common[..],
                &["--client-id", &producer_id, "--rate", "200"],
                args.producer,
            ]
            .concat(),
        );
        let consumer = AppClient::start(
            tb,
            lang,
            dir,
            &format!("{tag}-consume"),
            "consume",
            &[
                &common[..],
                &["--client-id", &consumer_id, "--group", group],
                args.consumer,
            ]
            .concat(),
        );
        let pids = (producer.child.id(), consumer.child.id());
        ClientPair {
            lang,
            producer,
            consumer,
            pids,
        }
    }

    fn client_ids(&self) -> [String; 2] {
        let tag = format!("{:?}", self.lang).to_lowercase();
        [format!("{tag}-producer"), format!("{tag}-consumer")]
    }
}

/// Two clusters, a switching gateway, a plan in gateway mode and the
/// clients running through the gateway on the source: librdkafka's on
/// `orders` (group `billing`, wave-1) and, with `java`, the Java client's
/// on `payments` (group `shipping`, wave-2).
struct GatewayMigration {
    source: KafkaCluster,
    target: KafkaCluster,
    gw: GatewayProcess,
    /// How the gateway was started, to start it again on the same ports.
    gw_args: Vec<String>,
    creds: std::path::PathBuf,
    plan: std::path::PathBuf,
    pairs: Vec<ClientPair>,
    python: std::path::PathBuf,
    dir: tempfile::TempDir,
}

fn gateway_migration(tb: &crate::support::Testbed, name: &str, java: bool) -> GatewayMigration {
    gateway_migration_with(tb, name, java, ClientArgs::default())
}

/// More arguments for a pair's producer and consumer.
#[derive(Clone, Copy, Default)]
struct ClientArgs<'a> {
    producer: &'a [&'a str],
    consumer: &'a [&'a str],
}

/// [`gateway_migration`] whose librdkafka clients get `args`.
fn gateway_migration_with(
    tb: &crate::support::Testbed,
    name: &str,
    java: bool,
    args: ClientArgs<'_>,
) -> GatewayMigration {
    let source = KafkaCluster::start_named(tb, &format!("{name}-src"));
    let target = KafkaCluster::start_named(tb, &format!("{name}-dst"));
    let mut topics = vec![("orders", 3, &[][..])];
    if java {
        topics.push(("payments", 3, &[][..]));
    }
    crate::kafka::create_topics(&source.bootstrap(), &topics);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let creds = crate::support::write_pair_credentials(d, &source, &target);
    let routes = d.join("routes.json");
    let gw_args: Vec<String> = [
        "--target-cluster",
        "dst",
        "--admin-addr",
        "127.0.0.1:0",
        "--routes-file",
        routes.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    let gw = GatewayProcess::start(
        d,
        &creds,
        "src",
        &gw_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let admin = gw.listening["admin"].as_str().unwrap().to_owned();
    let plan = d.join("plan.yaml");
    let (include, wave_2) = if java {
        (
            "^(orders|payments)$",
            "    - name: wave-2\n      groups: [shipping]\n      topics: [payments]\n",
        )
    } else {
        ("^orders$", "")
    };
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: gw\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '{include}' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  mode: gateway\n  gateway: {{ admin: 'http://{admin}' }}\n\
             \x20 lag_threshold_records: 200\n  lag_sustain_secs: 2\n\
             \x20 waves:\n    - name: wave-1\n      groups: [billing]\n      topics: [orders]\n{wave_2}",
            creds.display()
        ),
    )
    .unwrap();
    let bootstrap = gw.bootstrap();
    let mut pairs = vec![ClientPair::start(
        tb,
        Lang::Python,
        d,
        (&bootstrap, "orders", "billing"),
        args,
    )];
    if java {
        pairs.push(ClientPair::start(
            tb,
            Lang::Java,
            d,
            (&bootstrap, "payments", "shipping"),
            ClientArgs::default(),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for pair in &pairs {
        while pair.consumer.lines() < 300 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            pair.consumer.lines() >= 300,
            "the {:?} consumer does not read through the gateway: {}",
            pair.lang,
            std::fs::read_to_string(&pair.consumer.err).unwrap_or_default()
        );
    }
    GatewayMigration {
        source,
        target,
        gw,
        gw_args,
        creds,
        plan,
        pairs,
        python: tb.python.clone(),
        dir,
    }
}

/// What the checker must count 0 of after a switch: nothing lost, out of
/// order or unknown, and no error reached an application.
const CLEAN: &[&str] = &["lost", "out_of_order", "unknown", "errors"];
/// After a crash of the gateway itself: nothing lost, out of order or
/// unknown. A consumer whose commit was in flight when the gateway died may
/// see it fail (and re-read what it had not committed); that is counted and
/// printed, not refused.
const CONSISTENT: &[&str] = &["lost", "out_of_order", "unknown"];

impl GatewayMigration {
    /// Runs `migrate execute` again (after a crash), which must end the
    /// migration.
    fn execute_again(&self) {
        let r = crate::run(
            crate::kcp()
                .args(["migrate", "execute", "--yes", "--plan"])
                .arg(&self.plan)
                .timeout(Duration::from_secs(240)),
        );
        assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, self.gw.log());
    }

    /// Checks every client ended on the target, lets the consumers catch
    /// up, checks the pairs (`zero` as in `finish_and_check`) and prints
    /// each pair's result after `what`.
    fn end_on_target(&mut self, zero: &[&str], what: &str) {
        self.assert_on_target();
        std::thread::sleep(Duration::from_secs(3));
        let results = self.finish_and_check(zero);
        for (pair, v) in self.pairs.iter().zip(results) {
            eprintln!("{what}, {:?} clients: {v}", pair.lang);
        }
    }

    /// Checks the clients are the processes started first, stops them
    /// (each consumer once it read everything) and runs the checker on
    /// each pair, which must count 0 of each of `zero`: its result per
    /// pair, in order.
    fn finish_and_check(&mut self, zero: &[&str]) -> Vec<serde_json::Value> {
        for pair in &mut self.pairs {
            pair.producer.assert_running(pair.pids.0);
            pair.consumer.assert_running(pair.pids.1);
        }
        for pair in &mut self.pairs {
            pair.producer.stop();
        }
        let mut results = Vec::new();
        for pair in &mut self.pairs {
            let produced = pair.producer.lines();
            let deadline = Instant::now() + Duration::from_secs(60);
            while pair.consumer.lines() < produced && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
            pair.consumer.stop();
            let out = Command::new(&self.python)
                .arg(crate::support::testbed_dir().join("gateway_clients.py"))
                .arg("check")
                .arg("--produced")
                .arg(&pair.producer.log)
                .arg("--consumed")
                .arg(&pair.consumer.log)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let v: serde_json::Value = serde_json::from_str(text.trim())
                .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
            for key in zero {
                assert_eq!(
                    v[key],
                    0,
                    "{:?} clients, {key}: {v}\n{}",
                    pair.lang,
                    self.gw.log()
                );
            }
            results.push(v);
        }
        results
    }
}

/// The proof of issue #21 item 2: a librdkafka producer and consumer
/// (Python processes, `orders`, group `billing`) and a Java producer and
/// consumer (kafka-clients, `payments`, group `shipping`) that know only
/// the gateway's address and never change their configuration; `migrate
/// execute` with `cutover.mode: gateway` moves them to the target in two
/// consumer waves and then the producers. No record lost, per-key order
/// kept, no error reaches the applications, the same processes run
/// throughout, no duplicate for these synchronously committing consumers;
/// each client's longest pause is measured and printed.
#[test]
fn migrate_execute_in_gateway_mode_moves_unchanged_librdkafka_and_java_clients() {
    let tb = require_testbed!();
    let mut m = gateway_migration(&tb, "gwm", true);
    m.execute();
    // The producers write to the target for a while.
    std::thread::sleep(Duration::from_secs(3));
    let results = m.finish_and_check(CLEAN);
    for (pair, v) in m.pairs.iter().zip(&results) {
        eprintln!("gateway cutover, {:?} clients: {v}", pair.lang);
        assert_eq!(v["duplicates"], 0, "{:?}: {v}", pair.lang);
    }
    m.assert_latest_on_target(&["orders", "payments"], &results);
}

/// Where a switch's time went: the `laps` lines of `migrate execute`'s
/// stderr (the gateway steps', the drain's, each group's offset move).
fn print_laps(stderr: &str) {
    for line in stderr.lines().filter(|l| l.contains("laps")) {
        eprintln!("{line}");
    }
}

/// A transactional producer (librdkafka, transactions of about 100 ms)
/// moved by `migrate execute` in gateway mode: what it sees. An open
/// transaction cannot move to another cluster; the client is told (an
/// abortable or fatal error, counted and printed), aborts or starts again
/// and sends the same records again on the target. Committed records are
/// never lost or reordered, and the consumer (read_committed) sees each
/// record once.
#[test]
fn a_transactional_producer_is_moved_with_its_uncommitted_records_sent_again() {
    let tb = require_testbed!();
    let args = ClientArgs {
        producer: &["--transactional-id", "orders-tx"],
        consumer: &[],
    };
    let mut m = gateway_migration_with(&tb, "gwt", false, args);
    m.execute();
    std::thread::sleep(Duration::from_secs(3));
    let results = m.finish_and_check(&["lost", "out_of_order", "unknown", "duplicates"]);
    let v = &results[0];
    eprintln!("gateway cutover, transactional producer: {v}");
    // Every committed record is on the target (its end offsets also count
    // transaction markers; the source's count those of the aborted
    // transaction too, so they are not compared).
    let on_target: i64 = end_offsets(&m.target.bootstrap(), "orders", 3).iter().sum();
    assert!(
        on_target >= v["produced"].as_i64().unwrap(),
        "{on_target} {v}"
    );
}

/// A librdkafka consumer on the KIP-848 group protocol
/// (`group.protocol=consumer`, ConsumerGroupHeartbeat instead of
/// JoinGroup) moved by `migrate execute` in gateway mode.
#[test]
fn a_kip_848_consumer_is_moved_by_migrate_execute_in_gateway_mode() {
    let tb = require_testbed!();
    let args = ClientArgs {
        producer: &[],
        consumer: &["--group-protocol", "consumer"],
    };
    let mut m = gateway_migration_with(&tb, "gwc", false, args);
    m.execute();
    std::thread::sleep(Duration::from_secs(3));
    let results = m.finish_and_check(CLEAN);
    eprintln!("gateway cutover, KIP-848 consumer: {}", results[0]);
    assert_eq!(results[0]["duplicates"], 0, "{}", results[0]);
}

impl GatewayMigration {
    /// Runs `migrate execute` in gateway mode to its end, prints where the
    /// switch's time went and checks every client is on the target.
    fn execute(&self) {
        let r = crate::run(
            crate::kcp()
                .args(["migrate", "execute", "--yes", "--plan"])
                .arg(&self.plan)
                .env("KCP_LOG", "warn,kcp::migrate=debug")
                .timeout(Duration::from_secs(240)),
        );
        assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, self.gw.log());
        print_laps(&r.stderr);
        self.assert_on_target();
    }

    /// The latest records of each of `topics` (produced as `results`
    /// says) went to the target only (end offsets there also count
    /// transaction markers).
    fn assert_latest_on_target(&self, topics: &[&str], results: &[serde_json::Value]) {
        for (topic, v) in topics.iter().zip(results) {
            let sum = |b: &str| end_offsets(b, topic, 3).iter().sum::<i64>();
            let (on_source, on_target) =
                (sum(&self.source.bootstrap()), sum(&self.target.bootstrap()));
            let produced = v["produced"].as_i64().unwrap();
            assert!(
                on_source < produced && on_target >= produced,
                "{topic}: {on_source} {on_target} {v}"
            );
        }
    }

    /// Every client of the proof is routed to the target.
    fn assert_on_target(&self) {
        let (_, clients) = self.gw.admin("GET", "/clients", None);
        for id in self.pairs.iter().flat_map(ClientPair::client_ids) {
            assert_eq!(
                self.gw.client_route(&id).as_deref(),
                Some("target"),
                "{id}: {clients}"
            );
        }
    }

    /// The step `migrate execute` is at, from its state file.
    fn current_step(&self) -> Option<String> {
        let state = self.plan.with_file_name("plan.migration-state.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state).ok()?).ok()?;
        v["current"]["id"].as_str().map(str::to_owned)
    }

    /// Starts `migrate execute` in the background and waits until it is
    /// at `step` and the gateway holds `group`: the switch is under way
    /// (a wave parks, moves and is routed in well under a second, so a
    /// fixed delay after the step may land past the switch).
    fn execute_until_held(&self, step: &str, group: &str) -> Child {
        let mut execute = self.execute_until(step);
        let deadline = Instant::now() + Duration::from_secs(60);
        let held = || self.gw.admin("GET", "/routes", None).1["groups"][group] == "held";
        while !held() {
            if Instant::now() >= deadline {
                let _ = execute.kill();
                let _ = execute.wait();
                panic!("{group} never held");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        execute
    }

    /// Starts `migrate execute` in the background and waits until it is
    /// at `step`.
    fn execute_until(&self, step: &str) -> Child {
        let mut execute = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
            .arg(&self.plan)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("execute-1.err")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        while self.current_step().as_deref() != Some(step) {
            assert!(Instant::now() < deadline, "execute never reached {step}");
            assert!(execute.try_wait().unwrap().is_none(), "execute ended early");
            std::thread::sleep(Duration::from_millis(20));
        }
        execute
    }

    /// kill -9 of the gateway, then the same gateway again: same ports,
    /// same routes file.
    fn kill_and_restart_gateway(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.gw.child.id().to_string()])
            .status();
        let _ = self.gw.child.wait();
        let port = |addr: &str| -> u16 { addr.rsplit_once(':').unwrap().1.parse().unwrap() };
        let base = |brokers: &serde_json::Value| -> String {
            let b = &brokers[0];
            let node = b["node_id"].as_u64().unwrap() as u16;
            (port(b["gateway"].as_str().unwrap()) - node).to_string()
        };
        let l = &self.gw.listening;
        let mut args = self.gw_args.clone();
        let admin = args.iter().position(|a| a == "--admin-addr").unwrap();
        args[admin + 1] = l["admin"].as_str().unwrap().to_owned();
        args.extend([
            "--listen".to_owned(),
            l["bootstrap"].as_str().unwrap().to_owned(),
            "--broker-port-base".to_owned(),
            base(&l["brokers"]),
            "--target-broker-port-base".to_owned(),
            base(&l["target_brokers"]),
        ]);
        let restarted = GatewayProcess::start(
            self.dir.path(),
            &self.creds,
            "src",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(restarted.bootstrap(), self.gw.bootstrap());
        self.gw = restarted;
    }
}

/// A kill -9 of the gateway while `migrate execute` switches the Java
/// consumers' wave (wave-1, the librdkafka consumers, already on the
/// target); the same gateway is started again on the same ports with the
/// same routes file, and `migrate execute` is run again when the crash
/// made it fail. The clients, unchanged, end on the target with nothing
/// lost and order kept; errors surfaced (a commit in flight at the crash)
/// and duplicates are printed with their pauses.
#[test]
fn a_gateway_killed_during_a_switch_is_restarted_and_the_clients_end_on_the_target() {
    let tb = require_testbed!();
    let mut m = gateway_migration(&tb, "gwk", true);
    let mut execute = m.execute_until_held("consumers/wave-2/stop", "shipping");
    m.kill_and_restart_gateway();
    let status = execute.wait().unwrap();
    eprintln!("execute during the gateway's crash: {status}");
    if !status.success() {
        m.execute_again();
    }
    m.end_on_target(CONSISTENT, "gateway killed during a switch");
}

/// A kill -9 of `kcp migrate execute` while it switches a consumer wave
/// (its groups held in the gateway): the re-run resumes the step and ends
/// the migration; the clients, unchanged, end on the target with nothing
/// lost, order kept and no error surfaced; their pauses are printed.
#[test]
fn migrate_execute_killed_during_a_switch_resumes_and_the_clients_end_on_the_target() {
    let tb = require_testbed!();
    let mut m = gateway_migration(&tb, "gwx", true);
    let mut execute = m.execute_until_held("consumers/wave-1/stop", "billing");
    execute.kill().unwrap(); // SIGKILL
    let _ = execute.wait();
    let (_, routes) = m.gw.admin("GET", "/routes", None);
    let err = std::fs::read_to_string(m.dir.path().join("execute-1.err")).unwrap_or_default();
    assert_eq!(routes["groups"]["billing"], "held", "{routes}\n{err}");
    m.execute_again();
    m.end_on_target(CLEAN, "kcp killed during a switch");
}

/// `migrate execute` in gateway mode interrupted (SIGTERM) while the
/// producers are held, then rolled back: the routes go back to the source
/// and the clients, unchanged, go on there with nothing lost.
#[test]
fn rollback_in_gateway_mode_routes_the_clients_back() {
    let tb = require_testbed!();
    let mut m = gateway_migration(&tb, "gwr", false);
    let mut execute = m.execute_until("producers/stop");
    let _ = Command::new("kill")
        .args(["-TERM", &execute.id().to_string()])
        .status();
    assert_eq!(execute.wait().unwrap().code(), Some(130));
    let r = crate::run(
        crate::kcp()
            .args(["--output", "json", "migrate", "rollback", "--yes", "--plan"])
            .arg(&m.plan),
    );
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, m.gw.log());
    let v: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        v["undone"],
        serde_json::json!([
            "producers/stop",
            "consumers/wave-1/start",
            "consumers/wave-1/stop"
        ]),
        "{v}"
    );
    let (_, routes) = m.gw.admin("GET", "/routes", None);
    assert_eq!(routes["groups"], serde_json::json!({}), "{routes}");
    assert_eq!(routes["topics"], serde_json::json!({}), "{routes}");
    let before = end_offsets(&m.source.bootstrap(), "orders", 3)
        .iter()
        .sum::<i64>();
    std::thread::sleep(Duration::from_secs(3));
    let after = end_offsets(&m.source.bootstrap(), "orders", 3)
        .iter()
        .sum::<i64>();
    assert!(after > before, "the producer writes to the source again");
    let v = &m.finish_and_check(CLEAN)[0];
    eprintln!("gateway rollback, librdkafka clients: {v}");
}
