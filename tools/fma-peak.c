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

/* 16-bit multiply-add peak: 12 chains of vpmaddwd + vpaddd, the pair the
 * integer engine's AVX2 kernels issue for every 16 multiply-adds (products
 * of int16 pairs summed into int32 lanes). Values stay bounded: the sums
 * wrap harmlessly in int32. */
float
madd16_peak_run(uint64_t iters)
{
  const __m256i b = _mm256_set1_epi16(-2);
  __m256i x0 = _mm256_set1_epi32(0), x1 = _mm256_set1_epi32(1);
  __m256i x2 = _mm256_set1_epi32(2), x3 = _mm256_set1_epi32(3);
  __m256i x4 = _mm256_set1_epi32(4), x5 = _mm256_set1_epi32(5);
  __m256i x6 = _mm256_set1_epi32(6), x7 = _mm256_set1_epi32(7);
  __m256i x8 = _mm256_set1_epi32(8), x9 = _mm256_set1_epi32(9);
  __m256i x10 = _mm256_set1_epi32(10), x11 = _mm256_set1_epi32(11);
  for (uint64_t i = 0; i < iters; i++) {
    /* the multiplicand is the chain itself, so nothing is hoisted */
    x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(x0, b));
    x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(x1, b));
    x2 = _mm256_add_epi32(x2, _mm256_madd_epi16(x2, b));
    x3 = _mm256_add_epi32(x3, _mm256_madd_epi16(x3, b));
    x4 = _mm256_add_epi32(x4, _mm256_madd_epi16(x4, b));
    x5 = _mm256_add_epi32(x5, _mm256_madd_epi16(x5, b));
    x6 = _mm256_add_epi32(x6, _mm256_madd_epi16(x6, b));
    x7 = _mm256_add_epi32(x7, _mm256_madd_epi16(x7, b));
    x8 = _mm256_add_epi32(x8, _mm256_madd_epi16(x8, b));
    x9 = _mm256_add_epi32(x9, _mm256_madd_epi16(x9, b));
    x10 = _mm256_add_epi32(x10,
                           _mm256_madd_epi16(x10, b));
    x11 = _mm256_add_epi32(x11,
                           _mm256_madd_epi16(x11, b));
  }
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(x0, x1),
                                                _mm256_add_epi32(x2, x3)),
                               _mm256_add_epi32(_mm256_add_epi32(x4, x5),
                                                _mm256_add_epi32(x6, x7)));
  s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(x8, x9),
                                           _mm256_add_epi32(x10, x11)));
  int32_t lanes[8];
  _mm256_storeu_si256((__m256i *)(void *)lanes, s);
  return (float)((uint32_t)lanes[0] + (uint32_t)lanes[7]); /* wraps */
}

/* AVX-VNNI peak: 12 chains of vpdpbusd (4 byte products per int32 lane,
 * the integer engine's GEMM on CPUs that have it). */
__attribute__((target("avxvnni"))) float
dpbusd_peak_run(uint64_t iters)
{
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  __m256i x0 = _mm256_set1_epi32(0), x1 = _mm256_set1_epi32(1);
  __m256i x2 = _mm256_set1_epi32(2), x3 = _mm256_set1_epi32(3);
  __m256i x4 = _mm256_set1_epi32(4), x5 = _mm256_set1_epi32(5);
  __m256i x6 = _mm256_set1_epi32(6), x7 = _mm256_set1_epi32(7);
  __m256i x8 = _mm256_set1_epi32(8), x9 = _mm256_set1_epi32(9);
  __m256i x10 = _mm256_set1_epi32(10), x11 = _mm256_set1_epi32(11);
  for (uint64_t i = 0; i < iters; i++) {
    x0 = _mm256_dpbusd_avx_epi32(x0, a, b);
    x1 = _mm256_dpbusd_avx_epi32(x1, a, b);
    x2 = _mm256_dpbusd_avx_epi32(x2, a, b);
    x3 = _mm256_dpbusd_avx_epi32(x3, a, b);
    x4 = _mm256_dpbusd_avx_epi32(x4, a, b);
    x5 = _mm256_dpbusd_avx_epi32(x5, a, b);
    x6 = _mm256_dpbusd_avx_epi32(x6, a, b);
    x7 = _mm256_dpbusd_avx_epi32(x7, a, b);
    x8 = _mm256_dpbusd_avx_epi32(x8, a, b);
    x9 = _mm256_dpbusd_avx_epi32(x9, a, b);
    x10 = _mm256_dpbusd_avx_epi32(x10, a, b);
    x11 = _mm256_dpbusd_avx_epi32(x11, a, b);
  }
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(x0, x1),
                                                _mm256_add_epi32(x2, x3)),
                               _mm256_add_epi32(_mm256_add_epi32(x4, x5),
                                                _mm256_add_epi32(x6, x7)));
  s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(x8, x9),
                                           _mm256_add_epi32(x10, x11)));
  int32_t lanes[8];
  _mm256_storeu_si256((__m256i *)(void *)lanes, s);
  return (float)((uint32_t)lanes[0] + (uint32_t)lanes[7]); /* wraps */
}

/* AVX-512 VNNI peak: 12 chains of 512-bit vpdpbusd (16 lanes x 4 byte
 * products), the integer engine's avx512vnni GEMM. */
__attribute__((target("avx512f,avx512vnni"))) float
dpbusd512_peak_run(uint64_t iters)
{
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  __m512i x0 = _mm512_set1_epi32(0), x1 = _mm512_set1_epi32(1);
  __m512i x2 = _mm512_set1_epi32(2), x3 = _mm512_set1_epi32(3);
  __m512i x4 = _mm512_set1_epi32(4), x5 = _mm512_set1_epi32(5);
  __m512i x6 = _mm512_set1_epi32(6), x7 = _mm512_set1_epi32(7);
  __m512i x8 = _mm512_set1_epi32(8), x9 = _mm512_set1_epi32(9);
  __m512i x10 = _mm512_set1_epi32(10), x11 = _mm512_set1_epi32(11);
  for (uint64_t i = 0; i < iters; i++) {
    x0 = _mm512_dpbusd_epi32(x0, a, b);
    x1 = _mm512_dpbusd_epi32(x1, a, b);
    x2 = _mm512_dpbusd_epi32(x2, a, b);
    x3 = _mm512_dpbusd_epi32(x3, a, b);
    x4 = _mm512_dpbusd_epi32(x4, a, b);
    x5 = _mm512_dpbusd_epi32(x5, a, b);
    x6 = _mm512_dpbusd_epi32(x6, a, b);
    x7 = _mm512_dpbusd_epi32(x7, a, b);
    x8 = _mm512_dpbusd_epi32(x8, a, b);
    x9 = _mm512_dpbusd_epi32(x9, a, b);
    x10 = _mm512_dpbusd_epi32(x10, a, b);
    x11 = _mm512_dpbusd_epi32(x11, a, b);
  }
  __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(x0, x1),
                                                _mm512_add_epi32(x2, x3)),
                               _mm512_add_epi32(_mm512_add_epi32(x4, x5),
                                                _mm512_add_epi32(x6, x7)));
  s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(x8, x9),
                                           _mm512_add_epi32(x10, x11)));
  /* not _mm512_reduce_add_epi32: its adds are signed C (UBSan: the chains
   * wrap), and the sum only keeps the chains alive */
  int32_t lanes[16];
  _mm512_storeu_si512((void *)lanes, s);
  return (float)((uint32_t)lanes[0] + (uint32_t)lanes[15]);
}
