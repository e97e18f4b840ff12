#!/usr/bin/python3
"""Writes the tiny TFLite fixtures of tests/test-tflite.c.

Plain python3 + struct + numpy (Debian's /usr/bin/python3; no flatbuffers
package): a small forward-laid-out flatbuffer writer for the subset of
tensorflow/lite/schema/schema.fbs the loader reads, two tiny MobileNet-like
graphs, and their expected logits computed here with numpy (float64, from the
dequantised weights) for a fixed input.

  tiny-quant.tflite    8x8x3 uint8 input -> QUANTIZE -> CONV_2D 3x3 s2 SAME
                       RELU6 (uint8 per-tensor) -> DEPTHWISE_CONV_2D 3x3 with
                       its ReLU6 only in the uint8 output range [0, 6]
                       (int8 per-channel) -> CONV_2D 1x1 (int8 per-channel)
                       -> ADD residual -> PAD 1 + DEPTHWISE_CONV_2D 3x3 s2
                       VALID (float16 weights through DEQUANTIZE) -> MEAN
                       -> FULLY_CONNECTED (uint8) -> SOFTMAX; a stored zip
                       with labels.txt appended.
  tiny-float.tflite    9x9x3 float32 input -> CONV_2D 3x3 s2 SAME RELU ->
                       DEPTHWISE_CONV_2D 3x3 RELU_N1_TO_1 -> CONV_2D 1x1 RELU6
                       -> AVERAGE_POOL_2D 5x5 VALID -> CONV_2D 1x1 classifier
                       (its weights stored outside the flatbuffer through
                       Buffer.offset/size) -> RESHAPE; old-style opcodes
                       (deprecated_builtin_code only); no softmax, no labels.
  bad-short-weights.tflite   tiny-quant with the first conv's weight buffer
                       one byte short of its shape.
  bad-conv-channels.tflite   tiny-quant whose 1x1 conv filter has 6 input
                       channels for an 8-channel input.
  bad-pad-kernel.tflite      tiny-quant with PAD 3 before the 3x3 VALID
                       depthwise (shapes consistent; not foldable).
  bad-dilation.tflite        tiny-quant whose first conv has dilation 2.
  *.expected           "flatbuffer_bytes N", "input_u8 N v...", "logits N
                       v..." (the logits are the softmax's input).

Run: /usr/bin/python3 scripts/make-tflite-fixture.py [OUTDIR]
(default tests/fixtures/tflite). Deterministic: same bytes on every run.
"""
import io
import os
import struct
import sys
import zipfile

import numpy as np

# ---- a forward flatbuffer writer -------------------------------------------
# Objects are laid out parents first, so that every uoffset points forward
# (uoffsets are unsigned). Tables: vtable first, then the table whose soffset
# points back to it.

SCALARS = {'u8': ('<B', 1), 'i8': ('<b', 1), 'i32': ('<i', 4),
           'u32': ('<I', 4), 'f32': ('<f', 4), 'i64': ('<q', 8),
           'u64': ('<Q', 8)}


class Table:
    def __init__(self, *fields):
        # fields: (slot, kind, value); kind 'off' takes a Table/Vec/Str
        self.fields = [f for f in fields if f is not None]


class Vec:
    def __init__(self, kind, values, align=0):
        self.kind, self.values, self.align = kind, list(values), align


class Str:
    def __init__(self, s):
        self.s = s.encode() if isinstance(s, str) else s


def _pad_to(buf, align, extra=0):
    while (len(buf) + extra) % align:
        buf.append(0)


def serialize(root, ident=b'TFL3'):
    buf = bytearray(struct.pack('<I', 0) + ident)
    queue = [(0, root)]  # (position of the uoffset to patch, object)
    written = {}
    while queue:
        patch, obj = queue.pop(0)
        if id(obj) not in written:
            written[id(obj)] = _write(buf, obj, queue)
        pos = written[id(obj)]
        assert pos > patch
        struct.pack_into('<I', buf, patch, pos - patch)
    return bytes(buf)


