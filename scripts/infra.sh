#!/usr/bin/env bash
# infra.sh - starts and stops private MariaDB, Redis and Kafka instances for the test harness
# (scripts/test.sh) and the local stack (scripts/stack.sh), on loopback only.
#
# usage: STATE_DIR=DIR scripts/infra.sh ACTION
#   start                     start all three (data kept if DIR already holds some), wait until
#                             each answers, write DIR/env
#   stop                      stop everything started from DIR (TERM, then KILL after 30 s)
#   status                    print what runs; exit 0 when all run, 3 otherwise
#   SERVICE-stop|-start|-restart   one of mariadb, redis, kafka; same port and data (tests
#                             stop the broker and bring it back); kafka-* acts on every node
#   kafka-N-stop|-start|-kill one node N (1..KAFKA_NODES) of the Apache broker: stop = SIGTERM
#                             (controlled shutdown), kill = SIGKILL (a crash; returns once the
#                             process is gone), start = the same node, port and data again,
#                             returns when it logged "Kafka Server started"
#                             stop the broker and bring it back); with Redis Sentinel, redis
#                             means every Redis node and sentinel
#   redis-primary-kill        (Sentinel) SIGKILL the node that is primary now (asked from the
#                             sentinels); prints its name (redis-1 or redis-2) on stdout
#   redis-N-start|-stop       (Sentinel) node N (1 or 2): start it (a node that is not the
#                             primary comes back as a replica of the current one), or stop it
#
# Redis with failover (REDIS_SENTINELS=3 at start; default: one node): a primary (node 1, on
# REDIS_PORT), one replica (node 2) and 3 redis-sentinel processes (quorum 2,
# down-after-milliseconds 1000, failover-timeout 3000), master name commerce
# (INFRA_REDIS_MASTER_NAME), all on loopback without a password. DIR/env then also exports
# REDIS_SENTINELS (host:port list) and REDIS_MASTER_NAME; REDIS_HOST/REDIS_PORT stay the first
# primary's, for tools (give a service REDIS_HOST= with REDIS_SENTINELS: inventory-service
# refuses both). The layout is kept in DIR/redis.set for the later actions.
#
# DIR/env holds export lines: DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT
# KAFKA_BOOTSTRAP KAFKA_NODES KAFKA_KIND TEST_STATE_DIR (lines only for the servers started,
# see INFRA_SERVICES), and with the Apache broker the admin's login:
# KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=SCRAM-SHA-512
# KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD, and KAFKA_SASL_USERS_DIR (DIR/kafka/users:
# <principal>.password of admin and of each service). DIR/logs/ holds each server's log.
#
# The Apache broker (KRaft) authenticates every client (SASL_PLAINTEXT, SCRAM-SHA-512) and
# authorises it (StandardAuthorizer, no ACL = denied); User:admin is its only super user (the
# tooling: topics, ACLs, the tests' own readers and producers). The credentials of admin and of
# catalog-, inventory-, order- and payment-service are written into the metadata when the
# storage is formatted (the first start of DIR). The services' ACLs are made by
# `commercectl kafka acls` (scripts/stack.sh; ts_service_start() in the tests). The controller
# listener (loopback) uses SASL PLAIN with the admin's password. The mock broker takes anyone.
#
# Kafka cluster (KAFKA_NODES=3, Apache broker only): N combined broker+controller nodes on
# loopback, node n (1..N) with its own client and controller port, DIR/kafka/node-n/ (config,
# data) and DIR/logs/kafka-n.log, pid file kafka-n; a controller quorum of all N; the same
# SCRAM users in every node's storage (one cluster id, DIR/kafka/cluster.id); replication
# factor min(3, N) for new topics (default.replication.factor) and for the offsets and
# transaction state topics, min.insync.replicas 2 from 3 nodes on (1 below). KAFKA_BOOTSTRAP
# lists every node, node 1 first, in node order ("127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3").
# The nodes are formatted and started in parallel, each JVM with a small heap, the client
# compiler only and the serial collector (least CPU on a small machine). With one node
# (the default) the layout is the single broker's: DIR/kafka/, logs/kafka.log, pid file kafka.
# From C tests: ts_kafka_cluster_start() (tests/support/testsup.h) starts a private cluster
# with INFRA_SERVICES=kafka and ts_infra_in() runs these actions on it.
#
# Environment (start):
#   INFRA_DB_PORT INFRA_REDIS_PORT INFRA_KAFKA_PORT INFRA_KAFKA_CONTROLLER_PORT
#                    fixed ports (default: the ports of an earlier start from DIR, else free
#                    ports picked at random); Kafka node n gets INFRA_KAFKA_PORT + 100*(n-1)
#                    and INFRA_KAFKA_CONTROLLER_PORT + 100*(n-1)
#   KAFKA_NODES      1 (default; or the count of an earlier start from DIR) or 3: the Kafka
#                    cluster above; a DIR keeps the count it was first started with
#   INFRA_KAFKA_HEAP JVM heap per node (default 512m for one node, 320m each for a cluster)
#   INFRA_SERVICES   the servers `start` brings up (default "mariadb redis kafka"); e.g.
#                    "kafka" for a private Kafka cluster next to the harness's MariaDB/Redis
#   KAFKA_BOOTSTRAP  when set, no broker is started: that one is used (KAFKA_KIND=external)
#   INFRA_KAFKA      apache | mock: force a broker kind (default apache when a JDK and the
#                    jars of scripts/deps.sh exist, else mock)
#   KAFKA_LIBS       Kafka jar folder (default .deps/kafka-3.7.2/libs)
#   INFRA_KAFKA_PASSWORD_ADMIN, _CATALOG, _INVENTORY, _ORDER, _PAYMENT
#                    the principals' passwords at the first start (default: random); kept in
#                    DIR/kafka/users/, and a later start with different ones is refused
#   BUILD_DIR        where bin/mock-kafka is (default build)
#   REDIS_SENTINELS  a number of sentinels (3; 1..5): Redis with failover, see above; a
#                    host:port list (from a sourced DIR/env) is not a layout and is ignored

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${STATE_DIR:?STATE_DIR must name the state folder}"
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

