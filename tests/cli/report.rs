//! `kcp report` over the example states: every report in every format is
//! snapshot-tested, output is deterministic, CSV opens in a real CSV reader,
//! and the HTML report renders in headless Chromium with data in every chart.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{kcp, repo, require_testbed, run};

fn example(name: &str) -> PathBuf {
    repo().join("state-examples").join(name)
}

struct Case {
    name: &'static str,
    state: &'static str,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "costs",
        state: "msk-region.json",
        args: &["report", "costs"],
    },
    Case {
        name: "metrics",
        state: "msk-region.json",
        args: &["report", "metrics"],
    },
    Case {
        name: "plan_self_managed",
        state: "self-managed.json",
        args: &[
            "report",
            "plan",
            "--source",
            "onprem-prod",
            "--target",
            "confluent-cloud",
        ],
    },
    Case {
        name: "plan_msk",
        state: "msk-region.json",
        args: &[
            "report",
            "plan",
            "--source",
            "orders-prod",
            "--target",
            "kafka",
            "--replication-mbps",
            "80",
        ],
    },
];

const FORMATS: &[&str] = &["md", "json", "csv", "html"];

fn report(case: &Case, format: &str, extra: &[&str]) -> crate::Run {
    run(kcp()
        .args(case.args)
        .args(["--format", format, "--state-file"])
        .arg(example(case.state))
        .args(extra))
}

#[test]
fn every_report_and_format_matches_its_snapshot() {
    for case in CASES {
        for format in FORMATS {
            let out = report(case, format, &[]);
            assert_eq!(out.code, 0, "{} {format}: {}", case.name, out.stderr);
            insta::assert_snapshot!(format!("report_{}_{format}", case.name), out.stdout);
        }
    }
}

#[test]
fn output_is_deterministic_and_out_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        for format in FORMATS {
            let first = report(case, format, &[]);
            let second = report(case, format, &[]);
            assert_eq!(
                first.stdout, second.stdout,
                "{} {format} differs between runs",
                case.name
            );
            let path = dir.path().join(format!("{}.{format}", case.name));
            let written = run(kcp()
                .args(case.args)
                .args(["--format", format, "--out"])
                .arg(&path)
                .arg("--state-file")
                .arg(example(case.state)));
            assert_eq!(written.code, 0, "{}", written.stderr);
            assert!(written.stdout.is_empty());
            // stdout adds the final newline only when the text lacks one.
            assert_eq!(
                std::fs::read_to_string(&path).unwrap().trim_end(),
                first.stdout.trim_end()
            );
        }
    }
}

#[test]
fn json_reports_carry_their_schema_version() {
    for case in CASES {
        let out = report(case, "json", &[]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["schema_version"], 1, "{}", case.name);
        assert!(v["report"].is_string());
        assert!(v["generated_from"]["state_updated_at"].is_string());
    }
}