def _write(buf, obj, queue):
    if isinstance(obj, Str):
        _pad_to(buf, 4)
        pos = len(buf)
        buf += struct.pack('<I', len(obj.s)) + obj.s + b'\0'
        return pos
    if isinstance(obj, Vec):
        if obj.kind == 'off':
            _pad_to(buf, 4)
            pos = len(buf)
            buf += struct.pack('<I', len(obj.values))
            for v in obj.values:
                queue.append((len(buf), v))
                buf += b'\0\0\0\0'
            return pos
        fmt, size = SCALARS[obj.kind]
        _pad_to(buf, max(4, size, obj.align), 4)
        pos = len(buf)
        buf += struct.pack('<I', len(obj.values))
        for v in obj.values:
            buf += struct.pack(fmt, v)
        return pos
    assert isinstance(obj, Table)
    nslots = 1 + max([f[0] for f in obj.fields], default=-1)
    # inline layout: soffset, then fields by decreasing size
    order = sorted(obj.fields,
                   key=lambda f: -(4 if f[1] == 'off' else SCALARS[f[1]][1]))
    align = max([4] + [SCALARS[f[1]][1] for f in obj.fields if f[1] != 'off'])
    offsets, size = {}, 4
    for slot, kind, _ in order:
        fsize = 4 if kind == 'off' else SCALARS[kind][1]
        size = (size + fsize - 1) // fsize * fsize
        offsets[slot] = size
        size += fsize
    vt_bytes = 4 + 2 * nslots
    _pad_to(buf, 2)
    vt = len(buf)
    buf += struct.pack('<HH', vt_bytes, size)
    for s in range(nslots):
        buf += struct.pack('<H', offsets.get(s, 0))
    _pad_to(buf, align)
    pos = len(buf)
    body = bytearray(size)
    struct.pack_into('<i', body, 0, pos - vt)
    for slot, kind, value in obj.fields:
        if kind == 'off':
            queue.append((pos + offsets[slot], value))
        else:
            struct.pack_into(SCALARS[kind][0], body, offsets[slot], value)
    buf += body
    return pos


# ---- the TFLite schema subset -----------------------------------------------

FLOAT32, FLOAT16, INT32, UINT8, INT8 = 0, 1, 2, 3, 9
ADD, AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE = 0, 1, 3, 4, 6
FULLY_CONNECTED, RESHAPE, SOFTMAX, PAD, MEAN, QUANTIZE = 9, 22, 25, 34, 40, 114
OPT_CONV, OPT_DW, OPT_POOL, OPT_FC, OPT_SOFTMAX, OPT_ADD = 1, 2, 5, 8, 9, 11
OPT_RESHAPE, OPT_PAD, OPT_REDUCER = 17, 22, 27
SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3


