/* streamsight — AVX2 depthwise convolutions, twins of qk_dwconv__ref
 * (contract in qkernels.h): the same bytes out. Built with -mavx2 -mfma;
 * reached only through qk_ops_get(), which checks the CPU.
 *
 * 3x3 kernels (every depthwise layer of the MobileNets) run over the whole
 * layer, block of 16 channels by block: each input row is converted once
 * into "pairs" (below) that every output row reading it shares, a kernel
 * row then being 2 vpmaddwd per 8 channels. Other kernels run row by row
 * on "qdw2" (the second half of this file).
 *
 * "qdwa" layout: a 64-byte header (int32 kind: DWA_*), then
 *   DWA_ROWS: "qdw2" (kernels of up to 64 taps);
 *   DWA_REF: the reference's "qdw", run by its kernel (more taps: 5x13 and
 *   up, which the loader takes up to 15x15 and no MobileNet has);
 *   DWA_PAIRS: per block of 16 channels (zero-padded), 448 bytes, the
 *   channels in the order of vpunpck*wd's lanes: "lo" = channels 0-3 and
 *   8-11, "hi" = 4-7 and 12-15:
 *     int32 bias[c] - in_zp * sum_t w[t][c]: lo, then hi (8 each);
 *     per kernel row ky, 4 x 8 int16 pairs: (w[ky][0], w[ky][1]) lo and
 *     hi, then (w[ky][2], 0) lo and hi.
 * The zero point folded into the bias, the kernel multiplies raw bytes
 * widened to int16 (padding: the zero point): each vpmaddwd pair is at most
 * 2 * 255 * 255, exact. Scratch: rows of pairs of one block, out_w columns
 * x 128 bytes (for column x: (in[ix], in[ix+1]) lo and hi, then (in[ix+2],
 * 0) lo and hi, ix = x * stride - pad_left): one of the zero point and a
 * ring of 3 input rows.
 */
#include "qkernels-avx2.h"

#include <assert.h>
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "qkernels-avx2-util.h"
#include "qkernels-ref.h"

enum { DWA_ROWS = 0, DWA_PAIRS, DWA_REF };

/* The most taps the row kernel takes (its tables of tap pointers). */
#define DW2_TAPS_MAX 64

#define HEADER 64
#define PB 128                           /* one column of a block's pairs */
#define PBLOCK (QK_DW_CB * 4 + 3 * PB)    /* bias, 3 kernel rows */

/* ---- any kernel, row by row ----
 *
 * "qdw2" layout, per block of QK_DW_CB = 16 channels (zero-padded):
 *   16 int32 bias[c0 + j]
 *   TP = ceil(T/2) tap pairs, each 32 int16: for the lanes of vpunpcklwd
 *   (channels 0-3 and 8-11) then of vpunpckhwd (4-7 and 12-15), the pair
 *   w[2p][c], w[2p+1][c] (0 for the missing tap of an odd T)
 * so that a pair of taps is two vpmaddwd on the interleaved inputs, each
 * product at most 255 * 255 and each pair sum < 2^31 (exact). */

/* Channel of lane L (0..7) of the low and high unpack halves. */
static size_t
lane_ch(int half, size_t lane)
{
  return (half ? 4 : 0) + (lane < 4 ? lane : lane + 4);
}

static size_t
dw2_packed_size(size_t c, size_t taps)
{
  return (c + QK_DW_CB - 1) / QK_DW_CB * (QK_DW_CB * 4 + (taps + 1) / 2 * 64);
}

