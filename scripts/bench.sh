#!/usr/bin/env bash
# bench.sh - `make bench`: bounded benchmarks of the whole stack against anchors measured in the
# same run (docs/benchmarks.md explains every figure).
#
# usage: scripts/bench.sh
#
# Starts its OWN stack (scripts/stack-private.sh: scripts/stack.sh in a throw-away shadow root,
# its own .run/, .env, key pair, MariaDB/Redis/Kafka data and ports; no Prometheus), so a
# developer's `make up` on the default ports is not touched; release build into build/bench
# (incremental). Everything binds 127.0.0.1. Whatever it starts is stopped on exit (also on
# Ctrl-C or failure). The stack gets LOGIN_IP_MAX_PER_MINUTE=100000 and LOGIN_FREE_ATTEMPTS=1000
# (the login burst is one account from 127.0.0.1).
#
# Phases, in this order (each bounded in time or count; data made through the public APIs):
#   ready      each daemon restarted alone (SIGTERM, then build/bench/bin/bench-ready starts it
#              with the stack's env): ms from exec to the first GET /health/ready = 200 (2 ms
#              polls); RSS (VmRSS) of every daemon idle, right after the stack's start
#   warm-up    bench-saga, BENCH_WARMUP_ORDERS orders from BENCH_CLIENTS clients, not measured:
#              the broker's JVM compiles its hot paths in its first thousand orders or so, on
#              both CPUs' time (on a fresh broker the raw hop's p50 and the saga's hop p50 were
#              both about twice their steady values), so the figures below are those of a stack
#              that has run, not of one that has just started
#   anchors    nginx (Debian package) on a private port serving exactly the bytes and the
#              Content-Type of GET /api/catalog/products/{id} and of /health/live; wrk on the
#              project and on nginx in alternated rounds (BENCH_ROUNDS each); medians, ratios
#   page       wrk GET /api/catalog/products?size=20 (one run)
#   raw hop    build/bench/bin/bench-hop: MariaDB commit → produce → consume → MariaDB commit
#              with librdkafka directly on the stack's broker: linger.ms 0 back to back, linger.ms
#              0 with BENCH_HOP_IDLE_MS idle before each round (the one-client saga's duty cycle:
#              the hop targets' anchor), and linger.ms 5
#   saga 1     bench-saga --clients 1 --events (after the warm-up): per-hop latency from
#              the events' Kafka timestamps, server CREATED → CONFIRMED with the client's think
#              time taken out
#   saga 16    bench-saga with BENCH_CLIENTS clients, BENCH_SAGA_ROUNDS rounds; CPU-ms per
#              confirmed order over every process of the stack (/proc/PID/stat); with
#              BENCH_BASELINE the same on a second stack of that ref's daemons, alternated
#   login      wrk POST /api/auth/login, BENCH_LOGIN_CONNS connections (auth-service memory)
#   intake     wrk POST /api/orders (last: its orders keep the consumers busy afterwards)
#   memory     VmRSS and VmHWM of every daemon after all of the above
#   soak       scripts/bench-soak.sh when it exists and BENCH_SOAK is not 0 (its own table)
# The final tables print every figure with its anchor, the ratio and the issue's target (met /
# not met). A missed target never fails the run; an error (a saga order not CONFIRMED, a tool
# failing, the soak failing) does, after the tables.
#
# Environment (defaults):
#   BENCH_DURATION=10  BENCH_THREADS=2  BENCH_CONNS=32   each wrk run (seconds, threads, conns)
#   BENCH_ROUNDS=3     alternated project/nginx rounds of each anchor pair
#   BENCH_ORDERS=500   BENCH_CLIENTS=16  BENCH_SAGA_ROUNDS=2  BENCH_SAGA_DEADLINE=180   saga 16
#   BENCH_ONE_ORDERS=200   orders of the one-client saga (4 hops each: the hop percentiles)
#   BENCH_WARMUP_ORDERS=1000   orders of the warm-up, on this stack and on the baseline's
#   BENCH_HOP_ROUNDS=300   rounds of each raw hop run
#   BENCH_HOP_IDLE_MS=30   idle before each round of the anchor run (about one order of the
#                          one-client saga: its hops also start on a machine that was idle)
#   BENCH_LOGIN_CONNS=48  BENCH_LOGIN_DURATION=5   the login burst
#   BENCH_BASELINE=REF  also measure the saga phase on REF's daemons (e.g. 039d6f8): REF's tree
#                       (git archive) and its release build go to build/bench-base (kept and
#                       reused while REF is the same commit); its stack is this checkout's
#                       scripts with REF's daemons, migrations and contracts. Default: none
#   BENCH_PORT_BASE=27000   ports: MariaDB +306, Redis +379, Kafka +92/+93, services +81..+89,
#                           nginx +95; the baseline stack BENCH_BASELINE_PORT_BASE (PORT_BASE+1000)
#   BENCH_SOAK=1       run scripts/bench-soak.sh at the end (0: skip)
#   BENCH_NO_BUILD=1   skip `make` (build/bench/bin must hold the daemons and the bench tools)
#   BENCH_KEEP=1       keep the shadow root (logs, wrk outputs, tables) instead of deleting it
# The soak is called with the stack's .run/env exported and BENCH_TOKEN, BENCH_SKU,
# BENCH_SAGA_BIN, BENCH_STACK_ROOT, BENCH_TMP, BENCH_BIN.
#
# Several instances (docs/benchmarks.md "Several instances"):
#   BENCH_INSTANCES=1  N > 1 (2 is what the docs measure): the stack runs N instances of every
#                      service (scripts/stack.sh INSTANCES=N: instance k on the port + 100·(k−1))
#                      on BENCH_KAFKA_NODES Kafka nodes (default 3 when N > 1, else 1), and the run
#                      is only the saga phase, as 1 instance against N: a warm-up saga, then
#                      BENCH_SAGA_ROUNDS (default 4 here) alternated rounds (odd: 1 first) of
#                      BENCH_CLIENTS clients × BENCH_ORDERS orders per layout, on the same data. "1 instance": instances
#                      2..N of every service stopped (scripts/stack.sh instance-stop K), every
#                      client on instance 1; "N instances": started again (instance-start K waits
#                      until each is ready), the clients spread round robin over the instances
#                      (bench-saga gets .run/env's ORDER_URLS / PAYMENT_URLS). After each switch a
#                      short saga (2 orders per client, not measured) lets the consumer groups
#                      rebalance. CPU-ms per confirmed order counts every daemon instance and
#                      every Kafka node. Left out with N > 1: ready, anchors, page, raw hop, the
#                      one-client saga, login, intake, memory and the soak; BENCH_BASELINE is
#                      refused. The table: both layouts, their ratio, each round, CPU by process.
#                      About 4 minutes on a quiet machine (3 Kafka JVMs start first).
# Needs: wrk and nginx (apt-get install when missing and root), curl, jq; what scripts/deps.sh
# installs. Takes about 6 minutes (8 with BENCH_BASELINE; more the first time it builds REF).

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
ORDERS=${BENCH_ORDERS:-500}
CLIENTS=${BENCH_CLIENTS:-16}
# several instances: more, shorter-lived layouts to alternate (the header)
SAGA_ROUNDS=${BENCH_SAGA_ROUNDS:-$([ "${BENCH_INSTANCES:-1}" = 1 ] && echo 2 || echo 4)}
SAGA_DEADLINE=${BENCH_SAGA_DEADLINE:-180}
ONE_ORDERS=${BENCH_ONE_ORDERS:-200}
HOP_ROUNDS=${BENCH_HOP_ROUNDS:-300}
HOP_IDLE=${BENCH_HOP_IDLE_MS:-30}
WARMUP=${BENCH_WARMUP_ORDERS:-1000}
LOGIN_CONNS=${BENCH_LOGIN_CONNS:-48}
LOGIN_DURATION=${BENCH_LOGIN_DURATION:-5}
BASE=${BENCH_PORT_BASE:-27000}
BASELINE=${BENCH_BASELINE:-}
BASE2=${BENCH_BASELINE_PORT_BASE:-$((BASE + 1000))}
NI=${BENCH_INSTANCES:-1}
KNODES=${BENCH_KAFKA_NODES:-$([ "$NI" = 1 ] && echo 1 || echo 3)}
BUILD=build/bench
BIN="$ROOT/$BUILD/bin"
BASE_BUILD="$ROOT/build/bench-base"
DAEMONS=(auth user catalog inventory order payment)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for v in DURATION THREADS CONNS ROUNDS ORDERS CLIENTS SAGA_ROUNDS SAGA_DEADLINE ONE_ORDERS \
    HOP_ROUNDS LOGIN_CONNS LOGIN_DURATION BASE BASE2; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -eq 0 ]; then die "BENCH_$v='${!v}': want a positive number"; fi
