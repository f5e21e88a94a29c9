//! What `migrate execute` says when no terminal watches it (a pipe, systemd,
//! Kubernetes): its step lines and notices show names from the brokers
//! escaped, and its long steps (catch-up, drain, waits) report progress
//! periodically, as status lines on stderr or JSON lines with `--output json`.

use std::path::PathBuf;

use crate::kafka::{commit, create_topics, produce};
use crate::support::{KafkaCluster, Testbed, write_pair_credentials};
use crate::{kcp, require_testbed, run};

/// Clears the screen, then a second line.
const HOSTILE_GROUP: &str = "\x1b[2Jgroup\nsecond";

/// A source with one topic read by `group`, an empty target, and a plan
/// from `migrate init` whose waits are set to `sustain` seconds of catch-up
/// and 1 s of quiet.
struct Prepared {
    _source: KafkaCluster,
    _target: KafkaCluster,
    _dir: tempfile::TempDir,
    plan: PathBuf,
}

fn prepare(tb: &Testbed, group: &str, sustain: u64) -> Prepared {
    let (source, target) = std::thread::scope(|s| {
        let a = s.spawn(|| KafkaCluster::start_named(tb, "exec-src"));
        let b = s.spawn(|| KafkaCluster::start_named(tb, "exec-dst"));
        (a.join().unwrap(), b.join().unwrap())
    });
    create_topics(&source.bootstrap(), &[("orders", 2, &[])]);
    produce(&source.bootstrap(), "orders", &[20, 10]);
    commit(
        &source.bootstrap(),
        group,
        &[("orders", 0, 5), ("orders", 1, 10)],
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let state = dir.path().join("kcp-state.json");
    let plan = dir.path().join("plan.yaml");
    let scan = run(kcp()
        .arg("--state-file")
        .arg(&state)
        .args(["scan", "clusters", "--cluster", "src", "--rate-window", "0"])
        .arg("--credentials-file")
        .arg(&creds));
    assert_eq!(scan.code, 0, "{}", scan.stderr);
    let init = run(kcp()
        .arg("--state-file")
        .arg(&state)
        .args(["migrate", "init", "--source", "src", "--target", "dst"])
        .arg("--credentials-file")
        .arg(&creds)
        .arg("--plan-out")
        .arg(&plan));
    assert_eq!(init.code, 0, "{}", init.stderr);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace(
            "lag_sustain_secs: 30",
            &format!("lag_sustain_secs: {sustain}"),
        )
        .replace("producer_quiet_secs: 10", "producer_quiet_secs: 1")
        .replace("group_quiet_secs: 5", "group_quiet_secs: 1");
    std::fs::write(&plan, text).unwrap();
    Prepared {
        _source: source,
        _target: target,
        _dir: dir,
        plan,
    }
}

/// No raw control character but the line ends, and no line begins with
/// what followed the group id's newline.
fn assert_escaped(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r'))
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("second")),
        "a group id's newline split a line:\n{text}"
    );
    assert!(text.contains(r"\u{1b}[2Jgroup\nsecond"), "{text}");
}

/// A consumer group id may hold any character: the dry run's step list and
/// the run's step lines and notices show it escaped, one line each.
#[test]
fn execute_shows_a_hostile_group_id_escaped() {
    let tb = require_testbed!();
    let p = prepare(&tb, HOSTILE_GROUP, 1);
    let dry = run(kcp()
        .args(["migrate", "execute", "--dry-run", "--plan"])
        .arg(&p.plan));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_escaped(&dry.stdout);
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&p.plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_escaped(&r.stderr);
}

/// Without a terminal, a long step (catch-up held for 25 s) reports its
/// progress every 10 s: a status line on stderr, or a JSON line on stdout
/// with `--output json`.
#[test]
fn execute_without_a_terminal_reports_long_steps_periodically() {
    let tb = require_testbed!();
    let (human, json) = std::thread::scope(|s| {
        let human = s.spawn(|| {
            let p = prepare(&tb, "billing", 25);
            run(kcp()
                .args(["migrate", "execute", "--yes", "--plan"])
                .arg(&p.plan))
        });
        let json = s.spawn(|| {
            let p = prepare(&tb, "billing", 25);
            run(kcp()
                .args(["migrate", "execute", "--yes", "--output", "json", "--plan"])
                .arg(&p.plan))
        });
        (human.join().unwrap(), json.join().unwrap())
    });
    assert_eq!(human.code, 0, "{}", human.stderr);
    let lines: Vec<&str> = human
        .stderr
        .lines()
        .filter(|l| l.starts_with("catch-up: ") && l.contains("lag must stay"))
        .collect();
    assert!(lines.len() >= 2, "{}", human.stderr);

    assert_eq!(json.code, 0, "{}", json.stderr);
    let events: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let progress: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "progress" && e["step"] == "catch-up")
        .collect();
    assert!(progress.len() >= 2, "{}", json.stdout);
    assert!(
        progress[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("lag must stay")),
        "{}",
        json.stdout
    );
}
