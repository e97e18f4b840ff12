/* streamsight — reference integer kernels (contracts in qkernels.h). */
#ifndef SS_QKERNELS_REF_H
#define SS_QKERNELS_REF_H

#include "qkernels.h"

void qk_gemm__ref(size_t m, size_t n, size_t k, const uint8_t *in,
                  size_t in_stride, const void *packed,
                  const struct qk_requant *rq, uint8_t *out,
                  size_t out_stride);
void qk_dwconv_row__ref(size_t c, size_t in_w, const uint8_t *const *rows,
                        size_t kh, size_t kw, size_t stride, size_t pad_left,
                        size_t out_w, int32_t in_zp, const void *packed,
                        const struct qk_requant *rq, uint8_t *out);
/* rows[0..kh) of output row y (qk_dwconv_fn's definition). */
void qk_dw_rows(const struct qk_dw_shape *sh, const uint8_t *in, size_t y,
                const uint8_t **rows);
size_t qk_dw_packed_size__ref(size_t c, size_t kh, size_t kw);
void qk_dw_pack__ref(size_t c, size_t kh, size_t kw, const int16_t *w,
                     const int32_t *bias, int32_t in_zp, void *packed);
size_t qk_dw_scratch_size__ref(const struct qk_dw_shape *sh);
void qk_dwconv__ref(const struct qk_dw_shape *sh, size_t y0, size_t y1,
                    const uint8_t *in, int32_t in_zp, const void *packed,
                    const struct qk_requant *rq, uint8_t *out,
                    void *scratch);
void qk_add__ref(size_t n, const uint8_t *a, const uint8_t *b,
                 const struct qk_add_params *p, uint8_t *out);
void qk_avgpool__ref(size_t npix, size_t c, const uint8_t *in,
                     const struct qk_pool_params *p, uint8_t *out);

#endif
