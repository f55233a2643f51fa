#!/usr/bin/env bash
# bench-soak.sh - the soak at the end of `make bench`: places orders through the saga in rounds
# and shows that the state the system keeps per order is bounded (README "State and retention").
#
# usage: scripts/bench-soak.sh
#
# Run against a running stack whose .run/env is exported (scripts/bench.sh sources it: DB_HOST
# DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT ORDER_URL PAYMENT_URL …) plus:
#   BENCH_TOKEN       a USER access token            BENCH_SKU   a SKU with plenty of stock
#   BENCH_SAGA_BIN    the built tools/bench-saga
# The stack must have been started with short retentions, or nothing expires within the soak:
#   INVENTORY_RESERVATION_RETENTION_S=5 INBOX_RETENTION_S=60 INBOX_PURGE_MS=1000
# (60 is INBOX_RETENTION_S's minimum). The soak reads the same three variables to know how long
# to wait; unset, it assumes those values.
#
# Steps (bounded in time; stops by itself):
#   1. waits (≤ BENCH_SOAK_QUIET_S) until the stack is quiet: outboxes and the inventory stream
#      empty, no figure still changing (what earlier phases left has expired); measures the
#      start;
#   2. BENCH_SOAK_ROUNDS rounds of BENCH_SOAK_ORDERS orders (bench-saga, BENCH_SOAK_CLIENTS
#      clients, each round ≤ BENCH_SOAK_ROUND_DEADLINE s), measuring after each;
#   3. waits until the retention has passed (polling the per-order bookkeeping until it is back
#      at its start value, at most the longest retention + purge period + 60 s), measures again;
#   4. prints one table: Redis DBSIZE and used_memory, inv:res:* keys (open / expiring),
#      inv:evt:* keys, the outbox stream's length, and the rows of every table of every service
#      database that changed, each with its kind (business data that stays, or bookkeeping
#      that must come back), its growth per 1,000 orders and a verdict.
# Environment (defaults): BENCH_SOAK_ROUNDS=3 BENCH_SOAK_ORDERS=1000 BENCH_SOAK_CLIENTS=16
#   BENCH_SOAK_ROUND_DEADLINE=300 BENCH_SOAK_QUIET_S=180 INVENTORY_OUTBOX_STREAM=inv:outbox
# Exit status: 0 when every bookkeeping figure came back to its start value, 1 when one did not
# (named in the last line) or a round failed, 2 on a usage error (missing variables or tools).

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROUNDS=${BENCH_SOAK_ROUNDS:-3}
ORDERS=${BENCH_SOAK_ORDERS:-1000}
CLIENTS=${BENCH_SOAK_CLIENTS:-16}
ROUND_DEADLINE=${BENCH_SOAK_ROUND_DEADLINE:-300}
QUIET_S=${BENCH_SOAK_QUIET_S:-180}
STREAM=${INVENTORY_OUTBOX_STREAM:-inv:outbox}
RES_RET=${INVENTORY_RESERVATION_RETENTION_S:-5}
INBOX_RET=${INBOX_RETENTION_S:-60}
PURGE_MS=${INBOX_PURGE_MS:-1000}

say() { printf 'soak: %s\n' "$*" >&2; }
usage_error() { printf 'soak: error: %s\n' "$*" >&2; exit 2; }

[ $# -eq 0 ] || usage_error "no arguments expected (see --help)"
for v in DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT ORDER_URL PAYMENT_URL \
    BENCH_TOKEN BENCH_SKU BENCH_SAGA_BIN; do
    [ -n "${!v:-}" ] || usage_error "$v is not set (run it from scripts/bench.sh, see --help)"
done
[ -x "$BENCH_SAGA_BIN" ] || usage_error "BENCH_SAGA_BIN '$BENCH_SAGA_BIN' is not executable"
for t in redis-cli mariadb awk timeout; do command -v "$t" >/dev/null || usage_error "$t is needed"; done
for n in "$ROUNDS" "$ORDERS" "$CLIENTS" "$ROUND_DEADLINE" "$QUIET_S" "$RES_RET" "$INBOX_RET" "$PURGE_MS"; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || usage_error "'$n': want a positive number"
done
SETTLE_S=$(((RES_RET > INBOX_RET ? RES_RET : INBOX_RET) + PURGE_MS / 1000 + 60))
if [ "$SETTLE_S" -gt 900 ]; then
    say "warning: retentions of ${RES_RET}s / ${INBOX_RET}s cannot pass within a soak: waiting at most 900 s"
    SETTLE_S=900
fi

rcli() { redis-cli --no-auth-warning -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
sql() {
    mariadb --no-defaults -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -p"$DB_PASSWORD" \
        --batch --skip-column-names -e "$1"
}

# Bookkeeping: state kept per order or event only to process later messages right; it must come
# back to its start value once the retention has passed. Everything else is business data.
bookkeeping_table() {
    case $1 in
    *.outbox | *.inbox | commerce_payment.payment_idempotency) return 0 ;;
    *) return 1 ;;
    esac
}

