# shellcheck shell=bash
# stack-env.sh - the environment contract of the six daemons, the one list both stacks use:
# scripts/stack.sh (no Docker) and docker-compose.yml give each service exactly these variables.
# Sourced, never run. tests/e2e_compose.c checks docker-compose.yml against these lists, and
# these lists against the daemons' own config tables (CFG_ENTRY_* in common/src/config.c and
# <svc>-service/src/*.c), so the two stacks cannot drift apart.
#
# usage: . scripts/stack-env.sh      (from bash; defines the lists and functions below)
#
#   STACK_ENV_SERVICES           the short service names, in start order
#   SERVICE_ENV_<svc>            the variables <svc> is given (space separated)
#   STACK_ENV_IDENTITY           the variables whose value must differ between two instances of
#                                one service (an instance's identity), whatever the stack
#   stack_env_port SVC [K]       SVC's HTTP port (README "Architecture"; <SVC>_PORT overrides, e.g.
#                                AUTH_PORT) for instance K (1..; default 1): + 100*(K-1)
#   stack_env_value SVC NAME     how stack.sh sets NAME for SVC (prints it; may be empty)
#   stack_env_export SVC         exports every non-empty NAME of SERVICE_ENV_<svc> into the
#                                current shell: call it in the subshell that execs the binary
#
# stack_env_value reads, besides the caller's environment:
#   ROOT, RUN                    the checkout and its .run/ folder
#   STACK_INSTANCE               which instance of the service (1.., default 1): its HTTP_PORT,
#                                the auth-service instance of the same number (AUTH_URL) and its
#                                INVENTORY_RELAY_NAME (relay-K) follow from it
#   DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT KAFKA_BOOTSTRAP  (infra env)
#   AUTH_SERVICE_TOKEN ADMIN_EMAIL ADMIN_PASSWORD   (the .env that scripts/env.sh writes)
#   KAFKA_SECURITY_PROTOCOL KAFKA_SASL_USERS_DIR    (infra env: the broker's login, and the
#                                folder with <principal>.password; absent for the mock broker)
# Variables whose value is empty are unset: the daemon's default applies (cfg_load() treats
# empty as unset). stack_env_export also unsets the Kafka login of the caller (the admin's, from
# the infra env) so that no daemon inherits it: a service with a principal gets its own. The daemons' tunables with defaults (HTTP_THREADS, DB_POOL_SIZE, …)
# are not part of the contract; set them in the caller's environment (stack.sh passes it on)
# or in docker-compose.yml.

# run (not sourced) with -h / --help: its manual
[ "${BASH_SOURCE[0]}" != "$0" ] || case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac

STACK_ENV_SERVICES="auth user catalog inventory order payment"

# what every daemon reads through the common table (common/src/config.c)
STACK_ENV_COMMON="HTTP_PORT HTTP_BIND LOG_LEVEL DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME \
KAFKA_BOOTSTRAP KAFKA_GROUP_ID JWT_PUBLIC_KEY_FILE MIGRATIONS_DIR"

# the Kafka login of the services with a principal (common/kafka_acl.h; user and auth use no
# Kafka)
STACK_ENV_KAFKA="KAFKA_SECURITY_PROTOCOL KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD"
# what no daemon inherits from the caller (stack_env_export)
STACK_ENV_KAFKA_LOGIN="KAFKA_SECURITY_PROTOCOL KAFKA_SASL_MECHANISM KAFKA_SASL_USERNAME \
KAFKA_SASL_PASSWORD KAFKA_SASL_PASSWORD_FILE KAFKA_SASL_USERS_DIR"

SERVICE_ENV_auth="$STACK_ENV_COMMON JWT_PRIVATE_KEY_FILE AUTH_SERVICE_TOKEN ADMIN_EMAIL \
ADMIN_PASSWORD"
SERVICE_ENV_user="$STACK_ENV_COMMON AUTH_URL AUTH_SERVICE_TOKEN"
SERVICE_ENV_catalog="$STACK_ENV_COMMON $STACK_ENV_KAFKA"
SERVICE_ENV_inventory="$STACK_ENV_COMMON $STACK_ENV_KAFKA REDIS_HOST REDIS_PORT \
INVENTORY_RELAY_NAME"

