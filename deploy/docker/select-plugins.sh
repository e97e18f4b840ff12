#!/bin/sh
# Used by the Dockerfile's "plugins" stage, on a Debian 12 with GStreamer's
# base, good, bad and libav plugins installed:
#
#   select-plugins.sh OUT PACKAGES
#
# copies the GStreamer plugin files the server's pipelines use into OUT
# (same paths), with the one library of the "bad" set they need
# (libgstcodecparsers, whose package would pull GTK/Mesa/LLVM), and writes
# to PACKAGES the Debian packages the other libraries they link come from,
# for the runtime stage to install. FFmpeg's libraries are left out: the
# image has its own minimal build (the "ffmpeg" stage).
#
# The pipelines (pipeline/stream-pipeline.c) and what they load:
#   test:        videotestsrc (base)
#   file/http:   uridecodebin, decodebin (base "playback"), typefind (base),
#                qtdemux (good "isomp4"), matroskademux, avidemux,
#                souphttpsrc (good "soup", which dlopens libsoup-3.0)
#   rtsp(s):     rtspsrc (good "rtsp"), rtpbin/jitterbuffer ("rtpmanager"),
#                depayloaders ("rtp"), udpsrc ("udp")
#   v4l2:        v4l2src (good "video4linux2")
#   MJPEG:       multipartdemux (good "multipart"), jpegdec (good "jpeg")
#   decode:      h264parse, h265parse (bad "videoparsersbad"),
#                avdec_h264/avdec_h265/avdec_mjpeg ("libav")
#   conversion:  videoconvert (base "videoconvertscale"), for the formats the
#                sink does not take itself
set -eu
out=$1
packages=$2
plugins="videotestsrc playback typefindfunctions videoconvertscale pbtypes
  isomp4 matroska avi soup rtsp rtpmanager rtp udp video4linux2 multipart
  jpeg videoparsersbad libav"
# Libraries copied rather than installed, and those the image builds itself.
copy_pkgs="libgstreamer-plugins-bad1.0-0"
skip_re='^lib(avcodec|avformat|avfilter|avutil|avdevice|swscale|swresample|postproc)[0-9]'

cd /  # cp --parents trips over its own parent directories elsewhere
dir=$(ls -d /usr/lib/*-linux-gnu/gstreamer-1.0 | head -n 1)
[ -d "$dir" ] || { echo "select-plugins: no GStreamer plugin directory" >&2; exit 1; }
mkdir -p "$out"
: > /tmp/libs
for p in $plugins; do
  f="$dir/libgst$p.so"
  [ -f "$f" ] || { echo "select-plugins: $f missing" >&2; exit 1; }
  cp -a --parents "$f" "$out"
  # Debian's FFmpeg is not what the image runs: libav's own libraries come
  # from the ffmpeg stage, the rest of its needs are GStreamer's and glib's,
  # which the other plugins need too.
  [ "$p" = libav ] && continue
  ldd "$f" | awk '/=> \// { print $3 }' >> /tmp/libs
done

# Owning package of each library (dpkg knows some under /lib, some under
# /usr/lib: try both spellings).
: > /tmp/pkgs
for lib in $(sort -u /tmp/libs); do
  pkg=
  for cand in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
    pkg=$(dpkg -S "$cand" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
  done
  [ -n "$pkg" ] || { echo "select-plugins: no package owns $lib" >&2; exit 1; }
  case " $copy_pkgs " in
    *" $pkg "*)
      # The file and its SONAME link, under /usr (/lib is a link to it: a
      # directory of that name in OUT would clash with it).
      real=$(readlink -f "$lib")
      for l in "${real%%.so.*}.so."*; do cp -a --parents "$l" "$out"; done ;;
    *) echo "$pkg" >> /tmp/pkgs ;;
  esac
done
# souphttpsrc loads libsoup at run time (not in ldd's answer).
echo libsoup-3.0-0 >> /tmp/pkgs
sort -u /tmp/pkgs | grep -Ev "$skip_re" > "$packages"
echo "select-plugins: $(echo $plugins | wc -w) plugins, $(find "$out" -name 'libgst*-1.0.so*' | wc -l) copied libraries, $(wc -l < "$packages") packages: $(tr '\n' ' ' < "$packages")"
