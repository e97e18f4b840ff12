#!/usr/bin/env bash
# Installs Redocly's CLI (the version pinned in package-lock.json) into
# tests/openapi/node_modules for the OpenAPI lint test; does nothing when
# that version is already there. Without node and npm it says so and exits
# 0: the test then skips.
here=$(dirname "$0")
exec bash "$here/../npm-install-pinned.sh" "$here" @redocly/cli openapi \
  "the lint test"
