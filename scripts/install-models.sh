#!/usr/bin/env bash
# Installs the official pretrained MobileNet TFLite files into models/.
#
#   scripts/install-models.sh [--from DIR] [--dest DIR] [--bench PATH] [NAME...]
#
# NAME is a model stem such as mobilenet_v2_1.0_224_quant or
# mobilenet_v1_0.5_160_quant (".tflite" may be added), or "all". Without a
# NAME it installs the server's default model, mobilenet_v2_1.0_224_quant.
# labels.txt (1001 lines, "background" first) is always installed.
#
# Download (default): TensorFlow's released archives, fetched with curl or
# wget and unpacked with tar:
#   V1 quantised, alpha 1.0/0.75/0.5/0.25 x 224/192/160/128:
#     https://storage.googleapis.com/download.tensorflow.org/models/mobilenet_v1_2018_08_02/mobilenet_v1_A_R_quant.tgz
#   V2 quantised 1.0/224:
#     https://storage.googleapis.com/download.tensorflow.org/models/tflite_11_05_08/mobilenet_v2_1.0_224_quant.tgz
#   labels: https://storage.googleapis.com/download.tensorflow.org/data/ImageNetLabels.txt
# TensorFlow publishes no checksum list. TensorFlow's own build pins one
# archive (tensorflow/workspace.bzl, rule tflite_mobilenet_quant), and that
# sha256 is checked below, as is the default model's .tflite inside its
# archive (see member_sha256); every other download prints its sha256 and
# is verified by loading only.
#
# --from DIR copies from a local mirror instead (CI: ../shared/models). Files
# whose names are listed in shared/DATA-SOURCES.md are checked against the
# sha256 recorded there.
#
# Every installed model is then loaded and run once with streamsight-bench;
# a file that does not load, or whose architecture or input size disagrees
# with its name, fails the script. Re-running is harmless: a file that is
# already in place and verifies is left alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models"
from=""
bench="${STREAMSIGHT_BENCH:-}"
names=()
DEFAULT_MODEL=mobilenet_v2_1.0_224_quant
BASE_URL=https://storage.googleapis.com/download.tensorflow.org

die() { echo "install-models: $*" >&2; exit 1; }
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) [ $# -ge 2 ] || { echo "install-models: --from needs a directory" >&2; exit 2; }
            from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; shift ;;
    --dest) [ $# -ge 2 ] || { echo "install-models: --dest needs a directory" >&2; exit 2; }
            dest=$2; shift 2 ;;
    --dest=*) dest=${1#--dest=}; shift ;;
    --bench) [ $# -ge 2 ] || { echo "install-models: --bench needs a path" >&2; exit 2; }
             bench=$2; shift 2 ;;
    --bench=*) bench=${1#--bench=}; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "install-models: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) names+=("${1%.tflite}"); shift ;;
  esac
done

# ---- checksums -------------------------------------------------------------

# sha256 of the files in shared/models, as recorded in shared/DATA-SOURCES.md
# (the mirror CI installs from).
mirror_sha256() {
  case "$1" in
    mobilenet_v1_0.25_128_quant.tflite) echo cb273c23ee76374b05b9583177e28aa19744858a7679c56a250e83d0333da785 ;;
    mobilenet_v1_0.25_224_quant.tflite) echo e480eb15572f86d3d5f1be6e83e35b3c7d509ab2bcec353707d1f614e14edca2 ;;
    mobilenet_v1_0.5_160_quant.tflite) echo 3cc6d2ca460abd2e0f699a6d0d2550c6b61c6e3b0e27a3616e384ea74cb86f43 ;;
    mobilenet_v1_0.75_192_quant.tflite) echo 41daeb22fdcf947e0e5ec32373aa9df7c31f3ef45dbd0ef7b5940fbce3c20f6a ;;
    mobilenet_v1_0.25_224.tflite) echo 446ec673881cd46371a8726075b714194ada39d144762260cb76d15318597df7 ;;
    mobilenet_v2_1.0_224_quant.tflite) echo 7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776 ;;
    mobilenet_v2_1.0_224_quant_nometadata.tflite) echo f08d447cde49b4e0446428aa921aff0a14ea589fa9c5817b31f83128e9a43c1d ;;
    tf2_mobilenet_v2_1.0_224_ptq.tflite) echo 5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c ;;
    labels.txt) echo 536feacc519de3d418de26b2effb4d75694a8c4c0063e36499a46fa8061e2da9 ;;
    *) echo "" ;;
  esac
}

