/* streamsight — depthwise 3x3 convolution on AVX-VNNI (vpdpbusd on ymm),
 * a twin of qk_dwconv__ref (contract in qkernels.h): the same bytes out.
 * Built with -mavx2 -mfma -mavxvnni; reached only through qk_ops_get(),
 * which checks the CPU.
 *
 * vpdpbusd sums 4 products of an unsigned byte by a signed byte into each
 * int32 lane, exactly. Depthwise sums run over taps only, so each input
 * row is converted once per layer into "quads": for output column x and
 * channel j the 4 bytes in[ix][j], in[ix+1][j], in[ix+2][j], zp (ix = x *
 * stride - pad_left; padding columns hold the input zero point). A 3x3
 * output is then 3 vpdpbusd per 8 channels, one per kernel row, each
 * input row's quads serving every output row that reads it (3 with stride
 * 1). The zero point is folded into the bias (bias - in_zp * sum w), so
 * the raw bytes are multiplied, padding bytes being the zero point.
 *
 * Weights w - w_zp span -255..255 and vpdpbusd takes int8: a layer whose
 * weights all fit int8 (TF2's symmetric per-channel files) runs as above;
 * otherwise (TF1 uint8 files: a per-tensor zero point anywhere in 0..255)
 * each weight is split into two int8 parts, wa = clamp(w, -128, 127) and
 * wb = w - wa, and each quad goes through both (6 vpdpbusd per 8
 * channels, still half the instructions of vpmaddwd on int16), in the
 * blocks of 16 channels that need it. Only 255
 * (a byte of 255 with zero point 0) has no such split: such layers, and
 * kernels other than 3x3, run the AVX2 kernel ("qdwa", qkernels-dw-avx2.c).
 *
 * "qdw4" layout: a 64-byte header (int32 kind: QDW4_*), then
 *   QDW4_QDW2: the AVX2 table's layout ("qdwa");
 *   QDW4_QUAD: per block of 16 channels (zero-padded), 512 bytes:
 *     16 int32 bias[c] - in_zp * sum_t w[t][c];
 *     3 rows ky of 64 bytes: channel j's wa[ky][0..2], 0 at 4j .. 4j+3;
 *     the same 3 rows of wb;
 *     int32 split: whether any wb of the block is not 0, then 60 bytes of
 *     padding. In the TF1 files the weights past int8 are in one or two
 *     channels a layer (its extremes): the other blocks skip wb.
 * Scratch: 4 rows of quads of one block (a ring of 3 input rows and one of
 * the zero point), out_w columns x 64 bytes each: the kernel runs the
 * layer block by block.
 */
#include "qkernels-dw-vnni.h"

#include <immintrin.h>

/* Built twice: here for AVX-VNNI (VEX vpdpbusd), and by
 * qkernels-dw-avx512.c for AVX-512 VNNI CPUs, which may lack the VEX form
 * (Ice Lake, Cascade Lake): the EVEX instruction on the same ymm. */
#if defined(QK_DW_EVEX) /* and 16 channels a zmm, below */
#define DPBUSD _mm256_dpbusd_epi32
#define FN(name) name##__avx512
#else
#define DPBUSD _mm256_dpbusd_avx_epi32
#define FN(name) name##__vnni
#endif
#include <stdbool.h>
#include <string.h>

#include "qkernels-avx2-util.h"
#include "qkernels-avx2.h"
#include "qkernels-ref.h"

enum { QDW4_QDW2 = 0, QDW4_QUAD };

#define HEADER 64
#define QB 64                         /* one column of one block's quads */
#define SPLIT_AT (QK_DW_CB * 4 + 6 * QB) /* after bias, wa, wb */
#define BLOCK (SPLIT_AT + 64)

static size_t
blocks(size_t c)
{
  return (c + QK_DW_CB - 1) / QK_DW_CB;
}

size_t
FN(qk_dw_packed_size)(size_t c, size_t kh, size_t kw)
{
  const size_t quad = blocks(c) * BLOCK;
  const size_t avx2 = qk_dw_packed_size__avx2(c, kh, kw);
  return HEADER + (quad > avx2 ? quad : avx2);
}

