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
#                             stop the broker and bring it back)
#
# DIR/env holds export lines: DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT
# KAFKA_BOOTSTRAP KAFKA_KIND TEST_STATE_DIR, and with the Apache broker the admin's login:
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
# Environment (start):
#   INFRA_DB_PORT INFRA_REDIS_PORT INFRA_KAFKA_PORT INFRA_KAFKA_CONTROLLER_PORT
#                    fixed ports (default: the ports of an earlier start from DIR, else free
#                    ports picked at random)
#   KAFKA_BOOTSTRAP  when set, no broker is started: that one is used (KAFKA_KIND=external)
#   INFRA_KAFKA      apache | mock: force a broker kind (default apache when a JDK and the
#                    jars of scripts/deps.sh exist, else mock)
#   KAFKA_LIBS       Kafka jar folder (default .deps/kafka-3.7.2/libs)
#   INFRA_KAFKA_PASSWORD_ADMIN, _CATALOG, _INVENTORY, _ORDER, _PAYMENT
#                    the principals' passwords at the first start (default: random); kept in
#                    DIR/kafka/users/, and a later start with different ones is refused
#   BUILD_DIR        where bin/mock-kafka is (default build)

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
    cat >"$PORTS_FILE" <<EOF
DB_PORT_S=$DB_PORT_S
REDIS_PORT_S=$REDIS_PORT_S
KAFKA_PORT_S=$KAFKA_PORT_S
KAFKA_CTL_PORT_S=$KAFKA_CTL_PORT_S
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

# Polls @check (a function) every 0.2 s until it succeeds, @name dies, or the deadline.
wait_ready() {
    local name=$1 check=$2 deadline=$((SECONDS + START_DEADLINE_S))
    while :; do
        if "$check" 2>/dev/null; then
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

redis_ping() {
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT_S" ping 2>/dev/null)" = PONG ]
}

redis_start() {
    running redis && return 0
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found (run scripts/deps.sh)"
    mkdir -p "$REDIS_DIR"
    port_free "$REDIS_PORT_S" || die "Redis port $REDIS_PORT_S is in use"
    spawn redis redis-server --port "$REDIS_PORT_S" --bind 127.0.0.1 --dir "$REDIS_DIR" \
        --appendonly yes --save '' --daemonize no --protected-mode yes
    wait_ready redis redis_ping
    say "redis ready on 127.0.0.1:$REDIS_PORT_S"
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

kafka_write_config() {
    local admin_pw
    mkdir -p "$KAFKA_DIR/data"
    admin_pw=$(kafka_password admin)
    (umask 077; cat >"$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CTL_PORT_S
listeners=SASL_PLAINTEXT://127.0.0.1:$KAFKA_PORT_S,CONTROLLER://127.0.0.1:$KAFKA_CTL_PORT_S
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$KAFKA_PORT_S
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
log.dirs=$KAFKA_DIR/data
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
log.retention.hours=24
EOF
    )
    cat >"$KAFKA_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

# True when the broker logged "Kafka Server started" since the last start marker.
kafka_apache_ready() {
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT_S") 2>/dev/null || return 1
    awk '/^==== kafka start /{ok=0} /Kafka Server started/{ok=1} END{exit !ok}' \
        "$LOGS/kafka.log"
}

kafka_mock_ready() {
    [ -s "$KAFKA_DIR/bootstrap" ]
}

kafka_start() {
    kafka_load_kind
    case "$KAFKA_KIND_S" in
    external)
        say "kafka: using the external broker $KAFKA_EXTERNAL_S"
        ;;
    apache)
        if running kafka; then
            return 0
        fi
        kafka_passwords
        kafka_write_config
        if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
            local id entry scram=()
            for entry in "${KAFKA_PRINCIPALS[@]}"; do
                scram+=(--add-scram "SCRAM-SHA-512=[name=${entry%%:*},password=$(kafka_password "${entry%%:*}")]")
            done
            # a base64url UUID like `kafka-storage random-uuid`, which never starts with '-'
            # (the option parser would take "-…" for an option: 1 run in 64 failed)
            id=-
            while [ "${id#-}" != "$id" ]; do
                id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
            done
            java -cp "$KAFKA_LIBS_S/*" -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
                kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" \
                "${scram[@]}" >>"$LOGS/kafka-format.log" 2>&1 || {
                log_tail "$LOGS/kafka-format.log"
                die "kafka storage format failed"
            }
        fi
        port_free "$KAFKA_PORT_S" || die "Kafka port $KAFKA_PORT_S is in use"
        port_free "$KAFKA_CTL_PORT_S" || die "Kafka controller port $KAFKA_CTL_PORT_S is in use"
        spawn kafka java -Xmx512m -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -Djava.awt.headless=true -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
            -cp "$KAFKA_LIBS_S/*" kafka.Kafka "$KAFKA_DIR/server.properties"
        wait_ready kafka kafka_apache_ready
        say "kafka (apache $KAFKA_VERSION) ready on 127.0.0.1:$KAFKA_PORT_S"
        ;;
    mock)
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
    *) terminate kafka ;;
    esac
}