STOP_DEADLINE_S=30
START_DEADLINE_S=${INFRA_START_DEADLINE_S:-90}
PORTS_FILE="$STATE_DIR/infra.ports"
PIDS="$STATE_DIR/pids"
LOGS="$STATE_DIR/logs"
DB_DIR="$STATE_DIR/mariadb"
DB_SOCK="$DB_DIR/mariadbd.sock"
REDIS_DIR="$STATE_DIR/redis"
KAFKA_DIR="$STATE_DIR/kafka"

die() { printf 'infra: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'infra: %s\n' "$*" >&2; }

# Prints the last lines of log @1 to stderr, framed.
log_tail() {
    [ -f "$1" ] || return 0
    printf -- '---- last lines of %s ----\n' "$1" >&2
    tail -n "${2:-40}" "$1" >&2 || true
    printf -- '---- end ----\n' >&2
}

# ---- ports ----

# True when nothing listens on 127.0.0.1:@1 (and, with python3, it can be bound).
port_free() {
    local p=$1
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        return 1
    fi
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$p" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
EOF
        return $?
    fi
    return 0
}

PICKED=" "
# A free port below the ephemeral range (so an outgoing connection cannot take it between a
# kafka-stop and a kafka-start), different from the ones picked before in this run.
pick_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        case "$PICKED" in *" $p "*) continue ;; esac
        if port_free "$p"; then
            PICKED="$PICKED$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

load_ports() {
    # shellcheck disable=SC1090
    [ -f "$PORTS_FILE" ] && . "$PORTS_FILE"
    # a ports file of a single broker written before KAFKA_NODES
    KAFKA_PORTS_S=${KAFKA_PORTS_S:-${KAFKA_PORT_S:-}}
    KAFKA_CTL_PORTS_S=${KAFKA_CTL_PORTS_S:-${KAFKA_CTL_PORT_S:-}}
    return 0
}

# Fixes the ports (env > earlier start > random) and records them with the Kafka kind.
choose_ports() {
    local old_db="" old_redis="" old_kafka="" old_ctl=""
    if [ -f "$PORTS_FILE" ]; then
        load_ports
        old_db=$DB_PORT_S old_redis=$REDIS_PORT_S old_kafka=$KAFKA_PORT_S old_ctl=$KAFKA_CTL_PORT_S
    fi
    DB_PORT_S=${INFRA_DB_PORT:-${old_db:-$(pick_port)}}
    PICKED="$PICKED$DB_PORT_S "
    REDIS_PORT_S=${INFRA_REDIS_PORT:-${old_redis:-$(pick_port)}}
    PICKED="$PICKED$REDIS_PORT_S "
    KAFKA_PORT_S=${INFRA_KAFKA_PORT:-${old_kafka:-$(pick_port)}}
    PICKED="$PICKED$KAFKA_PORT_S "
    KAFKA_CTL_PORT_S=${INFRA_KAFKA_CONTROLLER_PORT:-${old_ctl:-$(pick_port)}}
    PICKED="$PICKED$KAFKA_CTL_PORT_S "
    kafka_choose_nodes
    cat >"$PORTS_FILE" <<EOF
DB_PORT_S=$DB_PORT_S
REDIS_PORT_S=$REDIS_PORT_S
KAFKA_PORT_S=$KAFKA_PORT_S
KAFKA_CTL_PORT_S=$KAFKA_CTL_PORT_S
KAFKA_NODES_S=$KAFKA_NODES_S
KAFKA_PORTS_S="$KAFKA_PORTS_S"
KAFKA_CTL_PORTS_S="$KAFKA_CTL_PORTS_S"
EOF
}

# ---- processes ----