void
FN(qk_dw_pack)(size_t c, size_t kh, size_t kw, const int16_t *w,
                 const int32_t *bias, int32_t in_zp, void *packed)
{
  uint8_t *p = packed;
  memset(p, 0, HEADER);
  bool quads = kh == 3 && kw == 3;
  for (size_t i = 0; quads && i < 9 * c; i++)
    quads = w[i] >= -255 && w[i] <= 254; /* wa + wb, both int8 */
  int32_t kind = quads ? QDW4_QUAD : QDW4_QDW2;
  memcpy(p, &kind, sizeof kind);
  p += HEADER;
  if (kind == QDW4_QDW2) {
    qk_dw_pack__avx2(c, kh, kw, w, bias, in_zp, p);
    return;
  }
  memset(p, 0, blocks(c) * BLOCK);
  for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB, p += BLOCK) {
    int32_t *b = (int32_t *)(void *)p;
    int8_t *wa = (int8_t *)(p + QK_DW_CB * 4), *wb = wa + 3 * QB;
    for (size_t j = 0; j < QK_DW_CB && c0 + j < c; j++) {
      int32_t sum = 0;
      for (size_t t = 0; t < 9; t++) {
        const int v = w[t * c + c0 + j];
        const int a = v < -128 ? -128 : v > 127 ? 127 : v;
        wa[(t / 3) * QB + 4 * j + t % 3] = (int8_t)a;
        wb[(t / 3) * QB + 4 * j + t % 3] = (int8_t)(v - a);
        sum += v;
      }
      for (size_t t = 0; t < 9; t++)
        if (wb[(t / 3) * QB + 4 * j + t % 3]) {
          const int32_t one = 1;
          memcpy(p + SPLIT_AT, &one, sizeof one);
        }
      /* wrapping as the int32 sums of the reference */
      b[j] = (int32_t)((uint32_t)bias[c0 + j] - (uint32_t)in_zp * (uint32_t)sum);
    }
  }
}

size_t
FN(qk_dw_scratch_size)(const struct qk_dw_shape *sh)
{
  /* the AVX2 kernel's, for the layers it runs (QDW4_QDW2) */
  const size_t other = qk_dw_scratch_size__avx2(sh);
  if (sh->kh != 3 || sh->kw != 3)
    return other;
  const size_t own = 4 * sh->out_w * QB; /* one block at a time */
  return own > other ? own : other;
}

/* ---- building the quads of one input row, one block ---- */

/* Column x of the quads, any x: taps in the padding read the zero point,
 * and a tap whose 16 bytes would run past the input (a short last block)
 * reads a copy of its cc channels. */
static inline void
quads_column(const struct qk_dw_shape *sh, const uint8_t *row,
             const uint8_t *in_end, size_t c0, size_t x, uint8_t zp,
             uint8_t *dst)
{
  const size_t c = sh->c;
  const __m128i z = _mm_set1_epi8((char)zp);
  __m128i v[3];
  for (size_t t = 0; t < 3; t++) {
    const size_t ix = x * sh->stride + t; /* + pad_left, unsigned */
    v[t] = z;
    if (ix >= sh->pad_left && ix - sh->pad_left < sh->in_w) {
      const uint8_t *src = row + (ix - sh->pad_left) * c + c0;
      if (src + QK_DW_CB <= in_end) {
        v[t] = _mm_loadu_si128((const __m128i *)(const void *)src);
      } else { /* the input's last bytes: the channels that exist */
        uint8_t tmp[QK_DW_CB];
        memset(tmp, zp, sizeof tmp);
        memcpy(tmp, src, c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB);
        v[t] = _mm_loadu_si128((const __m128i *)(const void *)tmp);
      }
    }
  }
  const __m128i ab_lo = _mm_unpacklo_epi8(v[0], v[1]);
  const __m128i ab_hi = _mm_unpackhi_epi8(v[0], v[1]);
  const __m128i cz_lo = _mm_unpacklo_epi8(v[2], z);
  const __m128i cz_hi = _mm_unpackhi_epi8(v[2], z);
  __m128i *d = (__m128i *)(void *)dst;
  _mm_storeu_si128(d, _mm_unpacklo_epi16(ab_lo, cz_lo));
  _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(ab_lo, cz_lo));
  _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(ab_hi, cz_hi));
  _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(ab_hi, cz_hi));
}