done
if ! [[ $WARMUP =~ ^[0-9]+$ ]] || [ "$WARMUP" -eq 0 ]; then die "BENCH_WARMUP_ORDERS='$WARMUP': want a positive number"; fi
if ! [[ $HOP_IDLE =~ ^[0-9]+$ ]] || [ "$HOP_IDLE" -gt 10000 ]; then die "BENCH_HOP_IDLE_MS='$HOP_IDLE': want 0 to 10000"; fi
[[ $NI =~ ^[1-9]$ ]] || die "BENCH_INSTANCES='$NI': want 1 to 9"
[[ $KNODES =~ ^[1-9]$ ]] || die "BENCH_KAFKA_NODES='$KNODES': want 1 or 3"
[ "$NI" = 1 ] || [ -z "$BASELINE" ] || die "BENCH_BASELINE needs BENCH_INSTANCES=1"
WRK_TIMEOUT=$((DURATION + LOGIN_DURATION + 30))

# ---- tools: wrk and nginx from Debian when missing ----
PATH="$PATH:/usr/sbin"
need_pkg() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || die "$cmd is missing: apt-get install $pkg (as root)"
    say "installing $pkg"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >/dev/null ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >/dev/null; } ||
        die "cannot install $pkg"
}
need_pkg wrk wrk
need_pkg nginx nginx
for t in curl jq timeout git tar; do command -v "$t" >/dev/null || die "$t is needed"; done
CLK_TCK=$(getconf CLK_TCK)

# ---- state: one shadow folder for both stacks, nginx and every output ----
SHADOW=$(mktemp -d /tmp/commerce-bench.XXXXXX)
TMP="$SHADOW/bench"
SR="$SHADOW/root"      # the stack of this checkout
BSR="$SHADOW/baseroot" # the stack of BENCH_BASELINE's daemons
mkdir -p "$TMP"
STACK_UP=0 BASE_UP=0 NGX_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$NGX_PID" ]; then
        kill -QUIT "$NGX_PID" 2>/dev/null || true
        wait "$NGX_PID" 2>/dev/null || true
    fi
    if [ "$BASE_UP" = 1 ]; then
        say "taking the baseline stack down"
        bash scripts/stack-private.sh down "$BSR" >/dev/null 2>&1 ||
            say "baseline stack down failed: see $BSR/.run/"
    fi
    if [ "$STACK_UP" = 1 ]; then
        say "taking the bench stack down"
        bash scripts/stack-private.sh down "$SR" >/dev/null 2>&1 ||
            say "stack down failed: see $SR/.run/"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $SHADOW (logs in root/.run/logs, root/.run/infra/logs; outputs in bench/)"
    else
        rm -rf "$SHADOW"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T_START=$SECONDS

# ---- build: the daemons and the bench tools; a test that does not compile at the moment must
# not stop a benchmark (stack.sh's own `make` builds everything, so it is skipped) ----
bash scripts/deps.sh
daemon_targets() {
    local s
    for s in "${DAEMONS[@]}"; do printf '%s/bin/%s-service\n' "$1" "$s"; done
    printf '%s/bin/commercectl\n' "$1"
}
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    say "building the release binaries into $BUILD (log: $TMP/build.log)"
    mapfile -t targets < <(daemon_targets "$BUILD")
    targets+=("$BUILD/bin/bench-saga" "$BUILD/bin/bench-hop" "$BUILD/bin/bench-ready")
    make -C "$ROOT" -j2 BUILD="$BUILD" "${targets[@]}" >"$TMP/build.log" 2>&1 ||
        { tail -n 30 "$TMP/build.log" >&2; die "build failed"; }
fi
for t in bench-saga bench-hop bench-ready; do [ -x "$BIN/$t" ] || die "$BIN/$t is missing (tools/$t.c)"; done

# REF's tree into build/bench-base/src (git archive, not a worktree of this repository) and its
# release build into build/bench-base; kept while REF names the same commit
BASE_SHA=
if [ -n "$BASELINE" ]; then
    BASE_SHA=$(git rev-parse --verify --quiet "$BASELINE^{commit}") ||
        die "BENCH_BASELINE='$BASELINE' is no commit of this repository"
    if [ "$(cat "$BASE_BUILD/REF" 2>/dev/null)" != "$BASE_SHA" ]; then
        rm -rf "$BASE_BUILD"
        mkdir -p "$BASE_BUILD/src"
        git archive "$BASE_SHA" | tar -x -C "$BASE_BUILD/src"
    fi
    say "building $BASELINE (${BASE_SHA:0:7}) into build/bench-base (log: $TMP/build-base.log)"
    mapfile -t targets < <(daemon_targets "$BASE_BUILD")
    make -C "$BASE_BUILD/src" -j2 BUILD="$BASE_BUILD" "${targets[@]}" >"$TMP/build-base.log" 2>&1 ||
        { tail -n 30 "$TMP/build-base.log" >&2; die "build of $BASELINE failed"; }
    echo "$BASE_SHA" >"$BASE_BUILD/REF"
fi

