//! The walk-through of `docs/getting-started.md`, run as written: every
//! shell block of its walk-through section, in order, each in `bash -eu`,
//! in an empty folder, against two clusters of the test bed. The only
//! substitutions are the ones the page names: `SOURCE_BOOTSTRAP` and
//! `TARGET_BOOTSTRAP` are the test bed's clusters, and `kcp` on the `PATH`
//! is the binary under test. A doc edit that breaks a command breaks this
//! test; each step is then checked for what the page says it does.

use std::path::Path;

use crate::kafka::{commit, create_topics, produce};
use crate::support::KafkaCluster;
use crate::{repo, require_testbed};

const PAGE: &str = "docs/getting-started.md";
const SECTION: &str = "## A 10-minute walk-through on two local clusters";

/// The fenced `sh` blocks of the walk-through section, their indentation
/// (inside list items) removed.
fn walk_through_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(PAGE)).unwrap();
    let start = text
        .find(SECTION)
        .unwrap_or_else(|| panic!("{PAGE}: no section `{SECTION}`"));
    let section = &text[start + SECTION.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in section.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match (&mut current, trimmed.strip_prefix("```")) {
            (None, Some(info)) => {
                assert_eq!(info, "sh", "{PAGE}: a walk-through block that is not `sh`");
                current = Some((indent, Vec::new()));
            }
            (Some(_), Some("")) => {
                let (_, lines) = current.take().unwrap();
                blocks.push(lines.join("\n") + "\n");
            }
            (Some((indent, lines)), _) => {
                lines.push(line.get(*indent..).unwrap_or("").to_owned());
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "{PAGE}: an unterminated code block");
    blocks
}

/// Runs one block as written; stdout and stderr of a successful block.
fn run_block(dir: &Path, env: &[(&str, String)], block: &str) -> (String, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_kcp")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-eu", "-o", "pipefail", "-c", block])
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1");
    for var in [
        "KCP_STATE_FILE",
        "KCP_CREDENTIALS_FILE",
        "KCP_NO_PROGRESS",
        "KCP_LOG",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("run bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{PAGE}: this block failed ({}):\n{block}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

#[test]
fn the_getting_started_walk_through_runs_as_written() {
    let tb = require_testbed!();
    let blocks = walk_through_blocks();
    assert_eq!(blocks.len(), 8, "{PAGE}: the walk-through's blocks changed");
    let (source, target) = std::thread::scope(|s| {
        let a = s.spawn(|| KafkaCluster::start_named(&tb, "gs-local"));
        let b = s.spawn(|| KafkaCluster::start_named(&tb, "gs-target"));
        (a.join().unwrap(), b.join().unwrap())
    });
    // What the page asks for on the source: topics, records, a group.
    create_topics(
        &source.bootstrap(),
        &[("orders", 3, &[]), ("payments", 1, &[])],
    );
    produce(&source.bootstrap(), "orders", &[40, 30, 30]);
    produce(&source.bootstrap(), "payments", &[25]);
    commit(
        &source.bootstrap(),
        "billing",
        &[("orders", 0, 20), ("orders", 1, 30), ("orders", 2, 0)],
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let env = [
        ("SOURCE_BOOTSTRAP", source.bootstrap()),
        ("TARGET_BOOTSTRAP", target.bootstrap()),
    ];
    let mut outputs = Vec::new();
    for block in &blocks {
        outputs.push(run_block(d, &env, block));
    }

    // 1. The credentials file names both clusters.
    let creds = std::fs::read_to_string(d.join("kcp-credentials.yaml")).unwrap();
    assert!(creds.contains(&source.bootstrap()) && creds.contains(&target.bootstrap()));
    // 2. The scan wrote the state with the source's topics and group.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("kcp-state.json")).unwrap()).unwrap();
    let local = &state["clusters"]["local"];
    assert!(local["topics"]["orders"].is_object(), "{state}");
    assert!(local["consumer_groups"]["billing"].is_object(), "{state}");
    // 4. Markdown on stdout, then a page for a browser.
    assert!(outputs[3].0.starts_with('#'), "{}", outputs[3].0);
    let html = std::fs::read_to_string(d.join("plan.html")).unwrap();
    assert!(
        html.to_lowercase().starts_with("<!doctype html"),
        "{html:.200}"
    );
    // 5. Each asset folder has its README; the replicator's plan connects
    //    to a target the credentials file names.
    for kind in ["topics", "acls", "replicator"] {
        assert!(
            d.join("assets").join(kind).join("README.md").is_file(),
            "{kind}"
        );
    }
    let asset_plan = std::fs::read_to_string(d.join("assets/replicator/plan.yaml")).unwrap();
    assert!(
        asset_plan.lines().any(|l| l == "target: \"target\""),
        "the replicator's plan names a target missing from the credentials file:\n{asset_plan}"
    );
    // 6. The plan, whose catch-up comment says what `execute` does.
    let plan = std::fs::read_to_string(d.join("plan.yaml")).unwrap();
    let dry_run = &outputs[6].0;
    let catch_up = dry_run
        .lines()
        .find(|l| l.contains("catch-up:"))
        .unwrap_or_else(|| panic!("no catch-up step in:\n{dry_run}"));
    assert!(
        catch_up.contains("total lag stays at or under 1000 record(s) for 30 s"),
        "{catch_up}"
    );
    assert!(
        plan.contains("# Catch-up ends when the total lag stays at or under this many records"),
        "the plan's catch-up comment differs from the step `execute` runs ({catch_up}):\n{plan}"
    );
    // 8. The cutover's run report; 9. status says finished, lag 0.
    assert!(d.join("plan.report.json").is_file());
    let status = &outputs[7].0;
    assert!(
        status.contains(": finished,") && status.contains("lag 0"),
        "{status}"
    );
}
