//! Metadata sync while replicating (`replication.metadata_sync`, #20): on
//! two real Apache Kafka clusters, a topic config change and a partition
//! increase on the source reach the target while `kcp migrate replicate`
//! runs, a config the target refuses is reported once, and (opt-in) the
//! source's ACL bindings are applied and kept in sync without touching the
//! target's own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kcp::connect::admin::RawAcl;
use rdkafka::admin::{AdminOptions, AlterConfig, ConfigSource, NewPartitions, ResourceSpecifier};

use crate::kafka::{admin, block, create_topics, produce};
use crate::support::{KAFKA_3, KafkaCluster, KafkaSpec, write_pair_credentials};

/// A replicator process, killed (SIGTERM, then SIGKILL) on drop; its
/// stderr goes to `replicator.log` beside the plan.
struct Replicator(Child);

impl Replicator {
    fn spawn(plan: &Path) -> Self {
        Self::spawn_with(plan, &[])
    }

    fn spawn_with(plan: &Path, extra: &[&str]) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(plan.with_file_name("replicator.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["migrate", "replicate", "--no-progress", "--plan"])
            .arg(plan)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Replicator(child)
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    fn stop(&mut self) {
        if !self.running() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while self.running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn log(plan: &Path) -> String {
    std::fs::read_to_string(plan.with_file_name("replicator.log")).unwrap_or_default()
}

/// Waits up to `limit` for `done`, failing with the replicator's log.
fn wait_until(
    what: &str,
    limit: Duration,
    plan: &Path,
    r: &mut Replicator,
    mut done: impl FnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit && r.running(),
            "{what}: not within {limit:?}; log:\n{}",
            log(plan)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed()
}

/// A topic config's value on a cluster, and whether it is set on the topic.
fn config(bootstrap: &str, topic: &str, key: &str) -> Option<(Option<String>, bool)> {
    let described = block(admin(bootstrap).describe_configs(
        &[ResourceSpecifier::Topic(topic)],
        &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
    ))
    .ok()?;
    let resource = described.into_iter().next()?.ok()?;
    let entry = resource.get(key)?;
    let on_topic = matches!(entry.source, ConfigSource::DynamicTopic);
    Some((entry.value.clone(), on_topic))
}

/// Replaces a topic's dynamic configs (AlterConfigs: unnamed ones go back
/// to their defaults).
fn set_topic_configs(bootstrap: &str, topic: &str, configs: &[(&str, &str)]) {
    let alter = configs.iter().fold(
        AlterConfig::new(ResourceSpecifier::Topic(topic)),
        |a, (k, v)| a.set(k, v),
    );
    for r in block(admin(bootstrap).alter_configs(&[alter], &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
}

fn partition_count(bootstrap: &str, topic: &str) -> usize {
    admin(bootstrap)
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()
        .and_then(|md| {
            let t = md.topics().first()?;
            t.error().is_none().then(|| t.partitions().len())
        })
        .unwrap_or(0)
}

/// The plan, with `replication` settings appended.
fn write_plan(dir: &Path, topics: &str, replication: &str) -> PathBuf {
    let plan = dir.join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: sync\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\n{topics}replication:\n  checkpoint_interval_ms: 300\n  topic_discovery_interval_secs: 1\n{replication}"
        ),
    )
    .unwrap();
    plan
}

/// Source on Kafka 3.9, target on 4.1: a retention change and a partition
/// increase made on the source while the copy runs reach the target within
/// one sync interval, the new partition's records are copied, a config
/// the source takes but Kafka 4 no longer knows
/// (`message.timestamp.difference.max.ms`, removed in 4.0) is reported
/// once, and a config the source stops setting is deleted on the target.
#[test]
fn config_changes_and_partition_increases_reach_the_target_while_copying() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_with(
        &tb,
        "source_cluster",
        KafkaSpec {
            version: KAFKA_3,
            ..KafkaSpec::default()
        },
    );
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let dir = tempfile::tempdir().unwrap();
    write_pair_credentials(dir.path(), &source, &target);
    let interval = Duration::from_secs(3);
    let plan = write_plan(
        dir.path(),
        "topics: { include: 'orders' }\n",
        "  transactions: false\n  metadata_sync: { interval_secs: 3 }\n",
    );
    let (src, dst) = (source.bootstrap(), target.bootstrap());
    create_topics(&src, &[("orders", 2, &[("retention.ms", "3600000")])]);
    produce(&src, "orders", &[100, 100]);
    let metrics = format!("127.0.0.1:{}", crate::support::free_port());
    let mut r = Replicator::spawn_with(&plan, &["--metrics-addr", &metrics]);
    let count =
        || crate::replicate::target_count_of(&dir.path().join("credentials.yaml"), "orders", 3);
    wait_until("first copy", Duration::from_secs(90), &plan, &mut r, || {
        count() == Some(200)
    });
    assert_eq!(
        config(&dst, "orders", "retention.ms").map(|c| c.0),
        Some(Some("3600000".to_owned())),
        "carried at creation"
    );

    set_topic_configs(
        &src,
        "orders",
        &[
            ("retention.ms", "7200000"),
            ("message.timestamp.difference.max.ms", "60000"),
        ],
    );
    for res in block(
        admin(&src).create_partitions(&[NewPartitions::new("orders", 3)], &AdminOptions::new()),
    )
    .unwrap()
    {
        res.unwrap();
    }
    produce(&src, "orders", &[0, 0, 30]);
    // One interval, plus room for a loaded machine (the round's calls and
    // the process's own start-up of the round are not free).
    let slack = Duration::from_secs(10);
    let took = wait_until(
        "retention.ms on the target",
        interval + slack,
        &plan,
        &mut r,
        || config(&dst, "orders", "retention.ms").and_then(|c| c.0) == Some("7200000".into()),
    );
    eprintln!("retention.ms reached the target in {took:?}");
    let took = wait_until(
        "the third partition copied",
        interval + slack,
        &plan,
        &mut r,
        || partition_count(&dst, "orders") == 3 && count() == Some(230),
    );
    eprintln!("the new partition and its records reached the target in {took:?}");
    crate::replicate::assert_exact_copy_between(&source, &target, "orders", 3);

    // Three more rounds: the refusal is reported once, not every round.
    std::thread::sleep(interval * 3 + Duration::from_secs(1));
    let refused = |text: &str| {
        text.lines()
            .filter(|l| l.contains("refused message.timestamp.difference.max.ms=60000"))
            .count()
    };
    assert_eq!(refused(&log(&plan)), 1, "log:\n{}", log(&plan));
    let (_, scraped) = crate::telemetry::http_get(&metrics, "/metrics").unwrap();
    let series = |outcome: &str| {
        scraped
            .lines()
            .find(|l| {
                l.starts_with("kcp_replicator_metadata_sync_changes_total{")
                    && l.contains("kind=\"topic_config\"")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(series("refused").as_deref(), Some("1"), "{scraped}");
    assert_eq!(series("applied").as_deref(), Some("1"), "{scraped}");
    assert!(
        log(&plan).contains("topic `orders`"),
        "the warning names the topic: {}",
        log(&plan)
    );

    // The source stops setting retention.ms: the target goes back to its
    // default; the refused config, unchanged, is still not tried again.
    set_topic_configs(
        &src,
        "orders",
        &[("message.timestamp.difference.max.ms", "60000")],
    );
    wait_until(
        "retention.ms deleted on the target",
        interval + slack,
        &plan,
        &mut r,
        || config(&dst, "orders", "retention.ms").is_some_and(|c| !c.1),
    );
    std::thread::sleep(interval + Duration::from_secs(1));
    assert_eq!(refused(&log(&plan)), 1, "log:\n{}", log(&plan));
    assert!(r.running(), "the sync never stops the copy: {}", log(&plan));
}

fn connection(dir: &Path, cluster: &str) -> kcp::connect::Connection {
    let creds = kcp::connect::CredentialsFile::load(&dir.join("credentials.yaml")).unwrap();
    kcp::connect::connect(
        creds.cluster(cluster).unwrap(),
        kcp::connect::ConnectOptions {
            timeout: Duration::from_secs(15),
        },
    )
    .unwrap()
}

fn binding(resource_type: &str, name: &str, principal: &str, operation: &str) -> RawAcl {
    RawAcl {
        resource_type: resource_type.into(),
        resource_name: name.into(),
        pattern_type: "LITERAL".into(),
        principal: principal.into(),
        host: "*".into(),
        operation: operation.into(),
        permission: "ALLOW".into(),
    }
}

/// `acls: true`: the source's bindings are created on the target with
/// principals mapped and topics renamed as the plan says; a binding added
/// on the source appears, one removed disappears, also after a restart
/// (kcp's record of what it created is in the offset-map topic); a binding
/// the target had on its own, and one the target had before kcp although
/// the source has it too, are never deleted.
#[test]
fn acls_are_applied_and_kept_in_sync_leaving_the_targets_own_alone() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let dir = tempfile::tempdir().unwrap();
    write_pair_credentials(dir.path(), &source, &target);
    std::fs::write(
        dir.path().join("principals.yaml"),
        "principals:\n  'User:alice': 'User:alice-on-target'\n",
    )
    .unwrap();
    let plan = write_plan(
        dir.path(),
        "topics: { include: 'orders', rename: { prefix: 'dc1.' } }\n",
        "  metadata_sync: { interval_secs: 2, acls: true, principal_map: principals.yaml }\n",
    );
    create_topics(&source.bootstrap(), &[("orders", 1, &[])]);
    produce(&source.bootstrap(), "orders", &[10]);
    let (src, dst) = (connection(dir.path(), "src"), connection(dir.path(), "dst"));
    let alice_reads = binding("TOPIC", "orders", "User:alice", "READ");
    let alice_group = binding("GROUP", "billing", "User:alice", "READ");
    let bob_describes = binding("TOPIC", "dc1.orders", "User:bob", "DESCRIBE");
    let bob_on_source = binding("TOPIC", "orders", "User:bob", "DESCRIBE");
    let carol_target_only = binding("TOPIC", "dc1.orders", "User:carol", "READ");
    kcp::connect::admin::create_raw_acls(
        &src,
        &[alice_reads.clone(), alice_group, bob_on_source.clone()],
    )
    .unwrap();
    // The target's own: carol's, and bob's (which the source has too).
    kcp::connect::admin::create_raw_acls(&dst, &[carol_target_only.clone(), bob_describes.clone()])
        .unwrap();
    let on_target = || {
        let mut v: Vec<String> = kcp::connect::admin::describe_acls(&dst)
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {}",
                    a.principal, a.operation, a.resource_type, a.resource_name
                )
            })
            .collect();
        v.sort();
        v
    };
    let mut r = Replicator::spawn(&plan);
    let expected_first = [
        "User:alice-on-target READ GROUP billing",
        "User:alice-on-target READ TOPIC dc1.orders",
        "User:bob DESCRIBE TOPIC dc1.orders",
        "User:carol READ TOPIC dc1.orders",
    ];
    wait_until(
        "the source's ACLs on the target",
        Duration::from_secs(60),
        &plan,
        &mut r,
        || on_target() == expected_first,
    );

    // Added on the source: appears. Removed: disappears, but only what kcp
    // created (alice's); bob's stays, as does carol's.
    let dave = binding("TRANSACTIONAL_ID", "orders-tx", "User:dave", "WRITE");
    kcp::connect::admin::create_raw_acls(&src, std::slice::from_ref(&dave)).unwrap();
    kcp::connect::admin::delete_raw_acls(&src, &[alice_reads, bob_on_source]).unwrap();
    let expected = [
        "User:alice-on-target READ GROUP billing",
        "User:bob DESCRIBE TOPIC dc1.orders",
        "User:carol READ TOPIC dc1.orders",
        "User:dave WRITE TRANSACTIONAL_ID orders-tx",
    ];
    let took = wait_until(
        "the source's changes on the target",
        Duration::from_secs(15),
        &plan,
        &mut r,
        || on_target() == expected,
    );
    eprintln!("ACL changes reached the target in {took:?}");
    // The notice follows the deletion (the target may show it first).
    wait_until(
        "the deletion reported",
        Duration::from_secs(10),
        &plan,
        &mut r,
        || {
            log(&plan).contains(
                "deleted ACL User:alice-on-target ALLOW READ on literal topic `dc1.orders`",
            )
        },
    );

    // A new process knows what the last one created: dave's binding, gone
    // from the source while no replicator ran, is deleted.
    r.stop();
    kcp::connect::admin::delete_raw_acls(&src, &[dave]).unwrap();
    let mut r = Replicator::spawn(&plan);
    let expected = [
        "User:alice-on-target READ GROUP billing",
        "User:bob DESCRIBE TOPIC dc1.orders",
        "User:carol READ TOPIC dc1.orders",
    ];
    wait_until(
        "dave's binding deleted after a restart",
        Duration::from_secs(60),
        &plan,
        &mut r,
        || on_target() == expected,
    );
    // Still there after more rounds: the target's own are never touched.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(on_target(), expected, "log:\n{}", log(&plan));
}

/// Inside `migrate execute` (its replicating phase runs the same
/// replicator): the source's ACLs reach the target, but the producer
/// fence kcp puts on the source at `producers/stop` does not (it would
/// deny the producers about to move to the target).
#[test]
fn execute_syncs_acls_but_never_the_producer_fence() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let dir = tempfile::tempdir().unwrap();
    write_pair_credentials(dir.path(), &source, &target);
    create_topics(&source.bootstrap(), &[("orders", 1, &[])]);
    produce(&source.bootstrap(), "orders", &[20]);
    let (src, dst) = (connection(dir.path(), "src"), connection(dir.path(), "dst"));
    let alice_writes = binding("TOPIC", "orders", "User:alice", "WRITE");
    kcp::connect::admin::create_raw_acls(&src, std::slice::from_ref(&alice_writes)).unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: fenced\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\n\
         topics: { include: '^orders$' }\n\
         replication: { checkpoint_interval_ms: 500, metadata_sync: { interval_secs: 1, acls: true } }\n\
         cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 60\n\
         \x20 fence_producers: {}\n  stop_producers: 'true'\n  start_producers: 'true'\n",
    )
    .unwrap();
    let err_path = dir.path().join("execute.err");
    let mut execute = Replicator(
        Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
            .arg(&plan)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let err = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let started = Instant::now();
    while !err().contains("fenced the producers") {
        assert!(
            started.elapsed() < Duration::from_secs(120) && execute.running(),
            "never fenced: {}",
            err()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Rounds after the fence: still only alice's ALLOW on the target.
    std::thread::sleep(Duration::from_secs(5));
    assert!(execute.running(), "{}", err());
    let on_target: Vec<String> = kcp::connect::admin::describe_acls(&dst)
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {}",
                a.permission, a.principal, a.operation, a.resource_name
            )
        })
        .collect();
    assert_eq!(on_target, ["ALLOW User:alice WRITE orders"], "{}", err());
    assert!(
        err().contains(
            "metadata sync: created ACL User:alice ALLOW WRITE on literal topic `orders`"
        ),
        "{}",
        err()
    );
    assert!(
        err().contains("may be the cutover's producer fence"),
        "the fence left out is said: {}",
        err()
    );
    execute.stop();
}

