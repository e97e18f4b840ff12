/* streamsight — small AVX2 helpers shared by the kernels-avx2-*.c files
 * (built with -mavx2 -mfma -mf16c; include nowhere else). */
#ifndef SS_KERNELS_AVX2_UTIL_H
#define SS_KERNELS_AVX2_UTIL_H

#include <immintrin.h>
#include <stddef.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Lanes j < n set (n may be 0 or above 8). */
ALWAYS_INLINE __m256i
mask_first(size_t n)
{
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n > 8 ? 8 : (int)n), iota);
}

ALWAYS_INLINE __m256
clamp8(__m256 v, __m256 vmin, __m256 vmax)
{
  return _mm256_min_ps(_mm256_max_ps(v, vmin), vmax);
}

#endif