class Graph:
    def __init__(self):
        self.tensors, self.buffers, self.ops, self.codes = [], [Table()], [], []
        self.external = []  # (Buffer table, bytes) stored after the flatbuffer

    def tensor(self, name, shape, ttype, data=None, scale=None, zp=None,
               qdim=0, external=False):
        buf = 0
        if data is not None:
            if external:
                t = Table()
                self.external.append((t, bytes(data)))
            else:
                t = Table((0, 'off', Vec('u8', data, align=16)))
            self.buffers.append(t)
            buf = len(self.buffers) - 1
        q = None
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, np.float32))
            zp = np.atleast_1d(np.asarray(zp if zp is not None else 0,
                                          np.int64))
            q = (4, 'off', Table((2, 'off', Vec('f32', scale.tolist())),
                                 (3, 'off', Vec('i64', zp.tolist())),
                                 (6, 'i32', qdim) if qdim else None))
        self.tensors.append(Table((0, 'off', Vec('i32', shape)),
                                  (1, 'i8', ttype) if ttype else None,
                                  (2, 'u32', buf) if buf else None,
                                  (3, 'off', Str(name)), q))
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, opt_type=0, options=None,
           old_style=False):
        key = (code, old_style)
        if key not in self.codes:
            self.codes.append(key)
        self.ops.append(Table(
            (0, 'u32', self.codes.index(key)),
            (1, 'off', Vec('i32', inputs)), (2, 'off', Vec('i32', outputs)),
            (3, 'u8', opt_type) if opt_type else None,
            (4, 'off', options) if options is not None else None))

    def serialize(self, inputs, outputs):
        codes = []
        for code, old in self.codes:
            # Old files only have the byte; new ones have both (TFLite reads
            # the larger).
            codes.append(Table((0, 'i8', min(code, 127)),
                               (2, 'i32', 1),
                               None if old else (3, 'i32', code)))
        sub = Table((0, 'off', Vec('off', self.tensors)),
                    (1, 'off', Vec('i32', inputs)),
                    (2, 'off', Vec('i32', outputs)),
                    (3, 'off', Vec('off', self.ops)),
                    (4, 'off', Str('main')))
        model = Table((0, 'u32', 3), (1, 'off', Vec('off', codes)),
                      (2, 'off', Vec('off', [sub])),
                      (3, 'off', Str('streamsight test fixture')),
                      (4, 'off', Vec('off', self.buffers)))
        # External buffers: offset/size fields need the final size, which
        # does not depend on their values (fixed-width fields).
        for t, data in self.external:
            t.fields = [(1, 'u64', 0), (2, 'u64', len(data))]
        fb = serialize(model)
        out = bytearray(fb)
        for t, data in self.external:
            _pad_to(out, 16)
            t.fields = [(1, 'u64', len(out)), (2, 'u64', len(data))]
            out += data
        fb2 = serialize(model)
        assert len(fb2) == len(fb)
        out[:len(fb2)] = fb2
        return bytes(out), len(fb2)


def conv_opts(padding, stride, act, dilation=1):
    return Table((0, 'u8', padding) if padding else None,
                 (1, 'i32', stride), (2, 'i32', stride),
                 (3, 'u8', act) if act else None,
                 (4, 'i32', dilation) if dilation != 1 else None,
                 (5, 'i32', dilation) if dilation != 1 else None)


def dw_opts(padding, stride, act):
    return Table((0, 'u8', padding) if padding else None,
                 (1, 'i32', stride), (2, 'i32', stride), (3, 'i32', 1),
                 (4, 'u8', act) if act else None)


# ---- quantisation helpers ---------------------------------------------------

def quant_u8(w):
    """Per-tensor asymmetric uint8: returns (q, scale, zp, dequantised)."""
    lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
    scale = np.float32((hi - lo) / 255.0)
    zp = int(round(-lo / float(scale)))
    q = np.clip(np.round(w / float(scale)) + zp, 0, 255).astype(np.uint8)
    return q, scale, zp, float(scale) * (q.astype(np.float64) - zp)


def quant_i8_axis(w, axis):
    """Per-channel symmetric int8 along axis."""
    amax = np.abs(w).max(axis=tuple(a for a in range(w.ndim) if a != axis))
    scale = (np.maximum(amax, 1e-6) / 127.0).astype(np.float32)
    shp = [1] * w.ndim
    shp[axis] = -1
    s = scale.astype(np.float64).reshape(shp)
    q = np.clip(np.round(w / s), -127, 127).astype(np.int8)
    return q, scale, q.astype(np.float64) * s


def quant_bias(b, scale):
    """int32 bias with scale (per tensor or per channel)."""
    scale = np.broadcast_to(np.asarray(scale, np.float32), b.shape)
    q = np.round(b / scale.astype(np.float64)).astype(np.int32)
    return q, scale.copy(), q.astype(np.float64) * scale.astype(np.float64)


def act_range(lo, hi):
    """uint8 activation quantisation covering [lo, hi] with margin."""
    lo, hi = min(lo, 0.0) * 1.5, max(hi, 1e-3) * 1.5
    scale = np.float32((hi - lo) / 255.0)
    return scale, int(round(-lo / float(scale)))


# ---- numpy reference ops (NHWC, batch 1, float64) ---------------------------

