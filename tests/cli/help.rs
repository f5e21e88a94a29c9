//! `kcp --help` and every subcommand's `--help` are snapshot-tested, so a
//! change to the interface is always a reviewed change.

use clap::CommandFactory;

use crate::{kcp, run};

fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.clone();
        path.push(sub.get_name().to_owned());
        paths(sub, path, out);
    }
}

#[test]
fn every_help_text_matches_its_snapshot() {
    let mut all = Vec::new();
    paths(&kcp::cli::Cli::command(), Vec::new(), &mut all);
    assert!(
        all.len() > 20,
        "expected the whole command tree, found {}",
        all.len()
    );
    for path in all {
        let out = run(kcp().args(&path).arg("--help"));
        assert_eq!(out.code, 0, "kcp {} --help: {}", path.join(" "), out.stderr);
        let name = if path.is_empty() {
            "kcp".to_owned()
        } else {
            format!("kcp_{}", path.join("_"))
        };
        insta::assert_snapshot!(name, out.stdout);
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = run(kcp().args(["state", "frobnicate"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unrecognized subcommand"));
}

#[test]
fn version_and_completions() {
    let out = run(kcp().args(["version", "--output", "json"]));
    assert_eq!(out.code, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["kcp"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["librdkafka"], "2.12.1");
    assert_eq!(v["state_schema_version"], 5);

    let out = run(kcp().args(["completions", "bash"]));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("_kcp()"));
    assert!(out.stdout.contains("create-asset"));
}
