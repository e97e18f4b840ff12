/* streamsight — testutil.h's seeded generator and model weight filler,
 * apart from testutil.c because they need no Check: the GstHarness
 * suites (gstreamer-check's bundled Check) compile this file in too. */
#include "testutil.h"

#include <math.h>

#include "model-graph.h"

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
