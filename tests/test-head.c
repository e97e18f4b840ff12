/* Heads (inference/head.c) and their training (head-train.c): the optimiser
 * on toy problems (separable reaches 100%, gradients against central
 * differences, determinism, regularisation, class balance, too few
 * examples), cross-validation, and the head file as hostile input
 * (every truncation, every single-byte corruption, lengths and values that
 * pass the CRC but not the checks). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "head-train.h"
#include "head.h"
#include "testutil.h"

#define SEED 20261207u

static const char *const names3[] = { "gate open", "gate_closed", "car-1.x" };

/* n examples of k classes in dim dimensions: class c is centred on a
 * random direction, with noise of the given spread; L2-normalised like
 * the engine's features. y cycles through the classes unless counts is
 * given (counts[c] examples of class c, in class order). */
static void
make_data(int n, int dim, int k, float spread, const int *counts,
          uint64_t seed, float *x, int *y)
{
  struct tu_rng r;
  tu_rng_seed(&r, seed);
  float *centre = malloc((size_t)k * dim * sizeof *centre);
  tu_rng_fill(&r, centre, (size_t)k * dim, -1.0f, 1.0f);
  int c = 0, left = counts ? counts[0] : 0;
  for (int i = 0; i < n; i++) {
    if (counts) {
      while (left == 0)
        left = counts[++c];
      left--;
      y[i] = c;
    } else {
      y[i] = i % k;
    }
    float *xi = x + (size_t)i * dim;
    double s = 0;
    for (int j = 0; j < dim; j++) {
      xi[j] = centre[(size_t)y[i] * dim + j] +
              tu_rng_uniform(&r, -spread, spread);
      s += (double)xi[j] * xi[j];
    }
    for (int j = 0; j < dim; j++)
      xi[j] = (float)(xi[j] / sqrt(s));
  }
  free(centre);
}

static struct ss_head *
new_head(int dim, int k)
{
  struct ss_head *h = NULL;
  struct ss_error err = { 0 };
  static const char *const names[] = { "a", "b", "c", "d", "e", "f" };
  ck_assert_msg(head_new("toy_model", dim, k, k == 3 ? names3 : names, &h,
                         &err) == 0,
                "%s", err.message);
  return h;
}

static int
argmax(const float *p, int k)
{
  int best = 0;
  for (int c = 1; c < k; c++)
    if (p[c] > p[best])
      best = c;
  return best;
}

START_TEST(test_separable_reaches_100)
{
  enum { N = 90, D = 64, K = 3 };
  float *x = malloc(sizeof(float) * N * D);
  int y[N];
  make_data(N, D, K, 0.8f, NULL, SEED, x, y);
  struct ss_head *h = new_head(D, K);
  struct ss_error err = { 0 };
  struct head_train_stats st;
  ck_assert_msg(head_train(h, x, y, N, NULL, &st, &err) == 0, "%s",
                err.message);
  printf("separable: %d iterations, %d evaluations, loss %.6f, |g| %.2e\n",
         st.iterations, st.evaluations, st.loss, st.grad_norm);
  ck_assert_msg(st.converged, "not converged: |g| %g after %d iterations",
                st.grad_norm, st.iterations);
  float p[K];
  for (int i = 0; i < N; i++) {
    head_scores(h, x + (size_t)i * D, p);
    ck_assert_float_eq_tol(p[0] + p[1] + p[2], 1.0f, 1e-5f);
    ck_assert_msg(argmax(p, K) == y[i], "example %d: class %d, predicted %d",
                  i, y[i], argmax(p, K));
  }
  struct head_cv *cv = NULL;
  ck_assert_msg(head_cross_validate(h, x, y, N, 5, NULL, &cv, &err) == 0,
                "%s", err.message);
  ck_assert_int_eq(cv->folds, 5);
  ck_assert_int_eq(cv->n, N);
  ck_assert_msg(cv->accuracy == 1.0, "CV accuracy %g", cv->accuracy);
  for (int c = 0; c < K; c++) {
    ck_assert_int_eq(cv->class_count[c], N / K);
    ck_assert_int_eq(cv->confusion[c * K + c], N / K);
  }
  head_cv_free(cv);
  head_free(h);
  free(x);
}
END_TEST

