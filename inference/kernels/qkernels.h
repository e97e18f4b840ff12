/* streamsight — integer kernels for quantised models: the contract every
 * variant implements.
 *
 * Activations are 8-bit NHWC with batch 1, stored as uint8: a uint8 tensor
 * as it is, an int8 tensor plus 128 (with its zero point plus 128), so
 * that one set of kernels serves both (every formula below uses q - zp,
 * which the shift leaves unchanged, and clamps to bounds shifted alike).
 * Weights are int16 holding w - w_zp (-255..255; the weights of one output
 * channel span at most 256 values, being one byte each minus that
 * channel's zero point), biases int32, sums int32 (wrapping modulo 2^32).
 *
 * Each kernel has a plain-C reference (qkernels-ref.c), its definition, and
 * optionally an optimised twin (qkernels-avx2.c) that must give identical
 * bytes: integer arithmetic has no tolerance. Kernels take no locks,
 * allocate nothing and use no globals.
 */
#ifndef SS_QKERNELS_H
#define SS_QKERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- requantisation: int32 sum -> 8-bit value of the next tensor ----
 *
 * QK_RQ_FP32 (XNNPACK's "fp32" requantisation, what TFLite's XNNPACK
 * delegate runs): y = lrintf(clamp((float)acc * scale[j], lo - zp,
 * hi - zp)) + zp, rounding half to even; scale[j] = in_scale * w_scale[j] /
 * out_scale computed in float.
 * QK_RQ_GEMMLOWP (TFLite's built-in kernels): y = clamp(
 * MultiplyByQuantizedMultiplier(acc, mult[j], shift[j]) + zp, lo, hi),
 * the gemmlowp fixed-point product with its two roundings (half away from
 * zero, then half up of a right shift). */
enum qk_rq_mode { QK_RQ_FP32 = 0, QK_RQ_GEMMLOWP };

struct qk_requant {
  enum qk_rq_mode mode;
  const float *scale;   /* [n] QK_RQ_FP32 */
  const int32_t *mult;  /* [n] QK_RQ_GEMMLOWP: Q31 multiplier */
  const int32_t *shift; /* [n] QK_RQ_GEMMLOWP: left shift (< 0: right) */
  int32_t zp, lo, hi;   /* output zero point and clamp, 0..255 space */
};

/* Q31 multiplier and shift of a real multiplier, as TFLite's
 * QuantizeMultiplier computes them (0 for a multiplier below 2^-31). */
void qk_quantize_multiplier(double m, int32_t *mult, int32_t *shift);
/* TFLite's MultiplyByQuantizedMultiplier. */
int32_t qk_mul_by_quantized_multiplier(int32_t x, int32_t mult, int32_t shift);
/* One value through rq for channel j. */
uint8_t qk_requant_one(int32_t acc, const struct qk_requant *rq, size_t j);

/* ---- packed weight layouts ----
 *
 * "qgemm" (1x1 convolutions, fully connected, and dense KxK convolutions
 * on an im2col row of K = kh*kw*cin bytes in the order ky, kx, ci), for N
 * output channels, in blocks of QK_GEMM_NR (the last one zero-padded):
 *   QK_GEMM_NR int32   bias[n0 + j] - in_zp * sum_k w[n0 + j][k]
 *   KP = ceil(K/2) groups of QK_GEMM_NR x 2 int16:
 *                      w[n0 + j][2p], w[n0 + j][2p + 1] (0 past K)
 * Folding the input zero point into the bias lets the kernels multiply the
 * raw bytes (0..255) by the weights: pairs of such products are what
 * vpmaddwd sums without overflow. Size in bytes: qk_gemm_packed_size().
 *
 * "qdw" (depthwise, the reference's), for C channels and T taps, in blocks
 * of QK_DW_CB:
 *   QK_DW_CB int32 bias[c0 + j]; T groups of QK_DW_CB int16 w[t][c0 + j]
 * Size in bytes: qk_dw_packed_size(). Optimised tables have layouts of
 * their own (qkernels-dw-avx2.c, qkernels-dw-vnni.c): pack with the table
 * that runs it. */
#define QK_GEMM_NR 16
#define QK_DW_CB 16
/* The tallest depthwise kernel the tables take (the engine refuses more). */
#define QK_DW_KMAX 16
size_t qk_gemm_packed_size(size_t n, size_t k);
/* w: [n][k]; bias: [n]. */
void qk_gemm_pack(size_t n, size_t k, const int16_t *w, const int32_t *bias,
                  int32_t in_zp, void *packed);
size_t qk_dw_packed_size(size_t c, size_t taps);
/* w: [taps][c]; bias: [c]. */
void qk_dw_pack(size_t c, size_t taps, const int16_t *w, const int32_t *bias,
                void *packed);

/* ---- kernels ---- */

/* out[i*out_stride + j] = requant_j(bias'[j] + sum_k in[i*in_stride + k] *
 * w[j][k]) for i < m, j < n ("qgemm" layout, bias' with the zero point
 * folded). */
