#!/usr/bin/env bash
# test.sh - the `make test` driver: installs what is missing, builds the tests under
# ASan/UBSan, runs the unit tests, starts private MariaDB/Redis/Kafka (scripts/infra.sh), runs
# the integration and end-to-end tests one after another, stops everything it started (also
# on failure or Ctrl-C) and ends with one line "N passed, N failed".
#
# usage: scripts/test.sh [--unit-only]
#   --unit-only          build and run only the unit tests ($BUILD/tests/*/test_*)
# Environment:
#   TESTS=REGEX          run only the binaries whose path (e.g. "common/test_util",
#                        "e2e/e2e_saga") matches the extended regular expression
#   TEST_TIMEOUT=600     seconds per test binary before it is killed (counts as a failure)
#   KAFKA_BOOTSTRAP      use this broker instead of starting one (KAFKA_KIND=external)
#   INFRA_KAFKA=mock     force librdkafka's mock broker even where Apache Kafka is available
#   JOBS=2               make parallelism
#   HARNESS_BUILD        build folder (default build/asan)
# The state folder (server data and logs, each suite's output in logs/) is removed after a
# clean run and kept, with its path printed, when something failed.

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

UNIT_ONLY=0
for arg in "$@"; do
    case "$arg" in
    --unit-only) UNIT_ONLY=1 ;;
    *) echo "usage: $0 [--unit-only]   (TESTS=regex to select binaries)" >&2; exit 2 ;;
    esac
done

BUILD=${HARNESS_BUILD:-build/asan}
BUILD_DIR="$ROOT/$BUILD"
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
PASSED=0
FAILED=0
RESULTS=()
INFRA_STARTED=0
CURRENT_PID=""
FINISHED=0

STATE=$(mktemp -d "${TMPDIR:-/tmp}/commerce-test.XXXXXX")
mkdir -p "$STATE/logs"

say() { printf 'test: %s\n' "$*"; }

# Stops the running test binary (if any) and the servers; idempotent.
teardown() {
    if [ -n "$CURRENT_PID" ] && kill -0 "$CURRENT_PID" 2>/dev/null; then
        kill -TERM "$CURRENT_PID" 2>/dev/null || true
        wait "$CURRENT_PID" 2>/dev/null || true
    fi
    CURRENT_PID=""
    stop_private_stacks
    if [ "$INFRA_STARTED" -eq 1 ]; then
        INFRA_STARTED=0
        STATE_DIR="$STATE" bash scripts/infra.sh stop || say "warning: infra.sh stop failed"
    fi
}

