//! `kcp create-asset`: every generated file is snapshotted, every `.tf`
//! parses with hcl-rs, passes `terraform fmt -check` and uses only resource
//! types, arguments and blocks the pinned providers document (schemas under
//! `tests/fixtures/terraform-schemas/`), every YAML file parses, and awkward
//! names survive as literals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use crate::{fixture, kcp, repo, run};

/// One generation case.
struct Case {
    name: &'static str,
    state: &'static str,
    source: &'static str,
    kind: &'static str,
    target_type: &'static str,
    extra: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "topics_cc",
        state: "self-managed.json",
        source: "onprem-prod",
        kind: "topics",
        target_type: "confluent-cloud",
        extra: &[],
    },
    Case {
        name: "topics_kafka",
        state: "msk-region.json",
        source: "orders-prod",
        kind: "topics",
        target_type: "kafka",
        extra: &["--topics-exclude", "orders\\.audit.*"],
    },
    Case {
        name: "acls_cc",
        state: "msk-region.json",
        source: "orders-prod",
        kind: "acls",
        target_type: "confluent-cloud",
        extra: &[
            "--principal-map",
            "tests/fixtures/assets/principal-map.yaml",
        ],
    },
    Case {
        name: "acls_kafka",
        state: "self-managed.json",
        source: "onprem-prod",
        kind: "acls",
        target_type: "kafka",
        extra: &[],
    },
    Case {
        name: "quotas_kafka",
        state: "self-managed.json",
        source: "onprem-prod",
        kind: "quotas",
        target_type: "kafka",
        extra: &[],
    },
    Case {
        name: "infra_cc",
        state: "msk-region.json",
        source: "orders-prod",
        kind: "target-infra",
        target_type: "confluent-cloud",
        extra: &["--target", "orders-cc"],
    },
    Case {
        name: "infra_msk_from_msk",
        state: "msk-region.json",
        source: "orders-prod",
        kind: "target-infra",
        target_type: "msk",
        extra: &[],
    },
    Case {
        name: "infra_msk_from_kafka",
        state: "self-managed.json",
        source: "onprem-prod",
        kind: "target-infra",
        target_type: "msk",
        extra: &[],
    },
    Case {
        name: "replicator_cc",
        state: "msk-region.json",
        source: "orders-prod",
        kind: "replicator",
        target_type: "confluent-cloud",
        extra: &[
            "--target",
            "orders-cc",
            "--topics-include",
            "orders\\..*|payments.*",
        ],
    },
    Case {
        name: "replicator_kafka",
        state: "self-managed.json",
        source: "onprem-prod",
        kind: "replicator",
        target_type: "kafka",
        extra: &["--target", "new-dc", "--topics-exclude", "documents\\..*"],
    },
    Case {
        name: "gateway_msk",
        state: "msk-region.json",
        source: "orders-prod",
        kind: "gateway",
        target_type: "msk",
        extra: &["--target", "orders-msk"],
    },
];

fn example(name: &str) -> PathBuf {
    repo().join("state-examples").join(name)
}

/// Runs one case into a fresh folder and returns the folder.
fn generate(case: &Case, state: &Path, out: &Path) -> crate::Run {
    let mut cmd = kcp();
    cmd.arg("--state-file")
        .arg(state)
        .args(["create-asset", case.kind, "--source", case.source])
        .args(["--target-type", case.target_type])
        .args(case.extra)
        .current_dir(repo())
        .arg("--out")
        .arg(out);
    run(&mut cmd)
}

/// Every file under `dir`, relative path → contents.
fn files(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The provider schemas, by provider local name.
fn schemas() -> BTreeMap<&'static str, Json> {
    let load = |f: &str| -> Json {
        serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("terraform-schemas/{f}"))).unwrap(),
        )
        .unwrap()
    };
    BTreeMap::from([
        ("confluent", load("confluent.json")),
        ("kafka", load("kafka.json")),
        ("aws", load("aws-msk.json")),
    ])
}

const META_ARGUMENTS: &[&str] = &["count", "for_each", "depends_on", "provider"];