def same_pads(n, k, s):
    out = (n + s - 1) // s
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv(x, w, b, stride, pads, act, depthwise=False):
    """x [H,W,C]; w [cout,kh,kw,cin] or depthwise [kh,kw,C]."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    kh, kw = (w.shape[0], w.shape[1]) if depthwise else (w.shape[1],
                                                           w.shape[2])
    oh = (xp.shape[0] - kh) // stride + 1
    ow = (xp.shape[1] - kw) // stride + 1
    cout = x.shape[2] if depthwise else w.shape[0]
    y = np.zeros((oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            patch = xp[i * stride:i * stride + kh, j * stride:j * stride + kw]
            if depthwise:
                y[i, j] = (patch * w).sum(axis=(0, 1))
            else:
                y[i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return clamp(y + b, act)


def clamp(y, act):
    if act == RELU:
        return np.maximum(y, 0)
    if act == RELU6:
        return np.clip(y, 0, 6)
    if act == RELU_N1_TO_1:
        return np.clip(y, -1, 1)
    return y


def pads_of(padding, h, w, k, s):
    if padding == VALID:
        return (0, 0), (0, 0)
    return same_pads(h, k, s), same_pads(w, k, s)


# ---- fixture 1: quantised, with PAD, residual ADD, MEAN, FC, SOFTMAX -------

def tiny_quant(rng, variant=None):
    g = Graph()
    pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    in_scale, in_zp = np.float32(1 / 128), 128
    x = float(in_scale) * (pixels.astype(np.float64) - in_zp)

    # conv1: 3x3 s2 SAME RELU6, uint8 per-tensor weights
    w1 = rng.normal(0, 0.4, (8, 3, 3, 3))
    q1, s1, z1, w1d = quant_u8(w1)
    b1q, b1s, b1d = quant_bias(rng.normal(0, 0.2, 8),
                               float(in_scale) * float(s1))
    y1 = conv(x, w1d, b1d, 2, pads_of(SAME, 8, 8, 3, 2), RELU6)
    # dw1: 3x3 s1 SAME, int8 per-channel (axis 3 of [1,3,3,8]); no fused
    # activation: its uint8 output range [0, 6] (zero point 0, scale 6/255)
    # is the ReLU6, as in older converters' files
    w2 = rng.normal(0, 0.5, (1, 3, 3, 8))
    q2, s2, w2d = quant_i8_axis(w2, 3)
    a1s, a1z = act_range(0.0, 6.0)
    b2q, b2s, b2d = quant_bias(rng.normal(0, 0.2, 8),
                               float(a1s) * s2.astype(np.float64))
    y2 = conv(y1, w2d[0], b2d, 1, pads_of(SAME, 4, 4, 3, 1), RELU6, True)
    # pw1: 1x1 linear, int8 per-channel (axis 0)
    w3 = rng.normal(0, 0.4, (8, 1, 1, 8))
    if variant == 'channels':
        w3 = w3[:, :, :, :6]
    q3, s3, w3d = quant_i8_axis(w3, 0)
    b3q, b3s, b3d = quant_bias(rng.normal(0, 0.2, 8),
                               float(a1s) * s3.astype(np.float64))
    y3 = conv(y2, w3d, b3d, 1, ((0, 0), (0, 0)), NONE) if variant is None \
        else None
    # residual add, then PAD 1 and a VALID 3x3 s2 depthwise (float16)
    y4 = y3 + y1 if y3 is not None else None
    w5 = rng.normal(0, 0.5, (1, 3, 3, 8)).astype(np.float16)
    b5 = rng.normal(0, 0.2, 8).astype(np.float32)
    y5 = conv(np.pad(y4, ((1, 1), (1, 1), (0, 0))), w5[0].astype(np.float64),
              b5.astype(np.float64), 2, ((0, 0), (0, 0)), RELU6, True) \
        if y4 is not None else None
    y6 = y5.mean(axis=(0, 1)) if y5 is not None else None
    # classifier: FC uint8 per-tensor
    w7 = rng.normal(0, 0.5, (10, 8))
    q7, s7, z7, w7d = quant_u8(w7)
    b7q, b7s, b7d = quant_bias(rng.normal(0, 0.2, 10),
                               float(a1s) * float(s7))
    logits = w7d @ y6 + b7d if y6 is not None else None

    # activation quantisation: ranges wide enough never to clamp
    rng_of = {}
    for name, v in (('c1', y1), ('p1', y3), ('add', y4), ('d2', y5),
                    ('mean', y6), ('fc', logits)):
        rng_of[name] = act_range(float(v.min()), float(v.max())) \
            if v is not None else act_range(-8.0, 8.0)
    rng_of['d1'] = (np.float32(6.0 / 255.0), 0)

    t_in = g.tensor('input', [1, 8, 8, 3], UINT8, scale=in_scale, zp=in_zp)
    t_q = g.tensor('input_int8', [1, 8, 8, 3], INT8, scale=in_scale, zp=0)
    g.op(QUANTIZE, [t_in], [t_q])

    w1bytes = q1.tobytes()
    if variant == 'short':
        w1bytes = w1bytes[:-1]
    t_w1 = g.tensor('conv1/weights', [8, 3, 3, 3], UINT8, w1bytes, s1, z1)
    t_b1 = g.tensor('conv1/bias', [8], INT32, b1q.tobytes(), b1s[0], 0)
    t_c1 = g.tensor('conv1/Relu6', [1, 4, 4, 8], UINT8, None, *rng_of['c1'])
    g.op(CONV_2D, [t_q, t_w1, t_b1], [t_c1], OPT_CONV,
         conv_opts(SAME, 2, RELU6, 2 if variant == 'dilation' else 1))

    t_w2 = g.tensor('block/depthwise/weights', [1, 3, 3, 8], INT8,
                    q2.tobytes(), s2, np.zeros(8, np.int64), qdim=3)
    t_b2 = g.tensor('block/depthwise/bias', [8], INT32, b2q.tobytes(), b2s,
                    np.zeros(8, np.int64))
    t_d1 = g.tensor('block/depthwise/Relu6', [1, 4, 4, 8], UINT8, None,
                    *rng_of['d1'])
    g.op(DEPTHWISE_CONV_2D, [t_c1, t_w2, t_b2], [t_d1], OPT_DW,
         dw_opts(SAME, 1, NONE))

    cin3 = q3.shape[3]
    t_w3 = g.tensor('block/project/weights', [8, 1, 1, cin3], INT8,
                    q3.tobytes(), s3, np.zeros(8, np.int64), qdim=0)
    t_b3 = g.tensor('block/project/bias', [8], INT32, b3q.tobytes(), b3s,
                    np.zeros(8, np.int64))
    t_p1 = g.tensor('block/project/BiasAdd', [1, 4, 4, 8], UINT8, None,
                    *rng_of['p1'])
    g.op(CONV_2D, [t_d1, t_w3, t_b3], [t_p1], OPT_CONV,
         conv_opts(SAME, 1, NONE))

    t_add = g.tensor('block/add', [1, 4, 4, 8], UINT8, None, *rng_of['add'])
    g.op(ADD, [t_p1, t_c1], [t_add], OPT_ADD, Table())

    t_w5h = g.tensor('dw2/weights_f16', [1, 3, 3, 8], FLOAT16, w5.tobytes())
    t_w5 = g.tensor('dw2/weights', [1, 3, 3, 8], FLOAT32)
    g.op(DEQUANTIZE, [t_w5h], [t_w5])
    p = 3 if variant == 'pad3' else 1  # 3 is not below the 3x3 kernel
    t_pads = g.tensor('pad/paddings', [4, 2], INT32,
                      np.array([[0, 0], [p, p], [p, p], [0, 0]],
                               np.int32).tobytes())
    t_pad = g.tensor('pad/Pad', [1, 4 + 2 * p, 4 + 2 * p, 8], UINT8, None,
                     *rng_of['add'])
    g.op(PAD, [t_add, t_pads], [t_pad], OPT_PAD, Table())
    t_b5 = g.tensor('dw2/bias', [8], FLOAT32, b5.tobytes())
    t_d2 = g.tensor('dw2/Relu6', [1, p + 1, p + 1, 8], UINT8, None,
                    *rng_of['d2'])
    g.op(DEPTHWISE_CONV_2D, [t_pad, t_w5, t_b5], [t_d2], OPT_DW,
         dw_opts(VALID, 2, RELU6))

    t_axes = g.tensor('pool/axes', [2], INT32,
                      np.array([1, 2], np.int32).tobytes())
    t_mean = g.tensor('pool/Mean', [1, 1, 1, 8], UINT8, None,
                      *rng_of['mean'])
    g.op(MEAN, [t_d2, t_axes], [t_mean], OPT_REDUCER,
         Table((0, 'u8', 1)))

    t_w7 = g.tensor('logits/weights', [10, 8], UINT8, q7.tobytes(), s7, z7)
    t_b7 = g.tensor('logits/bias', [10], INT32, b7q.tobytes(), b7s[0], 0)
    t_fc = g.tensor('logits/BiasAdd', [1, 10], UINT8, None, *rng_of['fc'])
    g.op(FULLY_CONNECTED, [t_mean, t_w7, t_b7], [t_fc], OPT_FC, Table())

    t_out = g.tensor('probabilities', [1, 10], UINT8, None,
                     np.float32(1 / 256), 0)
    g.op(SOFTMAX, [t_fc], [t_out], OPT_SOFTMAX,
         Table((0, 'f32', 1.0)))

    data, fb_len = g.serialize([t_in], [t_out])
    # TFLite metadata writers append a zip of stored files.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, 'w', zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo('labels.txt', date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(info, ''.join('class_%d\n' % i for i in range(10)))
    zdata = bytearray(zbuf.getvalue())
    _shift_zip(zdata, len(data))
    return data + bytes(zdata), fb_len, pixels, logits


def _shift_zip(z, base):
    """Makes the zip's offsets absolute in the file it is appended to, as
    Python's zipfile does when appending to a model file."""
    eocd = z.rfind(b'PK\x05\x06')
    cd_size, cd_off = struct.unpack_from('<II', z, eocd + 12)
    struct.pack_into('<I', z, eocd + 16, cd_off + base)
    p = cd_off
    while p < cd_off + cd_size:
        n, e, c = struct.unpack_from('<HHH', z, p + 28)
        (lo,) = struct.unpack_from('<I', z, p + 42)
        struct.pack_into('<I', z, p + 42, lo + base)
        p += 46 + n + e + c


