//! The smaller wrong answers of issue 23 (item 10), each whole.

use crate::{kcp, kcp_snapshot};

fn example_state() -> std::path::PathBuf {
    crate::repo().join("state-examples/self-managed.json")
}

/// A plan from a cluster to itself is bad input, not a plan.
#[test]
fn a_plan_from_a_cluster_to_itself_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let r = kcp_snapshot!(
        "plan_to_itself",
        dir.path(),
        kcp().arg("--state-file").arg(example_state()).args([
            "report",
            "plan",
            "--source",
            "onprem-prod",
            "--target",
            "onprem-prod"
        ])
    );
    assert_eq!(r.code, 2);
}

/// `kcp version` names each field the same in its table and its JSON.
#[test]
fn version_names_its_fields_alike_in_table_and_json() {
    let json = crate::run(kcp().args(["version", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let table = crate::run(kcp().arg("version")).stdout;
    let fields = v.as_object().unwrap();
    assert_eq!(fields.len(), 4, "{v}");
    for (key, value) in fields {
        let line = format!(
            "{} {}",
            key.replace('_', " "),
            value.to_string().trim_matches('"')
        );
        assert!(
            table.lines().any(|l| l == line),
            "`{line}` not in:\n{table}"
        );
    }
    assert_eq!(v["arch"], std::env::consts::ARCH);
}

/// `KCP_STATE_FILE=` (set but empty, the shell's way to clear it) counts as
/// unset: the default file is used, not a usage error.
#[test]
fn an_empty_kcp_variable_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example_state(), dir.path().join("kcp-state.json")).unwrap();
    let r = crate::run(
        kcp()
            .current_dir(dir.path())
            .env("KCP_STATE_FILE", "")
            .env("KCP_CREDENTIALS_FILE", "")
            .args(["state", "validate"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("`kcp-state.json` is valid"),
        "{}",
        r.stdout
    );
}

/// `scan` locks the state only to merge and save: read-only commands run
/// while it samples rates (they were refused with exit 4 for the whole
/// window).
#[test]
fn scan_does_not_lock_the_state_while_it_samples() {
    use crate::support::{KafkaCluster, write_credentials};
    let tb = crate::require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let bootstrap = broker.bootstrap();
    crate::kafka::create_topics(&bootstrap, &[("orders", 1, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: lab\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {{ method: plaintext }}\n"
        ),
    );
    let state = dir.path().join("kcp-state.json");
    let scan = |window: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"));
        cmd.args([
            "scan",
            "clusters",
            "--rate-window",
            window,
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        cmd
    };
    assert!(scan("0").status().unwrap().success());

    let slow = scan("8").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let r = crate::run(
        kcp()
            .args(["state", "validate", "--state-file"])
            .arg(&state),
    );
    assert_eq!(r.code, 0, "refused while scan samples: {}", r.stderr);
    let out = slow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `-vv` on a successful scan shows what it did, step by step, with what
/// each step found (it added nothing).
#[test]
fn a_very_verbose_scan_shows_its_steps() {
    use crate::support::{KafkaCluster, write_credentials};
    let tb = crate::require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let bootstrap = broker.bootstrap();
    crate::kafka::create_topics(&bootstrap, &[("orders", 2, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: lab\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {{ method: plaintext }}\n"
        ),
    );
    let r = crate::run(
        kcp()
            .args([
                "-vv",
                "scan",
                "clusters",
                "--rate-window",
                "0",
                "--credentials-file",
            ])
            .arg(&creds)
            .arg("--state-file")
            .arg(dir.path().join("kcp-state.json")),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for step in [
        "connected",
        "topics read",
        "offsets read",
        "consumer groups read",
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains("DEBUG") && l.contains("lab") && l.contains(step)),
            "no `{step}` line:\n{}",
            r.stderr
        );
    }
}

/// A replicator plan connects to its target by the name it gives: without
/// `--target` that name is a made-up default (`<source>-target`), which no
/// credentials file has, so kcp says so instead of writing it silently.
#[test]
fn a_replicator_asset_without_target_says_its_target_is_a_default() {
    let dir = tempfile::tempdir().unwrap();
    let asset = |target: Option<&str>| {
        let mut cmd = kcp();
        cmd.arg("--state-file")
            .arg(example_state())
            .args(["create-asset", "replicator", "--source", "onprem-prod"])
            .args(["--target-type", "kafka", "--out"])
            .arg(dir.path().join(target.unwrap_or("default")));
        if let Some(t) = target {
            cmd.args(["--target", t]);
        }
        crate::run(&mut cmd)
    };
    let r = asset(None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("`onprem-prod-target`") && r.stderr.contains("--target"),
        "{}",
        r.stderr
    );
    let r = asset(Some("new-dc"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("onprem-prod-target"), "{}", r.stderr);
}
