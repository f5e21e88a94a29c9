//! `kcp migrate execute` with the plan's `cutover.schemas` and
//! `cutover.connectors`: two Apache Kafka clusters from the test bed, a
//! Kafka Connect worker on each (FileStream source and sink) and two
//! Apicurio registries (its Confluent API: no IMPORT mode, so the plan says
//! `import_mode: false` and the targets start empty).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    ConnectWorker, KafkaCluster, SchemaRegistry, schema_registry_jar, write_pair_credentials,
};
use crate::{kcp, run};

fn avro(name: &str) -> String {
    format!(r#"{{"type":"record","name":"{name}","fields":[{{"name":"x","type":"int"}}]}}"#)
}

/// The id and schema of every subject version of a registry.
fn registry_contents(sr: &SchemaRegistry) -> Vec<(String, u64, u64, String)> {
    let (_, subjects) = sr.call("GET", "/subjects", None);
    let mut subjects: Vec<String> = serde_json::from_str(&subjects).unwrap();
    subjects.sort();
    let mut out = Vec::new();
    for s in subjects {
        let (_, versions) = sr.call("GET", &format!("/subjects/{s}/versions"), None);
        for v in serde_json::from_str::<Vec<u64>>(&versions).unwrap() {
            let (_, body) = sr.call("GET", &format!("/subjects/{s}/versions/{v}"), None);
            let body: Value = serde_json::from_str(&body).unwrap();
            out.push((
                s.clone(),
                v,
                body["id"].as_u64().unwrap(),
                body["schema"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

fn wait_for_file(path: &Path, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline && want.starts_with(&got),
            "`{}` holds {got:?}, expected {want:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A file source `lines-in` (three lines into topic `lines`, its producer
/// pointed at the source cluster by an override) and a file sink
/// `lines-out` on the source worker, once both have done their work:
/// (input file, output file).
fn file_connectors(
    src: &ConnectWorker,
    src_kafka: &KafkaCluster,
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let input = dir.join("in.txt");
    let output = dir.join("out.txt");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    src.json(
        "PUT",
        "/connectors/lines-in/config",
        Some(json!({
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "tasks.max": "1",
            "file": input.display().to_string(),
            "topic": "lines",
            "producer.override.bootstrap.servers": src_kafka.bootstrap(),
        })),
    );
    src.json(
        "PUT",
        "/connectors/lines-out/config",
        Some(json!({
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1",
            "file": output.display().to_string(),
            "topics": "lines",
        })),
    );
    src.wait_for("/connectors/lines-in/offsets", "source offsets", |v| {
        v["offsets"][0]["offset"]["position"].as_u64() == Some(14)
    });
    src.wait_for("/connectors/lines-out/offsets", "the sink consumed", |v| {
        v["offsets"][0]["offset"]["kafka_offset"].as_u64() == Some(3)
    });
    wait_for_file(&output, "one\ntwo\nthree\n");
    (input, output)
}

/// Appends a fourth line to the input: the output gets it, once, after
/// the three it has.
fn append_once(input: &Path, output: &Path) {
    std::fs::write(input, "one\ntwo\nthree\nfour\n").unwrap();
    wait_for_file(output, "one\ntwo\nthree\nfour\n");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        std::fs::read_to_string(output).unwrap(),
        "one\ntwo\nthree\nfour\n"
    );
}

/// One `execute` moves schemas and connectors with the topics: the
/// registry is copied with its ids before the consumer waves, and what the
/// source registered during the cutover (here by the producers' stop hook)
/// is copied before the producers move; the sink connector moves with its
/// group's offset translated, and the source connector is stopped before
/// the producers and re-created on the target with its offsets and the
/// target's bootstrap servers. A line appended to the input afterwards
/// reaches the output file exactly once, through the target cluster.
#[test]
fn execute_moves_schemas_and_connectors_in_their_places() {
    let tb = crate::require_testbed!();
    let jar = schema_registry_jar().expect("the test bed's schema registry");
    let src_kafka = KafkaCluster::start_named(&tb, "platform-src");
    let dst_kafka = KafkaCluster::start_named(&tb, "platform-dst");
    let src = ConnectWorker::start(&tb, &src_kafka, "src");
    let dst = ConnectWorker::start(&tb, &dst_kafka, "dst");
    let (src_sr, dst_sr) = (SchemaRegistry::start(&jar), SchemaRegistry::start(&jar));
    assert_eq!(
        src_sr.register("lines-key", json!({ "schema": avro("K") })),
        1
    );
    assert_eq!(
        src_sr.register("lines-value", json!({ "schema": avro("V") })),
        2
    );

    let dir = tempfile::tempdir().unwrap();
    let (input, output) = file_connectors(&src, &src_kafka, dir.path());

    let creds = write_pair_credentials(dir.path(), &src_kafka, &dst_kafka);
    let mut yaml = std::fs::read_to_string(&creds).unwrap();
    yaml.push_str(&format!(
        "schema_registries:\n  - name: src-sr\n    url: {}\n  - name: dst-sr\n    url: {}\n\
         connect_clusters:\n  - name: src-connect\n    url: {}\n  - name: dst-connect\n    url: {}\n",
        src_sr.url(),
        dst_sr.url(),
        src.url(),
        dst.url()
    ));
    std::fs::write(&creds, yaml).unwrap();
    // The producers' stop hook registers a schema on the source: what the
    // source registers until the producers stop reaches the target.
    let late = json!({ "schema": avro("Late") }).to_string();
    let hook = format!(
        "curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '{late}' {}/subjects/late-value/versions",
        src_sr.url()
    );
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: platform\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^lines$' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 2\n\
             \x20 stop_producers: {}\n  start_producers: 'true'\n\
             \x20 schemas: {{ source: src-sr, target: dst-sr, import_mode: false }}\n\
             \x20 connectors: {{ source: src-connect, target: dst-connect }}\n",
            creds.display(),
            serde_json::to_string(&hook).unwrap()
        ),
    )
    .unwrap();

    let dry = run(kcp()
        .args(["migrate", "execute", "--dry-run", "--plan"])
        .arg(&plan));
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let order: Vec<usize> = [
        "schemas/copy",
        "connectors/sinks/stop",
        "connectors/sinks/offsets",
        "connectors/sinks/start",
        "connectors/sources/stop",
        "producers/stop",
        "schemas/final",
        "producers/start",
        "connectors/sources/start",
    ]
    .iter()
    .map(|id| {
        dry.stdout
            .find(&format!("] {id}:"))
            .unwrap_or_else(|| panic!("{id}: {}", dry.stdout))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", dry.stdout);

    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(300)));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("plan.report.json")).unwrap(),
    )
    .unwrap();
    assert!(
        report["consumer_pauses"]["connectors/sinks"]
            .as_f64()
            .is_some_and(|s| s > 0.0),
        "{report}"
    );

    // Every subject version, with its id, including the one registered
    // during the cutover.
    let copied = registry_contents(&dst_sr);
    assert_eq!(copied, registry_contents(&src_sr));
    let ids: Vec<(&str, u64)> = copied.iter().map(|c| (c.0.as_str(), c.2)).collect();
    assert_eq!(
        ids,
        [("late-value", 3), ("lines-key", 1), ("lines-value", 2)]
    );

    // Both connectors stopped on the source, running on the target; the
    // source connector's producer now points at the target cluster.
    for name in ["lines-in", "lines-out"] {
        let s = src.json("GET", &format!("/connectors/{name}/status"), None);
        assert_eq!(
            s["connector"]["state"], "STOPPED",
            "{name} on the source: {s}"
        );
        dst.wait_for(&format!("/connectors/{name}/status"), "running", |v| {
            v["connector"]["state"] == "RUNNING" && v["tasks"][0]["state"] == "RUNNING"
        });
    }
    let config = dst.json("GET", "/connectors/lines-in/config", None);
    assert_eq!(
        config["producer.override.bootstrap.servers"],
        dst_kafka.bootstrap().as_str()
    );
    dst.wait_for("/connectors/lines-in/offsets", "carried offsets", |v| {
        v["offsets"][0]["offset"]["position"].as_u64() == Some(14)
    });

    // A new line goes through the target's source connector, the target
    // cluster and the target's sink: once, after the three copied.
    append_once(&input, &output);
    let on_target = crate::kafka::read_partition(&dst_kafka.bootstrap(), "lines", 0, 0);
    assert_eq!(
        on_target.len(),
        4,
        "three copied and one written on the target"
    );
}

/// A cutover stopped before the producers move is rolled back with its
/// connectors: the sink that ran on the target is stopped there and its
/// group's progress carried back, and both connectors kcp stopped run on
/// the source again. A line appended afterwards reaches the output once,
/// through the source.
#[test]
fn rollback_resumes_the_connectors_execute_stopped() {
    let tb = crate::require_testbed!();
    let src_kafka = KafkaCluster::start_named(&tb, "platform-rb-src");
    let dst_kafka = KafkaCluster::start_named(&tb, "platform-rb-dst");
    let src = ConnectWorker::start(&tb, &src_kafka, "src");
    let dst = ConnectWorker::start(&tb, &dst_kafka, "dst");
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = file_connectors(&src, &src_kafka, dir.path());
    let creds = write_pair_credentials(dir.path(), &src_kafka, &dst_kafka);
    let mut yaml = std::fs::read_to_string(&creds).unwrap();
    yaml.push_str(&format!(
        "connect_clusters:\n  - name: src-connect\n    url: {}\n  - name: dst-connect\n    url: {}\n",
        src.url(),
        dst.url()
    ));
    std::fs::write(&creds, yaml).unwrap();
    // The producers' stop hook fails: the run stops at producers/stop,
    // after the sink moved and the source connector stopped.
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: platform-rb\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^lines$' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 2\n\
             \x20 stop_producers: 'false'\n  start_producers: 'true'\n\
             \x20 connectors: {{ source: src-connect, target: dst-connect }}\n",
            creds.display()
        ),
    )
    .unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(300)));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("producers/stop"), "{}", r.stderr);
    let state_path = dir.path().join("plan.migration-state.json");
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(
        st["stopped_connectors"],
        json!([{ "name": "lines-out", "type": "sink" }, { "name": "lines-in", "type": "source" }])
    );
    let state = |w: &ConnectWorker, n: &str| {
        w.json("GET", &format!("/connectors/{n}/status"), None)["connector"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(state(&src, "lines-in"), "STOPPED");
    assert_eq!(state(&src, "lines-out"), "STOPPED");
    dst.wait_for(
        "/connectors/lines-out/status",
        "the sink runs on the target",
        |v| v["connector"]["state"] == "RUNNING",
    );

    let r = run(kcp()
        .args(["migrate", "rollback", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(180)));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(state(&dst, "lines-out"), "STOPPED");
    for name in ["lines-in", "lines-out"] {
        src.wait_for(
            &format!("/connectors/{name}/status"),
            "running again",
            |v| v["connector"]["state"] == "RUNNING" && v["tasks"][0]["state"] == "RUNNING",
        );
    }
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert!(st.get("stopped_connectors").is_none(), "{st}");
    append_once(&input, &output);
}
