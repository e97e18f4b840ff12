/* streamsight — kernel micro-benchmark: GFLOP/s of each kernel variant on
 * MobileNetV2 and V1 1.0/224 shapes (pointwise GEMMs, depthwise 3x3 rows,
 * the first 3x3 stride-2 convolution, the classifier in float32 and with
 * half-precision weights), and the share of this core's
 * measured FMA peak. Single thread; each figure is the fastest call within
 * the time budget, because the machine is shared and the fastest call is
 * the one nothing interrupted.
 *
 * Usage: kernels-microbench [SECONDS-PER-CASE [ISA]]   (default 0.5, all)
 *
 * Depthwise "hot" rows repeat one output row over three input rows, as the
 * engine's fused blocks run them from cache; the full layers stream their
 * activations through L3. FLOPs count a multiply-add as two and include
 * the taps that read padding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fma-peak.h"
#include "kernels/kernels.h"

static double
now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *
random_floats(size_t n, uint32_t seed)
{
  float *v = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  return v;
}

struct gemm_case {
  size_t m, k, n;
  int residual;
  int cold; /* weights evicted from the caches before each call */
};

/* Pointwise layers of MobileNetV2 1.0/224 (M = pixels), the last 1x1 and the
 * classifier (M = 1). */
static const struct gemm_case gemm_cases[] = {
  { 12544, 32, 16, 0, 0 }, { 12544, 16, 96, 0, 0 }, { 3136, 24, 144, 0, 0 },
  { 3136, 144, 24, 1, 0 }, { 784, 32, 192, 0, 0 },  { 784, 192, 32, 1, 0 },
  { 196, 64, 384, 0, 0 },  { 196, 384, 64, 1, 0 },  { 196, 576, 96, 1, 0 },
  { 49, 160, 960, 0, 0 },  { 49, 960, 160, 1, 0 },  { 49, 320, 1280, 0, 0 },
  { 1, 1280, 1000, 0, 0 }, { 1, 1280, 1000, 0, 1 },
  /* row tiles of the engine's fused blocks (expansion / projection) */
  { 112, 16, 96, 0, 0 },   { 56, 144, 24, 1, 0 },   { 56, 32, 192, 0, 0 },
  { 28, 384, 64, 1, 0 },   { 14, 64, 384, 0, 0 },   { 42, 576, 96, 1, 0 },
  { 7, 160, 960, 0, 0 },   { 21, 960, 320, 0, 0 },
  /* MobileNetV1 1.0/224 pointwise layers, whole and as the engine's tiles */
  { 12544, 32, 64, 0, 0 }, { 3136, 128, 128, 0, 0 }, { 784, 256, 256, 0, 0 },
  { 196, 512, 512, 0, 0 }, { 49, 512, 1024, 0, 0 }, { 49, 1024, 1024, 0, 0 },
  { 112, 32, 64, 0, 0 },   { 56, 128, 128, 0, 0 },  { 56, 512, 512, 0, 0 },
  { 1, 1024, 1000, 0, 1 },
};

/* Larger than the L3 of the machine (32 MiB on Zen 3): reading it evicts
 * the weights, as the rest of the network does between two classifier
 * calls. */
#define EVICT_BYTES (64u << 20)
static float *evict_buf;

static void
evict_caches(void)
{
  const size_t n = EVICT_BYTES / sizeof(float);
  if (!evict_buf) {
    evict_buf = malloc(EVICT_BYTES);
    for (size_t i = 0; i < n; i++)
      evict_buf[i] = (float)i;
  }
  for (size_t i = 0; i < n; i += 16)
    evict_buf[i] += 1.0f;
}

static double
time_gemm(const struct kern_ops *ops, const struct gemm_case *c,
          double budget_s)
{
  float *a = random_floats(c->m * c->k, 1);
  float *w = random_floats(c->n * c->k, 2);
  float *b = random_floats(c->n, 3);
  float *res = random_floats(c->m * c->n, 4);
  float *out = random_floats(c->m * c->n, 5);
  float *packed = aligned_alloc(
      64, (kern_gemm_packed_size(ops->gemm_nr, c->n, c->k) * sizeof(float) +
           63) / 64 * 64);
  kern_gemm_pack(ops->gemm_nr, c->n, c->k, w, b, packed);
  /* The minimum over single calls: the machine is shared, and the fastest
   * call is the one nothing else interrupted. */
  double best = 1e30, start = now_s();
  do {
    if (c->cold)
      evict_caches();
    double t0 = now_s();
    if (c->m == 1) /* the classifier: the engine runs the one-row GEMM */
      ops->gemv(c->n, c->k, a, packed, out, c->residual ? res : NULL, 0.0f,
                6.0f);
    else
      ops->gemm(c->m, c->n, c->k, a, c->k, packed, out, c->n,
                c->residual ? res : NULL, c->n, 0.0f, 6.0f);
    double t = now_s() - t0;
    if (t < best)
      best = t;
  } while (now_s() - start < budget_s);
  free(a);
  free(w);
  free(b);
  free(res);
  free(out);
  free(packed);
  return best;
}

