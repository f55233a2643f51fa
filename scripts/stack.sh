#!/usr/bin/env bash
# stack.sh - the local development stack without Docker: MariaDB, Redis, Kafka and every
# service binary that is built, on loopback, with state in .run/ (gitignored).
#
# usage: [INSTANCES=N] [KAFKA_NODES=3] scripts/stack.sh run|up|down|status
#        scripts/stack.sh instance-stop|instance-start K
#   up      install what is missing, build (make -j2), start infra and services, wait until
#           each service answers GET /health/ready, write .run/env, print every instance's
#           address; returns when ready
#   run     up, then stay in the foreground; Ctrl-C / SIGTERM → down
#   down    stop the services (SIGTERM, 20 s, SIGKILL), then the infra; leaves no process
#   status  what runs
#   instance-stop K   stop instance K (2..9) of every service of the running stack (SIGTERM,
#                     20 s, SIGKILL); the others and the infra keep running
#   instance-start K  start instance K of every built service again (its port, log, pid file and
#                     identity as up gives it) and wait until each answers GET /health/ready;
#                     the same <SVC>_PORT variables as up (make bench uses both to measure 1
#                     against 2 instances in one run)
#
# Ports (override with the variables; defaults avoid the system services' ports):
#   MariaDB DB_PORT=3307   Redis REDIS_PORT=6380   Kafka KAFKA_PORT=9092 (controller 9093)
#   user 8081, inventory 8083, catalog 8084, order 8085, payment 8087, auth 8089
#   (USER_PORT INVENTORY_PORT CATALOG_PORT ORDER_PORT PAYMENT_PORT AUTH_PORT)
#   Prometheus PROMETHEUS_PORT=9090
#
# INSTANCES=N (1..9, default 1): N instances of every service, instance k (1..N) on the
# service's port + 100*(k-1) (user 8081, 8181, 8281, …), each with its own log
# (.run/logs/<svc>-service.log for k = 1, <svc>-service-k.log after) and pid file, and its own
# identity where the service has one (scripts/stack-env.sh STACK_ENV_IDENTITY:
# INVENTORY_RELAY_NAME=relay-k); user-service instance k asks auth-service instance k. All
# instances of a service share its database, Redis and consumer group (KAFKA_GROUP_ID). .run/env
# has <SVC>_URL (instance 1), <SVC>_URL_<k> for k ≥ 2, <SVC>_URLS (all, comma separated) and
# STACK_INSTANCES. `down` stops every instance that runs, whatever INSTANCES says.
# KAFKA_NODES=3: a 3-node Kafka cluster (scripts/infra.sh), node n on KAFKA_PORT + 100*(n-1)
# (controller KAFKA_CONTROLLER_PORT + 100*(n-1)): 9092/9093, 9192/9193, 9292/9293; topics with
# replication factor 3 and min.insync.replicas=2 (scripts/create-topics.sh). A .run/ keeps the
# node count it was first started with (rm -rf .run/infra to change it; the topics are lost).
# Data (databases, Redis AOF, Kafka log) and the ES256 key pair (.run/jwt-*.pem) persist
# across down/up; `rm -rf .run` starts afresh. Logs: .run/logs/<service>.log.
# Kafka (with the JDK of scripts/deps.sh) authenticates and authorises every client (README
# "Event bus security"): the principals' passwords come from .env (KAFKA_PASSWORD_*, `make env`)
# and are kept in .run/infra/kafka/users/; after the topics, `commercectl kafka acls` gives each
# service's principal its ACLs, and each service logs in as itself. .run/env holds the admin's
# login (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*), so commercectl works after `. .run/env`.
# Use it:  . .run/env; curl -H "Authorization: Bearer $(scripts/dev-token ADMIN 1)" $CATALOG_URL/...
# Every variable of the caller's environment (e.g. LOG_LEVEL) is passed to the services.
# STACK_BUILD (default build; relative to the checkout, or absolute) is the build folder used;
# STACK_NO_BUILD=1 skips `make`.
# Prometheus: when Debian's /usr/bin/prometheus is installed (scripts/deps.sh installs it), up
# also starts it on 127.0.0.1:${PROMETHEUS_PORT:-9090} with deploy/prometheus.yml — the file
# docker-compose.yml mounts — its targets rewritten to this stack's ports and its scrape interval
# set by PROMETHEUS_SCRAPE_INTERVAL (default: the file's; it sets the rule evaluation interval
# too). It evaluates the alert rules of deploy/prometheus/alerts.yml (firing alerts: its /alerts
# page and /api/v1/alerts; no Alertmanager). Data in .run/prometheus.
# STACK_PROMETHEUS=0 leaves it out. Grafana comes only with docker-compose.yml (not in Debian).

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUN="$ROOT/.run"
INFRA_STATE="$RUN/infra"
PIDS="$RUN/pids"
LOGS="$RUN/logs"
READY_DEADLINE_S=${READY_DEADLINE_S:-60}
STOP_DEADLINE_S=20
BUILD=${STACK_BUILD:-build}
case $BUILD in
/*) BIN="$BUILD/bin" ;;
*) BIN="$ROOT/$BUILD/bin" ;;
esac
PROM_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
PROM_PORT=${PROMETHEUS_PORT:-9090}

# name, env prefix for the URL variable, default port (README "Architecture")
SERVICES=(user:USER:8081 inventory:INVENTORY:8083 catalog:CATALOG:8084 order:ORDER:8085
          payment:PAYMENT:8087 auth:AUTH:8089)
INSTANCES=${INSTANCES:-1}
MAX_INSTANCES=9
# the services' environment contract and ports (stack_env_port, stack_env_export)
# shellcheck disable=SC1091
. "$ROOT/scripts/stack-env.sh"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

infra() {
    STATE_DIR="$INFRA_STATE" BUILD_DIR="$ROOT/$BUILD" \
        INFRA_KAFKA_PASSWORD_ADMIN="${KAFKA_PASSWORD_ADMIN:-}" \
        INFRA_KAFKA_PASSWORD_CATALOG="${KAFKA_PASSWORD_CATALOG:-}" \
        INFRA_KAFKA_PASSWORD_INVENTORY="${KAFKA_PASSWORD_INVENTORY:-}" \
        INFRA_KAFKA_PASSWORD_ORDER="${KAFKA_PASSWORD_ORDER:-}" \
        INFRA_KAFKA_PASSWORD_PAYMENT="${KAFKA_PASSWORD_PAYMENT:-}" \
        INFRA_DB_PORT="${DB_PORT:-3307}" INFRA_REDIS_PORT="${REDIS_PORT:-6380}" \
        INFRA_KAFKA_PORT="${KAFKA_PORT:-9092}" \
        INFRA_KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}" \
        KAFKA_NODES="${KAFKA_NODES:-}" \
        bash scripts/infra.sh "$@"
}

svc_pid() {
    local f="$PIDS/$1.pid" pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# The pid/log name of instance @2 of service @1: "order" for instance 1, "order-2" after.
inst_name() { if [ "$2" -eq 1 ]; then echo "$1"; else echo "$1-$2"; fi; }

# Instance @2's log file name: "order-service.log", "order-service-2.log".
inst_log() { if [ "$2" -eq 1 ]; then echo "$1-service.log"; else echo "$1-service-$2.log"; fi; }

# stop_service NAME [LABEL]: SIGTERM, SIGKILL after STOP_DEADLINE_S
stop_service() {
    local name=$1 label=${2:-$1-service} pid i
    pid=$(svc_pid "$name") || { rm -f "$PIDS/$name.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_DEADLINE_S * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$label (pid $pid) ignored SIGTERM for ${STOP_DEADLINE_S}s; killing"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$PIDS/$name.pid"
    say "$label stopped"
}

do_down() {
    local entry i k name
    # reverse order of start; every instance that has a pid file
    stop_service prometheus prometheus
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        entry=${SERVICES[$i]}
        for ((k = MAX_INSTANCES; k >= 1; k--)); do
            name=$(inst_name "${entry%%:*}" "$k")
            [ -f "$PIDS/$name.pid" ] || continue
            stop_service "$name" "${entry%%:*}-service instance $k"
        done
    done
    if [ -d "$INFRA_STATE" ]; then
        infra stop
    fi
    rm -f "$RUN/env" "$RUN/instances"
    say "down"
}

# deploy/prometheus.yml for this stack: "<svc>-service:<port>" targets → 127.0.0.1:<this port>
# (one target per instance: arguments NAME:PORT[,PORT…]),
# its own target → 127.0.0.1:PROM_PORT, the scrape and rule evaluation interval from
# PROMETHEUS_SCRAPE_INTERVAL, the alert rules (deploy/prometheus/alerts.yml) by absolute path,
# and no alerting block (the Alertmanager is docker-compose.yml's).
prometheus_config() {
    local entry name port ports targets expr=() interval=${PROMETHEUS_SCRAPE_INTERVAL:-}
    for entry in "$@"; do
        name=${entry%%:*}
        IFS=, read -r -a ports <<<"${entry#*:}"
        targets=""
        for port in "${ports[@]}"; do
            targets="$targets${targets:+, }\"127.0.0.1:$port\""
        done
        expr+=(-e "s/\"$name-service:[0-9]*\"/$targets/")
    done
    expr+=(-e "s/\"localhost:9090\"/\"127.0.0.1:$PROM_PORT\"/")
    expr+=(-e "s|^  - \"prometheus/alerts.yml\"|  - \"$ROOT/deploy/prometheus/alerts.yml\"|")
    expr+=(-e '/^alerting:/,/^$/d')
    if [ -n "$interval" ]; then
        [[ $interval =~ ^[0-9]+(ms|s|m)$ ]] ||
            die "PROMETHEUS_SCRAPE_INTERVAL='$interval': want e.g. 1s, 500ms, 1m"
        expr+=(-e "s/^  scrape_interval: .*/  scrape_interval: $interval/")
        expr+=(-e "s/^  evaluation_interval: .*/  evaluation_interval: $interval/")
    fi
    sed "${expr[@]}" "$ROOT/deploy/prometheus.yml"
}

