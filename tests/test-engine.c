/* Engine: the planned, fused execution equals a naive interpretation of the
 * graph; results are identical across scratches and threads. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "mobilenet.h"
#include "model-graph.h"
#include "testutil.h"

#define SEED 20261127u

/* A second, deliberately simple interpretation of the graph semantics (one
 * buffer per value, direct loops), independent of kernels and planner. */
static float *
naive_run(const struct ss_model *m, const float *input)
{
  float **vals = calloc((size_t)m->n_values, sizeof *vals);
  vals[0] = (float *)input;
  for (int i = 0; i < m->n_layers; i++) {
    const struct model_layer *l = &m->layers[i];
    const struct model_value *iv = &m->values[l->in], *ov = &m->values[l->out];
    float *o = calloc((size_t)ov->h * ov->w * ov->c, sizeof *o);
    const float *x = vals[l->in];
    for (int oy = 0; oy < ov->h; oy++)
      for (int ox = 0; ox < ov->w; ox++)
        for (int co = 0; co < ov->c; co++) {
          double acc = 0;
          if (l->kind == MODEL_LAYER_CONV || l->kind == MODEL_LAYER_DWCONV) {
            acc = l->bias[co];
            for (int ky = 0; ky < l->kh; ky++)
              for (int kx = 0; kx < l->kw; kx++) {
                int iy = oy * l->stride + ky - l->pad_top;
                int ix = ox * l->stride + kx - l->pad_left;
                if (iy < 0 || ix < 0 || iy >= iv->h || ix >= iv->w)
                  continue;
                const float *px = x + ((size_t)iy * iv->w + ix) * iv->c;
                if (l->kind == MODEL_LAYER_DWCONV)
                  acc += px[co] * l->weight[(ky * l->kw + kx) * l->cout + co];
                else
                  for (int ci = 0; ci < l->cin; ci++)
                    acc += px[ci] *
                           l->weight[((co * l->kh + ky) * l->kw + kx) * l->cin +
                                     ci];
              }
          } else if (l->kind == MODEL_LAYER_FC) {
            acc = l->bias[co];
            for (int ci = 0; ci < l->cin; ci++)
              acc += x[ci] * l->weight[co * l->cin + ci];
          } else if (l->kind == MODEL_LAYER_AVGPOOL) {
            for (int p = 0; p < iv->h * iv->w; p++)
              acc += x[(size_t)p * iv->c + co];
            acc /= iv->h * iv->w;
          } else if (l->kind == MODEL_LAYER_ADD) {
            size_t idx = ((size_t)oy * ov->w + ox) * ov->c + co;
            acc = (double)x[idx] + vals[l->in2][idx];
          }
          float v = (float)acc;
          v = v < l->act_min ? l->act_min : v > l->act_max ? l->act_max : v;
          o[((size_t)oy * ov->w + ox) * ov->c + co] = v;
        }
    vals[l->out] = o;
  }
  float *out = malloc((size_t)m->num_outputs * sizeof *out);
  memcpy(out, vals[m->output], (size_t)m->num_outputs * sizeof *out);
  for (int v = 1; v < m->n_values; v++)
    free(vals[v]);
  free(vals);
  return out;
}

static const struct {
  enum model_arch arch;
  float alpha;
  int res;
  enum model_pad_rule pad;
} nets[] = {
  { MODEL_ARCH_MOBILENET_V2, 0.35f, 64, MODEL_PAD_RULE_SYMMETRIC },
  { MODEL_ARCH_MOBILENET_V2, 0.5f, 66, MODEL_PAD_RULE_TF_SAME }, /* odd sizes */
  { MODEL_ARCH_MOBILENET_V1, 0.25f, 96, MODEL_PAD_RULE_TF_SAME },
  { MODEL_ARCH_MOBILENET_V1, 0.25f, 67, MODEL_PAD_RULE_SYMMETRIC },
  /* 1x1 images at the end: the GEMMs of one row (the one-row kernel) in
   * pointwise steps and in blocks */
  { MODEL_ARCH_MOBILENET_V2, 0.35f, 32, MODEL_PAD_RULE_SYMMETRIC },
  { MODEL_ARCH_MOBILENET_V1, 0.25f, 32, MODEL_PAD_RULE_TF_SAME },
};

/* Engine variants checked against the naive interpretation: kernels x
 * fusion x tile heights (1, 2 and 3 rows exercise the ring of expanded rows
 * across tile boundaries and wraps; 0 is the automatic choice). */
static const struct {
  int fuse, tile_rows;
} variants[] = { { 0, 0 }, { 1, 0 }, { 1, 1 }, { 1, 2 }, { 1, 3 } };

