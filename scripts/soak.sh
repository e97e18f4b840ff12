#!/usr/bin/env bash
# Soak (issue 6): the real `streamsight serve` with N streams (half of them
# local RTSP cameras, half test patterns) under continuous API load
# (scripts/soak-load.py: pollers, snapshots and classify, SSE clients that
# come and go, a stream toggled off/on and an extra one added and removed)
# for a bounded time, sampling the server's resident memory (VmRSS) and open
# descriptors (/proc/PID/fd) every few seconds.
#
#   scripts/soak.sh [--seconds N] [--streams 8] [--build DIR] [--model FILE]
#                   [--warmup S] [--interval S] [--rate R] [--out DIR]
#
# Passes when, after the warm-up:
#   - RSS grew less than 2%: median of the last fifth of the samples against
#     the median of the first fifth;
#   - descriptors did not grow: the lowest count of the last fifth is not
#     above the lowest of the first fifth (the floor; the highest moves with
#     the connections and pipelines that come and go, and is printed);
#   - the load got no 5xx answer and no connection failure, every stream
#     still runs and predictions kept coming;
#   - the server stops cleanly on SIGTERM.
# Prints the figures and exits 1 on a failure (2 on a usage error). Stops by
# itself; everything listens on 127.0.0.1 only.
#
# Defaults: 60 s (CI; run 600 locally), 8 streams, build/, the MobileNetV2
# 1.0/224 quantised model from $STREAMSIGHT_TEST_DATA/models or models/ (skips
# with exit 0 when there is none), warm-up a third of the run up to 120 s,
# a sample every 2 s (5 s from 5 minutes on), 100 poll requests/s. Outputs
# (samples.tsv, server.log, load.json) land in --out (default: a new
# temporary directory, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=60
n_streams=8
build=build
model=
warmup=
interval=
rate=100
out=
data=${STREAMSIGHT_TEST_DATA:-$root/../shared}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --streams) n_streams=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$seconds$n_streams" in *[!0-9]*) echo "soak.sh: --seconds and --streams take integers" >&2; exit 2 ;; esac
[ "$seconds" -ge 20 ] || { echo "soak.sh: --seconds must be at least 20" >&2; exit 2; }
[ "$n_streams" -ge 1 ] || { echo "soak.sh: --streams must be at least 1" >&2; exit 2; }
[ -n "$warmup" ] || warmup=$(( seconds / 3 < 120 ? seconds / 3 : 120 ))
[ -n "$interval" ] || interval=$(( seconds >= 300 ? 5 : 2 ))

py=/usr/bin/python3
[ -x "$py" ] || py=python3
if [ -z "$model" ]; then
  for m in "$data/models/mobilenet_v2_1.0_224_quant.tflite" \
           "$root/models/mobilenet_v2_1.0_224_quant.tflite"; do
    [ -f "$m" ] && { model=$m; break; }
  done
fi
if [ -z "$model" ] || [ ! -f "$model" ]; then
  echo "soak: SKIP: no model (set STREAMSIGHT_TEST_DATA, pass --model FILE or run scripts/install-models.sh)"
  exit 0
fi

exe=$root/$build/server/streamsight
if [ ! -x "$exe" ]; then
  [ -d "$build" ] || meson setup "$build" --buildtype=debugoptimized >/dev/null
  ninja -C "$build" server/streamsight >/dev/null
fi
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/streamsight-soak-XXXXXX")
mkdir -p "$out"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- cameras: bench/streams-bench-tool serving one clip on N mounts ----
n_rtsp=$(( n_streams / 2 ))
rtsp_port=
if [ "$n_rtsp" -gt 0 ]; then
  tool=$out/cameras
  clip=$out/clip-640x360p15.h264
  if cc -O2 -o "$tool" "$root/bench/streams-bench-tool.c" \
       $(pkg-config --cflags --libs gstreamer-rtsp-server-1.0 gstreamer-app-1.0) \
       2>"$out/cameras-build.log" &&
     gst-launch-1.0 -q videotestsrc num-buffers=225 pattern=ball ! \
       video/x-raw,format=I420,width=640,height=360,framerate=15/1 ! \
       x264enc speed-preset=ultrafast tune=zerolatency key-int-max=15 bframes=0 ! \
       video/x-h264,profile=constrained-baseline ! h264parse ! \
       video/x-h264,stream-format=byte-stream,alignment=au ! \
       filesink location="$clip" >/dev/null 2>&1; then
    rtsp_port=$(free_port)
    "$tool" serve "$clip" --port "$rtsp_port" --mounts "$n_rtsp" --fps 15 \
      > "$out/cameras.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -qs ready "$out/cameras.log" && break; sleep 0.1; done
    grep -q ready "$out/cameras.log" || { cat "$out/cameras.log"; echo "soak: FAIL: the RTSP cameras did not start" >&2; exit 1; }
  else
    echo "soak: no RTSP cameras (cannot build bench/streams-bench-tool.c or encode the clip: $out/cameras-build.log); test patterns only"
    n_rtsp=0
  fi
