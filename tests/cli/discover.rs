//! `kcp discover` against moto (behind the CBOR shim for CloudWatch): two
//! regions, provisioned and serverless clusters, datapoints and costs. moto
//! lacks GetBootstrapBrokers, ListNodes, ListScramSecrets,
//! ListClientVpcConnections, ListClusterOperationsV2, ListConfigurations and
//! GetCompatibleKafkaVersions: those must become warnings and exit code 3.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::require_testbed;
use crate::support::{Moto, Testbed, testbed_dir};
use crate::{kcp, run};

fn seed(tb: &Testbed, moto: &Moto, regions: &[&str], extra: &[&str]) -> Value {
    let mut cmd = Command::new(&tb.python);
    cmd.arg(testbed_dir().join("moto_seed.py"))
        .arg(moto.upstream());
    for r in regions {
        cmd.args(["--region", r]);
    }
    let out = cmd.args(extra).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn discover(moto: &Moto, dir: &Path, args: &[&str]) -> crate::Run {
    let mut cmd = kcp();
    cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // moto answers unimplemented calls with HTTP 500, which the SDK
        // would otherwise retry with backoff as a transient failure.
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .arg("--state-file")
        .arg(dir.join("state.json"))
        .args([
            "discover",
            "--metrics-granularity",
            "1h",
            "--credentials-out",
        ])
        .arg(dir.join("creds.yaml"))
        .args(args);
    run(&mut cmd)
}

fn state(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap()
}

#[test]
fn two_regions_into_the_state_with_warnings_for_what_moto_lacks() {
    let tb = require_testbed!();
    let moto = Moto::start(&tb);
    let seeded = seed(
        &tb,
        &moto,
        &["us-east-1:2:1", "eu-west-1:1:1"],
        &["--costs"],
    );
    let dir = tempfile::tempdir().unwrap();
    let r = discover(
        &moto,
        dir.path(),
        &[
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    for call in [
        "GetBootstrapBrokers",
        "ListNodes",
        "ListScramSecrets",
        "ListClientVpcConnections",
        "ListClusterOperationsV2",
    ] {
        assert!(
            r.stderr.contains(&format!("kafka:{call} failed")),
            "{call}: {}",
            r.stderr
        );
    }
    assert!(r.stderr.contains("exit code 3"), "{}", r.stderr);

    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["clusters"].as_array().unwrap().len(), 5);
    assert!(summary["aws_calls"].as_u64().unwrap() > 20);

    let s = state(dir.path());
    let regions = s["msk_regions"].as_object().unwrap();
    assert_eq!(
        regions.keys().collect::<Vec<_>>(),
        ["eu-west-1", "us-east-1"]
    );
    for (region, arns) in seeded["clusters"].as_object().unwrap() {
        let clusters = regions[region]["clusters"].as_object().unwrap();
        let mut expected: Vec<&str> = arns
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        expected.sort();
        assert_eq!(
            clusters.keys().map(String::as_str).collect::<Vec<_>>(),
            expected,
            "{region}"
        );
        for c in clusters.values() {
            let calls: Vec<&str> = c["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["call"].as_str().unwrap())
                .collect();
            assert!(calls.contains(&"kafka:GetBootstrapBrokers"), "{calls:?}");
            assert!(
                c["warnings"][0]["hint"]
                    .as_str()
                    .unwrap()
                    .contains("does not implement")
            );
            let name = c["name"].as_str().unwrap();
            if name.starts_with("prov-") {
                assert_eq!(c["cluster_type"], "provisioned");
                assert_eq!(c["broker_count"], 3);
                assert_eq!(c["instance_type"], "kafka.m5.large");
                assert_eq!(c["storage_gb_per_broker"], 500);
                assert_eq!(c["tags"]["team"], "data");
                let series = |m: &str| {
                    c["metrics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|s| s["metric"] == m)
                        .cloned()
                        .unwrap_or_else(|| panic!("{name}: no {m}"))
                };
                // Three brokers at 1,000, 2,000 and 3,000 bytes/s, summed.
                let bytes_in = series("BytesInPerSec");
                assert_eq!(bytes_in["points"].as_array().unwrap().len(), 6, "{name}");
                assert!(
                    bytes_in["points"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|p| p["v"] == 6000.0)
                );
                assert!(
                    bytes_in["query"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("aws cloudwatch get-metric-data --region {region}"))
                );
                // 10 % of a 500 GB volume on each of 3 brokers.
                let disk = series("KafkaDataLogsDiskUsed");
                assert_eq!(disk["unit"], "GB");
                assert!(
                    disk["points"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|p| p["v"] == 150.0),
                    "{disk}"
                );
            } else {
                assert_eq!(c["cluster_type"], "serverless");
                assert_eq!(c["auth"]["iam"], true);
                let topics: Vec<&str> = c["metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|s| s["topic"].as_str())
                    .collect();
                assert_eq!(topics, ["clicks", "views"], "{name}");
            }
        }
        let costs = &regions[region]["costs"];
        assert_eq!(costs["granularity"], "DAILY");
        assert!(
            costs["query"]
                .as_str()
                .unwrap()
                .contains(&format!("\"Values\":[\"{region}\"]"))
        );
    }
    let total: f64 = regions
        .values()
        .flat_map(|r| r["costs"]["rows"].as_array().unwrap().iter())
        .map(|row| row["metrics"]["UnblendedCost"]["amount"].as_f64().unwrap())
        .sum();
    assert_eq!(total, seeded["costs_total"].as_f64().unwrap());

    // The credentials template lists every cluster and loads once filled in.
    let creds = std::fs::read_to_string(dir.path().join("creds.yaml")).unwrap();
    assert_eq!(creds.matches("  - name: ").count(), 5, "{creds}");
    assert!(
        !creds.contains("test"),
        "no credential value leaks: {creds}"
    );
}

#[test]
fn deleted_clusters_go_and_user_notes_stay() {
    let tb = require_testbed!();
    let moto = Moto::start(&tb);
    let seeded = seed(&tb, &moto, &["us-east-1:2:0"], &[]);
    let arns: Vec<String> = seeded["clusters"]["us-east-1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--region", "us-east-1", "--skip-costs"];
    assert_eq!(discover(&moto, dir.path(), &args).code, 3);

    // The user annotates a cluster and the credentials file.
    let mut s = state(dir.path());
    s["msk_regions"]["us-east-1"]["clusters"][&arns[0]]["notes"] = "moves first".into();
    std::fs::write(
        dir.path().join("state.json"),
        serde_json::to_string_pretty(&s).unwrap(),
    )
    .unwrap();
    let creds_path = dir.path().join("creds.yaml");
    let edited = std::fs::read_to_string(&creds_path)
        .unwrap()
        .replace("CHANGE-ME:9092", "b-1.mine:9096");
    std::fs::write(&creds_path, &edited).unwrap();

    // One cluster is deleted in AWS.
    let out = Command::new(&tb.python)
        .args(["-c", "import boto3,sys; boto3.client('kafka', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t').delete_cluster(ClusterArn=sys.argv[2])"])
        .arg(moto.upstream())
        .arg(&arns[1])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(discover(&moto, dir.path(), &args).code, 3);
    let s = state(dir.path());
    let clusters = s["msk_regions"]["us-east-1"]["clusters"]
        .as_object()
        .unwrap();
    assert_eq!(clusters.keys().collect::<Vec<_>>(), [&arns[0]]);
    assert_eq!(clusters[&arns[0]]["notes"], "moves first");
    assert_eq!(
        std::fs::read_to_string(&creds_path).unwrap(),
        edited,
        "user edits kept, nothing new to add"
    );
}

#[test]
fn iam_policy_lists_exactly_the_calls_the_code_makes() {
    let r = run(kcp().args(["discover", "--print-iam-policy"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let policy: Value = serde_json::from_str(&r.stdout).unwrap();
    let mut in_policy: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
        })
        .collect();
    in_policy.sort();
    // Every SDK call in the AWS edge: `self.<client>.<operation>()`.
    let source = std::fs::read_to_string(crate::repo().join("src/discover/aws.rs")).unwrap();
    let re = regex::Regex::new(r"self\s*\.(kafka|cw|ce|kafkaconnect|glue)\s*\.([a-z0-9_]+)\(\)")
        .unwrap();
    let mut called: Vec<String> = re
        .captures_iter(&source)
        .map(|c| {
            let service = match &c[1] {
                "cw" => "cloudwatch",
                other => other,
            };
            let op: String = c[2]
                .split('_')
                .map(|w| {
                    let mut ch = w.chars();
                    ch.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + ch.as_str())
                        .unwrap_or_default()
                })
                .collect();
            format!("{service}:{op}")
        })
        .collect();
    called.sort();
    called.dedup();
    assert_eq!(in_policy, called);
}

/// Glue registries, schemas and versions seeded into moto with boto3.
const GLUE_SEED: &str = r#"
import boto3, json, sys
g = boto3.client('glue', endpoint_url=sys.argv[1], region_name='us-east-1',
                 aws_access_key_id='t', aws_secret_access_key='t')
g.create_registry(RegistryName='orders', Description='Order events')
v1 = {'type': 'record', 'name': 'Order', 'fields': [{'name': 'id', 'type': 'string'}]}
g.create_schema(RegistryId={'RegistryName': 'orders'}, SchemaName='orders-value',
                DataFormat='AVRO', Compatibility='BACKWARD', SchemaDefinition=json.dumps(v1))
v1['fields'].append({'name': 'note', 'type': ['null', 'string'], 'default': None})
g.register_schema_version(SchemaId={'RegistryName': 'orders', 'SchemaName': 'orders-value'},
                          SchemaDefinition=json.dumps(v1))
"#;

/// moto serves ListRegistries but neither ListSchemas nor MSK Connect: the
/// registry lands in the state, the rest become warnings naming the calls,
/// and the clusters are all there.
#[test]
fn glue_registries_land_and_what_moto_lacks_becomes_warnings() {
    let tb = require_testbed!();
    let moto = Moto::start(&tb);
    let seeded = seed(&tb, &moto, &["us-east-1:1:0"], &[]);
    let out = Command::new(&tb.python)
        .args(["-c", GLUE_SEED])
        .arg(moto.upstream())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let r = discover(
        &moto,
        dir.path(),
        &[
            "--region",
            "us-east-1",
            "--skip-metrics",
            "--skip-costs",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    for call in ["glue:ListSchemas", "kafkaconnect:ListConnectors"] {
        assert!(
            r.stderr.contains(&format!("{call} failed")),
            "{call}: {}",
            r.stderr
        );
    }
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["regions"][0]["glue_registries"], 1, "{summary}");
    assert_eq!(summary["regions"][0]["msk_connectors"], Value::Null);
    let s = state(dir.path());
    let region = &s["msk_regions"]["us-east-1"];
    assert_eq!(
        region["clusters"].as_object().unwrap().len(),
        seeded["clusters"]["us-east-1"].as_array().unwrap().len(),
        "nothing else is lost"
    );
    let orders = &region["glue_registries"]["orders"];
    assert!(
        orders["arn"]
            .as_str()
            .unwrap()
            .ends_with(":registry/orders"),
        "{orders}"
    );
    assert_eq!(orders["description"], "Order events");
    assert_eq!(orders["warnings"][0]["call"], "glue:ListSchemas");
    let warned: Vec<&str> = region["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["call"].as_str().unwrap())
        .collect();
    assert!(
        warned.contains(&"kafkaconnect:ListConnectors"),
        "{warned:?}"
    );
    assert_eq!(s["schema_version"], kcp::state::CURRENT_SCHEMA_VERSION);
}

#[test]
fn bad_input_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kcp();
    cmd.arg("--state-file")
        .arg(dir.path().join("s.json"))
        .args(["discover"]);
    let r = run(&mut cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("give --region or --cluster-arn"),
        "{}",
        r.stderr
    );
    let mut cmd = kcp();
    cmd.arg("--state-file")
        .arg(dir.path().join("s.json"))
        .args(["discover", "--cluster-arn", "orders"]);
    let r = run(&mut cmd);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("is not an MSK cluster ARN"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("s.json").exists());
}

#[test]
fn one_cluster_by_arn() {
    let tb = require_testbed!();
    let moto = Moto::start(&tb);
    let seeded = seed(&tb, &moto, &["eu-west-1:2:0"], &[]);
    let arn = seeded["clusters"]["eu-west-1"][1]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let r = discover(
        &moto,
        dir.path(),
        &["--cluster-arn", &arn, "--skip-costs", "--skip-metrics"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let s = state(dir.path());
    let clusters = s["msk_regions"]["eu-west-1"]["clusters"]
        .as_object()
        .unwrap();
    assert_eq!(clusters.keys().collect::<Vec<_>>(), [&arn]);
    assert_eq!(clusters[&arn]["name"], "prov-eu-west-1-1");
    assert!(s["msk_regions"]["eu-west-1"].get("costs").is_none());
}

#[test]
fn missing_credentials_fail_once_and_clearly() {
    let tb = require_testbed!();
    let moto = Moto::start(&tb);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kcp();
    // No identity anywhere: no env keys, no profile files, no instance metadata.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("HOME", dir.path())
        .arg("--state-file")
        .arg(dir.path().join("state.json"))
        .args(["discover", "--region", "us-east-1", "--credentials-out"])
        .arg(dir.path().join("creds.yaml"));
    let r = run(&mut cmd);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no AWS credentials"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: sign in"), "{}", r.stderr);
    assert!(!dir.path().join("creds.yaml").exists());
}