# ---- the stack ----
# the login burst comes from one address with one account: lift auth-service's throttle
export LOGIN_IP_MAX_PER_MINUTE=100000 LOGIN_FREE_ATTEMPTS=1000
# one user token serves the whole run (with the baseline and the soak over 15 minutes)
export ACCESS_TOKEN_TTL_S=3600
# the soak shows bookkeeping flat once its retention passed: short retentions (only bookkeeping
# is affected: inbox rows, idempotency answers, terminal reservations; scripts/bench-soak.sh)
if [ "${BENCH_SOAK:-1}" != 0 ] && [ "$NI" = 1 ]; then
    export INVENTORY_RESERVATION_RETENTION_S=${INVENTORY_RESERVATION_RETENTION_S:-5}
    export INBOX_RETENTION_S=${INBOX_RETENTION_S:-60} INBOX_PURGE_MS=${INBOX_PURGE_MS:-1000}
fi
say "starting a private stack in $SR (build $BUILD, ports $BASE+; $NI instance(s) of every service, $KNODES Kafka node(s))"
STACK_UP=1
STACK_BUILD=$BUILD STACK_NO_BUILD=1 STACK_PROMETHEUS=0 INSTANCES=$NI KAFKA_NODES=$KNODES \
    bash scripts/stack-private.sh up "$SR" "$BASE" ||
    die "the bench stack did not start (logs: $SR/.run/logs; BENCH_KEEP=1 keeps them)"
# shellcheck disable=SC1091
. "$SR/.run/env"
T_STACK=$((SECONDS - T_START))

# ---- /proc helpers over a stack root ----
# stack_pids ROOT: "name pid" of every running instance of the six daemons ("order", "order-2",
# …) and every infra process with a pid file (mariadb, redis, kafka or kafka-1…kafka-N, …)
stack_pids() {
    local root=$1 f pf pid
    for f in "${DAEMONS[@]}"; do
        for pf in "$root/.run/pids/$f.pid" "$root/.run/pids/$f"-[2-9].pid; do
            pid=$(cat "$pf" 2>/dev/null) && [ -d "/proc/$pid" ] && echo "$(basename "$pf" .pid) $pid"
        done
    done
    for pf in "$root/.run/infra/pids/"*.pid; do
        pid=$(cat "$pf" 2>/dev/null) && [ -d "/proc/$pid" ] && echo "$(basename "$pf" .pid) $pid"
    done
    return 0
}
# cpu_snapshot ROOT: "name ticks" (utime + stime, /proc/PID/stat fields 14 and 15)
cpu_snapshot() {
    local name pid
    while read -r name pid; do
        printf '%s %s\n' "$name" "$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')"
    done < <(stack_pids "$1")
}
# mem_snapshot ROOT: "name VmRSS_kB VmHWM_kB" of the six daemons
mem_snapshot() {
    local name pid
    while read -r name pid; do
        case " ${DAEMONS[*]} " in *" $name "*) ;; *) continue ;; esac
        printf '%s %s\n' "$name" "$(awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {print r + 0, h + 0}' "/proc/$pid/status")"
    done < <(stack_pids "$1")
}
mem_snapshot "$SR" >"$TMP/mem-idle"

# ---- ready time: each daemon restarted alone, its dependencies up ----
# stack_ports: <SVC>_PORT from the *_URL of the sourced .run/env (scripts/stack-env.sh reads them)
stack_ports() {
    local s u
    for s in "${DAEMONS[@]}"; do
        u="${s^^}_URL"
        export "${s^^}_PORT=${!u##*:}"
    done
}
restart_ready() {
    local name=$1 pidf="$SR/.run/pids/$1.pid" pid i url out
    pid=$(cat "$pidf") || die "no pid file for $name-service"
    kill -TERM "$pid" 2>/dev/null || true
    # gone, or a zombie nobody has reaped yet
    for ((i = 0; i < 400; i++)); do
        if [ ! -d "/proc/$pid" ] || grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then break; fi
        sleep 0.05
    done
    [ "$i" -lt 400 ] || { kill -KILL "$pid" 2>/dev/null || true; say "$name-service ignored SIGTERM for 20 s; killed"; }
    url="${name^^}_URL"
    url="${!url}/health/ready"
    out=$(
        cd "$SR"
        # scripts/stack-env.sh reads the stack's ROOT and RUN
        # shellcheck disable=SC2030
        ROOT=$SR RUN="$SR/.run"
        stack_ports
        # shellcheck disable=SC1091
        . scripts/stack-env.sh
        stack_env_export "$name" || exit 1
        printf '\n==== bench restart %s ====\n' "$(date '+%F %T')" >>"$RUN/logs/$name-service.log"
        exec "$BIN/bench-ready" --url "$url" --pid-file "$pidf" \
            --log "$RUN/logs/$name-service.log" --deadline 60 -- "$STACK_BIN/$name-service"
    ) || die "$1-service did not become ready after its restart (log: $SR/.run/logs/$1-service.log)"
    sed -n 's/^READY ms=\([^ ]*\).*/\1/p' <<<"$out"
}
STACK_BIN=$BIN
: >"$TMP/ready"
for s in "${DAEMONS[@]}"; do
    [ "$NI" = 1 ] || break # several instances: only the saga phase (see the end of the header)
    ms=$(restart_ready "$s")
    say "$s-service ready $ms ms after exec"
    echo "$s $ms" >>"$TMP/ready"
done

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

# make_data OUT N: through the public APIs of the sourced stack: admin login, a category, N
# products with 10⁹ units each, a signed-up user and its token; writes PRODUCT_ID, SKU, EMAIL,
# TOKEN to OUT (sourceable)
make_data() {
    local out=$1 n=$2 admin cat p product='' sku='' email token i
    admin=$(api POST "$AUTH_URL/api/auth/login" \
        "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .accessToken)
    expect 200
    cat=$(api POST "$CATALOG_URL/api/catalog/categories" '{"name":"Bench","ordering":1}' "$admin" | jq -r .id)
    expect 201
    for i in $(seq 1 "$n"); do
        p=$(api POST "$CATALOG_URL/api/catalog/products" \
            "{\"name\":\"Bench product $i\",\"description\":\"for make bench\",\"price\":$((1000 * i)),\"categoryId\":$cat,\"brand\":\"bench\",\"initialQuantity\":1000000000}" \
            "$admin")
        expect 201
        if [ -z "$product" ]; then
            product=$(jq -r .id <<<"$p")
            sku=$(jq -r '.skus[0].id' <<<"$p")
        fi
    done
    for _ in $(seq 1 150); do
        api GET "$INVENTORY_URL/api/inventories/$sku" >/dev/null
        [ "$(cat "$TMP/status")" = 200 ] && break
        sleep 0.2
    done
    expect 200
    email="bench-$(date +%s%N)@example.com"
    api POST "$USER_URL/api/users" \
        "{\"email\":\"$email\",\"password\":\"Bench-Passw0rd!\",\"name\":\"Bench User\",\"phone\":\"010-0000-0000\"}" >/dev/null
    expect 201
    token=$(api POST "$AUTH_URL/api/auth/login" "{\"email\":\"$email\",\"password\":\"Bench-Passw0rd!\"}" | jq -r .accessToken)
    expect 200
    # order-service learns the SKU from product.sku.created: 422 until then
    for _ in $(seq 1 150); do
        api POST "$ORDER_URL/api/orders" "{\"items\":[{\"skuId\":$sku,\"quantity\":1}]}" "$token" >/dev/null
        [ "$(cat "$TMP/status")" != 422 ] && break
        sleep 0.2
    done
    expect 201 200
    printf 'PRODUCT_ID=%q SKU=%q EMAIL=%q TOKEN=%q\n' "$product" "$sku" "$email" "$token" >"$out"
}
# median V...: the median of the numbers (the mean of the middle two for an even count)
median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
        if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# ratio A B [DIGITS]: A / B ("-" when either is missing or B is 0)
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
        if (a == "" || b == "" || a == "-" || b == "-" || b + 0 <= 0 || a + 0 < 0) print "-"
        else printf "%." d "f", a / b }'
}