static void
dw2_pack(size_t c, size_t taps, const int16_t *w, const int32_t *bias,
         void *packed)
{
  const size_t tp = (taps + 1) / 2;
  uint8_t *p = packed;
  for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB) {
    int32_t *b = (int32_t *)(void *)p;
    int16_t *pw = (int16_t *)(void *)(p + QK_DW_CB * 4);
    for (size_t j = 0; j < QK_DW_CB; j++)
      b[j] = c0 + j < c ? bias[c0 + j] : 0;
    for (size_t q = 0; q < tp; q++)
      for (int half = 0; half < 2; half++)
        for (size_t lane = 0; lane < 8; lane++)
          for (size_t h = 0; h < 2; h++) {
            size_t ch = c0 + lane_ch(half, lane), t = 2 * q + h;
            pw[q * 32 + (size_t)half * 16 + lane * 2 + h] =
                ch < c && t < taps ? w[t * c + ch] : 0;
          }
    p += QK_DW_CB * 4 + tp * 64;
  }
}

/* Longest input row (in_w * c + 16 values) the widened path takes: 3 rows
 * of int16 on the stack, 72 KiB (MobileNetV2 at 224 px needs 10768: its
 * 112 x 96 rows). Larger rows and kernels go the byte path below. */
#define QK_DW_WIDE_MAX 12288

/* The depthwise row with its input rows widened to int16 minus the zero
 * point once per call (each input value then serves kw taps without being
 * converted again: the byte-to-int16 shuffles were the bottleneck). Same
 * arithmetic and layout as below. */
static void
dw_rows_wide(size_t c, size_t in_w, const uint8_t *const *rows, size_t kh,
             size_t kw, size_t stride, size_t pad_left, size_t out_w,
             int32_t in_zp, const void *packed, const struct qk_requant *rq,
             uint8_t *out)
{
  const size_t taps = kh * kw, tp = (taps + 1) / 2;
  const size_t block = QK_DW_CB * 4 + tp * 64;
  const size_t n = in_w * c;
  int16_t wide[3][QK_DW_WIDE_MAX] __attribute__((aligned(32)));
  static const int16_t zeros[QK_DW_CB] __attribute__((aligned(32)));
  const __m256i zp16 = _mm256_set1_epi16((int16_t)in_zp);
  for (size_t ky = 0; ky < kh; ky++) {
    if (!rows[ky])
      continue;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
      _mm256_store_si256(
          (__m256i *)(void *)(wide[ky] + i),
          _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128(
                               (const __m128i *)(const void *)(rows[ky] + i))),
                           zp16));
    for (; i < n; i++)
      wide[ky][i] = (int16_t)(rows[ky][i] - in_zp);
    /* a short last block reads up to 15 values past the row: zeros, times
     * zero weights */
    memset(wide[ky] + n, 0, QK_DW_CB * sizeof(int16_t));
  }
  const int16_t *src[65];
  size_t cmask[65];
  for (size_t x = 0; x < out_w; x++) {
    for (size_t ky = 0; ky < kh; ky++)
      for (size_t kx = 0; kx < kw; kx++) {
        size_t t = ky * kw + kx, ix = x * stride + kx;
        bool in = rows[ky] && ix >= pad_left && ix - pad_left < in_w;
        src[t] = in ? wide[ky] + (ix - pad_left) * c : zeros;
        cmask[t] = in ? ~(size_t)0 : 0;
      }
    src[taps] = zeros;
    cmask[taps] = 0;
    for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB) {
      const size_t cc = c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB;
      const uint8_t *p = (const uint8_t *)packed + (c0 / QK_DW_CB) * block;
      const int16_t *pw = (const int16_t *)(const void *)(p + QK_DW_CB * 4);
      __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
      for (size_t q = 0; q < tp; q++) {
        const __m256i x0 = _mm256_loadu_si256(
            (const __m256i *)(const void *)(src[2 * q] +
                                            (c0 & cmask[2 * q])));
        const __m256i x1 = _mm256_loadu_si256(
            (const __m256i *)(const void *)(src[2 * q + 1] +
                                            (c0 & cmask[2 * q + 1])));
        const __m256i w0 =
            _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 32));
        const __m256i w1 = _mm256_loadu_si256(
            (const __m256i *)(const void *)(pw + q * 32 + 16));
        lo = _mm256_add_epi32(
            lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), w0));
        hi = _mm256_add_epi32(
            hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), w1));
      }
      const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
      const __m256i b1 =
          _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
      __m256i a0 =
          _mm256_add_epi32(b0, _mm256_permute2x128_si256(lo, hi, 0x20));
      __m256i a1 =
          _mm256_add_epi32(b1, _mm256_permute2x128_si256(lo, hi, 0x31));
      qk_avx2_requant_store(a0, a1, rq, c0, cc, out + x * c + c0);
    }
  }
}

