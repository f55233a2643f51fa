#!/usr/bin/env bash
# deps.sh - installs what building and testing need, idempotently (Debian 12).
#
# usage: scripts/deps.sh
#
#   1. Debian packages: the C libraries, MariaDB, Redis and redis-sentinel (the failover
#      tests), OpenSSL, curl, jq; a Java runtime and Maven only when `java` / `mvn` are
#      missing. Nothing is installed (and `apt-get update` does not run) when everything is
#      present. Needs root (or sudo) only to install.
#      Package maintainer scripts are told not to start the system MariaDB/Redis services:
#      the harness and `make run` start their own on private ports.
#   2. schemathesis (the OpenAPI fuzzer of tests/e2e_fuzz.c) from PyPI into a virtualenv
#      .deps/schemathesis-<version>/ (gitignored), every package pinned by
#      scripts/fuzz-requirements.txt; skipped when that set is installed. When PyPI cannot be
#      reached this is not fatal here: tests/e2e_fuzz.c then fails on CI (CI=true) and is
#      skipped with a message elsewhere.
#   3. the CloudEvents SDK and a Kafka client (tests/e2e_cloudevents.c) from PyPI into a
#      virtualenv .deps/cloudevents-<version>/ (gitignored), every package pinned by
#      tests/sdk/requirements.txt; skipped when installed; not fatal either (the test then
#      fails on CI and is skipped elsewhere).
#   4. Apache Kafka 3.7.2 jars from Maven Central into .deps/kafka-3.7.2/libs (gitignored)
#      with scripts/kafka-pom.xml, skipped when present. With no JDK or Maven the harness
#      falls back to librdkafka's mock cluster (tools/mock-kafka.c), so this is not fatal.
#
# Environment: SKIP_SCHEMATHESIS=1 skips step 2, SKIP_CLOUDEVENTS=1 step 3, SKIP_KAFKA_JARS=1
# step 4.

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_VERSION=3.7.2
KAFKA_LIBS="$ROOT/.deps/kafka-$KAFKA_VERSION/libs"

REQUIRED=(build-essential pkg-config librdkafka-dev libmicrohttpd-dev libmariadb-dev
          libhiredis-dev libcjson-dev libcmocka-dev libssl-dev libcurl4-openssl-dev uuid-dev
          libargon2-dev mariadb-server redis-server redis-sentinel openssl curl jq docker-compose
          prometheus json-schema-test-suite clang-format)

log() { printf 'deps: %s\n' "$*" >&2; }

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt-get as root, or through sudo; fails with a clear message otherwise.
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            log "missing packages: $* — run as root (or with passwordless sudo) to install them"
            return 1
        fi
    fi
    # a policy-rc.d that forbids starting services while packages are configured, so
    # installing mariadb-server/redis-server does not leave system daemons on 3306/6379
    local policy=/usr/sbin/policy-rc.d placed=0
    if [ ! -e "$policy" ]; then
        "${sudo[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        placed=1
    fi
    local rc=0
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
        APT_UPDATED=1
    fi
    if [ "$rc" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "$@" || rc=$?
    fi
    if [ "$placed" -eq 1 ]; then
        "${sudo[@]}" rm -f "$policy"
    fi
    return "$rc"
}

APT_UPDATED=0

# ---- 1. Debian packages ----
if ! command -v dpkg-query >/dev/null 2>&1; then
    log "dpkg-query not found: this installer knows Debian only; install the packages by hand:"
    log "  ${REQUIRED[*]}"
    exit 1
fi

missing=()
for pkg in "${REQUIRED[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt_install "${missing[@]}" || { log "failed to install: ${missing[*]}"; exit 1; }
fi

# Java and Maven only serve the Apache Kafka broker; without them the mock broker is used.
optional=()
command -v java >/dev/null 2>&1 || optional+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || optional+=(maven)
if [ "${#optional[@]}" -gt 0 ]; then
    log "installing: ${optional[*]}"
    apt_install "${optional[@]}" ||
        log "note: could not install ${optional[*]}; tests will use the mock Kafka broker"
