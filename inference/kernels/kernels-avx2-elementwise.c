/* streamsight — AVX2 global average pool, add and softmax
 * (kern_f32_avgpool, kern_f32_add_clamp, kern_f32_softmax). Built with
 * -mavx2 -mfma.
 *
 * Each computes what its twin in kernels-ref.c computes, within the
 * tolerances tests/test-kernels.c states. Tails use masked loads and
 * stores.
 */
#include "kernels-avx2.h"

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels-avx2-util.h"

void
kern_f32_avgpool__avx2(size_t n, size_t c, const float *in, float *out)
{
  /* Sums in double like the reference: n can be a few thousand pixels. */
  const __m256d inv = _mm256_set1_pd(1.0 / (double)n);
  for (size_t ch = 0; ch < c; ch += 8) {
    const bool tail = c - ch < 8;
    const __m256i mask = mask_first(c - ch);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (size_t p = 0; p < n; p++) {
      const float *src = in + p * c + ch;
      const __m256 v = tail ? _mm256_maskload_ps(src, mask)
                            : _mm256_loadu_ps(src);
      lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
      hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    const __m256 y = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_mul_pd(hi, inv)),
                                     _mm256_cvtpd_ps(_mm256_mul_pd(lo, inv)));
    if (tail)
      _mm256_maskstore_ps(out + ch, mask, y);
    else
      _mm256_storeu_ps(out + ch, y);
  }
}

void
kern_f32_add_clamp__avx2(size_t n, const float *a, const float *b, float *out,
                         float min, float max)
{
  const __m256 vmin = _mm256_set1_ps(min), vmax = _mm256_set1_ps(max);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 s = _mm256_add_ps(_mm256_loadu_ps(a + i),
                                   _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(out + i, clamp8(s, vmin, vmax));
  }
  if (i < n) {
    const __m256i mask = mask_first(n - i);
    const __m256 s = _mm256_add_ps(_mm256_maskload_ps(a + i, mask),
                                   _mm256_maskload_ps(b + i, mask));
    _mm256_maskstore_ps(out + i, mask, clamp8(s, vmin, vmax));
  }
}

/* exp(x) for x <= 0 (softmax after subtracting the maximum): Cephes' expf,
 * exp(x) = 2^n * exp(r) with r = x - n*ln2 split in two constants for
 * accuracy and a degree-5 polynomial for exp(r) on [-ln2/2, ln2/2]; about
 * 2 ulp. Inputs below -87.3 give about 1e-38 instead of a subnormal, which
 * is zero to any softmax tolerance. */
static inline __m256
exp8(__m256 x)
{
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
  const __m256 fx = _mm256_round_ps(
      _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x),
                      _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

void
kern_f32_softmax__avx2(size_t n, const float *in, float *out)
{
  if (n == 0)
    return;
  /* Maximum: lanes past the end read as -inf. */
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 vmx = ninf;
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(in + i));
  if (i < n) {
    const __m256i mask = mask_first(n - i);
    vmx = _mm256_max_ps(vmx, _mm256_blendv_ps(ninf,
                                              _mm256_maskload_ps(in + i, mask),
                                              _mm256_castsi256_ps(mask)));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmx),
                         _mm256_extractf128_ps(vmx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(m4));

  /* exp and the sum, in double like the reference. */
  __m256d sum = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(in + i), mx));
    _mm256_storeu_ps(out + i, e);
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  const __m256i tmask = mask_first(n - i);
  if (i < n) {
    /* Masked-off lanes are zeroed so that they add nothing to the sum. */
    const __m256 e = _mm256_and_ps(
        exp8(_mm256_sub_ps(_mm256_maskload_ps(in + i, tmask), mx)),
        _mm256_castsi256_ps(tmask));
    _mm256_maskstore_ps(out + i, tmask, e);
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(sum),
                          _mm256_extractf128_pd(sum, 1));
  s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
  const __m256 inv = _mm256_set1_ps((float)(1.0 / _mm_cvtsd_f64(s2)));

  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), inv));
  if (i < n)
    _mm256_maskstore_ps(out + i, tmask,
                        _mm256_mul_ps(_mm256_maskload_ps(out + i, tmask), inv));
}