static void
dwconv_row(size_t c, size_t in_w, const uint8_t *const *rows,
                    size_t kh, size_t kw, size_t stride, size_t pad_left,
                    size_t out_w, int32_t in_zp, const void *packed,
                    const struct qk_requant *rq, uint8_t *out)
{
  const size_t taps = kh * kw;
  assert(taps <= DW2_TAPS_MAX); /* more are packed DWA_REF */
  const size_t tp = (taps + 1) / 2;
  const size_t block = QK_DW_CB * 4 + tp * 64;
  if (kh <= 3 && in_w * c + QK_DW_CB <= QK_DW_WIDE_MAX) {
    dw_rows_wide(c, in_w, rows, kh, kw, stride, pad_left, out_w, in_zp,
                 packed, rq, out);
    return;
  }
  const __m256i zp16 = _mm256_set1_epi16((int16_t)in_zp);
  /* Padding taps read 16 bytes of the zero point, so every tap of every
   * pixel is summed (its x - zp is then 0) and the loop has no branch. */
  uint8_t zpbuf[QK_DW_CB];
  memset(zpbuf, in_zp, sizeof zpbuf);
  const uint8_t *src[DW2_TAPS_MAX];
  size_t cmask[DW2_TAPS_MAX]; /* ~0: src[t] + c0; 0: the zero-point bytes */
  for (size_t x = 0; x < out_w; x++) {
    for (size_t ky = 0; ky < kh; ky++)
      for (size_t kx = 0; kx < kw; kx++) {
        size_t t = ky * kw + kx, ix = x * stride + kx;
        bool in = rows[ky] && ix >= pad_left && ix - pad_left < in_w;
        src[t] = in ? rows[ky] + (ix - pad_left) * c : zpbuf;
        cmask[t] = in ? ~(size_t)0 : 0;
      }
    if (taps % 2) { /* the odd tap's partner: weight 0, any bytes */
      src[taps] = zpbuf;
      cmask[taps] = 0;
    }
    for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB) {
      const size_t cc = c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB;
      const uint8_t *p = (const uint8_t *)packed + (c0 / QK_DW_CB) * block;
      const int16_t *pw = (const int16_t *)(const void *)(p + QK_DW_CB * 4);
      __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
      for (size_t q = 0; q < tp; q++) {
        __m256i x0, x1;
        const uint8_t *s0 = src[2 * q] + (c0 & cmask[2 * q]);
        const uint8_t *s1 = src[2 * q + 1] + (c0 & cmask[2 * q + 1]);
        if (cc == QK_DW_CB) {
          x0 = _mm256_cvtepu8_epi16(
              _mm_loadu_si128((const __m128i *)(const void *)s0));
          x1 = _mm256_cvtepu8_epi16(
              _mm_loadu_si128((const __m128i *)(const void *)s1));
        } else { /* a short block: the bytes past c as the zero point */
          uint8_t t0[QK_DW_CB], t1[QK_DW_CB];
          memset(t0, in_zp, sizeof t0);
          memset(t1, in_zp, sizeof t1);
          memcpy(t0, s0, cmask[2 * q] ? cc : QK_DW_CB);
          memcpy(t1, s1, cmask[2 * q + 1] ? cc : QK_DW_CB);
          x0 = _mm256_cvtepu8_epi16(
              _mm_loadu_si128((const __m128i *)(const void *)t0));
          x1 = _mm256_cvtepu8_epi16(
              _mm_loadu_si128((const __m128i *)(const void *)t1));
        }
        x0 = _mm256_sub_epi16(x0, zp16);
        x1 = _mm256_sub_epi16(x1, zp16);
        const __m256i w0 =
            _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 32));
        const __m256i w1 = _mm256_loadu_si256(
            (const __m256i *)(const void *)(pw + q * 32 + 16));
        lo = _mm256_add_epi32(
            lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), w0));
        hi = _mm256_add_epi32(
            hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), w1));
      }
      /* lo: channels 0-3, 8-11; hi: 4-7, 12-15 */
      const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
      const __m256i b1 =
          _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
      __m256i a0 = _mm256_add_epi32(b0, _mm256_permute2x128_si256(lo, hi, 0x20));
      __m256i a1 = _mm256_add_epi32(b1, _mm256_permute2x128_si256(lo, hi, 0x31));
      qk_avx2_requant_store(a0, a1, rq, c0, cc, out + x * c + c0);
    }
  }
}

