/* streamsight — single-core FMA peak: 12 independent accumulator chains of
 * _mm256_fmadd_ps. Built with -mavx2 -mfma (tools/meson.build); the caller
 * checks the CPU features before running it.
 *
 * Why 12 chains: an FMA has a latency of 4-5 cycles and Zen 3 / Skylake issue
 * two per cycle, so at least 8-10 independent chains are needed to keep both
 * pipes busy; 12 covers a 5-cycle latency with 16 registers available. */
#include "fma-peak.h"

#include <immintrin.h>

float
fma_peak_run(uint64_t iters)
{
  /* Multiplier slightly below 1 and addend small: values stay normal and
   * bounded (the fixed point is c / (1 - a) = 1e-3 / 1e-6 ~ 1000). */
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 c = _mm256_set1_ps(1e-3f);
  __m256 x0 = _mm256_set1_ps(0.0f), x1 = _mm256_set1_ps(0.1f);
  __m256 x2 = _mm256_set1_ps(0.2f), x3 = _mm256_set1_ps(0.3f);
  __m256 x4 = _mm256_set1_ps(0.4f), x5 = _mm256_set1_ps(0.5f);
  __m256 x6 = _mm256_set1_ps(0.6f), x7 = _mm256_set1_ps(0.7f);
  __m256 x8 = _mm256_set1_ps(0.8f), x9 = _mm256_set1_ps(0.9f);
  __m256 x10 = _mm256_set1_ps(1.0f), x11 = _mm256_set1_ps(1.1f);
  for (uint64_t i = 0; i < iters; i++) {
    x0 = _mm256_fmadd_ps(x0, a, c);
    x1 = _mm256_fmadd_ps(x1, a, c);
    x2 = _mm256_fmadd_ps(x2, a, c);
    x3 = _mm256_fmadd_ps(x3, a, c);
    x4 = _mm256_fmadd_ps(x4, a, c);
    x5 = _mm256_fmadd_ps(x5, a, c);
    x6 = _mm256_fmadd_ps(x6, a, c);
    x7 = _mm256_fmadd_ps(x7, a, c);
    x8 = _mm256_fmadd_ps(x8, a, c);
    x9 = _mm256_fmadd_ps(x9, a, c);
    x10 = _mm256_fmadd_ps(x10, a, c);
    x11 = _mm256_fmadd_ps(x11, a, c);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1),
                                         _mm256_add_ps(x2, x3)),
                           _mm256_add_ps(_mm256_add_ps(x4, x5),
                                         _mm256_add_ps(x6, x7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9),
                                     _mm256_add_ps(x10, x11)));
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  return lanes[0] + lanes[7];
}
