/* streamsight — integer GEMM with AVX-VNNI (vpdpbusd on ymm), the twin of
 * qk_gemm__ref for CPUs that have it (Intel Alder Lake / Sapphire Rapids
 * on, AMD Zen 5): the same bytes out. Built with -mavx2 -mfma -mavxvnni;
 * reached only through qk_ops_get(), which checks the CPU.
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes and adds each group
 * of 4 products to an int32 lane, exactly (no intermediate saturation):
 * 32 multiply-adds per instruction where vpmaddwd does 16. The
 * activations are bytes already; the weights w - w_zp span up to 511
 * values, so each channel j is stored as w8 = (w - w_zp) - o_j in int8,
 * with o_j chosen per channel (0 for symmetric int8 weights, as TF2's),
 * and the kernel adds o_j * sum_k a[k] back: sum a * (w8 + o_j) is the
 * reference's sum to the bit (both wrap modulo 2^32 alike).
 *
 * "qgemm-vnni" layout, per block of QK_GEMM_NR channels (zero-padded):
 *   QK_GEMM_NR int32  bias[j] - in_zp * sum_k (w[j][k])   (as "qgemm")
 *   QK_GEMM_NR int32  o_j
 *   KQ = ceil(K/4) groups of 64 bytes: channels 0-7 then 8-15, each as 4
 *                     int8 w8[j][4q .. 4q+3] (0 past K)
 */
#include "qkernels-vnni.h"

#include <immintrin.h>
#include <string.h>

#include "qkernels-avx2-util.h"
#include "qkernels-ref.h"

#define MR 4

static size_t
block_bytes(size_t k)
{
  return QK_GEMM_NR * 8 + (k + 3) / 4 * 64;
}

size_t
qk_gemm_packed_size__vnni(size_t n, size_t k)
{
  return (n + QK_GEMM_NR - 1) / QK_GEMM_NR * block_bytes(k);
}

void
qk_gemm_pack__vnni(size_t n, size_t k, const int16_t *w, const int32_t *bias,
                   int32_t in_zp, void *packed)
{
  const size_t kq = (k + 3) / 4;
  uint8_t *p = packed;
  memset(p, 0, qk_gemm_packed_size__vnni(n, k));
  for (size_t n0 = 0; n0 < n; n0 += QK_GEMM_NR) {
    int32_t *b = (int32_t *)(void *)p;
    int32_t *off = b + QK_GEMM_NR;
    int8_t *pw = (int8_t *)(p + QK_GEMM_NR * 8);
    for (size_t j = 0; j < QK_GEMM_NR && n0 + j < n; j++) {
      const int16_t *wj = w + (n0 + j) * k;
      int64_t sum = 0;
      int mn = 0, mx = 0;
      for (size_t kk = 0; kk < k; kk++) {
        sum += wj[kk];
        mn = kk == 0 || wj[kk] < mn ? wj[kk] : mn;
        mx = kk == 0 || wj[kk] > mx ? wj[kk] : mx;
      }
      b[j] = (int32_t)((uint32_t)bias[n0 + j] - (uint32_t)(in_zp * sum));
      /* w - w_zp spans at most 255 (one byte's range): shifting the
       * channel's maximum to 127 fits all of it in int8. */
      const int o = mn >= -128 && mx <= 127 ? 0 : mx - 127;
      off[j] = o;
      for (size_t kk = 0; kk < k; kk++)
        pw[(kk / 4) * 64 + (j / 8) * 32 + (j % 8) * 4 + kk % 4] =
            (int8_t)(wj[kk] - o);
    }
    (void)kq;
    p += block_bytes(k);
  }
}

/* sum of k bytes */
static int32_t
row_sum(const uint8_t *a, size_t k)
{
  __m256i s = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= k; i += 32)
    s = _mm256_add_epi64(
        s, _mm256_sad_epu8(
               _mm256_loadu_si256((const __m256i *)(const void *)(a + i)),
               _mm256_setzero_si256()));
  __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s),
                            _mm256_extracti128_si256(s, 1));
  int64_t sum = _mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1);
  for (; i < k; i++)
    sum += a[i];
  return (int32_t)sum;
}

/* The 4 bytes of group q of row a (zero past k), as one int32. */
static inline int32_t
group(const uint8_t *a, size_t q, size_t k)
{
  int32_t v = 0;
  size_t left = k - 4 * q;
  memcpy(&v, a + 4 * q, left < 4 ? left : 4);
  return v;
}

/* Sums of rows a0..a3 (4 rows; callers repeat a row to fill) times one
 * block, in registers: named accumulators, as GCC keeps an array of them
 * in memory. */
