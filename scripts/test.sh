#!/usr/bin/env bash
# Builds streamsight and runs the whole Check suite (meson test).
#   scripts/test.sh              release-ish build in build/
#   scripts/test.sh --sanitize   ASan + UBSan build in build-asan/ (leak checks on)
# STREAMSIGHT_TEST_DATA=/path/to/shared enables the tests on real weights/images.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
opts=(--buildtype=debugoptimized)
env_extra=()
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  # -O2 -g with assertions (debugoptimized): the inference-heavy suites run
  # several times faster than at -O0 and ASan/UBSan check the same code.
  opts=(--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false)
  supp="$(pwd)/tests/sanitizers"
  # fast_unwind_on_malloc=0: Debian's GLib has no frame pointers, so the fast
  # unwinder stops at g_malloc and every GLib-allocated leak (ours included)
  # shows a 2-frame stack that no suppression can match or anyone can read.
  # malloc_context_size=8: the slow unwinder costs per frame (test-image on
  # a loaded machine: 32 s fast, 429 s slow with the default 30 frames, 148 s
  # with 8); 8 frames reach every suppressed function (the deepest,
  # _dl_init, is frame 6) and still locate our own leaks.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0:malloc_context_size=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  # Check forks each test by default; no fork keeps sanitizer reports attached.
  export CK_FORK=no
fi
if [ -d "$dir" ]; then
  meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
  meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes 2 "${env_extra[@]}"
