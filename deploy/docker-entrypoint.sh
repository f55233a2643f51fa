#!/bin/sh
# docker-entrypoint.sh - the image's ENTRYPOINT: runs the service named by the command
# ("catalog" or "catalog-service"), or another program of /app/bin (commercectl), replacing
# this shell so the daemon gets the signals.
set -eu

usage() {
    echo "usage: docker run IMAGE SERVICE [args]   (SERVICE: $(ls /app/bin | sed 's/-service$//' | tr '\n' ' '))" >&2
    exit 2
}

[ "$#" -ge 1 ] || usage
svc=${1%-service}
shift
bin="/app/bin/$svc-service"
[ -x "$bin" ] || bin="/app/bin/$svc"
case "$svc" in */*) bin= ;; esac
[ -n "$bin" ] && [ -x "$bin" ] || { echo "docker-entrypoint: no service '$svc'" >&2; usage; }
exec "$bin" "$@"