static inline __m256i
load2(const uint8_t *lo, const uint8_t *hi)
{
  return _mm256_inserti128_si256(
      _mm256_castsi128_si256(
          _mm_loadu_si128((const __m128i *)(const void *)lo)),
      _mm_loadu_si128((const __m128i *)(const void *)hi), 1);
}

/* Quads of columns x .. x+1 from 16 channels at p (tap 0 of column x),
 * s * c bytes from one column to the next. */
static inline void
quads2(const uint8_t *p, size_t sc, size_t c, __m256i z, uint8_t *d)
{
  const __m256i a = load2(p, p + sc);
  const __m256i b = load2(p + c, p + sc + c);
  const __m256i cc = load2(p + 2 * c, p + sc + 2 * c);
  const __m256i ab_lo = _mm256_unpacklo_epi8(a, b); /* ch 0-7 */
  const __m256i ab_hi = _mm256_unpackhi_epi8(a, b); /* ch 8-15 */
  const __m256i cz_lo = _mm256_unpacklo_epi8(cc, z);
  const __m256i cz_hi = _mm256_unpackhi_epi8(cc, z);
  const __m256i q0 = _mm256_unpacklo_epi16(ab_lo, cz_lo); /* 0-3 */
  const __m256i q1 = _mm256_unpackhi_epi16(ab_lo, cz_lo); /* 4-7 */
  const __m256i q2 = _mm256_unpacklo_epi16(ab_hi, cz_hi); /* 8-11 */
  const __m256i q3 = _mm256_unpackhi_epi16(ab_hi, cz_hi); /* 12-15 */
  __m128i *d0 = (__m128i *)(void *)d, *d1 = (__m128i *)(void *)(d + QB);
  _mm_storeu_si128(d0, _mm256_castsi256_si128(q0));
  _mm_storeu_si128(d0 + 1, _mm256_castsi256_si128(q1));
  _mm_storeu_si128(d0 + 2, _mm256_castsi256_si128(q2));
  _mm_storeu_si128(d0 + 3, _mm256_castsi256_si128(q3));
  _mm_storeu_si128(d1, _mm256_extracti128_si256(q0, 1));
  _mm_storeu_si128(d1 + 1, _mm256_extracti128_si256(q1, 1));
  _mm_storeu_si128(d1 + 2, _mm256_extracti128_si256(q2, 1));
  _mm_storeu_si128(d1 + 3, _mm256_extracti128_si256(q3, 1));
}

#if defined(QK_DW_EVEX)
static inline __m512i
load4(const uint8_t *p, size_t sc)
{
  __m512i v = _mm512_castsi128_si512(
      _mm_loadu_si128((const __m128i *)(const void *)p));
  v = _mm512_inserti32x4(
      v, _mm_loadu_si128((const __m128i *)(const void *)(p + sc)), 1);
  v = _mm512_inserti32x4(
      v, _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * sc)), 2);
  return _mm512_inserti32x4(
      v, _mm_loadu_si128((const __m128i *)(const void *)(p + 3 * sc)), 3);
}

