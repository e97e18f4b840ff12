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