pid_of() {
    local f="$PIDS/$1.pid" pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# Starts "$@" in its own session (a Ctrl-C to the harness does not hit it; the harness stops
# it in order), with output appended to DIR/logs/@name.log; records the pid.
spawn() {
    local name=$1
    shift
    mkdir -p "$PIDS" "$LOGS"
    printf '\n==== %s start %s ====\n' "$name" "$(date '+%F %T')" >>"$LOGS/$name.log"
    setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
}

# Sends TERM to @name, waits up to STOP_DEADLINE_S, then KILL. Quiet when not running.
terminate() {
    local name=$1 pid i
    pid=$(pid_of "$name") || { rm -f "$PIDS/$name.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_DEADLINE_S * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) still running ${STOP_DEADLINE_S}s after SIGTERM; killing"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$PIDS/$name.pid"
}

# Polls @check (a function, called with the arguments after it) every 0.2 s until it
# succeeds, @name dies, or the deadline.
wait_ready() {
    local name=$1 check=$2 deadline=$((SECONDS + START_DEADLINE_S))
    shift 2
    while :; do
        if "$check" "$@" 2>/dev/null; then
            return 0
        fi
        if ! running "$name"; then
            log_tail "$LOGS/$name.log"
            die "$name exited during start (log: $LOGS/$name.log)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log_tail "$LOGS/$name.log"
            die "$name not ready within ${START_DEADLINE_S}s (log: $LOGS/$name.log)"
        fi
        sleep 0.2
    done
}

# ---- MariaDB ----

db_sql() {
    mariadb --no-defaults --protocol=socket --socket="$DB_SOCK" -uroot -N -B -e "$1"
}

db_ping() { db_sql 'SELECT 1' >/dev/null; }

mariadb_start() {
    running mariadb && return 0
    local datadir="$DB_DIR/data"
    command -v mariadbd >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
    command -v mariadbd >/dev/null 2>&1 || die "mariadbd not found (run scripts/deps.sh)"
    mkdir -p "$DB_DIR" "$LOGS"
    if [ ! -d "$datadir/mysql" ]; then
        rm -rf "$datadir"
        # --force: no host name lookup, so a machine whose name does not resolve (no
        # /etc/hosts entry, e.g. a fresh chroot) can still install the system tables
        if ! mariadb-install-db --no-defaults --datadir="$datadir" --force \
                --auth-root-authentication-method=normal --skip-test-db --user="$(id -un)" \
                >>"$LOGS/mariadb-install.log" 2>&1; then
            log_tail "$LOGS/mariadb-install.log"
            die "mariadb-install-db failed"
        fi
    fi
    port_free "$DB_PORT_S" || die "MariaDB port $DB_PORT_S is in use"
    spawn mariadb mariadbd --no-defaults --datadir="$datadir" --socket="$DB_SOCK" \
        --port="$DB_PORT_S" --bind-address=127.0.0.1 --user="$(id -un)" \
        --pid-file="$DB_DIR/mariadbd.pid" --skip-log-bin --skip-name-resolve \
        --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 \
        --max-connections=500 --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_unicode_ci
    wait_ready mariadb db_ping
    db_sql "CREATE USER IF NOT EXISTS 'commerce'@'127.0.0.1' IDENTIFIED BY 'commerce';
            CREATE USER IF NOT EXISTS 'commerce'@'localhost' IDENTIFIED BY 'commerce';
            GRANT ALL ON *.* TO 'commerce'@'127.0.0.1' WITH GRANT OPTION;
            GRANT ALL ON *.* TO 'commerce'@'localhost' WITH GRANT OPTION;" ||
        die "cannot create the MariaDB user 'commerce'"
    say "mariadb ready on 127.0.0.1:$DB_PORT_S"
}

# ---- Redis ----

REDIS_SET="$STATE_DIR/redis.set"
REDIS_SENTINELS_S=0

redis_ping() {
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT_S" ping 2>/dev/null)" = PONG ]
}

# The Sentinel layout of DIR (REDIS_SENTINELS_S=0: one node), decided at the first start.
redis_set_load() {
    # shellcheck disable=SC1090
    [ -f "$REDIS_SET" ] && . "$REDIS_SET"
    return 0
}

redis_set_choose() {
    local want=0 k ports=""
    redis_set_load
    [ -f "$REDIS_SET" ] && return 0
    case ${REDIS_SENTINELS:-} in
    [1-5]) want=$REDIS_SENTINELS ;;
    '' | 0 | *:*) want=0 ;;
    *) die "REDIS_SENTINELS: '$REDIS_SENTINELS' is not a number of sentinels (1..5)" ;;
    esac
    REDIS_SENTINELS_S=$want
    {
        echo "REDIS_SENTINELS_S=$want"
        if [ "$want" -gt 0 ]; then
            REDIS2_PORT_S=$(pick_port)
            PICKED="$PICKED$REDIS2_PORT_S "
            for ((k = 1; k <= want; k++)); do
                ports="$ports $(pick_port)"
                PICKED="$PICKED${ports##* } "
            done
            REDIS_SENT_PORTS_S=${ports# }
            REDIS_MASTER_S=${INFRA_REDIS_MASTER_NAME:-commerce}
            echo "REDIS2_PORT_S=$REDIS2_PORT_S"
            echo "REDIS_SENT_PORTS_S='$REDIS_SENT_PORTS_S'"
            echo "REDIS_MASTER_S=$REDIS_MASTER_S"
        fi
    } >"$REDIS_SET.tmp"
    mv "$REDIS_SET.tmp" "$REDIS_SET"
}

# Node @1 (1 or 2): its process name, port and folder (node 1 is the one-node layout's redis).
redis_node_name() { if [ "$1" = 1 ]; then echo redis; else echo "redis-$1"; fi; }
redis_node_port() { if [ "$1" = 1 ]; then echo "$REDIS_PORT_S"; else echo "$REDIS2_PORT_S"; fi; }
redis_node_dir() { if [ "$1" = 1 ]; then echo "$REDIS_DIR"; else echo "$STATE_DIR/redis-$1"; fi; }
redis_sentinel_port() { echo "$REDIS_SENT_PORTS_S" | cut -d' ' -f"$1"; }

# The port of the primary now: the first sentinel that answers, else the primary the first
# sentinel last wrote into its config, else node 1's.
redis_primary_port() {
    local p out conf="$STATE_DIR/redis-sentinel-1/sentinel.conf"
    for p in $REDIS_SENT_PORTS_S; do
        out=$(redis-cli -h 127.0.0.1 -p "$p" sentinel get-master-addr-by-name "$REDIS_MASTER_S" \
            2>/dev/null | sed -n 2p)
        [ -n "$out" ] && { echo "$out"; return 0; }
    done
    if [ -f "$conf" ]; then
        out=$(awk -v m="$REDIS_MASTER_S" \
            '$1 == "sentinel" && $2 == "monitor" && $3 == m {print $5}' "$conf")
        [ -n "$out" ] && { echo "$out"; return 0; }
    fi
    echo "$REDIS_PORT_S"
}

# The node (1 or 2) that is primary now.
redis_primary_node() {
    if [ "$(redis_primary_port)" = "${REDIS2_PORT_S:-}" ]; then echo 2; else echo 1; fi
}

redis_sentinels_list() {
    local p out=""
    for p in $REDIS_SENT_PORTS_S; do out="$out,127.0.0.1:$p"; done
    echo "${out#,}"
}

REDIS_NODE_PORT=""
redis_node_ping() {
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_NODE_PORT" ping 2>/dev/null)" = PONG ]
}