/* Columns x .. x+3, one per 128-bit lane. */
static inline void
quads4(const uint8_t *p, size_t sc, size_t c, __m512i z, uint8_t *d)
{
  const __m512i a = load4(p, sc), b = load4(p + c, sc);
  const __m512i cc = load4(p + 2 * c, sc);
  const __m512i ab_lo = _mm512_unpacklo_epi8(a, b);
  const __m512i ab_hi = _mm512_unpackhi_epi8(a, b);
  const __m512i cz_lo = _mm512_unpacklo_epi8(cc, z);
  const __m512i cz_hi = _mm512_unpackhi_epi8(cc, z);
  const __m512i q0 = _mm512_unpacklo_epi16(ab_lo, cz_lo);
  const __m512i q1 = _mm512_unpackhi_epi16(ab_lo, cz_lo);
  const __m512i q2 = _mm512_unpacklo_epi16(ab_hi, cz_hi);
  const __m512i q3 = _mm512_unpackhi_epi16(ab_hi, cz_hi);
  __m128i *o = (__m128i *)(void *)d;
  _mm_storeu_si128(o, _mm512_castsi512_si128(q0));
  _mm_storeu_si128(o + 1, _mm512_castsi512_si128(q1));
  _mm_storeu_si128(o + 2, _mm512_castsi512_si128(q2));
  _mm_storeu_si128(o + 3, _mm512_castsi512_si128(q3));
  _mm_storeu_si128(o + 4, _mm512_extracti32x4_epi32(q0, 1));
  _mm_storeu_si128(o + 5, _mm512_extracti32x4_epi32(q1, 1));
  _mm_storeu_si128(o + 6, _mm512_extracti32x4_epi32(q2, 1));
  _mm_storeu_si128(o + 7, _mm512_extracti32x4_epi32(q3, 1));
  _mm_storeu_si128(o + 8, _mm512_extracti32x4_epi32(q0, 2));
  _mm_storeu_si128(o + 9, _mm512_extracti32x4_epi32(q1, 2));
  _mm_storeu_si128(o + 10, _mm512_extracti32x4_epi32(q2, 2));
  _mm_storeu_si128(o + 11, _mm512_extracti32x4_epi32(q3, 2));
  _mm_storeu_si128(o + 12, _mm512_extracti32x4_epi32(q0, 3));
  _mm_storeu_si128(o + 13, _mm512_extracti32x4_epi32(q1, 3));
  _mm_storeu_si128(o + 14, _mm512_extracti32x4_epi32(q2, 3));
  _mm_storeu_si128(o + 15, _mm512_extracti32x4_epi32(q3, 3));
}
#endif

/* The quads of block c0 of input row `row` into dst (out_w columns of QB
 * bytes). Vectors of columns over the range [xa, xb) whose 3 taps are
 * inside the row and whose 16 bytes from each tap stay inside the input
 * (a short last block reads the next pixel's bytes, times zero weights;
 * channels past c hold whatever is there); a column at a time elsewhere. */
static void
build_quads(const struct qk_dw_shape *sh, const uint8_t *row,
            const uint8_t *in_end, size_t c0, uint8_t zp, uint8_t *dst)
{
  const size_t c = sh->c, s = sh->stride, pl = sh->pad_left;
  const size_t in_w = sh->in_w, out_w = sh->out_w;
  /* xa: first column with tap 0 inside; xb: past the last with tap 2
   * inside (x*s - pl + 2 < in_w) and its reads inside the input */
  size_t xa = (pl + s - 1) / s, xb = in_w + pl >= 3 ? (in_w + pl - 3) / s + 1
                                                     : 0;
  /* both within the output: a PAD of 2 columns folded into the 3x3 of
   * an input 1 pixel wide has out_w 1 and xa 2, and the vector loop must
   * not start past the output (it read the pixel before the row and wrote
   * a column past the scratch row) */
  xa = xa < out_w ? xa : out_w;
  xb = xb < out_w ? xb : out_w;
  while (xb > xa &&
         row + ((xb - 1) * s - pl + 2) * c + c0 + QK_DW_CB > in_end)
    xb--;
  if (xb < xa)
    xb = xa;
  size_t x = 0;
  for (; x < xa; x++)
    quads_column(sh, row, in_end, c0, x, zp, dst + x * QB);
  if (x < xb) { /* x * s >= pl: tap 0 of column x is inside */
    const uint8_t *p = row + (x * s - pl) * c + c0;
    const size_t sc = s * c;
#if defined(QK_DW_EVEX)
    const __m512i z4 = _mm512_set1_epi8((char)zp);
    for (; x + 4 <= xb; x += 4, p += 4 * sc)
      quads4(p, sc, c, z4, dst + x * QB);
#endif
    const __m256i z = _mm256_set1_epi8((char)zp);
    for (; x + 2 <= xb; x += 2, p += 2 * sc)
      quads2(p, sc, c, z, dst + x * QB);
  }
  for (; x < out_w; x++)
    quads_column(sh, row, in_end, c0, x, zp, dst + x * QB);
}