/* Rows y0..y1 of any kernel, row by row ("qdw2"). */
static void
dw2_layer(const struct qk_dw_shape *sh, size_t y0, size_t y1,
          const uint8_t *in, int32_t in_zp, const void *packed,
          const struct qk_requant *rq, uint8_t *out)
{
  const uint8_t *rows[QK_DW_KMAX];
  if (sh->kh > QK_DW_KMAX)
    return; /* the engine refuses such layers at creation */
  for (size_t y = y0; y < y1; y++) {
    qk_dw_rows(sh, in, y, rows);
    dwconv_row(sh->c, sh->in_w, rows, sh->kh, sh->kw, sh->stride,
               sh->pad_left, sh->out_w, in_zp, packed, rq,
               out + y * sh->out_w * sh->c);
  }
}


/* ---- 3x3 over the layer, on pairs ---- */

static size_t
blocks(size_t c)
{
  return (c + QK_DW_CB - 1) / QK_DW_CB;
}

/* Channel of lane i (0..7) of the "lo" (h = 0) or "hi" (h = 1) vectors. */
static size_t
pair_ch(size_t h, size_t i)
{
  return (i < 4 ? i : i + 4) + 4 * h;
}

static void
pairs_pack(size_t c, const int16_t *w, const int32_t *bias, int32_t in_zp,
           uint8_t *p)
{
  memset(p, 0, blocks(c) * PBLOCK);
  for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB, p += PBLOCK) {
    int32_t *b = (int32_t *)(void *)p;
    int16_t *pw = (int16_t *)(void *)(p + QK_DW_CB * 4);
    for (size_t h = 0; h < 2; h++)
      for (size_t i = 0; i < 8; i++) {
        const size_t ch = c0 + pair_ch(h, i);
        if (ch >= c)
          continue;
        int32_t sum = 0;
        for (size_t t = 0; t < 9; t++)
          sum += w[t * c + ch];
        /* wrapping as the int32 sums of the reference */
        b[8 * h + i] =
            (int32_t)((uint32_t)bias[ch] - (uint32_t)in_zp * (uint32_t)sum);
        for (size_t ky = 0; ky < 3; ky++) {
          int16_t *r = pw + ky * (PB / 2);
          r[h * 16 + 2 * i] = w[(3 * ky) * c + ch];
          r[h * 16 + 2 * i + 1] = w[(3 * ky + 1) * c + ch];
          r[32 + h * 16 + 2 * i] = w[(3 * ky + 2) * c + ch];
        }
      }
  }
}

static inline __m256i
ldv(const void *p)
{
  return _mm256_loadu_si256((const __m256i *)p);
}

static inline void
stv(void *p, __m256i v)
{
  _mm256_storeu_si256((__m256i *)p, v);
}

/* The pairs of one column from the 16 channels of its 3 taps. */
static inline void
pairs_store(__m128i t0, __m128i t1, __m128i t2, uint8_t *d)
{
  const __m256i a = _mm256_cvtepu8_epi16(t0), b = _mm256_cvtepu8_epi16(t1);
  const __m256i cc = _mm256_cvtepu8_epi16(t2);
  const __m256i z = _mm256_setzero_si256();
  stv(d, _mm256_unpacklo_epi16(a, b));
  stv(d + 32, _mm256_unpackhi_epi16(a, b));
  stv(d + 64, _mm256_unpacklo_epi16(cc, z));
  stv(d + 96, _mm256_unpackhi_epi16(cc, z));
}

