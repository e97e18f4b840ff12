/* streamsight — CPU kernels: the contract every variant implements.
 *
 * Data is float32 NHWC with batch 1. Each kernel has a plain-C reference
 * (kernels-ref.c), which is its definition, and optionally an optimised twin
 * (kernels-avx2-gemm.c, -conv.c, -dwconv.c and -elementwise.c, built with
 * -mavx2 -mfma -mf16c). dispatch.c picks one table at start-up; the tests
 * compare every table against the reference.
 *
 * Kernels take no locks, allocate nothing, log nothing and use no globals, so
 * one engine can run them from many threads at once. Activation is a clamp:
 * ReLU6 is [0, 6], linear is [-INFINITY, INFINITY].
 */
#ifndef SS_KERNELS_H
#define SS_KERNELS_H

#include <stddef.h>

/* ---- packed weight layouts (packing happens once, at engine creation) ----
 *
 * GEMM / dense convolution ("gemm" layout), for N output channels and a
 * reduction length K (K = cin for 1x1; K = kh*kw*cin for a KxK convolution,
 * in the order ky, kx, ci):
 *   for each block of NR output channels n0 = 0, NR, 2NR, ... (the last block
 *   zero-padded up to NR):
 *     NR floats of bias            bias[n0 + j]
 *     K groups of NR floats        w[n0 + j][k]   for k = 0 .. K-1
 *   NR is the table's gemm_nr. Size in floats: kern_gemm_packed_size().
 *
 * Depthwise ("dw" layout), for C channels and T = kh*kw taps, in blocks of
 * KERN_DW_CB channels (the last one zero-padded up to KERN_DW_CB):
 *   for each block c0 = 0, CB, 2CB, ...:
 *     CB floats of bias            bias[c0 + j]
 *     T groups of CB floats        w[t][c0 + j]   for t = ky*kw + kx
 *   so one block's weights are contiguous, and a block of 16 float32
 *   channels is one 64-byte line of a pixel. Size: kern_dw_packed_size().
 */
#define KERN_DW_CB 16
size_t kern_gemm_packed_size(size_t nr, size_t n, size_t k);
/* w: [n][k] row-major; bias: [n] or NULL for zeros. */
void kern_gemm_pack(size_t nr, size_t n, size_t k, const float *w,
                    const float *bias, float *packed);
/* Matrix-vector with half-precision weights ("gemv16" layout), for a
 * fully connected layer of N outputs and K inputs run on one row (the
 * classifier, whose weights are read once per inference, from memory):
 *   NP = N rounded up to 16 floats of bias (zero-padded), then
 *   for each block of 16 outputs n0 = 0, 16, ...:
 *     K groups of 16 IEEE binary16 weights   w[n0 + j][k] (zero-padded)
 *   stored in the float buffer two halves per float. Size in floats:
 *   kern_gemv16_packed_size(). Weights are rounded to nearest even; a weight
 *   above 65504 in magnitude would become infinite, so kern_gemv16_pack()
 *   refuses (returns -1) when max |w| exceeds KERN_GEMV16_MAX_ABS. */
#define KERN_GEMV16_MAX_ABS 65504.0f
size_t kern_gemv16_packed_size(size_t n, size_t k);
int kern_gemv16_pack(size_t n, size_t k, const float *w, const float *bias,
                     float *packed);
/* IEEE binary16 <-> float32: ../half.h. */

size_t kern_dw_packed_size(size_t c, size_t taps);
/* w: [taps][c]; bias: [c] or NULL. */
void kern_dw_pack(size_t c, size_t taps, const float *w, const float *bias,
                  float *packed);

/* ---- kernel signatures ----
 *
 * Names spell the contract, XNNPACK-style: kern_f32_<op>[<size>_s<stride>]
 * [_clamp]__<isa>, e.g. kern_f32_dwconv3x3_s2_clamp__avx2 is the float
 * depthwise 3x3 convolution of stride 2 with a fused clamp, in AVX2. A
 * specialised kernel serves only the shapes its name says; the engine picks
 * one per layer when it compiles the model, never per call. Each has a
 * twin of the same name in kernels-ref.c, its definition. */

/* GEMM with fused bias, residual and clamp; pointwise convolution and fully
 * connected layers:
 *   out[i*out_stride + j] = clamp(bias[j] + sum_k in[i*in_stride + k] * w[j][k]
 *                                 + (res ? res[i*res_stride + j] : 0))
 * for i < m, j < n. in rows are K floats; out must not alias in or res.
 * kern_f32_gemm_clamp: any m (the optimised ones work on tiles of rows). */
typedef void (*kern_gemm_fn)(size_t m, size_t n, size_t k, const float *in,
                             size_t in_stride, const float *packed, float *out,
                             size_t out_stride, const float *res,
                             size_t res_stride, float min, float max);

/* The GEMM of a single row (m = 1: fully connected layers, pointwise
 * convolutions of a 1x1 image), "gemm" layout:
 *   out[j] = clamp(bias[j] + sum_k in[k] * w[j][k] + (res ? res[j] : 0))
 * for j < n. kern_f32_gemv_clamp. */