fi

# ---- 2. and 3. Python tools in virtualenvs ----
# venv_install NAME REQUIREMENTS CHECK...: a virtualenv .deps/NAME-<version of NAME pinned in
# REQUIREMENTS>/ with every package of REQUIREMENTS; complete when its marker holds the
# requirements file's checksum and CHECK (a command run with the venv's bin/ first) passes.
venv_install() {
    local name=$1 req=$2 venv sum py
    shift 2
    venv="$ROOT/.deps/$name-$(sed -n "s/^$name==//p" "$req")"
    sum=$(sha256sum "$req" | cut -d' ' -f1)
    if [ "$(cat "$venv/.complete" 2>/dev/null)" = "$sum" ] && PATH="$venv/bin:$PATH" "$@" >/dev/null 2>&1; then
        return 0
    fi
    log "installing $name into ${venv#"$ROOT"/} (${req#"$ROOT"/})"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    py=$(command -v python3 || true)
    if [ -z "$py" ] || ! "$py" -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 makes virtualenvs only with python3-venv
        rm -rf "$venv"
        apt_install python3 python3-venv || true
        py=/usr/bin/python3
        "$py" -m venv "$venv" || { log "note: cannot make a Python virtualenv: $name is not installed"; return 1; }
    fi
    if "$venv/bin/pip" install -q --disable-pip-version-check --timeout 30 --retries 2 \
            -r "$req" >"$venv.log" 2>&1 && PATH="$venv/bin:$PATH" "$@" >/dev/null; then
        echo "$sum" >"$venv/.complete"
        return 0
    fi
    tail -n 20 "$venv.log" >&2 || true
    rm -rf "$venv"
    log "note: could not install $name from PyPI (log: ${venv#"$ROOT"/}.log)"
    return 1
}

if [ "${SKIP_SCHEMATHESIS:-0}" != 1 ]; then
    if venv_install schemathesis "$ROOT/scripts/fuzz-requirements.txt" schemathesis --version; then
        log "schemathesis: $(sed -n 's/^schemathesis==//p' "$ROOT/scripts/fuzz-requirements.txt")"
    else
        log "note: the OpenAPI fuzz test fails on CI and is skipped elsewhere"
    fi
fi
if [ "${SKIP_CLOUDEVENTS:-0}" != 1 ]; then
    if venv_install cloudevents "$ROOT/tests/sdk/requirements.txt" \
            python -c 'import cloudevents.core.bindings.kafka, confluent_kafka'; then
        log "cloudevents SDK: $(sed -n 's/^cloudevents==//p' "$ROOT/tests/sdk/requirements.txt")"
    else
        log "note: the CloudEvents SDK round trip fails on CI and is skipped elsewhere"
    fi
fi

# ---- 4. Apache Kafka jars (last: it ends the script early) ----
if [ "${SKIP_KAFKA_JARS:-0}" = 1 ]; then
    exit 0
fi
if [ -f "$KAFKA_LIBS/.complete" ]; then
    exit 0
fi
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    log "note: no java/mvn; not fetching Kafka $KAFKA_VERSION — tests will use the mock broker"
    exit 0
fi

log "fetching Apache Kafka $KAFKA_VERSION jars into ${KAFKA_LIBS#"$ROOT"/}"
tmp="$KAFKA_LIBS.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$KAFKA_LIBS")"
mvn_log="$(dirname "$KAFKA_LIBS")/mvn.log"
if mvn -q -B -f "$ROOT/scripts/kafka-pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1 &&
   ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    touch "$KAFKA_LIBS/.complete"
    log "kafka jars: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) files"
else
    rm -rf "$tmp"
    log "note: maven could not fetch the Kafka jars (see $mvn_log); tests will use the mock broker"
    tail -n 20 "$mvn_log" >&2 || true
fi
exit 0