# start_prometheus NAME:PORT[,PORT…]...: Prometheus scraping the started instances, waited ready
start_prometheus() {
    local deadline
    if [ "${STACK_PROMETHEUS:-1}" = 0 ]; then
        return 0
    fi
    if [ ! -x "$PROM_BIN" ]; then
        say "no $PROM_BIN (apt-get install prometheus): metrics only at each service's /metrics"
        return 0
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PROM_PORT") 2>/dev/null; then
        say "port $PROM_PORT is in use: no prometheus (set PROMETHEUS_PORT to another port)"
        return 0
    fi
    mkdir -p "$RUN/prometheus"
    prometheus_config "$@" >"$RUN/prometheus.yml"
    printf '\n==== start %s ====\n' "$(date '+%F %T')" >>"$LOGS/prometheus.log"
    (cd "$RUN/prometheus" && exec setsid "$PROM_BIN" --config.file="$RUN/prometheus.yml" \
        --storage.tsdb.path="$RUN/prometheus/data" --storage.tsdb.retention.time=7d \
        --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn) \
        </dev/null >>"$LOGS/prometheus.log" 2>&1 &
    echo $! >"$PIDS/prometheus.pid"
    echo "$PROM_PORT" >"$RUN/prometheus.port"
    deadline=$((SECONDS + READY_DEADLINE_S))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://127.0.0.1:$PROM_PORT/-/ready")" = 200 ]; do
        if ! svc_pid prometheus >/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$LOGS/prometheus.log" >&2
            die "prometheus not ready on 127.0.0.1:$PROM_PORT (log: .run/logs/prometheus.log)"
        fi
        sleep 0.2
    done
    printf 'export PROMETHEUS_URL=http://127.0.0.1:%s\n' "$PROM_PORT" >>"$RUN/env.tmp"
    say "prometheus ready on http://127.0.0.1:$PROM_PORT"
}

ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/health/ready")" = 200 ]
}

