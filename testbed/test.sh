#!/usr/bin/env bash
# Runs the whole test suite against the test bed: doc tests, unit tests,
# integration tests on real Apache Kafka brokers and moto, and snapshot
# tests. Installs the test bed first when it is missing (cached under
# ~/.cache/kcp). Benchmarks are not run here (`cargo bench`); clippy
# --all-targets compiles them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"
eval "$(bash testbed/install.sh)"
cargo test --locked --doc --quiet
# The Dockerfile's build commands (tests/cli/image.rs, a release build)
# first, outside the suite's time limit: on a machine without release
# artefacts they build every dependency (tens of minutes on 2 busy cores);
# the suite below then runs the same test again in seconds.
cargo test --locked --test cli image::
# The main suite runs last so its summary closes the output.
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast --lib --bins --tests
else
  # A hung test (a deadlocked client library, a broker that never answers)
  # fails the run after 40 minutes instead of eating the CI budget.
  timeout --kill-after=30s 40m cargo test --locked --no-fail-fast --lib --bins --tests
fi