# Starts node @1 (a no-op when it runs): the primary in the one-node layout or when the
# sentinels say it is, else a replica of the current primary, so that a killed primary never
# comes back as a second primary.
redis_node_start() {
    local n=$1 name port dir primary="" role=()
    name=$(redis_node_name "$n") port=$(redis_node_port "$n") dir=$(redis_node_dir "$n")
    running "$name" && return 0
    mkdir -p "$dir"
    port_free "$port" || die "Redis port $port ($name) is in use"
    if [ "$REDIS_SENTINELS_S" -gt 0 ]; then
        primary=$(redis_primary_port)
        if [ "$primary" = "$port" ]; then primary=""; else role=(--replicaof 127.0.0.1 "$primary"); fi
    fi
    spawn "$name" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --appendonly yes --save '' --daemonize no --protected-mode yes \
        --repl-diskless-sync-delay 0 "${role[@]}"
    REDIS_NODE_PORT=$port
    wait_ready "$name" redis_node_ping
    say "redis ready on 127.0.0.1:$port${primary:+ (replica of 127.0.0.1:$primary)}"
}

REDIS_SENT_PORT=""
# True when the sentinel on REDIS_SENT_PORT sees the master, a replica and the other sentinels.
redis_sentinel_ready() {
    local info
    info=$(redis-cli -h 127.0.0.1 -p "$REDIS_SENT_PORT" sentinel master "$REDIS_MASTER_S" \
        2>/dev/null) || return 1
    awk -v others=$((REDIS_SENTINELS_S - 1)) '
        prev == "num-slaves" {slaves = $1} prev == "num-other-sentinels" {sent = $1} {prev = $1}
        END {exit !(slaves >= 1 && sent >= others)}' <<<"$info"
}

redis_sentinel_start() {
    local k=$1 port dir name="redis-sentinel-$1"
    running "$name" && return 0
    port=$(redis_sentinel_port "$k")
    dir="$STATE_DIR/$name"
    mkdir -p "$dir"
    port_free "$port" || die "Redis sentinel port $port is in use"
    # sentinel rewrites this file (the current primary, the replicas and sentinels it knows)
    [ -f "$dir/sentinel.conf" ] || cat >"$dir/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
daemonize no
dir $dir
sentinel resolve-hostnames no
sentinel monitor $REDIS_MASTER_S 127.0.0.1 $REDIS_PORT_S $((REDIS_SENTINELS_S / 2 + 1))
sentinel down-after-milliseconds $REDIS_MASTER_S 1000
sentinel failover-timeout $REDIS_MASTER_S 3000
sentinel parallel-syncs $REDIS_MASTER_S 1
EOF
    spawn "$name" redis-sentinel "$dir/sentinel.conf"
}

redis_start() {
    local k
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found (run scripts/deps.sh)"
    redis_set_choose
    if [ "$REDIS_SENTINELS_S" -eq 0 ]; then
        redis_node_start 1
        return 0
    fi
    command -v redis-sentinel >/dev/null 2>&1 ||
        die "redis-sentinel not found (run scripts/deps.sh)"
    # the primary first (after a failover it may be node 2), then the other as its replica
    redis_node_start "$(redis_primary_node)"
    redis_node_start 1
    redis_node_start 2
    for ((k = 1; k <= REDIS_SENTINELS_S; k++)); do redis_sentinel_start "$k"; done
    for ((k = 1; k <= REDIS_SENTINELS_S; k++)); do
        REDIS_SENT_PORT=$(redis_sentinel_port "$k")
        wait_ready "redis-sentinel-$k" redis_sentinel_ready
    done
    say "redis sentinels ready on $(redis_sentinels_list) (master $REDIS_MASTER_S:" \
        "127.0.0.1:$(redis_primary_port))"
}

redis_stop() {
    local k
    redis_set_load
    for ((k = 1; k <= REDIS_SENTINELS_S; k++)); do terminate "redis-sentinel-$k"; done
    [ "$REDIS_SENTINELS_S" -eq 0 ] || terminate redis-2
    terminate redis
}

# SIGKILL of the node that is primary now; prints its name.
redis_primary_kill() {
    local n name pid i
    n=$(redis_primary_node)
    name=$(redis_node_name "$n")
    pid=$(pid_of "$name") || die "the primary (node $n) is not running"
    kill -KILL "$pid"
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$PIDS/$name.pid"
    say "killed node $n (primary 127.0.0.1:$(redis_node_port "$n"))"
    echo "redis-$n"
}

# redis-primary-kill, redis-N-start, redis-N-stop (the Sentinel layout only).
redis_action() {
    local what=$1 verb=${2:-}
    [ -f "$PORTS_FILE" ] || die "nothing started in $STATE_DIR (run: infra.sh start)"
    load_ports
    redis_set_load
    [ "$REDIS_SENTINELS_S" -gt 0 ] ||
        die "redis-$what${verb:+-$verb} needs the Sentinel layout (REDIS_SENTINELS=3 at start)"
    case "$what-$verb" in
    primary-kill) redis_primary_kill ;;
    [12]-start) redis_node_start "$what" ;;
    [12]-stop) terminate "$(redis_node_name "$what")" ;;
    *) die "unknown redis action '$what-$verb'" ;;
    esac
}

# The status lines of the Sentinel layout (nothing for one node); 3 when one is not running.
redis_status() {
    local name k all=0
    redis_set_load
    [ "$REDIS_SENTINELS_S" -gt 0 ] || return 0
    for name in redis-2 $(for ((k = 1; k <= REDIS_SENTINELS_S; k++)); do echo "redis-sentinel-$k"; done); do
        if running "$name"; then
            printf '%-8s running (pid %s)\n' "$name" "$(pid_of "$name")"
        else
            printf '%-8s stopped\n' "$name"
            all=3
        fi
    done
    printf 'redis primary 127.0.0.1:%s (master %s)\n' "$(redis_primary_port)" "$REDIS_MASTER_S"
    return "$all"
}