do_up() {
    local entry name prefix port bin pid deadline url
    [[ $INSTANCES =~ ^[1-9]$ ]] || die "INSTANCES='$INSTANCES': want 1 to $MAX_INSTANCES"
    if [ -f "$RUN/env" ] && infra status >/dev/null 2>&1; then
        say "already up (.run/env); run 'scripts/stack.sh down' first to restart"
        return 0
    fi
    bash scripts/deps.sh
    mkdir -p "$RUN" "$PIDS" "$LOGS"
    if [ "${STACK_NO_BUILD:-0}" != 1 ]; then
        say "building (make -j2 BUILD=$BUILD)"
        make -j2 BUILD="$BUILD" >"$LOGS/build.log" 2>&1 ||
            { tail -n 40 "$LOGS/build.log" >&2; die "build failed (log: .run/logs/build.log)"; }
    fi

    # the ES256 key pair in .run/ and the secrets in .env (service credential, admin account),
    # made once by `make env` and shared with docker-compose.yml; kept across down/up
    bash scripts/env.sh
    # shellcheck disable=SC1091
    . "$ROOT/.env"

    # from here on a failure takes everything down again
    trap 'rc=$?; [ "$rc" -eq 0 ] || { say "up failed; stopping what was started"; do_down; }' EXIT
    infra start
    # shellcheck disable=SC1091
    . "$INFRA_STATE/env"
    export DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT KAFKA_BOOTSTRAP KAFKA_KIND
    bash scripts/create-topics.sh
    # each service's principal may do what kafka_acl.h says, nothing more (README "Event bus
    # security"); without SASL (the mock broker) there is nobody to authorise
    case ${KAFKA_SECURITY_PROTOCOL:-} in
    SASL_*)
        [ -x "$BIN/commercectl" ] || die "no $BIN/commercectl to create the Kafka ACLs (build it: make)"
        "$BIN/commercectl" kafka acls >"$LOGS/kafka-acls.log" 2>&1 ||
            { tail -n 20 "$LOGS/kafka-acls.log" >&2; die "cannot create the Kafka ACLs"; }
        say "kafka ACLs of $(grep -c ALLOW "$LOGS/kafka-acls.log") rules (log: .run/logs/kafka-acls.log)"
        ;;
    esac
    # each MariaDB-backed service's database (README "Architecture"); the services apply their migrations
    mariadb --no-defaults -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -p"$DB_PASSWORD" -e "
        CREATE DATABASE IF NOT EXISTS commerce_user CHARACTER SET utf8mb4;
        CREATE DATABASE IF NOT EXISTS commerce_catalog CHARACTER SET utf8mb4;
        CREATE DATABASE IF NOT EXISTS commerce_order CHARACTER SET utf8mb4;
        CREATE DATABASE IF NOT EXISTS commerce_payment CHARACTER SET utf8mb4;
        CREATE DATABASE IF NOT EXISTS commerce_auth CHARACTER SET utf8mb4;
        CREATE DATABASE IF NOT EXISTS commerce_inventory CHARACTER SET utf8mb4;" ||
        die "cannot create the databases"

    local envfile="$RUN/env.tmp"
    {
        echo "# written by scripts/stack.sh up; source it"
        grep '^export' "$INFRA_STATE/env" | grep -v TEST_STATE_DIR
        printf 'export JWT_PRIVATE_KEY_FILE=%q JWT_PUBLIC_KEY_FILE=%q\n' \
            "$RUN/jwt-private.pem" "$RUN/jwt-public.pem"
        printf 'export ADMIN_EMAIL=%q ADMIN_PASSWORD=%q AUTH_SERVICE_TOKEN=%q\n' \
            "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$AUTH_SERVICE_TOKEN"
    } >"$envfile"

    # every instance of every built service: instance k on port + 100*(k-1), its own log, pid
    # file and identity (STACK_INSTANCE → scripts/stack-env.sh)
    local started=() scrape=() k inst log urls plist
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name prefix port <<<"$entry"
        bin="$BIN/$name-service"
        [ -x "$bin" ] || continue
        urls="" plist=""
        for ((k = 1; k <= INSTANCES; k++)); do
            inst=$(inst_name "$name" "$k")
            log=$(inst_log "$name" "$k")
            port=$(stack_env_port "$name" "$k")
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
                die "port $port for $name-service instance $k is in use"
            printf '\n==== start %s ====\n' "$(date '+%F %T')" >>"$LOGS/$log"
            # each service gets exactly its variables of the shared contract (scripts/stack-env.sh)
            (STACK_INSTANCE=$k && stack_env_export "$name" && exec setsid "$bin") </dev/null \
                >>"$LOGS/$log" 2>&1 &
            echo $! >"$PIDS/$inst.pid"
            started+=("$name:$port:$k")
            urls="$urls${urls:+,}http://127.0.0.1:$port"
            plist="$plist${plist:+,}$port"
            if [ "$k" -eq 1 ]; then
                printf 'export %s_URL=http://127.0.0.1:%s\n' "$prefix" "$port" >>"$envfile"
            else
                printf 'export %s_URL_%s=http://127.0.0.1:%s\n' "$prefix" "$k" "$port" >>"$envfile"
            fi
        done
        printf 'export %s_URLS=%s\n' "$prefix" "$urls" >>"$envfile"
        scrape+=("$name:$plist")
    done
    printf 'export STACK_INSTANCES=%s\n' "$INSTANCES" >>"$envfile"
    [ "${#started[@]}" -gt 0 ] || say "no service binary in build/bin yet: infra only"

    for entry in "${started[@]}"; do
        IFS=: read -r name port k <<<"$entry"
        inst=$(inst_name "$name" "$k")
        log=$(inst_log "$name" "$k")
        url="http://127.0.0.1:$port"
        deadline=$((SECONDS + READY_DEADLINE_S))
        until ready "$url"; do
            if ! pid=$(svc_pid "$inst"); then
                tail -n 40 "$LOGS/$log" >&2
                die "$name-service instance $k exited during start (log: .run/logs/$log)"
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                tail -n 40 "$LOGS/$log" >&2
                die "$name-service instance $k not ready at $url/health/ready within ${READY_DEADLINE_S}s"
            fi
            sleep 0.2
        done
        say "$name-service instance $k ready on $url"
    done
    start_prometheus "${scrape[@]}"
    mv "$envfile" "$RUN/env"
    echo "$INSTANCES" >"$RUN/instances"
    trap - EXIT
    # every instance's address, and Kafka's
    printf '%-12s %-10s %s\n' service instance address
    for entry in "${started[@]}"; do
        IFS=: read -r name port k <<<"$entry"
        printf '%-12s %-10s http://127.0.0.1:%s\n' "$name" "$k" "$port"
    done
    printf '%-12s %-10s %s\n' kafka "${KAFKA_NODES:-1} node(s)" "$KAFKA_BOOTSTRAP"
    say "up: . .run/env to use it; scripts/stack.sh down to stop"
}