# Prints the per-suite results and the final summary line; keeps or removes the state folder.
report() {
    local r
    echo
    echo "==== results ===="
    for r in "${RESULTS[@]}"; do
        echo "$r"
    done
    if [ "$FAILED" -gt 0 ]; then
        echo "state folder kept (server data, logs/): $STATE"
    else
        rm -rf "$STATE"
    fi
    echo "$PASSED passed, $FAILED failed"
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    teardown
    if [ "$FINISHED" -eq 0 ]; then
        # interrupted or an unexpected error in this script: count it, keep the logs
        FAILED=$((FAILED + 1))
        RESULTS+=("ABORT harness (exit $rc)")
        report
        [ "$rc" -eq 0 ] && rc=1
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# Takes down the private `make up` stacks (scripts/stack-private.sh) a suite left running,
# e.g. when its timeout killed it before its teardown (tests/e2e_prometheus.c).
stop_private_stacks() {
    local d
    for d in "$STATE"/stacks/*/; do
        [ -d "$d.run" ] || continue
        bash scripts/stack-private.sh down "${d%/}" >>"$STATE/logs/stacks.log" 2>&1 ||
            say "warning: could not take down the private stack ${d%/}"
    done
    # the private Kafka clusters of ts_kafka_cluster_start() (tests/support/testsup.h)
    for d in "$STATE"/clusters/*/; do
        [ -f "${d}infra.ports" ] || continue
        STATE_DIR="${d%/}" bash scripts/infra.sh stop >>"$STATE/logs/stacks.log" 2>&1 ||
            say "warning: could not stop the private Kafka cluster ${d%/}"
    done
}

# Runs one test binary with a deadline; adds cmocka's counts to PASSED/FAILED.
run_suite() {
    local bin=$1 name log rc=0 p f n s
    name=${bin#"$BUILD_DIR/tests/"}
    log="$STATE/logs/${name//\//_}.log"
    echo
    echo "==== $name ===="
    # in the background so a signal to this script is handled at once (wait is interruptible)
    timeout --kill-after=10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1 </dev/null &
    CURRENT_PID=$!
    wait "$CURRENT_PID" || rc=$?
    CURRENT_PID=""
    stop_private_stacks
    if [ "$rc" -ne 0 ] && [ "$INFRA_STARTED" -eq 1 ]; then
        # a suite that stops a server (tests/e2e_outage.c) and died before starting it again
        # must not fail the suites after it
        for s in mariadb redis kafka; do
            STATE_DIR="$STATE" bash scripts/infra.sh "$s-start" >>"$STATE/logs/infra-restore.log" 2>&1 ||
                say "warning: could not start $s again"
        done
    fi
    cat "$log"
    p=0
    f=0
    while read -r n; do p=$((p + n)); done < <(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log")
    while read -r n; do f=$((f + n)); done < <(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:.*/\1/p' "$log")
    # cmocka (1.1) exits 0 when only a group setup or teardown failed: a service that leaked or
    # exited non-zero at the end of a suite (checked in its teardown) must still fail it
    n=$(grep -c '^\[  FAILED  \] GROUP \(SETUP\|TEARDOWN\)' "$log" || true)
    f=$((f + n))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed, timed out or failed outside cmocka's accounting
    fi
    if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        p=1 # not a cmocka binary, or no summary line: its exit status is its result
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    local what=PASS
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        what="TIMEOUT(${TEST_TIMEOUT}s)"
    elif [ "$rc" -gt 128 ]; then
        what="CRASH(signal $((rc - 128)))"
    elif [ "$rc" -ne 0 ] || [ "$f" -gt 0 ]; then
        what=FAIL
    fi
    RESULTS+=("$(printf '%-16s %-40s %d passed, %d failed' "$what" "$name" "$p" "$f")")
}

# The test binaries matching @1 (a glob under $BUILD_DIR/tests) and TESTS.
list_suites() {
    local pattern=$1 bin
    for bin in $BUILD_DIR/tests/$pattern; do
        [ -x "$bin" ] && [ -f "$bin" ] || continue
        if [ -n "${TESTS:-}" ] && ! [[ ${bin#"$BUILD_DIR/tests/"} =~ $TESTS ]]; then
            continue
        fi
        echo "$bin"
    done
}

# ---- 1. dependencies and build ----
bash scripts/deps.sh
say "building tests (make SAN=1 BUILD=$BUILD build-tests)"
# -k: a part that does not compile is one failure; the tests of the other parts still run
if ! make -k SAN=1 BUILD="$BUILD" -j"${JOBS:-2}" build-tests >"$STATE/logs/build.log" 2>&1; then
    grep -E -B2 -A8 'error|Error' "$STATE/logs/build.log" | tail -n 80
    say "build failed (full log: $STATE/logs/build.log); running the tests that built"
    FAILED=$((FAILED + 1))
    RESULTS+=("FAIL             build")
fi

# the release flavour (-O2, _FORTIFY_SOURCE) warns about things the sanitizer build does not
if [ "$UNIT_ONLY" -eq 0 ]; then
    say "building the release flavour (make all)"
    if make -k -j"${JOBS:-2}" all >"$STATE/logs/build-release.log" 2>&1; then
        RESULTS+=("PASS             release build")
    else
        grep -E -B2 -A8 'error|Error' "$STATE/logs/build-release.log" | tail -n 40
        FAILED=$((FAILED + 1))
        RESULTS+=("FAIL             release build (log: $STATE/logs/build-release.log)")
    fi
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export CMOCKA_MESSAGE_OUTPUT=STDOUT
export BUILD_DIR REPO_ROOT="$ROOT"

# ---- 2. unit tests ----
mapfile -t UNIT < <(list_suites '*/test_*')
say "${#UNIT[@]} unit test binaries"
for bin in "${UNIT[@]}"; do
    run_suite "$bin"
done

# ---- 2b. the event-contract compatibility gate (issue 7): every version of every event type
# is checked against the versions before it ----
if [ -x "$BUILD/bin/commercectl" ]; then
    if "$BUILD/bin/commercectl" contracts check --dir contracts >"$STATE/logs/contracts.log" 2>&1; then
        PASSED=$((PASSED + 1))
        RESULTS+=("PASS             contracts check")
    else
        cat "$STATE/logs/contracts.log"
        FAILED=$((FAILED + 1))
        RESULTS+=("FAIL             contracts check")
    fi
fi

# ---- 3. integration and end-to-end tests ----
if [ "$UNIT_ONLY" -eq 0 ]; then
    mapfile -t INTEG < <(list_suites '*/it_*'; list_suites 'e2e/e2e_*')
    say "${#INTEG[@]} integration/end-to-end test binaries"
    if [ "${#INTEG[@]}" -gt 0 ]; then
        export JWT_PRIVATE_KEY_FILE="$STATE/jwt-private.pem"
        export JWT_PUBLIC_KEY_FILE="$STATE/jwt-public.pem"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
            -out "$JWT_PRIVATE_KEY_FILE" 2>/dev/null
        openssl pkey -in "$JWT_PRIVATE_KEY_FILE" -pubout -out "$JWT_PUBLIC_KEY_FILE"

        INFRA_STARTED=1
        if ! STATE_DIR="$STATE" BUILD_DIR="$BUILD_DIR" bash scripts/infra.sh start; then
            INFRA_STARTED=0
            say "starting MariaDB/Redis/Kafka failed (logs: $STATE/logs)"
            FAILED=$((FAILED + 1))
            RESULTS+=("FAIL             infra start")
        else
            # shellcheck disable=SC1091
            . "$STATE/env"
            say "MariaDB 127.0.0.1:$DB_PORT, Redis 127.0.0.1:$REDIS_PORT, Kafka $KAFKA_BOOTSTRAP ($KAFKA_KIND)"
            # e2e_cluster starts its own 3-node Kafka + Redis Sentinel infra: with the Apache
            # broker at hand a missing cluster is a failure, not a skipped fault
            [ "$KAFKA_KIND" = apache ] && export E2E_CLUSTER_REQUIRE=${E2E_CLUSTER_REQUIRE:-1}
            for bin in "${INTEG[@]}"; do
                run_suite "$bin"
            done
        fi
        teardown
    fi
fi

FINISHED=1
report
[ "$FAILED" -eq 0 ]
