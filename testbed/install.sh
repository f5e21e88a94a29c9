#!/usr/bin/env bash
# Installs the test bed, pinned, into a cache outside the repository, and
# prints `export` lines for it:   eval "$(bash testbed/install.sh)"
#
#   $KCP_CACHE/tansu-0.6.0/bin/tansu   Tansu 0.6.0 with the SQLite engine
#                                      (cargo install, ~9 min cold; skipped when
#                                      the cached binary reports 0.6.0)
#   $KCP_CACHE/testbed/venv            Python venv with moto 5.2.5 & co.
#                                      (skipped when requirements.txt is unchanged)
#
# KCP_CACHE defaults to ~/.cache/kcp. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KCP_CACHE:-$HOME/.cache/kcp}"
tansu_root="$cache/tansu-0.6.0"
tansu="$tansu_root/bin/tansu"
venv="$cache/testbed/venv"
mkdir -p "$cache/testbed"

log() { printf '[testbed] %s\n' "$*" >&2; }

# --- Tansu -------------------------------------------------------------------
if [[ -x "$tansu" ]] && "$tansu" --version 2>/dev/null | grep -q '^tansu 0\.6\.0$'; then
  log "tansu 0.6.0 cached at $tansu"
else
  log "building tansu 0.6.0 with the SQLite engine (about 9 minutes on 2 cores)"
  started=$SECONDS
  # A private target dir keeps Tansu's 1.5 GB of artefacts out of ours; it is
  # removed afterwards since only the binary is needed.
  CARGO_TARGET_DIR="$cache/tansu-build" cargo install tansu --version 0.6.0 --locked \
    --features libsql --root "$tansu_root" --quiet >&2
  rm -rf "$cache/tansu-build"
  "$tansu" --version | grep -q '^tansu 0\.6\.0$' || { log "unexpected tansu version"; exit 1; }
  log "tansu built in $((SECONDS - started))s"
fi

# --- Python venv -------------------------------------------------------------
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "python venv cached at $venv"
else
  log "creating python venv with moto 5.2.5"
  started=$SECONDS
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" >"$stamp"
  log "venv ready in $((SECONDS - started))s"
fi

cat <<EXPORTS
export KCP_TANSU_BIN="$tansu"
export KCP_TESTBED_PYTHON="$venv/bin/python"
export KCP_TESTBED_DIR="$here"
EXPORTS
