//! The `console` examples of the docs run against the test bed and print
//! what the docs show.
//!
//! A ```` ```console ```` block holds `$ command` lines, each followed by the
//! output it prints (stdout and stderr, as a terminal shows them). The
//! commands run with `sh` in one scratch directory shared by every page, in
//! the order of [`PAGES`], after two local Apache Kafka clusters (`local`, loaded
//! with `testbed/sample_data.py`, and `target`) are up and described in
//! `kcp-credentials.yaml`. In the expected output, `…` stands for any text
//! within a line and a line holding only `…` for any number of lines; runs of
//! spaces count as one. Values that change from run to run (ports, sizes,
//! times) are elided that way.
//! Examples that need AWS stay in `sh` blocks, which `docs.rs` parses.

use std::path::Path;
use std::process::Command;

use crate::support::KafkaCluster;
use crate::{repo, require_testbed};

/// The pages whose `console` blocks run, in this order (later pages use
/// what earlier ones wrote: the state file, the plan).
const PAGES: &[&str] = &[
    "docs/commands/scan.md",
    "docs/commands/state.md",
    "docs/commands/report.md",
    "docs/commands/create-asset.md",
    "docs/commands/migrate.md",
];

/// One `$ command` and the output shown under it.
struct Example {
    page: String,
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn examples(page: &str) -> Vec<Example> {
    let text = std::fs::read_to_string(repo().join(page)).unwrap();
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    let mut continued = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_console = !in_console && line.trim() == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if continued {
            let last = out.last_mut().unwrap();
            last.command.push(' ');
            last.command
                .push_str(line.trim().trim_end_matches('\\').trim());
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            out.push(Example {
                page: page.into(),
                line: i + 1,
                command: command.trim_end_matches('\\').trim().into(),
                expected: Vec::new(),
            });
            continued = line.ends_with('\\');
        } else if let Some(last) = out.last_mut() {
            last.expected.push(line.trim_end().into());
        }
    }
    out
}

/// Runs of spaces as one: a value of another width in an aligned column
/// still matches.
fn squeeze(text: &str) -> String {
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line against a pattern where `…` matches any text (runs of spaces
/// count as one).
fn line_matches(pattern: &str, line: &str) -> bool {
    let (pattern, line) = (squeeze(pattern), squeeze(line));
    let line = line.as_str();
    let mut parts = pattern.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Lines against patterns where a line holding only `…` matches any lines.
fn lines_match(patterns: &[String], lines: &[&str]) -> bool {
    match patterns.split_first() {
        None => lines.is_empty(),
        Some((p, rest)) if p.trim() == "…" => {
            (0..=lines.len()).any(|skip| lines_match(rest, &lines[skip..]))
        }
        Some((p, rest)) => lines
            .split_first()
            .is_some_and(|(l, more)| line_matches(p, l) && lines_match(rest, more)),
    }
}

#[test]
fn wildcards_match_as_documented() {
    assert!(line_matches("size … MiB", "size 1.5 MiB"));
    assert!(line_matches("…", "anything"));
    assert!(line_matches("a…b…c", "a-x-b-y-c"));
    assert!(!line_matches("a…b", "a-x-c"));
    assert!(!line_matches("exact", "exact and more"));
    assert!(line_matches("│ x   │ …     │", "│ x   │ 1281  │"));
    let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&p(&["a", "…", "z"]), &["a", "b", "c", "z"]));
    assert!(lines_match(&p(&["a", "…", "z"]), &["a", "z"]));
    assert!(!lines_match(&p(&["a", "z"]), &["a", "b", "z"]));
}

fn run_example(dir: &Path, example: &Example) -> (i32, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_kcp")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1; {}", example.command))
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("KCP_NO_PROGRESS", "1")
        .env_remove("KCP_STATE_FILE")
        .env_remove("KCP_CREDENTIALS_FILE")
        .env_remove("KCP_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A `console` block on a page missing from [`PAGES`] would never run.
#[test]
fn every_page_with_console_examples_is_run() {
    let missing: Vec<String> = crate::docs::doc_pages()
        .iter()
        .map(|p| p.strip_prefix(repo()).unwrap().display().to_string())
        .filter(|page| !PAGES.contains(&page.as_str()) && !examples(page).is_empty())
        .collect();
    assert!(missing.is_empty(), "add these pages to PAGES: {missing:?}");
}

#[test]
fn console_examples_print_what_the_docs_show() {
    let tb = require_testbed!();
    let local = KafkaCluster::start_named(&tb, "local");
    let target = KafkaCluster::start_named(&tb, "target");
    let loaded = Command::new(&tb.python)
        .arg(repo().join("testbed/sample_data.py"))
        .arg(local.bootstrap())
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kcp-credentials.yaml"),
        format!(
            "clusters:\n  - name: local\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n  - name: target\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            local.bootstrap(),
            target.bootstrap()
        ),
    )
    .unwrap();

    let mut ran = 0;
    let mut failures = Vec::new();
    for page in PAGES {
        for example in examples(page) {
            ran += 1;
            let (code, output) = run_example(dir.path(), &example);
            let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
            // Every example shows a command that succeeds.
            if code != 0 || !lines_match(&example.expected, &lines) {
                failures.push(format!(
                    "{}:{}: `{}` (exit {code}) printed:\n{}\n--- the docs show:\n{}\n",
                    example.page,
                    example.line,
                    example.command,
                    lines.join("\n"),
                    example.expected.join("\n")
                ));
            }
        }
    }
    assert!(ran >= 8, "only {ran} console examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