/* The analytic gradient against central differences at a random point,
 * every coordinate of a small problem. Step 1e-5 in double: truncation
 * error ~1e-10, rounding ~1e-11 relative to a loss of order 1, so 1e-6
 * abs + 1e-4 rel is loose and still catches any wrong term (a missing
 * weight, regulariser or bias term is off by 1e-3 or more). */
START_TEST(test_gradient_numeric)
{
  enum { N = 23, D = 7, K = 3 };
  float x[N * D];
  int y[N];
  const int counts[K] = { 12, 4, 7 }; /* unequal: exercises the weights */
  make_data(N, D, K, 1.5f, counts, SEED + 1, x, y);
  const int np = K * (D + 1);
  double params[K * (D + 1)], grad[K * (D + 1)], tmp[K * (D + 1)];
  struct tu_rng r;
  tu_rng_seed(&r, SEED + 2);
  for (int j = 0; j < np; j++)
    params[j] = tu_rng_uniform(&r, -2.0f, 2.0f);
  const double l2 = 0.3;
  head_train_objective(x, y, N, D, K, l2, params, grad);
  for (int j = 0; j < np; j++) {
    const double h = 1e-5;
    memcpy(tmp, params, sizeof tmp);
    tmp[j] = params[j] + h;
    double fp = head_train_objective(x, y, N, D, K, l2, tmp, NULL);
    tmp[j] = params[j] - h;
    double fm = head_train_objective(x, y, N, D, K, l2, tmp, NULL);
    double num = (fp - fm) / (2 * h);
    ck_assert_msg(fabs(num - grad[j]) <= 1e-6 + 1e-4 * fabs(num),
                  "param %d: analytic %.9g, numeric %.9g", j, grad[j], num);
  }
}
END_TEST

START_TEST(test_same_result_twice)
{
  enum { N = 60, D = 40, K = 3 };
  float *x = malloc(sizeof(float) * N * D);
  int y[N];
  make_data(N, D, K, 2.5f, NULL, SEED + 3, x, y);
  struct ss_head *a = new_head(D, K), *b = new_head(D, K);
  ck_assert_int_eq(head_train(a, x, y, N, NULL, NULL, NULL), 0);
  ck_assert_int_eq(head_train(b, x, y, N, NULL, NULL, NULL), 0);
  ck_assert(memcmp(head_weights(a), head_weights(b),
                   sizeof(float) * K * D) == 0);
  ck_assert(memcmp(head_bias(a), head_bias(b), sizeof(float) * K) == 0);
  struct head_cv *c1, *c2;
  ck_assert_int_eq(head_cross_validate(a, x, y, N, 4, NULL, &c1, NULL), 0);
  ck_assert_int_eq(head_cross_validate(a, x, y, N, 4, NULL, &c2, NULL), 0);
  ck_assert(memcmp(c1->confusion, c2->confusion, sizeof(int) * K * K) == 0);
  head_cv_free(c1);
  head_cv_free(c2);
  head_free(a);
  head_free(b);
  free(x);
}
END_TEST

static double
weight_norm(const struct ss_head *h)
{
  double s = 0;
  const float *w = head_weights_const(h);
  for (int j = 0; j < head_num_classes(h) * head_dim(h); j++)
    s += (double)w[j] * w[j];
  return sqrt(s);
}

START_TEST(test_regularisation_shrinks)
{
  enum { N = 60, D = 30, K = 3 };
  float *x = malloc(sizeof(float) * N * D);
  int y[N];
  make_data(N, D, K, 1.0f, NULL, SEED + 4, x, y);
  double prev = INFINITY;
  const double l2s[] = { 1e-4, 1e-3, 1e-2, 1e-1, 1.0 };
  for (int i = 0; i < 5; i++) {
    struct ss_head *h = new_head(D, K);
    struct head_train_options o = { .l2 = l2s[i] };
    ck_assert_int_eq(head_train(h, x, y, N, &o, NULL, NULL), 0);
    double nw = weight_norm(h);
    printf("l2 %g: |W| = %.4f\n", l2s[i], nw);
    ck_assert_msg(nw < prev, "l2 %g: |W| %g not below %g", l2s[i], nw, prev);
    prev = nw;
    head_free(h);
  }
  free(x);
}
END_TEST

/* Class balance: every class weighs the same in total, so repeating each
 * example of one class three times changes nothing (up to the optimiser's
 * tolerance), and an outnumbered class is not drowned out. */
