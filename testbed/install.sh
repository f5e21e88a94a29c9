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
#   $KCP_KAFKA_ROOT/<v>/libs    Apache Kafka <v> (4.1.1 and 3.9.1) from Maven
#                               Central through testbed/kafka/pom.xml, with
#                               Maven's own cache in $KCP_CACHE/m2. ~20-60 s
#                               cold; brokers are run by testbed/kafka.sh.
#   $KCP_CACHE/schema-registry  Apicurio Registry 2.4.2 (a Confluent-compatible
#                               Schema Registry) built from Maven Central by
#                               testbed/schema-registry/pom.xml. ~40 s cold.
#   $KCP_CACHE/gateway-java     testbed/gateway-java/GatewayClients.java (Java
#                               producer and consumer for the gateway's
#                               proof) compiled with javac. ~3 s cold.
#   /usr/bin/chromium           Debian's chromium (apt-get, as root) for the
#                               HTML report test, when missing.
#   $KCP_CACHE/go-bin/hclfmt    hashicorp/hcl's formatter, built from the Go
#                               module proxy only where terraform is missing.
#
# Defaults: KCP_CACHE=~/.cache/kcp, KCP_TESTBED_DIR=$KCP_CACHE/testbed,
# KCP_KAFKA_ROOT=$KCP_CACHE/kafka, KCP_KAFKA_VERSIONS="4.1.1 3.9.1",
# KCP_JAVA = the first Java 17+ of $JAVA_HOME, PATH and /usr/lib/jvm. The
# Rust tests look in the same default places when the exported variables
# are not set.
#
# Needs python3 with venv (Debian: python3-venv), a JDK 17+, Maven and, where
# terraform is missing, Go; installing those is the CI script's job.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KCP_CACHE:-$HOME/.cache/kcp}"
testbed_dir="${KCP_TESTBED_DIR:-$cache/testbed}"
# The releases the test bed runs: the newest line first (the default and
# the target side), then a 3.x release (the source side).
kafka_versions="${KCP_KAFKA_VERSIONS:-4.1.1 3.9.1}"
kafka_root="${KCP_KAFKA_ROOT:-$cache/kafka}"
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