START_TEST(test_engine_matches_naive)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(mobilenet_build(nets[_i].arch, nets[_i].alpha, nets[_i].res,
                                   nets[_i].pad, 1001, &m, &err), 0);
  tu_fill_model_weights(m, SEED + (uint64_t)_i);
  size_t n_in = (size_t)nets[_i].res * nets[_i].res * 3;
  float *input = malloc(n_in * sizeof *input);
  struct tu_rng r;
  tu_rng_seed(&r, SEED);
  tu_rng_fill(&r, input, n_in, -1.0f, 1.0f);
  float *want = naive_run(m, input);

  for (int isa = KERN_ISA_REF; isa <= KERN_ISA_AVX2; isa++) {
    if (!kern_ops_get((enum kern_isa)isa))
      continue;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
      struct engine_options o = { .isa = (enum kern_isa)isa,
                                  .fuse_blocks = variants[v].fuse,
                                  .tile_rows = variants[v].tile_rows };
      struct ss_engine *e = NULL;
      struct ss_scratch *s = NULL;
      ck_assert_msg(engine_new_opts(m, &o, &e, &err) == 0, "%s", err.message);
      ck_assert_int_eq(engine_scratch_new(e, &s, &err), 0);
      float *got = malloc((size_t)m->num_outputs * sizeof *got);
      engine_run(e, s, input, got);
      double max_err = 0, max_ref = 0;
      for (int j = 0; j < m->num_outputs; j++) {
        max_err = fmax(max_err, fabs((double)got[j] - want[j]));
        max_ref = fmax(max_ref, fabs((double)want[j]));
      }
      printf("net %d (%s, fuse %d, tile %d): max |logit| %.3f, max abs err "
             "%.2e\n", _i, engine_isa_name(e), o.fuse_blocks, o.tile_rows,
             max_ref, max_err);
      /* float32 accumulation order differs from the double-accumulating
       * naive loops over ~50 layers: 1e-4 relative to the logit scale. */
      ck_assert_msg(max_err <= 1e-4 * fmax(1.0, max_ref),
                    "net %d %s fuse %d tile %d: max abs err %g (scale %g)", _i,
                    engine_isa_name(e), o.fuse_blocks, o.tile_rows, max_err,
                    max_ref);
      free(got);
      engine_scratch_free(s);
      engine_free(e);
    }
  }
  free(want);
  free(input);
  model_unref(m);
}
END_TEST

/* The half-precision classifier (engine_options.f16_classifier): the
 * classifier step runs the gemv16 kernel, and the logits move by no more
 * than the weights' rounding allows. Rounding to binary16 changes each
 * weight by at most 2^-11 of itself, so logit j moves by at most
 * 2^-11 * sum_k |a_k| |w_jk| <= 2^-11 * 6 * max_j sum_k |w_jk|, the
 * classifier's inputs a_k being averages of ReLU6 outputs (<= 6); plus the
 * float32 bar of test_engine_matches_naive. */
START_TEST(test_f16_classifier)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(mobilenet_build(nets[_i].arch, nets[_i].alpha, nets[_i].res,
                                   nets[_i].pad, 1001, &m, &err), 0);
  tu_fill_model_weights(m, SEED + (uint64_t)_i);
  const struct model_layer *fc = &m->layers[m->n_layers - 1];
  ck_assert_int_eq(fc->kind, MODEL_LAYER_FC);
  double l1 = 0;
  for (int j = 0; j < fc->cout; j++) {
    double sum = 0;
    for (int k = 0; k < fc->cin; k++)
      sum += fabs(fc->weight[(size_t)j * fc->cin + k]);
    l1 = fmax(l1, sum);
  }
  const double bound16 = ldexp(1.0, -11) * 6.0 * l1;
  size_t n_in = (size_t)nets[_i].res * nets[_i].res * 3;
  float *input = malloc(n_in * sizeof *input);
  struct tu_rng r;
  tu_rng_seed(&r, SEED + 7);
  tu_rng_fill(&r, input, n_in, -1.0f, 1.0f);
  float *want = naive_run(m, input);
  float *got = malloc((size_t)m->num_outputs * sizeof *got);

  for (int isa = KERN_ISA_REF; isa <= KERN_ISA_AVX2; isa++) {
    if (!kern_ops_get((enum kern_isa)isa))
      continue;
    for (int f16 = 0; f16 < 2; f16++) {
      struct engine_options o = { .isa = (enum kern_isa)isa,
                                  .fuse_blocks = 1, .f16_classifier = f16 };
      struct ss_engine *e = NULL;
      struct ss_scratch *s = NULL;
      ck_assert_msg(engine_new_opts(m, &o, &e, &err) == 0, "%s", err.message);
      struct engine_step_info info;
      engine_step_info(e, engine_num_steps(e) - 1, &info);
      ck_assert_str_eq(info.kind, f16 ? "gemv16" : "gemm");
      ck_assert_int_eq(engine_scratch_new(e, &s, &err), 0);
      engine_run(e, s, input, got);
      double max_err = 0, max_ref = 0;
      for (int j = 0; j < m->num_outputs; j++) {
        max_err = fmax(max_err, fabs((double)got[j] - want[j]));
        max_ref = fmax(max_ref, fabs((double)want[j]));
      }
      double tol = 1e-4 * fmax(1.0, max_ref) + (f16 ? bound16 : 0.0);
      printf("net %d (%s, f16 classifier %d): max abs err %.2e (bound "
             "%.2e)\n", _i, engine_isa_name(e), f16, max_err, tol);
      ck_assert_msg(max_err <= tol, "net %d %s f16 %d: max abs err %g > %g",
                    _i, engine_isa_name(e), f16, max_err, tol);
      engine_scratch_free(s);
      engine_free(e);
    }
  }
  free(got);
  free(want);
  free(input);
  model_unref(m);
}
END_TEST