typedef void (*kern_gemv_fn)(size_t n, size_t k, const float *in,
                             const float *packed, float *out,
                             const float *res, float min, float max);

/* One output row of a dense KxK convolution (the network's first layer:
 * 3x3, stride 2, cin 3), "gemm" layout with K = kh*kw*cin:
 *   out[x][j] = clamp(bias[j] + sum_{ky,kx,ci} rows[ky][ix][ci] * w[j][ky][kx][ci])
 *   with ix = x*stride + kx - pad_left,
 * for x < out_w, j < cout. rows[ky] is the input row (in_w pixels of cin
 * floats) that tap row ky reads, or NULL where that row is padding; columns
 * outside [0, in_w) are padding. Padding reads as zero.
 * kern_f32_conv_clamp: any kh, kw and stride. */
typedef void (*kern_conv_row_fn)(size_t cin, size_t in_w,
                                 const float *const *rows, size_t kh,
                                 size_t kw, size_t stride, size_t pad_left,
                                 size_t out_w, size_t cout,
                                 const float *packed, float *out, float min,
                                 float max);

/* One output row of a depthwise KxK convolution, "dw" layout:
 *   out[x][c] = clamp(bias[c] + sum_{ky,kx} rows[ky][ix][c] * w[ky*kw+kx][c])
 * with ix = x*stride + kx - pad_left, rows and padding as for conv.
 * kern_f32_dwconv_clamp takes any kh, kw and stride;
 * kern_f32_dwconv3x3_s1_clamp only kh = kw = 3 and stride 1, and
 * kern_f32_dwconv3x3_s2_clamp kh = kw = 3 and stride 2 (they assert it).
 * All three share this signature so that the engine keeps one pointer per
 * layer. */
typedef void (*kern_dwconv_row_fn)(size_t c, size_t in_w,
                                   const float *const *rows, size_t kh,
                                   size_t kw, size_t stride, size_t pad_left,
                                   size_t out_w, const float *packed,
                                   float *out, float min, float max);

/* One row times a "gemv16" matrix:
 *   out[j] = clamp(bias[j] + sum_k in[k] * w16[j][k])   for j < n,
 * the products and sums in float32 (the weights widened exactly).
 * kern_f32_gemv16_clamp. */
typedef void (*kern_gemv16_fn)(size_t n, size_t k, const float *in,
                               const float *packed, float *out, float min,
                               float max);

/* Global average pool: out[c] = mean over n pixels of in[p*c_count + c].
 * kern_f32_avgpool. */
typedef void (*kern_avgpool_fn)(size_t n, size_t c, const float *in,
                                float *out);

/* out[i] = clamp(a[i] + b[i]); out may alias a or b. kern_f32_add_clamp. */
typedef void (*kern_add_fn)(size_t n, const float *a, const float *b,
                            float *out, float min, float max);

/* out = softmax(in), numerically stable (max subtracted); may alias.
 * kern_f32_softmax. */
typedef void (*kern_softmax_fn)(size_t n, const float *in, float *out);

struct kern_ops {
  const char *isa; /* "ref", "avx2" */
  size_t gemm_nr;  /* output-channel block of the "gemm" layout */
  kern_gemm_fn gemm;
  kern_gemv_fn gemv;
  kern_conv_row_fn conv;
  kern_dwconv_row_fn dwconv;       /* any kh, kw, stride */
  kern_dwconv_row_fn dwconv3x3_s1;
  kern_dwconv_row_fn dwconv3x3_s2;
  kern_gemv16_fn gemv16;
  kern_avgpool_fn avgpool;
  kern_add_fn add;
  kern_softmax_fn softmax;
};

enum kern_isa {
  KERN_ISA_AUTO = 0, /* the best the CPU supports */
  KERN_ISA_REF,
  KERN_ISA_AVX2,
  /* The integer engine's GEMM on vpdpbusd, 256-bit (AVX-VNNI) or 512-bit
   * (AVX-512 VNNI); the rest of its kernels and the float engine's are
   * the AVX2 ones. */
  KERN_ISA_AVXVNNI,
  KERN_ISA_AVX512VNNI,
};
/* The --kernels names, for messages. */
#define KERN_ISA_NAMES "ref, avx2, avxvnni, avx512vnni, auto"

/* The reference table; always available. */
const struct kern_ops *kern_ops_ref(void);
/* The table for isa, or NULL when this build or CPU lacks it. AUTO gives the
 * best supported. Call kern_init() once before threads start. */
const struct kern_ops *kern_ops_get(enum kern_isa isa);
void kern_init(void);
/* Parses a --kernels value: one of KERN_ISA_NAMES. Returns 0 and sets
 * *out, or -1 (nothing written) for any other name. */
int kern_isa_from_name(const char *name, enum kern_isa *out);
/* The name kern_isa_from_name reads for isa (static storage). */
const char *kern_isa_name(enum kern_isa isa);

#endif
