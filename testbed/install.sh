#!/usr/bin/env bash
# Installs the test bed, pinned, outside the repository, and prints `export`
# lines for it on stdout; progress and timings go to stderr:
#
#   eval "$(bash testbed/install.sh)"
#
# What and where (each step is skipped when its result is already there):
#   $KCP_TESTBED_DIR/venv       Python venv with testbed/requirements.txt
#                               (moto 5.2.5, cbor2, boto3, confluent-kafka);
#                               skipped while the stamp file holds the
#                               requirements' sha256. ~30-60 s cold.
#   $KCP_TANSU_ROOT/bin/tansu   Tansu 0.6.0 with the SQLite engine (`libsql`);
#                               skipped while the binary reports `tansu 0.6.0`
#                               and lists libsql among its storage engines.
#                               ~8.5 min cold on 2 cores.
#
# Defaults: KCP_CACHE=~/.cache/kcp, KCP_TESTBED_DIR=$KCP_CACHE/testbed,
# KCP_TANSU_ROOT=$KCP_CACHE/tansu-0.6.0. The Rust tests look in the same
# default places when the exported variables are not set.
#
# Needs python3 with venv (Debian: python3-venv), cargo, and a C toolchain
# (build-essential, pkg-config, libssl-dev); installing those is the CI
# script's job, not this one's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KCP_CACHE:-$HOME/.cache/kcp}"
testbed_dir="${KCP_TESTBED_DIR:-$cache/testbed}"
tansu_version="0.6.0"
tansu_root="${KCP_TANSU_ROOT:-$cache/tansu-$tansu_version}"
tansu_bin="$tansu_root/bin/tansu"
venv="$testbed_dir/venv"
python="$venv/bin/python"

log() { printf '[testbed] %s\n' "$*" >&2; }
started_all=$SECONDS
step_started=$SECONDS
step() { step_started=$SECONDS; log "$*"; }
step_done() { log "$* ($((SECONDS - step_started))s)"; }

mkdir -p "$testbed_dir"

# One install at a time per test-bed directory (e.g. CI and a developer's
# shell); the second waits for the first and then finds everything in place.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$testbed_dir/.install.lock"
  flock 9
fi

# --- Python venv -------------------------------------------------------------
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
step "python venv: checking $venv"
if [[ -x "$python" && -f "$stamp" && "$(<"$stamp")" == "$want" ]] && "$python" -c 'import sys' 2>/dev/null; then
  step_done "python venv up to date"
else
  if ! "$python" -c 'import sys' 2>/dev/null; then
    log "creating the venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || {
      log "python3 -m venv failed: install Debian's python3-venv"
      exit 1
    }
    "$python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  fi
  # Installing over an existing venv moves every pinned package to its pin.
  log "pip install -r testbed/requirements.txt"
  rm -f "$stamp"
  "$python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  "$python" -c 'import moto, cbor2, boto3, botocore, confluent_kafka' # fail here, not in a test
  printf '%s\n' "$want" >"$stamp.tmp" && mv "$stamp.tmp" "$stamp"
  step_done "python venv installed"
fi

# --- Tansu ---------------------------------------------------------------------
# `tansu --version` prints `tansu 0.6.0`; `tansu --help` ends with
# `Storage engines: libsql`. A default-feature build (null engine only) would
# accept produces and store nothing, so the engine list is checked too.
tansu_ok() {
  [[ -x "$tansu_bin" ]] &&
    [[ "$("$tansu_bin" --version 2>/dev/null)" == "tansu $tansu_version" ]] &&
    "$tansu_bin" --help 2>/dev/null | grep -q '^Storage engines:.*libsql'
}
step "tansu: checking $tansu_bin"
if tansu_ok; then
  step_done "tansu $tansu_version with libsql present"
else
  command -v cargo >/dev/null 2>&1 || {
    log "cargo not found: install Rust to build Tansu"
    exit 1
  }
  log "building tansu $tansu_version with the SQLite engine (about 8.5 min on 2 cores)"
  # A private target dir keeps Tansu's ~1.5 GB of build output away from the
  # project's CARGO_TARGET_DIR. It is kept if the build is interrupted (so a
  # rerun resumes) and removed once the binary is installed.
  # --force: replace a binary that exists but failed the checks above.
  CARGO_TARGET_DIR="$tansu_root.build" cargo install tansu --version "$tansu_version" --locked \
    --features libsql --root "$tansu_root" --force >&2
  rm -rf "$tansu_root.build"
  tansu_ok || {
    log "the built $tansu_bin does not report tansu $tansu_version with libsql"
    exit 1
  }
  step_done "tansu $tansu_version built"
fi

log "test bed ready in $((SECONDS - started_all))s"

# --- For the caller's shell ----------------------------------------------------
printf 'export KCP_TANSU_BIN=%q\n' "$tansu_bin"
printf 'export KCP_TESTBED_PYTHON=%q\n' "$python"
printf 'export KCP_TESTBED_DIR=%q\n' "$testbed_dir"
