#!/usr/bin/env bash
# env.sh - `make env`: writes the secrets docker-compose.yml needs into .env and the ES256 key
# pair into .run/ (both gitignored, never committed). Idempotent: an existing .env or key pair
# is kept, so running it again changes nothing; `rm .env` (and `docker compose down -v`, the
# databases keep the old passwords) starts afresh.
#
# usage: scripts/env.sh [--force]     --force rewrites .env (not the key pair)
#
# .env holds: MARIADB_ROOT_PASSWORD, DB_PASSWORD_<SERVICE> (one MariaDB account per service),
# AUTH_SERVICE_TOKEN (user-service → auth-service credential), ADMIN_EMAIL / ADMIN_PASSWORD
# (the ADMIN account auth-service creates at start), KAFKA_PASSWORD_<ADMIN|CATALOG|INVENTORY|
# ORDER|PAYMENT> (the Kafka principals' SCRAM passwords: the broker's admin and one per service;
# README "Event bus security"), GRAFANA_ADMIN_PASSWORD, and APP_UID / APP_GID (the uid the
# service containers run as, so they can read .run/jwt-private.pem). An .env from before the
# Kafka passwords gets them appended (the rest is kept).

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE="$ROOT/.env"
RUN="$ROOT/.run"
FORCE=0
case "${1:-}" in
"") ;;
--force) FORCE=1 ;;
*) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

say() { printf 'env: %s\n' "$*" >&2; }
secret() { openssl rand -hex 24; }

command -v openssl >/dev/null 2>&1 || { say "error: openssl is needed"; exit 1; }
umask 077
mkdir -p "$RUN"

if [ ! -f "$RUN/jwt-private.pem" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
        -out "$RUN/jwt-private.pem" 2>/dev/null
    openssl pkey -in "$RUN/jwt-private.pem" -pubout -out "$RUN/jwt-public.pem"
    say "made an ES256 key pair in .run/"
fi
[ -f "$RUN/jwt-public.pem" ] ||
    openssl pkey -in "$RUN/jwt-private.pem" -pubout -out "$RUN/jwt-public.pem"
chmod 600 "$RUN/jwt-private.pem"
chmod 644 "$RUN/jwt-public.pem"

# The containers run as the owner of the key (a non-root uid); as root, hand the key to the
# image's own user (10001) instead of running the services as root.
app_uid=$(id -u) app_gid=$(id -g)
if [ "$app_uid" -eq 0 ]; then
    app_uid=10001 app_gid=10001
    chown "$app_uid:$app_gid" "$RUN/jwt-private.pem"
fi

KAFKA_PRINCIPALS="ADMIN CATALOG INVENTORY ORDER PAYMENT"
kafka_passwords() {
    local p
    for p in $KAFKA_PRINCIPALS; do
        echo "KAFKA_PASSWORD_$p=$(secret)"
    done
}

if [ -f "$ENV_FILE" ] && [ "$FORCE" -eq 0 ]; then
    if ! grep -q '^KAFKA_PASSWORD_ADMIN=' "$ENV_FILE"; then
        kafka_passwords >>"$ENV_FILE"
        say ".env kept; Kafka principals' passwords added (KAFKA_PASSWORD_*)"
        exit 0
    fi
    say ".env exists; kept (scripts/env.sh --force rewrites it)"
    exit 0
fi

tmp="$ENV_FILE.tmp.$$"
trap 'rm -f "$tmp"' EXIT
{
    echo "# written by scripts/env.sh ($(date -u +%FT%TZ)); secrets for docker-compose.yml."
    echo "# Never commit this file."
    echo "MARIADB_ROOT_PASSWORD=$(secret)"
    for svc in USER CATALOG INVENTORY ORDER PAYMENT AUTH; do
        echo "DB_PASSWORD_$svc=$(secret)"
    done
    echo "AUTH_SERVICE_TOKEN=$(secret)"
    echo "ADMIN_EMAIL=admin@commerce.local"
    echo "ADMIN_PASSWORD=$(secret)"
    kafka_passwords
    echo "GRAFANA_ADMIN_PASSWORD=$(secret)"
    echo "APP_UID=$app_uid"
    echo "APP_GID=$app_gid"
} >"$tmp"
chmod 600 "$tmp"
mv "$tmp" "$ENV_FILE"
trap - EXIT
say "wrote .env (ADMIN_EMAIL=admin@commerce.local; the password is in .env)"
