# streamsight: multi-stage image. The build stage compiles the same binary as
# scripts/run.sh and installs the default model with scripts/install-models.sh
# (which checks sha256 where one is pinned and verifies every model by loading
# and running it); the runtime is one layer with the shared libraries, the
# GStreamer plugins the pipelines use and an FFmpeg with only the H.264,
# H.265 and MJPEG decoders, running as a non-root user: 135 MB
# (server/README.md, "Docker", says what is in it by size).
#
#   docker build --network host -t streamsight .
#   docker build --network host -t streamsight --build-arg MODELS_FROM=mirror .
#        # models from ./mirror in the build context (sha256 checked)
#   docker build --network host -t streamsight --build-arg MODEL_SHA256=<sha256> .
#        # pin the downloaded default model
#   docker run --rm -p 8080:8080 -v streamsight-config:/config streamsight
#
# --network host: the RUN steps fetch Debian packages (and the model); a
# daemon without a working bridge network (rootless, or started with
# --bridge=none, as on the machine this was built on) fails them without
# it. Where the default bridge works, plain `docker build` does too.
# See server/README.md ("Docker") for cameras, tokens and volumes.

# Every apt step removes its lists and downloaded .deb files in the same
# layer: nothing here relies on the official images' docker-clean hook (a
# debootstrapped base has none).

# ---- build -------------------------------------------------------------------
FROM debian:12 AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential meson ninja-build pkg-config \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
      libmicrohttpd-dev libjansson-dev libmosquitto-dev \
      libjpeg62-turbo-dev libspng-dev \
      ca-certificates curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

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

# ---- ffmpeg ------------------------------------------------------------------
# Debian's libavcodec59 carries every codec FFmpeg has and pulls x265, aom,
# svt-av1, rav1e, codec2, librsvg, ICU... (~300 MB with libavformat and
# libavfilter, which gst-libav also links). The pipelines decode H.264,
# H.265 and MJPEG only, so this stage builds Debian's own FFmpeg source
# (the same 5.1 release, so the same sonames and LIBAVCODEC_59 symbol
# versions gstreamer1.0-libav was linked against) with just those
# decoders and parsers, its x86 assembly (nasm), frame threads, and no
# external library at all.
FROM debian:12 AS ffmpeg
RUN sed -i 's/^Types: deb$/Types: deb deb-src/' \
      /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential dpkg-dev nasm xz-utils \
 && mkdir /usr/src/ffmpeg && cd /usr/src/ffmpeg \
 && apt-get source ffmpeg \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN cd /usr/src/ffmpeg/ffmpeg-*/ \
 && ./configure --prefix=/usr/local --enable-shared --disable-static \
      --disable-programs --disable-doc --disable-debug \
      --disable-autodetect --enable-pthreads --disable-network \
      --disable-everything \
      --enable-decoder=h264,hevc,mjpeg --enable-parser=h264,hevc,mjpeg \
      --disable-avdevice --disable-swscale --disable-swresample \
      --disable-postproc \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && rm -rf /out/usr/local/include /out/usr/local/lib/pkgconfig \
      /out/usr/local/share \
 && find /out/usr/local/lib -name '*.so' -type l -delete \
 && strip --strip-unneeded /out/usr/local/lib/*.so.* \
 && ls -l /out/usr/local/lib

# ---- plugins -----------------------------------------------------------------
# GStreamer's plugin packages install hundreds of plugins and, through
# them, GTK, Mesa and LLVM, Vulkan, speech synthesis and every codec
# library. The pipelines load 18 plugins: deploy/docker/select-plugins.sh
# copies those files and lists the Debian packages of the libraries they
# link, which the runtime installs.
FROM debian:12-slim AS plugins
COPY deploy/docker/select-plugins.sh /usr/local/bin/select-plugins.sh
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
      gstreamer1.0-plugins-bad gstreamer1.0-libav \
 && select-plugins.sh /out /packages.txt \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

# ---- rootfs ------------------------------------------------------------------
# The runtime's files, prepared here and copied whole into an empty image
# below, so that what this stage deletes (documentation, locales, apt's
# lists and cache, which a debootstrapped base keeps) costs nothing.
FROM debian:12-slim AS rootfs

# As in the official slim images: dpkg skips documentation, manuals and
# translations of every package installed from here on (copyright files
# stay).
RUN printf '%s\n' \
      'path-exclude /usr/share/doc/*' \
      'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' \
      'path-exclude /usr/share/groff/*' \
      'path-exclude /usr/share/info/*' \
      'path-exclude /usr/share/locale/*' \
      'path-include /usr/share/locale/locale.alias' \
      'path-exclude /usr/share/lintian/*' \
      'path-exclude /usr/share/linda/*' \
      > /etc/dpkg/dpkg.cfg.d/docker-slim

COPY --from=plugins /packages.txt /tmp/packages.txt
# The server's own libraries, and those of the plugins (select-plugins.sh).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libglib2.0-0 libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 \
      libmicrohttpd12 libjansson4 libmosquitto1 libjpeg62-turbo libspng0 \
      ca-certificates \
      $(cat /tmp/packages.txt) \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
      /var/log/apt /var/log/dpkg.log /tmp/packages.txt \
 && find /usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete \
 && find /usr/share/doc -mindepth 1 -type d -empty -delete \
 && rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* \
      /usr/share/lintian/* /usr/share/linda/* \
 && find /usr/share/locale -mindepth 1 ! -name locale.alias -delete

COPY --from=plugins /out/ /
COPY --from=ffmpeg /out/ /
COPY --from=build /build/server/streamsight /usr/local/bin/streamsight
COPY --from=build /out/models /opt/streamsight/models
COPY config/README.md /opt/streamsight/config/README.md

# Every plugin and the binary find all their libraries (a missing one
# would otherwise surface only when a camera of that kind is added).
RUN ldconfig \
 && missing=$(for f in /usr/local/bin/streamsight /usr/local/lib/*.so.* \
                /usr/lib/*-linux-gnu/gstreamer-1.0/*.so; do \
                ldd "$f" | sed -n "s|^\t\(.*\) => not found|$f: \1|p"; done) \
 && if [ -n "$missing" ]; then echo "missing libraries:"; echo "$missing"; \
      exit 1; fi \
 && groupadd --system --gid 10001 streamsight \
 && useradd --system --uid 10001 --gid 10001 \
      --home-dir /var/lib/streamsight --create-home \
      --shell /usr/sbin/nologin streamsight \
 && mkdir -p /config /media \
 && chown streamsight:streamsight /config \
 && chmod 0750 /config

# ---- runtime -----------------------------------------------------------------
FROM scratch
COPY --from=rootfs / /

# Inside a container the server must listen on every interface; the port
# is published with -p. The config file is created in the /config volume
# when streams are added over the API.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    STREAMSIGHT_BIND=0.0.0.0 \
    STREAMSIGHT_PORT=8080 \
    STREAMSIGHT_CONFIG=/config/streamsight.json \
    STREAMSIGHT_MODEL=/opt/streamsight/models/mobilenet_v2_1.0_224_quant.tflite \
    HOME=/var/lib/streamsight

VOLUME ["/config"]
EXPOSE 8080
# uid and gid both pinned: a volume chowned to 10001:10001 on the host (or
# a Kubernetes fsGroup of 10001) is the container user's.
USER 10001:10001
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
