#!/usr/bin/env bash
# test-image.sh - `make test-image`: builds the Dockerfile with podman and runs one order through
# the six service containers against the harness's MariaDB, Redis and Kafka (README "The image
# test"). Stops everything it started, also on failure or Ctrl-C, and prints its timings.
#
# usage: scripts/test-image.sh [--help]
#
#   1. installs what is missing: scripts/deps.sh (MariaDB, Redis, the Kafka jars, curl, jq),
#      then podman, runc, catatonit and debootstrap from Debian (apt, as root);
#   2. the base image: where debian:bookworm is not in the project's podman storage, builds it
#      with debootstrap from the host's Debian mirror and tags it debian:bookworm and
#      debian:bookworm-slim (the Dockerfile's FROM lines; no registry is asked);
#   3. podman build of the Dockerfile (--network=host for apt) → localhost/commerce:test-image;
#   4. scripts/infra.sh start in a private state folder (loopback, random ports), then what
#      docker-compose.yml's one-shot containers do: one database and account per service
#      (deploy/mariadb/01-databases.sh), the topics (scripts/create-topics.sh) and, on the
#      SASL broker, the services' ACLs (`commercectl kafka acls` run from the image);
#   5. the six service containers (--network=host, --init, the image's user), each with exactly
#      its variables of scripts/stack-env.sh (the list docker-compose.yml gives it), container
#      paths for the migrations and the key pair (/run/secrets/jwt_*), random free ports;
#      waits for each GET /health/ready;
#   6. one order: admin login, category, product, sign-up, login, order, payment confirm,
#      polled until the order is CONFIRMED.
#
# Podman runs with the project's settings only: CONTAINERS_CONF=deploy/podman/containers.conf,
# CONTAINERS_STORAGE_CONF=deploy/podman/storage.conf, storage under IMAGE_STORE.
# Environment:
#   IMAGE_STORE=.deps/podman    podman storage (images, build cache); rm -rf it to start afresh
#   DEBIAN_MIRROR               the mirror for debootstrap (default: the host's apt source)
#   TEST_IMAGE_BUILD_TIMEOUT_S=1800   deadline of the image build (debootstrap: the same)
#   TEST_IMAGE_READY_S=120      deadline for the services' readiness, and for the order
#   LOG_LEVEL                   passed to the services (as docker-compose.yml does)
# The state folder (server data, logs/: build, infra, each container's output) is removed after
# a clean run and kept, with its path printed, when something failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

case "${1:-}" in
"") ;;
-h | --help) exec bash scripts/help.sh "$0" ;;
*) echo "usage: $0 [--help]" >&2; exit 2 ;;
esac

STORE=${IMAGE_STORE:-$ROOT/.deps/podman}
mkdir -p "$STORE"
STORE=$(cd "$STORE" && pwd)
BUILD_TIMEOUT_S=${TEST_IMAGE_BUILD_TIMEOUT_S:-1800}
READY_S=${TEST_IMAGE_READY_S:-120}
IMAGE=localhost/commerce:test-image
export CONTAINERS_CONF="$ROOT/deploy/podman/containers.conf"
export CONTAINERS_STORAGE_CONF="$ROOT/deploy/podman/storage.conf"
PODMAN=(podman --root "$STORE/storage" --runroot "$STORE/run")

STATE=$(mktemp -d "${TMPDIR:-/tmp}/commerce-image.XXXXXX")
LOGS="$STATE/logs"
mkdir -p "$LOGS"
RUN_ID=$(basename "$STATE" | tr 'A-Z.' 'a-z-')
CONTAINERS=()
INFRA_STARTED=0
OK=0
T0=$SECONDS
T_LAST=$SECONDS
TIMINGS=()

say() { printf 'test-image: %s\n' "$*" >&2; }
die() { printf 'test-image: error: %s\n' "$*" >&2; exit 1; }
# lap NAME: records the seconds since the previous lap
lap() {
    TIMINGS+=("$(printf '%-34s %4ds' "$1" $((SECONDS - T_LAST)))")
    T_LAST=$SECONDS
}

