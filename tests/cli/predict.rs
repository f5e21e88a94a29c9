//! Dry runs and status predict the real run: `migrate execute --dry-run`
//! refuses what `execute` and `replicate` refuse (the credentials, a
//! migration-state file of another plan, the preflight checks), `status`
//! refuses another plan's migration-state file, and `create-asset
//! --dry-run` refuses to overwrite as the real run does.

use std::path::{Path, PathBuf};

use crate::kafka::{commit, create_topics, produce};
use crate::support::{KafkaCluster, write_credentials};
use crate::{kcp, kcp_snapshot, require_testbed, run};

const NOWHERE_CREDENTIALS: &str = "clusters:\n  - name: a\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n  - name: b\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n";

fn write_plan(dir: &Path, credentials_file: &str) -> PathBuf {
    let plan = dir.join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: p\ncredentials_file: {credentials_file}\nsource: a\ntarget: b\n"
        ),
    )
    .unwrap();
    plan
}

/// `replicate` and `execute` refuse a plan whose credentials file is
/// missing (exit 2); the dry run did not read it and said all was well.
#[test]
fn a_dry_run_refuses_a_plan_whose_credentials_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "missing.yaml");
    let r = kcp_snapshot!(
        "dry_run_missing_credentials",
        dir.path(),
        kcp()
            .args(["migrate", "execute", "--dry-run", "--plan"])
            .arg(&plan)
    );
    assert_eq!(r.code, 2);
    let real = run(kcp().args(["migrate", "replicate", "--plan"]).arg(&plan));
    assert_eq!(real.code, r.code, "{}", real.stderr);
}

/// A migration-state file beside the plan that belongs to another plan:
/// `execute` refuses it before connecting, so must the dry run and `status`.
#[test]
fn a_dry_run_and_status_refuse_another_plans_migration_state() {
    let dir = tempfile::tempdir().unwrap();
    write_credentials(dir.path(), NOWHERE_CREDENTIALS);
    let plan = write_plan(dir.path(), "credentials.yaml");
    std::fs::write(
        dir.path().join("plan.migration-state.json"),
        r#"{"version": 1, "plan": "other", "source": "x", "target": "y", "outcome": "in-progress", "created_at": "2026-11-25T11:29:37Z", "updated_at": "2026-11-25T11:29:37Z", "runs": 1, "done": []}"#,
    )
    .unwrap();
    let real = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan));
    assert_eq!(real.code, 2, "{}", real.stderr);
    assert!(
        real.stderr.contains("belongs to plan `other`"),
        "{}",
        real.stderr
    );
    for (name, args) in [
        ("dry_run_other_plans_state", &["execute", "--dry-run"][..]),
        ("status_other_plans_state", &["status"][..]),
    ] {
        let r = kcp_snapshot!(
            name,
            dir.path(),
            kcp().arg("migrate").args(args).arg("--plan").arg(&plan)
        );
        assert_eq!(r.code, 2, "{name}");
    }
}

/// The preflight checks run in the dry run as they do in `replicate` and
/// `execute`: here source and target are one cluster, which both refuse.
#[test]
fn a_dry_run_runs_the_preflight_checks() {
    let tb = require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let bootstrap = broker.bootstrap();
    create_topics(&bootstrap, &[("orders", 1, &[])]);
    produce(&bootstrap, "orders", &[3]);
    commit(&bootstrap, "billing", &[("orders", 0, 3)]);
    let dir = tempfile::tempdir().unwrap();
    write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: a\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {{ method: plaintext }}\n  - name: b\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {{ method: plaintext }}\n"
        ),
    );
    let plan = write_plan(dir.path(), "credentials.yaml");
    let replicate = run(kcp()
        .args(["migrate", "replicate", "--timeout", "10", "--plan"])
        .arg(&plan));
    assert_ne!(replicate.code, 0, "replicate refuses one cluster as both");
    // Not a snapshot: the message names the cluster's random id.
    let r = run(kcp()
        .args(["migrate", "execute", "--dry-run", "--plan"])
        .arg(&plan));
    assert_eq!(r.code, replicate.code, "{}", replicate.stderr);
    assert!(
        r.stderr
            .contains("error: source and target are the same cluster"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "no steps listed: {}", r.stdout);
    assert!(
        !dir.path().join("plan.migration-state.json").exists(),
        "a dry run writes nothing"
    );
}

/// `create-asset` refuses to overwrite files without `--force`, and an
/// `--out` that is a file; its dry run said both would be written.
#[test]
fn a_create_asset_dry_run_refuses_what_the_real_run_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assets");
    let create = |extra: &[&str], out: &Path| {
        let mut cmd = kcp();
        cmd.arg("--state-file")
            .arg(crate::repo().join("state-examples/self-managed.json"))
            .args(["create-asset", "topics", "--source", "onprem-prod"])
            .args(["--target-type", "kafka"])
            .args(extra)
            .arg("--out")
            .arg(out);
        cmd
    };
    assert_eq!(run(&mut create(&[], &out)).code, 0);
    std::fs::write(out.join("main.tf"), "# edited by hand\n").unwrap();
    let real = run(&mut create(&[], &out));
    assert_eq!(real.code, 2, "{}", real.stderr);
    let r = kcp_snapshot!(
        "create_asset_dry_run_would_overwrite",
        dir.path(),
        &mut create(&["--dry-run"], &out)
    );
    assert_eq!(r.code, 2);
    assert_eq!(run(&mut create(&["--dry-run", "--force"], &out)).code, 0);

    let file = dir.path().join("afile");
    std::fs::write(&file, "keep me").unwrap();
    assert_eq!(run(&mut create(&[], &file)).code, 2);
    assert_eq!(run(&mut create(&["--dry-run"], &file)).code, 2);
    assert_eq!(
        std::fs::read_to_string(out.join("main.tf")).unwrap(),
        "# edited by hand\n"
    );
}