static void
count_steps(const struct ss_engine *e, int *blocks, int *fused_adds,
            int *adds, uint64_t *macs)
{
  *blocks = *fused_adds = *adds = 0;
  *macs = 0;
  for (int i = 0; i < engine_num_steps(e); i++) {
    struct engine_step_info info;
    engine_step_info(e, i, &info);
    *blocks += strcmp(info.kind, "block") == 0;
    *fused_adds += info.fused_add;
    *adds += strcmp(info.kind, "add") == 0;
    *macs += info.macs;
  }
}

START_TEST(test_plan)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 1.0f, 224,
                                   MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err),
                   0);
  size_t all = 0;
  for (int v = 1; v < m->n_values; v++)
    all += (size_t)m->values[v].h * m->values[v].w * m->values[v].c;

  /* Unfused: every residual add still rides in its projection's GEMM. */
  struct engine_options o = { .isa = KERN_ISA_REF, .fuse_blocks = 0 };
  struct ss_engine *e = NULL;
  ck_assert_int_eq(engine_new_opts(m, &o, &e, &err), 0);
  int blocks, fused, adds;
  uint64_t macs;
  count_steps(e, &blocks, &fused, &adds, &macs);
  ck_assert_int_eq(blocks, 0);
  ck_assert_int_eq(fused, 10);
  ck_assert_int_eq(adds, 0);
  ck_assert_uint_eq(macs, model_macs(m));
  /* Memory reuse: far less than all activations together, but at least the
   * largest pair alive at once: the stride-2 depthwise of features.2 reads
   * 112x112x96 and writes 56x56x96. */
  size_t unfused = engine_scratch_bytes(e) / sizeof(float);
  ck_assert_uint_lt(unfused, all / 4);
  ck_assert_uint_ge(unfused, (size_t)112 * 112 * 96 + 56 * 56 * 96);
  engine_free(e);

  /* Fused: the 17 inverted residual blocks are one step each, and the
   * expanded tensors are never materialised. */
  ck_assert_int_eq(engine_new(m, KERN_ISA_REF, &e, &err), 0);
  count_steps(e, &blocks, &fused, &adds, &macs);
  ck_assert_int_eq(blocks, 17);
  ck_assert_int_eq(fused, 10);
  ck_assert_int_eq(adds, 0);
  ck_assert_uint_eq(macs, model_macs(m));
  size_t fused_arena = engine_scratch_bytes(e) / sizeof(float);
  printf("arena: unfused %zu floats, fused %zu, all activations %zu\n",
         unfused, fused_arena, all);
  ck_assert_uint_lt(fused_arena, unfused / 2);
  engine_free(e);
  model_unref(m);
}
END_TEST

struct thread_arg {
  const struct ss_engine *e;
  const float *input;
  float *out;
  int runs;
};

static void *
thread_main(void *p)
{
  struct thread_arg *a = p;
  struct ss_scratch *s = NULL;
  if (engine_scratch_new(a->e, &s, NULL) != 0)
    return NULL;
  for (int i = 0; i < a->runs; i++)
    engine_run(a->e, s, a->input, a->out);
  engine_scratch_free(s);
  return NULL;
}