# ---- sagas (helpers) ----
ERRORS=()
# finish: the last line and the exit status of the run (an error recorded in ERRORS fails it)
finish() {
    say "done in $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s (stack up after ${T_STACK} s)"
    if [ "${#ERRORS[@]}" -gt 0 ]; then
        printf 'bench: error: %s\n' "${ERRORS[@]}" >&2
        exit 1
    fi
}
# saga OUTFILE CLIENTS ORDERS [ENVFILE DATAFILE]: bench-saga --events on the stack of ENVFILE
# (default: this one), sent to SAGA_ORDER_URLS / SAGA_PAYMENT_URLS when set (comma-separated
# instances, clients spread round robin), else to the stack's ORDER_URL / PAYMENT_URL; the
# saga's failure is recorded in ERRORS, the run goes on
saga() {
    local out=$1 clients=$2 orders=$3 envf=${4:-} dataf=${5:-} rc=0
    say "saga: $orders orders from $clients clients (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
    (
        # shellcheck disable=SC1090
        [ -z "$envf" ] || . "$envf"
        # shellcheck disable=SC1090
        [ -z "$dataf" ] || . "$dataf"
        exec timeout $((SAGA_DEADLINE + 60)) "$BIN/bench-saga" \
            --order-url "${SAGA_ORDER_URLS:-$ORDER_URL}" --payment-url "${SAGA_PAYMENT_URLS:-$PAYMENT_URL}" \
            --token "$TOKEN" --sku "$SKU" --orders "$orders" --clients "$clients" \
            --deadline "$SAGA_DEADLINE" --events
    ) >"$out" 2>"$out.err" || rc=$?
    grep -q '^RESULT ' "$out" || { cat "$out.err" >&2; die "bench-saga printed no result (rc $rc)"; }
    [ "$rc" = 0 ] || ERRORS+=("saga $(basename "$out"): not every order CONFIRMED or events unread (rc $rc; $out.err)")
}
# sval FILE KEY / hval FILE HOP KEY: a value of bench-saga's RESULT / HOP lines ("-" for -1: none)
sval() { sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$1" | sed 's/^-1\(\.0*\)\{0,1\}$/-/'; }
hval() { sed -n "s/^HOP name=$2 .* $3=\([^ ]*\).*/\1/p" "$1" | sed 's/^-1\(\.0*\)\{0,1\}$/-/'; }

# cpu_run OUTFILE ROOT [ENVFILE DATAFILE]: a 16-client saga with the CPU of every process of
# the stack at ROOT before and after (a process in only one snapshot is left out); "name ms"
# per process into OUTFILE.cpu, the load average before it into OUTFILE.load
cpu_run() {
    local out=$1 root=$2
    shift 2
    cut -d' ' -f1-3 /proc/loadavg >"$out.load"
    cpu_snapshot "$root" >"$out.cpu0"
    saga "$out" "$CLIENTS" "$ORDERS" "$@"
    cpu_snapshot "$root" >"$out.cpu1"
    awk -v hz="$CLK_TCK" 'NR == FNR {a[$1] = $2; next} $1 in a {printf "%s %.0f\n", $1, ($2 - a[$1]) * 1000 / hz}' \
        "$out.cpu0" "$out.cpu1" >"$out.cpu"
}
# cpu_per_order OUT: CPU-ms of all processes per confirmed order
cpu_per_order() {
    awk -v n="$(sval "$1" confirmed)" '{s += $2} END {if (n > 0) printf "%.1f\n", s / n; else print "-"}' "$1.cpu"
}

# ---- data ----
say "data: admin login, a category, 20 products, a user"
PRODUCT_ID='' SKU='' EMAIL='' TOKEN=''
make_data "$TMP/data.env" 20
# shellcheck disable=SC1091
. "$TMP/data.env"

# ---- several instances (BENCH_INSTANCES > 1): 1 instance against N, alternated; then the end ----
# scale_layout N: N = 1 stops instances 2..BENCH_INSTANCES of every service (stack.sh
# instance-stop) and sends the clients to instance 1 only; N = BENCH_INSTANCES starts them again
# (stack.sh instance-start waits until each is ready) and spreads the clients over every instance
# (.run/env's <SVC>_URLS). After a switch the consumer groups rebalance: settle_groups waits for
# it, then a short saga on the new layout (2 orders per client, not measured) warms it.
LAYOUT=$NI
# settle_groups SINCE: polls (30 s at most) until every running instance of a service that
# consumes (its log has "partition(s) assigned") logged an assignment after SINCE (UTC, ISO 8601)
settle_groups() {
    local since=$1 deadline=$((SECONDS + 30)) f inst last ok
    while :; do
        ok=1
        for f in "$SR"/.run/logs/*-service*.log; do
            inst=$(basename "$f" .log)
            inst=${inst/-service/}
            [ -d "/proc/$(cat "$SR/.run/pids/$inst.pid" 2>/dev/null || echo none)" ] || continue
            grep -q 'partition(s) assigned' "$f" || continue
            last=$(grep 'partition(s) assigned' "$f" | tail -n 1 | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
            [[ $last > $since ]] || ok=0
        done
        [ "$ok" = 0 ] || return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "warning: the consumer groups did not all log a new assignment within 30 s"
            return 0
        fi
        sleep 0.5
    done
}
scale_layout() {
    local n=$1 k verb since
    if [ "$n" != "$LAYOUT" ]; then
        since=$(date -u '+%Y-%m-%dT%H:%M:%S.%3NZ')
        verb=start
        [ "$n" = 1 ] && verb=stop
        for ((k = 2; k <= NI; k++)); do
            say "instance-$verb $k of every service (log: $TMP/instances.log)"
            (
                stack_ports
                STACK_BUILD=$BUILD exec bash "$SR/scripts/stack.sh" "instance-$verb" "$k"
            ) >>"$TMP/instances.log" 2>&1 ||
                { tail -n 20 "$TMP/instances.log" >&2; die "stack.sh instance-$verb $k failed"; }
        done
        LAYOUT=$n
        settle_groups "$since"
    fi
    if [ "$n" = 1 ]; then
        SAGA_ORDER_URLS=$ORDER_URL SAGA_PAYMENT_URLS=$PAYMENT_URL
    else
        SAGA_ORDER_URLS=$ORDER_URLS SAGA_PAYMENT_URLS=$PAYMENT_URLS
    fi
    SETTLE=$((SETTLE + 1))
    saga "$TMP/settle-$SETTLE-$n.out" "$CLIENTS" $((CLIENTS * 2))
}
# med_of N KEY: the median over the rounds of N instances of bench-saga's RESULT KEY
# shellcheck disable=SC2046
med_of() { median $(for f in "$TMP"/scale"$1"-*.out; do sval "$f" "$2"; done); }
# shellcheck disable=SC2046
cpu_of() { median $(for f in "$TMP"/scale"$1"-*.out; do cpu_per_order "$f"; done); }
scale_report() {
    local n f r
    echo
    echo "make bench, BENCH_INSTANCES=$NI — $(date -u '+%F %T UTC'), $(nproc) CPUs, tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+uncommitted'), load $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s"
    echo "stack: $NI instances of every service, $KNODES Kafka node(s), one MariaDB, one Redis; saga: $CLIENTS clients × $ORDERS orders per round, $SAGA_ROUNDS alternated rounds per layout (odd rounds 1 instance first); left out: ready, anchors, page, raw hop, one-client saga, login, intake, memory, soak"
    echo
    echo "### Saga at $CLIENTS clients: 1 instance against $NI (medians of the rounds)"
    echo
    echo "| instances | orders/s | client p50 / p99 ms | server CREATED → CONFIRMED p50 / p99 ms | CPU-ms per confirmed order |"
    echo "|---|---|---|---|---|"
    for n in 1 "$NI"; do
        echo "| $n | $(med_of "$n" rate) | $(med_of "$n" cli_p50_ms) / $(med_of "$n" cli_p99_ms) | $(med_of "$n" srv_p50_ms) / $(med_of "$n" srv_p99_ms) | $(cpu_of "$n") |"
    done
    echo "| ratio $NI/1 | $(ratio "$(med_of "$NI" rate)" "$(med_of 1 rate)")× | $(ratio "$(med_of "$NI" cli_p50_ms)" "$(med_of 1 cli_p50_ms)")× / $(ratio "$(med_of "$NI" cli_p99_ms)" "$(med_of 1 cli_p99_ms)")× | $(ratio "$(med_of "$NI" srv_p50_ms)" "$(med_of 1 srv_p50_ms)")× / $(ratio "$(med_of "$NI" srv_p99_ms)" "$(med_of 1 srv_p99_ms)")× | $(ratio "$(cpu_of "$NI")" "$(cpu_of 1)")× |"
    echo
    echo "### Rounds"
    echo
    echo "| round | instances | CONFIRMED | orders/s | client p50 / p99 ms | server p50 / p99 ms | CPU-ms per order | load before |"
    echo "|---|---|---|---|---|---|---|---|"
    for ((r = 1; r <= SAGA_ROUNDS; r++)); do
        for n in 1 "$NI"; do
            f="$TMP/scale$n-$r.out"
            [ -f "$f" ] || continue
            echo "| $r | $n | $(sval "$f" confirmed)/$(sval "$f" orders) in $(sval "$f" wall_s) s | $(sval "$f" rate) | $(sval "$f" cli_p50_ms) / $(sval "$f" cli_p99_ms) | $(sval "$f" srv_p50_ms) / $(sval "$f" srv_p99_ms) | $(cpu_per_order "$f") | $(cat "$f.load") |"
        done
    done
    echo
    echo "CPU-ms per confirmed order by process (round 1; /proc/PID/stat utime+stime; <svc>-k = instance k, kafka-n = node n):"
    echo
    echo "| process | 1 instance | $NI instances |"
    echo "|---|---|---|"
    awk -v n1="$(sval "$TMP/scale1-1.out" confirmed)" -v n2="$(sval "$TMP/scale$NI-1.out" confirmed)" '
        FNR == 1 {f++}
        {if (!($1 in seen)) {seen[$1] = 1; names[++k] = $1}; v[f, $1] = $2}
        END {for (i = 1; i <= k; i++) {p = names[i]
            a = ((1, p) in v && n1 > 0) ? sprintf("%.1f", v[1, p] / n1) : "-"
            b = ((2, p) in v && n2 > 0) ? sprintf("%.1f", v[2, p] / n2) : "-"
            printf "| %s | %s | %s |\n", p, a, b}}' "$TMP/scale1-1.out.cpu" "$TMP/scale$NI-1.out.cpu" | sort
    echo "| **all** | $(cpu_per_order "$TMP/scale1-1.out") | $(cpu_per_order "$TMP/scale$NI-1.out") |"
}
if [ "$NI" -gt 1 ]; then
    SETTLE=0
    SAGA_ORDER_URLS=$ORDER_URLS SAGA_PAYMENT_URLS=$PAYMENT_URLS
    # JVMs, pools and caches of every instance warmed as in the default run (the header)
    saga "$TMP/warmup.out" "$CLIENTS" "$WARMUP"
    for ((r = 1; r <= SAGA_ROUNDS; r++)); do
        layouts="1 $NI"
        ((r % 2)) || layouts="$NI 1"
        for n in $layouts; do
            scale_layout "$n"
            cpu_run "$TMP/scale$n-$r.out" "$SR"
        done
    done
    scale_report | tee "$TMP/table.md"
    finish
    exit 0
fi

# ---- warm-up: the broker's JIT, the services' pools, caches and prepared statements (the
# header); every figure below is of a stack that has run, not of one that just started ----
saga "$TMP/warmup-1.out" "$CLIENTS" "$WARMUP"

# ---- wrk ----
# to_ms VALUE: "635.91us" / "1.20ms" / "2.01s" → milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.0f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.0f", v * 1000 }
        else printf "?" }'
}
# run_wrk TAG URL [LUA] [CONNS] [SECONDS]: one wrk run into $TMP/wrk-TAG.out; sets W_RPS W_N
# W_P50 W_P99 W_BAD W_ERR
WRK_N=0
run_wrk() {
    local tag=$1 url=$2 lua=${3:-} conns=${4:-$CONNS} secs=${5:-$DURATION} out
    WRK_N=$((WRK_N + 1))
    out="$TMP/wrk-$WRK_N-$tag.out"
    local args=(-t"$THREADS" -c"$conns" -d"${secs}s" --latency --timeout 10s)
    [ -n "$lua" ] && args+=(-s "$lua")
    say "wrk ${args[*]} $url  (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout "$WRK_TIMEOUT" wrk "${args[@]}" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
    W_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    W_N=$(awk '/requests in/ {print $1}' "$out")
    W_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    W_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    W_BAD=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    W_BAD=${W_BAD:-0}
    W_ERR=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
    W_ERR=${W_ERR:-0}
}
# verdict OP VALUE LIMIT: "met" / "not met" for VALUE OP LIMIT (le, lt, ge, gt); "-" when unknown
verdict() {
    awk -v op="$1" -v v="$2" -v l="$3" 'BEGIN {
        if (v == "-" || v == "" || l == "-" || l == "" || v + 0 < 0) { print "-"; exit }
        ok = (op == "le" && v <= l) || (op == "lt" && v < l) || (op == "ge" && v >= l) || (op == "gt" && v > l)
        print ok ? "**met**" : "not met" }'
}

# ---- anchors: nginx serving the same bytes ----
NGX="$SHADOW/nginx"
NGX_PORT=$((BASE + 95))
PRODUCT_PATH="/api/catalog/products/$PRODUCT_ID"
mkdir -p "$NGX/html/api/catalog/products" "$NGX/html/health" "$NGX/tmp" "$NGX/logs"
PRODUCT_CT=$(curl -sS --max-time 10 -o "$NGX/html$PRODUCT_PATH" -w '%{content_type}' "$CATALOG_URL$PRODUCT_PATH")
LIVE_CT=$(curl -sS --max-time 10 -o "$NGX/html/health/live" -w '%{content_type}' "$CATALOG_URL/health/live")
PRODUCT_BYTES=$(stat -c %s "$NGX/html$PRODUCT_PATH")
LIVE_BYTES=$(stat -c %s "$NGX/html/health/live")
cat >"$NGX/nginx.conf" <<EOF
# nginx for make bench: the same bytes and Content-Type as the project's answers
user $(id -un) $(id -gn);
worker_processes auto;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $NGX/logs/access.log;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { }
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $NGX/html;
        location = $PRODUCT_PATH { default_type "$PRODUCT_CT"; }
        location = /health/live { default_type "$LIVE_CT"; }
    }
}
EOF
chmod -R a+rX "$NGX/html"
chmod a+x "$SHADOW" "$NGX"
nginx -e "$NGX/logs/error.log" -p "$NGX" -c "$NGX/nginx.conf" </dev/null >>"$NGX/logs/stdout.log" 2>&1 &
NGX_PID=$!
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGX_PORT$PRODUCT_PATH")" = 200 ] && break
    kill -0 "$NGX_PID" 2>/dev/null || { cat "$NGX/logs/error.log" >&2; die "nginx did not start"; }
    sleep 0.1
done
cmp -s "$NGX/html$PRODUCT_PATH" <(curl -sS "http://127.0.0.1:$NGX_PORT$PRODUCT_PATH") ||
    die "nginx does not serve the product's bytes"
[ "$(curl -sS -o /dev/null -w '%{content_type}' "http://127.0.0.1:$NGX_PORT$PRODUCT_PATH")" = "$PRODUCT_CT" ] ||
    die "nginx does not serve the product's Content-Type '$PRODUCT_CT'"

# anchor_pair NAME PROJECT_URL NGINX_URL: BENCH_ROUNDS alternated rounds (odd: project first,
# even: nginx first); rows "round project_rps nginx_rps project_p99 nginx_p99" in $TMP/anchor-NAME
anchor_pair() {
    local name=$1 purl=$2 nurl=$3 r prps pp99 nrps np99
    : >"$TMP/anchor-$name"
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then
            run_wrk "$name-project" "$purl"; prps=$W_RPS pp99=$W_P99
            [ "$W_BAD$W_ERR" = 00 ] || die "project $name: $W_BAD non-2xx, $W_ERR socket errors"
            run_wrk "$name-nginx" "$nurl"; nrps=$W_RPS np99=$W_P99
        else
            run_wrk "$name-nginx" "$nurl"; nrps=$W_RPS np99=$W_P99
            run_wrk "$name-project" "$purl"; prps=$W_RPS pp99=$W_P99
            [ "$W_BAD$W_ERR" = 00 ] || die "project $name: $W_BAD non-2xx, $W_ERR socket errors"
        fi
        echo "$r $prps $nrps $pp99 $np99" >>"$TMP/anchor-$name"
    done
}
col() { awk -v c="$2" '{print $c}' "$1"; }
anchor_pair product "$CATALOG_URL$PRODUCT_PATH" "http://127.0.0.1:$NGX_PORT$PRODUCT_PATH"
anchor_pair live "$CATALOG_URL/health/live" "http://127.0.0.1:$NGX_PORT/health/live"
kill -QUIT "$NGX_PID" 2>/dev/null || true
wait "$NGX_PID" 2>/dev/null || true
NGX_PID=
# shellcheck disable=SC2046
{
    P_RPS=$(median $(col "$TMP/anchor-product" 2)); N_RPS=$(median $(col "$TMP/anchor-product" 3))
    P_P99=$(median $(col "$TMP/anchor-product" 4)); N_P99=$(median $(col "$TMP/anchor-product" 5))
    L_RPS=$(median $(col "$TMP/anchor-live" 2)); NL_RPS=$(median $(col "$TMP/anchor-live" 3))
    L_P99=$(median $(col "$TMP/anchor-live" 4)); NL_P99=$(median $(col "$TMP/anchor-live" 5))
}

ROWS=()
# row LABEL: a row of the "other phases" table from the last wrk run
row() {
    ROWS+=("$(printf '| %s | %s req | %s/s | %s | %s | non-2xx %s, socket errors %s |' "$1" "$W_N" \
        "$W_RPS" "$W_P50" "$W_P99" "$W_BAD" "$W_ERR")")
}
run_wrk page "$CATALOG_URL/api/catalog/products?size=20"
row "GET /api/catalog/products?size=20"

# ---- raw librdkafka hop on the same broker and MariaDB ----
# runs: 0 (linger 0, back to back), 0i (linger 0, HOP_IDLE ms idle before each round), 5
for r in 0 0i 5; do
    l=${r%i} idle=0
    [ "$r" = "$l" ] || idle=$HOP_IDLE
    say "raw hop: $HOP_ROUNDS rounds, linger.ms=$l, $idle ms idle before each"
    "$BIN/bench-hop" --rounds "$HOP_ROUNDS" --linger-ms "$l" --idle-ms "$idle" >"$TMP/hop-$r.out" 2>"$TMP/hop-$r.err" ||
        { cat "$TMP/hop-$r.err" >&2; die "bench-hop failed"; }
done
hopval() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$TMP/hop-$1.out"; }

saga "$TMP/saga-1.out" 1 "$ONE_ORDERS"

if [ -n "$BASELINE" ]; then
    # this checkout's scripts, REF's daemons, migrations and contracts: a shadow checkout whose
    # *-service/ and contracts/ are REF's; stack-private.sh makes the stack root from it
    H="$SHADOW/base-checkout"
    mkdir -p "$H"
    # shellcheck disable=SC2031
    for e in "$ROOT"/* "$ROOT"/.deps "$ROOT"/.clang-format; do
        [ -e "$e" ] || continue
        case $(basename "$e") in *-service | contracts) ;; *) ln -s "$e" "$H/$(basename "$e")" ;; esac
    done
    for e in "$BASE_BUILD"/src/*-service "$BASE_BUILD/src/contracts"; do ln -s "$e" "$H/$(basename "$e")"; done
    say "starting the baseline stack (${BASE_SHA:0:7}) in $BSR (ports $BASE2+)"
    BASE_UP=1
    STACK_BUILD=$BASE_BUILD STACK_NO_BUILD=1 STACK_PROMETHEUS=0 \
        bash "$H/scripts/stack-private.sh" up "$BSR" "$BASE2" >"$TMP/base-up.log" 2>&1 ||
        { tail -n 30 "$TMP/base-up.log" >&2; die "the baseline stack did not start (BENCH_KEEP=1 keeps $BSR)"; }
    (
        # shellcheck disable=SC1091
        . "$BSR/.run/env"
        make_data "$TMP/base-data.env" 1
    )
    # its JVM, connection pools and consumers warmed as this stack's are by its warm-up
    saga "$TMP/base-warmup.out" "$CLIENTS" "$WARMUP" "$BSR/.run/env" "$TMP/base-data.env"
fi
for ((r = 1; r <= SAGA_ROUNDS; r++)); do
    cpu_run "$TMP/saga16-$r.out" "$SR"
    if [ -n "$BASELINE" ]; then
        cpu_run "$TMP/base16-$r.out" "$BSR" "$BSR/.run/env" "$TMP/base-data.env"
    fi
done
if [ -n "$BASELINE" ]; then
    bash scripts/stack-private.sh down "$BSR" >/dev/null 2>&1 || say "baseline stack down failed"
    BASE_UP=0
fi

# ---- login burst and order intake ----
cat >"$TMP/login.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"email":"$EMAIL","password":"Bench-Passw0rd!"}'
wrk.headers["Content-Type"] = "application/json"
EOF
run_wrk login "$AUTH_URL/api/auth/login" "$TMP/login.lua" "$LOGIN_CONNS" "$LOGIN_DURATION"
row "POST /api/auth/login, $LOGIN_CONNS connections, ${LOGIN_DURATION}s"
cat >"$TMP/order.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"items":[{"skuId":$SKU,"quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
EOF
run_wrk intake "$ORDER_URL/api/orders" "$TMP/order.lua"
row "order intake POST /api/orders"
mem_snapshot "$SR" >"$TMP/mem-after"

# ---- the tables ----
# shellcheck disable=SC2046
{
    S1=$TMP/saga-1.out
    HOP50=$(hval "$S1" all p50_ms) HOP99=$(hval "$S1" all p99_ms)
    RAW50=$(hopval 0i hop_p50_ms) RAW99=$(hopval 0i hop_p99_ms)
    SRVX50=$(sval "$S1" srvx_p50_ms)
    RATE=$(median $(for f in "$TMP"/saga16-*.out; do sval "$f" rate; done))
    CPU=$(median $(for f in "$TMP"/saga16-*.out; do cpu_per_order "$f"; done))
    B_RATE=- B_CPU=-
    if [ -n "$BASELINE" ]; then
        B_RATE=$(median $(for f in "$TMP"/base16-*.out; do sval "$f" rate; done))
        B_CPU=$(median $(for f in "$TMP"/base16-*.out; do cpu_per_order "$f"; done))
    fi
}
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# worst FILE COL: "name value" of the largest value in column COL
worst() { sort -k"$2" -g "$1" | tail -n 1 | awk -v c="$2" '{print $1, $c}'; }
read -r IDLE_N IDLE_KB < <(worst "$TMP/mem-idle" 2)
read -r AFTER_N AFTER_KB < <(worst "$TMP/mem-after" 2)
read -r HWM_N HWM_KB < <(worst "$TMP/mem-after" 3)
read -r READY_N READY_MS < <(worst "$TMP/ready" 2)
BASE_LABEL="before ($BASELINE, ${BASE_SHA:0:7})"
[ -n "$BASELINE" ] || BASE_LABEL="before: no BENCH_BASELINE"
TREE="$(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+uncommitted')"

{
    echo
    echo "make bench — $(date -u '+%F %T UTC'), $(nproc) CPUs, tree $TREE, load $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s"
    echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, $ROUNDS alternated rounds per anchor pair (medians); saga: $CLIENTS clients × $ORDERS orders × $SAGA_ROUNDS rounds; one client × $ONE_ORDERS orders"
    echo
    echo "### Targets (issue 15), anchors from this run"
    echo
    echo "| figure | this tree | anchor | ratio | target | |"
    echo "|---|---|---|---|---|---|"
    echo "| \`GET /api/catalog/products/{id}\` req/s | $P_RPS | nginx, same $PRODUCT_BYTES bytes: $N_RPS | $(ratio "$P_RPS" "$N_RPS" 3)× | ≥ 0.5× nginx | $(verdict ge "$(ratio "$P_RPS" "$N_RPS" 4)" 0.5) |"
    echo "| same, p99 ms | $P_P99 | nginx: $N_P99 | $(ratio "$P_P99" "$N_P99" 1)× | ≤ 3× nginx | $(verdict le "$(ratio "$P_P99" "$N_P99" 4)" 3) |"
    echo "| \`/health/live\` req/s (HTTP layer) | $L_RPS | nginx, same $LIVE_BYTES bytes: $NL_RPS | $(ratio "$L_RPS" "$NL_RPS" 2)× | — | |"
    echo "| same, p99 ms | $L_P99 | nginx: $NL_P99 | $(ratio "$L_P99" "$NL_P99" 1)× | — | |"
    echo "| saga hop p50 ms, 1 client (all hops) | $HOP50 | raw librdkafka hop, linger.ms=0, $HOP_IDLE ms idle before each: $RAW50 | $(ratio "$HOP50" "$RAW50" 1)× | ≤ 2 ms | $(verdict le "$HOP50" 2) |"
    echo "| saga hop p99 ms, 1 client | $HOP99 | raw: $RAW99 | $(ratio "$HOP99" "$RAW99" 1)× | ≤ 5 ms | $(verdict le "$HOP99" 5) |"
    echo "| server CREATED → CONFIRMED p50 ms, 1 client, think time out | $SRVX50 | — | | ≤ 20 ms | $(verdict le "$SRVX50" 20) |"
    echo "| saga orders/s, $CLIENTS clients (median) | $RATE | $BASE_LABEL: $B_RATE | $(ratio "$RATE" "$B_RATE" 2)× | > before | $(verdict gt "$RATE" "$B_RATE") |"
    echo "| CPU-ms per confirmed order, $CLIENTS clients (median) | $CPU | $BASE_LABEL: $B_CPU | $(ratio "$CPU" "$B_CPU" 2)× | < before | $(verdict lt "$CPU" "$B_CPU") |"
    echo "| RSS idle MB, largest daemon | $IDLE_N $(mb "$IDLE_KB") | — | | ≤ 20 MB each | $(verdict le "$(mb "$IDLE_KB")" 20) |"
    echo "| RSS after the bench MB, largest daemon | $AFTER_N $(mb "$AFTER_KB") (high-water $HWM_N $(mb "$HWM_KB")) | — | | ≤ 60 MB each | $(verdict le "$(mb "$HWM_KB")" 60) |"
    echo "| ready ms after exec, slowest daemon | $READY_N $READY_MS | — | | ≤ 50 ms each | $(verdict le "$READY_MS" 50) |"
    echo
    echo "### Anchor rounds (wrk -t$THREADS -c$CONNS -d${DURATION}s; odd rounds project first)"
    echo
    echo "| round | product req/s | nginx req/s | product p99 ms | nginx p99 ms | live req/s | nginx req/s | live p99 ms | nginx p99 ms |"
    echo "|---|---|---|---|---|---|---|---|---|"
    paste -d' ' "$TMP/anchor-product" <(cut -d' ' -f2- "$TMP/anchor-live") | awk '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
    echo
    echo "### Saga hops (ms, from the events' Kafka timestamps; 1 ms resolution)"
    echo
    echo "| hop | 1 client p50 | p99 | $CLIENTS clients p50 | p99 (round 1) | before, $CLIENTS clients p50 | p99 |"
    echo "|---|---|---|---|---|---|---|"
    for h in placed\>reserved placed\>pcreated completed\>confirmed confirmed\>sconfirmed all pcreated\>completed; do
        b50=- b99=-
        if [ -f "$TMP/base16-1.out" ]; then b50=$(hval "$TMP/base16-1.out" "$h" p50_ms) b99=$(hval "$TMP/base16-1.out" "$h" p99_ms); fi
        case $h in
        placed\>reserved) l="order.placed → stock.reserved (inventory)" ;;
        placed\>pcreated) l="order.placed → payment.created (payment)" ;;
        completed\>confirmed) l="payment.completed → order.confirmed (order)" ;;
        confirmed\>sconfirmed) l="order.confirmed → stock.confirmed (inventory)" ;;
        all) l="**all four hops**" ;;
        *) l="payment.created → payment.completed (the client's confirm; no hop)" ;;
        esac
        echo "| $l | $(hval "$S1" "$h" p50_ms) | $(hval "$S1" "$h" p99_ms) | $(hval "$TMP/saga16-1.out" "$h" p50_ms) | $(hval "$TMP/saga16-1.out" "$h" p99_ms) | $b50 | $b99 |"
    done
    echo
    echo "One client, $(sval "$S1" confirmed)/$(sval "$S1" orders) CONFIRMED: server CREATED → CONFIRMED p50 $(sval "$S1" srv_p50_ms) / p99 $(sval "$S1" srv_p99_ms) ms, think time out p50 $SRVX50 / p99 $(sval "$S1" srvx_p99_ms) ms (the client's think time p50 $(sval "$S1" think_p50_ms) ms, $(sval "$S1" pay_retries) confirm retries); client POST → CONFIRMED seen p50 $(sval "$S1" cli_p50_ms) / p99 $(sval "$S1" cli_p99_ms) ms."
    echo
    echo "### Raw hop (bench-hop, $HOP_ROUNDS rounds: MariaDB commit → produce → consume → MariaDB commit)"
    echo
    echo "| linger.ms | idle before each round ms | hop p50 ms | hop p99 ms | produce → consumed p50 | p99 | one commit p50 |"
    echo "|---|---|---|---|---|---|---|"
    for r in 0 0i 5; do
        echo "| ${r%i} | $(hopval $r idle_ms) | $(hopval $r hop_p50_ms) | $(hopval $r hop_p99_ms) | $(hopval $r kafka_p50_ms) | $(hopval $r kafka_p99_ms) | $(hopval $r commit_p50_ms) |"
    done
    echo
    echo "### Saga at $CLIENTS clients ($ORDERS orders per round)"
    echo
    echo "| stack | round | CONFIRMED | orders/s | server p50 / p99 ms | client p50 / p99 ms | CPU-ms per order |"
    echo "|---|---|---|---|---|---|---|"
    for f in "$TMP"/saga16-*.out "$TMP"/base16-*.out; do
        [ -f "$f" ] || continue
        case $f in *base16*) st="before ${BASE_SHA:0:7}" ;; *) st="this tree" ;; esac
        r=${f##*16-}
        echo "| $st | ${r%.out} | $(sval "$f" confirmed)/$(sval "$f" orders) in $(sval "$f" wall_s) s | $(sval "$f" rate) | $(sval "$f" srv_p50_ms) / $(sval "$f" srv_p99_ms) | $(sval "$f" cli_p50_ms) / $(sval "$f" cli_p99_ms) | $(cpu_per_order "$f") |"
    done
    echo
    echo "CPU-ms per confirmed order by process (round 1; /proc/PID/stat utime+stime):"
    echo
    echo "| process | this tree | before |"
    echo "|---|---|---|"
    n1=$(sval "$TMP/saga16-1.out" confirmed)
    nb=$( [ -f "$TMP/base16-1.out" ] && sval "$TMP/base16-1.out" confirmed || echo 0)
    while read -r p ms; do
        b=-
        if [ -f "$TMP/base16-1.out.cpu" ] && [ "$nb" -gt 0 ]; then
            b=$(awk -v p="$p" -v n="$nb" '$1 == p {printf "%.1f", $2 / n}' "$TMP/base16-1.out.cpu")
        fi
        echo "| $p | $(awk -v m="$ms" -v n="$n1" 'BEGIN {if (n > 0) printf "%.1f", m / n; else print "-"}') | ${b:--} |"
    done <"$TMP/saga16-1.out.cpu"
    echo
    echo "### Daemons: memory and ready time"
    echo
    echo "| daemon | RSS idle MB (≤ 20) | RSS after MB | high-water MB (≤ 60) | ready ms (≤ 50) |"
    echo "|---|---|---|---|---|"
    for s in "${DAEMONS[@]}"; do
        i=$(awk -v s="$s" '$1 == s {print $2}' "$TMP/mem-idle")
        a=$(awk -v s="$s" '$1 == s {print $2}' "$TMP/mem-after")
        w=$(awk -v s="$s" '$1 == s {print $3}' "$TMP/mem-after")
        rd=$(awk -v s="$s" '$1 == s {print $2}' "$TMP/ready")
        echo "| $s-service | $(mb "${i:-0}") $( [ "$(verdict le "$(mb "${i:-0}")" 20)" = "not met" ] && echo "✗") | $(mb "${a:-0}") | $(mb "${w:-0}") $( [ "$(verdict le "$(mb "${w:-0}")" 60)" = "not met" ] && echo "✗") | ${rd:--} $( [ "$(verdict le "${rd:--}" 50)" = "not met" ] && echo "✗") |"
    done
    echo
    echo "(idle: right after the stack's start; ready: each daemon restarted alone, the others and MariaDB/Redis/Kafka up; after/high-water: the restarted daemons after every phase below, the login burst included)"
    echo
    echo "### Other phases"
    echo
    echo "| phase | count | throughput | p50 ms | p99 ms | notes |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$TMP/table.md"

# ---- the soak (a colleague's script; prints its own table) ----
if [ "${BENCH_SOAK:-1}" != 0 ] && [ -f scripts/bench-soak.sh ]; then
    say "soak: scripts/bench-soak.sh"
    BENCH_TOKEN=$TOKEN BENCH_SKU=$SKU BENCH_SAGA_BIN="$BIN/bench-saga" BENCH_STACK_ROOT=$SR \
        BENCH_TMP=$TMP BENCH_BIN=$BIN bash scripts/bench-soak.sh ||
        ERRORS+=("scripts/bench-soak.sh failed (rc $?)")
fi
finish
