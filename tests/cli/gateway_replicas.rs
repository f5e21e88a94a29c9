//! Several `kcp gateway` replicas sharing their routes through a compacted
//! topic on the target (`--routes-topic`, issue #21 item 3), on the Kafka
//! test bed: a change through one replica is applied by the other, a
//! replica restarted after a change serves it from its first answer, and
//! `migrate execute` moves a consumer group connected to one replica and a
//! producer connected to the other while it sets routes through the first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gateway::{GatewayProcess, end_offsets};
use crate::proof::{check_logs, wait_consumed};
use crate::require_testbed;
use crate::support::KafkaCluster;

const ROUTES_TOPIC: &str = "kcp-gateway.test.routes";

/// An application of `testbed/gateway_clients.py` (librdkafka) that
/// knows only a gateway's address; killed on drop.
struct App {
    child: Child,
    log: PathBuf,
    err: PathBuf,
}

impl App {
    fn start(python: &Path, dir: &Path, role: &str, bootstrap: &str, extra: &[&str]) -> Self {
        let (log, err) = (
            dir.join(format!("{role}.log")),
            dir.join(format!("{role}.err")),
        );
        let child = Command::new(python)
            .arg(crate::support::testbed_dir().join("gateway_clients.py"))
            .arg(role)
            .args(["--bootstrap", bootstrap, "--topic", "orders", "--log"])
            .arg(&log)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        App { child, log, err }
    }

    fn lines(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |t| t.lines().count())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Still the process started first, running; then stopped (SIGTERM)
    /// with success.
    fn check_and_stop(&mut self, pid: u32) {
        assert_eq!(self.child.id(), pid);
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "exited: {}",
            self.stderr()
        );
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        assert!(self.child.wait().unwrap().success(), "{}", self.stderr());
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(dir: &Path, creds: &Path, name: &str) -> GatewayProcess {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    GatewayProcess::start(
        &dir,
        creds,
        "src",
        &[
            "--target-cluster",
            "dst",
            "--admin-addr",
            "127.0.0.1:0",
            "--routes-topic",
            ROUTES_TOPIC,
        ],
    )
}

fn routes(gw: &GatewayProcess) -> serde_json::Value {
    let (status, routes) = gw.admin("GET", "/routes", None);
    assert_eq!(status, 200, "{routes}");
    routes
}

fn set(gw: &GatewayProcess, kind: &str, name: &str, cluster: &str) -> u64 {
    let (status, body) = gw.admin(
        "PUT",
        &format!("/routes/{kind}/{name}"),
        Some(&format!("{{\"cluster\": \"{cluster}\"}}")),
    );
    assert_eq!(status, 200, "{body}");
    // Answered once this replica applied it.
    assert_eq!(body[kind][name].as_str().unwrap_or("source"), cluster);
    body["version"].as_u64().unwrap()
}

/// Waits until `gw` serves at least `version`; how long it took.
fn applied(gw: &GatewayProcess, version: u64) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    loop {
        let r = routes(gw);
        if r["version"].as_u64().unwrap() >= version {
            return (r, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not applied: {r}\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The topic's `cleanup.policy` on the cluster at `bootstrap`; `None`
/// when the topic is not there.
fn cleanup_policy(bootstrap: &str, topic: &str) -> Option<String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let admin = crate::kafka::admin(bootstrap);
    let found = crate::kafka::block(admin.describe_configs(
        &[ResourceSpecifier::Topic(topic)],
        &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
    ))
    .unwrap();
    let resource = found.into_iter().next()?.ok()?;
    resource.get("cleanup.policy").and_then(|e| e.value.clone())
}

/// A plan in gateway mode naming `replicas`' admin interfaces.
fn write_plan(dir: &Path, creds: &Path, replicas: &[&GatewayProcess]) -> std::path::PathBuf {
    let admins: Vec<String> = replicas
        .iter()
        .map(|gw| format!("'http://{}'", gw.listening["admin"].as_str().unwrap()))
        .collect();
    let plan = dir.join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: gwrm\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  mode: gateway\n  gateway: {{ admin: [{}] }}\n\
             \x20 lag_threshold_records: 200\n  lag_sustain_secs: 2\n\
             \x20 waves:\n    - name: wave-1\n      groups: [billing]\n      topics: [orders]\n",
            creds.display(),
            admins.join(", ")
        ),
    )
    .unwrap();
    plan
}

/// Two replicas: a route set through either is applied by the other (the
/// same version, the same routes); a replica killed (-9) and started
/// again after a change serves that change from its first answer, since
/// it reads the topic before it opens its listeners. `--routes-file` and
/// `--routes-topic` together are refused.
#[test]
fn two_replicas_share_routes_through_the_topic_and_a_restarted_one_resumes_them() {
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "gwrep-src");
    let target = KafkaCluster::start_named(&tb, "gwrep-dst");
    let dir = tempfile::tempdir().unwrap();
    let creds = crate::support::write_pair_credentials(dir.path(), &source, &target);
    let a = replica(dir.path(), &creds, "a");
    let b = replica(dir.path(), &creds, "b");