/// Checks a resource body against a schema argument tree; returns problems.
fn check_body(at: &str, body: &hcl::Body, args: &serde_json::Map<String, Json>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut present = Vec::new();
    for attr in body.attributes() {
        let key = attr.key.as_str();
        present.push(key.to_owned());
        if META_ARGUMENTS.contains(&key) {
            continue;
        }
        match args.get(key) {
            None => problems.push(format!("{at}: unknown argument `{key}`")),
            Some(a)
                if a["type"] == "Block"
                    && a.get("block")
                        .is_some_and(|b| b.as_object().is_some_and(|b| !b.is_empty())) =>
            {
                problems.push(format!("{at}: `{key}` is a block, written as an attribute"))
            }
            Some(_) => {}
        }
    }
    for block in body.blocks() {
        let key = block.identifier.as_str();
        present.push(key.to_owned());
        if key == "lifecycle" {
            continue;
        }
        match args
            .get(key)
            .and_then(|a| a.get("block"))
            .and_then(Json::as_object)
        {
            Some(inner) => problems.extend(check_body(&format!("{at}.{key}"), &block.body, inner)),
            None => problems.push(format!("{at}: unknown block `{key}`")),
        }
    }
    for (name, arg) in args {
        if arg["required"] == Json::Bool(true) && !present.contains(name) {
            problems.push(format!("{at}: required argument `{name}` is missing"));
        }
    }
    problems
}

/// Checks every resource of a file against the schemas, and pinned versions.
fn check_terraform(file: &str, text: &str, schemas: &BTreeMap<&str, Json>) -> Vec<String> {
    let body: hcl::Body = hcl::parse(text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
    let mut problems = Vec::new();
    for block in body.blocks() {
        match block.identifier.as_str() {
            "resource" => {
                let rtype = block.labels[0].as_str();
                let provider = rtype.split('_').next().unwrap();
                let Some(schema) = schemas
                    .get(provider)
                    .and_then(|s| s["resources"].get(rtype))
                else {
                    problems.push(format!(
                        "{file}: resource type `{rtype}` is not in the provider schemas"
                    ));
                    continue;
                };
                let args = schema["arguments"].as_object().unwrap();
                problems.extend(check_body(&format!("{file}: {rtype}"), &block.body, args));
            }
            "terraform" => {
                for inner in block
                    .body
                    .blocks()
                    .filter(|b| b.identifier.as_str() == "required_providers")
                {
                    for attr in inner.body.attributes() {
                        let name = attr.key.as_str();
                        let Some(schema) = schemas.get(name) else {
                            problems
                                .push(format!("{file}: provider `{name}` has no schema fixture"));
                            continue;
                        };
                        let pinned = schema.get("pinned_as").unwrap_or(&schema["version"]);
                        let text = hcl::format::to_string(&attr.expr).unwrap();
                        if !text.contains(&format!("\"{}\"", pinned.as_str().unwrap())) {
                            problems.push(format!(
                                "{file}: provider `{name}` is not pinned to {pinned} ({text})"
                            ));
                        }
                    }
                }
            }
            "provider" | "variable" | "output" | "locals" | "data" => {}
            other => problems.push(format!("{file}: unexpected top-level block `{other}`")),
        }
    }
    problems
}

/// `terraform fmt -check` over a folder: with terraform where the machine
/// has it, else with hashicorp/hcl's `hclfmt -require-no-change` file by
/// file (`KCP_HCLFMT`, built by `testbed/install.sh`; the same formatter).
/// `None` when neither is there outside CI (a loud skip); under CI a failure.
fn terraform_fmt(dir: &Path) -> Option<(bool, String)> {
    match Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-diff", "-no-color"])
        .arg(dir)
        .output()
    {
        Ok(out) => Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )),
        Err(e) => match std::env::var_os("KCP_HCLFMT") {
            Some(hclfmt) => Some(hclfmt_check(Path::new(&hclfmt), dir)),
            None => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "no terraform ({e}) and no KCP_HCLFMT under CI; testbed/install.sh provides one"
                );
                eprintln!(
                    "\n*** SKIPPED terraform fmt -check: no terraform ({e}) and no KCP_HCLFMT; run `bash testbed/install.sh` ***\n"
                );
                None
            }
        },
    }
}