/* ---- the output rows of one block ---- */

static inline __m256i
ld(const uint8_t *p)
{
  return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

#if defined(QK_DW_EVEX)
/* 16 channels in one zmm: their quads are one 64-byte load, a kernel row
 * one vpdpbusd. fp32 requantisation as qk_requant_one: the float clamp at
 * the top only (rounding commutes with a clamp to whole numbers), the
 * bottom one in int32 (a sum below INT32_MIN as a float converts to
 * INT32_MIN, still below), stored through a mask. */
static inline __attribute__((always_inline)) void
row_block(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
          size_t out_w, const uint8_t *blk, bool split,
          const struct qk_requant *rq, size_t c0, size_t cc, size_t c,
          uint8_t *out)
{
  const __m512i b = _mm512_loadu_si512(blk);
  const uint8_t *wa = blk + QK_DW_CB * 4, *wb = wa + 3 * QB;
  const __m512i wa0 = _mm512_loadu_si512(wa);
  const __m512i wa1 = _mm512_loadu_si512(wa + QB);
  const __m512i wa2 = _mm512_loadu_si512(wa + 2 * QB);
  const __m512i wb0 = _mm512_loadu_si512(wb);
  const __m512i wb1 = _mm512_loadu_si512(wb + QB);
  const __m512i wb2 = _mm512_loadu_si512(wb + 2 * QB);
  const __mmask16 m = (__mmask16)((1u << cc) - 1);
  const bool fp32 = rq->mode == QK_RQ_FP32;
  /* the scales end at channel c - 1: a masked load */
  const __m512 scale = fp32 ? _mm512_maskz_loadu_ps(m, rq->scale + c0)
                            : _mm512_setzero_ps();
  const __m512 hi = _mm512_set1_ps((float)(rq->hi - rq->zp));
  const __m512i zp = _mm512_set1_epi32(rq->zp);
  const __m512i lo = _mm512_set1_epi32(rq->lo);
  for (size_t x = 0; x < out_w; x++) {
    const size_t o = x * QB;
    const __m512i q0 = _mm512_loadu_si512(r0 + o);
    const __m512i q1 = _mm512_loadu_si512(r1 + o);
    const __m512i q2 = _mm512_loadu_si512(r2 + o);
    __m512i a = _mm512_dpbusd_epi32(b, q0, wa0);
    a = _mm512_dpbusd_epi32(a, q1, wa1);
    a = _mm512_dpbusd_epi32(a, q2, wa2);
    if (split) { /* a second chain, added at the end */
      __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q0, wb0);
      t = _mm512_dpbusd_epi32(t, q1, wb1);
      t = _mm512_dpbusd_epi32(t, q2, wb2);
      a = _mm512_add_epi32(a, t);
    }
    uint8_t *dst = out + x * c + c0;
    if (!fp32) {
      qk_avx2_requant_store(_mm512_castsi512_si256(a),
                            _mm512_extracti64x4_epi64(a, 1), rq, c0, cc,
                            dst);
      continue;
    }
    const __m512 f = _mm512_min_ps(
        _mm512_mul_ps(_mm512_cvtepi32_ps(a), scale), hi);
    const __m512i y =
        _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(f), zp), lo);
    _mm512_mask_cvtepi32_storeu_epi8(dst, m, y);
  }
}
#else
/* fp32 requantisation of 16 sums as qk_requant_one: the float clamp at the
 * top only (rounding commutes with a clamp to whole numbers; the bottom
 * one is the saturating packs and the byte max, below the sums that
 * convert to INT32_MIN). */