# sha256 of released archives, only where an authoritative source pins one:
# tensorflow/tensorflow, tensorflow/workspace.bzl, tf_http_archive
# "tflite_mobilenet_quant".
archive_sha256() {
  case "$1" in
    mobilenet_v1_1.0_224_quant.tgz) echo d32432d28673a936b2d6281ab0600c71cf7226dfe4cdcef3012555f691744166 ;;
    *) echo "" ;;
  esac
}

# sha256 of the .tflite inside a released archive, where two independent
# records agree on it. The default model's member equals
# tensorflow/tflite-support's testdata copy (shared/DATA-SOURCES.md,
# mobilenet_v2_1.0_224_quant_nometadata.tflite), and a public deployment
# manifest pins the same member hash for this archive URL. So the server's
# default model is checked by checksum even though its archive is not.
member_sha256() {
  case "$1" in
    mobilenet_v2_1.0_224_quant.tflite) echo f08d447cde49b4e0446428aa921aff0a14ea589fa9c5817b31f83128e9a43c1d ;;
    *) echo "" ;;
  esac
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

check_sha256() { # FILE EXPECTED WHAT
  local got
  got=$(sha256_of "$1")
  [ "$got" = "$2" ] || die "$3: sha256 $got, expected $2"
}

# ---- the names -------------------------------------------------------------

official_models() {
  local a r
  for a in 1.0 0.75 0.5 0.25; do
    for r in 224 192 160 128; do
      echo "mobilenet_v1_${a}_${r}_quant"
    done
  done
  echo mobilenet_v2_1.0_224_quant
}

archive_url() { # STEM -> URL of its release archive, or nothing
  case "$1" in
    mobilenet_v2_1.0_224_quant)
      echo "$BASE_URL/models/tflite_11_05_08/$1.tgz" ;;
    mobilenet_v1_1.0_*_quant|mobilenet_v1_0.75_*_quant|mobilenet_v1_0.5_*_quant|mobilenet_v1_0.25_*_quant)
      case "$1" in *_224_quant|*_192_quant|*_160_quant|*_128_quant)
        echo "$BASE_URL/models/mobilenet_v1_2018_08_02/$1.tgz" ;; esac ;;
  esac
}

if [ ${#names[@]} -eq 0 ]; then
  names=("$DEFAULT_MODEL")
elif [ "${names[*]}" = "all" ]; then
  names=()
  if [ -n "$from" ]; then
    for f in "$from"/*.tflite; do
      [ -e "$f" ] && names+=("$(basename "${f%.tflite}")")
    done
    [ ${#names[@]} -gt 0 ] || die "$from: no .tflite files"
  else
    mapfile -t names < <(official_models)
  fi
fi
for n in "${names[@]}"; do
  case "$n" in all) die "'all' cannot be combined with other names" ;; esac
  case "$n" in */*|.*|"") die "bad model name '$n'" ;; esac
  if [ -z "$from" ] && [ -z "$(archive_url "$n")" ]; then
    die "no official archive for '$n'; known: $(official_models | tr '\n' ' ')"
  fi
done

# ---- the verifier ----------------------------------------------------------

if [ -z "$bench" ]; then
  for c in "$root/build/tools/streamsight-bench" "$root"/build*/tools/streamsight-bench; do
    if [ -x "$c" ]; then bench=$c; break; fi
  done
fi
if [ -z "$bench" ] && command -v streamsight-bench >/dev/null; then
  bench=$(command -v streamsight-bench)
fi
[ -n "$bench" ] && [ -x "$bench" ] || die "streamsight-bench not found: build it first" \
  "(meson setup build && ninja -C build), or pass --bench PATH"

# Loads FILE and runs it once; checks the architecture and input size that
# the name announces (mobilenet_vV_A_R...). Prints a summary line.
verify_model() { # FILE STEM
  local out arch res want_arch want_res
  if ! out=$("$bench" --model "$1" --labels "$dest/labels.txt" --runs 1 \
              --warmup 0 --duration 0 --json 2>&1); then
    echo "$out" >&2
    return 1
  fi
  arch=$(printf '%s\n' "$out" | sed -n 's/.*"arch": "\([a-z0-9_]*\)".*/\1/p' | tail -n1)
  res=$(printf '%s\n' "$out" | sed -n 's/.*"resolution": \([0-9]*\).*/\1/p' | tail -n1)
  want_arch=$(printf '%s\n' "$2" | sed -n 's/.*\(mobilenet_v[12]\)_.*/\1/p')
  want_res=$(printf '%s\n' "$2" | sed -n 's/.*mobilenet_v[12]_[0-9.]*_\([0-9]*\).*/\1/p')
  if [ -n "$want_arch" ] && [ "$arch" != "$want_arch" ]; then
    echo "install-models: $1 loads as '$arch', its name says $want_arch" >&2
    return 1
  fi
  if [ -n "$want_res" ] && [ "$res" != "$want_res" ]; then
    echo "install-models: $1 has input $res, its name says $want_res" >&2
    return 1
  fi
  echo "  verified: $arch, input ${res}x${res}, loads and runs"
}

# ---- fetching --------------------------------------------------------------

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # URL FILE
  echo "  downloading $1"
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1" || die "download failed: $1"
  elif command -v wget >/dev/null; then
    wget -q --tries=3 -O "$2" "$1" || die "download failed: $1"
  else
    die "neither curl nor wget is installed"
  fi
}