/// `hclfmt -require-no-change` on every Terraform file under `dir`.
fn hclfmt_check(hclfmt: &Path, dir: &Path) -> (bool, String) {
    let mut report = String::new();
    for (name, _) in files(dir) {
        // What terraform fmt looks at: `.tf` files.
        if !name.ends_with(".tf") {
            continue;
        }
        let out = Command::new(hclfmt)
            .arg("-require-no-change")
            .arg(dir.join(&name))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", hclfmt.display()));
        if !out.status.success() {
            report.push_str(&format!(
                "{name} is not formatted:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    (report.is_empty(), report)
}

/// Checks one generated project; returns its files.
fn check_project(dir: &Path) -> BTreeMap<String, String> {
    let files = files(dir);
    let schemas = schemas();
    let mut problems = Vec::new();
    for (name, text) in &files {
        if name.ends_with(".tf") || name.ends_with(".tfvars.example") {
            if name.ends_with(".tf") {
                problems.extend(check_terraform(name, text, &schemas));
            } else {
                hcl::parse(text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            }
        }
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            for doc in serde_norway::Deserializer::from_str(text) {
                let _: serde_norway::Value = serde::Deserialize::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
            }
        }
        assert!(!text.contains("\r"), "{name} has a carriage return");
    }
    assert!(
        problems.is_empty(),
        "schema problems:\n{}",
        problems.join("\n")
    );
    if let Some((ok, diff)) = terraform_fmt(dir) {
        assert!(ok, "terraform fmt -check failed:\n{diff}");
    }
    files
}

#[test]
fn every_case_matches_its_snapshots_and_checks_out() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let r = generate(case, &example(case.state), dir.path());
        assert_eq!(r.code, 0, "{}: {}", case.name, r.stderr);
        let files = check_project(dir.path());
        for (name, text) in files {
            insta::assert_snapshot!(
                format!("asset_{}__{}", case.name, name.replace('/', "__")),
                text
            );
        }
    }
}

/// The evaluated value of `locals.<name>` in a `.tf` file.
fn local_value(tf: &str, name: &str) -> hcl::Value {
    let body: hcl::Body = hcl::parse(tf).unwrap();
    let locals = body
        .blocks()
        .find(|b| b.identifier.as_str() == "locals")
        .expect("a locals block");
    let attr = locals
        .body
        .attributes()
        .find(|a| a.key.as_str() == name)
        .unwrap_or_else(|| panic!("no local `{name}`"));
    hcl::eval::Evaluate::evaluate(&attr.expr, &hcl::eval::Context::new())
        .unwrap_or_else(|e| panic!("locals.{name} evaluates: {e}"))
}

/// A state whose names need escaping everywhere.
fn awkward_state(dir: &Path) -> PathBuf {
    let mut state: Json =
        serde_json::from_str(&std::fs::read_to_string(example("self-managed.json")).unwrap())
            .unwrap();
    let cluster = &mut state["clusters"]["onprem-prod"];
    let template = cluster["topics"]["customers"].clone();
    for name in AWKWARD {
        let mut t = template.clone();
        t["configs"]["retention.ms"] =
            serde_json::json!({"value": "1000", "source": "dynamic_topic", "sensitive": false});
        t["configs"]["cleanup.policy"] = serde_json::json!({"value": "compact,\"delete\" ${x}", "source": "dynamic_topic", "sensitive": false});
        cluster["topics"][*name] = t;
    }
    let acls = cluster["acls"].as_array_mut().unwrap();
    for (principal, host, rtype) in [
        (AWKWARD_PRINCIPAL, "*", "topic"),
        (AWKWARD_PRINCIPAL, "10.0.0.1", "topic"),
        ("User:ops", "*", "delegation_token"),
    ] {
        acls.push(serde_json::json!({"resource_type": rtype, "resource_name": AWKWARD[3], "pattern_type": "literal",
            "principal": principal, "host": host, "operation": "read", "permission": "allow"}));
    }
    let path = dir.join("awkward.json");
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    path
}

const AWKWARD_PRINCIPAL: &str = "User:CN=a \"b\",O=ü ${x} %{y}";

const AWKWARD: &[&str] = &[
    "quote\"d",
    "dots.and spaces",
    "ünïcødé-トピック",
    "tmpl ${var.x} %{ if true }",
    "back\\slash",
];

#[test]
fn awkward_names_and_values_stay_literal() {
    let dir = tempfile::tempdir().unwrap();
    let state = awkward_state(dir.path());
    for target in ["confluent-cloud", "kafka"] {
        let out = dir.path().join(target);
        let case = Case {
            name: "awkward",
            state: "",
            source: "onprem-prod",
            kind: "topics",
            target_type: target,
            extra: &[],
        };
        let r = generate(&case, &state, &out);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files = check_project(&out);
        let value = local_value(&files["main.tf"], "topics");
        let map = match value {
            hcl::Value::Object(m) => m,
            other => panic!("not an object: {other:?}"),
        };
        for name in AWKWARD {
            let topic = map.get(*name).unwrap_or_else(|| {
                panic!(
                    "{target}: topic {name:?} not found as a literal key; keys: {:?}",
                    map.keys()
                )
            });
            let config = topic
                .as_object()
                .and_then(|t| t.get("config"))
                .and_then(hcl::Value::as_object)
                .unwrap();
            assert_eq!(
                config.get("cleanup.policy"),
                Some(&hcl::Value::from("compact,\"delete\" ${x}")),
                "{target}: {name:?}"
            );
        }

        // ACLs: the principal and resource name stay literal; the host-bound
        // ACL is left out on Confluent Cloud only; delegation tokens everywhere.
        let acl_out = dir.path().join(format!("{target}-acls"));
        let case = Case {
            kind: "acls",
            ..case
        };
        let r = generate(&case, &state, &acl_out);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files = check_project(&acl_out);
        let value = local_value(&files["main.tf"], "acls");
        let entries: Vec<&hcl::Map<String, hcl::Value>> = value
            .as_object()
            .unwrap()
            .values()
            .filter_map(hcl::Value::as_object)
            .filter(|e| e.get("principal") == Some(&hcl::Value::from(AWKWARD_PRINCIPAL)))
            .collect();
        assert_eq!(
            entries.len(),
            if target == "kafka" { 2 } else { 1 },
            "{target}: {:?}",
            value
        );
        assert!(
            entries
                .iter()
                .all(|e| e.get("resource_name") == Some(&hcl::Value::from(AWKWARD[3])))
        );
        let readme = &files["README.md"];
        assert!(readme.contains("delegation"), "{readme}");
        assert_eq!(
            readme.contains("would widen access"),
            target != "kafka",
            "{readme}"
        );
    }
}

#[test]
fn refuses_to_overwrite_without_force_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assets");
    let case = &CASES[0];
    let mut dry = Case { ..*case };
    dry.extra = &["--dry-run"];
    let r = generate(&dry, &example(case.state), &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("main.tf"), "{}", r.stdout);
    assert!(!out.exists(), "--dry-run wrote files");

    assert_eq!(generate(case, &example(case.state), &out).code, 0);
    std::fs::write(out.join("main.tf"), "# edited by hand\n").unwrap();
    let r = generate(case, &example(case.state), &out);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("main.tf") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(out.join("main.tf")).unwrap(),
        "# edited by hand\n"
    );

    let mut force = Case { ..*case };
    force.extra = &["--force"];
    assert_eq!(generate(&force, &example(case.state), &out).code, 0);
    assert!(
        std::fs::read_to_string(out.join("main.tf"))
            .unwrap()
            .contains("confluent_kafka_topic")
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".kcp-asset"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn json_output_lists_files_and_what_was_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kcp();
    cmd.arg("--state-file")
        .arg(example("self-managed.json"))
        .args([
            "--output",
            "json",
            "create-asset",
            "topics",
            "--source",
            "onprem-prod",
        ])
        .args(["--target-type", "kafka", "--dry-run", "--out"])
        .arg(dir.path());
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    let names: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "main.tf",
            "variables.tf",
            "outputs.tf",
            "versions.tf",
            "terraform.tfvars.example",
            "README.md"
        ]
    );
    assert!(
        v["left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["subject"] == "topic __consumer_offsets")
    );
}