# The instance count of the running stack (what up wrote), else INSTANCES.
up_instances() { cat "$RUN/instances" 2>/dev/null || echo "$INSTANCES"; }

do_status() {
    local entry name inst k rc=0
    infra status || rc=$?
    if svc_pid prometheus >/dev/null; then
        printf '%-12s running (pid %s) on http://127.0.0.1:%s\n' prometheus \
            "$(svc_pid prometheus)" "$(cat "$RUN/prometheus.port" 2>/dev/null)"
    fi
    for entry in "${SERVICES[@]}"; do
        name=${entry%%:*}
        for ((k = 1; k <= $(up_instances); k++)); do
            inst=$(inst_name "$name" "$k")
            if svc_pid "$inst" >/dev/null; then
                printf '%-12s running (pid %s) on http://127.0.0.1:%s\n' "$inst" \
                    "$(svc_pid "$inst")" "$(stack_env_port "$name" "$k")"
            elif [ -x "$BIN/$name-service" ]; then
                printf '%-12s stopped\n' "$inst"
                rc=3
            fi
        done
    done
    return "$rc"
}

do_run() {
    do_up
    trap 'say "stopping"; do_down; exit 0' INT TERM
    say "running; Ctrl-C to stop"
    local entry name inst k
    while :; do
        for entry in "${SERVICES[@]}"; do
            name=${entry%%:*}
            for ((k = 1; k <= INSTANCES; k++)); do
                inst=$(inst_name "$name" "$k")
                if [ -f "$PIDS/$inst.pid" ] && ! svc_pid "$inst" >/dev/null; then
                    say "$name-service instance $k exited (log: .run/logs/$(inst_log "$name" "$k"))"
                    rm -f "$PIDS/$inst.pid"
                fi
            done
        done
        # idle wait in the background so the signal trap runs at once
        sleep 2 &
        wait $! || true
    done
}