typedef void (*qk_gemm_fn)(size_t m, size_t n, size_t k, const uint8_t *in,
                           size_t in_stride, const void *packed,
                           const struct qk_requant *rq, uint8_t *out,
                           size_t out_stride);

/* One output row of a depthwise KxK convolution ("qdw" layout):
 *   out[x][c] = requant_c(bias[c] + sum (rows[ky][ix][c] - in_zp) *
 *                                       w[ky*kw + kx][c])
 * over the taps inside the input, ix = x*stride + kx - pad_left; rows[ky]
 * is NULL where the tap row is padding. Padding contributes nothing (TFLite
 * pads with the zero point). The reference's building block and the
 * definition of every depthwise kernel. */
typedef void (*qk_dwconv_row_fn)(size_t c, size_t in_w,
                                 const uint8_t *const *rows, size_t kh,
                                 size_t kw, size_t stride, size_t pad_left,
                                 size_t out_w, int32_t in_zp,
                                 const void *packed,
                                 const struct qk_requant *rq, uint8_t *out);

/* The geometry of a depthwise convolution: in[in_h][in_w][c] ->
 * out[out_h][out_w][c], a kh x kw kernel, a square stride, pad_top rows and
 * pad_left columns of padding before the input (after it: whatever out_h
 * and out_w imply). */
struct qk_dw_shape {
  size_t c, in_h, in_w, out_h, out_w, kh, kw, stride, pad_top, pad_left;
};

/* Output rows y0 <= y < y1 of a depthwise convolution, in and out being
 * whole tensors (row y at out + y * out_w * c): each row as
 * qk_dwconv_row_fn defines it, with rows[ky] = input row y*stride + ky -
 * pad_top (padding outside). packed: the table's dw_pack output for this
 * in_zp; scratch: dw_scratch_size(sh) bytes, any alignment, overwritten.
 * One call per layer lets a kernel convert each input row once, where the
 * rows of kh output rows overlap. */
typedef void (*qk_dwconv_fn)(const struct qk_dw_shape *sh, size_t y0,
                             size_t y1, const uint8_t *in, int32_t in_zp,
                             const void *packed, const struct qk_requant *rq,
                             uint8_t *out, void *scratch);

/* Quantised ADD of two tensors with their own scales. */
enum qk_add_mode {
  QK_ADD_XNNPACK = 0, /* integer multipliers of 2^-shift, one rounding */
  QK_ADD_TFLITE,      /* inputs << 20, three fixed-point multipliers */
};
struct qk_add_params {
  enum qk_add_mode mode;
  int32_t a_zp, b_zp, out_zp, lo, hi;
  /* XNNPACK */
  int32_t a_mult, b_mult, bias, shift;
  /* TFLite */
  int32_t left_shift, a_qm, a_shift, b_qm, b_shift, out_qm, out_shift;
};
typedef void (*qk_add_fn)(size_t n, const uint8_t *a, const uint8_t *b,
                          const struct qk_add_params *p, uint8_t *out);

/* Global average pool of npix pixels of c channels. */
enum qk_pool_mode {
  QK_POOL_FP32 = 0, /* lrintf((sum - npix*in_zp) * scale) + out_zp */
  QK_POOL_INT,      /* TFLite uint8: (sum + npix/2) / npix, same grid */
};
struct qk_pool_params {
  enum qk_pool_mode mode;
  int32_t in_zp, out_zp, lo, hi;
  float scale; /* in_scale / (out_scale * npix), QK_POOL_FP32 */
};
typedef void (*qk_avgpool_fn)(size_t npix, size_t c, const uint8_t *in,
                              const struct qk_pool_params *p, uint8_t *out);

struct qk_ops {
  const char *isa; /* "ref", "avx2", "avxvnni" */
  /* The GEMM's packed layout: "qgemm" above (ref, avx2) or a table's own
   * (avxvnni: qkernels-vnni.c). Pack with the table that runs it. */
  size_t (*gemm_packed_size)(size_t n, size_t k);
  void (*gemm_pack)(size_t n, size_t k, const int16_t *w,
                    const int32_t *bias, int32_t in_zp, void *packed);
  qk_gemm_fn gemm;
  /* The depthwise layout: "qdw" (ref), the table's own otherwise; the
   * packed bytes may depend on in_zp and on the weights' range. w:
   * [kh*kw][c]; bias: [c]. */
  size_t (*dw_packed_size)(size_t c, size_t kh, size_t kw);
  void (*dw_pack)(size_t c, size_t kh, size_t kw, const int16_t *w,
                  const int32_t *bias, int32_t in_zp, void *packed);
  size_t (*dw_scratch_size)(const struct qk_dw_shape *sh);
  qk_dwconv_fn dwconv;
  qk_add_fn add;
  qk_avgpool_fn avgpool;
};

/* The reference table (always), and the best one this CPU runs for isa
 * (0 = auto, as enum kern_isa; NULL when unavailable). */
const struct qk_ops *qk_ops_ref(void);
const struct qk_ops *qk_ops_get(int kern_isa);

#endif