#[test]
fn bad_input_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let bad = |args: &[&str], expect: &str| {
        let mut cmd = kcp();
        cmd.arg("--state-file")
            .arg(example("self-managed.json"))
            .arg("create-asset")
            .args(args)
            .arg("--out")
            .arg(&out);
        let r = run(&mut cmd);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(expect), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
        assert!(!out.exists());
    };
    bad(
        &["topics", "--source", "nope", "--target-type", "kafka"],
        "no cluster named `nope`",
    );
    bad(
        &[
            "topics",
            "--source",
            "onprem-prod",
            "--target-type",
            "kafka",
            "--topics-include",
            "(",
        ],
        "--topics-include `(` is not a valid regular expression",
    );
    bad(
        &[
            "topics",
            "--source",
            "onprem-prod",
            "--target-type",
            "kafka",
            "--topics-include",
            "nothing-like-this",
        ],
        "no topic of `onprem-prod` is selected",
    );
}

#[test]
fn the_schema_check_catches_mistakes() {
    let bad = "resource \"kafka_topic\" \"t\" {\n  name = \"a\"\n  partitons = 1\n  replication_factor = 1\n}\nresource \"kafka_nope\" \"x\" {}\nterraform {\n  required_providers {\n    kafka = { source = \"Mongey/kafka\", version = \"0.12.0\" }\n  }\n}\n";
    let problems = check_terraform("bad.tf", bad, &schemas());
    for expected in [
        "unknown argument `partitons`",
        "required argument `partitions` is missing",
        "resource type `kafka_nope`",
        "not pinned to \"0.13.1\"",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected}: {problems:?}"
        );
    }
}