# Puts the source file for NAME (a file name in models/) at $tmp/NAME.
obtain() { # NAME STEM
  local name=$1 stem=$2 sum
  if [ -n "$from" ]; then
    [ -f "$from/$name" ] || die "$from/$name: no such file in the mirror"
    sum=$(mirror_sha256 "$name")
    if [ -n "$sum" ]; then
      check_sha256 "$from/$name" "$sum" "$from/$name"
      echo "  sha256 ok (shared/DATA-SOURCES.md)"
    else
      echo "  no recorded sha256 for $name: verified by loading only"
    fi
    cp "$from/$name" "$tmp/$name"
  elif [ "$name" = labels.txt ]; then
    fetch "$BASE_URL/data/ImageNetLabels.txt" "$tmp/$name"
    echo "  sha256 $(sha256_of "$tmp/$name") (no published checksum)"
  else
    local url archive member
    url=$(archive_url "$stem")
    archive="$tmp/$stem.tgz"
    fetch "$url" "$archive"
    sum=$(archive_sha256 "$stem.tgz")
    if [ -n "$sum" ]; then
      check_sha256 "$archive" "$sum" "$url"
      echo "  sha256 ok (pinned by tensorflow/workspace.bzl)"
    else
      echo "  archive sha256 $(sha256_of "$archive") (no published checksum)"
    fi
    mkdir -p "$tmp/x"
    tar -xzf "$archive" -C "$tmp/x"
    member=$(find "$tmp/x" -name "$stem.tflite" -type f | head -n1)
    [ -n "$member" ] || die "$url: no $stem.tflite inside"
    sum=$(member_sha256 "$stem.tflite")
    if [ -n "$sum" ]; then
      check_sha256 "$member" "$sum" "$stem.tflite in $url"
      echo "  sha256 of $stem.tflite ok (pinned member checksum)"
    fi
    mv "$member" "$tmp/$name"
    rm -rf "$tmp/x" "$archive"
  fi
}

labels_ok() { # FILE
  [ "$(wc -l < "$1")" -ge 1000 ] && [ "$(wc -l < "$1")" -le 1001 ]
}

# Whether the installed copy can stay: same checksum as the source when one is
# known, else present and non-empty (it is still verified by loading).
up_to_date() { # NAME
  local f="$dest/$1" sum=""
  [ -s "$f" ] || return 1
  if [ -n "$from" ]; then
    sum=$(mirror_sha256 "$1")
    [ -n "$sum" ] || { cmp -s "$f" "$from/$1"; return; }
  fi
  [ -z "$sum" ] || [ "$(sha256_of "$f")" = "$sum" ]
}

install_file() { # NAME STEM
  local name=$1 stem=$2
  echo "$name"
  if up_to_date "$name"; then
    echo "  already installed"
  else
    obtain "$name" "$stem"
    mv -f "$tmp/$name" "$dest/.$name.tmp"
    mv -f "$dest/.$name.tmp" "$dest/$name"
    echo "  installed $dest/$name"
  fi
}

mkdir -p "$dest"
install_file labels.txt labels
labels_ok "$dest/labels.txt" || die "$dest/labels.txt: expected 1000 or 1001 lines"

failed=0
for stem in "${names[@]}"; do
  install_file "$stem.tflite" "$stem"
  if ! verify_model "$dest/$stem.tflite" "$stem"; then
    echo "install-models: $dest/$stem.tflite does NOT load; removing it" >&2
    rm -f "$dest/$stem.tflite"
    failed=1
  fi
done
[ $failed -eq 0 ] || die "some models failed verification"
echo "done: ${#names[@]} model(s) and labels.txt in $dest"
