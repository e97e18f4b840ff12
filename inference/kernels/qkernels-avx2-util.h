/* streamsight — helpers shared by the AVX2 and AVX-VNNI integer kernels.
 * Include only from sources built with -mavx2 (the vector types cross the
 * call). */
#ifndef SS_QKERNELS_AVX2_UTIL_H
#define SS_QKERNELS_AVX2_UTIL_H

#include <immintrin.h>

#include "qkernels.h"

#include <string.h>

/* qk_avx2_requant_store() requantises the sums of channels j0..j0+15 (two
 * vectors of 8) as qk_requant_one does and stores the first nn (1..16)
 * bytes at dst. Inline, so that the kernels' loops keep its constants in
 * registers. */

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

/* Requantises 8 sums (channels j0..j0+7) to 8 bytes (low half). */
static inline __m128i
requant8(__m256i a0, const struct qk_requant *rq, size_t j0)
{
  if (rq->mode == QK_RQ_FP32) {
    const __m256 lo = _mm256_set1_ps((float)(rq->lo - rq->zp));
    const __m256 hi = _mm256_set1_ps((float)(rq->hi - rq->zp));
    __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(a0),
                              _mm256_loadu_ps(rq->scale + j0));
    f0 = _mm256_min_ps(_mm256_max_ps(f0, lo), hi);
    __m256i y0 = _mm256_add_epi32(_mm256_cvtps_epi32(f0),
                                  _mm256_set1_epi32(rq->zp));
    __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(y0),
                                  _mm256_extracti128_si256(y0, 1));
    return _mm_packus_epi16(p16, p16);
  }
  int32_t acc[8];
  uint8_t out[16] = { 0 };
  _mm256_storeu_si256((__m256i *)(void *)acc, a0);
  for (int j = 0; j < 8; j++)
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

static inline void
qk_avx2_requant_store(__m256i a0, __m256i a1, const struct qk_requant *rq,
                      size_t j0, size_t nn, uint8_t *dst)
{
  __m128i y;
  if (rq->mode != QK_RQ_FP32) {
    /* gemmlowp: scalar, over the nn channels that exist (the multiplier
     * arrays end at the last one) */
    int32_t acc[16];
    _mm256_storeu_si256((__m256i *)(void *)acc, a0);
    _mm256_storeu_si256((__m256i *)(void *)(acc + 8), a1);
    for (size_t j = 0; j < nn; j++)
      dst[j] = qk_requant_one(acc[j], rq, j0 + j);
    return;
  }
  /* the scale array ends at the last channel: a short block reads its
   * scales through a full copy (8, the tail of 24-, 40-, 56-channel
   * layers, has a path of its own) */
  if (nn == 16) {
    y = requant16(a0, a1, rq, j0);
  } else if (nn == 8) {
    _mm_storel_epi64((__m128i *)(void *)dst, requant8(a0, rq, j0));
    return;
  } else {
    float sc[16] = { 0 };
    memcpy(sc, rq->scale + j0, nn * sizeof *sc);
    struct qk_requant t = *rq;
    t.scale = sc;
    y = requant16(a0, a1, &t, 0);
  }
  store_n(dst, y, nn);
}

#endif
