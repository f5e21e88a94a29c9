//! The docs keep up with the code: every flag of every command is on its
//! page under `docs/commands/`, global options on the index page, and every
//! relative link in the Markdown files resolves, and every `kcp` example in
//! a shell block parses with the current command line.

use clap::CommandFactory;

use crate::repo;

/// Whether `flag` appears as a whole word in code: an inline code span or
/// a fenced code block.
fn documented(text: &str, flag: &str) -> bool {
    let spans = regex::Regex::new(r"`([^`]+)`").unwrap();
    let word = regex::Regex::new(&format!(r"{}(?:[^a-z-]|$)", regex::escape(flag))).unwrap();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if (fenced && word.is_match(line))
            || (!fenced && spans.captures_iter(line).any(|c| word.is_match(&c[1])))
        {
            return true;
        }
    }
    false
}

/// Long flags of a command and all its subcommands, without `--help`.
fn flags(cmd: &clap::Command, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        if arg.is_global_set() || arg.is_hide_set() {
            continue;
        }
        if let Some(long) = arg.get_long()
            && long != "help"
            && long != "version"
        {
            out.push(format!("--{long}"));
        }
    }
    for sub in cmd.get_subcommands() {
        flags(sub, out);
    }
}

#[test]
fn every_flag_is_documented() {
    let cli = kcp::cli::Cli::command();
    let mut missing = Vec::new();
    let index = std::fs::read_to_string(repo().join("docs/commands/README.md")).unwrap();
    for arg in cli.get_arguments().filter(|a| a.is_global_set()) {
        if let Some(long) = arg.get_long()
            && !documented(&index, &format!("--{long}"))
        {
            missing.push(format!("docs/commands/README.md: global --{long}"));
        }
    }
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        if matches!(name, "help" | "version" | "completions") {
            continue;
        }
        let page = repo().join(format!("docs/commands/{name}.md"));
        let Ok(text) = std::fs::read_to_string(&page) else {
            missing.push(format!("docs/commands/{name}.md (no page)"));
            continue;
        };
        if !index.contains(&format!("({name}.md)")) {
            missing.push(format!("docs/commands/README.md: no link to {name}.md"));
        }
        let mut list = Vec::new();
        flags(sub, &mut list);
        for flag in list {
            if !documented(&text, &flag) {
                missing.push(format!("docs/commands/{name}.md: {flag}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}

/// Every Markdown page under `docs/`, sorted.
pub fn doc_pages() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("docs"), &mut out);
    out.sort();
    out
}

#[test]
fn relative_links_resolve() {
    let re = regex::Regex::new(r"\]\(([^)\s#]+)(#[^)]*)?\)").unwrap();
    let mut files = vec![repo().join("README.md"), repo().join("ARCHITECTURE.md")];
    files.extend(doc_pages());
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for c in re.captures_iter(&text) {
            let target = &c[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = file.parent().unwrap().join(target);
            if !resolved.exists() {
                broken.push(format!(
                    "{}: {target}",
                    file.strip_prefix(repo()).unwrap().display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_state_schema_is_current_and_the_examples_follow_it() {
    let r = crate::run(crate::kcp().args(["state", "schema"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = repo().join("docs/reference/state-schema.json");
    let checked_in = std::fs::read_to_string(&path).unwrap();
    if checked_in != r.stdout && std::env::var_os("KCP_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &r.stdout).unwrap();
        return;
    }
    assert_eq!(
        checked_in, r.stdout,
        "docs/reference/state-schema.json is stale: run `KCP_UPDATE_SCHEMA=1 cargo nextest run --test cli docs`"
    );
    // Every example state validates against it (Python's jsonschema, from the test bed).
    let Some(tb) = crate::support::testbed() else {
        return;
    };
    let out = std::process::Command::new(&tb.python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())\n\
             for f in sys.argv[2:]:\n\
             \x20   errors = [f'{list(e.absolute_path)}: {e.message}' for e in v.iter_errors(json.load(open(f)))]\n\
             \x20   assert not errors, (f, errors[:5])\n\
             print('ok', len(sys.argv) - 2)",
        ])
        .arg(&path)
        .arg(repo().join("state-examples/msk-region.json"))
        .arg(repo().join("state-examples/self-managed.json"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("ok 2"), "{text}");
}

/// Shell words of one command line: whitespace-separated, with single and
/// double quotes (no escapes beyond `\"` in double quotes).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') if chars.peek() == Some(&'"') => cur.push(chars.next().unwrap()),
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Every `kcp ...` command in a `sh` block of the docs and the README
/// parses with the current command line (flags exist, values are valid):
/// examples cannot drift from the code.
#[test]
fn every_shell_example_parses() {
    use clap::Parser;
    let mut files = vec![repo().join("README.md")];
    files.extend(doc_pages());
    let mut checked = 0;
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut in_sh = false;
        let mut pending = String::new();
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("```") {
                in_sh = !in_sh && (t == "```sh" || t == "```bash" || t == "```console");
                continue;
            }
            if !in_sh {
                continue;
            }
            pending.push_str(t.trim_end_matches('\\'));
            pending.push(' ');
            if t.ends_with('\\') {
                continue;
            }
            let command = std::mem::take(&mut pending);
            let command = command.trim().trim_start_matches("$ ");
            // Synopses (`[--flag ...]`, `<KIND>`) are not examples.
            if !command.starts_with("kcp ") || command.contains("[--") || command.contains('<') {
                continue;
            }
            // Up to a comment, a pipe, a redirection or a second command.
            let cut = [" #", " |", " >", " 2>", " &&", " ;"]
                .iter()
                .filter_map(|s| command.find(s))
                .min()
                .unwrap_or(command.len());
            let argv = words(&command[..cut]);
            checked += 1;
            if let Err(e) = kcp::cli::Cli::try_parse_from(&argv)
                && !matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                )
            {
                bad.push(format!(
                    "{}: `{}`: {}",
                    file.strip_prefix(repo()).unwrap().display(),
                    &command[..cut],
                    e.kind()
                ));
            }
        }
    }
    assert!(checked >= 30, "only {checked} examples found");
    assert!(
        bad.is_empty(),
        "examples that do not parse:\n{}",
        bad.join("\n")
    );
}

/// The rows of the table under `## Exit codes` in a Markdown file, as
/// (code, meaning).
fn exit_code_table(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Exit codes\n"))
        .unwrap_or_else(|| panic!("{file}: no `## Exit codes` section"));
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].to_owned(), cells[1..].join("|"))
        })
        .filter(|(code, _)| code.parse::<u8>().is_ok())
        .collect()
}

/// The exit-code tables of the docs say what the code does, both ways: a
/// status the code has is documented with its meaning, and a documented
/// code is one the code has.
#[test]
fn the_exit_code_tables_are_the_codes() {
    let code: Vec<(String, String)> = kcp::exit::ExitStatus::ALL
        .iter()
        .map(|s| (s.code().to_string(), s.meaning().to_owned()))
        .collect();
    for file in ["docs/commands/README.md", "ARCHITECTURE.md"] {
        let documented = exit_code_table(file);
        let missing: Vec<_> = code.iter().filter(|c| !documented.contains(c)).collect();
        let extra: Vec<_> = documented.iter().filter(|d| !code.contains(d)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}: the exit-code table differs from kcp::exit::ExitStatus::meaning\n\
             missing or different: {missing:?}\nnot in the code: {extra:?}"
        );
    }
}
