#!/usr/bin/env bash
# Installs one npm package at the version pinned in DIR/package-lock.json
# into DIR/node_modules (npm ci); does nothing when that version is already
# there. Without node and npm it says so and exits 0: the test that needs
# the package then skips. Used by tests/e2e/install.sh and
# tests/openapi/install.sh.
#
#   tests/npm-install-pinned.sh DIR PACKAGE TAG TEST
#     TAG prefixes every line ("e2e"); TEST names the test that skips
#     without it ("the dashboard test").
set -euo pipefail
dir=$1 pkg=$2 tag=$3 what=$4
cd "$dir"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "$tag: node/npm not found: $what will skip"
  exit 0
fi
want=$(node -p "require('./package-lock.json').packages['node_modules/$pkg'].version")
have=$(node -p "try { require('./node_modules/$pkg/package.json').version } catch (e) { '' }")
if [ "$want" = "$have" ]; then
  echo "$tag: $pkg $have present"
  exit 0
fi
echo "$tag: installing $pkg $want (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