static inline __m128i
ld16(const uint8_t *p)
{
  return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* Column x, any x: taps in the padding read the zero point, a tap whose 16
 * bytes would run past the input (a short last block) reads a copy of its
 * channels. */
static void
pairs_column(const struct qk_dw_shape *sh, const uint8_t *row,
             const uint8_t *in_end, size_t c0, size_t x, uint8_t zp,
             uint8_t *dst)
{
  const size_t c = sh->c;
  __m128i v[3];
  for (size_t t = 0; t < 3; t++) {
    const size_t ix = x * sh->stride + t; /* + pad_left, unsigned */
    v[t] = _mm_set1_epi8((char)zp);
    if (ix >= sh->pad_left && ix - sh->pad_left < sh->in_w) {
      const uint8_t *src = row + (ix - sh->pad_left) * c + c0;
      if (src + QK_DW_CB <= in_end) {
        v[t] = ld16(src);
      } else {
        uint8_t tmp[QK_DW_CB];
        memset(tmp, zp, sizeof tmp);
        memcpy(tmp, src, c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB);
        v[t] = ld16(tmp);
      }
    }
  }
  pairs_store(v[0], v[1], v[2], dst);
}

/* The pairs of block c0 of input row `row` into dst: loads straight from
 * the row over the columns [xa, xb) whose taps are inside it and whose
 * 16-byte reads stay inside the input, pairs_column elsewhere. */
static void
build_pairs(const struct qk_dw_shape *sh, const uint8_t *row,
            const uint8_t *in_end, size_t c0, uint8_t zp, uint8_t *dst)
{
  const size_t c = sh->c, s = sh->stride, pl = sh->pad_left;
  const size_t in_w = sh->in_w, out_w = sh->out_w;
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
    pairs_column(sh, row, in_end, c0, x, zp, dst + x * PB);
  if (x < xb) { /* x * s >= pl: tap 0 of column x is inside */
    const uint8_t *p = row + (x * s - pl) * c + c0;
    for (; x < xb; x++, p += s * c)
      pairs_store(ld16(p), ld16(p + c), ld16(p + 2 * c), dst + x * PB);
  }
  for (; x < out_w; x++)
    pairs_column(sh, row, in_end, c0, x, zp, dst + x * PB);
}

/* An output row of block c0 (cc channels) from the pairs of its 3 input
 * rows. fp32 requantisation as qk_requant_one: the float clamp at the top
 * only (rounding commutes with a clamp to whole numbers; the bottom one is
 * the saturating packs and the byte max, below the sums that convert to
 * INT32_MIN). The lanes' channel order makes vpackssdw's output natural. */
static void
pairs_row(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
          size_t out_w, const uint8_t *blk, const struct qk_requant *rq,
          size_t c0, size_t cc, size_t c, uint8_t *out)
{
  const __m256i b_lo = ldv(blk), b_hi = ldv(blk + 32);
  const uint8_t *pw = blk + QK_DW_CB * 4;
  const __m256i w0a = ldv(pw), w0b = ldv(pw + 32), w0c = ldv(pw + 64),
                w0d = ldv(pw + 96);
  const __m256i w1a = ldv(pw + PB), w1b = ldv(pw + PB + 32),
                w1c = ldv(pw + PB + 64), w1d = ldv(pw + PB + 96);
  const __m256i w2a = ldv(pw + 2 * PB), w2b = ldv(pw + 2 * PB + 32),
                w2c = ldv(pw + 2 * PB + 64), w2d = ldv(pw + 2 * PB + 96);
  const bool fp32 = rq->mode == QK_RQ_FP32;
  __m256 s_lo = _mm256_setzero_ps(), s_hi = _mm256_setzero_ps();
  if (fp32) { /* the scales end at channel c - 1: masked loads */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i n = _mm256_set1_epi32((int32_t)cc);
    const __m256 s0 = _mm256_maskload_ps(rq->scale + c0,
                                         _mm256_cmpgt_epi32(n, lane));
    const __m256 s1 = _mm256_maskload_ps(
        rq->scale + c0 + 8,
        _mm256_cmpgt_epi32(n, _mm256_add_epi32(lane, _mm256_set1_epi32(8))));
    s_lo = _mm256_permute2f128_ps(s0, s1, 0x20);
    s_hi = _mm256_permute2f128_ps(s0, s1, 0x31);
  }
  const __m256 hi = _mm256_set1_ps((float)(rq->hi - rq->zp));
  const __m256i zp16 = _mm256_set1_epi16((int16_t)rq->zp);
  const __m128i lo8 = _mm_set1_epi8((char)rq->lo);
  const __m128i hi8 = _mm_set1_epi8((char)rq->hi);
  for (size_t x = 0; x < out_w; x++) {
    const size_t o = x * PB;
    __m256i lo = _mm256_add_epi32(b_lo, _mm256_madd_epi16(ldv(r0 + o), w0a));
    __m256i hh = _mm256_add_epi32(b_hi, _mm256_madd_epi16(ldv(r0 + o + 32),
                                                          w0b));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(ldv(r0 + o + 64), w0c));
    hh = _mm256_add_epi32(hh, _mm256_madd_epi16(ldv(r0 + o + 96), w0d));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(ldv(r1 + o), w1a));
    hh = _mm256_add_epi32(hh, _mm256_madd_epi16(ldv(r1 + o + 32), w1b));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(ldv(r1 + o + 64), w1c));
    hh = _mm256_add_epi32(hh, _mm256_madd_epi16(ldv(r1 + o + 96), w1d));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(ldv(r2 + o), w2a));
    hh = _mm256_add_epi32(hh, _mm256_madd_epi16(ldv(r2 + o + 32), w2b));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(ldv(r2 + o + 64), w2c));
    hh = _mm256_add_epi32(hh, _mm256_madd_epi16(ldv(r2 + o + 96), w2d));
    uint8_t *dst = out + x * c + c0;
    if (!fp32) { /* back to natural order for the scalar requantisation */
      qk_avx2_requant_store(_mm256_permute2x128_si256(lo, hh, 0x20),
                            _mm256_permute2x128_si256(lo, hh, 0x31), rq, c0,
                            cc, dst);
      continue;
    }
    const __m256 f_lo = _mm256_min_ps(
        _mm256_mul_ps(_mm256_cvtepi32_ps(lo), s_lo), hi);
    const __m256 f_hi = _mm256_min_ps(
        _mm256_mul_ps(_mm256_cvtepi32_ps(hh), s_hi), hi);
    /* lanes: channels 0-3, 4-7 | 8-11, 12-15 */
    const __m256i p = _mm256_adds_epi16(
        _mm256_packs_epi32(_mm256_cvtps_epi32(f_lo), _mm256_cvtps_epi32(f_hi)),
        zp16);
    __m128i y = _mm_packus_epi16(_mm256_castsi256_si128(p),
                                 _mm256_extracti128_si256(p, 1));
    y = _mm_min_epu8(_mm_max_epu8(y, lo8), hi8);
    if (cc == QK_DW_CB) {
      _mm_storeu_si128((__m128i *)(void *)dst, y);
    } else {
      uint8_t tmp[QK_DW_CB];
      _mm_storeu_si128((__m128i *)(void *)tmp, y);
      memcpy(dst, tmp, cc);
    }
  }
}

