//! The Dockerfile cannot rot: no container engine runs here, so these tests
//! read the Dockerfile and `.dockerignore` and do outside a container what
//! an engine would do with them.
//!
//! - Its shape: both base images pinned by version and digest, one Debian
//!   release for both stages, a final stage without a shell (no `RUN`, an
//!   exec-form entrypoint), a numeric non-root user that is the one the
//!   generated Deployment runs as.
//! - Its build: the build stage's `COPY . .` copies the build context (the
//!   repository filtered by `.dockerignore`) into a folder, its `RUN`
//!   commands run there as written (same cargo command line and features,
//!   with only the target directory shared with the tests'), the binary
//!   the final stage copies runs (`kcp version`), and every shared library
//!   it links (`ldd`) is one that the runtime base image carries.
//!
//! What the runtime base carries is listed here from its definition
//! (GoogleContainerTools/distroless, `base/config.bzl` and `cc/config.bzl`
//! for debian13): Debian's libc6, libssl3t64, zlib1g and libzstd1 in
//! `base`, libgcc-s1, libstdc++6 and libgomp1 added by `cc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::repo;

/// The runtime base image, without its digest.
const RUNTIME_BASE: &str = "gcr.io/distroless/cc-debian13:nonroot";

/// The shared objects in [`RUNTIME_BASE`], by Debian package.
const RUNTIME_LIBRARIES: &[(&str, &[&str])] = &[
    (
        "libc6",
        &[
            "libc.so.6",
            "libm.so.6",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
            "libresolv.so.2",
            "ld-linux-x86-64.so.2",
            "ld-linux-aarch64.so.1",
        ],
    ),
    ("libssl3t64", &["libssl.so.3", "libcrypto.so.3"]),
    ("zlib1g", &["libz.so.1"]),
    ("libzstd1", &["libzstd.so.1"]),
    ("libgcc-s1", &["libgcc_s.so.1"]),
    ("libstdc++6", &["libstdc++.so.6"]),
    ("libgomp1", &["libgomp.so.1"]),
];

/// One instruction: its keyword (upper case) and the rest of the line.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// One stage: its `FROM` image, its name and its instructions.
#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    body: Vec<Instruction>,
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.body
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    }

    fn last<'a>(&'a self, keyword: &'a str) -> Option<&'a str> {
        self.all(keyword).last()
    }
}

/// The Dockerfile's stages (comments dropped, continuation lines joined).
fn stages(text: &str) -> Vec<Stage> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in lines {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let (keyword, args) = (keyword.to_uppercase(), args.trim().to_owned());
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => panic!("Dockerfile: `FROM {args}`: expected `FROM image [AS name]`"),
            };
            stages.push(Stage {
                image: words[0].to_owned(),
                name,
                body: Vec::new(),
            });
        } else {
            let stage = stages
                .last_mut()
                .unwrap_or_else(|| panic!("Dockerfile: `{keyword}` before the first FROM"));
            stage.body.push(Instruction { keyword, args });
        }
    }
    stages
}

fn dockerfile() -> Vec<Stage> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("read the Dockerfile");
    let stages = stages(&text);
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    stages
}

/// `image:tag@sha256:digest` → (image, tag, digest).
fn pinned(image: &str) -> (&str, &str, &str) {
    let (name, digest) = image
        .split_once("@sha256:")
        .unwrap_or_else(|| panic!("`{image}` is not pinned by digest (`@sha256:…`)"));
    assert!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "`{image}`: a sha256 digest has 64 hex digits"
    );
    let (repo, tag) = name
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("`{image}` has no tag: pin a version too"));
    (repo, tag, digest)
}

