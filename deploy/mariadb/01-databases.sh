#!/bin/bash
# 01-databases.sh - run once by the mariadb image's entrypoint (/docker-entrypoint-initdb.d) on an
# empty data volume: one database per service (README "Architecture") and one account per service with
# privileges on its own database only. Passwords come from the container's environment
# (DB_PASSWORD_<SERVICE>, written to .env by `make env`); this file holds no secret.
# The entrypoint sources it (or runs it): the server is up on its socket, root has
# MARIADB_ROOT_PASSWORD. Passwords are hex (scripts/env.sh), checked anyway before use.
set -e

sql=""
for svc in user catalog inventory order payment auth; do
    var="DB_PASSWORD_$(printf '%s' "$svc" | tr '[:lower:]' '[:upper:]')"
    eval "pw=\${$var:-}"
    if [ -z "$pw" ]; then
        echo "01-databases.sh: $var is not set (run make env)" >&2
        exit 1
    fi
    case "$pw" in
    *[!A-Za-z0-9_.-]*)
        echo "01-databases.sh: $var has characters other than [A-Za-z0-9_.-]" >&2
        exit 1
        ;;
    esac
    sql="$sql
CREATE DATABASE IF NOT EXISTS commerce_$svc CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$svc'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON commerce_$svc.* TO '$svc'@'%';"
done
# the password through the environment, not the command line
printf '%s\nFLUSH PRIVILEGES;\n' "$sql" |
    MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb --protocol=socket -uroot
echo "01-databases.sh: made the six databases and their accounts"
