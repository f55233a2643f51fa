#!/usr/bin/env bash
# help.sh - prints the --help of a script in scripts/ from its header comment, the script's one
# manual: the "usage:" paragraph first, then the rest of the header. Every script here answers
# -h / --help through it, on stdout with exit status 0, before it does anything else.
#
# usage: scripts/help.sh SCRIPT
#
# The header is the comment block after the shebang ("# shellcheck" lines left out); it must
# hold a line starting with "usage:" (exit status 1 otherwise, 2 for a usage error).
set -euo pipefail

case ${1:-} in
-h | --help) set -- "${BASH_SOURCE[0]}" ;;
esac
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 SCRIPT" >&2; exit 2; }
awk '
NR == 1 && /^#!/ { next }
/^#/ {
    if ($0 ~ /^# shellcheck/) next
    line = $0
    sub(/^# ?/, "", line)
    h[++n] = line
    next
}
{ exit }
END {
    for (i = 1; i <= n; i++) if (h[i] ~ /^usage:/) { u = i; break }
    if (!u) { print FILENAME ": no usage: line in the header" > "/dev/stderr"; exit 1 }
    for (e = u; e <= n && h[e] != ""; e++) print h[e]
    print ""
    s = u > 1 && h[u - 1] == "" ? u - 1 : u
    for (i = 1; i <= n; i++) if (i < s || i >= e) print h[i]
}' "$1"