/// `--output json`, the switch every command has, gives JSON for reports
/// too (it used to print Markdown): the same document as `--format json`.
/// Asking for JSON and another format at once is a usage error.
#[test]
fn output_json_gives_the_json_report_and_conflicts_with_another_format() {
    for case in CASES {
        let by_format = report(case, "json", &[]);
        let by_output = run(kcp()
            .args(case.args)
            .args(["--output", "json", "--state-file"])
            .arg(example(case.state)));
        assert_eq!(by_output.code, 0, "{}: {}", case.name, by_output.stderr);
        serde_json::from_str::<serde_json::Value>(&by_output.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", case.name, by_output.stdout));
        assert_eq!(by_output.stdout, by_format.stdout, "{}", case.name);
    }
    let conflict = report(&CASES[0], "md", &["--output", "json"]);
    assert_eq!(conflict.code, 2, "{}", conflict.stderr);
    assert!(
        conflict.stderr.contains("--output json") && conflict.stderr.contains("--format md"),
        "{}",
        conflict.stderr
    );
}

#[test]
fn csv_opens_in_a_real_csv_reader() {
    let tb = require_testbed!();
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        let path = dir.path().join(format!("{}.csv", case.name));
        let out = run(kcp()
            .args(case.args)
            .args(["--format", "csv", "--out"])
            .arg(&path)
            .arg("--state-file")
            .arg(example(case.state)));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let check = Command::new(&tb.python)
            .args(["-c", "import csv, sys\nrows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8'), strict=True))\nassert len(rows) > 1, rows\nassert all(len(r) == len(rows[0]) for r in rows), 'ragged rows'\nprint(len(rows) - 1)"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn filters_and_bad_input() {
    let costs = |extra: &[&str]| {
        run(kcp()
            .args(["report", "costs", "--format", "json", "--state-file"])
            .arg(example("msk-region.json"))
            .args(extra))
    };
    let out = costs(&["--start", "2026-11-03", "--end", "2026-11-05"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let days: Vec<&str> = v["regions"][0]["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2026-11-03", "2026-11-04"]);

    let out = costs(&["--region", "eu-north-1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("no region `eu-north-1` in the state (known: us-east-1)"),
        "{}",
        out.stderr
    );
    let out = costs(&["--start", "2026-11-05", "--end", "2026-11-05"]);
    assert_eq!(out.code, 2);
    let out = costs(&["--start", "yesterday"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("'--start <DATE>': `yesterday` is not a date; use YYYY-MM-DD"),
        "{}",
        out.stderr
    );

    let out = run(kcp()
        .args([
            "report",
            "plan",
            "--source",
            "nope",
            "--target",
            "kafka",
            "--state-file",
        ])
        .arg(example("self-managed.json")));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("no cluster `nope` in the state (known: onprem-prod)"),
        "{}",
        out.stderr
    );
    let out = run(kcp()
        .args([
            "report",
            "plan",
            "--source",
            "onprem-prod",
            "--target",
            "azure",
            "--state-file",
        ])
        .arg(example("self-managed.json")));
    assert_eq!(out.code, 2);
    let out = run(kcp()
        .args(["report", "metrics", "--state-file"])
        .arg(example("self-managed.json")));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("hint: run `kcp discover` without `--skip-metrics`"),
        "{}",
        out.stderr
    );
}

/// Headless Chromium: `KCP_CHROMIUM` (exported by `testbed/install.sh`,
/// which installs it) or `/usr/bin/chromium`. Missing under CI or under
/// `testbed/test.sh` is a failure; only a bare `cargo test` skips, loudly.
fn chromium() -> Option<PathBuf> {
    let wanted = std::env::var_os("KCP_CHROMIUM");
    let path = wanted
        .clone()
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    assert!(
        wanted.is_none() && !std::env::var("CI").is_ok_and(|v| v == "true"),
        "chromium is missing at {}; testbed/install.sh installs it (apt-get install chromium)",
        path.display()
    );
    eprintln!("\n*** SKIPPED: no /usr/bin/chromium; run `bash testbed/install.sh` ***\n");
    None
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[test]
fn html_reports_render_in_chromium_with_data_in_every_chart() {
    let Some(chromium) = chromium() else { return };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        let html = dir.path().join(format!("{}.html", case.name));
        let out = run(kcp()
            .args(case.args)
            .args(["--format", "html", "--out"])
            .arg(&html)
            .arg("--state-file")
            .arg(example(case.state)));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let url = format!("file://{}", html.display());

        let png = shots.join(format!("{}.png", case.name));
        let _ = std::fs::remove_file(&png);
        let shot = headless(&chromium, &dir.path().join("profile-shot"))
            .args(["--window-size=1280,2400", "--hide-scrollbars"])
            .arg(format!("--screenshot={}", png.display()))
            .arg(&url)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&shot.stderr);
        assert!(shot.status.success(), "{}: {log}", case.name);
        let bytes = std::fs::read(&png)
            .unwrap_or_else(|_| panic!("no screenshot for {}: {log}", case.name));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{}: screenshot too small",
            case.name
        );
        for line in log.lines() {
            assert!(
                !line.contains("CONSOLE") && !line.contains("Uncaught"),
                "{}: console message: {line}",
                case.name
            );
        }

        let dom = headless(&chromium, &dir.path().join("profile-dom"))
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&dom.stdout);
        let charts: Vec<&str> = dom.split("<svg class=\"chart\"").skip(1).collect();
        if case.name != "plan_self_managed" && case.name != "plan_msk" {
            assert!(!charts.is_empty(), "{}: no chart", case.name);
        }
        for (i, chart) in charts.iter().enumerate() {
            let body = chart.split("</svg>").next().unwrap_or_default();
            assert!(
                body.contains("<circle class=\"pt\""),
                "{}: chart {} has no data point",
                case.name,
                i + 1
            );
            assert!(
                body.contains("<polyline"),
                "{}: chart {} has no line",
                case.name,
                i + 1
            );
        }
        eprintln!("screenshot: {}", png.display());
    }
}

/// A reader that stops early (`| head`) is not an error: no message, exit 0.
#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"))
        .arg("--state-file")
        .arg(example("self-managed.json"))
        .args([
            "report",
            "plan",
            "--source",
            "onprem-prod",
            "--target",
            "confluent-cloud",
        ])
        .args(["--format", "html"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before kcp writes anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
