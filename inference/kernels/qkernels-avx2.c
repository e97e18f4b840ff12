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
#include <string.h>

#include "qkernels-avx2-util.h"
#include "qkernels-ref.h"

/* Longest K whose widened rows fit the kernel's stack buffer. */
#define QK_AVX2_KMAX 4096
#define MR 4

/* Requantises 16 sums (two vectors, channels j0..j0+15) to bytes. */
static inline __m128i
requant16(__m256i a0, __m256i a1, const struct qk_requant *rq, size_t j0)
{
  if (rq->mode == QK_RQ_FP32) {
    const __m256 lo = _mm256_set1_ps((float)(rq->lo - rq->zp));
    const __m256 hi = _mm256_set1_ps((float)(rq->hi - rq->zp));
    const __m256i zp = _mm256_set1_epi32(rq->zp);
    __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(a0),
                              _mm256_loadu_ps(rq->scale + j0));
    __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(a1),
                              _mm256_loadu_ps(rq->scale + j0 + 8));
    f0 = _mm256_min_ps(_mm256_max_ps(f0, lo), hi);
    f1 = _mm256_min_ps(_mm256_max_ps(f1, lo), hi);
    __m256i y0 = _mm256_add_epi32(_mm256_cvtps_epi32(f0), zp);
    __m256i y1 = _mm256_add_epi32(_mm256_cvtps_epi32(f1), zp);
    /* 0..255 after the clamp: the saturating packs change nothing */
    __m256i p16 = _mm256_packs_epi32(y0, y1); /* lanes: 0-3 8-11 4-7 12-15 */
    p16 = _mm256_permute4x64_epi64(p16, 0xd8);
    return _mm_packus_epi16(_mm256_castsi256_si128(p16),
                            _mm256_extracti128_si256(p16, 1));
  }
  int32_t acc[16];
  uint8_t out[16];
  _mm256_storeu_si256((__m256i *)(void *)acc, a0);
  _mm256_storeu_si256((__m256i *)(void *)(acc + 8), a1);
  for (int j = 0; j < 16; j++)
    out[j] = qk_requant_one(acc[j], rq, j0 + (size_t)j);
  return _mm_loadu_si128((const __m128i *)(const void *)out);
}

/* Stores the first n (1..16) bytes of v. */
static inline void
store_n(uint8_t *dst, __m128i v, size_t n)
{
  if (n == 16) {
    _mm_storeu_si128((__m128i *)(void *)dst, v);
    return;
  }
  uint8_t tmp[16];
  _mm_storeu_si128((__m128i *)(void *)tmp, v);
  memcpy(dst, tmp, n);
}

void
qk_avx2_requant_store(__m256i a0, __m256i a1, const struct qk_requant *rq,
                      size_t j0, size_t nn, uint8_t *dst)
{
  __m128i y;
  /* the scale array ends at the last channel: a short block reads its
   * scales through a full copy */
  if (nn == 16 || rq->mode != QK_RQ_FP32) {
    y = requant16(a0, a1, rq, j0);
  } else {
    float sc[16] = { 0 };
    memcpy(sc, rq->scale + j0, nn * sizeof *sc);
    struct qk_requant t = *rq;
    t.scale = sc;
    y = requant16(a0, a1, &t, 0);
  }
  store_n(dst, y, nn);
}

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
    for (size_t r = 0; r < mr; r++)
      widen(in + (i0 + r) * in_stride, k, a16[r]);
    for (size_t n0 = 0; n0 < n; n0 += QK_GEMM_NR) {
      const uint8_t *p = (const uint8_t *)packed + (n0 / QK_GEMM_NR) * block;
      const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
      const __m256i b1 =
          _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
      const int16_t *pw = (const int16_t *)(const void *)(p + 64);
      __m256i acc[MR][2];
      for (size_t r = 0; r < MR; r++) {
        acc[r][0] = b0;
        acc[r][1] = b1;
      }
      if (mr == MR) {
        for (size_t q = 0; q < kp; q++) {
          const __m256i w0 =
              _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 32));
          const __m256i w1 = _mm256_loadu_si256(
              (const __m256i *)(const void *)(pw + q * 32 + 16));
          for (size_t r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a16[r] + 2 * q, sizeof pair);
            const __m256i av = _mm256_set1_epi32(pair);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, w0));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, w1));
          }
        }
      } else {
        for (size_t q = 0; q < kp; q++) {
          const __m256i w0 =
              _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 32));
          const __m256i w1 = _mm256_loadu_si256(
              (const __m256i *)(const void *)(pw + q * 32 + 16));
          for (size_t r = 0; r < mr; r++) {
            int32_t pair;
            memcpy(&pair, a16[r] + 2 * q, sizeof pair);
            const __m256i av = _mm256_set1_epi32(pair);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, w0));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, w1));
          }
        }
      }
      const size_t nn = n - n0 < QK_GEMM_NR ? n - n0 : QK_GEMM_NR;
      for (size_t r = 0; r < mr; r++)
        qk_avx2_requant_store(acc[r][0], acc[r][1], rq, n0, nn,
                              out + (i0 + r) * out_stride + n0);
    }
  }
}

void
qk_dwconv_row__avx2(size_t c, size_t in_w, const uint8_t *const *rows,
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
  const size_t block = QK_DW_CB * 4 + taps * QK_DW_CB * 2;
  const __m256i zp = _mm256_set1_epi32(in_zp);
  /* Tap offsets of one output pixel: row pointer and column, -1 when
   * padding. */
  const uint8_t *src[64];
  for (size_t x = 0; x < out_w; x++) {
    size_t nt = 0;
    uint8_t tap_id[64];
    for (size_t ky = 0; ky < kh; ky++)
      for (size_t kx = 0; kx < kw; kx++) {
        size_t ix = x * stride + kx;
        if (!rows[ky] || ix < pad_left || ix - pad_left >= in_w)
          continue;
        src[nt] = rows[ky] + (ix - pad_left) * c;
        tap_id[nt++] = (uint8_t)(ky * kw + kx);
      }
    for (size_t c0 = 0; c0 < c; c0 += QK_DW_CB) {
      const uint8_t *p = (const uint8_t *)packed + (c0 / QK_DW_CB) * block;
      const int16_t *pw = (const int16_t *)(const void *)(p + QK_DW_CB * 4);
      __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
      __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
      const size_t cc = c - c0 < QK_DW_CB ? c - c0 : QK_DW_CB;
      for (size_t t = 0; t < nt; t++) {
        const int16_t *w = pw + (size_t)tap_id[t] * QK_DW_CB;
        __m128i v;
        if (cc == QK_DW_CB) {
          v = _mm_loadu_si128((const __m128i *)(const void *)(src[t] + c0));
        } else {
          uint8_t tmp[16] = { 0 };
          memcpy(tmp, src[t] + c0, cc);
          v = _mm_loadu_si128((const __m128i *)(const void *)tmp);
        }
        __m256i x0 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(v), zp);
        __m256i x1 =
            _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)), zp);
        __m256i w0 = _mm256_cvtepi16_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)w));
        __m256i w1 = _mm256_cvtepi16_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(w + 8)));
        a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(x0, w0));
        a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(x1, w1));
      }
      qk_avx2_requant_store(a0, a1, rq, c0, cc, out + x * c + c0);
    }
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