struct rq16 {
  __m256 s0, s1, hi;
  __m256i zp16;
  __m128i lo8, hi8;
};

static inline __m128i
rq16_apply(__m256i a0, __m256i a1, const struct rq16 *r)
{
  __m256 f0 = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a0), r->s0),
                            r->hi);
  __m256 f1 = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a1), r->s1),
                            r->hi);
  __m256i p = _mm256_packs_epi32(_mm256_cvtps_epi32(f0),
                                 _mm256_cvtps_epi32(f1));
  p = _mm256_permute4x64_epi64(_mm256_adds_epi16(p, r->zp16), 0xd8);
  __m128i y = _mm_packus_epi16(_mm256_castsi256_si128(p),
                               _mm256_extracti128_si256(p, 1));
  return _mm_min_epu8(_mm_max_epu8(y, r->lo8), r->hi8);
}

/* An output row of block c0 (cc channels) from the quads of its 3 input
 * rows r0..r2; split: the second weight set too. Inlined with split a
 * constant, so that each variant has its own loop. */
static inline __attribute__((always_inline)) void
row_block(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
          size_t out_w, const uint8_t *blk, bool split,
          const struct qk_requant *rq, size_t c0, size_t cc, size_t c,
          uint8_t *out)
{
  const __m256i b0 = ld(blk), b1 = ld(blk + 32);
  const uint8_t *wa = blk + QK_DW_CB * 4, *wb = wa + 3 * QB;
  const __m256i wa00 = ld(wa), wa01 = ld(wa + 32);
  const __m256i wa10 = ld(wa + QB), wa11 = ld(wa + QB + 32);
  const __m256i wa20 = ld(wa + 2 * QB), wa21 = ld(wa + 2 * QB + 32);
  struct rq16 r;
  const bool fp32 = rq->mode == QK_RQ_FP32;
  r.s0 = r.s1 = _mm256_setzero_ps();
  if (fp32) { /* the scales end at channel c - 1: masked loads */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i n = _mm256_set1_epi32((int32_t)cc);
    r.s0 = _mm256_maskload_ps(rq->scale + c0,
                              _mm256_cmpgt_epi32(n, lane));
    r.s1 = _mm256_maskload_ps(
        rq->scale + c0 + 8,
        _mm256_cmpgt_epi32(n, _mm256_add_epi32(lane, _mm256_set1_epi32(8))));
  }
  r.hi = _mm256_set1_ps((float)(rq->hi - rq->zp));
  r.zp16 = _mm256_set1_epi16((int16_t)rq->zp);
  r.lo8 = _mm_set1_epi8((char)rq->lo);
  r.hi8 = _mm_set1_epi8((char)rq->hi);
  for (size_t x = 0; x < out_w; x++) {
    const size_t o = x * QB;
    const __m256i x00 = ld(r0 + o), x01 = ld(r0 + o + 32);
    const __m256i x10 = ld(r1 + o), x11 = ld(r1 + o + 32);
    const __m256i x20 = ld(r2 + o), x21 = ld(r2 + o + 32);
    __m256i a0 = DPBUSD(b0, x00, wa00);
    __m256i a1 = DPBUSD(b1, x01, wa01);
    a0 = DPBUSD(a0, x10, wa10);
    a1 = DPBUSD(a1, x11, wa11);
    a0 = DPBUSD(a0, x20, wa20);
    a1 = DPBUSD(a1, x21, wa21);
    if (split) { /* a second chain, added at the end */
      __m256i s0 = DPBUSD(_mm256_setzero_si256(), x00, ld(wb));
      __m256i s1 = DPBUSD(_mm256_setzero_si256(), x01, ld(wb + 32));
      s0 = DPBUSD(s0, x10, ld(wb + QB));
      s1 = DPBUSD(s1, x11, ld(wb + QB + 32));
      s0 = DPBUSD(s0, x20, ld(wb + 2 * QB));
      s1 = DPBUSD(s1, x21, ld(wb + 2 * QB + 32));
      a0 = _mm256_add_epi32(a0, s0);
      a1 = _mm256_add_epi32(a1, s1);
    }
    uint8_t *dst = out + x * c + c0;
    if (!fp32) {
      qk_avx2_requant_store(a0, a1, rq, c0, cc, dst);
      continue;
    }
    const __m128i y = rq16_apply(a0, a1, &r);
    if (cc == QK_DW_CB) {
      _mm_storeu_si128((__m128i *)(void *)dst, y);
    } else {
      uint8_t tmp[QK_DW_CB];
      _mm_storeu_si128((__m128i *)(void *)tmp, y);
      memcpy(dst, tmp, cc);
    }
  }
}
#endif