    let started = Instant::now();
    let v1 = set(&a, "groups", "billing", "held");
    let answered = started.elapsed();
    let (seen, took) = applied(&b, v1);
    assert_eq!(seen["groups"]["billing"], "held", "{seen}");
    eprintln!(
        "a route set through replica a: answered after {answered:?} (written and read back), served by replica b {took:?} later"
    );
    let v2 = set(&b, "topics", "orders", "target");
    assert!(v2 > v1);
    let (seen, _) = applied(&a, v2);
    assert_eq!(seen["topics"]["orders"], "target", "{seen}");
    assert_eq!(seen, routes(&b), "the same routes at the same version");

    // Replica b dies; the group is switched meanwhile; b comes back.
    drop(b);
    let v3 = set(&a, "groups", "billing", "target");
    let v4 = set(&a, "topics", "orders", "source");
    let b = replica(dir.path(), &creds, "b");
    let first = routes(&b);
    assert_eq!(first["groups"]["billing"], "target", "{first}");
    assert_eq!(first["topics"], serde_json::json!({}), "{first}");
    assert!(
        first["version"].as_u64().unwrap() >= v4 && v4 > v3,
        "{first}"
    );
    assert_eq!(first, routes(&a));

    // The topic is compacted, on the target only.
    assert_eq!(
        cleanup_policy(&target.bootstrap(), ROUTES_TOPIC).as_deref(),
        Some("compact")
    );
    assert_eq!(cleanup_policy(&source.bootstrap(), ROUTES_TOPIC), None);

    let both = Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["gateway", "--cluster", "src", "--target-cluster", "dst"])
        .args(["--routes-file", "r.json", "--routes-topic", ROUTES_TOPIC])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2), "{both:?}");
}

