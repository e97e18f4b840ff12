#!/usr/bin/env bash
# Installs the Debian 12 packages streamsight needs, only those missing.
#   --run   what building and running the server needs (default)
#   --test  plus what the test suite needs
set -euo pipefail
mode=run
for a in "$@"; do
  case "$a" in
    --run) mode=run ;;
    --test) mode=test ;;
    *) echo "install-deps.sh: unknown option '$a' (use --run or --test)" >&2; exit 2 ;;
  esac
done

pkgs=(
  build-essential meson ninja-build pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  libmicrohttpd-dev libjansson-dev libmosquitto-dev
  libjpeg62-turbo-dev libspng-dev zlib1g-dev
)
if [ "$mode" = test ]; then
  pkgs+=(check libgstrtspserver-1.0-dev valgrind clang libclang-rt-14-dev)
  # What the test scripts call (scripts/valgrind.sh, soak.sh, fuzz.sh): a
  # debootstrapped Debian has neither curl nor python3 until asked.
  pkgs+=(curl python3)
  # The dashboard's browser test (tests/e2e): Debian's Chromium, driven by
  # playwright-core from npm (tests/e2e/install.sh).
  pkgs+=(chromium)
  # test-faults runs VLC's RTSP server as a camera we did not write.
  pkgs+=(vlc-bin vlc-plugin-base)
  # test-mqtt runs Debian's broker (with a password file, and TLS from a
  # CA made by openssl in the test); mosquitto_sub for manual checks.
  pkgs+=(mosquitto mosquitto-clients openssl)
  # The deploy checks: PyYAML reads the Kubernetes manifests; systemd's
  # systemd-analyze verifies the unit (kubectl is not in Debian 12).
  pkgs+=(python3-yaml systemd)
  # Prometheus' promtool: every /metrics test (tests/prom-check.c) also
  # runs `promtool check metrics` where it is installed. Only the tool is
  # used; the package's server is never started by the tests.
  pkgs+=(prometheus)
fi

# The npm packages of the test suite, each pinned by its package-lock.json
# (npm only; nothing else is downloaded): playwright-core for the dashboard
# test, Redocly's CLI for the OpenAPI lint. Each installer skips itself
# without node.
npm_tests() {
  [ "$mode" = test ] || return 0
  local root
  root="$(cd "$(dirname "$0")/.." && pwd)"
  bash "$root/tests/e2e/install.sh"
  bash "$root/tests/openapi/install.sh"
}

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  npm_tests
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_tests
