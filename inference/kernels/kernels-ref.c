/* streamsight — reference kernels: plain loops that define each kernel's
 * contract (see kernels.h) and serve as the portable fallback. */
#include "kernels-ref.h"

#include "../half.h"

#include <assert.h>
#include <math.h>

static inline float
clampf(float v, float lo, float hi)
{
  return v < lo ? lo : (v > hi ? hi : v);
}

void
kern_f32_gemm_clamp__ref(size_t m, size_t n, size_t k, const float *in,
                         size_t in_stride, const float *packed, float *out,
                         size_t out_stride, const float *res,
                         size_t res_stride, float min, float max)
{
  const size_t nr = KERN_REF_GEMM_NR;
  for (size_t i = 0; i < m; i++) {
    const float *a = in + i * in_stride;
    const float *blk = packed;
    for (size_t n0 = 0; n0 < n; n0 += nr, blk += nr * (k + 1)) {
      size_t nb = n - n0 < nr ? n - n0 : nr;
      for (size_t j = 0; j < nb; j++) {
        float acc = blk[j];
        for (size_t kk = 0; kk < k; kk++)
          acc += a[kk] * blk[nr + kk * nr + j];
        if (res)
          acc += res[i * res_stride + n0 + j];
        out[i * out_stride + n0 + j] = clampf(acc, min, max);
      }
    }
  }
}

/* The GEMM of one row is the GEMM with m = 1. */
void
kern_f32_gemv_clamp__ref(size_t n, size_t k, const float *in,
                         const float *packed, float *out, const float *res,
                         float min, float max)
{
  kern_f32_gemm_clamp__ref(1, n, k, in, k, packed, out, n, res, n, min, max);
}

void
kern_f32_conv_clamp__ref(size_t cin, size_t in_w, const float *const *rows,
                         size_t kh, size_t kw, size_t stride, size_t pad_left,
                         size_t out_w, size_t cout, const float *packed,
                         float *out, float min, float max)
{
  const size_t nr = KERN_REF_GEMM_NR;
  const size_t k = kh * kw * cin;
  for (size_t x = 0; x < out_w; x++) {
    const float *blk = packed;
    for (size_t n0 = 0; n0 < cout; n0 += nr, blk += nr * (k + 1)) {
      size_t nb = cout - n0 < nr ? cout - n0 : nr;
      for (size_t j = 0; j < nb; j++) {
        float acc = blk[j];
        for (size_t ky = 0; ky < kh; ky++) {
          if (!rows[ky])
            continue;
          for (size_t kx = 0; kx < kw; kx++) {
            /* ix = x*stride + kx - pad_left, in unsigned arithmetic */
            size_t ix = x * stride + kx;
            if (ix < pad_left || ix - pad_left >= in_w)
              continue;
            ix -= pad_left;
            const float *px = rows[ky] + ix * cin;
            const float *wk = blk + nr + ((ky * kw + kx) * cin) * nr + j;
            for (size_t ci = 0; ci < cin; ci++)
              acc += px[ci] * wk[ci * nr];
          }
        }
        out[x * cout + n0 + j] = clampf(acc, min, max);
      }
    }
  }
}

void
kern_f32_dwconv_clamp__ref(size_t c, size_t in_w, const float *const *rows,
                           size_t kh, size_t kw, size_t stride,
                           size_t pad_left, size_t out_w, const float *packed,
                           float *out, float min, float max)
{
  const size_t taps = kh * kw;
  for (size_t x = 0; x < out_w; x++) {
    for (size_t ch = 0; ch < c; ch++) {
      /* block ch / CB: CB biases, then taps x CB weights */
      const float *blk = packed + ch / KERN_DW_CB * KERN_DW_CB * (taps + 1);
      const float *w = blk + KERN_DW_CB + ch % KERN_DW_CB;
      float acc = blk[ch % KERN_DW_CB];
      for (size_t ky = 0; ky < kh; ky++) {
        if (!rows[ky])
          continue;
        for (size_t kx = 0; kx < kw; kx++) {
          size_t ix = x * stride + kx;
          if (ix < pad_left || ix - pad_left >= in_w)
            continue;
          ix -= pad_left;
          acc += rows[ky][ix * c + ch] * w[(ky * kw + kx) * KERN_DW_CB];
        }
      }
      out[x * c + ch] = clampf(acc, min, max);
    }
  }
}

/* The 3x3 depthwise kernels of stride 1 and 2 are the general one on those
 * shapes. */
void
kern_f32_dwconv3x3_s1_clamp__ref(size_t c, size_t in_w,
                                 const float *const *rows, size_t kh,
                                 size_t kw, size_t stride, size_t pad_left,
                                 size_t out_w, const float *packed,
                                 float *out, float min, float max)
{
  assert(kh == 3 && kw == 3 && stride == 1);
  kern_f32_dwconv_clamp__ref(c, in_w, rows, 3, 3, 1, pad_left, out_w, packed,
                             out, min, max);
}

void
kern_f32_dwconv3x3_s2_clamp__ref(size_t c, size_t in_w,
                                 const float *const *rows, size_t kh,
                                 size_t kw, size_t stride, size_t pad_left,
                                 size_t out_w, const float *packed,
                                 float *out, float min, float max)
{
  assert(kh == 3 && kw == 3 && stride == 2);
  kern_f32_dwconv_clamp__ref(c, in_w, rows, 3, 3, 2, pad_left, out_w, packed,
                             out, min, max);
}

void
kern_f32_gemv16_clamp__ref(size_t n, size_t k, const float *in,
                           const float *packed, float *out, float min,
                           float max)
{
  const size_t np = (n + 15) / 16 * 16;
  const unsigned short *h = (const unsigned short *)(packed + np);
  for (size_t j = 0; j < n; j++) {
    const unsigned short *wj = h + j / 16 * 16 * k + j % 16;
    float acc = packed[j];
    for (size_t kk = 0; kk < k; kk++)
      acc += in[kk] * half_to_f32(wj[kk * 16]);
    out[j] = clampf(acc, min, max);
  }
}

void
kern_f32_avgpool__ref(size_t n, size_t c, const float *in, float *out)
{
  for (size_t ch = 0; ch < c; ch++) {
    /* Accumulate in double: n can be a few thousand pixels. */
    double acc = 0.0;
    for (size_t p = 0; p < n; p++)
      acc += in[p * c + ch];
    out[ch] = (float)(acc / (double)n);
  }
}

void
kern_f32_add_clamp__ref(size_t n, const float *a, const float *b, float *out,
                        float min, float max)
{
  for (size_t i = 0; i < n; i++)
    out[i] = clampf(a[i] + b[i], min, max);
}

void
kern_f32_softmax__ref(size_t n, const float *in, float *out)
{
  if (n == 0)
    return;
  float mx = in[0];
  for (size_t i = 1; i < n; i++)
    mx = in[i] > mx ? in[i] : mx;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    out[i] = expf(in[i] - mx);
    sum += out[i];
  }
  float inv = (float)(1.0 / sum);
  for (size_t i = 0; i < n; i++)
    out[i] *= inv;
}