START_TEST(test_class_balance)
{
  enum { D = 20, K = 2 };
  const int counts[K] = { 30, 6 };
  const int n = 36;
  float x[36 * D], x3[48 * D];
  int y[36], y3[48];
  make_data(n, D, K, 4.0f, counts, SEED + 5, x, y);
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int rep = 0; rep < (y[i] == 1 ? 3 : 1); rep++) {
      memcpy(x3 + (size_t)m * D, x + (size_t)i * D, sizeof(float) * D);
      y3[m++] = y[i];
    }
  ck_assert_int_eq(m, 48);
  struct ss_head *a = new_head(D, K), *b = new_head(D, K);
  ck_assert_int_eq(head_train(a, x, y, n, NULL, NULL, NULL), 0);
  ck_assert_int_eq(head_train(b, x3, y3, m, NULL, NULL, NULL), 0);
  float pa[K], pb[K];
  for (int i = 0; i < n; i++) {
    head_scores(a, x + (size_t)i * D, pa);
    head_scores(b, x + (size_t)i * D, pb);
    ck_assert_msg(fabsf(pa[1] - pb[1]) < 2e-3f,
                  "example %d: %g vs %g with the minority tripled", i, pa[1],
                  pb[1]);
  }
  /* The mean score of each class on its own examples is comparable: the
   * minority class is not pushed towards 0. */
  double mean[K] = { 0, 0 };
  for (int i = 0; i < n; i++) {
    head_scores(a, x + (size_t)i * D, pa);
    mean[y[i]] += pa[y[i]] / counts[y[i]];
  }
  printf("balance: mean own-class score %.3f (30 examples), %.3f (6)\n",
         mean[0], mean[1]);
  ck_assert_msg(mean[1] > 0.5, "minority mean score %g", mean[1]);
  head_free(a);
  head_free(b);
}
END_TEST

START_TEST(test_too_few_examples)
{
  enum { D = 8, K = 3 };
  const int counts[K] = { 4, 1, 3 };
  float x[8 * D];
  int y[8];
  make_data(8, D, K, 0.5f, counts, SEED + 6, x, y);
  struct ss_head *h = new_head(D, K);
  float before = head_weights(h)[0];
  struct ss_error err = { 0 };
  ck_assert_int_eq(head_train(h, x, y, 8, NULL, NULL, &err), SS_EINVAL);
  ck_assert_msg(strstr(err.message, "class 'gate_closed' has 1 example"),
                "%s", err.message);
  ck_assert(head_weights(h)[0] == before);
  struct head_cv *cv = NULL;
  ck_assert_int_eq(head_cross_validate(h, x, y, 8, 5, NULL, &cv, &err),
                   SS_EINVAL);
  ck_assert_ptr_null(cv);
  /* A class with none at all, a label out of range, a NaN feature. */
  int y0[8] = { 0, 0, 0, 0, 2, 2, 2, 2 };
  ck_assert_int_eq(head_train(h, x, y0, 8, NULL, NULL, &err), SS_EINVAL);
  ck_assert_msg(strstr(err.message, "has 0 examples"), "%s", err.message);
  int ybad[8] = { 0, 1, 2, 0, 1, 2, 3, 0 };
  ck_assert_int_eq(head_train(h, x, ybad, 8, NULL, NULL, &err), SS_EINVAL);
  int yok[8] = { 0, 1, 2, 0, 1, 2, 0, 1 };
  x[5] = NAN;
  ck_assert_int_eq(head_train(h, x, yok, 8, NULL, NULL, &err), SS_EINVAL);
  ck_assert_msg(strstr(err.message, "not finite"), "%s", err.message);
  head_free(h);
}
END_TEST

/* Exactly 2 examples per class: folds are capped so none is empty, and
 * each fold still trains on one example of every class. */
START_TEST(test_cv_two_per_class)
{
  enum { D = 16, K = 3, N = 6 };
  float x[N * D];
  int y[N];
  make_data(N, D, K, 0.3f, NULL, SEED + 7, x, y);
  struct ss_head *h = new_head(D, K);
  struct head_cv *cv = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(head_cross_validate(h, x, y, N, 5, NULL, &cv, &err) == 0,
                "%s", err.message);
  ck_assert_int_eq(cv->folds, 2);
  int total = 0;
  for (int i = 0; i < K * K; i++)
    total += cv->confusion[i];
  ck_assert_int_eq(total, N);
  ck_assert_msg(cv->accuracy == 1.0, "accuracy %g", cv->accuracy);
  head_cv_free(cv);
  ck_assert_int_eq(head_cross_validate(h, x, y, N, 1, NULL, &cv, &err),
                   SS_EINVAL);
  head_free(h);
}
END_TEST

