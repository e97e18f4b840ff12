#!/usr/bin/env bash
# Installs Redocly's CLI (the version pinned in package-lock.json) into
# tests/openapi/node_modules for the OpenAPI lint test; does nothing when
# that version is already there. Without node and npm it says so and exits
# 0: the test then skips.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "openapi: node/npm not found: the lint test will skip"
  exit 0
fi
want=$(node -p "require('./package-lock.json').packages['node_modules/@redocly/cli'].version")
have=$(node -p "try { require('./node_modules/@redocly/cli/package.json').version } catch (e) { '' }")
if [ "$want" = "$have" ]; then
  echo "openapi: @redocly/cli $have present"
  exit 0
fi
echo "openapi: installing @redocly/cli $want (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
