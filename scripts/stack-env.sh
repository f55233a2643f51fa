# shellcheck shell=bash
# stack-env.sh - the environment contract of the six daemons, the one list both stacks use:
# scripts/stack.sh (no Docker) and docker-compose.yml give each service exactly these variables.
# Sourced, never run. tests/e2e_compose.c checks docker-compose.yml against these lists, and
# these lists against the daemons' own config tables (CFG_ENTRY_* in common/src/config.c and
# <svc>-service/src/*.c), so the two stacks cannot drift apart.
#
#   STACK_ENV_SERVICES           the short service names, in start order
#   SERVICE_ENV_<svc>            the variables <svc> is given (space separated)
#   stack_env_port SVC           SVC's HTTP port (README "Architecture"; <SVC>_PORT overrides, e.g. AUTH_PORT)
#   stack_env_value SVC NAME     how stack.sh sets NAME for SVC (prints it; may be empty)
#   stack_env_export SVC         exports every non-empty NAME of SERVICE_ENV_<svc> into the
#                                current shell: call it in the subshell that execs the binary
#
# stack_env_value reads, besides the caller's environment:
#   ROOT, RUN                    the checkout and its .run/ folder
#   DB_HOST DB_PORT DB_USER DB_PASSWORD REDIS_HOST REDIS_PORT KAFKA_BOOTSTRAP  (infra env)
#   AUTH_SERVICE_TOKEN ADMIN_EMAIL ADMIN_PASSWORD   (the .env that scripts/env.sh writes)
# Variables whose value is empty are not exported: the daemon's default applies (cfg_load()
# treats empty as unset). The daemons' tunables with defaults (HTTP_THREADS, DB_POOL_SIZE, …)
# are not part of the contract; set them in the caller's environment (stack.sh passes it on)
# or in docker-compose.yml.

STACK_ENV_SERVICES="auth user catalog inventory order payment"

# what every daemon reads through the common table (common/src/config.c)
STACK_ENV_COMMON="HTTP_PORT HTTP_BIND LOG_LEVEL DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME \
KAFKA_BOOTSTRAP KAFKA_GROUP_ID JWT_PUBLIC_KEY_FILE MIGRATIONS_DIR"

SERVICE_ENV_auth="$STACK_ENV_COMMON JWT_PRIVATE_KEY_FILE AUTH_SERVICE_TOKEN ADMIN_EMAIL \
ADMIN_PASSWORD"
SERVICE_ENV_user="$STACK_ENV_COMMON AUTH_URL AUTH_SERVICE_TOKEN"
SERVICE_ENV_catalog="$STACK_ENV_COMMON"
SERVICE_ENV_inventory="$STACK_ENV_COMMON REDIS_HOST REDIS_PORT"
SERVICE_ENV_order="$STACK_ENV_COMMON ORDER_PAYMENT_DEADLINE_S"
SERVICE_ENV_payment="$STACK_ENV_COMMON PAYMENT_GATEWAY_TIMEOUT_MS"

stack_env_port() {
    local var
    var="$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')_PORT"
    case $1 in
    user) echo "${!var:-8081}" ;;
    inventory) echo "${!var:-8083}" ;;
    catalog) echo "${!var:-8084}" ;;
    order) echo "${!var:-8085}" ;;
    payment) echo "${!var:-8087}" ;;
    auth) echo "${!var:-8089}" ;;
    *) return 1 ;;
    esac
}

stack_env_value() {
    local svc=$1 name=$2
    case $name in
    HTTP_PORT) stack_env_port "$svc" ;;
    HTTP_BIND) echo 127.0.0.1 ;;
    DB_NAME) echo "commerce_$svc" ;;
    KAFKA_GROUP_ID) echo "$svc-service" ;;
    MIGRATIONS_DIR) echo "$ROOT/$svc-service/migrations" ;;
    JWT_PUBLIC_KEY_FILE) echo "$RUN/jwt-public.pem" ;;
    JWT_PRIVATE_KEY_FILE) echo "$RUN/jwt-private.pem" ;;
    AUTH_URL) echo "http://127.0.0.1:$(stack_env_port auth)" ;;
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
    local svc=$1 list name value
    list="SERVICE_ENV_$svc"
    [ -n "${!list:-}" ] || { echo "stack-env: unknown service '$svc'" >&2; return 1; }
    for name in ${!list}; do
        value=$(stack_env_value "$svc" "$name") || return 1
        if [ -n "$value" ]; then
            export "$name=$value"
        fi
    done
}