# the service databases' tables, "db.table" per line
TABLES=$(sql "SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables
    WHERE table_schema LIKE 'commerce\\_%' AND table_type = 'BASE TABLE'
    ORDER BY table_schema, table_name")
[ -n "$TABLES" ] || usage_error "no commerce_* databases at $DB_HOST:$DB_PORT"

# measure: "name value" lines on stdout
measure() {
    local t counts q="" sep=""
    rcli DBSIZE | awk '{print "redis.dbsize", $1}'
    rcli INFO memory | awk -F: '$1 == "used_memory" {gsub(/\r/, "", $2); print "redis.used_memory", $2}'
    # each reservation's TTL: -1 open (never expires), > 0 terminal (expiring)
    rcli --scan --pattern 'inv:res:*' | awk '{print "TTL", $0}' | rcli 2>/dev/null |
        awk 'BEGIN {o = 0; e = 0} $1 == -1 {o++} $1 > 0 {e++} END {print "redis.inv_res_open", o; print "redis.inv_res_expiring", e}'
    rcli --scan --pattern 'inv:evt:*' | awk 'END {print "redis.inv_evt", NR}'
    rcli XLEN "$STREAM" | awk -v s="$STREAM" '{print "redis.stream:" s, $1}'
    for t in $TABLES; do
        q+="${sep}SELECT '$t', COUNT(*) FROM \`${t%%.*}\`.\`${t#*.}\`"
        sep=" UNION ALL "
    done
    counts=$(sql "$q")
    awk '{print "db." $1, $2}' <<<"$counts"
}

declare -A V   # V[col,name] = value
declare -a COLS NAMES
record() {
    local col=$1 name value
    COLS+=("$col")
    while read -r name value; do
        V["$col,$name"]=$value
        [[ " ${NAMES[*]:-} " == *" $name "* ]] || NAMES+=("$name")
    done < <(measure)
}
val() { echo "${V["$1,$2"]:-0}"; }

bookkeeping() {
    case $1 in
    redis.dbsize | redis.used_memory | redis.inv_res_expiring | redis.inv_evt | redis.stream:*) return 0 ;;
    db.*) bookkeeping_table "${1#db.}" ;;
    *) return 1 ;;
    esac
}

# the per-order bookkeeping is back at (or below) its start value
settled() {
    local m name now
    m=$(measure)
    while read -r name now; do
        bookkeeping "$name" || continue
        case $name in redis.dbsize | redis.used_memory) continue ;; esac
        [ "$now" -le "$(val start "$name")" ] || return 1
    done <<<"$m"
}

# quiet: no outbox row or stream entry waiting, and two samples 2 s apart equal (so what an
# earlier phase left has expired or been purged: the start is the stack's resting state)
quiet_sample() {
    measure | awk '$1 != "redis.used_memory"'
}
say "waiting (≤ ${QUIET_S}s) until the stack is quiet"
deadline=$((SECONDS + QUIET_S))
prev=""
while :; do
    cur=$(quiet_sample)
    pending=$(awk '$1 ~ /\.outbox$|^redis\.stream:/ {s += $2} END {print s + 0}' <<<"$cur")
    [ "$pending" = 0 ] && [ "$cur" = "$prev" ] && break
    [ "$SECONDS" -lt "$deadline" ] || { say "not quiet after ${QUIET_S}s: measuring anyway"; break; }
    prev=$cur
    sleep 2
done
record start

FAILED=""
for r in $(seq 1 "$ROUNDS"); do
    say "round $r of $ROUNDS: $ORDERS orders from $CLIENTS clients (load $(cut -d' ' -f1-3 /proc/loadavg))"
    out=$(timeout $((ROUND_DEADLINE + 30)) "$BENCH_SAGA_BIN" --order-url "$ORDER_URL" \
        --payment-url "$PAYMENT_URL" --token "$BENCH_TOKEN" --sku "$BENCH_SKU" \
        --orders "$ORDERS" --clients "$CLIENTS" --deadline "$ROUND_DEADLINE" 2>/dev/null) ||
        FAILED+=" round-$r"
    say "round $r: $(grep '^RESULT ' <<<"$out" | cut -d' ' -f2-6)"
    record "round $r"
