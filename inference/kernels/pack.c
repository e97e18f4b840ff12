/* streamsight — weight packing shared by every kernel variant. */
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

size_t
kern_gemm_packed_size(size_t nr, size_t n, size_t k)
{
  size_t blocks = (n + nr - 1) / nr;
  return blocks * nr * (k + 1);
}

void
kern_gemm_pack(size_t nr, size_t n, size_t k, const float *w,
               const float *bias, float *packed)
{
  for (size_t n0 = 0; n0 < n; n0 += nr) {
    for (size_t j = 0; j < nr; j++)
      *packed++ = (n0 + j < n && bias) ? bias[n0 + j] : 0.0f;
    for (size_t kk = 0; kk < k; kk++)
      for (size_t j = 0; j < nr; j++)
        *packed++ = n0 + j < n ? w[(n0 + j) * k + kk] : 0.0f;
  }
}

size_t
kern_dw_packed_size(size_t c, size_t taps)
{
  return (c + KERN_DW_CB - 1) / KERN_DW_CB * KERN_DW_CB * (taps + 1);
}

void
kern_dw_pack(size_t c, size_t taps, const float *w, const float *bias,
             float *packed)
{
  for (size_t c0 = 0; c0 < c; c0 += KERN_DW_CB) {
    for (size_t j = 0; j < KERN_DW_CB; j++)
      *packed++ = (c0 + j < c && bias) ? bias[c0 + j] : 0.0f;
    for (size_t t = 0; t < taps; t++)
      for (size_t j = 0; j < KERN_DW_CB; j++)
        *packed++ = c0 + j < c ? w[t * c + c0 + j] : 0.0f;
  }
}

unsigned short
kern_f32_to_f16(float f)
{
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf, NaN (kept quiet) */
    return (unsigned short)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  if (ax >= 0x477ff000u) /* rounds to 65536 or more */
    return (unsigned short)(sign | 0x7c00u);
  if (ax < 0x38800000u) { /* below 2^-14: subnormal half or zero */
    if (ax < 0x33000000u) /* below 2^-25: rounds to zero */
      return (unsigned short)sign;
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24: value = m * 2^(e-150) */
    uint32_t h = m >> shift, rem = m & ((1u << shift) - 1),
             half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      h++;
    return (unsigned short)(sign | h);
  }
  /* normal: rebias the exponent, round the mantissa to 10 bits */
  uint32_t h = ((ax - 0x38000000u) >> 13);
  uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++; /* may carry into the exponent: still correct */
  return (unsigned short)(sign | h);
}

float
kern_f16_to_f32(unsigned short h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  float f;
  if (e == 0) {
    f = ldexpf((float)m, -24); /* zero or subnormal */
    return sign ? -f : f;
  }
  uint32_t x = e == 31 ? sign | 0x7f800000u | (m << 13)
                       : sign | ((e + 112) << 23) | (m << 13);
  memcpy(&f, &x, sizeof f);
  return f;
}

size_t
kern_gemv16_packed_size(size_t n, size_t k)
{
  size_t np = (n + 15) / 16 * 16;
  return np + np * k / 2;
}

int
kern_gemv16_pack(size_t n, size_t k, const float *w, const float *bias,
                 float *packed)
{
  for (size_t i = 0; i < n * k; i++)
    if (!(fabsf(w[i]) <= KERN_GEMV16_MAX_ABS))
      return -1;
  size_t np = (n + 15) / 16 * 16;
  for (size_t j = 0; j < np; j++)
    packed[j] = (j < n && bias) ? bias[j] : 0.0f;
  unsigned short *h = (unsigned short *)(packed + np);
  for (size_t n0 = 0; n0 < np; n0 += 16)
    for (size_t kk = 0; kk < k; kk++)
      for (size_t j = 0; j < 16; j++)
        *h++ = n0 + j < n ? kern_f32_to_f16(w[(n0 + j) * k + kk]) : 0;
  return 0;
}