/* Output rows y0..y1 of block c0: for each, the input rows it reads that
 * are not built yet, then the row. The block's ring of 3 rows of quads
 * (and its weights, in registers) stays in L1 from building to use. */
static inline __attribute__((always_inline)) void
layer_block(const struct qk_dw_shape *sh, size_t y0, size_t y1,
            const uint8_t *in, uint8_t zp, const uint8_t *blk, bool split,
            const struct qk_requant *rq, size_t c0, uint8_t *const ring[3],
            const uint8_t *zrow, uint8_t *out)
{
  const size_t c = sh->c, out_w = sh->out_w;
  const size_t cc = c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB;
  const uint8_t *in_end = in + sh->in_h * sh->in_w * c;
  size_t next = 0; /* input rows below it are in the ring (as needed) */
  for (size_t y = y0; y < y1; y++) {
    const size_t top = y * sh->stride; /* + pad_top */
    size_t first = top > sh->pad_top ? top - sh->pad_top : 0;
    first = first > next ? first : next;
    size_t end = top + 3 > sh->pad_top ? top + 3 - sh->pad_top : 0;
    end = end < sh->in_h ? end : sh->in_h;
    for (size_t iy = first; iy < end; iy++)
      build_quads(sh, in + iy * sh->in_w * c, in_end, c0, zp, ring[iy % 3]);
    next = end > next ? end : next;
    const uint8_t *rows[3];
    for (size_t ky = 0; ky < 3; ky++) {
      const size_t iy = top + ky;
      rows[ky] = iy < sh->pad_top || iy - sh->pad_top >= sh->in_h
                     ? zrow
                     : ring[(iy - sh->pad_top) % 3];
    }
    row_block(rows[0], rows[1], rows[2], out_w, blk, split, rq, c0, cc, c,
              out + y * out_w * c);
  }
}

void
FN(qk_dwconv)(const struct qk_dw_shape *sh, size_t y0, size_t y1,
              const uint8_t *in, int32_t in_zp, const void *packed,
              const struct qk_requant *rq, uint8_t *out, void *scratch)
{
  int32_t kind;
  memcpy(&kind, packed, sizeof kind);
  const uint8_t *pk = (const uint8_t *)packed + HEADER;
  if (kind == QDW4_QDW2) {
    qk_dwconv__avx2(sh, y0, y1, in, in_zp, pk, rq, out, scratch);
    return;
  }
  /* block by block: each block's weights and rows of quads stay in
   * registers and L1 over all its rows */
  const size_t row_bytes = sh->out_w * QB;
  uint8_t *const ring[3] = { scratch, (uint8_t *)scratch + row_bytes,
                             (uint8_t *)scratch + 2 * row_bytes };
  uint8_t *zrow = (uint8_t *)scratch + 3 * row_bytes;
  memset(zrow, in_zp, row_bytes);
  for (size_t b = 0, nb = blocks(sh->c); b < nb; b++) {
    const uint8_t *blk = pk + b * BLOCK;
    int32_t split;
    memcpy(&split, blk + SPLIT_AT, sizeof split);
    if (split)
      layer_block(sh, y0, y1, in, (uint8_t)in_zp, blk, true, rq,
                  b * QK_DW_CB, ring, zrow, out);
    else
      layer_block(sh, y0, y1, in, (uint8_t)in_zp, blk, false, rq,
                  b * QK_DW_CB, ring, zrow, out);
  }
}