START_TEST(test_threads_identical)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_eq(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96,
                                   MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err),
                   0);
  tu_fill_model_weights(m, SEED);
  struct ss_engine *e = NULL;
  ck_assert_int_eq(engine_new(m, KERN_ISA_AUTO, &e, &err), 0);
  model_unref(m); /* the engine keeps its own reference */
  enum { N = 4 };
  float *inputs[N], *outs[N], *single[N];
  size_t n_in = 96 * 96 * 3;
  struct tu_rng r;
  tu_rng_seed(&r, SEED);
  pthread_t th[N];
  struct thread_arg args[N];
  for (int t = 0; t < N; t++) {
    inputs[t] = malloc(n_in * sizeof(float));
    tu_rng_fill(&r, inputs[t], n_in, -1.0f, 1.0f);
    outs[t] = calloc(1000, sizeof(float));
    single[t] = calloc(1000, sizeof(float));
    args[t] = (struct thread_arg){ e, inputs[t], outs[t], 5 };
  }
  struct ss_scratch *s = NULL;
  ck_assert_int_eq(engine_scratch_new(e, &s, &err), 0);
  for (int t = 0; t < N; t++)
    engine_run(e, s, inputs[t], single[t]);
  engine_scratch_free(s);
  for (int t = 0; t < N; t++)
    pthread_create(&th[t], NULL, thread_main, &args[t]);
  for (int t = 0; t < N; t++)
    pthread_join(th[t], NULL);
  for (int t = 0; t < N; t++) {
    ck_assert_msg(memcmp(outs[t], single[t], 1000 * sizeof(float)) == 0,
                  "thread %d differs from the single-threaded run", t);
    /* different inputs give different outputs (the test can fail) */
    if (t > 0)
      ck_assert(memcmp(single[t], single[0], 1000 * sizeof(float)) != 0);
  }
  /* Freed only now: every t compares with single[0]. */
  for (int t = 0; t < N; t++) {
    free(inputs[t]);
    free(outs[t]);
    free(single[t]);
  }
  engine_free(e);
}
END_TEST

static const struct engine_options auto_o = { .isa = KERN_ISA_AUTO };
static const struct engine_options int_ref_o = {
  .isa = KERN_ISA_REF, .arith = ENGINE_ARITH_INTEGER,
};
static const struct engine_options float_o = { .isa = KERN_ISA_REF,
                                               .arith = ENGINE_ARITH_FLOAT };

/* Which files the integer engine takes: the tiny uint8 fixture has a
 * depthwise layer with float16 weights, so AUTO runs it in float and
 * INTEGER refuses it naming that layer; a built (float) network likewise. */
START_TEST(test_integer_refuses)
{
  char path[1024];
  tu_fixture_path("tflite/tiny-quant.tflite", path, sizeof path);
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  struct ss_engine *e = NULL;
  ck_assert_msg(model_load(path, &m, &err) == 0, "%s", err.message);
  ck_assert_int_eq(engine_new_opts(m, &auto_o, &e, &err), 0);
  ck_assert_str_eq(engine_arith_name(e), "float");
  ck_assert(!engine_outputs_probs(e));
  engine_free(e);
  e = NULL;
  ck_assert_int_eq(engine_new_opts(m, &int_ref_o, &e, &err),
                   SS_EUNSUPPORTED);
  ck_assert_ptr_null(e);
  ck_assert_msg(strstr(err.message, "dw2"), "%s", err.message);
  model_unref(m);

  ck_assert_int_eq(mobilenet_build(MODEL_ARCH_MOBILENET_V1, 0.25f, 32,
                                   MODEL_PAD_RULE_TF_SAME, 10, &m, &err),
                   0);
  ck_assert_int_eq(engine_new_opts(m, &auto_o, &e, &err), 0);
  ck_assert_str_eq(engine_arith_name(e), "float");
  engine_free(e);
  e = NULL;
  ck_assert_int_eq(engine_new_opts(m, &int_ref_o, &e, &err),
                   SS_EUNSUPPORTED);
  ck_assert_ptr_null(e);
  ck_assert_msg(strstr(err.message, "quantised"), "%s", err.message);
  model_unref(m);
}
END_TEST

/* The integer engine on a real uint8 file (needs STREAMSIGHT_TEST_DATA):
 * AUTO picks it, its output is the file's softmax (every probability a
 * whole number of 256ths, summing to about 1), it ranks about as the
 * float engine on the same file does, and the reference and the best
 * kernels give the same bytes. */
