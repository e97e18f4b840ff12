#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan) and runs
# each for a bounded time; fails on any crash, leak, timeout or OOM.
#   scripts/fuzz.sh [--seconds N] [--build-only] [--dir DIR] [HARNESS...]
#     --seconds N   run time per harness (default 30)
#     --build-only  build and write the corpora, run nothing
#     --no-build    run what the last build left (parallel runs share DIR)
#     --dir DIR     build + work directory (default build-fuzz)
#     HARNESS       tflite safetensors config routes image (default: all)
# The seed corpus is generated into DIR/seeds/ (tests/fuzz/make-seeds.py:
# committed seeds, fixtures and, with STREAMSIGHT_TEST_DATA, real models and
# images); what a run finds stays in DIR/corpus/HARNESS/ for the next run.
# A crash input is written to DIR/artifacts/HARNESS/; commit it under
# tests/fuzz/regressions/HARNESS/ with the fix (README.md there).
# Each run appends "date harness elapsed-seconds execs result" to
# DIR/fuzz-log.tsv (tests/fuzz/README.md's table is summed from it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=30
build_only=0
no_build=0
dir=build-fuzz
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --no-build) no_build=1; shift ;;
    --dir) dir="$2"; shift 2 ;;
    tflite|safetensors|config|routes|image) harnesses+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=(tflite safetensors config routes image)
case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac

# Per harness: libFuzzer's -max_len, -timeout (s) and dictionaries.
declare -A max_len=([tflite]=65536 [safetensors]=65536 [config]=8192
                    [routes]=8192 [image]=65536)
declare -A timeout=([tflite]=20 [safetensors]=20 [config]=10 [routes]=10
                    [image]=20)
declare -A dicts=([tflite]="tflite.dict" [safetensors]="safetensors.dict json.dict"
                  [config]="json.dict" [routes]="routes.dict json.dict"
                  [image]="image.dict")

opts=(-Dfuzzing=true --buildtype=debugoptimized -Db_sanitize=address,undefined
      -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link)
if [ "$no_build" = 0 ]; then
  if [ -f "$dir/build.ninja" ]; then
    CC=clang meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
  else
    CC=clang meson setup "$dir" "${opts[@]}" >/dev/null
  fi
  targets=()
  for h in "${harnesses[@]}"; do targets+=("tests/fuzz/fuzz-$h"); done
  ninja -C "$dir" "${targets[@]}"
  rm -rf "$dir/seeds"
  /usr/bin/env python3 tests/fuzz/make-seeds.py runtime "$dir/seeds" \
    ${STREAMSIGHT_TEST_DATA:+--data "$STREAMSIGHT_TEST_DATA"}
fi
[ "$build_only" = 1 ] && exit 0

supp="$root/tests/sanitizers"
# Leaks are checked per input by libFuzzer, for every harness. (The image
# harness once ran GStreamer, whose GLib quark blocks leak by design and
# needed slow unwinding and leak checks at exit only; still images are
# decoded with libjpeg-turbo and libspng now, and no harness calls gst_init.)
declare -A asan_extra=()
declare -A fuzz_extra=()
asan_base="abort_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

for h in "${harnesses[@]}"; do
  [ -x "$dir/tests/fuzz/fuzz-$h" ] || {
    echo "fuzz.sh: $dir/tests/fuzz/fuzz-$h is not built (run without --no-build" \
         "first, naming it)" >&2; exit 2; }
done

failed=()
for h in "${harnesses[@]}"; do
  mkdir -p "$dir/corpus/$h" "$dir/artifacts/$h"
  dict_file="$dir/$h.dict"
  : > "$dict_file"
  for d in ${dicts[$h]}; do cat "tests/fuzz/$d" >> "$dict_file"; done
  log="$dir/fuzz-$h.log"
  echo "fuzz.sh: $h for ${seconds}s (log $log)"
  t0=$(date +%s)
  set +e
  ASAN_OPTIONS="$asan_base${asan_extra[$h]:-}" "$dir/tests/fuzz/fuzz-$h" -max_total_time="$seconds" \
    -max_len="${max_len[$h]}" -timeout="${timeout[$h]}" -rss_limit_mb=2560 \
    -dict="$dict_file" -print_final_stats=1 ${fuzz_extra[$h]:-} \
    -artifact_prefix="$dir/artifacts/$h/" \
    "$dir/corpus/$h" "$dir/seeds/$h" > "$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED(rc=$rc)"
    failed+=("$h")
    grep -E "^==[0-9]+==ERROR|SUMMARY|FUZZ_CHECK|runtime error|Test unit written" "$log" | head -20 >&2 || true
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$h" "$elapsed" \
    "${execs:-0}" "$result" >> "$dir/fuzz-log.tsv"
  echo "fuzz.sh: $h: ${execs:-0} execs in ${elapsed}s, corpus $(ls "$dir/corpus/$h" | wc -l) files: $result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in $dir/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: ${#harnesses[@]} harnesses, ${seconds}s each, no crash"
