/* streamsight — AVX-512 VNNI integer GEMM (contract in qkernels.h, layout
 * in qkernels-avx512.c). Call only through qk_ops_get(), which checks the
 * CPU and the OS. */
#ifndef SS_QKERNELS_AVX512_H
#define SS_QKERNELS_AVX512_H

#include "qkernels.h"

size_t qk_gemm_packed_size__avx512(size_t n, size_t k);
void qk_gemm_pack__avx512(size_t n, size_t k, const int16_t *w,
                          const int32_t *bias, int32_t in_zp, void *packed);
void qk_gemm__avx512(size_t m, size_t n, size_t k, const uint8_t *in,
                     size_t in_stride, const void *packed,
                     const struct qk_requant *rq, uint8_t *out,
                     size_t out_stride);

#endif