# ---- fixture 2: float32, AVERAGE_POOL_2D, classifier conv, RESHAPE --------

def tiny_float(rng):
    g = Graph()
    pixels = rng.integers(0, 256, size=(9, 9, 3), dtype=np.uint8)
    x = (pixels.astype(np.float64) - 127.5) / 127.5
    f32 = lambda a: np.asarray(a, np.float32)
    w1 = f32(rng.normal(0, 0.4, (4, 3, 3, 3)))
    b1 = f32(rng.normal(0, 0.2, 4))
    y1 = conv(x, w1.astype(np.float64), b1, 2, pads_of(SAME, 9, 9, 3, 2),
              RELU)
    w2 = f32(rng.normal(0, 0.5, (1, 3, 3, 4)))
    b2 = f32(rng.normal(0, 0.2, 4))
    y2 = conv(y1, w2[0].astype(np.float64), b2, 1, pads_of(SAME, 5, 5, 3, 1),
              RELU_N1_TO_1, True)
    w3 = f32(rng.normal(0, 0.8, (6, 1, 1, 4)))
    b3 = f32(rng.normal(0, 0.5, 6))
    y3 = conv(y2, w3.astype(np.float64), b3, 1, ((0, 0), (0, 0)), RELU6)
    y4 = y3.mean(axis=(0, 1))
    w5 = f32(rng.normal(0, 0.5, (5, 1, 1, 6)))
    b5 = f32(rng.normal(0, 0.2, 5))
    logits = w5[:, 0, 0, :].astype(np.float64) @ y4 + b5

    old = True  # deprecated_builtin_code only, like TF1-era converters
    t_in = g.tensor('input', [1, 9, 9, 3], FLOAT32)
    t_w1 = g.tensor('conv1/weights', [4, 3, 3, 3], FLOAT32, w1.tobytes())
    t_b1 = g.tensor('conv1/bias', [4], FLOAT32, b1.tobytes())
    t_c1 = g.tensor('conv1/Relu', [1, 5, 5, 4], FLOAT32)
    g.op(CONV_2D, [t_in, t_w1, t_b1], [t_c1], OPT_CONV,
         conv_opts(SAME, 2, RELU), old)
    t_w2 = g.tensor('dw/weights', [1, 3, 3, 4], FLOAT32, w2.tobytes())
    t_b2 = g.tensor('dw/bias', [4], FLOAT32, b2.tobytes())
    t_d = g.tensor('dw/Relu1', [1, 5, 5, 4], FLOAT32)
    g.op(DEPTHWISE_CONV_2D, [t_c1, t_w2, t_b2], [t_d], OPT_DW,
         dw_opts(SAME, 1, RELU_N1_TO_1), old)
    t_w3 = g.tensor('pw/weights', [6, 1, 1, 4], FLOAT32, w3.tobytes())
    t_b3 = g.tensor('pw/bias', [6], FLOAT32, b3.tobytes())
    t_p = g.tensor('pw/Relu6', [1, 5, 5, 6], FLOAT32)
    g.op(CONV_2D, [t_d, t_w3, t_b3], [t_p], OPT_CONV,
         conv_opts(VALID, 1, RELU6), old)
    t_pool = g.tensor('pool/AvgPool', [1, 1, 1, 6], FLOAT32)
    g.op(AVERAGE_POOL_2D, [t_p], [t_pool], OPT_POOL,
         Table((0, 'u8', VALID), (1, 'i32', 2), (2, 'i32', 2),
               (3, 'i32', 5), (4, 'i32', 5)), old)
    t_w5 = g.tensor('logits/weights', [5, 1, 1, 6], FLOAT32, w5.tobytes(),
                    external=True)
    t_b5 = g.tensor('logits/bias', [5], FLOAT32, b5.tobytes())
    t_l = g.tensor('logits/BiasAdd', [1, 1, 1, 5], FLOAT32)
    g.op(CONV_2D, [t_pool, t_w5, t_b5], [t_l], OPT_CONV,
         conv_opts(SAME, 1, NONE), old)
    t_shape = g.tensor('logits/shape', [2], INT32,
                       np.array([1, 5], np.int32).tobytes())
    t_out = g.tensor('logits', [1, 5], FLOAT32)
    g.op(RESHAPE, [t_l, t_shape], [t_out], OPT_RESHAPE,
         Table((0, 'off', Vec('i32', [1, 5]))), old)
    data, fb_len = g.serialize([t_in], [t_out])
    return data, fb_len, pixels, logits