static void
pairs_layer(const struct qk_dw_shape *sh, size_t y0, size_t y1,
            const uint8_t *in, int32_t in_zp, const uint8_t *pk,
            const struct qk_requant *rq, uint8_t *out, uint8_t *scratch)
{
  const size_t c = sh->c, out_w = sh->out_w, rb = out_w * PB;
  const uint8_t *in_end = in + sh->in_h * sh->in_w * c;
  uint8_t *zrow = scratch, *ring = scratch + rb;
  /* the zero point's pairs: (zp, zp) and (zp, 0) in every column */
  const __m128i z = _mm_set1_epi8((char)in_zp);
  for (size_t x = 0; x < out_w; x++)
    pairs_store(z, z, z, zrow + x * PB);
  for (size_t b = 0, nb = blocks(c); b < nb; b++) {
    const size_t c0 = b * QK_DW_CB;
    const size_t cc = c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB;
    size_t next = 0; /* input rows below it are in the ring (as needed) */
    for (size_t y = y0; y < y1; y++) {
      const size_t top = y * sh->stride; /* + pad_top */
      size_t first = top > sh->pad_top ? top - sh->pad_top : 0;
      first = first > next ? first : next;
      size_t end = top + 3 > sh->pad_top ? top + 3 - sh->pad_top : 0;
      end = end < sh->in_h ? end : sh->in_h;
      for (size_t iy = first; iy < end; iy++)
        build_pairs(sh, in + iy * sh->in_w * c, in_end, c0, (uint8_t)in_zp,
                    ring + (iy % 3) * rb);
      next = end > next ? end : next;
      const uint8_t *rows[3];
      for (size_t ky = 0; ky < 3; ky++) {
        const size_t iy = top + ky;
        rows[ky] = iy < sh->pad_top || iy - sh->pad_top >= sh->in_h
                       ? zrow
                       : ring + ((iy - sh->pad_top) % 3) * rb;
      }
      pairs_row(rows[0], rows[1], rows[2], out_w, pk + b * PBLOCK, rq, c0,
                cc, c, out + y * out_w * c);
    }
  }
}

