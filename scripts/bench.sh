#!/usr/bin/env bash
# bench.sh - `make bench`: bounded throughput/latency benchmarks on a private local stack.
#
# usage: scripts/bench.sh
#
# Starts its OWN stack (scripts/stack-private.sh: scripts/stack.sh in a throw-away shadow root,
# its own .run/, .env, key pair, MariaDB/Redis/Kafka data and ports; no Prometheus), so a developer's `make up` on the default ports is
# not touched; release build into build/bench (incremental). Everything binds 127.0.0.1.
# The stack is always taken down on exit (also on Ctrl-C or failure).
#
# Phases (each bounded in time and count; data made first through the public APIs):
#   1. catalog reads: wrk on GET /api/catalog/products/{id} and GET /api/catalog/products?size=20
#   2. order intake:  wrk POST /api/orders (1 unit, a user token)        [run last, see below]
#   3. saga:          build/bench/bin/bench-saga places and pays BENCH_ORDERS orders from
#                     BENCH_CLIENTS concurrent clients and waits until each is CONFIRMED
# Phase 2 runs after phase 3: the thousands of orders it places keep the saga's consumers busy
# for a while afterwards and would otherwise load the saga measurement.
#
# Environment (defaults):
#   BENCH_DURATION=15  BENCH_THREADS=2  BENCH_CONNS=32   wrk phases (seconds, threads, conns)
#   BENCH_ORDERS=500   BENCH_CLIENTS=16  BENCH_SAGA_DEADLINE=180   saga phase
#   BENCH_PORT_BASE=27000   ports: MariaDB +306, Redis +379, Kafka +92/+93, services +81..+89
#   BENCH_NO_BUILD=1   skip `make` (build/bench/bin must hold the six daemons and bench-saga)
#   BENCH_KEEP=1       keep the shadow root (logs) instead of deleting it
# Needs: wrk (apt-get install -y wrk when root), curl, jq; what scripts/deps.sh installs.

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-15}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-32}
ORDERS=${BENCH_ORDERS:-500}
CLIENTS=${BENCH_CLIENTS:-16}
SAGA_DEADLINE=${BENCH_SAGA_DEADLINE:-180}
BASE=${BENCH_PORT_BASE:-27000}
BUILD=build/bench
WRK_TIMEOUT=$((DURATION + 30))

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ---- tools ----
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        say "installing wrk"
        DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null ||
            { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; } ||
            die "cannot install wrk"
    else
        die "wrk is missing: apt-get install wrk (as root)"
    fi
fi
for t in curl jq timeout; do command -v "$t" >/dev/null || die "$t is needed"; done

# ---- an isolated stack (scripts/stack-private.sh): its own state, ports and data ----
SHADOW=$(mktemp -d /tmp/commerce-bench.XXXXXX)
TMP="$SHADOW/bench"
mkdir -p "$TMP"
STACK_UP=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$STACK_UP" = 1 ]; then
        say "taking the bench stack down"
        bash scripts/stack-private.sh down "$SHADOW/root" >/dev/null 2>&1 ||
            say "stack down failed: see $SHADOW/root/.run/"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $SHADOW (logs in root/.run/logs, root/.run/infra/logs)"
    else
        rm -rf "$SHADOW"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# only the daemons and the driver: a test that does not compile at the moment must not stop
# a benchmark (stack.sh's own `make` builds everything, so it is skipped)
bash scripts/deps.sh
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    say "building the release binaries into $BUILD (log: $TMP/build.log)"
    targets=("$BUILD/bin/bench-saga")
    for s in user inventory catalog order payment auth; do targets+=("$BUILD/bin/$s-service"); done
    make -C "$ROOT" -j2 BUILD="$BUILD" "${targets[@]}" >"$TMP/build.log" 2>&1 ||
        { tail -n 30 "$TMP/build.log" >&2; die "build failed"; }
fi
say "starting a private stack in $SHADOW (build $BUILD, ports $BASE+)"
STACK_UP=1
STACK_BUILD=$BUILD STACK_NO_BUILD=1 STACK_PROMETHEUS=0 \
    bash scripts/stack-private.sh up "$SHADOW/root" "$BASE" ||
    die "the bench stack did not start (logs: $SHADOW/root/.run/logs; BENCH_KEEP=1 keeps them)"
# shellcheck disable=SC1091
. "$SHADOW/root/.run/env"
SAGA_BIN="$ROOT/$BUILD/bin/bench-saga"
[ -x "$SAGA_BIN" ] || die "$SAGA_BIN is missing (tools/bench-saga.c)"

# ---- HTTP helper: api METHOD URL [BODY] [TOKEN] → body on stdout, status in $TMP/status ----
api() {
    local method=$1 url=$2 body=${3:-} token=${4:-}
    local args=(-sS --max-time 10 -o "$TMP/body" -w '%{http_code}' -X "$method")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    curl "${args[@]}" "$url" >"$TMP/status" || echo 000 >"$TMP/status"
    cat "$TMP/body" 2>/dev/null || true
}
expect() {
    local s
    for s in "$@"; do [ "$(cat "$TMP/status")" = "$s" ] && return 0; done
    die "unexpected HTTP $(cat "$TMP/status"): $(cat "$TMP/body" 2>/dev/null)"
}

