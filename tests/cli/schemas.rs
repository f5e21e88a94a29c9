//! `kcp scan schema-registry` and `kcp migrate schemas` against real
//! registries: Apicurio Registry's Confluent API (testbed/install.sh), two
//! in-memory instances as source and target.
//!
//! What this registry serves, as these tests rely on it: subjects, versions,
//! ids, schema types (Avro, Protobuf), references, `/config` (global and per
//! subject, read and write), `/contexts`, `/schemas/ids/{id}`, soft and
//! permanent deletes. What it does not: `/mode` (no modes, so no IMPORT mode)
//! and explicit ids on registration (it assigns its own, sequentially), so
//! the copy is tested with `--without-import-mode` into an empty target, and
//! the IMPORT-mode path is tested up to the target's refusal.

use serde_json::{Value, json};

use crate::kcp;
use crate::support::{SchemaRegistry, schema_registry_jar, write_credentials};

fn avro(name: &str, fields: &str) -> String {
    format!(r#"{{"type":"record","name":"{name}","fields":[{fields}]}}"#)
}

/// a-value v1 (id 1), b-value v1 referencing a-value v1 (id 2), p-value
/// Protobuf (id 3), a-value v2 (id 4), a-value's own compatibility FULL.
fn seed(sr: &SchemaRegistry) {
    assert_eq!(
        sr.register(
            "a-value",
            json!({"schema": avro("A", r#"{"name":"x","type":"int"}"#)})
        ),
        1
    );
    assert_eq!(
        sr.register(
            "b-value",
            json!({"schema": avro("B", r#"{"name":"a","type":"A"}"#),
                   "references": [{"name": "A", "subject": "a-value", "version": 1}]})
        ),
        2
    );
    assert_eq!(
        sr.register(
            "p-value",
            json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\nmessage P { int32 x = 1; }\n"})
        ),
        3
    );
    assert_eq!(
        sr.register(
            "a-value",
            json!({"schema": avro("A", r#"{"name":"x","type":"int"},{"name":"y","type":"int","default":0}"#)})
        ),
        4
    );
    let (status, body) = sr.call(
        "PUT",
        "/config/a-value",
        Some(r#"{"compatibility":"FULL"}"#),
    );
    assert_eq!(status, 200, "{body}");
}

fn creds(
    dir: &std::path::Path,
    source: &SchemaRegistry,
    target: Option<&SchemaRegistry>,
) -> std::path::PathBuf {
    let mut yaml = format!(
        "schema_registries:\n  - name: src\n    url: {}\n  - name: down\n    url: http://127.0.0.1:1\n  - name: not-a-registry\n    url: http://127.0.0.1:{}/\n",
        source.url(),
        source.port
    );
    if let Some(t) = target {
        yaml.push_str(&format!("  - name: dst\n    url: {}\n", t.url()));
    }
    write_credentials(dir, &yaml)
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn scan_reads_subjects_versions_ids_types_references_and_levels() {
    let Some(jar) = schema_registry_jar() else {
        return;
    };
    let sr = SchemaRegistry::start(&jar);
    seed(&sr);
    let dir = tempfile::tempdir().unwrap();
    let creds = creds(dir.path(), &sr, None);
    let state = dir.path().join("kcp-state.json");
    let out = kcp()
        .args([
            "scan",
            "schema-registry",
            "--registry",
            "src",
            "--output",
            "json",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = json_out(&out);
    assert_eq!(summary["registries"][0]["subjects"], 3);
    assert_eq!(summary["registries"][0]["versions"], 4);
    assert_eq!(summary["registries"][0]["with_references"], 1);
    // No modes on this registry: a warning, not a failure.
    assert!(String::from_utf8_lossy(&out.stderr).contains("GET /mode"));

    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["schema_version"], kcp::state::CURRENT_SCHEMA_VERSION);
    let r = &st["schema_registries"]["src"];
    assert_eq!(r["auth_method"], "none");
    assert_eq!(r["subjects"]["a-value"]["compatibility"], "FULL");
    let a = &r["subjects"]["a-value"]["versions"];
    assert_eq!(
        (a[0]["version"].as_u64(), a[0]["id"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (a[1]["version"].as_u64(), a[1]["id"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(
        r["subjects"]["b-value"]["versions"][0]["references"],
        json!([{"name": "A", "subject": "a-value", "version": 1}])
    );
    assert_eq!(
        r["subjects"]["p-value"]["versions"][0]["schema_type"],
        "PROTOBUF"
    );
    assert_eq!(r["subjects"]["p-value"]["versions"][0]["id"], 3);

    // The state validates.
    kcp()
        .args(["state", "validate", "--state-file"])
        .arg(&state)
        .assert()
        .success();
}

#[test]
fn scan_tells_an_unreachable_registry_and_a_url_that_is_none() {
    let Some(jar) = schema_registry_jar() else {
        return;
    };
    let sr = SchemaRegistry::start(&jar);
    let dir = tempfile::tempdir().unwrap();
    let creds = creds(dir.path(), &sr, None);
    let state = dir.path().join("kcp-state.json");
    let out = kcp()
        .args([
            "scan",
            "schema-registry",
            "--registry",
            "down",
            "--registry",
            "not-a-registry",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema registry `down` at http://127.0.0.1:1 cannot be reached"),
        "{err}"
    );
    assert!(
        err.contains("does not answer as a Confluent-compatible Schema Registry"),
        "{err}"
    );
    assert!(
        err.contains("/apis/ccompat/v7"),
        "the hint names Apicurio's path: {err}"
    );
    assert!(
        !state.exists(),
        "nothing is saved when every registry failed"
    );

    // One good, one bad: partial (3), the good one saved.
    let out = kcp()
        .args([
            "scan",
            "schema-registry",
            "--registry",
            "src",
            "--registry",
            "down",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        st["schema_registries"]["down"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot be reached")
    );
    assert!(st["schema_registries"]["src"]["last_error"].is_null());
}

#[test]
fn migrate_copies_keeping_ids_then_is_idempotent_and_verifies() {
    let Some(jar) = schema_registry_jar() else {
        return;
    };
    let (source, target) = (SchemaRegistry::start(&jar), SchemaRegistry::start(&jar));
    seed(&source);
    let dir = tempfile::tempdir().unwrap();
    let creds = creds(dir.path(), &source, Some(&target));
    let run = |extra: &[&str]| {
        kcp()
            .args([
                "migrate",
                "schemas",
                "--source",
                "src",
                "--target",
                "dst",
                "--output",
                "json",
                "--credentials-file",
            ])
            .arg(&creds)
            .args(extra)
            .output()
            .unwrap()
    };

    // The target has no modes: refused before anything is written.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be put in IMPORT mode"), "{err}");
    assert!(err.contains("--without-import-mode"), "{err}");
    assert_eq!(target.call("GET", "/subjects", None).1, "[]");

    // Dry run: the order puts references first, then the lowest id.
    let out = run(&["--dry-run", "--without-import-mode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    let order: Vec<String> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}:{}:{}",
                i["subject"].as_str().unwrap(),
                i["version"],
                i["id"],
                i["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "a-value:1:1:would_copy",
            "b-value:1:2:would_copy",
            "p-value:1:3:would_copy",
            "a-value:2:4:would_copy"
        ]
    );
    assert_eq!(
        target.call("GET", "/subjects", None).1,
        "[]",
        "a dry run writes nothing"
    );

    // The copy: same ids, references kept, the subject's level carried.
    let out = run(&["--without-import-mode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["outcome"] == "copied")
    );
    assert_eq!(report["mismatches"], json!([]));
    assert_eq!(report["compatibility_set"], json!(["a-value=FULL"]));
    let b: Value =
        serde_json::from_str(&target.call("GET", "/subjects/b-value/versions/1", None).1).unwrap();
    assert_eq!(b["id"], 2);
    assert_eq!(
        b["references"],
        json!([{"name": "A", "subject": "a-value", "version": 1}])
    );
    let a2: Value =
        serde_json::from_str(&target.call("GET", "/subjects/a-value/versions/2", None).1).unwrap();
    assert_eq!(a2["id"], 4);

    // Again: nothing to do.
    let out = run(&["--without-import-mode"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        json_out(&out)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["outcome"] == "already_there")
    );

    // Verify only: equal; then a difference on the target is found.
    let out = run(&["--verify-only"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        target
            .call("DELETE", "/subjects/p-value/versions/1", None)
            .0,
        200
    );
    assert_eq!(
        target
            .call(
                "DELETE",
                "/subjects/p-value/versions/1?permanent=true",
                None
            )
            .0,
        200
    );
    let out = run(&["--verify-only"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_out(&out);
    assert_eq!(report["mismatches"][0]["subject"], "p-value");
    assert_eq!(report["mismatches"][0]["problem"], "missing on the target");
}

#[test]
fn migrate_refuses_an_id_the_target_uses_for_another_schema() {
    let Some(jar) = schema_registry_jar() else {
        return;
    };
    let (source, target) = (SchemaRegistry::start(&jar), SchemaRegistry::start(&jar));
    seed(&source);
    // Id 1 on the target is some other schema.
    assert_eq!(
        target.register(
            "other-value",
            json!({"schema": avro("Other", r#"{"name":"z","type":"string"}"#)})
        ),
        1
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = creds(dir.path(), &source, Some(&target));
    let out = kcp()
        .args([
            "migrate",
            "schemas",
            "--source",
            "src",
            "--target",
            "dst",
            "--without-import-mode",
            "--credentials-file",
        ])
        .arg(&creds)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        err.contains(
            "a-value version 1 (id 1): id 1 already holds a different schema on the target"
        ),
        "{err}"
    );
    assert_eq!(
        target.call("GET", "/subjects", None).1,
        r#"["other-value"]"#
    );
}

#[test]
fn migrate_stops_and_undoes_a_version_the_target_gives_another_id() {
    let Some(jar) = schema_registry_jar() else {
        return;
    };
    let (source, target) = (SchemaRegistry::start(&jar), SchemaRegistry::start(&jar));
    seed(&source);
    let dir = tempfile::tempdir().unwrap();
    let creds = creds(dir.path(), &source, Some(&target));
    // p-value alone: id 3 on the source, but this target assigns 1.
    let out = kcp()
        .args([
            "migrate",
            "schemas",
            "--source",
            "src",
            "--target",
            "dst",
            "--subjects",
            "^p-",
            "--without-import-mode",
            "--credentials-file",
        ])
        .arg(&creds)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "gave p-value version 1 the id 1 instead of 3; that version was deleted again"
        ),
        "{err}"
    );
    assert_eq!(target.call("GET", "/subjects", None).1, "[]");

    // A selection pulls in what it references.
    let out = kcp()
        .args([
            "migrate",
            "schemas",
            "--source",
            "src",
            "--target",
            "dst",
            "--subjects",
            "^b-",
            "--dry-run",
            "--without-import-mode",
            "--output",
            "json",
            "--credentials-file",
        ])
        .arg(&creds)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_out(&out)["added_for_references"], json!(["a-value"]));

    // Nothing selected: bad input.
    let out = kcp()
        .args([
            "migrate",
            "schemas",
            "--source",
            "src",
            "--target",
            "dst",
            "--subjects",
            "^nope",
            "--credentials-file",
        ])
        .arg(&creds)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_plan_lists_subjects_by_topic_and_flags_ids_the_target_uses() {
    let Some(jar) = schema_registry_jar() else {
        return;
    };
    let (source, target) = (SchemaRegistry::start(&jar), SchemaRegistry::start(&jar));
    // `customers` is a topic of the example cluster `onprem-prod`.
    assert_eq!(
        source.register(
            "customers-value",
            json!({"schema": avro("Customer", r#"{"name":"id","type":"long"}"#)})
        ),
        1
    );
    assert_eq!(
        source.register(
            "legacy",
            json!({"schema": avro("Legacy", r#"{"name":"x","type":"int"}"#)})
        ),
        2
    );
    // Id 1 on the target is another schema; id 2 is the same one.
    assert_eq!(
        target.register(
            "other-value",
            json!({"schema": avro("Other", r#"{"name":"z","type":"string"}"#)})
        ),
        1
    );
    assert_eq!(
        target.register(
            "legacy",
            json!({"schema": avro("Legacy", r#"{"name":"x","type":"int"}"#)})
        ),
        2
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = creds(dir.path(), &source, Some(&target));
    let state = dir.path().join("kcp-state.json");
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("state-examples/self-managed.json");
    std::fs::copy(&example, &state).unwrap();
    let out = kcp()
        .args([
            "scan",
            "schema-registry",
            "--registry",
            "src",
            "--registry",
            "dst",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let plan = |extra: &[&str]| {
        kcp()
            .args([
                "report",
                "plan",
                "--source",
                "onprem-prod",
                "--target",
                "confluent-cloud",
                "--state-file",
            ])
            .arg(&state)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = plan(&[
        "--source-registry",
        "src",
        "--target-registry",
        "dst",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    let schemas = &report["schemas"];
    assert_eq!(
        (schemas["subjects"].as_u64(), schemas["schema_ids"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(schemas["rows"][0]["subject"], "customers-value");
    assert_eq!(schemas["rows"][0]["topic"], "customers");
    assert_eq!(schemas["rows"][0]["id_conflicts"], json!([1]));
    assert_eq!(schemas["rows"][1]["topic"], Value::Null);
    assert_eq!(schemas["rows"][1]["id_conflicts"], json!([]));
    let kinds: Vec<&str> = report["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .filter(|k| k.starts_with("schema"))
        .collect();
    assert_eq!(
        kinds,
        [
            "schema_id_collision",
            "schema_registry_no_import_mode",
            "schema_subject_without_topic"
        ]
    );

    // Markdown has the section; without --source-registry there is none.
    let md = String::from_utf8(plan(&["--source-registry", "src"]).stdout).unwrap();
    assert!(md.contains("## Schemas"), "{md}");
    assert!(md.contains("| customers-value | customers |"), "{md}");
    let md = String::from_utf8(plan(&[]).stdout).unwrap();
    assert!(!md.contains("## Schemas"));
    let out = plan(&["--source-registry", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no schema registry `nope` in the state")
    );
}

/// An HTTP endpoint on loopback that answers every request with 401 and
/// records the `authorization` header of each; serves `n` connections.
fn refusing_endpoint(n: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                    auth = line[line.len() - v.len()..].trim().to_owned();
                }
            }
            seen.push(auth);
            let body = r#"{"error_code":40101,"message":"Unauthorized"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        seen
    });
    (port, handle)
}

#[test]
fn refused_credentials_are_told_apart_and_secrets_stay_out_of_the_state() {
    let (port, seen) = refusing_endpoint(2);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "schema_registries:\n  - name: basic\n    url: http://127.0.0.1:{port}\n    auth: {{ method: basic, username: kcp, password: \"${{SR_PASSWORD}}\" }}\n  - name: bearer\n    url: http://127.0.0.1:{port}/\n    auth: {{ method: bearer, token: tok-123 }}\n"
        ),
    );
    let state = dir.path().join("kcp-state.json");
    let out = kcp()
        .env("SR_PASSWORD", "s3cr3t")
        .args([
            "scan",
            "schema-registry",
            "--output",
            "json",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("schema registry `basic` at http://127.0.0.1:{port} refused the credentials (401: Unauthorized)")),
        "{err}"
    );
    assert!(err.contains("check the registry's `auth`"), "{err}");
    // The registries were asked with the right headers (base64 of kcp:s3cr3t).
    assert_eq!(
        seen.join().unwrap(),
        ["Basic a2NwOnMzY3IzdA==", "Bearer tok-123"]
    );
    let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
    assert!(
        !all.contains("s3cr3t") && !all.contains("tok-123"),
        "a secret was printed: {all}"
    );
    assert!(!state.exists(), "nothing saved when every registry failed");
}

#[test]
fn the_credentials_file_checks_registry_entries() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, want) in [
        (
            "schema_registries:\n  - name: a\n    url: sr.example.com:8081\n",
            "is not an http:// or https:// URL",
        ),
        (
            "schema_registries:\n  - name: a\n    url: http://x\n  - name: a\n    url: http://y\n",
            "listed twice",
        ),
        (
            "schema_registries:\n  - name: a\n    url: http://x\n    auth: { method: basic, username: u, password: '' }\n",
            "basic auth needs",
        ),
        (
            "schema_registries:\n  - name: a\n    url: https://x\n    tls: { client_cert: /c.pem }\n",
            "both `client_cert` and `client_key`",
        ),
        (
            "schema_registries:\n  - name: a\n    url: http://x\n    auth: { method: digest }\n",
            "unknown variant `digest`",
        ),
    ] {
        let creds = write_credentials(dir.path(), yaml);
        let out = kcp()
            .args(["scan", "schema-registry", "--credentials-file"])
            .arg(&creds)
            .arg("--state-file")
            .arg(dir.path().join("s.json"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{yaml}: {err}");
    }
    // An unknown --registry names the known ones.
    let creds = write_credentials(
        dir.path(),
        "schema_registries:\n  - name: a\n    url: http://x\n",
    );
    let out = kcp()
        .args([
            "scan",
            "schema-registry",
            "--registry",
            "b",
            "--credentials-file",
        ])
        .arg(&creds)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("names no schema registry `b` (it has: a)")
    );
}