START_TEST(test_names_and_model_guard)
{
  ck_assert(head_name_valid("door"));
  ck_assert(head_name_valid("car in bay"));
  ck_assert(head_name_valid("a.b-c_D9"));
  ck_assert(!head_name_valid(""));
  ck_assert(!head_name_valid(NULL));
  ck_assert(!head_name_valid(".hidden"));
  ck_assert(!head_name_valid(" lead"));
  ck_assert(!head_name_valid("trail "));
  ck_assert(!head_name_valid("a/b"));
  ck_assert(!head_name_valid("a\nb"));
  ck_assert(!head_name_valid("caf\xc3\xa9"));
  char longname[HEAD_NAME_MAX + 2];
  memset(longname, 'x', sizeof longname - 1);
  longname[HEAD_NAME_MAX + 1] = '\0';
  ck_assert(!head_name_valid(longname));
  longname[HEAD_NAME_MAX] = '\0';
  ck_assert(head_name_valid(longname));

  struct ss_head *h = NULL;
  struct ss_error err = { 0 };
  const char *dup[] = { "x", "y", "x" };
  ck_assert_int_eq(head_new("m", 4, 3, dup, &h, &err), SS_EINVAL);
  ck_assert_msg(strstr(err.message, "'x' is named twice"), "%s", err.message);
  ck_assert_int_eq(head_new("m", 4, 1, dup, &h, &err), SS_EINVAL);
  ck_assert_int_eq(head_new("m", 0, 2, dup, &h, &err), SS_EINVAL);
  ck_assert_int_eq(head_new("", 4, 2, dup, &h, &err), SS_EINVAL);
  ck_assert_ptr_null(h);

  h = new_head(1280, 3);
  ck_assert_int_eq(head_check_model(h, "toy_model", 1280, &err), 0);
  ck_assert_int_eq(head_check_model(h, "mobilenet_v1_0.25_128", 1280, &err),
                   SS_EMISMATCH);
  ck_assert_msg(strstr(err.message, "trained on model 'toy_model'"), "%s",
                err.message);
  ck_assert_int_eq(head_check_model(h, "toy_model", 256, &err), SS_EMISMATCH);
  ck_assert_int_eq(head_class_index(h, "car-1.x"), 2);
  ck_assert_int_eq(head_class_index(h, "nope"), -1);
  ck_assert_ptr_null(head_class_name(h, 3));
  head_free(h);
}
END_TEST

static struct ss_head *
trained_head(int dim)
{
  enum { N = 30, K = 3 };
  float *x = malloc(sizeof(float) * N * dim);
  int y[N];
  make_data(N, dim, K, 1.0f, NULL, SEED + 8, x, y);
  struct ss_head *h = new_head(dim, K);
  ck_assert_int_eq(head_train(h, x, y, N, NULL, NULL, NULL), 0);
  free(x);
  return h;
}

static void
assert_heads_equal(const struct ss_head *a, const struct ss_head *b)
{
  ck_assert_str_eq(head_model(a), head_model(b));
  ck_assert_int_eq(head_dim(a), head_dim(b));
  ck_assert_int_eq(head_num_classes(a), head_num_classes(b));
  for (int c = 0; c < head_num_classes(a); c++)
    ck_assert_str_eq(head_class_name(a, c), head_class_name(b, c));
  ck_assert(memcmp(head_weights_const(a), head_weights_const(b),
                   sizeof(float) * head_dim(a) * head_num_classes(a)) == 0);
  ck_assert(memcmp(head_bias_const(a), head_bias_const(b),
                   sizeof(float) * head_num_classes(a)) == 0);
}

