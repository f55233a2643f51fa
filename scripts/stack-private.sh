#!/usr/bin/env bash
# stack-private.sh - `make up` (scripts/stack.sh) in a private, throw-away root, so a
# developer's stack on the default ports is not touched. Used by `make bench` and by the
# Prometheus end-to-end test.
#
# usage: scripts/stack-private.sh up DIR PORT_BASE
#        scripts/stack-private.sh down DIR
#
#   up    makes DIR (must not exist or be empty) a shadow root: every top-level entry of this
#         checkout linked, except the state stack.sh keeps (.run/, .env), then runs
#         DIR/scripts/stack.sh up with the ports below. DIR/.run/env is the stack's env file
#         (service URLs, PROMETHEUS_URL, DB/Redis/Kafka, admin account). On failure the part
#         that started is taken down again (stack.sh does) and the exit status is non-zero.
#   down  DIR/scripts/stack.sh down; DIR is left for the caller to read logs and remove.
#
# Ports from PORT_BASE: MariaDB +306, Redis +379, Kafka +92 (controller +93), Prometheus +90,
# services +81 user, +83 inventory, +84 catalog, +85 order, +87 payment, +89 auth.
# Passed on: STACK_BUILD, STACK_NO_BUILD, PROMETHEUS_SCRAPE_INTERVAL, STACK_PROMETHEUS and the
# rest of the caller's environment, except the variables of another stack (a sourced
# .run/env sets KAFKA_BOOTSTRAP, which would make infra.sh use that broker).

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { printf 'stack-private: error: %s\n' "$*" >&2; exit 1; }

usage() { echo "usage: $0 up DIR PORT_BASE | down DIR" >&2; exit 2; }

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || usage
case $cmd in
up)
    base=${3:-}
    [[ $base =~ ^[0-9]+$ ]] && [ "$base" -ge 1024 ] && [ "$base" -le 65000 ] ||
        die "PORT_BASE '$base': want a number from 1024 to 65000"
    unset KAFKA_BOOTSTRAP KAFKA_KIND DB_HOST DB_USER DB_PASSWORD REDIS_HOST TEST_STATE_DIR \
        ADMIN_EMAIL ADMIN_PASSWORD AUTH_SERVICE_TOKEN JWT_PRIVATE_KEY_FILE JWT_PUBLIC_KEY_FILE \
        USER_URL INVENTORY_URL CATALOG_URL ORDER_URL PAYMENT_URL AUTH_URL PROMETHEUS_URL \
        KAFKA_SECURITY_PROTOCOL KAFKA_SASL_MECHANISM KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD \
        KAFKA_SASL_PASSWORD_FILE KAFKA_SASL_USERS_DIR
    export DB_PORT=$((base + 306)) REDIS_PORT=$((base + 379)) KAFKA_PORT=$((base + 92)) \
        KAFKA_CONTROLLER_PORT=$((base + 93)) PROMETHEUS_PORT=$((base + 90)) \
        USER_PORT=$((base + 81)) INVENTORY_PORT=$((base + 83)) CATALOG_PORT=$((base + 84)) \
        ORDER_PORT=$((base + 85)) PAYMENT_PORT=$((base + 87)) AUTH_PORT=$((base + 89))
    for p in $DB_PORT $REDIS_PORT $KAFKA_PORT $KAFKA_CONTROLLER_PORT $PROMETHEUS_PORT \
        $USER_PORT $INVENTORY_PORT $CATALOG_PORT $ORDER_PORT $PAYMENT_PORT $AUTH_PORT; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            die "port $p is in use: choose another PORT_BASE"
        fi
    done
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    # .deps (Kafka jars, gitignored) is shared so the download happens once; build/ is shared
    # so the binaries are the checkout's
    mkdir -p "$ROOT/.deps" "$ROOT/build"
    for e in "$ROOT"/* "$ROOT"/.deps "$ROOT"/.clang-format; do
        [ -e "$e" ] || continue
        ln -s "$e" "$dir/$(basename "$e")"
    done
    exec bash "$dir/scripts/stack.sh" up
    ;;
down)
    [ -x "$dir/scripts/stack.sh" ] || [ -f "$dir/scripts/stack.sh" ] || die "$dir is no private stack"
    exec bash "$dir/scripts/stack.sh" down
    ;;
*) usage ;;
esac