#[test]
fn the_dockerfile_pins_its_bases_and_runs_without_root_or_shell() {
    let stages = dockerfile();
    let (build, run) = (&stages[0], &stages[1]);

    // The build image: an exact Rust version (not `1` or `latest`), at or
    // above the crate's rust-version, on Debian 13 like the runtime base.
    let (image, tag, _) = pinned(&build.image);
    assert_eq!(image, "rust", "{}", build.image);
    let version = regex::Regex::new(r"^(\d+)\.(\d+)\.(\d+)-trixie$").unwrap();
    let v = version.captures(tag).unwrap_or_else(|| {
        panic!("`{tag}`: the Rust image's tag is an exact version on Debian 13: `1.x.y-trixie`")
    });
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let msrv = regex::Regex::new(r#"(?m)^rust-version = "(\d+)\.(\d+)""#)
        .unwrap()
        .captures(&manifest)
        .expect("rust-version in Cargo.toml");
    let number = |c: &regex::Captures<'_>, i: usize| c[i].parse::<u32>().unwrap();
    assert!(
        (number(&v, 1), number(&v, 2)) >= (number(&msrv, 1), number(&msrv, 2)),
        "the build image's Rust {tag} is older than rust-version {}.{}",
        &msrv[1],
        &msrv[2]
    );

    // The runtime image: distroless has no version tags; its name carries
    // the Debian release, and the digest pins the rest.
    let (image, tag, _) = pinned(&run.image);
    assert_eq!(format!("{image}:{tag}"), RUNTIME_BASE, "{}", run.image);

    // No shell needed at run time: nothing runs in the final stage, and the
    // entrypoint is an exec form (a JSON array), not a shell command.
    let allowed = [
        "COPY",
        "ENV",
        "USER",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
        "LABEL",
    ];
    for i in &run.body {
        assert!(
            allowed.contains(&i.keyword.as_str()),
            "the runtime stage has `{} {}`: it may only hold {allowed:?}",
            i.keyword,
            i.args
        );
    }
    let entrypoint: Vec<String> = serde_json::from_str(run.last("ENTRYPOINT").unwrap())
        .expect("ENTRYPOINT in exec form: a JSON array");
    assert_eq!(entrypoint, ["/usr/local/bin/kcp"]);
    // Only the binary is copied in (the CA certificates are the base's).
    let copies: Vec<&str> = run.all("COPY").collect();
    assert_eq!(
        copies,
        [format!(
            "--from={} /src/target/release/kcp /usr/local/bin/kcp",
            build.name.as_deref().unwrap()
        )]
    );

    // A numeric user and group (runAsNonRoot checks only numbers), not
    // root, and the one the generated Deployment runs as.
    let user = run.last("USER").expect("a USER in the runtime stage");
    let (uid, gid) = user
        .split_once(':')
        .unwrap_or_else(|| panic!("USER {user}: give uid:gid as numbers"));
    let (uid, gid): (u32, u32) = (
        uid.parse().expect("a numeric uid"),
        gid.parse().expect("a numeric gid"),
    );
    assert!(uid != 0 && gid != 0, "USER {user} is root");
    // The pod security settings are one partial that every generated
    // Deployment running kcp (the replicator's, the gateway's) includes.
    let security =
        std::fs::read_to_string(repo().join("templates/assets/kubernetes/pod-security.yaml.j2"))
            .unwrap();
    assert!(
        security.contains(&format!("runAsUser: {uid}"))
            && security.contains(&format!("runAsGroup: {gid}")),
        "the generated Deployments run as another user than the image's {user}"
    );
    for asset in ["replicator", "gateway"] {
        let pod = std::fs::read_to_string(
            repo().join(format!("templates/assets/{asset}/kubernetes.yaml.j2")),
        )
        .unwrap();
        assert!(
            pod.contains(r#"{% include "kubernetes/pod-security.yaml.j2" %}"#),
            "the {asset} Deployment takes the shared pod security settings"
        );
        assert!(
            pod.contains(r#"("kcp:" ~ version)"#),
            "the {asset} Deployment runs kcp:<version>, the tag the docs build"
        );
    }
}

/// `.dockerignore`: (pattern, negated) in order; the last match wins.
fn ignore_rules() -> Vec<(regex::Regex, bool)> {
    let text = std::fs::read_to_string(repo().join(".dockerignore")).expect("read .dockerignore");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (negated, pattern) = match l.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, l),
            };
            let pattern = pattern.trim_matches('/');
            assert!(
                !pattern.contains(['[', '\\']),
                ".dockerignore: `{l}`: this test knows `*`, `**`, `?` and `!` only"
            );
            let mut re = String::from("^");
            let mut rest = pattern;
            while let Some(c) = rest.chars().next() {
                if let Some(after) = rest.strip_prefix("**") {
                    re.push_str(".*");
                    rest = after;
                    continue;
                }
                match c {
                    '*' => re.push_str("[^/]*"),
                    '?' => re.push_str("[^/]"),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
                rest = &rest[c.len_utf8()..];
            }
            re.push('$');
            (regex::Regex::new(&re).unwrap(), negated)
        })
        .collect()
}

/// Whether Docker sends `rel` (a path from the repository root) to the
/// build: a pattern matches a path or any folder above it.
fn in_context(rules: &[(regex::Regex, bool)], rel: &str) -> bool {
    let mut prefixes = rel
        .match_indices('/')
        .map(|(i, _)| &rel[..i])
        .collect::<Vec<_>>();
    prefixes.push(rel);
    let mut included = true;
    for (re, negated) in rules {
        if prefixes.iter().any(|p| re.is_match(p)) {
            included = *negated;
        }
    }
    included
}

/// Copies the build context into `to`, keeping modification times (so that
/// cargo sees unchanged files as unchanged from one run to the next).
fn copy_context(rules: &[(regex::Regex, bool)], from: &Path, to: &Path) -> usize {
    let mut copied = 0;
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(from.join(&dir)).unwrap() {
            let entry = entry.unwrap();
            let rel = dir.join(entry.file_name());
            let rel_text = rel.to_str().expect("UTF-8 paths");
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                // Only descend where a rule could take something back in.
                let reachable = in_context(rules, rel_text)
                    || rules.iter().any(|(re, negated)| {
                        *negated
                            && re
                                .as_str()
                                .starts_with(&format!("^{}/", regex::escape(rel_text)))
                    });
                if reachable && rel_text != ".git" {
                    dirs.push(rel);
                }
            } else if kind.is_file() && in_context(rules, rel_text) {
                let target = to.join(&rel);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(entry.path(), &target).unwrap();
                let modified: SystemTime = entry.metadata().unwrap().modified().unwrap();
                std::fs::File::options()
                    .write(true)
                    .open(&target)
                    .and_then(|f| f.set_modified(modified))
                    .unwrap();
                copied += 1;
            }
        }
    }
    copied
}