/// A user's quota values on a cluster, read with kcp's quota client.
fn user_quota(dir: &Path, cluster: &str, user: &str) -> Option<Vec<(String, f64)>> {
    let creds = kcp::connect::CredentialsFile::load(&dir.join("credentials.yaml")).unwrap();
    let mut client = kcp::connect::wire::QuotaClient::connect(
        creds.cluster(cluster).unwrap(),
        Duration::from_secs(15),
    )
    .unwrap();
    let entries = client.describe_client_quotas().unwrap();
    entries
        .into_iter()
        .find(|e| {
            e.entity.len() == 1
                && e.entity[0].entity_type == "user"
                && e.entity[0].name.as_deref() == Some(user)
        })
        .map(|e| e.values.into_iter().collect())
}

/// `quotas: true`: the source's client quotas reach the target with users
/// mapped, one set on the source while `kcp migrate replicate` runs within
/// one interval, one removed on the source is removed on the target
/// (kcp set it), also when it was removed while kcp was stopped (the
/// ledger is in the offset-map topic), and a quota only the target has is
/// left alone; each change is a notice and counted as `kind="quota"`.
#[test]
fn quotas_are_applied_and_kept_in_sync_leaving_the_targets_own_alone() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let dir = tempfile::tempdir().unwrap();
    write_pair_credentials(dir.path(), &source, &target);
    std::fs::write(
        dir.path().join("principals.yaml"),
        "principals:\n  'User:alice': 'User:alice-new'\n",
    )
    .unwrap();
    let interval = Duration::from_secs(3);
    let plan = write_plan(
        dir.path(),
        "topics: { include: 'orders' }\n",
        "  metadata_sync: { interval_secs: 3, topic_configs: false, quotas: true, principal_map: principals.yaml }\n",
    );
    let (src, dst) = (source.bootstrap(), target.bootstrap());
    let user = |name: &str| ["--entity-type", "users", "--entity-name", name].map(str::to_owned);
    let set = |bootstrap: &str, name: &str, values: &str| {
        let entity = user(name);
        let entity: Vec<&str> = entity.iter().map(String::as_str).collect();
        crate::quotas::set_quota(&tb, bootstrap, &entity, values);
    };
    set(&src, "alice", "producer_byte_rate=1024");
    set(&dst, "carol", "producer_byte_rate=777");
    create_topics(&src, &[("orders", 1, &[])]);
    produce(&src, "orders", &[10]);
    let metrics = format!("127.0.0.1:{}", crate::support::free_port());
    let mut r = Replicator::spawn_with(&plan, &["--metrics-addr", &metrics]);
    let on_target = |name: &str| user_quota(dir.path(), "dst", name);
    wait_until(
        "alice's quota on the target as alice-new",
        Duration::from_secs(90),
        &plan,
        &mut r,
        || on_target("alice-new") == Some(vec![("producer_byte_rate".into(), 1024.0)]),
    );

    set(&src, "bob", "consumer_byte_rate=2048");
    let took = wait_until(
        "bob's quota on the target",
        interval * 3,
        &plan,
        &mut r,
        || on_target("bob") == Some(vec![("consumer_byte_rate".into(), 2048.0)]),
    );
    eprintln!("a quota set on the source reached the target in {took:?}");
    assert!(took <= interval + Duration::from_secs(2), "took {took:?}");
    // The round counts its changes after it wrote its ledger, which may be
    // a moment after the target shows the quota.
    let scrape = || crate::telemetry::http_get(&metrics, "/metrics").unwrap().1;
    wait_until("bob's quota counted", interval, &plan, &mut r, || {
        quota_series(&scrape(), "applied").as_deref() == Some("2")
    });
    let scraped = scrape();
    assert_eq!(
        quota_series(&scraped, "refused").as_deref(),
        Some("0"),
        "{scraped}"
    );

    // Removed on the source while kcp is stopped: removed on the target
    // by the next run, which reads what kcp set from the offset-map topic.
    r.stop();
    crate::quotas::kafka_configs(
        &tb,
        &src,
        &[
            "--alter",
            "--delete-config",
            "producer_byte_rate",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    let metrics = format!("127.0.0.1:{}", crate::support::free_port());
    let mut r = Replicator::spawn_with(&plan, &["--metrics-addr", &metrics]);
    wait_until(
        "alice-new's quota removed on the target",
        interval * 3,
        &plan,
        &mut r,
        || on_target("alice-new").is_none(),
    );
    // Rounds after, the target's own quota is still there.
    std::thread::sleep(interval * 2);
    let described = crate::quotas::describe_quotas(&tb, &dst);
    assert!(
        described.contains("Quota configs for user-principal 'carol' are producer_byte_rate=777.0"),
        "{described}"
    );
    assert!(
        described.contains("Quota configs for user-principal 'bob' are consumer_byte_rate=2048.0"),
        "{described}"
    );
    assert!(!described.contains("alice"), "{described}");

    let text = log(&plan);
    assert!(
        text.contains("quota of user alice-new on the target: applied producer_byte_rate=1024"),
        "{text}"
    );
    assert!(text.contains("producer_byte_rate (removed"), "{text}");
    assert!(!text.contains("carol"), "{text}");
    let (_, scraped) = crate::telemetry::http_get(&metrics, "/metrics").unwrap();
    assert_eq!(
        quota_series(&scraped, "deleted").as_deref(),
        Some("1"),
        "{scraped}"
    );
    assert_eq!(
        quota_series(&scraped, "applied").as_deref(),
        Some("0"),
        "{scraped}"
    );
    r.stop();
}

/// A `kind="quota"` series of the metadata sync's counter.
fn quota_series(scraped: &str, outcome: &str) -> Option<String> {
    scraped
        .lines()
        .find(|l| {
            l.starts_with("kcp_replicator_metadata_sync_changes_total{")
                && l.contains("kind=\"quota\"")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_owned)
}
