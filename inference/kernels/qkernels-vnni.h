/* streamsight — AVX-VNNI integer GEMM (contract in qkernels.h, layout in
 * qkernels-vnni.c). Call only through qk_ops_get(), which checks the CPU. */
#ifndef SS_QKERNELS_VNNI_H
#define SS_QKERNELS_VNNI_H

#include "qkernels.h"

size_t qk_gemm_packed_size__vnni(size_t n, size_t k);
void qk_gemm_pack__vnni(size_t n, size_t k, const int16_t *w,
                        const int32_t *bias, int32_t in_zp, void *packed);
void qk_gemm__vnni(size_t m, size_t n, size_t k, const uint8_t *in,
                   size_t in_stride, const void *packed,
                   const struct qk_requant *rq, uint8_t *out,
                   size_t out_stride);

#endif