static inline void
block4(const uint8_t *a0, const uint8_t *a1, const uint8_t *a2,
       const uint8_t *a3, size_t k, const uint8_t *p, const __m256i rs[4],
       __m256i out[4][2])
{
  const size_t kq_full = k / 4;
  const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
  const __m256i b1 =
      _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
  const __m256i o0 =
      _mm256_loadu_si256((const __m256i *)(const void *)(p + 64));
  const __m256i o1 =
      _mm256_loadu_si256((const __m256i *)(const void *)(p + 96));
  const uint8_t *pw = p + QK_GEMM_NR * 8;
  __m256i c00 = _mm256_add_epi32(b0, _mm256_mullo_epi32(o0, rs[0]));
  __m256i c01 = _mm256_add_epi32(b1, _mm256_mullo_epi32(o1, rs[0]));
  __m256i c10 = _mm256_add_epi32(b0, _mm256_mullo_epi32(o0, rs[1]));
  __m256i c11 = _mm256_add_epi32(b1, _mm256_mullo_epi32(o1, rs[1]));
  __m256i c20 = _mm256_add_epi32(b0, _mm256_mullo_epi32(o0, rs[2]));
  __m256i c21 = _mm256_add_epi32(b1, _mm256_mullo_epi32(o1, rs[2]));
  __m256i c30 = _mm256_add_epi32(b0, _mm256_mullo_epi32(o0, rs[3]));
  __m256i c31 = _mm256_add_epi32(b1, _mm256_mullo_epi32(o1, rs[3]));
  for (size_t q = 0; q < kq_full; q++) {
    const __m256i w0 =
        _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 64));
    const __m256i w1 =
        _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 64 + 32));
    int32_t g0, g1, g2, g3;
    memcpy(&g0, a0 + 4 * q, 4);
    memcpy(&g1, a1 + 4 * q, 4);
    memcpy(&g2, a2 + 4 * q, 4);
    memcpy(&g3, a3 + 4 * q, 4);
    __m256i v = _mm256_set1_epi32(g0);
    c00 = _mm256_dpbusd_avx_epi32(c00, v, w0);
    c01 = _mm256_dpbusd_avx_epi32(c01, v, w1);
    v = _mm256_set1_epi32(g1);
    c10 = _mm256_dpbusd_avx_epi32(c10, v, w0);
    c11 = _mm256_dpbusd_avx_epi32(c11, v, w1);
    v = _mm256_set1_epi32(g2);
    c20 = _mm256_dpbusd_avx_epi32(c20, v, w0);
    c21 = _mm256_dpbusd_avx_epi32(c21, v, w1);
    v = _mm256_set1_epi32(g3);
    c30 = _mm256_dpbusd_avx_epi32(c30, v, w0);
    c31 = _mm256_dpbusd_avx_epi32(c31, v, w1);
  }
  if (k % 4) {
    const size_t q = kq_full;
    const __m256i w0 =
        _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 64));
    const __m256i w1 =
        _mm256_loadu_si256((const __m256i *)(const void *)(pw + q * 64 + 32));
    __m256i v = _mm256_set1_epi32(group(a0, q, k));
    c00 = _mm256_dpbusd_avx_epi32(c00, v, w0);
    c01 = _mm256_dpbusd_avx_epi32(c01, v, w1);
    v = _mm256_set1_epi32(group(a1, q, k));
    c10 = _mm256_dpbusd_avx_epi32(c10, v, w0);
    c11 = _mm256_dpbusd_avx_epi32(c11, v, w1);
    v = _mm256_set1_epi32(group(a2, q, k));
    c20 = _mm256_dpbusd_avx_epi32(c20, v, w0);
    c21 = _mm256_dpbusd_avx_epi32(c21, v, w1);
    v = _mm256_set1_epi32(group(a3, q, k));
    c30 = _mm256_dpbusd_avx_epi32(c30, v, w0);
    c31 = _mm256_dpbusd_avx_epi32(c31, v, w1);
  }
  out[0][0] = c00;
  out[0][1] = c01;
  out[1][0] = c10;
  out[1][1] = c11;
  out[2][0] = c20;
  out[2][1] = c21;
  out[3][0] = c30;
  out[3][1] = c31;
}

void
qk_gemm__vnni(size_t m, size_t n, size_t k, const uint8_t *in,
              size_t in_stride, const void *packed,
              const struct qk_requant *rq, uint8_t *out, size_t out_stride)
{
  const size_t block = block_bytes(k);
  for (size_t i0 = 0; i0 < m; i0 += MR) {
    const size_t mr = m - i0 < MR ? m - i0 : MR;
    const uint8_t *a[MR];
    __m256i rs[MR];
    for (size_t r = 0; r < MR; r++) {
      /* rows past m repeat row i0: computed, never stored */
      a[r] = in + (i0 + (r < mr ? r : 0)) * in_stride;
      rs[r] = _mm256_set1_epi32(row_sum(a[r], k));
    }
    for (size_t n0 = 0; n0 < n; n0 += QK_GEMM_NR) {
      const uint8_t *p = (const uint8_t *)packed + (n0 / QK_GEMM_NR) * block;
      __m256i acc[MR][2];
      block4(a[0], a[1], a[2], a[3], k, p, rs, acc);
      const size_t nn = n - n0 < QK_GEMM_NR ? n - n0 : QK_GEMM_NR;
      for (size_t r = 0; r < mr; r++)
        qk_avx2_requant_store(acc[r][0], acc[r][1], rq, n0, nn,
                              out + (i0 + r) * out_stride + n0);
    }
  }
}
