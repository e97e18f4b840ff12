/* streamsight — AVX2 integer kernels, twins of qkernels-ref.c (contracts in
 * qkernels.h): the same bytes out for every input. Built with -mavx2 -mfma;
 * reached only through qk_ops_get(), which checks the CPU.
 *
 * GEMM: activation bytes widened to int16 once per row, pairs of them
 * broadcast against pairs of int16 weights with vpmaddwd (each product
 * <= 255 * 255, each pair sum < 2^31: no saturation), int32 sums wrapping
 * as the reference's. Requantisation in fp32: (float)acc * scale, clamped,
 * vcvtps2dq (round to nearest even, the MXCSR default, as lrintf), the
 * zero point added; gemmlowp requantisation falls back to the scalar
 * function on the int32 sums.
 */
#include "qkernels-avx2.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "qkernels-avx2-util.h"
#include "qkernels-ref.h"

/* Longest K whose widened rows fit the kernel's stack buffer. */
#define QK_AVX2_KMAX 4096
#define MR 4

/* Widens row a (k bytes) to int16, with one zero past k for an odd k. */
static void
widen(const uint8_t *a, size_t k, int16_t *w)
{
  size_t i = 0;
  for (; i + 16 <= k; i += 16)
    _mm256_storeu_si256(
        (__m256i *)(void *)(w + i),
        _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a + i))));
  for (; i < k; i++)
    w[i] = a[i];
  w[k] = 0;
}

void
qk_gemm__avx2(size_t m, size_t n, size_t k, const uint8_t *in,
              size_t in_stride, const void *packed,
              const struct qk_requant *rq, uint8_t *out, size_t out_stride)
{
  if (k > QK_AVX2_KMAX) {
    qk_gemm__ref(m, n, k, in, in_stride, packed, rq, out, out_stride);
    return;
  }
  const size_t kp = (k + 1) / 2;
  const size_t block = QK_GEMM_NR * 4 + kp * QK_GEMM_NR * 2 * 2;
  int16_t a16[MR][QK_AVX2_KMAX + 2] __attribute__((aligned(32)));
  for (size_t i0 = 0; i0 < m; i0 += MR) {
    const size_t mr = m - i0 < MR ? m - i0 : MR;
    /* rows past m repeat the first: computed, never stored */
    for (size_t r = 0; r < MR; r++)
      widen(in + (i0 + (r < mr ? r : 0)) * in_stride, k, a16[r]);
    for (size_t n0 = 0; n0 < n; n0 += QK_GEMM_NR) {
      const uint8_t *p = (const uint8_t *)packed + (n0 / QK_GEMM_NR) * block;
      const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
      const __m256i b1 =
          _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
      const int16_t *pw = (const int16_t *)(const void *)(p + 64);
      /* named accumulators: GCC keeps an array of them in memory */
      __m256i c00 = b0, c01 = b1, c10 = b0, c11 = b1;
      __m256i c20 = b0, c21 = b1, c30 = b0, c31 = b1;
      for (size_t q = 0; q < kp; q++) {
        const __m256i w0 =
            _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 32));
        const __m256i w1 = _mm256_loadu_si256(
            (const __m256i *)(const void *)(pw + q * 32 + 16));
        int32_t g0, g1, g2, g3;
        memcpy(&g0, a16[0] + 2 * q, 4);
        memcpy(&g1, a16[1] + 2 * q, 4);
        memcpy(&g2, a16[2] + 2 * q, 4);
        memcpy(&g3, a16[3] + 2 * q, 4);
        __m256i v = _mm256_set1_epi32(g0);
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(v, w0));
        c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(v, w1));
        v = _mm256_set1_epi32(g1);
        c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(v, w0));
        c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(v, w1));
        v = _mm256_set1_epi32(g2);
        c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(v, w0));
        c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(v, w1));
        v = _mm256_set1_epi32(g3);
        c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(v, w0));
        c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(v, w1));
      }
      const size_t nn = n - n0 < QK_GEMM_NR ? n - n0 : QK_GEMM_NR;
      uint8_t *o = out + i0 * out_stride + n0;
      qk_avx2_requant_store(c00, c01, rq, n0, nn, o);
      if (mr > 1)
        qk_avx2_requant_store(c10, c11, rq, n0, nn, o + out_stride);
      if (mr > 2)
        qk_avx2_requant_store(c20, c21, rq, n0, nn, o + 2 * out_stride);
      if (mr > 3)
        qk_avx2_requant_store(c30, c31, rq, n0, nn, o + 3 * out_stride);
    }
  }
}

/* ---- depthwise ----
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
  if (taps > 64) {
    qk_dwconv_row__ref(c, in_w, rows, kh, kw, stride, pad_left, out_w, in_zp,
                       packed, rq, out);
    return;
  }
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
  const uint8_t *src[64];
  size_t cmask[64]; /* ~0: src[t] + c0; 0: the zero-point bytes */
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

size_t
qk_dw_packed_size__avx2(size_t c, size_t kh, size_t kw)
{
  return dw2_packed_size(c, kh * kw);
}

void
qk_dw_pack__avx2(size_t c, size_t kh, size_t kw, const int16_t *w,
                 const int32_t *bias, int32_t in_zp, void *packed)
{
  (void)in_zp; /* the kernel subtracts it */
  dw2_pack(c, kh * kw, w, bias, packed);
}

void
qk_dwconv__avx2(const struct qk_dw_shape *sh, size_t y0, size_t y1,
                const uint8_t *in, int32_t in_zp, const void *packed,
                const struct qk_requant *rq, uint8_t *out, void *scratch)
{
  (void)scratch;
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

void
qk_add__avx2(size_t n, const uint8_t *a, const uint8_t *b,
             const struct qk_add_params *p, uint8_t *out)
{
  if (p->mode != QK_ADD_XNNPACK) {
    qk_add__ref(n, a, b, p, out);
    return;
  }
  const __m256i bias = _mm256_set1_epi32(p->bias);
  const __m256i am = _mm256_set1_epi32(p->a_mult);
  const __m256i bm = _mm256_set1_epi32(p->b_mult);
  const __m256i zp = _mm256_set1_epi32(p->out_zp);
  const __m256i lo = _mm256_set1_epi32(p->lo), hi = _mm256_set1_epi32(p->hi);
  const __m128i sh = _mm_cvtsi32_si128(p->shift);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
    __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
    __m256i y[2];
    for (int h = 0; h < 2; h++) {
      __m256i x = _mm256_cvtepu8_epi32(h ? _mm_srli_si128(va, 8) : va);
      __m256i z = _mm256_cvtepu8_epi32(h ? _mm_srli_si128(vb, 8) : vb);
      __m256i acc = _mm256_add_epi32(
          bias, _mm256_add_epi32(_mm256_mullo_epi32(x, am),
                                 _mm256_mullo_epi32(z, bm)));
      acc = _mm256_add_epi32(_mm256_sra_epi32(acc, sh), zp);
      y[h] = _mm256_min_epi32(_mm256_max_epi32(acc, lo), hi);
    }
    __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(y[0], y[1]),
                                           0xd8);
    _mm_storeu_si128((__m128i *)(void *)(out + i),
                     _mm_packus_epi16(_mm256_castsi256_si128(p16),
                                      _mm256_extracti128_si256(p16, 1)));
  }
  if (i < n)
    qk_add__ref(n - i, a + i, b + i, p, out + i);
}