/// `migrate execute` in gateway mode with two replicas: the plan names
/// both admin interfaces; kcp sets every route through the first (a) and
/// goes on only once the second (b) serves it. The consumer is connected
/// to b only (its hold, park and switch happen there), the producer to a.
/// Nothing is lost, no record is read twice, per-key order is kept, no
/// error reaches either application and both processes run throughout.
#[test]
fn migrate_execute_with_two_replicas_moves_a_group_on_one_and_a_producer_on_the_other() {
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "gwrm-src");
    let target = KafkaCluster::start_named(&tb, "gwrm-dst");
    crate::kafka::create_topics(&source.bootstrap(), &[("orders", 3, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let creds = crate::support::write_pair_credentials(d, &source, &target);
    let a = replica(d, &creds, "a");
    let b = replica(d, &creds, "b");
    let plan = write_plan(d, &creds, &[&a, &b]);
    let mut producer = App::start(
        &tb.python,
        d,
        "produce",
        &a.bootstrap(),
        &["--client-id", "app-producer", "--rate", "200"],
    );
    let mut consumer = App::start(
        &tb.python,
        d,
        "consume",
        &b.bootstrap(),
        &["--client-id", "app-consumer", "--group", "billing"],
    );
    let pids = (producer.child.id(), consumer.child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumer.lines() < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        consumer.lines() >= 300,
        "the consumer does not read through b"
    );

    let r = crate::run(
        crate::kcp()
            .args(["migrate", "execute", "--yes", "--plan"])
            .arg(&plan)
            .timeout(Duration::from_secs(240)),
    );
    let logs = || format!("--- a ---\n{}\n--- b ---\n{}", a.log(), b.log());
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, logs());
    assert!(
        r.stderr.contains("on 2 replicas"),
        "the steps name both replicas: {}",
        r.stderr
    );
    assert_eq!(b.client_route("app-consumer").as_deref(), Some("target"));
    assert_eq!(a.client_route("app-producer").as_deref(), Some("target"));
    assert_eq!(routes(&a), routes(&b));
    std::thread::sleep(Duration::from_secs(3));

    assert!(
        consumer.child.try_wait().unwrap().is_none(),
        "{}",
        consumer.stderr()
    );
    producer.check_and_stop(pids.0);
    wait_consumed(producer.lines(), || consumer.lines());
    consumer.check_and_stop(pids.1);
    let v = check_logs(
        &tb.python,
        "gateway_clients.py",
        &producer.log,
        &consumer.log,
    );
    eprintln!("gateway cutover through two replicas: {v}");
    for key in ["lost", "out_of_order", "unknown", "errors", "duplicates"] {
        assert_eq!(v[key], 0, "{key}: {v}\n{}", logs());
    }
    let sum = |b: &str| end_offsets(b, "orders", 3).iter().sum::<i64>();
    let (on_source, on_target) = (sum(&source.bootstrap()), sum(&target.bootstrap()));
    let produced = v["produced"].as_i64().unwrap();
    assert!(
        on_source < produced && on_target >= produced,
        "{on_source} {on_target} {v}"
    );
}

/// Two gateways that do not share their routes (each its own routes
/// file): `migrate execute` holds the wave's group through the first, the
/// second never serves it, so the step fails after its 30 s wait naming
/// the second, and nothing moves: the group is not routed to the target
/// and its offsets step never ran.
#[test]
fn migrate_execute_stops_when_a_replica_does_not_serve_the_route() {
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "gwst-src");
    let target = KafkaCluster::start_named(&tb, "gwst-dst");
    crate::kafka::create_topics(&source.bootstrap(), &[("orders", 1, &[])]);
    crate::kafka::produce(&source.bootstrap(), "orders", &[10]);
    crate::kafka::commit(&source.bootstrap(), "billing", &[("orders", 0, 10)]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let creds = crate::support::write_pair_credentials(d, &source, &target);
    let own_file = |name: &str| {
        let sub = d.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let file = sub.join("routes.json");
        let args = [
            "--target-cluster",
            "dst",
            "--admin-addr",
            "127.0.0.1:0",
            "--routes-file",
            file.to_str().unwrap(),
        ];
        GatewayProcess::start(&sub, &creds, "src", &args)
    };
    let (a, b) = (own_file("a"), own_file("b"));
    let plan = write_plan(d, &creds, &[&a, &b]);
    let r = crate::run(
        crate::kcp()
            .args(["migrate", "execute", "--yes", "--plan"])
            .arg(&plan)
            .timeout(Duration::from_secs(180)),
    );
    let b_admin = b.listening["admin"].as_str().unwrap();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("has not applied the routes' version")
            && r.stderr.contains(b_admin)
            && r.stderr.contains("--routes-topic"),
        "{}",
        r.stderr
    );
    assert_eq!(routes(&a)["groups"]["billing"], "held");
    assert_eq!(routes(&b)["groups"], serde_json::json!({}));
    let state = crate::cutover::migration_state(&plan).unwrap();
    let done = crate::cutover::done_ids(&state);
    assert!(!done.is_empty(), "{state}");
    assert!(
        !done.iter().any(|id| id.starts_with("consumers/")),
        "no consumer step is done: {done:?}"
    );
}

