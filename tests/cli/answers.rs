//! Every answer right: bad input of every kind ends with exit 2, a message
//! that says what and where, and a hint, snapshotted whole.

use crate::{kcp, kcp_snapshot};

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_date_that_is_not_a_date_is_bad_input() {
    let dir = temp();
    for (name, value) in [("word", "yesterday"), ("no_such_day", "2026-02-30")] {
        let r = kcp_snapshot!(
            format!("date_{name}"),
            dir.path(),
            kcp().args(["report", "costs", "--start", value])
        );
        assert_eq!(r.code, 2);
    }
}

#[test]
fn a_throughput_of_zero_is_bad_input() {
    let dir = temp();
    let r = kcp_snapshot!(
        "replication_mbps_zero",
        dir.path(),
        kcp().args(["report", "plan", "--target", "x", "--replication-mbps", "0"])
    );
    assert_eq!(r.code, 2);
}

#[test]
fn a_binary_state_file_is_bad_input_and_left_alone() {
    let dir = temp();
    let state = dir.path().join("kcp-state.json");
    std::fs::write(&state, b"\xff\xfe\x00\x01binary").unwrap();
    let r = kcp_snapshot!(
        "binary_state_file",
        dir.path(),
        kcp()
            .args(["state", "validate", "--state-file"])
            .arg(&state)
    );
    assert_eq!(r.code, 2);
    assert_eq!(std::fs::read(&state).unwrap(), b"\xff\xfe\x00\x01binary");
}

#[test]
fn an_empty_credentials_file_is_bad_input() {
    let dir = temp();
    let creds = dir.path().join("credentials.yaml");
    std::fs::write(&creds, "").unwrap();
    let r = kcp_snapshot!(
        "empty_credentials_file",
        dir.path(),
        kcp()
            .args(["scan", "clusters", "--state-file"])
            .arg(dir.path().join("kcp-state.json"))
            .arg("--credentials-file")
            .arg(&creds)
    );
    assert_eq!(r.code, 2);
    assert!(!dir.path().join("kcp-state.json").exists());
}

#[test]
fn create_asset_out_naming_a_file_is_bad_input() {
    let dir = temp();
    let out = dir.path().join("afile");
    std::fs::write(&out, "keep me").unwrap();
    let r = kcp_snapshot!(
        "create_asset_out_is_a_file",
        dir.path(),
        kcp()
            .arg("--state-file")
            .arg(crate::repo().join("state-examples/self-managed.json"))
            .args([
                "create-asset",
                "topics",
                "--source",
                "onprem-prod",
                "--target-type",
                "kafka",
                "--out",
            ])
            .arg(&out)
    );
    assert_eq!(r.code, 2);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
}

/// A value librdkafka refuses in `client_properties` is blamed on that
/// property, not on the `auth` section, and its value is not echoed (it
/// may be a secret).
#[test]
fn a_bad_client_property_is_named_as_such() {
    let dir = temp();
    let creds = dir.path().join("credentials.yaml");
    std::fs::write(
        &creds,
        "clusters:\n  - name: odd\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n    client_properties:\n      fetch.max.bytes: \"lots\"\n",
    )
    .unwrap();
    let r = kcp_snapshot!(
        "bad_client_property",
        dir.path(),
        kcp()
            .args(["scan", "clusters", "--timeout", "2", "--state-file"])
            .arg(dir.path().join("kcp-state.json"))
            .arg("--credentials-file")
            .arg(&creds)
    );
    assert_eq!(r.code, 1, "every cluster failed");
    assert!(r.stderr.contains("client_properties.fetch.max.bytes"));
    assert!(!r.stderr.contains("lots"), "{}", r.stderr);
}