START_TEST(test_integer_engine)
{
  char path[1024];
  if (!tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite", path,
                    sizeof path))
    return;
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(model_load(path, &m, &err) == 0, "%s: %s", path,
                err.message);
  struct ss_engine *ei = NULL, *er = NULL, *ef = NULL;
  const struct engine_options ref_o = int_ref_o;
  ck_assert_msg(engine_new_opts(m, &auto_o, &ei, &err) == 0, "%s",
                err.message);
  ck_assert_msg(engine_new_opts(m, &ref_o, &er, &err) == 0, "%s",
                err.message);
  ck_assert_msg(engine_new_opts(m, &float_o, &ef, &err) == 0, "%s",
                err.message);
  ck_assert_str_eq(engine_arith_name(ei), "integer");
  ck_assert_str_eq(engine_arith_name(ef), "float");
  ck_assert(engine_outputs_probs(ei));
  ck_assert(!engine_outputs_probs(ef));
  struct ss_scratch *si = NULL, *sr = NULL, *sf = NULL;
  ck_assert_int_eq(engine_scratch_new(ei, &si, &err), 0);
  ck_assert_int_eq(engine_scratch_new(er, &sr, &err), 0);
  ck_assert_int_eq(engine_scratch_new(ef, &sf, &err), 0);
  const int h = model_input_height(m), w = model_input_width(m);
  const int n = model_num_outputs(m);
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  float *in = malloc((size_t)h * w * 3 * sizeof *in);
  float *oi = malloc((size_t)n * sizeof *oi);
  float *orf = malloc((size_t)n * sizeof *orf);
  float *of = malloc((size_t)n * sizeof *of);
  ck_assert(in && oi && orf && of);
  struct tu_rng r;
  tu_rng_seed(&r, SEED);
  int same_top1 = 0;
  enum { INPUTS = 16 };
  for (int t = 0; t < INPUTS; t++) {
    tu_rng_fill(&r, in, (size_t)h * w * 3, 0.0f, 255.0f);
    for (size_t i = 0; i < (size_t)h * w * 3; i++)
      in[i] = (roundf(in[i]) - mean[i % 3]) / std[i % 3];
    engine_run(ei, si, in, oi);
    engine_run(er, sr, in, orf);
    engine_run(ef, sf, in, of);
    kern_ops_ref()->softmax((size_t)n, of, of);
    double sum = 0;
    int bi = 0, bf = 0;
    for (int i = 0; i < n; i++) {
      float k = oi[i] * 256.0f;
      ck_assert_msg(k == roundf(k) && k >= 0 && k <= 255,
                    "input %d output %d: %g is not k/256", t, i,
                    (double)oi[i]);
      ck_assert_msg(oi[i] == orf[i], "input %d output %d: kernels %s %g, "
                    "ref %g", t, i, engine_isa_name(ei), (double)oi[i],
                    (double)orf[i]);
      /* one step of the 8-bit logits moves a probability by far less */
      ck_assert_msg(fabsf(oi[i] - of[i]) < 0.1f, "input %d output %d: "
                    "integer %g, float %g", t, i, (double)oi[i],
                    (double)of[i]);
      sum += oi[i];
      bi = oi[i] > oi[bi] ? i : bi;
      bf = of[i] > of[bf] ? i : bf;
    }
    ck_assert_msg(fabs(sum - 1.0) <= n * 0.5 / 256.0, "sum %g", sum);
    same_top1 += bi == bf;
  }
  printf("v1 0.25/128 quant: integer and float top-1 agree on %d of %d "
         "random inputs\n",
         same_top1, INPUTS);
  ck_assert_int_ge(same_top1, INPUTS / 2);
  free(in);
  free(oi);
  free(orf);
  free(of);
  engine_scratch_free(si);
  engine_scratch_free(sr);
  engine_scratch_free(sf);
  engine_free(ei);
  engine_free(er);
  engine_free(ef);
  model_unref(m);
}
END_TEST

static Suite *
engine_suite(void)
{
  Suite *s = suite_create("engine");
  TCase *tc = tcase_create("correctness");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_engine_matches_naive, 0,
                      (int)(sizeof nets / sizeof nets[0]));
  suite_add_tcase(s, tc);
  tc = tcase_create("plan");
  tcase_add_loop_test(tc, test_f16_classifier, 0,
                      (int)(sizeof nets / sizeof nets[0]));
  tcase_add_test(tc, test_plan);
  tcase_add_test(tc, test_threads_identical);
  suite_add_tcase(s, tc);
  tc = tcase_create("integer");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_integer_refuses);
  tcase_add_test(tc, test_integer_engine);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  kern_init();
  printf("seed %u\n", SEED);
  return tu_run_suite(engine_suite());
}
