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
