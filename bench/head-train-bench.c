/* head-train-bench: how long teaching a head takes (inference/head-train.c)
 * for examples x features x classes, on synthetic L2-normalised features
 * (one random centre per class plus uniform noise, roughly as far apart as
 * real MobileNet features of different things). One line per size:
 * median of --runs of head_train (the full fit) and of 5-fold
 * head_cross_validate, with the L-BFGS iterations of the fit. Single
 * thread, as the server trains.
 *
 *   head-train-bench [--runs N (5)] [--json]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "head-train.h"
#include "head.h"

static double
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_state = 20261207u;

static float
uniform(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (float)((rng_state * 2685821657736338717ull) >> 40) /
             (float)(1 << 24) * 2.0f - 1.0f;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
  int runs = 5, json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else {
      fprintf(stderr, "usage: head-train-bench [--runs N] [--json]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > 1000)
    runs = 5;
  static const int sizes[][3] = {
    { 50, 1280, 2 },   { 200, 1280, 2 },  { 500, 1280, 2 },
    { 200, 1280, 5 },  { 500, 1280, 10 }, { 1000, 1280, 10 },
    { 200, 256, 2 },   { 200, 1792, 2 },
  };
  static const char *const names[] = { "c0", "c1", "c2", "c3", "c4",
                                       "c5", "c6", "c7", "c8", "c9" };
  if (!json)
    printf("%8s %8s %7s  %12s %6s  %14s\n", "examples", "features",
           "classes", "train_ms", "iters", "cv5_ms");
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int n = sizes[s][0], d = sizes[s][1], k = sizes[s][2];
    float *x = malloc(sizeof(float) * (size_t)n * d);
    float *centre = malloc(sizeof(float) * (size_t)k * d);
    int *y = malloc(sizeof(int) * (size_t)n);
    for (size_t j = 0; j < (size_t)k * d; j++)
      centre[j] = uniform();
    for (int i = 0; i < n; i++) {
      y[i] = i % k;
      double norm = 0;
      float *xi = x + (size_t)i * d;
      for (int j = 0; j < d; j++) {
        xi[j] = centre[(size_t)y[i] * d + j] + 2.0f * uniform();
        norm += (double)xi[j] * xi[j];
      }
      for (int j = 0; j < d; j++)
        xi[j] = (float)(xi[j] / sqrt(norm));
    }
    struct ss_head *h = NULL;
    struct ss_error err = { 0 };
    if (head_new("bench", d, k, names, &h, &err) != 0) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    double *t_train = malloc(sizeof(double) * (size_t)runs);
    double *t_cv = malloc(sizeof(double) * (size_t)runs);
    struct head_train_stats st = { 0 };
    double acc = 0;
    for (int r = 0; r < runs; r++) {
      double t0 = now_ms();
      if (head_train(h, x, y, n, NULL, &st, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
      }
      t_train[r] = now_ms() - t0;
      struct head_cv *cv = NULL;
      t0 = now_ms();
      if (head_cross_validate(h, x, y, n, 5, NULL, &cv, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
      }
      t_cv[r] = now_ms() - t0;
      acc = cv->accuracy;
      head_cv_free(cv);
    }
    qsort(t_train, (size_t)runs, sizeof(double), cmp_double);
    qsort(t_cv, (size_t)runs, sizeof(double), cmp_double);
    if (json)
      printf("{\"examples\": %d, \"features\": %d, \"classes\": %d, "
             "\"train_ms\": %.2f, \"iterations\": %d, \"cv5_ms\": %.2f, "
             "\"cv5_accuracy\": %.3f}\n",
             n, d, k, t_train[runs / 2], st.iterations, t_cv[runs / 2], acc);
    else
      printf("%8d %8d %7d  %12.2f %6d  %14.2f\n", n, d, k, t_train[runs / 2],
             st.iterations, t_cv[runs / 2]);
    free(t_train);
    free(t_cv);
    head_free(h);
    free(x);
    free(y);
    free(centre);
  }
  return 0;
}