/* The classifier with half-precision weights ("gemv16"), cold as above. */
static double
time_gemv16(const struct kern_ops *ops, size_t n, size_t k, double budget_s)
{
  float *a = random_floats(k, 1);
  float *w = random_floats(n * k, 2);
  float *b = random_floats(n, 3);
  float *out = random_floats(n, 5);
  float *packed = aligned_alloc(
      64, (kern_gemv16_packed_size(n, k) * sizeof(float) + 63) / 64 * 64);
  kern_gemv16_pack(n, k, w, b, packed);
  double best = 1e30, start = now_s();
  do {
    evict_caches();
    double t0 = now_s();
    ops->gemv16(n, k, a, packed, out, -1e30f, 1e30f);
    double t = now_s() - t0;
    if (t < best)
      best = t;
  } while (now_s() - start < budget_s);
  free(a);
  free(w);
  free(b);
  free(out);
  free(packed);
  return best;
}

struct dw_case {
  size_t h, w, c, stride;
};

static const struct dw_case dw_cases[] = {
  { 112, 112, 32, 1 }, { 112, 112, 96, 2 }, { 56, 56, 144, 1 },
  { 56, 56, 144, 2 },  { 28, 28, 192, 1 },  { 28, 28, 192, 2 },
  { 14, 14, 384, 1 },  { 14, 14, 576, 1 },  { 14, 14, 576, 2 },
  { 7, 7, 960, 1 },
  /* MobileNetV1: pixels of 512 and 1024 channels lie 2 and 4 KiB apart */
  { 56, 56, 128, 1 },  { 14, 14, 512, 1 },  { 7, 7, 1024, 1 },
};

/* A whole layer, padding 1 on every side (torchvision). */
static void
run_rows(const struct kern_ops *ops, int dense, size_t h, size_t w, size_t cin,
         size_t cout, size_t stride, const float *in, const float *packed,
         float *out)
{
  size_t oh = (h + 2 - 3) / stride + 1, ow = (w + 2 - 3) / stride + 1;
  const float *rows[3];
  for (size_t oy = 0; oy < oh; oy++) {
    for (size_t ky = 0; ky < 3; ky++) {
      long iy = (long)(oy * stride + ky) - 1;
      rows[ky] = iy >= 0 && iy < (long)h ? in + (size_t)iy * w * cin : NULL;
    }
    if (dense)
      ops->conv(cin, w, rows, 3, 3, stride, 1, ow, cout, packed,
                out + oy * ow * cout, 0.0f, 6.0f);
    else
      (stride == 1 ? ops->dwconv3x3_s1 : ops->dwconv3x3_s2)(
          cin, w, rows, 3, 3, stride, 1, ow, packed, out + oy * ow * cout,
          0.0f, 6.0f);
  }
}

static double
time_rows(const struct kern_ops *ops, int dense, size_t h, size_t w,
          size_t cin, size_t cout, size_t stride, double budget_s)
{
  size_t oh = (h + 2 - 3) / stride + 1, ow = (w + 2 - 3) / stride + 1;
  float *in = random_floats(h * w * cin, 1);
  float *wt = random_floats(9 * cin * cout, 2);
  float *b = random_floats(cout, 3);
  float *out = random_floats(oh * ow * cout, 4);
  size_t psz = dense ? kern_gemm_packed_size(ops->gemm_nr, cout, 9 * cin)
                     : kern_dw_packed_size(cin, 9);
  float *packed = aligned_alloc(64, (psz * sizeof(float) + 63) / 64 * 64);
  if (dense)
    kern_gemm_pack(ops->gemm_nr, cout, 9 * cin, wt, b, packed);
  else
    kern_dw_pack(cin, 9, wt, b, packed);
  double best = 1e30, start = now_s();
  do {
    double t0 = now_s();
    run_rows(ops, dense, h, w, cin, cout, stride, in, packed, out);
    double t = now_s() - t0;
    if (t < best)
      best = t;
  } while (now_s() - start < budget_s);
  free(in);
  free(wt);
  free(b);
  free(out);
  free(packed);
  return best;
}

/* One depthwise output row from three (non-padding) input rows, over and
 * over: the working set stays in L1/L2. */
