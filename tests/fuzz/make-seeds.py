#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses (tests/fuzz/README.md).

  make-seeds.py committed DIR
      Writes the small generated seeds that are committed under
      tests/fuzz/seeds/ (configs, requests, tiny images, safetensors
      headers). Needs Pillow for the JPEG seeds (Debian python3-pil); run it
      only to change them.
  make-seeds.py runtime DIR [--data SHARED]
      Writes a corpus per harness into DIR/<harness>/ for scripts/fuzz.sh:
      the committed seeds, the repository's fixtures in the form each
      harness reads, and, when SHARED (STREAMSIGHT_TEST_DATA) is given, real
      models and images from it, whole and truncated. Nothing from SHARED is
      written into the repository. Standard library only.
"""
import io
import json
import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "seeds")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- configs ----

def config_seeds():
    with open(os.path.join(ROOT, "config", "streamsight.json")) as f:
        sample = f.read()
    streams_all = {
        "streams": [
            {"id": "cam-1", "name": "All options",
             "uri": "rtsps://user:p%40ss!word@[::1]:8554/live?x=1#frag",
             "transport": "udp", "decode": "all", "resize_mode": "letterbox",
             "max_fps": 0.5, "top_k": 10, "enabled": True, "realtime": False,
             "history_len": 10000, "stall_timeout_s": 2.5,
             "backoff_initial_s": 0.25, "backoff_max_s": 600,
             "rtsp_latency_ms": 0},
            {"name": "webcam", "uri": "v4l2:///dev/video0",
             "device": "/dev/video2", "resize_mode": "crop"},
            {"name": "clip", "uri": "file:///tmp/clip.mp4", "realtime": True},
            {"name": "http", "uri": "http://127.0.0.1:8080/video.mjpg"},
            {"name": "pattern", "uri": "test:", "pattern": "smpte"},
        ],
        "limits": {"max_streams": 5, "max_body_bytes": 1024,
                   "max_connections": 1, "connection_timeout_s": 3600},
        "media_dirs": ["/tmp"],
    }
    return {
        "sample.json": sample,
        "empty-object.json": "{}",
        "all-stream-options.json": json.dumps(streams_all, indent=1),
        "auth-tls.json": json.dumps({
            "bind": "::", "port": 0, "threads": 256, "http_threads": 64,
            "model": "m.tflite", "labels": "labels.txt",
            "auth": {"token": "s3cret-token"},
            "tls": {"cert": "/etc/c.pem", "key": "/etc/k.pem"},
            "streams": None}),
        "streams-empty.json": '{"streams": []}',
        "unicode-name.json": json.dumps(
            {"streams": [{"name": "caf\u00e9 \u2603 \U0001f4f7",
                          "uri": "rtsp://h/\u00e9"}]}, ensure_ascii=False),
        "comment-text.json": '{\n  // not JSON\n  "port": 1\n}',
        "duplicate-key.json": '{"port": 1, "port": 2}',
        "bad-range.json": '{"streams": [{"name": "a", "uri": "test:", '
                          '"max_fps": 1e308, "top_k": 0}]}',
    }


# ---- HTTP requests (fuzz-routes.c's format) ----

def request(method, target, headers=(), body=None):
    text = "%s %s\n" % (method, target)
    for h in headers:
        text += h + "\n"
    text += "\n"
    if body is not None:
        text += body
    return text


def route_seeds():
    auth = "Authorization: Bearer fuzz-token-0123"
    ctype = "Content-Type: application/json"
    create = json.dumps({"name": "cam", "uri": "rtsp://admin:hunter2!xyz@127.0.0.1:8554/s",
                         "max_fps": 2, "top_k": 3, "history_len": 5})
    # Credentials in the query and the path (redacted like the user info).
    create_query = json.dumps({
        "id": "dvr", "name": "dvr", "enabled": False,
        "uri": "http://127.0.0.1:9/user=adm!n0987_password=hunter3!xyz_channel=1"
               "?usr=usr!name42&pwd=hunter4!xyz&X-Auth-Token=t0k!en%21abc"})
    create_id = json.dumps({"id": "front-door", "name": "Front", "uri": "test:",
                            "pattern": "ball", "enabled": False})
    sep = "%%\n"
    return {
        "healthz.txt": request("GET", "/healthz"),
        "list.txt": request("GET", "/api/v1/streams"),
        "stats.txt": request("GET", "/api/v1/stats", [auth]),
        "head.txt": request("HEAD", "/api/v1/streams/front-door"),
        "options.txt": request("OPTIONS", "/api/v1/streams"),
        "delete-missing.txt": request("DELETE", "/api/v1/streams/nope"),
        "history-limit.txt": request("GET", "/api/v1/streams/x/predictions?limit=10000&a=b+c%20d"),
        "bad-token.txt": request("GET", "/api/v1/streams", ["Authorization: Bearer   wrong  "]),
        "basic-auth.txt": request("GET", "/api/v1/stats", ["Authorization: Basic dXNlcjpwdw=="]),
        "create.txt": request("POST", "/api/v1/streams", [ctype], create),
        "create-auth.txt": request("POST", "/api/v1/streams", [auth, ctype], create),
        "create-too-large.txt": request("POST", "/api/v1/streams",
                                        [ctype, "Content-Length: 99999999"], create),
        "create-bad-json.txt": request("POST", "/api/v1/streams", [ctype], '{"name": "a",'),
        "create-query-secrets.txt": request("POST", "/api/v1/streams", [ctype], create_query)
                                    + "\n" + sep + request("GET", "/api/v1/streams")
                                    + sep + request("GET", "/api/v1/streams/dvr"),
        "sequence.txt": request("POST", "/api/v1/streams", [ctype], create_id) + "\n" + sep +
                        request("GET", "/api/v1/streams/front-door") + sep +
                        request("GET", "/api/v1/streams/front-door/predictions/latest") + sep +
                        request("DELETE", "/api/v1/streams/front-door"),
        "encoded-path.txt": request("GET", "/api/v1/streams/%2e%2e%2Fstats%00x/predictions"),
        "long-id.txt": request("GET", "/api/v1/streams/" + "a" * 80),
        "readyz.txt": request("GET", "/readyz"),
        "metrics.txt": request("GET", "/metrics"),
        "openapi.txt": request("GET", "/api/v1/openapi.json"),
        "model.txt": request("GET", "/api/v1/model", [auth]),
        "dashboard.txt": request("GET", "/", ['If-None-Match: "abc"']),
        "static.txt": request("GET", "/static/app.js"),
        "static-traversal.txt": request("GET", "/static/..%2F..%2Fetc%2Fpasswd"),
        "events-all.txt": request("GET", "/api/v1/events?access_token=fuzz-token-0123"),
        "events-stream.txt": request("POST", "/api/v1/streams", [ctype], create_id) + "\n" + sep +
                             request("GET", "/api/v1/streams/front-door/events",
                                     ["Last-Event-ID: front-door:3"]),
        "patch.txt": request("POST", "/api/v1/streams", [ctype], create_id) + "\n" + sep +
                     request("PATCH", "/api/v1/streams/front-door", [ctype],
                             '{"max_fps": 0.5, "top_k": 2, "enabled": true}') + "\n" + sep +
                     request("GET", "/api/v1/streams/front-door/predictions",
                             []) ,
        "snapshot.txt": request("GET", "/api/v1/streams/front-door/snapshot.jpg?width=64"),
        "classify-raw.txt": request("POST", "/api/v1/classify?top_k=3",
                                    ["Content-Type: image/png"], "\x89PNG\r\n\x1a\n"),
        "classify-multipart.txt": request(
            "POST", "/api/v1/classify",
            ["Content-Type: multipart/form-data; boundary=XyZ"],
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
            "\xff\xd8\xff\xd9\r\n--XyZ--\r\n"),
    }


# ---- images ----

def png(width, height, color_type, bit_depth, rows, palette=None):
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        out += chunk(b"PLTE", palette)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp(width, height, bpp):
    row = ((width * bpp // 8) + 3) & ~3
    pixels = bytearray()
    for y in range(height):
        r = bytearray((x * 37 + y * 11 + c * 5) & 0xFF
                      for x in range(width) for c in range(bpp // 8))
        pixels += r + b"\x00" * (row - len(r))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0,
                       len(pixels), 2835, 2835, 0, 0)
    return header + info + bytes(pixels)


def image_seeds():
    seeds = {
        "rgb-3x2.png": png(3, 2, 2, 8, [bytes(range(9)), bytes(range(9, 18))]),
        "gray-5x1.png": png(5, 1, 0, 8, [bytes([0, 60, 120, 180, 255])]),
        "rgba16-2x2.png": png(2, 2, 6, 16, [bytes(range(16)), bytes(range(16, 32))]),
        "palette-4x1.png": png(4, 1, 3, 2, [bytes([0x1B])],
                               palette=bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])),
        "rgb24-5x3.bmp": bmp(5, 3, 24),
        "rgb32-2x2.bmp": bmp(2, 2, 32),
    }
    try:
        from PIL import Image
    except ImportError:
        print("make-seeds: Pillow missing, no JPEG seeds", file=sys.stderr)
        return seeds
    img = Image.new("RGB", (17, 9))
    img.putdata([((x * 15) & 255, (y * 28) & 255, ((x + y) * 9) & 255)
                 for y in range(9) for x in range(17)])
    for name, kw in [("baseline-420.jpg", dict(subsampling=2)),
                     ("baseline-444.jpg", dict(subsampling=0)),
                     ("progressive.jpg", dict(progressive=True)),
                     ("restart.jpg", dict(subsampling=1))]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=50, **kw)
        seeds[name] = buf.getvalue()
    buf = io.BytesIO()
    img.convert("L").save(buf, "JPEG", quality=50)
    seeds["gray.jpg"] = buf.getvalue()
    return seeds


# ---- safetensors (fuzz-safetensors.c: first byte 1 = header only) ----

def safetensors_header(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return data[:8 + n]


def safetensors_seeds():
    golden = os.path.join(FIXTURES, "golden")
    seeds = {}
    for name in sorted(os.listdir(golden)):
        if name.endswith(".safetensors"):
            seeds["header-" + name] = b"\x01" + safetensors_header(os.path.join(golden, name))
    return seeds


def committed(out):
    for harness, seeds in [("config", config_seeds()), ("routes", route_seeds()),
                           ("image", image_seeds()),
                           ("safetensors", safetensors_seeds())]:
        for name, data in seeds.items():
            write(os.path.join(out, harness, name), data)


# ---- run-time corpora ----

# Real files used whole, and the truncation points of the model files (the
# loaders' errors for a cut file are part of what is fuzzed).
REAL_MODELS = ["mobilenet_v1_0.25_128_quant.tflite",
               "mobilenet_v2_1.0_224_quant.tflite"]
REAL_IMAGES = ["images/dev/n02089078_black-and-tan_coonhound.JPEG",
               "images/photos/burger.jpg", "images/dev/n01740131_night_snake.JPEG"]
CUTS = [8, 64, 1024, 16384]


def copy_tree(src, dst):
    if not os.path.isdir(src):
        return
    for name in sorted(os.listdir(src)):
        p = os.path.join(src, name)
        if os.path.isfile(p) and not name.startswith("."):
            with open(p, "rb") as f:
                write(os.path.join(dst, name), f.read())


def runtime(out, data_dir):
    for harness in ["tflite", "safetensors", "config", "routes", "image"]:
        copy_tree(os.path.join(SEEDS, harness), os.path.join(out, harness))
        copy_tree(os.path.join(ROOT, "tests", "fuzz", "regressions", harness),
                  os.path.join(out, harness))
    tfl = os.path.join(FIXTURES, "tflite")
    for name in sorted(os.listdir(tfl)):
        if name.endswith(".tflite"):
            copy_tree_file = os.path.join(tfl, name)
            with open(copy_tree_file, "rb") as f:
                write(os.path.join(out, "tflite", name), f.read())
    golden = os.path.join(FIXTURES, "golden")
    for name in sorted(os.listdir(golden)):
        if name.endswith(".safetensors"):
            with open(os.path.join(golden, name), "rb") as f:
                data = f.read()
            write(os.path.join(out, "safetensors", "whole-" + name), b"\x00" + data)
            for cut in CUTS:
                write(os.path.join(out, "safetensors", "cut%d-%s" % (cut, name)),
                      b"\x00" + data[:cut])
    with open(os.path.join(ROOT, "config", "streamsight.json"), "rb") as f:
        write(os.path.join(out, "config", "sample.json"), f.read())
    if not data_dir:
        return
    for name in REAL_MODELS:
        p = os.path.join(data_dir, "models", name)
        if not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        write(os.path.join(out, "tflite", "real-" + name), data)
        for cut in CUTS:
            write(os.path.join(out, "tflite", "cut%d-%s" % (cut, name)), data[:cut])
    for rel in REAL_IMAGES:
        p = os.path.join(data_dir, rel)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                write(os.path.join(out, "image", "real-" + os.path.basename(p)), f.read())


def main(argv):
    if len(argv) >= 3 and argv[1] == "committed":
        committed(argv[2])
    elif len(argv) >= 3 and argv[1] == "runtime":
        data = argv[4] if len(argv) >= 5 and argv[3] == "--data" else None
        runtime(argv[2], data)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