#[test]
fn replicator_assets_agree_with_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES.iter().find(|c| c.name == "replicator_cc").unwrap();
    let r = generate(case, &example(case.state), dir.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = files(dir.path());
    let plan = kcp::replicator::LoadedPlan::parse(Path::new("plan.yaml"), &files["plan.yaml"])
        .unwrap_or_else(|e| panic!("generated plan does not load: {e}"));
    assert_eq!(
        (plan.plan.source.as_str(), plan.plan.target.as_str()),
        ("orders-prod", "orders-cc")
    );
    assert!(plan.selects("orders.created") && plan.selects("payments.settled"));
    assert!(!plan.selects("inventory.snapshots"));

    let docs: Vec<serde_norway::Value> =
        serde_norway::Deserializer::from_str(&files["kubernetes/kcp-replicator.yaml"])
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    assert_eq!(docs[0]["kind"], "ConfigMap");
    assert_eq!(
        docs[0]["data"]["plan.yaml"].as_str().unwrap(),
        files["plan.yaml"],
        "the ConfigMap carries the plan"
    );
    assert_eq!(docs[1]["kind"], "Deployment");
    assert_eq!(docs[1]["spec"]["replicas"], 1);
    let args = &docs[1]["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args[3].as_str(), Some("/etc/kcp/plan/plan.yaml"));
    // Metrics and probes: the listener's port, scraped and probed.
    let args: Vec<&str> = args
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--metrics-addr", "0.0.0.0:9464"]),
        "{args:?}"
    );
    let template = &docs[1]["spec"]["template"];
    let container = &template["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 9464);
    assert_eq!(container["ports"][0]["name"], "metrics");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "metrics");
    // Kubernetes' "restricted" Pod Security Standard.
    let pod = &template["spec"]["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "9464");
    assert!(
        files["systemd/kcp-replicator.service"].contains("--metrics-addr 127.0.0.1:9464"),
        "the systemd unit serves metrics"
    );

    let strimzi: serde_norway::Value =
        serde_norway::from_str(&files["strimzi/kafka-mirror-maker-2.yaml"]).unwrap();
    assert_eq!(
        strimzi["spec"]["mirrors"][0]["topicsPattern"],
        "orders\\..*|payments.*"
    );

    // The properties file: every setting is `key = value`; the regex is
    // escaped the Java way; no secret values anywhere.
    let props = &files["mirrormaker2/mm2.properties"];
    for line in props
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(line.contains(" = "), "not a property: {line}");
    }
    assert!(
        props.contains("source->target.topics = orders\\\\..*|payments.*"),
        "{props}"
    );
    assert!(props.contains("${file:/etc/kafka/kcp-mm2-secrets.properties:source.password}"));
}

