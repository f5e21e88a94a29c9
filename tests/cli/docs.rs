//! The docs keep up with the code: every flag of every command is on its
//! page under `docs/commands/`, global options on the index page, and every
//! relative link in the Markdown files resolves.

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

#[test]
fn relative_links_resolve() {
    let re = regex::Regex::new(r"\]\(([^)\s#]+)(#[^)]*)?\)").unwrap();
    let mut files = vec![repo().join("README.md"), repo().join("ARCHITECTURE.md")];
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
    walk(&repo().join("docs"), &mut files);
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