START_TEST(test_file_roundtrip)
{
  struct ss_head *h = trained_head(50);
  char path[512];
  snprintf(path, sizeof path, "%s/toy.head", tu_tmp_dir());
  struct ss_error err = { 0 };
  ck_assert_msg(head_save(h, path, &err) == 0, "%s", err.message);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  struct ss_head *g = NULL;
  ck_assert_msg(head_load(path, &g, &err) == 0, "%s", err.message);
  assert_heads_equal(h, g);
  /* Saving again replaces it atomically (no temporary file left). */
  ck_assert_int_eq(head_save(g, path, &err), 0);
  head_free(g);
  ck_assert_int_eq(head_load(path, &g, &err), 0);
  assert_heads_equal(h, g);
  head_free(g);
  struct ss_head *c = NULL;
  ck_assert_int_eq(head_copy(h, &c, &err), 0);
  assert_heads_equal(h, c);
  head_free(c);
  ck_assert_int_ne(head_load("/nonexistent/x.head", &g, &err), 0);
  head_free(h);
}
END_TEST

/* Every prefix of a valid file, and every single-byte change of it, is
 * refused with an error (CRC-32 catches every burst up to 32 bits), and
 * nothing is written to *out. */
START_TEST(test_file_truncated_and_corrupted)
{
  struct ss_head *h = trained_head(9);
  uint8_t *data;
  size_t size;
  ck_assert_int_eq(head_encode(h, &data, &size, NULL), 0);
  struct ss_error err;
  for (size_t len = 0; len < size; len++) {
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    struct ss_head *g = NULL;
    ck_assert_msg(head_load_buffer(copy, len, &g, &err) != 0,
                  "prefix of %zu bytes accepted", len);
    ck_assert_ptr_null(g);
    free(copy);
  }
  uint8_t *copy = malloc(size);
  for (size_t i = 0; i < size; i++) {
    for (int v = 0; v < 3; v++) {
      memcpy(copy, data, size);
      copy[i] ^= (uint8_t)(v == 0 ? 0x01 : v == 1 ? 0x80 : 0xff);
      struct ss_head *g = NULL;
      ck_assert_msg(head_load_buffer(copy, size, &g, &err) != 0,
                    "byte %zu xor variant %d accepted", i, v);
      ck_assert_ptr_null(g);
    }
  }
  /* Extra bytes after a valid file. */
  uint8_t *longer = malloc(size + 4);
  memcpy(longer, data, size);
  memset(longer + size, 0, 4);
  struct ss_head *g = NULL;
  ck_assert_int_ne(head_load_buffer(longer, size + 4, &g, &err), 0);
  free(longer);
  free(copy);
  free(data);
  head_free(h);
}
END_TEST

/* Files with a correct CRC whose contents lie: the checks behind the CRC
 * must hold on their own (a hostile writer computes the CRC too). */
static uint32_t
crc32_ref(const uint8_t *p, size_t n)
{
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

static void
put32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static int
load_with_crc(uint8_t *data, size_t size, struct ss_error *err)
{
  put32(data + size - 4, crc32_ref(data, size - 4));
  struct ss_head *g = NULL;
  int rc = head_load_buffer(data, size, &g, err);
  if (rc == 0)
    head_free(g);
  else
    ck_assert_ptr_null(g);
  return rc;
}

START_TEST(test_file_hostile_with_crc)
{
  struct ss_head *h = trained_head(5);
  uint8_t *data;
  size_t size;
  ck_assert_int_eq(head_encode(h, &data, &size, NULL), 0);
  uint8_t *c = malloc(size);
  struct ss_error err = { 0 };
  /* Unchanged but re-CRC'd: accepted (the test's CRC is the file's). */
  memcpy(c, data, size);
  ck_assert_msg(load_with_crc(c, size, &err) == 0, "%s", err.message);
  const struct {
    size_t off;
    uint32_t val;
    const char *what;
  } lies[] = {
    { 8, 0, "dim 0" },
    { 8, HEAD_MAX_DIM + 1, "dim too large" },
    { 8, 0xffffffffu, "dim 2^32-1" },
    { 8, 6, "dim one more than the weights" },
    { 12, 1, "one class" },
    { 12, HEAD_MAX_CLASSES + 1, "too many classes" },
    { 12, 4, "a class more than the names" },
    { 16, 0xffff, "model name longer than the file" },
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
    memcpy(c, data, size);
    if (lies[i].off == 16) {
      c[16] = 0xff;
      c[17] = 0xff;
    } else {
      put32(c + lies[i].off, lies[i].val);
    }
    ck_assert_msg(load_with_crc(c, size, &err) == SS_EFORMAT,
                  "%s: accepted or wrong code (%s)", lies[i].what,
                  err.message);
  }
  /* Model name "toy_model" starts at 18; the first class name's length
   * follows it. */
  size_t name0 = 18 + strlen("toy_model");
  memcpy(c, data, size);
  c[name0] = 0; /* an empty class name */
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EFORMAT);
  memcpy(c, data, size);
  c[name0 + 2] = '/'; /* "gate open" -> "/ate open" */
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EFORMAT);
  memcpy(c, data, size);
  c[name0 + 3] = '\0'; /* an embedded NUL */
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EFORMAT);
  memcpy(c, data, size);
  c[18] = '\n'; /* a control character in the model name */
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EFORMAT);
  /* A NaN and an infinity among the weights (the first weight sits 12 +
   * 3 * 4 bytes before the end: 15 weights + 3 biases + CRC). */
  size_t w0 = size - 4 - 4 * (3 * 5 + 3);
  memcpy(c, data, size);
  put32(c + w0, 0x7fc00000u);
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EFORMAT);
  memcpy(c, data, size);
  put32(c + size - 8, 0x7f800000u);
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EFORMAT);
  /* Another version. */
  memcpy(c, data, size);
  put32(c + 4, 2);
  ck_assert_int_eq(load_with_crc(c, size, &err), SS_EUNSUPPORTED);
  ck_assert_msg(strstr(err.message, "version 2"), "%s", err.message);
  free(c);
  free(data);
  head_free(h);
}
END_TEST