# instance_action stop|start K: instance K of every service of the running stack (header)
instance_action() {
    local verb=$1 k=${2:-} entry name prefix port inst log bin deadline
    [[ $k =~ ^[2-9]$ ]] || die "instance-$verb '$k': want an instance number from 2 to $MAX_INSTANCES"
    [ -f "$RUN/env" ] || die "the stack is not up (no .run/env)"
    if [ "$verb" = stop ]; then
        for entry in "${SERVICES[@]}"; do
            stop_service "$(inst_name "${entry%%:*}" "$k")" "${entry%%:*}-service instance $k"
        done
        return 0
    fi
    # shellcheck disable=SC1091
    . "$ROOT/.env"
    # shellcheck disable=SC1091
    . "$INFRA_STATE/env"
    export DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT KAFKA_BOOTSTRAP KAFKA_KIND
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name prefix port <<<"$entry"
        inst=$(inst_name "$name" "$k") log=$(inst_log "$name" "$k") bin="$BIN/$name-service"
        if [ ! -x "$bin" ] || svc_pid "$inst" >/dev/null; then continue; fi
        port=$(stack_env_port "$name" "$k")
        printf '\n==== start %s ====\n' "$(date '+%F %T')" >>"$LOGS/$log"
        (STACK_INSTANCE=$k && stack_env_export "$name" && exec setsid "$bin") </dev/null \
            >>"$LOGS/$log" 2>&1 &
        echo $! >"$PIDS/$inst.pid"
    done
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name prefix port <<<"$entry"
        inst=$(inst_name "$name" "$k") port=$(stack_env_port "$name" "$k")
        [ -f "$PIDS/$inst.pid" ] || continue
        deadline=$((SECONDS + READY_DEADLINE_S))
        until ready "http://127.0.0.1:$port"; do
            svc_pid "$inst" >/dev/null || die "$name-service instance $k exited during start (log: .run/logs/$(inst_log "$name" "$k"))"
            [ "$SECONDS" -lt "$deadline" ] || die "$name-service instance $k not ready within ${READY_DEADLINE_S}s"
            sleep 0.2
        done
        say "$name-service instance $k ready on http://127.0.0.1:$port"
    done
}

case "${1:-}" in
up) do_up ;;
down) do_down ;;
run) do_run ;;
status) do_status ;;
instance-stop) instance_action stop "${2:-}" ;;
instance-start) instance_action start "${2:-}" ;;
*) echo "usage: $0 run|up|down|status | instance-stop|instance-start K" >&2; exit 2 ;;
esac
