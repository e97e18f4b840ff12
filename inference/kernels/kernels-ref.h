/* streamsight — reference kernel prototypes (see kernels.h for contracts). */
#ifndef SS_KERNELS_REF_H
#define SS_KERNELS_REF_H

#include "kernels.h"

/* Output-channel block of the reference "gemm" layout. Any value works; 8
 * keeps the reference cheap to pack. */
#define KERN_REF_GEMM_NR 8

void kern_f32_gemm_clamp__ref(size_t m, size_t n, size_t k, const float *in,
                              size_t in_stride, const float *packed,
                              float *out, size_t out_stride, const float *res,
                              size_t res_stride, float min, float max);
void kern_f32_gemv_clamp__ref(size_t n, size_t k, const float *in,
                              const float *packed, float *out,
                              const float *res, float min, float max);
void kern_f32_conv_clamp__ref(size_t cin, size_t in_w,
                              const float *const *rows, size_t kh, size_t kw,
                              size_t stride, size_t pad_left, size_t out_w,
                              size_t cout, const float *packed, float *out,
                              float min, float max);
void kern_f32_dwconv_clamp__ref(size_t c, size_t in_w,
                                const float *const *rows, size_t kh,
                                size_t kw, size_t stride, size_t pad_left,
                                size_t out_w, const float *packed, float *out,
                                float min, float max);
void kern_f32_dwconv3x3_s1_clamp__ref(size_t c, size_t in_w,
                                      const float *const *rows, size_t kh,
                                      size_t kw, size_t stride,
                                      size_t pad_left, size_t out_w,
                                      const float *packed, float *out,
                                      float min, float max);
void kern_f32_dwconv3x3_s2_clamp__ref(size_t c, size_t in_w,
                                      const float *const *rows, size_t kh,
                                      size_t kw, size_t stride,
                                      size_t pad_left, size_t out_w,
                                      const float *packed, float *out,
                                      float min, float max);
void kern_f32_gemv16_clamp__ref(size_t n, size_t k, const float *in,
                                const float *packed, float *out, float min,
                                float max);
void kern_f32_avgpool__ref(size_t n, size_t c, const float *in, float *out);
void kern_f32_add_clamp__ref(size_t n, const float *a, const float *b,
                             float *out, float min, float max);
void kern_f32_softmax__ref(size_t n, const float *in, float *out);

#endif