# ---- data, all through the public APIs ----
say "data: admin login, a category, 20 products, a user"
ADMIN=$(api POST "$AUTH_URL/api/auth/login" \
    "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .accessToken)
expect 200
CAT=$(api POST "$CATALOG_URL/api/catalog/categories" '{"name":"Bench","ordering":1}' "$ADMIN" | jq -r .id)
expect 201
PRODUCT_ID= SKU=
for i in $(seq 1 20); do
    P=$(api POST "$CATALOG_URL/api/catalog/products" \
        "{\"name\":\"Bench product $i\",\"description\":\"for make bench\",\"price\":$((1000 * i)),\"categoryId\":$CAT,\"brand\":\"bench\",\"initialQuantity\":1000000000}" \
        "$ADMIN")
    expect 201
    if [ -z "$PRODUCT_ID" ]; then
        PRODUCT_ID=$(jq -r .id <<<"$P")
        SKU=$(jq -r '.skus[0].id' <<<"$P")
    fi
done
for _ in $(seq 1 150); do
    api GET "$INVENTORY_URL/api/inventories/$SKU" >/dev/null
    [ "$(cat "$TMP/status")" = 200 ] && break
    sleep 0.2
done
expect 200
EMAIL="bench-$(date +%s%N)@example.com"
api POST "$USER_URL/api/users" \
    "{\"email\":\"$EMAIL\",\"password\":\"Bench-Passw0rd!\",\"name\":\"Bench User\",\"phone\":\"010-0000-0000\"}" >/dev/null
expect 201
TOKEN=$(api POST "$AUTH_URL/api/auth/login" "{\"email\":\"$EMAIL\",\"password\":\"Bench-Passw0rd!\"}" | jq -r .accessToken)
expect 200
# order-service learns the SKU from product.sku.created: 422 until then
for _ in $(seq 1 150); do
    api POST "$ORDER_URL/api/orders" "{\"items\":[{\"skuId\":$SKU,\"quantity\":1}]}" "$TOKEN" >/dev/null
    [ "$(cat "$TMP/status")" != 422 ] && break
    sleep 0.2
done
expect 201 200

# ---- wrk runs ----
# wrk_ms VALUE: "635.91us" / "1.20ms" / "2.01s" → milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.0f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.0f", v * 1000 }
        else printf "?" }'
}
ROWS=()
# run_wrk LABEL URL [LUA]: one wrk run, one table row
run_wrk() {
    local label=$1 url=$2 lua=${3:-} out="$TMP/wrk.out" rps p50 p99 n bad err
    local args=(-t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency --timeout 10s)
    [ -n "$lua" ] && args+=(-s "$lua")
    say "wrk ${args[*]} $url  (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout "$WRK_TIMEOUT" wrk "${args[@]}" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    n=$(awk '/requests in/ {print $1}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    err=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
    ROWS+=("$(printf '| %s | %s req | %s | %s | %s | %s |' "$label" "$n" "$rps/s" "$p50" "$p99" \
        "non-2xx ${bad:-0}, socket errors ${err:-0}")")
}

PHASE1_ID="GET /api/catalog/products/{id}"
run_wrk "1a catalog $PHASE1_ID" "$CATALOG_URL/api/catalog/products/$PRODUCT_ID"
run_wrk "1b catalog GET /api/catalog/products?size=20" "$CATALOG_URL/api/catalog/products?size=20"

# ---- 3. saga ----
say "saga: $ORDERS orders from $CLIENTS clients (deadline ${SAGA_DEADLINE}s; load before: $(cut -d' ' -f1-3 /proc/loadavg))"
SAGA_RC=0
timeout $((SAGA_DEADLINE + 30)) "$SAGA_BIN" --order-url "$ORDER_URL" --payment-url "$PAYMENT_URL" \
    --token "$TOKEN" --sku "$SKU" --orders "$ORDERS" --clients "$CLIENTS" \
    --deadline "$SAGA_DEADLINE" >"$TMP/saga.out" || SAGA_RC=$?
RESULT=$(grep '^RESULT ' "$TMP/saga.out" || true)
[ -n "$RESULT" ] || die "bench-saga printed no result (rc $SAGA_RC)"
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$RESULT"; }
ROWS+=("$(printf '| 3 saga: place + pay → CONFIRMED, %s clients | %s of %s CONFIRMED in %s s | %s orders/s | %s | %s | server CREATED→CONFIRMED p50 %s / p99 %s ms; POST p50 %s / p99 %s ms; failed %s, unfinished %s |' \
    "$CLIENTS" "$(val confirmed)" "$(val orders)" "$(val wall_s)" "$(val rate)" \
    "$(val cli_p50_ms)" "$(val cli_p99_ms)" "$(val srv_p50_ms)" "$(val srv_p99_ms)" \
    "$(val post_p50_ms)" "$(val post_p99_ms)" "$(val failed)" "$(val unfinished)")")

# ---- 2. order intake (last: its orders keep the consumers busy afterwards) ----
cat >"$TMP/order.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"items":[{"skuId":$SKU,"quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
EOF
run_wrk "2 order intake POST /api/orders" "$ORDER_URL/api/orders" "$TMP/order.lua"

# ---- the table ----
{
    echo
    echo "make bench — $(date -u '+%F %T UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "wrk -t$THREADS -c$CONNS -d${DURATION}s --latency; saga: bench-saga --orders $ORDERS --clients $CLIENTS"
    echo
    echo "| phase | count | throughput | p50 ms | p99 ms | notes |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "(saga p50/p99: client POST → the poll that sees CONFIRMED, poll every 25 ms)"
} | tee "$TMP/table.md"
[ "$SAGA_RC" = 0 ] || die "saga phase: not every order reached CONFIRMED (rc $SAGA_RC)"
