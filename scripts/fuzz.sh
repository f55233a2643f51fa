#!/usr/bin/env bash
# fuzz.sh - one bounded schemathesis run of one OpenAPI document against a running service
# (tests/e2e_fuzz.c runs it for every document; by hand it works against `make up` too).
#
# usage: scripts/fuzz.sh DOC BASE_URL
#   DOC       docs/openapi/<service>.yaml
#   BASE_URL  the service, e.g. http://127.0.0.1:8084
# Environment:
#   FUZZ_TOKEN          bearer token sent where the document declares bearerAuth
#   FUZZ_SERVICE_TOKEN  X-Service-Token sent where it declares serviceToken (auth-service)
#   FUZZ_MAX_EXAMPLES   test cases per operation in the fuzzing phase (default 50)
#   FUZZ_SEED           the generator's seed (default 1: a run is repeatable)
#   FUZZ_TIMEOUT_S      hard limit of the run in seconds (default 150)
#   FUZZ_WORKDIR        folder for the config and reports (default: a temporary one)
#
# Every phase runs (examples, coverage with boundary and schema-violating values, fuzzing,
# stateful sequences over the inferred links). Checks: no 5xx, status codes, content types,
# headers and bodies as documented, schema-violating requests refused with a 4xx, required
# headers enforced, authentication not ignored, a created resource readable. Not checked:
#   positive_data_acceptance    a request valid by the schema may still be refused by a rule
#                               the schema cannot say (unknown id 404, wrong state 409)
#   unsupported_method,         path templates overlap (/api/users/me and /api/users/{id},
#   allow_header_conformance    /api/payments/confirm and /api/payments/{orderId}): the
#                               other template answers the "undeclared" method
#   use_after_free              DELETE is a soft delete (a user is BLOCKED, a product
#                               DISCONTINUED) and the resource stays readable
# Exit status: 0 when every operation was tested and nothing failed; schemathesis's status
# when something failed; 124 when the time limit ended the run; 3 when schemathesis is not
# installed (scripts/deps.sh puts it into .deps/); 2 for a usage error.

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQ="$ROOT/scripts/fuzz-requirements.txt"
ST="$ROOT/.deps/schemathesis-$(sed -n 's/^schemathesis==//p' "$REQ")/bin/schemathesis"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance
CHECKS+=,response_headers_conformance,response_schema_conformance,negative_data_rejection
CHECKS+=,missing_required_header,ignored_auth,ensure_resource_availability

say() { printf 'fuzz: %s\n' "$*"; }

[ $# -eq 2 ] || { echo "usage: $0 DOC BASE_URL" >&2; exit 2; }
doc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
url=$2
[ -f "$doc" ] || { say "no such document: $1"; exit 2; }
if [ ! -x "$ST" ]; then
    say "schemathesis is not installed at ${ST#"$ROOT"/} (scripts/deps.sh installs it from PyPI)"
    exit 3
fi

work=${FUZZ_WORKDIR:-}
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
# the tokens reach schemathesis through the environment, not its command line
cat >"$work/schemathesis.toml" <<'EOF'
[auth.openapi.bearerAuth]
bearer = "${FUZZ_TOKEN}"

[auth.openapi.serviceToken]
api_key = "${FUZZ_SERVICE_TOKEN}"
EOF
export FUZZ_TOKEN=${FUZZ_TOKEN:-none} FUZZ_SERVICE_TOKEN=${FUZZ_SERVICE_TOKEN:-none}

out="$work/$(basename "$doc" .yaml).out"
cd "$work" || exit 2
rc=0
# --kill-after: schemathesis gets a moment to print what it has, then it is gone
timeout --kill-after=5 "${FUZZ_TIMEOUT_S:-150}" "$ST" --config-file "$work/schemathesis.toml" \
    run "$doc" --url "$url" --checks "$CHECKS" --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
    --seed "${FUZZ_SEED:-1}" --generation-database none --request-timeout 10 --workers 1 \
    --no-color >"$out" 2>&1 </dev/null || rc=$?
cat "$out"

# "Selected: 13/13" and "Tested: 13" of the summary: every operation must have been tested
total=$(sed -n 's/^ *Selected: [0-9]*\/\([0-9]*\)$/\1/p' "$out" | tail -n 1)
tested=$(sed -n 's/^ *Tested: \([0-9]*\)$/\1/p' "$out" | tail -n 1)
cases=$(sed -n 's/^ *\([0-9]* generated.*\)$/\1/p' "$out" | tail -n 1)
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "$(basename "$doc"): stopped after ${FUZZ_TIMEOUT_S:-150} s (time limit)"
    exit 124
fi
if [ "$rc" -eq 0 ] && { [ -z "$total" ] || [ "$tested" != "$total" ]; }; then
    say "$(basename "$doc"): ${tested:-?} of ${total:-?} operations tested"
    rc=1
fi
say "$(basename "$doc") at $url: ${tested:-?}/${total:-?} operations, ${cases:-no test cases}, exit $rc"
exit "$rc"
