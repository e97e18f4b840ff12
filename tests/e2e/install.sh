#!/usr/bin/env bash
# Installs playwright-core (the version pinned in package-lock.json) into
# tests/e2e/node_modules for the dashboard e2e test; does nothing when that
# version is already there. The browser is Debian's /usr/bin/chromium
# (scripts/install-deps.sh --test), never a download. Without node and npm it
# says so and exits 0: the test then skips.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "e2e: node/npm not found: the dashboard test will skip"
  exit 0
fi
want=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$want" = "$have" ]; then
  echo "e2e: playwright-core $have present"
  exit 0
fi
echo "e2e: installing playwright-core $want (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
