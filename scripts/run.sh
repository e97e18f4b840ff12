#!/usr/bin/env bash
# Installs what is missing, builds streamsight, installs the default model and
# starts the server (a test stream on the default config), printing its URL.
#
#   scripts/run.sh [--models-from DIR] [--config FILE] [--build-dir DIR]
#                  [--no-deps] [-- SERVE-OPTION...]
#
#   --models-from DIR  install models from a local mirror (install-models.sh
#                      --from DIR, sha256-checked) instead of downloading
#   --config FILE      config file (default: $STREAMSIGHT_CONFIG, else
#                      ${XDG_CONFIG_HOME:-~/.config}/streamsight/streamsight.json;
#                      a missing file means the defaults and is created when
#                      streams are added over the API)
#   --build-dir DIR    meson build directory (default: build)
#   --no-deps          do not check or install Debian packages
#   -- ...             passed to `streamsight serve`, e.g. -- --port 9000
#
# Debian 12: packages are installed with apt-get only when missing, as root
# or through sudo. Environment variables (STREAMSIGHT_PORT, _BIND, _TOKEN...)
# apply as documented in config/README.md. Stop the server with Ctrl-C.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
models_from=""
config="${STREAMSIGHT_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/streamsight/streamsight.json}"
build_dir=build
deps=1
serve_args=()

die() { echo "run.sh: $*" >&2; exit 1; }
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --models-from) [ $# -ge 2 ] || die "--models-from needs a directory"
                   models_from=$2; shift 2 ;;
    --models-from=*) models_from=${1#--models-from=}; shift ;;
    --config) [ $# -ge 2 ] || die "--config needs a file"
              config=$2; shift 2 ;;
    --config=*) config=${1#--config=}; shift ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"
                 build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#--build-dir=}; shift ;;
    --no-deps) deps=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; serve_args=("$@"); break ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -z "$models_from" ] || [ -d "$models_from" ] || die "$models_from: not a directory"
models_from=${models_from:+$(cd "$models_from" && pwd)}
cd "$root"

# 1. Packages (only the missing ones).
if [ "$deps" = 1 ]; then
  "$root/scripts/install-deps.sh" --run
  if [ -z "$models_from" ] && ! command -v curl >/dev/null && ! command -v wget >/dev/null; then
    echo "run.sh: installing curl to download the model"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends curl ca-certificates
  fi
fi

# 2. Build.
if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" --buildtype=debugoptimized
fi
ninja -C "$build_dir" server/streamsight tools/streamsight-bench
exe="$root/$build_dir/server/streamsight"
case "$build_dir" in /*) exe="$build_dir/server/streamsight" ;; esac
bench="${exe%/server/streamsight}/tools/streamsight-bench"

# 3. The default model (left alone when already installed and verified).
if [ -n "$models_from" ]; then
  "$root/scripts/install-models.sh" --bench "$bench" --from "$models_from"
else
  "$root/scripts/install-models.sh" --bench "$bench"
fi

# 4. Serve. The server prints "streamsight: listening on http://...".
mkdir -p "$(dirname "$config")"
echo "run.sh: config $config$([ -f "$config" ] || echo ' (not there yet: defaults, one test stream)')"
echo "run.sh: starting; try  curl <URL>api/v1/streams  with the URL printed below (Ctrl-C stops)"
# Through STREAMSIGHT_CONFIG, the default location: a file not there yet is
# created on the first change (a --config path must exist).
STREAMSIGHT_CONFIG="$config" exec "$exe" serve ${serve_args[@]+"${serve_args[@]}"}