/// The formatter check is real: a misaligned file fails it, with terraform
/// or with hclfmt alike.
#[test]
fn the_format_check_catches_a_misformatted_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "variable \"a\" {\n  type = string\n  default   = \"x\"\n}\n",
    )
    .unwrap();
    if let Some((ok, report)) = terraform_fmt(dir.path()) {
        assert!(!ok, "a misaligned `=` passed the format check: {report}");
    }
    std::fs::write(
        dir.path().join("main.tf"),
        "variable \"a\" {\n  type    = string\n  default = \"x\"\n}\n",
    )
    .unwrap();
    if let Some((ok, report)) = terraform_fmt(dir.path()) {
        assert!(ok, "a formatted file failed the check: {report}");
    }
}

/// Runs promtool (Debian's `prometheus` package, installed by `.ci/run`).
fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's `prometheus` package (.ci/run does)"
            )
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The metric names docs/metrics.md lists.
fn documented_metrics() -> std::collections::BTreeSet<String> {
    let docs = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let name = regex::Regex::new(r"^\| `([a-z_]+)`").unwrap();
    docs.lines()
        .filter_map(|l| name.captures(l).map(|c| c[1].to_owned()))
        .collect()
}

/// The generated alerting rules pass `promtool check rules`, fire as
/// intended on sample series (`promtool test rules`: down, a cluster away,
/// errors, a failed cutover step; nothing for another plan), and the rules
/// and the dashboard use only metrics kcp exports.
#[test]
fn replicator_alerts_pass_promtool_and_fire_and_the_dashboard_uses_real_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES.iter().find(|c| c.name == "replicator_kafka").unwrap();
    let r = generate(case, &example(case.state), dir.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = files(dir.path());
    let plan = kcp::replicator::LoadedPlan::parse(Path::new("plan.yaml"), &files["plan.yaml"])
        .unwrap()
        .plan
        .name;

    let (ok, out) = promtool(
        &["check", "rules", "prometheus/kcp-alerts.yaml"],
        dir.path(),
    );
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 10 rules found"), "{out}");

    // Expected annotations: the rule's, with `{{ $labels.x }}` filled in.
    let rules: serde_norway::Value =
        serde_norway::from_str(&files["prometheus/kcp-alerts.yaml"]).unwrap();
    let annotations = |alert: &str, labels: &[(&str, &str)]| -> serde_json::Value {
        let rule = rules["groups"][0]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["alert"].as_str() == Some(alert))
            .unwrap();
        let fill = |key: &str| {
            let mut text = rule["annotations"][key].as_str().unwrap().to_owned();
            for (k, v) in labels {
                text = text.replace(&format!("{{{{ $labels.{k} }}}}"), v);
            }
            text
        };
        serde_json::json!({"summary": fill("summary"), "description": fill("description")})
    };
    let alert = |name: &str, severity: &str, labels: &[(&str, &str)]| {
        let mut all = serde_json::json!({"severity": severity, "plan": plan});
        for (k, v) in labels {
            all[*k] = (*v).into();
        }
        serde_json::json!({
            "eval": name,
            "exp_labels": all,
            "exp_annotations": annotations(name, labels),
        })
    };
    let at = |time: &str, expected: serde_json::Value| {
        let name = expected["eval"].as_str().unwrap().to_owned();
        let mut exp = expected.clone();
        exp.as_object_mut().unwrap().remove("eval");
        serde_json::json!({"eval_time": time, "alertname": name, "exp_alerts": [exp]})
    };
    let none = |time: &str, name: &str| serde_json::json!({"eval_time": time, "alertname": name, "exp_alerts": []});
    let p = format!("plan=\"{plan}\"");
    let job = r#"instance="kcp:9464",job="kcp""#;
    let tests = serde_json::json!({
        "rule_files": ["prometheus/kcp-alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": format!(r#"kcp_build_info{{{p},command="migrate replicate",{job}}}"#), "values": "1x5 _x10"},
                {"series": format!(r#"kcp_replicator_cluster_up{{{p},cluster="target",{job}}}"#), "values": "1 1 0x10"},
                {"series": format!(r#"kcp_replicator_errors_total{{{p},kind="produce",{job}}}"#), "values": "0 0 0 1x10"},
                {"series": format!(r#"kcp_replicator_errors_total{{plan="another",kind="produce",{job}}}"#), "values": "0 5 10x10"},
                {"series": format!(r#"kcp_replicator_lag_seconds{{{p},topic="orders",partition="0",{job}}}"#), "values": "10x15"},
                {"series": format!(r#"kcp_migration_step_failures_total{{{p},step="producers/stop",phase="producer-cutover",{job}}}"#), "values": "0 0 1x10"},
            ],
            "alert_rule_test": [
                at("5m", alert("KcpReplicatorErrors", "critical", &[("kind", "produce"), ("instance", "kcp:9464"), ("job", "kcp")])),
                none("1m", "KcpReplicatorErrors"),
                at("8m", alert("KcpClusterNotAnswering", "critical", &[("cluster", "target"), ("instance", "kcp:9464"), ("job", "kcp")])),
                none("5m", "KcpClusterNotAnswering"),
                at("4m", alert("KcpCutoverStepFailed", "critical", &[("step", "producers/stop"), ("phase", "producer-cutover"), ("instance", "kcp:9464"), ("job", "kcp")])),
                at("12m", alert("KcpReplicatorDown", "critical", &[("command", "migrate replicate")])),
                none("5m", "KcpReplicatorDown"),
                none("10m", "KcpReplicatorLagHigh"),
            ],
        }],
    });
    std::fs::write(
        dir.path().join("kcp-alerts.test.yaml"),
        serde_norway::to_string(&tests).unwrap(),
    )
    .unwrap();
    let (ok, out) = promtool(&["test", "rules", "kcp-alerts.test.yaml"], dir.path());
    assert!(ok, "{out}");

    // Every metric the rules and the dashboard name exists.
    let dashboard: Json = serde_json::from_str(&files["grafana/kcp-dashboard.json"]).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() > 20, "{exprs:?}");
    let known = documented_metrics();
    let name = regex::Regex::new(r"\bkcp_[a-z_]+").unwrap();
    for text in exprs.iter().chain([&files["prometheus/kcp-alerts.yaml"]]) {
        for m in name.find_iter(text) {
            let m = m.as_str();
            // Resource and group names, not metrics.
            if m.starts_with("kcp_replicator")
                || m.starts_with("kcp_migration")
                || m == "kcp_build_info"
            {
                assert!(known.contains(m), "`{m}` is not a kcp metric: {text}");
            }
        }
    }
}

/// `create-asset connectors` for Confluent Cloud: connectors with a fully
/// managed counterpart become `confluent_connector` resources that the
/// pinned provider's schema accepts and `terraform fmt` leaves as they are,
/// their secrets (and config-provider references) values of a sensitive
/// variable; worker settings, offsets and connectors without a managed
/// counterpart are listed as left out.
#[test]
fn connectors_for_confluent_cloud_become_managed_connectors() {
    let mut state: Json =
        serde_json::from_str(&std::fs::read_to_string(example("self-managed.json")).unwrap())
            .unwrap();
    let cluster_id = state["clusters"]["onprem-prod"]["cluster_id"].clone();
    state["connect_clusters"] = serde_json::json!({
        "prod-connect": {
            "url": "http://connect:8083",
            "auth_method": "none",
            "scanned_at": "2026-11-20T14:00:00Z",
            "version": "3.9.1",
            "kafka_cluster_id": cluster_id,
            "connectors": {
                "orders-to-s3": {
                    "class": "io.confluent.connect.s3.S3SinkConnector",
                    "type": "sink",
                    "state": "RUNNING",
                    "config": {
                        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
                        "topics": "orders",
                        "tasks.max": "2",
                        "s3.bucket.name": "orders-archive",
                        "value.converter": "io.confluent.connect.avro.AvroConverter",
                        "aws.access.key.id": "${file:/etc/s3.properties:key}"
                    },
                    "secret_keys": ["aws.secret.access.key"]
                },
                "customers-in": {
                    "class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                    "type": "source",
                    "state": "RUNNING",
                    "config": {
                        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                        "connection.url": "jdbc:postgresql://db:5432/crm",
                        "topic.prefix": "crm-",
                        "mode": "incrementing"
                    },
                    "secret_keys": ["connection.password"],
                    "offsets": [{ "partition": { "table": "customers" }, "offset": { "incrementing": 42 } }]
                },
                "lines-in": {
                    "class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                    "type": "source",
                    "state": "RUNNING",
                    "config": { "file": "/in.txt", "topic": "lines" }
                }
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let out = dir.path().join("out");
    let r = run(kcp()
        .arg("--state-file")
        .arg(&path)
        .args(["create-asset", "connectors", "--source", "onprem-prod"])
        .args(["--target-type", "confluent-cloud", "--topic-prefix", "dc1."])
        .args(["--output", "json", "--out"])
        .arg(&out));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let generated = files(&out);
    let schemas = schemas();
    let mut problems = Vec::new();
    for (name, text) in generated.iter().filter(|(n, _)| n.ends_with(".tf")) {
        problems.extend(check_terraform(name, text, &schemas));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    if let Some((ok, diff)) = terraform_fmt(&out.join("terraform")) {
        assert!(ok, "terraform fmt -check:\n{diff}");
    }
    let main = &generated["terraform/main.tf"];
    let body: hcl::Body = hcl::parse(main).unwrap();
    let locals = body
        .blocks()
        .find(|b| b.identifier.as_str() == "locals")
        .unwrap();
    let text = hcl::format::to_string(locals).unwrap();
    for want in [
        "\"connector.class\" = \"S3_SINK\"",
        "\"connector.class\" = \"PostgresSource\"",
        "\"topics\" = \"dc1.orders\"",
        "\"kafka.service.account.id\" = var.connector_service_account_id",
        "\"aws.secret.access.key\" = var.connector_secrets[\"orders-to-s3\"][\"aws.secret.access.key\"]",
        "\"aws.access.key.id\" = var.connector_secrets[\"orders-to-s3\"][\"aws.access.key.id\"]",
        "\"connection.password\" = var.connector_secrets[\"customers-in\"][\"connection.password\"]",
    ] {
        assert!(text.contains(want), "{want} not in\n{text}");
    }
    assert!(
        !main.contains("lines-in") && !main.contains("value.converter"),
        "{main}"
    );
    assert!(!main.contains("${file:"), "{main}");
    let vars = &generated["terraform/variables.tf"];
    assert!(vars.contains("variable \"connector_secrets\""), "{vars}");
    let report: Json = serde_json::from_str(&r.stdout).unwrap();
    let left: Vec<String> = report["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["subject"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "connector prod-connect/lines-in (Terraform)",
        "connector prod-connect/orders-to-s3: value.converter",
        "connector prod-connect/customers-in: offsets",
    ] {
        assert!(left.iter().any(|l| l == want), "{want} not in {left:#?}");
    }
}