static double
time_dwrow(const struct kern_ops *ops, size_t w, size_t c, size_t stride,
           double budget_s)
{
  size_t ow = (w - 1) / stride + 1;
  float *in = random_floats(3 * w * c, 1);
  float *wt = random_floats(9 * c, 2);
  float *b = random_floats(c, 3);
  float *out = random_floats(ow * c, 4);
  float *packed = aligned_alloc(
      64, (kern_dw_packed_size(c, 9) * sizeof(float) + 63) / 64 * 64);
  kern_dw_pack(c, 9, wt, b, packed);
  const float *rows[3] = { in, in + w * c, in + 2 * w * c };
  const kern_dwconv_row_fn dw = stride == 1 ? ops->dwconv3x3_s1
                                            : ops->dwconv3x3_s2;
  double best = 1e30, start = now_s();
  do {
    double t0 = now_s();
    for (int rep = 0; rep < 10; rep++)
      dw(c, w, rows, 3, 3, stride, 1, ow, packed, out, 0.0f, 6.0f);
    double t = (now_s() - t0) / 10;
    if (t < best)
      best = t;
  } while (now_s() - start < budget_s);
  free(in);
  free(wt);
  free(b);
  free(out);
  free(packed);
  return best;
}

/* GFLOP/s of the FMA peak loop (tools/fma-peak.c), best of 20 runs of
 * about 10 ms; 0 without AVX2/FMA. */
static double
measure_peak(void)
{
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    return 0.0;
  const uint64_t iters = 1u << 20;
  volatile float sink = 0.0f;
  double best = 0.0;
  for (int t = 0; t < 20; t++) {
    double t0 = now_s();
    sink += fma_peak_run(iters);
    double g = (double)iters * FMA_PEAK_FLOPS_PER_ITER / (now_s() - t0) * 1e-9;
    if (g > best)
      best = g;
  }
  (void)sink;
  return best;
}

static double peak_gflops;

static void
print_rate(double flops, double t)
{
  double g = flops / t * 1e-9;
  if (peak_gflops > 0)
    printf(" %9.1f us %7.1f GFLOP/s %5.1f%%\n", t * 1e6, g,
           100.0 * g / peak_gflops);
  else
    printf(" %9.1f us %7.1f GFLOP/s\n", t * 1e6, g);
}

int
main(int argc, char **argv)
{
  double budget = argc > 1 ? atof(argv[1]) : 0.5;
  const char *only = argc > 2 ? argv[2] : NULL;
  kern_init();
  peak_gflops = measure_peak();
  printf("FMA peak of this core: %.1f GFLOP/s; %.2f s per case\n",
         peak_gflops, budget);
  static const enum kern_isa isas[] = { KERN_ISA_REF, KERN_ISA_AVX2 };
  for (size_t v = 0; v < sizeof isas / sizeof isas[0]; v++) {
    const struct kern_ops *ops = kern_ops_get(isas[v]);
    if (!ops || (only && strcmp(only, ops->isa) != 0))
      continue;
    for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++) {
      const struct gemm_case *c = &gemm_cases[i];
      double t = time_gemm(ops, c, budget);
      printf("%-5s gemm   M=%-5zu K=%-4zu N=%-4zu%s      ", ops->isa, c->m,
             c->k, c->n, c->residual ? " +res" : (c->cold ? " cold" : "     "));
      print_rate(2.0 * c->m * c->k * c->n, t);
    }
    for (size_t i = 0; i < sizeof dw_cases / sizeof dw_cases[0]; i++) {
      const struct dw_case *c = &dw_cases[i];
      double t = time_rows(ops, 0, c->h, c->w, c->c, c->c, c->stride, budget);
      size_t oh = (c->h - 1) / c->stride + 1, ow = (c->w - 1) / c->stride + 1;
      printf("%-5s dwconv %3zux%-3zu c=%-4zu s%zu           ", ops->isa, c->h,
             c->w, c->c, c->stride);
      print_rate(2.0 * oh * ow * c->c * 9, t);
    }
    /* The same rows with a cache-resident working set, as inside the
     * engine's fused blocks (a few rows of input and output): 3-row input,
     * one output row, repeated. */
    for (size_t i = 0; i < sizeof dw_cases / sizeof dw_cases[0]; i++) {
      const struct dw_case *c = &dw_cases[i];
      double t = time_dwrow(ops, c->w, c->c, c->stride, budget / 4);
      size_t ow = (c->w - 1) / c->stride + 1;
      printf("%-5s dwrow  3x%-5zu c=%-4zu s%zu hot       ", ops->isa, c->w, c->c,
             c->stride);
      print_rate(2.0 * ow * c->c * 9, t);
    }
    static const size_t fc[][2] = { { 1000, 1280 }, { 1000, 1024 } };
    for (size_t i = 0; i < 2; i++) {
      double tg = time_gemv16(ops, fc[i][0], fc[i][1], budget);
      printf("%-5s gemv16 M=1     K=%-4zu N=%-4zu cold      ", ops->isa,
             fc[i][1], fc[i][0]);
      print_rate(2.0 * fc[i][0] * fc[i][1], tg);
    }
    double t = time_rows(ops, 1, 224, 224, 3, 32, 2, budget);
    printf("%-5s conv   224x224 3->32 3x3 s2         ", ops->isa);
    print_rate(2.0 * 112 * 112 * 32 * 27, t);
  }
  return 0;
}