/* ---- the table's entries ---- */

size_t
qk_dw_packed_size__avx2(size_t c, size_t kh, size_t kw)
{
  const size_t pairs = blocks(c) * PBLOCK;
  const size_t rows = dw2_packed_size(c, kh * kw);
  const size_t ref = qk_dw_packed_size(c, kh * kw);
  const size_t most = pairs > rows ? pairs : rows;
  return HEADER + (most > ref ? most : ref);
}

void
qk_dw_pack__avx2(size_t c, size_t kh, size_t kw, const int16_t *w,
                 const int32_t *bias, int32_t in_zp, void *packed)
{
  uint8_t *p = packed;
  memset(p, 0, HEADER);
  const int32_t kind = kh == 3 && kw == 3          ? DWA_PAIRS
                       : kh * kw <= DW2_TAPS_MAX ? DWA_ROWS
                                                 : DWA_REF;
  memcpy(p, &kind, sizeof kind);
  if (kind == DWA_PAIRS)
    pairs_pack(c, w, bias, in_zp, p + HEADER);
  else if (kind == DWA_ROWS) /* the row kernel subtracts the zero point */
    dw2_pack(c, kh * kw, w, bias, p + HEADER);
  else
    qk_dw_pack__ref(c, kh, kw, w, bias, in_zp, p + HEADER);
}

size_t
qk_dw_scratch_size__avx2(const struct qk_dw_shape *sh)
{
  return sh->kh == 3 && sh->kw == 3 ? 4 * sh->out_w * PB : 0;
}

void
qk_dwconv__avx2(const struct qk_dw_shape *sh, size_t y0, size_t y1,
                const uint8_t *in, int32_t in_zp, const void *packed,
                const struct qk_requant *rq, uint8_t *out, void *scratch)
{
  int32_t kind;
  memcpy(&kind, packed, sizeof kind);
  const uint8_t *pk = (const uint8_t *)packed + HEADER;
  if (kind == DWA_PAIRS)
    pairs_layer(sh, y0, y1, in, in_zp, pk, rq, out, scratch);
  else if (kind == DWA_ROWS)
    dw2_layer(sh, y0, y1, in, in_zp, pk, rq, out);
  else
    qk_dwconv__ref(sh, y0, y1, in, in_zp, pk, rq, out, scratch);
}
