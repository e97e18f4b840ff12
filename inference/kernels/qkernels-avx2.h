/* streamsight — AVX2 integer kernel prototypes (contracts in qkernels.h).
 * Defined in qkernels-avx2.c, built with -mavx2 -mfma; call them only
 * through qk_ops_get(), which checks the CPU first. */
#ifndef SS_QKERNELS_AVX2_H
#define SS_QKERNELS_AVX2_H

#include "qkernels.h"

void qk_gemm__avx2(size_t m, size_t n, size_t k, const uint8_t *in,
                   size_t in_stride, const void *packed,
                   const struct qk_requant *rq, uint8_t *out,
                   size_t out_stride);
/* Depthwise, "qdwa" layout (qkernels-dw-avx2.c). */
size_t qk_dw_packed_size__avx2(size_t c, size_t kh, size_t kw);
void qk_dw_pack__avx2(size_t c, size_t kh, size_t kw, const int16_t *w,
                      const int32_t *bias, int32_t in_zp, void *packed);
size_t qk_dw_scratch_size__avx2(const struct qk_dw_shape *sh);
void qk_dwconv__avx2(const struct qk_dw_shape *sh, size_t y0, size_t y1,
                     const uint8_t *in, int32_t in_zp, const void *packed,
                     const struct qk_requant *rq, uint8_t *out,
                     void *scratch);
void qk_add__avx2(size_t n, const uint8_t *a, const uint8_t *b,
                  const struct qk_add_params *p, uint8_t *out);

#endif
