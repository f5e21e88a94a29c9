#!/usr/bin/env bash
# Runs the whole test suite against the test bed: doc tests, unit tests,
# integration tests on real Tansu brokers and moto, and snapshot tests.
# Installs the test bed first when it is missing (cached under ~/.cache/kcp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"
eval "$(bash testbed/install.sh)"
cargo test --locked --doc --quiet
# The main suite runs last so its summary closes the output.
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast --all-targets
fi
