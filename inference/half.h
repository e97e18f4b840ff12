/* streamsight — IEEE half (f16) and bfloat16 conversions, one home for the
 * loaders (safetensors F16/BF16, TFLite FLOAT16) and the gemv16 kernels'
 * packing. Exact: half_to_f32(half_from_f32(x)) is x for every finite half,
 * and half_from_f32 rounds to nearest, ties to even. */
#ifndef STREAMSIGHT_HALF_H
#define STREAMSIGHT_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* A half's value as a float: every half, subnormals, infinities and NaN
 * (payload kept) included, is exact in float32. */
static inline float
half_to_f32(uint16_t h)
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

/* The half nearest to f (ties to even); beyond the half range it is an
 * infinity, a NaN stays a (quiet) NaN. */
static inline uint16_t
half_from_f32(float f)
{
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf, NaN (kept quiet) */
    return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  if (ax >= 0x477ff000u) /* rounds to 65536 or more */
    return (uint16_t)(sign | 0x7c00u);
  if (ax < 0x38800000u) { /* below 2^-14: subnormal half or zero */
    if (ax < 0x33000000u) /* below 2^-25: rounds to zero */
      return (uint16_t)sign;
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24: value = m * 2^(e-150) */
    uint32_t h = m >> shift, rem = m & ((1u << shift) - 1),
             half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      h++;
    return (uint16_t)(sign | h);
  }
  /* normal: rebias the exponent, round the mantissa to 10 bits */
  uint32_t h = ((ax - 0x38000000u) >> 13);
  uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++; /* may carry into the exponent: still correct */
  return (uint16_t)(sign | h);
}

/* A bfloat16's value: the top 16 bits of a float32. */
static inline float
bf16_to_f32(uint16_t h)
{
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#endif