fi

# ---- the server ----
ids=()
"$py" - "$out/streamsight.json" "$model" "$n_streams" "$n_rtsp" "${rtsp_port:-0}" <<'EOF'
import json, sys
path, model, n, n_rtsp, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
patterns = ["ball", "smpte", "snow", "pinwheel", "spokes", "gradient", "colors", "checkers-8"]
streams = []
for i in range(n):
    if i < n_rtsp:
        streams.append({"id": "cam-%d" % (i + 1), "name": "camera %d" % (i + 1),
                        "uri": "rtsp://127.0.0.1:%d/cam%d" % (port, i)})
    else:
        streams.append({"id": "pattern-%d" % (i + 1), "name": "pattern %d" % (i + 1),
                        "uri": "test:", "pattern": patterns[i % len(patterns)]})
json.dump({"bind": "127.0.0.1", "port": 0, "threads": 2, "model": model,
           "limits": {"max_streams": n + 4}, "streams": streams},
          open(path, "w"), indent=2)
EOF
for i in $(seq 1 "$n_streams"); do
  if [ "$i" -le "$n_rtsp" ]; then ids+=("cam-$i"); else ids+=("pattern-$i"); fi
done
stream_list=$(IFS=,; echo "${ids[*]}")

env -u STREAMSIGHT_PORT -u STREAMSIGHT_BIND -u STREAMSIGHT_TOKEN \
  -u STREAMSIGHT_MODEL -u STREAMSIGHT_THREADS -u STREAMSIGHT_CONFIG \
  "$exe" serve --config "$out/streamsight.json" > "$out/server.log" 2>&1 &