# The env file's Redis lines.
redis_env() {
    printf 'export REDIS_HOST=127.0.0.1 REDIS_PORT=%s\n' "$REDIS_PORT_S"
    redis_set_load
    [ "$REDIS_SENTINELS_S" -gt 0 ] || return 0
    printf 'export REDIS_SENTINELS=%s REDIS_MASTER_NAME=%s\n' "$(redis_sentinels_list)" \
        "$REDIS_MASTER_S"
}

# ---- Kafka ----

KAFKA_VERSION=3.7.2

kafka_libs() { echo "${KAFKA_LIBS:-$ROOT/.deps/kafka-$KAFKA_VERSION/libs}"; }

# Decides the broker kind once per state folder: external, apache or mock.
kafka_choose_kind() {
    local libs
    libs=$(kafka_libs)
    if [ -n "${KAFKA_BOOTSTRAP:-}" ]; then
        KAFKA_KIND_S=external
    elif [ "${INFRA_KAFKA:-}" = mock ]; then
        KAFKA_KIND_S=mock
    elif command -v java >/dev/null 2>&1 && [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
        KAFKA_KIND_S=apache
    elif [ "${INFRA_KAFKA:-}" = apache ]; then
        die "INFRA_KAFKA=apache but no java or no jars in $libs (run scripts/deps.sh)"
    else
        KAFKA_KIND_S=mock
    fi
    {
        echo "KAFKA_KIND_S=$KAFKA_KIND_S"
        echo "KAFKA_LIBS_S=$libs"
        echo "KAFKA_EXTERNAL_S=${KAFKA_BOOTSTRAP:-}"
        echo "MOCK_BIN_S=${BUILD_DIR:-$ROOT/build}/bin/mock-kafka"
    } >"$KAFKA_DIR.kind"
}

kafka_load_kind() {
    # shellcheck disable=SC1090
    [ -f "$KAFKA_DIR.kind" ] && . "$KAFKA_DIR.kind"
    return 0
}

# The principals: admin (the super user) and one per service that uses Kafka
# (common/src/kafka_acl.c); "name:SUFFIX" with INFRA_KAFKA_PASSWORD_<SUFFIX> to set a password.
KAFKA_PRINCIPALS=(admin:ADMIN catalog-service:CATALOG inventory-service:INVENTORY
                  order-service:ORDER payment-service:PAYMENT)
KAFKA_USERS="$KAFKA_DIR/users"

# Writes DIR/kafka/users/<name>.password for each principal (INFRA_KAFKA_PASSWORD_<SUFFIX>, else
# random); an existing file is kept, and must equal a password given.
kafka_passwords() {
    local entry name var given
    if [ -f "$KAFKA_DIR/data/meta.properties" ] && [ ! -d "$KAFKA_USERS" ]; then
        die "kafka: $KAFKA_DIR was formatted before the broker had SASL users; remove it" \
            "(its topics are lost) to start the broker afresh"
    fi
    mkdir -p "$KAFKA_USERS"
    chmod 700 "$KAFKA_USERS"
    for entry in "${KAFKA_PRINCIPALS[@]}"; do
        name=${entry%%:*}
        var="INFRA_KAFKA_PASSWORD_${entry#*:}"
        given=${!var:-}
        if [ -s "$KAFKA_USERS/$name.password" ]; then
            [ -z "$given" ] || [ "$given" = "$(cat "$KAFKA_USERS/$name.password")" ] ||
                die "kafka: $var differs from the password $name was created with" \
                    "(remove $KAFKA_DIR to start the broker afresh)"
            continue
        fi
        [ -z "$given" ] || [[ $given =~ ^[A-Za-z0-9_.-]+$ ]] ||
            die "kafka: $var: use letters, digits, '_', '.', '-' only"
        (umask 077; printf '%s\n' "${given:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}" \
            >"$KAFKA_USERS/$name.password")
    done
}

kafka_password() { cat "$KAFKA_USERS/$1.password"; }

# ---- Kafka nodes (KAFKA_NODES) ----

# Fixes the node count (KAFKA_NODES > an earlier start > 1) and nodes 2..N's ports; node 1 has
# KAFKA_PORT_S / KAFKA_CTL_PORT_S. Called by choose_ports (after load_ports).
kafka_choose_nodes() {
    local old_nodes=${KAFKA_NODES_S:-} old_ports old_ctls n p c
    read -r -a old_ports <<<"${KAFKA_PORTS_S:-}"
    read -r -a old_ctls <<<"${KAFKA_CTL_PORTS_S:-}"
    KAFKA_NODES_S=${KAFKA_NODES:-${old_nodes:-1}}
    [[ $KAFKA_NODES_S =~ ^[1-9]$ ]] || die "KAFKA_NODES='$KAFKA_NODES_S': want 1 to 9 (3 for a cluster)"
    if [ -n "$old_nodes" ] && [ "$old_nodes" != "$KAFKA_NODES_S" ] &&
        ls "$KAFKA_DIR"/data/meta.properties "$KAFKA_DIR"/node-*/data/meta.properties >/dev/null 2>&1; then
        die "kafka: $STATE_DIR was started with KAFKA_NODES=$old_nodes; remove $KAFKA_DIR to" \
            "start a $KAFKA_NODES_S-node broker (its topics are lost)"
    fi
    KAFKA_PORTS_S=$KAFKA_PORT_S
    KAFKA_CTL_PORTS_S=$KAFKA_CTL_PORT_S
    for ((n = 2; n <= KAFKA_NODES_S; n++)); do
        if [ -n "${INFRA_KAFKA_PORT:-}" ]; then
            p=$((INFRA_KAFKA_PORT + 100 * (n - 1)))
        elif [ "$old_nodes" = "$KAFKA_NODES_S" ] && [ -n "${old_ports[n - 1]:-}" ]; then
            p=${old_ports[n - 1]}
        else
            p=$(pick_port)
        fi
        PICKED="$PICKED$p "
        if [ -n "${INFRA_KAFKA_CONTROLLER_PORT:-}" ]; then
            c=$((INFRA_KAFKA_CONTROLLER_PORT + 100 * (n - 1)))
        elif [ "$old_nodes" = "$KAFKA_NODES_S" ] && [ -n "${old_ctls[n - 1]:-}" ]; then
            c=${old_ctls[n - 1]}
        else
            c=$(pick_port)
        fi
        PICKED="$PICKED$c "
        KAFKA_PORTS_S="$KAFKA_PORTS_S $p"
        KAFKA_CTL_PORTS_S="$KAFKA_CTL_PORTS_S $c"
    done
}

kafka_nodes() { echo "${KAFKA_NODES_S:-1}"; }

# The pid/log name of node @1: "kafka" for a single broker, "kafka-N" in a cluster.
kafka_node_name() { if [ "$(kafka_nodes)" -eq 1 ]; then echo kafka; else echo "kafka-$1"; fi; }

# Node @1's folder (server.properties, data/): DIR/kafka for a single broker.
kafka_node_dir() { if [ "$(kafka_nodes)" -eq 1 ]; then echo "$KAFKA_DIR"; else echo "$KAFKA_DIR/node-$1"; fi; }

kafka_node_port() { local a; read -r -a a <<<"$KAFKA_PORTS_S"; echo "${a[$1 - 1]}"; }
kafka_node_ctl_port() { local a; read -r -a a <<<"$KAFKA_CTL_PORTS_S"; echo "${a[$1 - 1]}"; }

# True when any node runs.
kafka_any_running() {
    local n
    for ((n = 1; n <= $(kafka_nodes); n++)); do
        running "$(kafka_node_name "$n")" && return 0
    done
    return 1
}

kafka_write_config() {
    local n=$1 admin_pw dir voters="" i rf isr
    dir=$(kafka_node_dir "$n")
    mkdir -p "$dir/data"
    admin_pw=$(kafka_password admin)
    for ((i = 1; i <= $(kafka_nodes); i++)); do
        voters="$voters${voters:+,}$i@127.0.0.1:$(kafka_node_ctl_port "$i")"
    done
    rf=$(( $(kafka_nodes) < 3 ? $(kafka_nodes) : 3 ))
    isr=$(( rf >= 3 ? 2 : 1 ))
    (umask 077; cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=SASL_PLAINTEXT://127.0.0.1:$(kafka_node_port "$n"),CONTROLLER://127.0.0.1:$(kafka_node_ctl_port "$n")
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$(kafka_node_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
# clients: SCRAM-SHA-512 (credentials in the metadata, from the storage format)
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
# the controller listener cannot use SCRAM (KRaft): PLAIN, the admin only
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_pw" user_admin="$admin_pw";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=3
# replication: min(3, nodes) copies; with 3 nodes a write needs 2 in sync (acks=all)
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
log.retention.hours=24
EOF
    )
    cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

# True when node @1 listens and logged "Kafka Server started" since its last start marker.
kafka_apache_ready() {
    local name
    name=$(kafka_node_name "$1")
    (exec 3<>"/dev/tcp/127.0.0.1/$(kafka_node_port "$1")") 2>/dev/null || return 1
    awk '/^==== kafka(-[0-9]+)? start /{ok=0} /Kafka Server started/{ok=1} END{exit !ok}' \
        "$LOGS/$name.log"
}

kafka_mock_ready() {
    [ -s "$KAFKA_DIR/bootstrap" ]
}

# The cluster id every node's storage is formatted with (made once per DIR): a base64url UUID
# like `kafka-storage random-uuid`, which never starts with '-' (the option parser would take
# "-…" for an option: 1 run in 64 failed).
kafka_cluster_id() {
    local id=-
    if [ -s "$KAFKA_DIR/cluster.id" ]; then
        cat "$KAFKA_DIR/cluster.id"
        return 0
    fi
    while [ "${id#-}" != "$id" ]; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    echo "$id" >"$KAFKA_DIR/cluster.id"
    echo "$id"
}

# Formats the storage of every node that has none yet, in parallel, with the SCRAM users.
kafka_format() {
    local id entry n dir name scram=() pids=() failed=0
    for entry in "${KAFKA_PRINCIPALS[@]}"; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=${entry%%:*},password=$(kafka_password "${entry%%:*}")]")
    done
    id=$(kafka_cluster_id)
    for ((n = 1; n <= $(kafka_nodes); n++)); do
        dir=$(kafka_node_dir "$n")
        [ -f "$dir/data/meta.properties" ] && continue
        name=$(kafka_node_name "$n")
        # a short-lived JVM: the client compiler only and one GC thread start it with the least CPU
        java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
            -cp "$KAFKA_LIBS_S/*" -Dlog4j.configuration="file:$dir/log4j.properties" \
            kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" \
            "${scram[@]}" >>"$LOGS/$name-format.log" 2>&1 &
        pids+=("$n:$!")
    done
    for entry in "${pids[@]}"; do
        wait "${entry#*:}" && continue
        name=$(kafka_node_name "${entry%%:*}")
        log_tail "$LOGS/$name-format.log"
        failed=1
    done
    [ "$failed" -eq 0 ] || die "kafka storage format failed"
}

# The JVM heap of one node: small in a cluster (3 JVMs next to everything else).
kafka_heap() {
    if [ -n "${INFRA_KAFKA_HEAP:-}" ]; then
        echo "$INFRA_KAFKA_HEAP"
    elif [ "$(kafka_nodes)" -eq 1 ]; then
        echo 512m
    else
        echo 320m
    fi
}

# The JVM flags of a node: G1 for the single broker; in a cluster (three JVMs on a small machine)
# the client compiler only and the serial collector, which start with a third of the CPU.
kafka_jvm_flags() {
    if [ "$(kafka_nodes)" -eq 1 ]; then
        echo "-XX:+UseG1GC -XX:MaxGCPauseMillis=20"
    else
        echo "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    fi
}

# Spawns node @1 (its config and storage exist); does not wait.
kafka_node_spawn() {
    local n=$1 dir name flags
    dir=$(kafka_node_dir "$n")
    name=$(kafka_node_name "$n")
    read -r -a flags <<<"$(kafka_jvm_flags)"
    port_free "$(kafka_node_port "$n")" || die "Kafka port $(kafka_node_port "$n") ($name) is in use"
    port_free "$(kafka_node_ctl_port "$n")" ||
        die "Kafka controller port $(kafka_node_ctl_port "$n") ($name) is in use"
    spawn "$name" java "-Xmx$(kafka_heap)" -Xms64m "${flags[@]}" \
        -Djava.awt.headless=true -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$KAFKA_LIBS_S/*" kafka.Kafka "$dir/server.properties"
}

# Starts the nodes given (default: all) that do not run, in parallel; waits until each is ready.
kafka_apache_start() {
    local n nodes=("$@") todo=()
    [ "${#nodes[@]}" -gt 0 ] || mapfile -t nodes < <(seq 1 "$(kafka_nodes)")
    for n in "${nodes[@]}"; do
        running "$(kafka_node_name "$n")" || todo+=("$n")
    done
    [ "${#todo[@]}" -gt 0 ] || return 0
    kafka_passwords
    for ((n = 1; n <= $(kafka_nodes); n++)); do
        kafka_write_config "$n"
    done
    kafka_format
    for n in "${todo[@]}"; do
        kafka_node_spawn "$n"
    done
    for n in "${todo[@]}"; do
        wait_ready "$(kafka_node_name "$n")" kafka_apache_ready "$n"
        say "kafka node $n (apache $KAFKA_VERSION) ready on 127.0.0.1:$(kafka_node_port "$n")"
    done
}

kafka_start() {
    kafka_load_kind
    case "$KAFKA_KIND_S" in
    external)
        say "kafka: using the external broker $KAFKA_EXTERNAL_S"
        ;;
    apache)
        kafka_apache_start
        ;;
    mock)
        [ "$(kafka_nodes)" -eq 1 ] ||
            die "KAFKA_NODES=$(kafka_nodes) needs the Apache broker (a JDK and the jars of scripts/deps.sh)"
        if running kafka; then
            # a mock broker that was "stopped" is only down: bring it up again
            if [ -f "$KAFKA_DIR/down" ]; then
                kill -USR2 "$(pid_of kafka)"
                rm -f "$KAFKA_DIR/down"
                say "kafka (mock) up again"
            fi
            return 0
        fi
        [ -x "$MOCK_BIN_S" ] || die "no Kafka: no JDK/jars and no $MOCK_BIN_S (build it: make)"
        mkdir -p "$KAFKA_DIR"
        rm -f "$KAFKA_DIR/bootstrap" "$KAFKA_DIR/down"
        local topics
        mapfile -t topics < <(bash "$ROOT/scripts/create-topics.sh" --list)
        spawn kafka "$MOCK_BIN_S" "$KAFKA_DIR/bootstrap" "${topics[@]}"
        wait_ready kafka kafka_mock_ready
        say "kafka (librdkafka mock) ready on $(cat "$KAFKA_DIR/bootstrap")"
        ;;
    *) die "kafka: unknown kind '${KAFKA_KIND_S:-}' (was infra.sh start run?)" ;;
    esac
}

# Stops every node at once (SIGTERM to all, then each waited for: one by one, the last nodes
# would wait for a controller quorum that is already gone).
kafka_apache_stop() {
    local n pid
    for ((n = 1; n <= $(kafka_nodes); n++)); do
        if pid=$(pid_of "$(kafka_node_name "$n")"); then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for ((n = 1; n <= $(kafka_nodes); n++)); do
        terminate "$(kafka_node_name "$n")"
    done
}

kafka_stop() {
    kafka_load_kind
    case "${KAFKA_KIND_S:-}" in
    external) say "kafka: external broker, not stopping it" ;;
    mock)
        # the mock's data lives in its process: take the broker down, keep the process
        if running kafka && [ "${1:-}" != final ]; then
            kill -USR1 "$(pid_of kafka)"
            touch "$KAFKA_DIR/down"
            say "kafka (mock) down"
        else
            terminate kafka
        fi
        ;;
    *) kafka_apache_stop ;;
    esac
}

# kafka-N-stop|start|kill: one node of the Apache broker.
kafka_node_action() {
    local n=$1 verb=$2 name pid i
    [ "${KAFKA_KIND_S:-}" = apache ] || die "kafka-$n-$verb: only for the Apache broker (kind: ${KAFKA_KIND_S:-none})"
    { [ "$n" -ge 1 ] && [ "$n" -le "$(kafka_nodes)" ]; } || die "kafka-$n-$verb: no node $n (KAFKA_NODES=$(kafka_nodes))"
    name=$(kafka_node_name "$n")
    case "$verb" in
    stop) terminate "$name"; say "$name stopped" ;;
    start) kafka_apache_start "$n" ;;
    kill)
        if pid=$(pid_of "$name"); then
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) survived SIGKILL for 10 s"
            say "$name killed (SIGKILL)"
        fi
        rm -f "$PIDS/$name.pid"
        ;;
    esac
}

kafka_bootstrap() {
    local n list=""
    case "$KAFKA_KIND_S" in
    external) echo "$KAFKA_EXTERNAL_S" ;;
    mock) cat "$KAFKA_DIR/bootstrap" ;;
    *)
        for ((n = 1; n <= $(kafka_nodes); n++)); do
            list="$list${list:+,}127.0.0.1:$(kafka_node_port "$n")"
        done
        echo "$list"
        ;;
    esac
}

# ---- actions ----

# The servers `start` brings up (INFRA_SERVICES, recorded for the later actions).
infra_services() {
    if [ -f "$STATE_DIR/infra.services" ]; then
        cat "$STATE_DIR/infra.services"
    else
        echo "mariadb redis kafka"
    fi
}

infra_has() { case " $(infra_services) " in *" $1 "*) return 0 ;; esac; return 1; }

write_env() {
    local tmp="$STATE_DIR/env.tmp"
    {
        echo "# written by scripts/infra.sh start; source it"
        if infra_has mariadb; then
            printf 'export DB_HOST=127.0.0.1 DB_PORT=%s DB_USER=commerce DB_PASSWORD=commerce\n' \
                "$DB_PORT_S"
        fi
        if infra_has redis; then redis_env; fi
        if infra_has kafka; then
            printf 'export KAFKA_BOOTSTRAP=%s KAFKA_NODES=%s KAFKA_KIND=%s\n' "$(kafka_bootstrap)" \
                "$(kafka_nodes)" "$KAFKA_KIND_S"
            if [ "$KAFKA_KIND_S" = apache ]; then
                printf 'export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n'
                printf 'export KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD=%q KAFKA_SASL_USERS_DIR=%q\n' \
                    "$(kafka_password admin)" "$KAFKA_USERS"
            fi
        fi
        printf 'export TEST_STATE_DIR=%q\n' "$STATE_DIR"
    } >"$tmp"
    mv "$tmp" "$STATE_DIR/env"
}

do_start() {
    local svc
    mkdir -p "$PIDS" "$LOGS"
    for svc in ${INFRA_SERVICES:-mariadb redis kafka}; do
        case $svc in mariadb | redis | kafka) ;; *) die "INFRA_SERVICES: unknown server '$svc'" ;; esac
    done
    echo "${INFRA_SERVICES:-mariadb redis kafka}" >"$STATE_DIR/infra.services"
    choose_ports
    kafka_choose_kind
    # on any failure (die exits), stop what this start brought up
    trap 'rc=$?; [ "$rc" -eq 0 ] || { say "start failed; stopping what was started"; do_stop; }' EXIT
    if infra_has mariadb; then mariadb_start; fi
    if infra_has redis; then redis_start; fi
    if infra_has kafka; then kafka_start; fi
    write_env
    trap - EXIT
    say "env written to $STATE_DIR/env"
}

do_stop() {
    kafka_load_kind
    kafka_stop final
    redis_stop
    terminate mariadb
    rm -f "$KAFKA_DIR/down"
}

do_status() {
    local all=0 name n
    load_ports
    kafka_load_kind
    for name in mariadb redis kafka; do
        infra_has "$name" || continue
        if [ "$name" = kafka ] && [ "${KAFKA_KIND_S:-}" = external ]; then
            printf '%-8s external %s\n' "$name" "$KAFKA_EXTERNAL_S"
        elif [ "$name" = kafka ]; then
            for ((n = 1; n <= $(kafka_nodes); n++)); do
                name=$(kafka_node_name "$n")
                if running "$name"; then
                    printf '%-8s running (pid %s) on 127.0.0.1:%s\n' "$name" "$(pid_of "$name")" \
                        "$(kafka_node_port "$n")"
                else
                    printf '%-8s stopped\n' "$name"
                    all=3
                fi
            done
        elif running "$name"; then
            printf '%-8s running (pid %s)\n' "$name" "$(pid_of "$name")"
        else
            printf '%-8s stopped\n' "$name"
            all=3
        fi
    done
    [ "${KAFKA_KIND_S:-}" = mock ] && [ -f "$KAFKA_DIR/down" ] && { echo "kafka    (mock) down"; all=3; }
    redis_status || all=3
    return "$all"
}

# One service's stop/start/restart on an already started state folder.
do_service() {
    local svc=$1 verb=$2
    [ -f "$PORTS_FILE" ] || die "nothing started in $STATE_DIR (run: infra.sh start)"
    load_ports
    kafka_load_kind
    case "$verb" in
    stop)
        case "$svc" in kafka) kafka_stop ;; redis) redis_stop ;; *) terminate "$svc" ;; esac
        ;;
    start)
        "${svc}_start"
        ;;
    restart)
        case "$svc" in kafka) kafka_stop ;; redis) redis_stop ;; *) terminate "$svc" ;; esac
        "${svc}_start"
        ;;
    esac
    # a started mock broker keeps its port, but write the env again in any case
    [ "$verb" = stop ] || write_env
}

case "${1:-}" in
start) do_start ;;
stop) load_ports; do_stop ;;
status) do_status ;;
mariadb-stop | mariadb-start | mariadb-restart | redis-stop | redis-start | redis-restart | \
    kafka-stop | kafka-start | kafka-restart)
    do_service "${1%%-*}" "${1#*-}"
    ;;
kafka-[1-9]-stop | kafka-[1-9]-start | kafka-[1-9]-kill)
    [ -f "$PORTS_FILE" ] || die "nothing started in $STATE_DIR (run: infra.sh start)"
    load_ports
    kafka_load_kind
    node=${1#kafka-}
    kafka_node_action "${node%%-*}" "${node#*-}"
    ;;
redis-primary-kill | redis-[12]-start | redis-[12]-stop)
    what=${1#redis-}
    redis_action "${what%%-*}" "${what#*-}"
    ;;
*)
    echo "usage: STATE_DIR=DIR $0 start|stop|status|{mariadb,redis,kafka}-{stop,start,restart}|kafka-N-{stop,start,kill}" \
        "|redis-primary-kill|redis-{1,2}-{start,stop}" >&2
    exit 2
    ;;
esac