# Keeps each container's output, removes the containers, stops the servers; prints the timings.
# Idempotent (EXIT trap).
cleanup() {
    local rc=$? c t
    trap - EXIT INT TERM
    for c in "${CONTAINERS[@]}"; do
        "${PODMAN[@]}" logs "$c" >"$LOGS/$c.log" 2>&1 || true
        "${PODMAN[@]}" rm -f -t 20 "$c" >/dev/null 2>&1 || say "warning: could not remove container $c"
    done
    CONTAINERS=()
    rm -rf "$STATE/rootfs"
    if [ "$INFRA_STARTED" -eq 1 ]; then
        STATE_DIR="$STATE" bash scripts/infra.sh stop >>"$LOGS/infra.log" 2>&1 ||
            say "warning: infra.sh stop failed"
        INFRA_STARTED=0
    fi
    [ "${#TIMINGS[@]}" -eq 0 ] || { echo; echo "==== timings ===="; }
    for t in "${TIMINGS[@]}"; do echo "$t"; done
    if [ "$OK" -eq 1 ]; then
        rm -rf "$STATE"
        printf '%-34s %4ds\nPASS make test-image\n' total $((SECONDS - T0))
    else
        printf '%-34s %4ds\nFAIL make test-image (state folder kept: %s)\n' total \
            $((SECONDS - T0)) "$STATE"
        [ "$rc" -ne 0 ] || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

# ---- 1. dependencies ----
SKIP_SCHEMATHESIS=1 bash scripts/deps.sh
missing=()
for cmd in podman:podman runc:runc debootstrap:debootstrap catatonit:catatonit; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || [ -x "/usr/libexec/podman/${cmd%%:*}" ] ||
        missing+=("${cmd#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root to install them (apt-get)"
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >"$LOGS/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >>"$LOGS/apt.log" 2>&1 || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get failed"; }
fi
"${PODMAN[@]}" info >"$LOGS/podman-info.log" 2>&1 ||
    { tail -n 20 "$LOGS/podman-info.log" >&2; die "podman does not work here"; }
lap "dependencies"

# ---- 2. the base image ----
# The host's Debian mirror (its apt sources), e.g. http://deb.debian.org/debian.
debian_mirror() {
    local url
    url=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
        /etc/apt/sources.list.d/*.list 2>/dev/null |
        grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n 1 | tr -d ' ')
    echo "${url:-http://deb.debian.org/debian}"
}
if ! "${PODMAN[@]}" image exists debian:bookworm; then
    mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    rootfs="$STATE/rootfs"
    say "building debian:bookworm with debootstrap from $mirror (log: $LOGS/debootstrap.log)"
    timeout "$BUILD_TIMEOUT_S" debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
        >"$LOGS/debootstrap.log" 2>&1 || { tail -n 20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed"; }
    # the sources of Debian's own image: the release, its updates, the security archive
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian*}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | "${PODMAN[@]}" import --change 'CMD ["bash"]' - debian:bookworm \
        >"$LOGS/import.log" 2>&1 || { tail -n 20 "$LOGS/import.log" >&2; die "podman import failed"; }
    rm -rf "$rootfs"
fi
"${PODMAN[@]}" tag debian:bookworm debian:bookworm-slim
lap "base image (debootstrap)"

# ---- 3. the image ----
say "podman build → $IMAGE (log: $LOGS/build.log)"
timeout "$BUILD_TIMEOUT_S" "${PODMAN[@]}" build --pull=never --network=host -f Dockerfile \
    -t "$IMAGE" . >"$LOGS/build.log" 2>&1 ||
    { tail -n 40 "$LOGS/build.log" >&2; die "podman build failed (log: $LOGS/build.log)"; }
lap "podman build"

# ---- 4. servers, databases, accounts, topics, ACLs ----
INFRA_STARTED=1
STATE_DIR="$STATE" bash scripts/infra.sh start >"$LOGS/infra.log" 2>&1 ||
    { tail -n 40 "$LOGS/infra.log" >&2; die "scripts/infra.sh start failed"; }
# shellcheck disable=SC1091
. "$STATE/env"
say "MariaDB 127.0.0.1:$DB_PORT, Redis 127.0.0.1:$REDIS_PORT, Kafka $KAFKA_BOOTSTRAP ($KAFKA_KIND)"

# the secrets `make env` writes to .env, private to this run
umask 077
secret() { openssl rand -hex 24; }
for svc in USER CATALOG INVENTORY ORDER PAYMENT AUTH; do
    export "DB_PASSWORD_$svc=$(secret)"
done
AUTH_SERVICE_TOKEN=$(secret)
ADMIN_EMAIL=admin@commerce.local
ADMIN_PASSWORD=$(secret)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$STATE/jwt-private.pem" 2>/dev/null
openssl pkey -in "$STATE/jwt-private.pem" -pubout -out "$STATE/jwt-public.pem"
# the containers run as the image's user (10001): it must read the key (as `make env` does)
chmod 644 "$STATE/jwt-public.pem"
[ "$(id -u)" -ne 0 ] || chown 10001:10001 "$STATE/jwt-private.pem"

# docker-compose.yml's mariadb init script, on the harness's server: its `mariadb` is root over
# this server's socket (the host's client configuration names another one)
mkdir -p "$STATE/bin"
printf '#!/bin/sh\nexec %s --no-defaults --socket=%q "$@"\n' "$(command -v mariadb)" \
    "$STATE/mariadb/mariadbd.sock" >"$STATE/bin/mariadb"
chmod 700 "$STATE/bin/mariadb"
PATH="$STATE/bin:$PATH" MARIADB_ROOT_PASSWORD="" \
    bash deploy/mariadb/01-databases.sh >>"$LOGS/infra.log" 2>&1 ||
    { tail -n 20 "$LOGS/infra.log" >&2; die "cannot create the databases and accounts"; }
bash scripts/create-topics.sh >"$LOGS/topics.log" 2>&1 ||
    { tail -n 20 "$LOGS/topics.log" >&2; die "cannot create the topics"; }
case ${KAFKA_SECURITY_PROTOCOL:-} in
SASL_*)
    # docker-compose.yml's kafka-acls: commercectl from the image, logged in as the admin
    "${PODMAN[@]}" run --rm --network=host -e KAFKA_BOOTSTRAP -e KAFKA_SECURITY_PROTOCOL \
        -e KAFKA_SASL_USERNAME -e KAFKA_SASL_PASSWORD "$IMAGE" commercectl kafka acls \
        >"$LOGS/kafka-acls.log" 2>&1 ||
        { tail -n 20 "$LOGS/kafka-acls.log" >&2; die "cannot create the Kafka ACLs"; }
    say "kafka ACLs: $(grep -c ALLOW "$LOGS/kafka-acls.log") rules"
    ;;
esac
lap "infra, databases, topics, ACLs"

# ---- 5. the service containers ----
# shellcheck disable=SC1091
. scripts/stack-env.sh
# a free loopback port (nothing listens), not one picked before in this run
PICKED=" $DB_PORT $REDIS_PORT ${KAFKA_BOOTSTRAP##*:} "
free_port() {
    local p
    while :; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        case "$PICKED" in *" $p "*) continue ;; esac
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        PICKED="$PICKED$p "
        echo "$p"
        return 0
    done
}
for svc in $STACK_ENV_SERVICES; do
    up=$(printf '%s' "$svc" | tr '[:lower:]' '[:upper:]')
    export "${up}_PORT=$(free_port)"
done
export ROOT RUN="$STATE" AUTH_SERVICE_TOKEN ADMIN_EMAIL ADMIN_PASSWORD

# container_env SVC: SVC's variables of scripts/stack-env.sh as docker-compose.yml sets them
# (NAME=value lines; empty ones left out: the daemon's default)
container_env() {
    local svc=$1 list="SERVICE_ENV_$1" name value pw
    pw="DB_PASSWORD_$(printf '%s' "$svc" | tr '[:lower:]' '[:upper:]')"
    for name in ${!list}; do
        case $name in
        # host network: loopback (compose binds 0.0.0.0 inside its own network)
        HTTP_BIND) value=127.0.0.1 ;;
        DB_USER) value=$svc ;;
        DB_PASSWORD) value=${!pw} ;;
        MIGRATIONS_DIR) value=/app/$svc-service/migrations ;;
        JWT_PUBLIC_KEY_FILE) value=/run/secrets/jwt_public_key ;;
        JWT_PRIVATE_KEY_FILE) value=/run/secrets/jwt_private_key ;;
        *) value=$(stack_env_value "$svc" "$name") ;;
        esac
        [ -z "$value" ] || printf '%s=%s\n' "$name" "$value"
    done
}

for svc in $STACK_ENV_SERVICES; do
    name="commerce-$RUN_ID-$svc"
    container_env "$svc" >"$STATE/$svc.env"
    mounts=(-v "$STATE/jwt-public.pem:/run/secrets/jwt_public_key:ro")
    [ "$svc" != auth ] || mounts+=(-v "$STATE/jwt-private.pem:/run/secrets/jwt_private_key:ro")
    CONTAINERS+=("$name")
    "${PODMAN[@]}" run -d --name "$name" --network=host --init --env-file "$STATE/$svc.env" \
        "${mounts[@]}" "$IMAGE" "$svc" >/dev/null
done
for svc in $STACK_ENV_SERVICES; do
    name="commerce-$RUN_ID-$svc"
    url="http://127.0.0.1:$(stack_env_port "$svc")"
    deadline=$((SECONDS + READY_S))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/health/ready")" = 200 ]; do
        if [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$name")" != true ] ||
            [ "$SECONDS" -ge "$deadline" ]; then
            "${PODMAN[@]}" logs --tail 40 "$name" >&2 || true
            die "$svc-service (container $name) not ready at $url/health/ready"
        fi
        sleep 0.2
    done
    printf -v "${svc^^}_URL" '%s' "$url"
    say "$svc-service ready on $url"
done
lap "six containers ready"

# ---- 6. one order to CONFIRMED ----
# call METHOD URL [BODY] [TOKEN]: the response body on stdout, the status in $STATE/status
call() {
    local args=(-sS --max-time 10 -o "$STATE/body" -w '%{http_code}' -X "$1")
    [ -z "${3:-}" ] || args+=(-H 'Content-Type: application/json' --data "$3")
    [ -z "${4:-}" ] || args+=(-H "Authorization: Bearer $4")
    curl "${args[@]}" "$2" >"$STATE/status" || die "$1 $2: no answer"
    cat "$STATE/body"
}
# want STATUS WHAT: dies unless the last call answered STATUS
want() {
    [ "$(cat "$STATE/status")" = "$1" ] ||
        die "$2: HTTP $(cat "$STATE/status") (want $1): $(head -c 400 "$STATE/body")"
}
# retry_while STATUS CMD...: repeats CMD while the last call answered STATUS (an event not yet
# consumed), until the deadline
retry_while() {
    local st=$1 deadline=$((SECONDS + READY_S))
    shift
    while "$@" >/dev/null && [ "$(cat "$STATE/status")" = "$st" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
    done
}

tag=$(date +%s%N)
admin=$(call POST "$AUTH_URL/api/auth/login" \
    "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .accessToken)
want 200 "admin login"
cat_id=$(call POST "$CATALOG_URL/api/catalog/categories" "{\"name\":\"Image $tag\",\"ordering\":1}" \
    "$admin" | jq -r .id)
want 201 "create category"
sku=$(call POST "$CATALOG_URL/api/catalog/products" "{\"name\":\"Image mug\",\"description\":\"a mug\",\
\"price\":12000,\"categoryId\":$cat_id,\"brand\":\"image\",\"initialQuantity\":5}" "$admin" |
    jq -r '.skus[0].id')
want 201 "create product"
email="image-$tag@example.com"
call POST "$USER_URL/api/users" "{\"email\":\"$email\",\"password\":\"Image-Passw0rd!\",\
\"name\":\"Image User\",\"phone\":\"010-0000-0000\"}" >/dev/null
want 201 "sign-up"
token=$(call POST "$AUTH_URL/api/auth/login" "{\"email\":\"$email\",\"password\":\"Image-Passw0rd!\"}" |
    jq -r .accessToken)
want 200 "user login"
# 404 until inventory-service has consumed product.sku.created: an order placed before that
# waits for it only INVENTORY_UNKNOWN_SKU_ATTEMPTS deliveries (a few seconds) before it fails
# SKU_NOT_FOUND, and a container that has just started may take longer; the e2e suites'
# saga_stock_wait() waits alike
retry_while 404 call GET "$INVENTORY_URL/api/inventories/$sku"
want 200 "stock of the new SKU"
# 422 until order-service has consumed product.sku.created
retry_while 422 call POST "$ORDER_URL/api/orders" "{\"items\":[{\"skuId\":$sku,\"quantity\":2}]}" "$token"
want 201 "place order"
order_id=$(jq -r '.id // .orderId' "$STATE/body")
amount=$(jq -r .payableAmount "$STATE/body")
say "order $order_id for SKU $sku, $amount KRW"
# wait_order STATUS: polls the order until it has STATUS; dies when it ends otherwise
wait_order() {
    local status= deadline=$((SECONDS + READY_S))
    while [ "$status" != "$1" ]; do
        status=$(call GET "$ORDER_URL/api/orders/$order_id" "" "$token" | jq -r .status)
        want 200 "get order"
        case $status in CANCELLED | FAILED) die "order $order_id ended $status" ;; esac
        [ "$SECONDS" -lt "$deadline" ] || die "order $order_id still $status after ${READY_S}s"
        sleep 0.2
    done
}
# stock reserved, payment created by payment-service
wait_order PAYMENT_PENDING
# 409 until payment-service has consumed order.placed
retry_while 409 call POST "$PAYMENT_URL/api/payments/confirm" \
    "{\"orderId\":\"$order_id\",\"amount\":$amount,\"paymentKey\":\"image_$tag\"}" "$token"
want 200 "payment confirm"
wait_order CONFIRMED
say "order $order_id CONFIRMED through the containers"
lap "one order to CONFIRMED"
OK=1
