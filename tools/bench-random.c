/* streamsight-bench — deterministic random weights of built networks and
 * random inputs (see bench.h).
 *
 * Built networks get uniform random weights from a fixed seed, so a run is
 * repeatable and free of denormals: values are multiples of 2^-24 scaled by
 * the layer's He bound, hence either 0 or normal floats.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "model-graph.h"

/* xorshift64*: small, deterministic, the same on every platform. */
static uint32_t
rng_u32(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [-bound, bound): a multiple of 2^-23 of bound, so never a
 * denormal for the bounds used here (>= 1e-3). */
static float
rng_sym(uint64_t *s, float bound)
{
  int32_t q = (int32_t)(rng_u32(s) >> 8) - (1 << 23);
  return (float)q * (bound / (float)(1 << 23));
}

/* He-uniform weights (bound sqrt(6 / fan_in)) keep ReLU6 activations of
 * order one through the whole depth; small biases. */
void
bench_fill_random_weights(struct ss_model *m, uint64_t seed)
{
  uint64_t s = seed ? seed : 1;
  for (int i = 0; i < m->n_layers; i++) {
    struct model_layer *l = &m->layers[i];
    if (!l->weight)
      continue;
    size_t n = model_layer_weight_count(l);
    size_t fan_in = l->kind == MODEL_LAYER_DWCONV ? (size_t)l->kh * l->kw
                    : l->kind == MODEL_LAYER_FC   ? (size_t)l->cin
                                            : (size_t)l->kh * l->kw * l->cin;
    float bound = sqrtf(6.0f / (float)fan_in);
    for (size_t k = 0; k < n; k++)
      l->weight[k] = rng_sym(&s, bound);
    for (int k = 0; k < l->cout; k++)
      l->bias[k] = rng_sym(&s, 0.1f);
  }
}

void
bench_fill_random_input(float *x, size_t n, uint64_t seed)
{
  uint64_t s = seed ? seed : 1;
  for (size_t k = 0; k < n; k++)
    x[k] = rng_sym(&s, 1.0f);
}