/* A bounded random fuzz: random bytes after a valid header, random
 * lengths, with and without a fixed CRC. Only "no crash, error or a
 * well-formed head" is asserted; ASan/valgrind builds check the rest. */
START_TEST(test_file_fuzz)
{
  struct ss_head *h = trained_head(4);
  uint8_t *data;
  size_t size;
  ck_assert_int_eq(head_encode(h, &data, &size, NULL), 0);
  struct tu_rng r;
  tu_rng_seed(&r, SEED + 9);
  printf("fuzz seed %u\n", SEED + 9);
  uint8_t *buf = malloc(size + 64);
  int accepted = 0;
  for (int it = 0; it < 20000; it++) {
    size_t len = 20 + tu_rng_u32(&r) % (size + 44 - 20);
    memcpy(buf, data, len < size ? len : size);
    for (size_t j = size; j < len; j++)
      buf[j] = (uint8_t)tu_rng_u32(&r);
    int flips = 1 + (int)(tu_rng_u32(&r) % 4);
    for (int f = 0; f < flips; f++)
      buf[4 + tu_rng_u32(&r) % (len - 4)] = (uint8_t)tu_rng_u32(&r);
    if (tu_rng_u32(&r) & 1)
      put32(buf + len - 4, crc32_ref(buf, len - 4));
    struct ss_head *g = NULL;
    if (head_load_buffer(buf, len, &g, NULL) == 0) {
      accepted++;
      ck_assert(head_num_classes(g) >= 2);
      ck_assert(head_name_valid(head_class_name(g, 0)));
      head_free(g);
    } else {
      ck_assert_ptr_null(g);
    }
  }
  printf("fuzz: %d of 20000 mutants accepted (well-formed)\n", accepted);
  free(buf);
  free(data);
  head_free(h);
}
END_TEST

static Suite *
head_suite(void)
{
  Suite *s = suite_create("head");
  TCase *tc = tcase_create("train");
  tcase_add_test(tc, test_separable_reaches_100);
  tcase_add_test(tc, test_gradient_numeric);
  tcase_add_test(tc, test_same_result_twice);
  tcase_add_test(tc, test_regularisation_shrinks);
  tcase_add_test(tc, test_class_balance);
  tcase_add_test(tc, test_too_few_examples);
  tcase_add_test(tc, test_cv_two_per_class);
  suite_add_tcase(s, tc);
  tc = tcase_create("model");
  tcase_add_test(tc, test_names_and_model_guard);
  suite_add_tcase(s, tc);
  tc = tcase_create("file");
  tcase_add_test(tc, test_file_roundtrip);
  tcase_add_test(tc, test_file_truncated_and_corrupted);
  tcase_add_test(tc, test_file_hostile_with_crc);
  tcase_add_test(tc, test_file_fuzz);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(head_suite());
}
