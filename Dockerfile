# streamsight: multi-stage image. The build stage compiles the same binary as
# scripts/run.sh and installs the default model with scripts/install-models.sh
# (which checks sha256 where one is pinned and verifies every model by loading
# and running it); the runtime stage has only the shared libraries and the
# GStreamer plugins the pipelines use, and runs as a non-root user.
#
#   docker build -t streamsight .
#   docker build -t streamsight --build-arg MODELS_FROM=mirror .   # models
#        from ./mirror in the build context (sha256 checked), no download
#   docker build -t streamsight --build-arg MODEL_SHA256=<sha256> .  # pin
#        the downloaded default model
#   docker run --rm -p 8080:8080 -v streamsight-config:/config streamsight
#
# See server/README.md ("Docker") for cameras, tokens and volumes.

# ---- build -------------------------------------------------------------------
FROM debian:12 AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential meson ninja-build pkg-config \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
      libmicrohttpd-dev libjansson-dev \
      libjpeg62-turbo-dev libspng-dev \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Release build; tests are not built (no Check in this stage). The AVX2
# kernels are chosen at run time, so the image runs on any x86-64 CPU.
RUN meson setup /build --buildtype=release \
 && ninja -C /build server/streamsight tools/streamsight-bench

# The default model: from a mirror directory in the build context when
# MODELS_FROM is set, else downloaded from TensorFlow's release archive.
# MODEL_SHA256, when set, pins the installed file.
ARG MODELS_FROM=
ARG MODEL_SHA256=
RUN if [ -n "$MODELS_FROM" ]; then \
      scripts/install-models.sh --bench /build/tools/streamsight-bench \
        --dest /out/models --from "$MODELS_FROM"; \
    else \
      scripts/install-models.sh --bench /build/tools/streamsight-bench \
        --dest /out/models; \
    fi \
 && if [ -n "$MODEL_SHA256" ]; then \
      echo "$MODEL_SHA256  /out/models/mobilenet_v2_1.0_224_quant.tflite" \
        | sha256sum -c -; \
    fi

# ---- parsers -----------------------------------------------------------------
# Of GStreamer's "bad" plugins the pipelines need only the video parsers
# (h264parse, h265parse: libgstvideoparsersbad and its libgstcodecparsers),
# which decodebin puts between a demuxer or RTP depayloader and the decoder.
# The gstreamer1.0-plugins-bad package would add ~370 MB of dependencies
# (GTK, Mesa and LLVM, Vulkan, speech synthesis...) for plugins never
# loaded, so the two files are taken from a stage of their own, installed
# from the same archive as the runtime stage (same 1.22 ABI).
FROM debian:12-slim AS parsers
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gstreamer1.0-plugins-bad \
 && mkdir /out \
 && dpkg -L gstreamer1.0-plugins-bad libgstreamer-plugins-bad1.0-0 \
      | grep -E '/(libgstvideoparsersbad\.so|libgstcodecparsers-1\.0\.so[.0-9]*)$' \
      | xargs -I{} cp -a --parents {} /out \
 && find /out -name '*.so*' | grep -c . | grep -qx 3

# ---- runtime -----------------------------------------------------------------
FROM debian:12-slim

# Runtime libraries, and the GStreamer plugins of the pipelines: base
# (videotestsrc, uridecodebin, playback), good (rtspsrc, v4l2src, rtp
# depayloaders, souphttpsrc, qtdemux/matroska), libav (H.264/H.265/MJPEG
# decoders), and from "bad" the video parsers (stage above).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libglib2.0-0 libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 \
      libmicrohttpd12 libjansson4 libjpeg62-turbo libspng0 \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
      gstreamer1.0-libav \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=parsers /out/ /

RUN ldconfig \
 && groupadd --system --gid 10001 streamsight \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/streamsight \
      --create-home --shell /usr/sbin/nologin streamsight \
 && mkdir -p /config /media \
 && chown streamsight:streamsight /config \
 && chmod 0750 /config

COPY --from=build /build/server/streamsight /usr/local/bin/streamsight
COPY --from=build /out/models /opt/streamsight/models
COPY config/README.md /opt/streamsight/config/README.md

# Inside a container the server must listen on every interface; the port
# is published with -p. The config file is created in the /config volume
# when streams are added over the API.
ENV STREAMSIGHT_BIND=0.0.0.0 \
    STREAMSIGHT_PORT=8080 \
    STREAMSIGHT_CONFIG=/config/streamsight.json \
    STREAMSIGHT_MODEL=/opt/streamsight/models/mobilenet_v2_1.0_224_quant.tflite \
    HOME=/var/lib/streamsight

VOLUME ["/config"]
EXPOSE 8080
USER streamsight:streamsight
# The working directory is where file:// clips may be when the config sets
# no media_dirs (config/README.md, "Local sources"): an empty /media, for
# clips mounted there (-v /srv/clips:/media:ro).
WORKDIR /media

# Plain-socket GET /healthz on 127.0.0.1:$STREAMSIGHT_PORT (no curl here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/streamsight", "healthcheck"]

# SIGTERM (docker stop) shuts down cleanly: HTTP stopped, pipelines to NULL,
# inference drained, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/streamsight"]
CMD ["serve"]
