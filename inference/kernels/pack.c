/* streamsight — weight packing shared by every kernel variant. */
#include "kernels.h"

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
  return c * (taps + 1);
}

void
kern_dw_pack(size_t c, size_t taps, const float *w, const float *bias,
             float *packed)
{
  if (bias)
    memcpy(packed, bias, c * sizeof *packed);
  else
    memset(packed, 0, c * sizeof *packed);
  memcpy(packed + c, w, c * taps * sizeof *packed);
}