done

say "waiting (≤ ${SETTLE_S}s) for the retention to pass (reservations ${RES_RET}s, inbox ${INBOX_RET}s, purge every ${PURGE_MS}ms)"
t0=$SECONDS
deadline=$((SECONDS + SETTLE_S))
until settled; do
    [ "$SECONDS" -lt "$deadline" ] || { say "bookkeeping not back after ${SETTLE_S}s"; break; }
    sleep 1
done
# the purge job and expiry are periodic: one more purge period so the figures are final
sleep $((PURGE_MS / 1000 + 1))
record "after $((SECONDS - t0))s"

# ---- the table ----
total=$((ROUNDS * ORDERS))
last=${COLS[$((${#COLS[@]} - 1))]}
lastround="round $ROUNDS"
UNBOUNDED=""
{
    echo
    echo "soak — $(date -u '+%F %T UTC'): $ROUNDS rounds of $ORDERS orders ($CLIENTS clients);" \
        "retention: reservations ${RES_RET}s, inbox ${INBOX_RET}s (purge every ${PURGE_MS}ms)"
    echo
    printf '| figure | kind |'
    for c in "${COLS[@]}"; do printf ' %s |' "$c"; done
    printf ' kept per 1,000 orders | verdict |\n|---|---|'
    for _ in "${COLS[@]}"; do printf -- '---|'; done
    printf -- '---|---|\n'
    for n in "${NAMES[@]}"; do
        s=$(val start "$n")
        e=$(val "$lastround" "$n")
        f=$(val "$last" "$n")
        # tables that never changed are left out (e.g. the user and auth databases)
        changed=0
        for c in "${COLS[@]}"; do [ "$(val "$c" "$n")" = "$s" ] || changed=1; done
        case $n in db.*) [ "$changed" = 1 ] || continue ;; esac
        # what stays per 1,000 orders: business data after the last round, bookkeeping after
        # the retention (so 0 when bounded)
        bookkeeping "$n" && e=$f
        per=$(awk -v s="$s" -v e="$e" -v t="$total" 'BEGIN {
            v = (e - s) * 1000 / t; r = int(v < 0 ? -v + 0.5 : v + 0.5)
            if (r == 0) print "0"; else printf "%s%d\n", v < 0 ? "-" : "+", r }')
        if [ "$n" = redis.used_memory ]; then
            per=$(awk -v s="$s" -v e="$e" -v t="$total" 'BEGIN {printf "%+.1f KiB", (e - s) / 1024 * 1000 / t}')
        fi
        if [ "$n" = redis.inv_res_open ]; then
            kind="state (open)"
            verdict="kept while open: $f now"
        elif bookkeeping "$n"; then
            kind=bookkeeping
            case $n in
            redis.used_memory) slack=$((s / 10 > 1048576 ? s / 10 : 1048576)) ;;
            redis.dbsize) slack=$((total / 100)) ;;
            *) slack=0 ;;
            esac
            if [ "$f" -le $((s + slack)) ]; then
                verdict="flat: back to the start value"
            else
                verdict="NOT BOUNDED: +$((f - s)) after the retention"
                UNBOUNDED+=" ${n#db.}"
            fi
        elif [ "$per" = 0 ]; then
            kind=business
            verdict="does not grow with orders (per SKU)"
        else
            kind=business
            verdict="grows linearly with orders (business data, kept)"
        fi
        if [ "$n" = redis.used_memory ]; then
            printf '| %s | %s |' "$n" "$kind"
            for c in "${COLS[@]}"; do
                printf ' %s |' "$(awk -v b="$(val "$c" "$n")" 'BEGIN {printf "%.1f MiB", b / 1048576}')"
            done
        else
            printf '| %s | %s |' "$n" "$kind"
            for c in "${COLS[@]}"; do printf ' %s |' "$(val "$c" "$n")"; done
        fi
        printf ' %s | %s |\n' "$per" "$verdict"
    done
    echo
    echo "(redis.inv_res_open: reservations still held, e.g. unpaid orders of the order-intake phase until ORDER_PAYMENT_DEADLINE_S; they never expire by design)"
    if [ -n "$FAILED" ] || [ -n "$UNBOUNDED" ]; then
        echo "SOAK failed:${FAILED:+ saga$FAILED}${UNBOUNDED:+ not bounded:$UNBOUNDED}"
    else
        echo "SOAK ok: every bookkeeping figure back to its start value after the retention"
    fi
}
[ -z "$FAILED" ] && [ -z "$UNBOUNDED" ]