def write_expected(path, fb_len, pixels, logits, script):
    with open(path, 'w') as f:
        f.write('# generated by %s; logits are the softmax input\n' % script)
        f.write('flatbuffer_bytes %d\n' % fb_len)
        p = pixels.reshape(-1)
        f.write('input_u8 %d %s\n' % (p.size, ' '.join(map(str, p))))
        f.write('logits %d %s\n' % (logits.size,
                                    ' '.join('%.9g' % v for v in logits)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures',
        'tflite')
    os.makedirs(out, exist_ok=True)
    script = 'scripts/make-tflite-fixture.py'
    data, fb_len, pixels, logits = tiny_quant(np.random.default_rng(1))
    open(os.path.join(out, 'tiny-quant.tflite'), 'wb').write(data)
    write_expected(os.path.join(out, 'tiny-quant.expected'), fb_len, pixels,
                   logits, script)
    data, fb_len, pixels, logits = tiny_float(np.random.default_rng(2))
    open(os.path.join(out, 'tiny-float.tflite'), 'wb').write(data)
    write_expected(os.path.join(out, 'tiny-float.expected'), fb_len, pixels,
                   logits, script)
    for variant, name in (('short', 'bad-short-weights'),
                          ('channels', 'bad-conv-channels'),
                          ('pad3', 'bad-pad-kernel'),
                          ('dilation', 'bad-dilation')):
        data = tiny_quant(np.random.default_rng(1), variant)[0]
        open(os.path.join(out, name + '.tflite'), 'wb').write(data)


if __name__ == '__main__':
    main()