/// This test binary's target directory (`<target>/debug/deps/cli-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// `ENV NAME=value` (one pair per instruction, as the Dockerfile writes them).
fn env_of(stage: &Stage) -> BTreeMap<String, String> {
    stage
        .all("ENV")
        .map(|e| {
            let (k, v) = e.split_once('=').expect("ENV NAME=value");
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_outside_a_container_into_a_binary_its_runtime_base_can_run() {
    let stages = dockerfile();
    let (build, run) = (&stages[0], &stages[1]);
    let rules = ignore_rules();
    for path in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        assert!(in_context(&rules, path), ".dockerignore leaves out {path}");
    }
    for path in [".git/HEAD", "target/debug/kcp", "tests/cli/main.rs"] {
        assert!(!in_context(&rules, path), ".dockerignore sends {path}");
    }

    // COPY . . into WORKDIR: the context, copied into a folder of its own.
    let target = target_dir();
    let workdir = build.last("WORKDIR").expect("a WORKDIR in the build stage");
    let context = target.join("dockerfile-context");
    if context.exists() {
        std::fs::remove_dir_all(&context).unwrap();
    }
    let mut ran = 0;
    let started = Instant::now();
    for i in &build.body {
        match i.keyword.as_str() {
            "WORKDIR" | "ENV" => {}
            "COPY" => {
                assert_eq!(i.args, ". .", "this test knows `COPY . .` only");
                let files = copy_context(&rules, repo(), &context);
                assert!(files > 10, "the context has {files} files");
            }
            "RUN" => {
                // As a container would run it: a shell in WORKDIR, the
                // stage's ENV, no other variables but those locating the
                // toolchain, and the target directory the tests use.
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut path = std::env::var("PATH").unwrap_or_default();
                if let Some(dir) = Path::new(&cargo).parent().filter(|d| d.is_absolute()) {
                    path = format!("{}:{path}", dir.display());
                }
                let mut cmd = Command::new("sh");
                cmd.args(["-c", &i.args])
                    .current_dir(&context)
                    .env_clear()
                    .env("PATH", path)
                    .env("CARGO_TARGET_DIR", &target)
                    .envs(env_of(build));
                for var in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
                    if let Some(v) = std::env::var_os(var) {
                        cmd.env(var, v);
                    }
                }
                let out = cmd.output().expect("run sh");
                assert!(
                    out.status.success(),
                    "Dockerfile `RUN {}` failed ({}):\n{}",
                    i.args,
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                ran += 1;
            }
            other => panic!("this test does not know `{other}` in the build stage"),
        }
    }
    assert!(ran > 0, "the build stage runs nothing");
    eprintln!(
        "the Dockerfile's build commands took {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // The file the final stage copies, from WORKDIR/target/… to the
    // target directory the build used.
    let copy = run.last("COPY").unwrap();
    let source = copy.split_whitespace().nth(1).unwrap();
    let rel = source
        .strip_prefix(&format!("{workdir}/target/"))
        .unwrap_or_else(|| panic!("COPY {copy}: expected a file under {workdir}/target/"));
    let binary = target.join(rel);
    let out = Command::new(&binary)
        .arg("version")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kcp version: {out:?}");
    assert!(
        stdout.starts_with(&format!("kcp {}\n", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );

    // Every shared library the binary links is in the runtime base.
    let out = Command::new("ldd")
        .arg(&binary)
        .output()
        .expect("run ldd (Debian's libc-bin)");
    assert!(out.status.success(), "ldd: {out:?}");
    let listing = String::from_utf8_lossy(&out.stdout);
    let known: Vec<&str> = RUNTIME_LIBRARIES
        .iter()
        .flat_map(|(_, libs)| libs.iter().copied())
        .collect();
    let mut linked = Vec::new();
    for line in listing.lines() {
        let soname = line.split_whitespace().next().unwrap_or_default();
        let soname = soname.rsplit('/').next().unwrap_or_default();
        if soname.is_empty() || soname.starts_with("linux-vdso") {
            continue;
        }
        assert!(!line.contains("not found"), "{line}");
        assert!(
            known.contains(&soname),
            "kcp links {soname}, which {RUNTIME_BASE} does not carry: link it statically \
             (a `-static`/`-vendored` feature) or choose another base\n{listing}"
        );
        linked.push(soname.to_owned());
    }
    for needed in ["libc.so.6", "libssl.so.3", "libz.so.1"] {
        assert!(
            linked.iter().any(|l| l == needed),
            "ldd lists no {needed}: {listing}"
        );
    }
}
