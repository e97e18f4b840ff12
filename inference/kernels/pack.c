/* streamsight — weight packing shared by every kernel variant. */
#include "kernels.h"

#include "../half.h"

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
        *h++ = n0 + j < n ? half_from_f32(w[(n0 + j) * k + kk]) : 0;
  return 0;
}
