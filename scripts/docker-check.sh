#!/usr/bin/env bash
# Builds the Dockerfile and checks the image the way a user runs it (issue 4):
#
#   scripts/docker-check.sh --models-from DIR [--clip FILE.mp4] [--port P]
#                           [--keep]
#
# DIR holds mobilenet_v2_1.0_224_quant.tflite (e.g. ../shared/models): it is
# copied into a clean clone of HEAD (the build context) and installed with
# --build-arg MODELS_FROM, so no download is needed. Then, on 127.0.0.1:P
# (host network; default 18080):
#   1. an empty /config volume: the default test stream runs and predicts,
#      `streamsight healthcheck` exits 0 and Docker's health status turns
#      "healthy", the server runs as uid:gid 10001:10001;
#   2. a stream added over the API (options in an "options" object, a
#      password with '@') is written to /config/streamsight.json and never
#      shown in a response or log; `docker stop` exits 0 and a new container
#      on the same volume brings the stream back;
#   3. --cpus 1 and --cpuset-cpus 0 give one inference thread;
#   4. GStreamer loaded the H.264/H.265 parsers (copied into the image on
#      their own) and, with --clip (an H.264 file such as
#      ../shared/videos/car-detection.mp4), a file:// stream of it predicts.
# It prints the image's size and what is in it by size, and fails at 250 MB
# or more (issue 14). Builds with --network host (a daemon without a working
# bridge network cannot run the RUN steps otherwise).
# Needs a Docker daemon and the images debian:12 and debian:12-slim (from a
# registry, or built locally: see "Docker" in server/README.md). Removes its
# containers, volume and clone at the end unless --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
models_from=
clip=
port=18080
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --models-from) models_from=$2; shift 2 ;;
    --clip) clip=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "docker-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
model=mobilenet_v2_1.0_224_quant.tflite
[ -n "$models_from" ] && [ -f "$models_from/$model" ] ||
  { echo "docker-check: --models-from DIR with $model is required" >&2; exit 2; }
docker info >/dev/null 2>&1 ||
  { echo "docker-check: no Docker daemon answers" >&2; exit 2; }