/// Hints point where the fix is: a plan's credentials file is named in the
/// plan (replicate has no `--credentials-file`); an unknown report cluster
/// is one of the names the error lists (`state validate` prints counts);
/// a broken state file has no `.bak` unless an upgrade wrote one.
#[test]
fn hints_point_where_the_fix_is() {
    let dir = temp();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: p\ncredentials_file: missing.yaml\nsource: a\ntarget: b\n",
    )
    .unwrap();
    let r = crate::run(kcp().args(["migrate", "replicate", "--plan"]).arg(&plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let hint = r
        .stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_default();
    assert!(
        hint.contains("`credentials_file` in the plan") && !hint.contains("pass the right file"),
        "{}",
        r.stderr
    );

    let r = crate::run(
        kcp()
            .args([
                "report",
                "plan",
                "--source",
                "nope",
                "--target",
                "kafka",
                "--state-file",
            ])
            .arg(crate::repo().join("state-examples/self-managed.json")),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("onprem-prod") && !r.stderr.contains("state validate"),
        "{}",
        r.stderr
    );

    let state = dir.path().join("kcp-state.json");
    std::fs::write(&state, "{ not json").unwrap();
    let r = crate::run(
        kcp()
            .args(["state", "validate", "--state-file"])
            .arg(&state),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        !r.stderr.contains("restore it from a `.bak` copy"),
        "{}",
        r.stderr
    );
}

/// `report plan` takes no date window, region or cluster filter: its help
/// does not list them and passing one is a usage error, not silently
/// ignored.
#[test]
fn report_plan_offers_only_the_flags_it_uses() {
    let help = crate::run(kcp().args(["report", "plan", "--help"]));
    assert_eq!(help.code, 0);
    for flag in ["--start", "--end", "--region", "--cluster <NAME>"] {
        assert!(!help.stdout.contains(flag), "{flag}: {}", help.stdout);
    }
    let r = crate::run(kcp().args([
        "report",
        "plan",
        "--source",
        "a",
        "--target",
        "kafka",
        "--start",
        "2026-01-01",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// `report metrics` reads CloudWatch metrics, which only `kcp discover`
/// fetches, for MSK clusters: a scanned (self-managed) cluster is not
/// "missing from the state", and no cluster gets metrics from a scan, so
/// neither answer may send the user to `kcp scan clusters`.
#[test]
fn report_metrics_for_a_cluster_without_metrics_points_to_discover() {
    let dir = temp();
    let examples = crate::repo().join("state-examples");
    for (name, state, cluster) in [
        (
            "metrics_scanned_cluster",
            "self-managed.json",
            "onprem-prod",
        ),
        ("metrics_unknown_cluster", "msk-region.json", "nope"),
    ] {
        let r = kcp_snapshot!(
            name,
            dir.path(),
            kcp().arg("--state-file").arg(examples.join(state)).args([
                "report",
                "metrics",
                "--cluster",
                cluster
            ])
        );
        assert_eq!(r.code, 2);
        assert!(!r.stderr.contains("kcp scan"), "{}", r.stderr);
        assert!(r.stderr.contains("kcp discover"), "{}", r.stderr);
    }
}

/// `migrate status --watch` runs until it is interrupted: SIGTERM (a
/// supervisor, `timeout`) ends it with the documented 130, not the shell's
/// 143 for a death by signal, whether it waits for a cluster or sleeps.
#[test]
fn sigterm_ends_status_watch_with_130() {
    let dir = temp();
    // A listener that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let creds = crate::support::write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: a\n    bootstrap_servers: [\"{0}\"]\n    auth: {{ method: plaintext }}\n  - name: b\n    bootstrap_servers: [\"{0}\"]\n    auth: {{ method: plaintext }}\n",
            silent.local_addr().unwrap()
        ),
    );
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: p\ncredentials_file: {}\nsource: a\ntarget: b\n",
            creds.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["migrate", "status", "--watch", "--timeout", "30", "--plan"])
        .arg(&plan)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}

/// A key given twice is reported where the second one is: the YAML parser
/// names the line where the mapping starts (a plan's `version:`).
#[test]
fn a_duplicate_key_is_reported_at_its_line() {
    let dir = temp();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "# a plan\nversion: 1\nname: x\ncredentials_file: c.yaml\nsource: a\ntarget: b\ntopics:\n  include: orders\nreplication: {}\ntopics:\n  include: payments\n",
    )
    .unwrap();
    let r = crate::run(kcp().args(["migrate", "replicate", "--plan"]).arg(&plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the second `topics` is at line 10"),
        "{}",
        r.stderr
    );
}

/// The same for the replicator: a source property librdkafka refuses is
/// named as such before anything is connected or copied (the copy's
/// consumer is made first, and must not answer in its own words).
#[test]
fn a_bad_source_client_property_is_named_by_replicate() {
    let dir = temp();
    std::fs::write(
        dir.path().join("credentials.yaml"),
        "clusters:\n  - name: a\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n    client_properties:\n      fetch.max.bytes: \"lots\"\n  - name: b\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n",
    )
    .unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: p\ncredentials_file: credentials.yaml\nsource: a\ntarget: b\ntopics:\n  include: orders\n",
    )
    .unwrap();
    let r = crate::run(
        kcp()
            .args(["migrate", "replicate", "--timeout", "2", "--plan"])
            .arg(&plan),
    );
    assert!(
        r.stderr.contains("client_properties.fetch.max.bytes"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("lots"), "{}", r.stderr);
}
