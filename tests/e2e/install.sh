#!/usr/bin/env bash
# Installs playwright-core (the version pinned in package-lock.json) into
# tests/e2e/node_modules for the dashboard e2e test; does nothing when that
# version is already there. The browser is Debian's /usr/bin/chromium
# (scripts/install-deps.sh --test), never a download. Without node and npm it
# says so and exits 0: the test then skips.
here=$(dirname "$0")
exec bash "$here/../npm-install-pinned.sh" "$here" playwright-core e2e \
  "the dashboard test"