spid=$!
pids+=($spid)
port=
for _ in $(seq 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$out/server.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { tail -20 "$out/server.log"; echo "soak: FAIL: the server did not start" >&2; exit 1; }
base=http://127.0.0.1:$port

# Every stream running before the clock starts.
running=0
for _ in $(seq 120); do
  running=$(curl -fsS "$base/api/v1/streams" | "$py" -c 'import json,sys; print(sum(s["state"] == "running" for s in json.load(sys.stdin)["streams"]))')
  [ "$running" -ge "$n_streams" ] && break
  sleep 0.5
done
[ "$running" -ge "$n_streams" ] || { echo "soak: FAIL: $running of $n_streams streams running after 60 s" >&2; exit 1; }
inferred() {
  curl -fsS "$base/api/v1/streams" | "$py" -c 'import json,sys; print(sum(s["counters"]["frames_inferred"] for s in json.load(sys.stdin)["streams"] if s["id"] != "soak-extra"))'
}

echo "soak: server pid $spid on $base, $n_streams streams ($n_rtsp RTSP cameras), $(basename "$model"), ${seconds} s (warm-up ${warmup} s, a sample every ${interval} s), load $rate poll requests/s + snapshots, classify, SSE, PATCH/POST/DELETE; outputs in $out"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- load and samples ----
"$py" "$root/scripts/soak-load.py" --port "$port" --streams "$stream_list" \
  --seconds "$seconds" --rate "$rate" > "$out/load.json" 2> "$out/load.err" &
lpid=$!
pids+=($lpid)
inf0=$(inferred)
start=$(date +%s.%N)
printf 't_s\trss_kib\tfds\tthreads\n' > "$out/samples.tsv"
while :; do
  now=$(date +%s.%N)
  t=$(awk -v a="$now" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
  kill -0 "$spid" 2>/dev/null || { tail -30 "$out/server.log"; echo "soak: FAIL: the server died at ${t} s" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$spid/status")
  thr=$(awk '/^Threads:/ { print $2 }' "/proc/$spid/status")
  fds=$(ls "/proc/$spid/fd" | wc -l)
  printf '%s\t%s\t%s\t%s\n' "$t" "$rss" "$fds" "$thr" >> "$out/samples.tsv"
  awk -v t="$t" -v s="$seconds" 'BEGIN { exit !(t >= s) }' && break
  sleep "$interval"
done
wait "$lpid" || true
inf1=$(inferred)
# The stream the load toggles was just enabled again: give it a moment.
for _ in $(seq 40); do
  states=$(curl -fsS "$base/api/v1/streams" | "$py" -c 'import json,sys; print(" ".join("%s=%s" % (s["id"], s["state"]) for s in json.load(sys.stdin)["streams"]))')
  case " $states" in *=starting*|*=backoff*|*=stopped*) sleep 0.5 ;; *) break ;; esac
done
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$spid/stat")

# ---- a clean stop ----
kill -TERM "$spid"
rc=0
for _ in $(seq 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$spid" 2>/dev/null; then rc=124; else wait "$spid" || rc=$?; fi

# ---- verdict ----
"$py" - "$out/samples.tsv" "$out/load.json" "$warmup" "$seconds" "$inf0" "$inf1" "$rc" "$states" "$cpu" <<'EOF'
import json, statistics, sys
tsv, load_path, warmup, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
inf0, inf1, stop_rc, states, cpu = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8], sys.argv[9]
rows = [l.split("\t") for l in open(tsv).read().split("\n")[1:] if l]
samples = [(float(t), int(r), int(f), int(th)) for t, r, f, th in rows]
post = [s for s in samples if s[0] >= warmup]
fail = []
if len(post) < 6:
    print("soak: FAIL: only %d samples after the warm-up" % len(post))
    sys.exit(1)
w = max(3, len(post) // 5)
first, last = post[:w], post[-w:]
rss_first = statistics.median(s[1] for s in first)
rss_last = statistics.median(s[1] for s in last)
growth = 100.0 * (rss_last - rss_first) / rss_first
# Least-squares slope over every sample after the warm-up.
ts = [s[0] for s in post]; rs = [s[1] for s in post]
mt, mr = statistics.mean(ts), statistics.mean(rs)
slope = sum((a - mt) * (b - mr) for a, b in zip(ts, rs)) / sum((a - mt) ** 2 for a in ts)
fd_floor_first, fd_floor_last = min(s[2] for s in first), min(s[2] for s in last)
fd_max_first, fd_max_last = max(s[2] for s in first), max(s[2] for s in last)
th_first, th_last = min(s[3] for s in first), min(s[3] for s in last)
load = json.load(open(load_path)) if open(load_path).read().strip() else {}
print("soak: %d samples, %d after the %.0f s warm-up; windows of %d samples (first from %.0f s, last from %.0f s)"
      % (len(samples), len(post), warmup, w, first[0][0], last[0][0]))
print("  RSS      %.1f MiB at start, %.1f MiB after the warm-up (median of the first window), %.1f MiB at the end (median of the last): %+.2f%%, slope %+.1f KiB/min; peak %.1f MiB"
      % (samples[0][1] / 1024, rss_first / 1024, rss_last / 1024, growth, slope * 60, max(s[1] for s in samples) / 1024))
print("  fds      floor %d -> %d, peak %d -> %d (first -> last window); %d at start"
      % (fd_floor_first, fd_floor_last, fd_max_first, fd_max_last, samples[0][2]))
print("  threads  floor %d -> %d" % (th_first, th_last))
print("  load     %d requests (%d 2xx, %d 4xx, %d 5xx, %d expected 503s: readyz/snapshot of a stream starting), %d failed; %d SSE connections, %d events"
      % (load.get("requests", 0), load.get("2xx", 0), load.get("4xx", 0), load.get("5xx", 0),
         load.get("503_expected", 0), load.get("failed", 0), load.get("sse_connections", 0),
         load.get("sse_events", 0)))
print("  streams  %d predictions during the run (%.1f/s); %s" % (inf1 - inf0, (inf1 - inf0) / seconds, states))
print("  cpu      %s s of server CPU in all (%.0f%% of one core over the run)" % (cpu, 100.0 * float(cpu) / seconds))
if growth >= 2.0:
    fail.append("RSS grew %.2f%% (bar: < 2%%)" % growth)
if fd_floor_last > fd_floor_first:
    fail.append("descriptors grew: floor %d -> %d" % (fd_floor_first, fd_floor_last))
if not load:
    fail.append("the load client printed nothing")
elif load.get("5xx", 0) or load.get("failed", 0):
    fail.append("the load got %d 5xx and %d failures: %s" % (load.get("5xx", 0), load.get("failed", 0), load.get("errors")))
elif load.get("sse_events", 0) == 0:
    fail.append("no SSE event received")
if inf1 <= inf0:
    fail.append("no prediction during the run")
if any(not s.endswith("=running") for s in states.split() if not s.startswith("soak-extra=")):
    fail.append("a stream is not running at the end: " + states)
if stop_rc != 0:
    fail.append("the server exited with %d after SIGTERM" % stop_rc)
for f in fail:
    print("soak: FAIL: " + f)
if not fail:
    print("soak: PASS")
sys.exit(1 if fail else 0)
EOF
