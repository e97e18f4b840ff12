#!/usr/bin/env bash
# Memcheck runs of the real binary (issues 2 and 6): no invalid access and no
# leak that valgrind calls definite or indirect.
#
#   scripts/valgrind.sh [--build DIR] [--seconds N]
#
# 1. `streamsight classify` on a good image, a PNG, a file that is not an
#    image and a missing file (the bad ones must fail alone, the good ones
#    still classify).
# 2. `streamsight serve` with a test stream at 2 fps on 127.0.0.1 for
#    --seconds (default 20) while the API is polled (streams, predictions,
#    stats, metrics, snapshot, classify, a stream added and removed, bad
#    requests), then SIGTERM: it must exit 0.
# Models: classify uses MobileNetV2 1.0/224 quantised from
# $STREAMSIGHT_TEST_DATA/models when present (the TFLite loader's paths), else
# the small golden fixture (tests/fixtures/golden, safetensors); serve always
# uses the fixture: under memcheck one 224 px inference takes seconds, and
# the server's allocation paths do not depend on the model's size. "Possibly
# lost" and "still reachable" blocks belong to GLib/GStreamer's type system
# and caches and are not counted; the one definite GLib leak is suppressed in
# tests/sanitizers/valgrind.supp with its reason. Exits 1 on any report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build
seconds=20
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "valgrind.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
bin="$root/$build/server/streamsight"
[ -x "$bin" ] || { echo "valgrind.sh: $bin not built (ninja -C $build)" >&2; exit 2; }

tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

data=${STREAMSIGHT_TEST_DATA:-}
fixture="$root/tests/fixtures/golden/mobilenet_v2_0.25_64.safetensors"
model=$fixture
if [ -n "$data" ] && [ -f "$data/models/mobilenet_v2_1.0_224_quant.tflite" ]; then
  model="$data/models/mobilenet_v2_1.0_224_quant.tflite"
fi
echo "models: classify $model, serve $fixture"

vg=(valgrind --tool=memcheck --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --error-exitcode=99 --track-fds=no --num-callers=30
    --suppressions="$root/tests/sanitizers/valgrind.supp")

# Test images made here (no shared data needed): a JPEG and a PNG.
gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=320,height=240 \
  ! videoconvert ! jpegenc ! filesink location="$tmp/a.jpg"
gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=ball ! video/x-raw,width=200,height=150 \
  ! videoconvert ! pngenc ! filesink location="$tmp/b.png"
head -c 3000 /dev/urandom > "$tmp/noise.jpg"

failed=0
echo "== classify under memcheck"
set +e
"${vg[@]}" --log-file="$tmp/classify.vg" "$bin" classify --model "$model" --top 3 \
  "$tmp/a.jpg" "$tmp/b.png" "$tmp/noise.jpg" "$tmp/missing.png" > "$tmp/classify.out" 2> "$tmp/classify.err"
rc=$?
set -e
grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$tmp/classify.vg" | sed 's/^==[0-9]*== /  /'
# classify exits 1 when some image failed; 99 is memcheck's verdict.
if [ "$rc" -eq 99 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$tmp/classify.vg"; then
  echo "valgrind.sh: classify: memcheck reported errors or leaks:" >&2
  cat "$tmp/classify.vg" >&2
  failed=1
fi
n_ok=$(grep -c '^  1\. ' "$tmp/classify.out" || true)
n_err=$(grep -c 'error' "$tmp/classify.err" || true)
echo "  classified $n_ok images, $n_err errors reported (expected 2 and 2), exit $rc"
if [ "$n_ok" -ne 2 ] || [ "$n_err" -lt 2 ] || [ "$rc" -ne 1 ]; then
  echo "valgrind.sh: classify: unexpected output" >&2
  cat "$tmp/classify.out" "$tmp/classify.err" >&2
  failed=1
fi

echo "== serve under memcheck (${seconds} s)"
port=$(( 20000 + RANDOM % 20000 ))
cat > "$tmp/config.json" <<EOF
{"bind": "127.0.0.1", "port": $port, "threads": 1, "model": "$fixture",
 "streams": [{"id": "t", "name": "Test", "uri": "test:", "max_fps": 2}]}
EOF
"${vg[@]}" --log-file="$tmp/serve.vg" "$bin" --config "$tmp/config.json" > "$tmp/serve.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
  curl -fs "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.5
done
curl -fs "$url/healthz" >/dev/null || { echo "valgrind.sh: the server did not come up" >&2; cat "$tmp/serve.log" "$tmp/serve.vg" >&2; exit 1; }
end=$(( $(date +%s) + seconds ))
requests=0
while [ "$(date +%s)" -lt "$end" ]; do
  for path in /api/v1/streams /api/v1/streams/t /api/v1/streams/t/predictions/latest \
              "/api/v1/streams/t/predictions?limit=5" /api/v1/stats /metrics /api/v1/model \
              /api/v1/streams/t/snapshot.jpg /api/v1/nope "/api/v1/streams/t/predictions?limit=x"; do
    curl -s -o /dev/null "$url$path" || true
    requests=$((requests + 1))
  done
  curl -s -o /dev/null -X POST --data-binary "@$tmp/a.jpg" -H 'Content-Type: image/jpeg' "$url/api/v1/classify" || true
  curl -s -o /dev/null -X POST -d '{"name": "x", "uri": ' "$url/api/v1/streams" || true
  id=$(curl -s -X POST -d '{"name": "extra", "uri": "test:", "max_fps": 1}' "$url/api/v1/streams" \
       | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
  [ -z "$id" ] || curl -s -o /dev/null -X DELETE "$url/api/v1/streams/$id" || true
  requests=$((requests + 4))
done
kill -TERM "$server_pid"
set +e
wait "$server_pid"
rc=$?
set -e
server_pid=
grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$tmp/serve.vg" | sed 's/^==[0-9]*== /  /'
echo "  $requests requests, exit $rc"
if [ "$rc" -ne 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$tmp/serve.vg"; then
  echo "valgrind.sh: serve: memcheck reported errors or leaks, or exit $rc:" >&2
  cat "$tmp/serve.vg" >&2
  tail -20 "$tmp/serve.log" >&2
  failed=1
fi
[ "$failed" -eq 0 ] && echo "valgrind: clean"
exit "$failed"