# --- Apache Kafka ----------------------------------------------------------------
# One folder per release, $kafka_root/<version>/libs, filled by Maven from
# testbed/kafka/pom.xml (the broker, the storage tool, the command-line tools
# and their runtime dependencies). The newest line (4.x) plays the target
# side, 3.x (what most MSK clusters run) the source side. Skipped while the
# stamp holds the pom's sha256 and the version.
java_ok() { "$1" -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; }
java_bin="${KCP_JAVA:-}"
if [[ -z "$java_bin" ]]; then
  for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" java /usr/lib/jvm/*/bin/java; do
    [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1 && java_ok "$candidate" && {
      java_bin="$(command -v "$candidate")"
      break
    }
  done
fi
[[ -n "$java_bin" ]] && java_ok "$java_bin" || {
  log "no Java 17 or newer found (Kafka 4.x brokers need it): install a JDK or set KCP_JAVA"
  exit 1
}
command -v mvn >/dev/null 2>&1 || {
  log "mvn not found: install Maven (Debian: maven) to fetch Kafka from Maven Central"
  exit 1
}
pom_sum="$(sha256sum "$here/kafka/pom.xml" | cut -d' ' -f1)"
for version in $kafka_versions; do
  libs="$kafka_root/$version/libs"
  stamp="$kafka_root/$version/.stamp"
  step "kafka $version: checking $libs"
  if [[ -f "$stamp" && "$(<"$stamp")" == "$pom_sum $version" && -f "$libs/kafka_2.13-$version.jar" ]]; then
    step_done "kafka $version present"
    continue
  fi
  rm -rf "$kafka_root/$version" && mkdir -p "$kafka_root/$version"
  log "fetching kafka $version and its dependencies from Maven Central"
  # Maven 3.8 prints colour resets even in batch mode: strip them.
  mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" -Dmaven.repo.local="$cache/m2" \
    -Dkafka.version="$version" -P "kafka${version%%.*}" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.tmp" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >&2 || {
    log "mvn could not fetch kafka $version (see above)"
    exit 1
  }
  mv "$libs.tmp" "$libs"
  printf '%s %s\n' "$pom_sum" "$version" >"$stamp"
  step_done "kafka $version installed ($(ls "$libs" | wc -l) jars)"
done

# --- Kafka Connect's FileStream connectors -------------------------------------
# `kafka.sh connect` runs Connect workers from each release's libs/ (which
# connect-mirror brought: connect-runtime and MirrorMaker's connectors) plus
# `plugins/`: the FileStream source and sink (connect-file), real connectors
# the Connect tests create, and the REST API's basic auth extension. Kept apart from libs/ so the pom's stamp (and
# every other test bed's Kafka) is untouched. ~5 s cold.
for version in $kafka_versions; do
  plugins="$kafka_root/$version/plugins"
  step "kafka $version: checking $plugins"
  if [[ -f "$plugins/connect-file-$version.jar" && -f "$plugins/connect-basic-auth-extension-$version.jar" ]]; then
    step_done "connect plugins $version present"
    continue
  fi
  for artifact in connect-file connect-basic-auth-extension; do
    mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$cache/m2" \
      dependency:copy -Dartifact="org.apache.kafka:$artifact:$version" -DoutputDirectory="$plugins.tmp" 2>&1 |
      sed 's/\x1b\[[0-9;]*m//g' >&2 || {
      log "mvn could not fetch $artifact $version (see above)"
      exit 1
    }
  done
  rm -rf "$plugins" && mv "$plugins.tmp" "$plugins"
  step_done "connect plugins $version installed"
done

# --- The Java gateway clients ---------------------------------------------------
# testbed/gateway-java/GatewayClients.java (the Java twin of
# gateway_clients.py, for the gateway's proof tests), compiled with javac
# against the newest release's kafka-clients jar into
# $KCP_CACHE/gateway-java/classes; run with that folder and the release's
# libs/ on the class path. Skipped while the stamp holds the source's
# sha256 and the release. ~3 s cold.
gw_java_dir="$cache/gateway-java"
gw_java_release="${kafka_versions%% *}"
gw_java_src="$here/gateway-java/GatewayClients.java"
gw_java_sum="$(sha256sum "$gw_java_src" | cut -d' ' -f1) $gw_java_release"
step "java gateway clients: checking $gw_java_dir/classes"
if [[ -f "$gw_java_dir/.stamp" && "$(<"$gw_java_dir/.stamp")" == "$gw_java_sum" && -f "$gw_java_dir/classes/GatewayClients.class" ]]; then
  step_done "java gateway clients present"
else
  javac_bin="$(dirname "$java_bin")/javac"
  [[ -x "$javac_bin" ]] || javac_bin="$(command -v javac || true)"
  [[ -n "$javac_bin" ]] || {
    log "javac not found next to $java_bin nor on PATH: install a JDK (not only a JRE)"
    exit 1
  }
  clients_jar="$kafka_root/$gw_java_release/libs/kafka-clients-$gw_java_release.jar"
  [[ -f "$clients_jar" ]] || {
    log "$clients_jar is missing: the Kafka step above did not install $gw_java_release"
    exit 1
  }
  rm -rf "$gw_java_dir" && mkdir -p "$gw_java_dir/classes.tmp"
  "$javac_bin" -Xlint:all -Werror -d "$gw_java_dir/classes.tmp" -cp "$clients_jar" "$gw_java_src" >&2 || {
    log "javac could not compile $gw_java_src (see above)"
    exit 1
  }
  mv "$gw_java_dir/classes.tmp" "$gw_java_dir/classes"
  printf '%s\n' "$gw_java_sum" >"$gw_java_dir/.stamp"
  step_done "java gateway clients compiled"
fi

# --- A Confluent-compatible Schema Registry ------------------------------------
# Apicurio Registry (its Confluent API, /apis/ccompat/v7), built into a
# runnable Quarkus application from its Maven Central artifacts by
# testbed/schema-registry/pom.xml; in-memory storage, so each process is an
# empty registry. Run by the Rust tests (tests/support) as
# `java -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port=P -jar $jar`.
# Skipped while the stamp holds the pom's sha256. ~40 s cold.
sr_dir="${KCP_SCHEMA_REGISTRY_DIR:-$cache/schema-registry}"
sr_jar="$sr_dir/schema-registry-1-runner.jar"
sr_sum="$(sha256sum "$here/schema-registry/pom.xml" | cut -d' ' -f1)"
step "schema registry: checking $sr_jar"
if [[ -f "$sr_dir/.stamp" && "$(<"$sr_dir/.stamp")" == "$sr_sum" && -f "$sr_jar" ]]; then
  step_done "schema registry present"
else
  rm -rf "$sr_dir" "$sr_dir.build" && mkdir -p "$sr_dir.build"
  cp "$here/schema-registry/pom.xml" "$sr_dir.build/pom.xml"
  log "building Apicurio Registry from its Maven Central artifacts"
  # Quarkus 2.16's build step looks for container runtimes; none is needed.
  mvn -q -B -Dstyle.color=never -f "$sr_dir.build/pom.xml" -Dmaven.repo.local="$cache/m2" \
    -DskipTests package 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2 || {
    log "mvn could not build the schema registry (see above)"
    exit 1
  }
  mkdir -p "$sr_dir"
  mv "$sr_dir.build/target/schema-registry-1-runner.jar" "$sr_jar"
  mv "$sr_dir.build/target/lib" "$sr_dir/lib"
  rm -rf "$sr_dir.build"
  printf '%s\n' "$sr_sum" >"$sr_dir/.stamp"
  step_done "schema registry installed"
fi

# --- Chromium ---------------------------------------------------------------------
# The HTML reports are rendered and screenshotted in headless Chromium by a
# test. Debian's package; installed here when missing and allowed (root).
step "chromium: checking /usr/bin/chromium"
if [[ -x /usr/bin/chromium ]]; then
  step_done "chromium present"
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's chromium"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  step_done "chromium installed"
else
  log "chromium is missing: install Debian's chromium (apt-get install chromium); the HTML report test needs it"
  exit 1
fi

# --- An HCL formatter for `terraform fmt -check` -----------------------------
# The create-asset tests check every generated Terraform file with
# `terraform fmt -check`. Where the machine has no terraform (it is in no
# registry this project reaches, and its go.mod's replace directives keep
# `go install` from building it), hashicorp/hcl's hclfmt is built from the Go
# module proxy instead: the same formatter (hclwrite) that terraform fmt
# applies, and it agrees with terraform fmt on every snapshot and on
# misformatted variants of them (checked when it was chosen).
hclfmt_version="v2.24.0"
hclfmt_bin="$cache/go-bin/hclfmt"
if command -v terraform >/dev/null 2>&1; then
  log "terraform found: $(command -v terraform)"
elif [[ -x "$hclfmt_bin" && "$(cat "$hclfmt_bin.version" 2>/dev/null)" == "$hclfmt_version" ]]; then
  log "hclfmt $hclfmt_version present"
else
  command -v go >/dev/null 2>&1 || {
    log "neither terraform nor go found: the create-asset tests need a Terraform formatter"
    exit 1
  }
  step "building hclfmt $hclfmt_version from the Go module proxy (no terraform on this machine)"
  GOBIN="$cache/go-bin" go install "github.com/hashicorp/hcl/v2/cmd/hclfmt@$hclfmt_version" >&2
  printf '%s\n' "$hclfmt_version" >"$hclfmt_bin.version"
  step_done "hclfmt built"
fi

log "test bed ready in $((SECONDS - started_all))s"

# --- For the caller's shell ----------------------------------------------------
printf 'export KCP_KAFKA_ROOT=%q\n' "$kafka_root"
printf 'export KCP_KAFKA_VERSIONS=%q\n' "$kafka_versions"
printf 'export KCP_JAVA=%q\n' "$java_bin"
printf 'export KCP_SCHEMA_REGISTRY_JAR=%q\n' "$sr_jar"
printf 'export KCP_GATEWAY_JAVA_CLASSES=%q\n' "$gw_java_dir/classes"
printf 'export KCP_CHROMIUM=%q\n' /usr/bin/chromium
command -v terraform >/dev/null 2>&1 || printf 'export KCP_HCLFMT=%q\n' "$hclfmt_bin"
printf 'export KCP_TESTBED_PYTHON=%q\n' "$python"
printf 'export KCP_TESTBED_DIR=%q\n' "$testbed_dir"
