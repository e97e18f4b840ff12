#!/usr/bin/env bash
# Makes docs/dashboard.png, the README's first picture: the dashboard of the
# built-in default (what ./scripts/run.sh serves: no config file, so the test
# stream "test" on test:, and the default model
# models/mobilenet_v2_1.0_224_quant.tflite) once predictions arrive, taken
# with Debian's headless chromium and shrunk to a palette PNG.
#
#   scripts/dashboard-shot.sh [--build-dir DIR] [--models DIR] [--size WxH]
#                             [OUT]
#
#   --build-dir DIR  meson build directory with server/streamsight
#                    (default: build)
#   --models DIR     a directory holding mobilenet_v2_1.0_224_quant.tflite
#                    (default: models/ of the checkout as run.sh installs it,
#                    else $STREAMSIGHT_TEST_DATA/models)
#   --size WxH       browser window (default 960x760)
#   OUT              the PNG (default docs/dashboard.png)
#
# The server runs on 127.0.0.1, port 0, from a temporary directory (its own
# config, which is never written, and a `models` link to DIR), and is
# stopped at the end. Needs chromium, curl and ImageMagick's convert
# (pngquant is used instead when installed). Not a test: run it by hand
# after changing the dashboard.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=build
models=""
size=960x760
out="$root/docs/dashboard.png"
model=mobilenet_v2_1.0_224_quant.tflite
max_bytes=$((200 * 1024))

die() { echo "dashboard-shot.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"
                 build_dir=$2; shift 2 ;;
    --models) [ $# -ge 2 ] || die "--models needs a directory"
              models=$2; shift 2 ;;
    --size) [ $# -ge 2 ] || die "--size needs WxH"; size=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) out=$1; shift ;;
  esac
done
[[ "$size" =~ ^[0-9]+x[0-9]+$ ]] || die "--size: '$size' is not WxH"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
exe="$build_dir/server/streamsight"
[ -x "$exe" ] || die "$exe not built (meson setup build && ninja -C build)"
if [ -z "$models" ]; then
  if [ -f "$root/models/$model" ]; then
    models="$root/models"
  elif [ -n "${STREAMSIGHT_TEST_DATA:-}" ] && \
       [ -f "$STREAMSIGHT_TEST_DATA/models/$model" ]; then
    models="$STREAMSIGHT_TEST_DATA/models"
  else
    die "no $model: run scripts/install-models.sh or pass --models DIR"
  fi
fi
[ -f "$models/$model" ] || die "$models/$model: no such file"
models=$(cd "$models" && pwd)
for tool in chromium curl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
command -v pngquant >/dev/null || command -v convert >/dev/null || \
  die "pngquant or ImageMagick's convert is required"

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1. The server on the built-in defaults. The config file does not exist and
# nothing changes the streams, so it is never created.
ln -s "$models" "$tmp/models"
(cd "$tmp" && STREAMSIGHT_CONFIG="$tmp/streamsight.json" \
   exec "$exe" serve --bind 127.0.0.1 --port 0 > "$tmp/serve.log" 2>&1) &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's|.*listening on \(http://[^ ]*/\).*|\1|p' "$tmp/serve.log" | head -1)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; die "the server exited"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/serve.log" >&2; die "the server did not start in 10 s"; }

# 2. Predictions on the default stream, and a few seconds more so that the
# card's fps figures are the steady ones.
id=$(curl -sf "${url}api/v1/streams" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -1)
[ -n "$id" ] || die "no stream on the default config"
for _ in $(seq 1 60); do
  curl -sf "${url}api/v1/streams/$id/predictions" | grep -q '"classes":\[{' && break
  sleep 0.5
done
curl -sf "${url}api/v1/streams/$id/predictions" | grep -q '"classes":\[{' || \
  die "no prediction on stream $id within 30 s"
sleep 4

# 3. The screenshot: the page's scripts get 6 s of (virtual) time to fetch
# the streams, open the event stream and draw the predictions.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="${size/x/,}" --virtual-time-budget=6000 \
  --screenshot="$tmp/shot.png" "$url" >/dev/null 2>&1 || true
[ -s "$tmp/shot.png" ] || die "chromium wrote no screenshot"

# 4. A palette PNG: the page is flat colours and text.
mkdir -p "$(dirname "$out")"
if command -v pngquant >/dev/null; then
  pngquant --force --strip --speed 1 --output "$out" 128 "$tmp/shot.png"
else
  convert "$tmp/shot.png" -strip -dither None -colors 128 \
    -define png:compression-level=9 "PNG8:$out"
fi
bytes=$(stat -c %s "$out")
[ "$bytes" -le "$max_bytes" ] || die "$out is $bytes bytes (limit $max_bytes)"
echo "dashboard-shot.sh: $out ($size, $bytes bytes) of $url (stream $id)"