# an instance's identity: inventory's relay reads the Redis outbox stream as this consumer of
# the group INVENTORY_RELAY_GROUP; two relays with one name would read each other's pending
# entries (two publishes of one reservation)
STACK_ENV_IDENTITY="INVENTORY_RELAY_NAME"
SERVICE_ENV_order="$STACK_ENV_COMMON $STACK_ENV_KAFKA ORDER_PAYMENT_DEADLINE_S"
SERVICE_ENV_payment="$STACK_ENV_COMMON $STACK_ENV_KAFKA PAYMENT_GATEWAY_TIMEOUT_MS"

stack_env_port() {
    local var base k=${2:-1}
    var="$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')_PORT"
    case $1 in
    user) base=${!var:-8081} ;;
    inventory) base=${!var:-8083} ;;
    catalog) base=${!var:-8084} ;;
    order) base=${!var:-8085} ;;
    payment) base=${!var:-8087} ;;
    auth) base=${!var:-8089} ;;
    *) return 1 ;;
    esac
    echo $((base + 100 * (k - 1)))
}

stack_env_value() {
    local svc=$1 name=$2
    case $name in
    HTTP_PORT) stack_env_port "$svc" "${STACK_INSTANCE:-1}" ;;
    HTTP_BIND) echo 127.0.0.1 ;;
    DB_NAME) echo "commerce_$svc" ;;
    KAFKA_GROUP_ID) echo "$svc-service" ;;
    MIGRATIONS_DIR) echo "$ROOT/$svc-service/migrations" ;;
    JWT_PUBLIC_KEY_FILE) echo "$RUN/jwt-public.pem" ;;
    JWT_PRIVATE_KEY_FILE) echo "$RUN/jwt-private.pem" ;;
    AUTH_URL) echo "http://127.0.0.1:$(stack_env_port auth "${STACK_INSTANCE:-1}")" ;;
    INVENTORY_RELAY_NAME) echo "relay-${STACK_INSTANCE:-1}" ;;
    # the service's own principal on a broker with SASL (infra.sh keeps the passwords)
    KAFKA_SECURITY_PROTOCOL) echo "${KAFKA_SECURITY_PROTOCOL:-}" ;;
    KAFKA_SASL_USERNAME)
        case ${KAFKA_SECURITY_PROTOCOL:-} in SASL_*) echo "$svc-service" ;; esac ;;
    KAFKA_SASL_PASSWORD)
        case ${KAFKA_SECURITY_PROTOCOL:-} in
        SASL_*) cat "${KAFKA_SASL_USERS_DIR:?no KAFKA_SASL_USERS_DIR}/$svc-service.password" ;;
        esac ;;
    # from the infra env, the .env secrets or the caller (empty: the daemon's default)
    LOG_LEVEL | DB_HOST | DB_PORT | DB_USER | DB_PASSWORD | KAFKA_BOOTSTRAP | REDIS_HOST | \
        REDIS_PORT | AUTH_SERVICE_TOKEN | ADMIN_EMAIL | ADMIN_PASSWORD | \
        ORDER_PAYMENT_DEADLINE_S | PAYMENT_GATEWAY_TIMEOUT_MS)
        echo "${!name:-}" ;;
    *)
        echo "stack-env: no value rule for $name ($svc)" >&2
        return 1
        ;;
    esac
}

stack_env_export() {
    local svc=$1 list name value values=()
    list="SERVICE_ENV_$svc"
    [ -n "${!list:-}" ] || { echo "stack-env: unknown service '$svc'" >&2; return 1; }
    for name in ${!list}; do
        value=$(stack_env_value "$svc" "$name") || return 1
        values+=("$name=$value")
    done
    # shellcheck disable=SC2086
    unset $STACK_ENV_KAFKA_LOGIN
    for value in "${values[@]}"; do
        if [ -n "${value#*=}" ]; then
            export "$value"
        else
            unset "${value%%=*}"
        fi
    done
}