tag=streamsight-check
vol=streamsight-check-config
ctx=$(mktemp -d)
names=()
cleanup() {
  [ "$keep" = 1 ] && return
  for n in "${names[@]}"; do docker rm -f "$n" >/dev/null 2>&1 || true; done
  docker volume rm "$vol" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
fail() { echo "docker-check: FAIL: $*" >&2; exit 1; }
api() { curl -sf --max-time 5 "http://127.0.0.1:$port$1"; }
# run NAME [docker run options...]: the image on the host network, loopback.
run() {
  local name=$1; shift
  names+=("$name")
  docker run -d --name "$name" --network host "$@" \
    -e STREAMSIGHT_PORT="$port" -e STREAMSIGHT_BIND=127.0.0.1 "$tag" >/dev/null
}
wait_for() { # seconds, command...
  local t=$1; shift
  for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}

echo "== build (clean clone of HEAD, model from $models_from)"
git clone -q "$root" "$ctx/src"
mkdir "$ctx/src/mirror"
cp "$models_from/$model" "$ctx/src/mirror/"
[ -f "$models_from/labels.txt" ] && cp "$models_from/labels.txt" "$ctx/src/mirror/"
start=$(date +%s)
docker build -q --network host -t "$tag" --build-arg MODELS_FROM=mirror \
  "$ctx/src" >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$tag")
echo "built in $(( $(date +%s) - start )) s; image $(( size / 1000000 )) MB" \
  "($(docker image inspect --format '{{len .RootFS.Layers}}' "$tag") layer(s))"
# What is in it, by size (as root: some of /var is not the user's).
docker run --rm --network none --user 0 --entrypoint sh "$tag" -c '
  cd / && k() { du -sxcb "$@" 2>/dev/null | tail -n 1 | cut -f1; }
  all=$(k /) model=$(k opt/streamsight) bin=$(k usr/local/bin)
  ffmpeg=$(k usr/local/lib) plugins=$(k usr/lib/*-linux-gnu/gstreamer-1.0)
  gstlibs=$(k usr/lib/*-linux-gnu/libgst*) libs=$(k usr/lib/*-linux-gnu)
  share=$(k usr/share) progs=$(k usr/bin usr/sbin) var=$(k var)
  printf "%s %s\n" "$model" "the model (/opt/streamsight)" \
    "$bin" "the streamsight binary" \
    "$ffmpeg" "FFmpeg, H.264/H.265/MJPEG decoders only (/usr/local/lib)" \
    "$plugins" "GStreamer plugins ($(ls usr/lib/*-linux-gnu/gstreamer-1.0 | wc -l))" \
    "$gstlibs" "GStreamer libraries" \
    "$((libs - plugins - gstlibs))" "other shared libraries (glib, libsoup, gnutls, libc, ...)" \
    "$share" "/usr/share (no docs, man pages or locales)" \
    "$progs" "/usr/bin, /usr/sbin (Debian base: sh, coreutils, apt, dpkg, ...)" \
    "$var" "/var (dpkg database; no apt lists or cache)" \
    "$((all - model - bin - ffmpeg - libs - share - progs - var))" "the rest"
  exit 0' | awk '{ n = $1; $1 = ""; printf "  %6.1f MB %s\n", n / 1e6, $0 }'
# Issue 14: quick to pull on every node.
[ "$size" -lt 250000000 ] || fail "image $(( size / 1000000 )) MB, over 250 MB"

echo "== 1. defaults: test stream, healthcheck, user"
docker volume rm "$vol" >/dev/null 2>&1 || true
run ss-check-1 -v "$vol:/config"
wait_for 30 sh -c "curl -sf http://127.0.0.1:$port/api/v1/streams/stream-1/predictions/latest | grep -q '\"classes\"'" ||
  fail "no prediction from the default test stream"
docker exec ss-check-1 /usr/local/bin/streamsight healthcheck ||
  fail "streamsight healthcheck"
[ "$(docker exec ss-check-1 id -u):$(docker exec ss-check-1 id -g)" = 10001:10001 ] ||
  fail "not running as uid:gid 10001:10001"
wait_for 45 sh -c "docker inspect --format '{{.State.Health.Status}}' ss-check-1 | grep -qx healthy" ||
  fail "health status: $(docker inspect --format '{{.State.Health.Status}}' ss-check-1)"
echo "ok: predictions, healthcheck, healthy, uid:gid 10001:10001"

echo "== 2. a camera added over the API survives a restart"
body='{"id": "door", "name": "door", "uri": "rtsp://viewer:p%40ss@127.0.0.1:9/x", "options": {"max_fps": 1}}'
resp=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/streams" -d "$body") ||
  fail "POST /api/v1/streams"
case "$resp" in *p%40ss*|*viewer*) fail "credentials in the response";; esac
docker exec ss-check-1 grep -q 'p%40ss' /config/streamsight.json ||
  fail "the stream is not in /config/streamsight.json"
docker stop ss-check-1 >/dev/null
[ "$(docker inspect --format '{{.State.ExitCode}}' ss-check-1)" = 0 ] ||
  fail "docker stop: exit $(docker inspect --format '{{.State.ExitCode}}' ss-check-1)"
if docker logs ss-check-1 2>&1 | grep -q 'p%40ss\|viewer'; then
  fail "credentials in the log"
fi
run ss-check-2 -v "$vol:/config"
wait_for 20 sh -c "curl -sf http://127.0.0.1:$port/api/v1/streams/door | grep -q '\"max_fps\":1'" ||
  fail "stream door not restored"
docker stop ss-check-2 >/dev/null
echo "ok: written back, credentials hidden, exit 0 on stop, restored"

echo "== 3. CPU limits set the default thread count"
for limit in "--cpus 1" "--cpuset-cpus 0"; do
  # shellcheck disable=SC2086
  run ss-check-3 $limit
  wait_for 20 api /healthz || fail "$limit: not started"
  docker logs ss-check-3 2>&1 | grep -q '1 inference thread,' ||
    fail "$limit: $(docker logs ss-check-3 2>&1 | grep -o '[0-9]* inference thread[s]*')"
  docker rm -f ss-check-3 >/dev/null
  echo "ok: $limit -> 1 inference thread"
done
echo "== 4. parsers and a real clip"
if [ -n "$clip" ]; then
  [ -f "$clip" ] || fail "no clip $clip"
  # /media: the image's working directory, so the default media_dirs.
  run ss-check-4 -v "$(cd "$(dirname "$clip")" && pwd):/media:ro"
  wait_for 20 api /healthz || fail "not started"
  curl -sf -X POST "http://127.0.0.1:$port/api/v1/streams" \
    -d "{\"id\": \"clip\", \"name\": \"clip\", \"uri\": \"file:///media/$(basename "$clip")\"}" \
    >/dev/null || fail "POST file stream"
  wait_for 30 sh -c "curl -sf http://127.0.0.1:$port/api/v1/streams/clip/predictions/latest | grep -q '\"classes\"'" ||
    fail "no prediction from file:///media/$(basename "$clip")"
  echo "ok: file:// $(basename "$clip") predicts"
else
  run ss-check-4
  wait_for 20 api /healthz || fail "not started"
fi
# The registry lists a plugin's features only when the plugin loaded.
docker exec ss-check-4 sh -c 'grep -c h265parse "$HOME"/.cache/gstreamer-1.0/registry.*.bin' \
  >/dev/null || fail "h264parse/h265parse not in GStreamer's registry"
docker rm -f ss-check-4 >/dev/null
echo "ok: h264parse and h265parse registered"
echo "== docker-check: all passed"