/// `kcp create-asset gateway`: the Deployment runs at least two replicas
/// sharing a routes topic, with the replicator's "restricted" pod
/// security; the Service has the bootstrap port and one port per broker
/// of both clusters (the target's from the state when it was scanned,
/// assumed and reported otherwise), each matching the gateway's port
/// arguments, with client-IP affinity; a headless Service reaches every
/// replica's admin interface, which the plan's `cutover` keys name; a
/// PodDisruptionBudget keeps one replica up.
#[test]
fn create_asset_gateway_writes_replicas_a_port_per_broker_and_restricted_pods() {
    let dir = tempfile::tempdir().unwrap();
    // The example state, with a scanned target (node ids 0..2).
    let mut state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::repo().join("state-examples/msk-region.json")).unwrap(),
    )
    .unwrap();
    let mut target = state["clusters"]["orders-prod"].clone();
    target["brokers"] = serde_json::json!([
        {"id": 0, "host": "b0.cloud", "port": 9092, "rack": null},
        {"id": 1, "host": "b1.cloud", "port": 9092, "rack": null},
        {"id": 2, "host": "b2.cloud", "port": 9092, "rack": null}
    ]);
    state["clusters"]["orders-cc"] = target;
    let state_file = dir.path().join("state.json");
    std::fs::write(&state_file, serde_json::to_string(&state).unwrap()).unwrap();
    let generate = |target: &str, out: &str| {
        crate::run(
            crate::kcp()
                .args(["--output", "json", "--state-file"])
                .arg(&state_file)
                .args(["create-asset", "gateway", "--source", "orders-prod"])
                .args(["--target-type", "confluent-cloud", "--target", target])
                .arg("--out")
                .arg(dir.path().join(out)),
        )
    };
    let r = generate("orders-cc", "scanned");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["left_out"], serde_json::json!([]), "{summary}");
    let out = dir.path().join("scanned");
    let text = std::fs::read_to_string(out.join("kubernetes/kcp-gateway.yaml")).unwrap();
    let docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["Deployment", "Service", "Service", "PodDisruptionBudget"]
    );
    let (deployment, service, admin, pdb) = (&docs[0], &docs[1], &docs[2], &docs[3]);
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);

    // The replicator's restricted settings, field for field.
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    let replicator = dir.path().join("replicator");
    let r = crate::run(
        crate::kcp()
            .arg("--state-file")
            .arg(&state_file)
            .args(["create-asset", "replicator", "--source", "orders-prod"])
            .args(["--target-type", "kafka", "--target", "orders-cc", "--out"])
            .arg(&replicator),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(replicator.join("kubernetes/kcp-replicator.yaml")).unwrap();
    let replicator: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let replicator_pod = &replicator[1]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"], replicator_pod["securityContext"]);
    assert_eq!(
        security,
        &replicator_pod["containers"][0]["securityContext"]
    );

    // Ports: the gateway's arguments, the container's and the Service's agree.
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let arg = |flag: &str| -> &str {
        let i = args
            .iter()
            .position(|a| *a == flag)
            .unwrap_or_else(|| panic!("{flag}: {args:?}"));
        args[i + 1]
    };
    assert_eq!(args[0], "gateway");
    assert_eq!(arg("--cluster"), "orders-prod");
    assert_eq!(arg("--target-cluster"), "orders-cc");
    let routes_topic = arg("--routes-topic");
    assert!(routes_topic.starts_with("kcp-gateway."), "{routes_topic}");
    let port_of = |s: &str| s.rsplit_once(':').unwrap().1.parse::<u64>().unwrap();
    let bootstrap = port_of(arg("--listen"));
    let source_base: u64 = arg("--broker-port-base").parse().unwrap();
    let target_base: u64 = arg("--target-broker-port-base").parse().unwrap();
    let admin_port = port_of(arg("--admin-addr"));
    let mut want: Vec<u64> = vec![bootstrap];
    want.extend([1, 2, 3, 4, 5, 6].map(|n| source_base + n));
    want.extend([0, 1, 2].map(|n| target_base + n));
    let ports = |list: &serde_norway::Value, key: &str| -> Vec<u64> {
        list.as_sequence()
            .unwrap()
            .iter()
            .map(|p| p[key].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ports(&service["spec"]["ports"], "port"), want);
    let mut container_ports = ports(&container["ports"], "containerPort");
    assert_eq!(container_ports.pop(), Some(admin_port));
    assert_eq!(container_ports, want);
    for p in service["spec"]["ports"].as_sequence().unwrap() {
        let name = p["name"].as_str().unwrap();
        assert!(name.len() <= 15 && !name.is_empty(), "{name}");
    }
    assert_eq!(service["spec"]["sessionAffinity"], "ClientIP");
    assert_eq!(
        arg("--advertised-host"),
        service["metadata"]["name"].as_str().unwrap()
    );
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    for d in [service, admin] {
        assert_eq!(&d["spec"]["selector"], selector);
    }
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);

    // The headless admin Service, as the plan's cutover keys name it.
    assert_eq!(admin["spec"]["clusterIP"], "None");
    assert_eq!(ports(&admin["spec"]["ports"], "port"), [admin_port]);
    let cutover: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("plan-cutover.yaml")).unwrap())
            .unwrap();
    assert_eq!(cutover["cutover"]["mode"], "gateway");
    assert_eq!(
        cutover["cutover"]["gateway"]["admin"].as_str().unwrap(),
        format!(
            "http://{}:{admin_port}",
            admin["metadata"]["name"].as_str().unwrap()
        )
    );

    // A target that was not scanned: its ports are assumed, and said so.
    let r = generate("elsewhere", "assumed");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let reason = summary["left_out"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("node ids 0, 1, 2, 3, 4, 5"), "{summary}");
}
