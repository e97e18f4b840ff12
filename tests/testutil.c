#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model-graph.h"

const char *
tu_data_dir(const char *why)
{
  const char *d = getenv("STREAMSIGHT_TEST_DATA");
  struct stat st;
  if (!d || !*d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
    printf("SKIP: %s: STREAMSIGHT_TEST_DATA is not set to the shared data "
           "folder\n", why ? why : "needs real data");
    return NULL;
  }
  return d;
}

bool
tu_data_path(const char *rel, char *buf, size_t cap)
{
  const char *d = getenv("STREAMSIGHT_TEST_DATA");
  if (!d || !*d) {
    printf("SKIP: %s: STREAMSIGHT_TEST_DATA is not set\n", rel);
    return false;
  }
  snprintf(buf, cap, "%s/%s", d, rel);
  if (access(buf, R_OK) != 0) {
    printf("SKIP: %s is absent\n", buf);
    return false;
  }
  return true;
}

void
tu_fixture_path(const char *rel, char *buf, size_t cap)
{
  const char *root = getenv("SS_SOURCE_ROOT");
  snprintf(buf, cap, "%s/tests/fixtures/%s", root ? root : ".", rel);
}

const char *
tu_tmp_dir(void)
{
  static char dir[256];
  if (!dir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/streamsight-test-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      abort();
    }
  }
  return dir;
}

void
tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
  r->s = seed ? seed : 0x9E3779B97F4A7C15ull;
}

uint32_t
tu_rng_u32(struct tu_rng *r)
{
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32);
}

float
tu_rng_uniform(struct tu_rng *r, float lo, float hi)
{
  return lo + (hi - lo) * ((float)(tu_rng_u32(r) >> 8) / 16777216.0f);
}

void
tu_rng_fill(struct tu_rng *r, float *v, size_t n, float lo, float hi)
{
  for (size_t i = 0; i < n; i++)
    v[i] = tu_rng_uniform(r, lo, hi);
}

void
tu_fill_model_weights(struct ss_model *m, uint64_t seed)
{
  struct tu_rng r;
  tu_rng_seed(&r, seed);
  for (int i = 0; i < m->n_layers; i++) {
    struct model_layer *l = &m->layers[i];
    size_t n = model_layer_weight_count(l);
    if (!n)
      continue;
    int fan_in = l->kind == MODEL_LAYER_DWCONV ? l->kh * l->kw
                                         : l->kh * l->kw * l->cin;
    float s = sqrtf(3.0f / (float)fan_in);
    tu_rng_fill(&r, l->weight, n, -s, s);
    tu_rng_fill(&r, l->bias, (size_t)l->cout, -0.1f, 0.1f);
  }
}

int
tu_run_suite(Suite *s)
{
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
