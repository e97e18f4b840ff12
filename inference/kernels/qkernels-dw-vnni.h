/* streamsight — depthwise convolution on vpdpbusd (contract in
 * qkernels.h, "qdw4" layout in qkernels-dw-vnni.c): __vnni for AVX-VNNI,
 * __avx512 (qkernels-dw-avx512.c) for AVX-512 VNNI. Call only through
 * qk_ops_get(), which checks the CPU. */
#ifndef SS_QKERNELS_DW_VNNI_H
#define SS_QKERNELS_DW_VNNI_H

#include "qkernels.h"

size_t qk_dw_packed_size__vnni(size_t c, size_t kh, size_t kw);
void qk_dw_pack__vnni(size_t c, size_t kh, size_t kw, const int16_t *w,
                      const int32_t *bias, int32_t in_zp, void *packed);
size_t qk_dw_scratch_size__vnni(const struct qk_dw_shape *sh);
void qk_dwconv__vnni(const struct qk_dw_shape *sh, size_t y0, size_t y1,
                     const uint8_t *in, int32_t in_zp, const void *packed,
                     const struct qk_requant *rq, uint8_t *out,
                     void *scratch);

size_t qk_dw_packed_size__avx512(size_t c, size_t kh, size_t kw);
void qk_dw_pack__avx512(size_t c, size_t kh, size_t kw, const int16_t *w,
                        const int32_t *bias, int32_t in_zp, void *packed);
size_t qk_dw_scratch_size__avx512(const struct qk_dw_shape *sh);
void qk_dwconv__avx512(const struct qk_dw_shape *sh, size_t y0, size_t y1,
                       const uint8_t *in, int32_t in_zp, const void *packed,
                       const struct qk_requant *rq, uint8_t *out,
                       void *scratch);

#endif