kafka_bootstrap() {
    case "$KAFKA_KIND_S" in
    external) echo "$KAFKA_EXTERNAL_S" ;;
    mock) cat "$KAFKA_DIR/bootstrap" ;;
    *) echo "127.0.0.1:$KAFKA_PORT_S" ;;
    esac
}

# ---- actions ----

write_env() {
    local tmp="$STATE_DIR/env.tmp"
    {
        echo "# written by scripts/infra.sh start; source it"
        printf 'export DB_HOST=127.0.0.1 DB_PORT=%s DB_USER=commerce DB_PASSWORD=commerce\n' \
            "$DB_PORT_S"
        printf 'export REDIS_HOST=127.0.0.1 REDIS_PORT=%s\n' "$REDIS_PORT_S"
        printf 'export KAFKA_BOOTSTRAP=%q KAFKA_KIND=%s\n' "$(kafka_bootstrap)" "$KAFKA_KIND_S"
        if [ "$KAFKA_KIND_S" = apache ]; then
            printf 'export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n'
            printf 'export KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD=%q KAFKA_SASL_USERS_DIR=%q\n' \
                "$(kafka_password admin)" "$KAFKA_USERS"
        fi
        printf 'export TEST_STATE_DIR=%q\n' "$STATE_DIR"
    } >"$tmp"
    mv "$tmp" "$STATE_DIR/env"
}

do_start() {
    mkdir -p "$PIDS" "$LOGS"
    choose_ports
    kafka_choose_kind
    # on any failure (die exits), stop what this start brought up
    trap 'rc=$?; [ "$rc" -eq 0 ] || { say "start failed; stopping what was started"; do_stop; }' EXIT
    mariadb_start
    redis_start
    kafka_start
    write_env
    trap - EXIT
    say "env written to $STATE_DIR/env"
}

do_stop() {
    kafka_load_kind
    kafka_stop final
    terminate redis
    terminate mariadb
    rm -f "$KAFKA_DIR/down"
}

do_status() {
    local all=0 name
    load_ports
    kafka_load_kind
    for name in mariadb redis kafka; do
        if running "$name"; then
            printf '%-8s running (pid %s)\n' "$name" "$(pid_of "$name")"
        elif [ "$name" = kafka ] && [ "${KAFKA_KIND_S:-}" = external ]; then
            printf '%-8s external %s\n' "$name" "$KAFKA_EXTERNAL_S"
        else
            printf '%-8s stopped\n' "$name"
            all=3
        fi
    done
    [ "${KAFKA_KIND_S:-}" = mock ] && [ -f "$KAFKA_DIR/down" ] && { echo "kafka    (mock) down"; all=3; }
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
        case "$svc" in kafka) kafka_stop ;; *) terminate "$svc" ;; esac
        ;;
    start)
        "${svc}_start"
        ;;
    restart)
        case "$svc" in kafka) kafka_stop ;; *) terminate "$svc" ;; esac
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
*)
    echo "usage: STATE_DIR=DIR $0 start|stop|status|{mariadb,redis,kafka}-{stop,start,restart}" >&2
    exit 2
    ;;
esac
