#!/usr/bin/env bash
# server/openapi.json through `redocly lint` (its recommended rules): any
# error fails, warnings are printed. Exits 77 (skipped) with the reason when
# node or the CLI is missing (bash tests/openapi/install.sh installs it).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
doc="${1:-$here/../../server/openapi.json}"
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node not found"
  exit 77
fi
cli="$here/node_modules/.bin/redocly"
if [ ! -x "$cli" ]; then
  echo "SKIP: @redocly/cli is not installed: run bash tests/openapi/install.sh"
  exit 77
fi
# No telemetry, no update check: the test makes no request off this machine.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
out=$("$cli" lint --format=stylish "$doc" 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
  echo "FAIL: redocly lint found errors in $doc"
  exit 1
fi
exit 0
