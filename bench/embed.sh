#!/usr/bin/env bash
# Embed route benchmark (issue 12): POST /api/v1/embed of one photo to a
# real `streamsight serve` with no streams, over loopback with curl, N
# requests one at a time and then C at once. Prints embeds per second, the
# server's own decode and inference time per request (median, from the
# answers' latency_ms), and /api/v1/classify's rate on the same image for
# comparison (the same decode, plus the classifier layer and ranking).
#
#   bench/embed.sh [--build DIR] [--model FILE] [--image FILE] [--n N]
#                  [--concurrency C] [--roi X,Y,W,H]
#
# Defaults: build/, MobileNetV2 1.0/224 quantised from
# $STREAMSIGHT_TEST_DATA/models, images/photos/grace_hopper.jpg, N 200,
# C 2 (the machine's cores here). The machine may be shared: the load
# average is printed beside the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/bench-server.sh
root=$(pwd)
build=build
data=${STREAMSIGHT_TEST_DATA:-$root/../shared}
model=$data/models/mobilenet_v2_1.0_224_quant.tflite
image=$data/images/photos/grace_hopper.jpg
n=200
conc=2
roi=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --roi) roi=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "embed.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
exe=$root/$build/server/streamsight
[ -x "$exe" ] || { echo "embed.sh: $exe not built" >&2; exit 1; }
[ -f "$model" ] || { echo "embed.sh: no model $model (--model FILE)" >&2; exit 1; }
[ -f "$image" ] || { echo "embed.sh: no image $image (--image FILE)" >&2; exit 1; }
py=$(command -v python3)

bench_server_init
cat > "$tmp/streamsight.json" <<EOF
{"port": 0, "http_threads": $conc, "streams": []}
EOF
STREAMSIGHT_MODEL=$model "$exe" serve --config "$tmp/streamsight.json" \
  > "$tmp/out.txt" 2> "$tmp/err.txt" &
pid=$!
port=$(server_port embed.sh "$pid" "$tmp/out.txt" "$tmp/err.txt") || exit 1
query=${roi:+?roi=$roi}

# run PATH PARALLEL -> "rate median_decode_ms median_infer_ms"
run() {
  local path=$1 par=$2 t0 t1
  rm -f "$tmp"/ans.*
  t0=$(date +%s.%N)
  seq 1 "$n" | xargs -P "$par" -I{} curl -sf -o "$tmp/ans.{}" \
    --data-binary "@$image" -H 'Content-Type: image/jpeg' \
    "http://127.0.0.1:$port$path$query"
  t1=$(date +%s.%N)
  "$py" - "$tmp" "$n" "$t0" "$t1" <<'EOF'
import glob, json, statistics, sys
tmp, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ans = [json.load(open(f)) for f in glob.glob(tmp + "/ans.*")]
assert len(ans) == n, "%d of %d answers" % (len(ans), n)
dec = statistics.median(a["latency_ms"]["decode"] for a in ans)
inf = statistics.median(a["latency_ms"]["infer"] for a in ans)
print("%.1f %.2f %.2f" % (n / (t1 - t0), dec, inf))
EOF
}

curl -sf --data-binary "@$image" "http://127.0.0.1:$port/api/v1/embed$query" > "$tmp/warm.json"
dim=$("$py" -c "import json; print(json.load(open('$tmp/warm.json'))['dim'])")
echo "streamsight embed bench: $(nproc) CPUs, model $(basename "$model"), image $(basename "$image")${roi:+, roi $roi}, $dim features, $n requests per row, load average $(cut -d' ' -f1 /proc/loadavg)"
for row in "embed 1" "embed $conc" "classify 1" "classify $conc"; do
  set -- $row
  read -r rate dec inf <<< "$(run "/api/v1/$1" "$2")"
  printf '  %-8s x%-2s %7s req/s   decode %s ms, infer %s ms (medians, server side)\n' "$1" "$2" "$rate" "$dec" "$inf"
done
echo "  load average after: $(cut -d' ' -f1 /proc/loadavg)"
