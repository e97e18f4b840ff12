/* streamsight — the kernel suites' seeds, buffers, clamps and packing (see
 * kernels-fixture.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels-fixture.h"

bool
close_enough(float got, float want)
{
  if (isinf(want))
    return got == want;
  return fabs((double)got - (double)want) <= TOL_ABS + TOL_REL * fabs(want);
}

uint64_t
case_seed(int test_id, int i)
{
  return ((uint64_t)TEST_SEED << 16) ^ ((uint64_t)test_id << 12) ^ (uint64_t)i;
}

float *
xmalloc_floats(size_t n)
{
  float *p = malloc((n ? n : 1) * sizeof *p);
  expect_msg(p != NULL, "out of memory");
  return p;
}

float *
random_floats(struct tu_rng *r, size_t n, float lo, float hi)
{
  float *p = xmalloc_floats(n);
  tu_rng_fill(r, p, n, lo, hi);
  return p;
}

float *
guarded_new(size_t n)
{
  float *p = xmalloc_floats(n + 2 * GUARD);
  for (size_t i = 0; i < n + 2 * GUARD; i++)
    p[i] = CANARY;
  return p + GUARD;
}

void
guarded_free(float *p)
{
  free(p - GUARD);
}

long
guard_clobbered(const float *p, size_t n)
{
  for (size_t i = 0; i < GUARD; i++) {
    if (p[-(long)GUARD + (long)i] != CANARY)
      return -(long)GUARD + (long)i;
    if (p[n + i] != CANARY)
      return (long)(n + i);
  }
  return -1;
}

void
count_clamp(struct clamp_hits *h, float v, float min, float max)
{
  if (v == min)
    h->at_min++;
  if (v == max)
    h->at_max++;
}

void
pick_clamp(int i, float *min, float *max)
{
  switch (i % 3) {
  case 0:
    *min = 0.0f, *max = 6.0f;
    break;
  case 1:
    *min = -INFINITY, *max = INFINITY;
    break;
  default:
    *min = -0.25f, *max = 0.5f;
    break;
  }
}

const struct kern_ops *
variant_ops(size_t v)
{
  return kern_ops_get(variants[v].isa);
}

float *
gemm_packed(const struct kern_ops *ops, size_t n, size_t k, const float *w,
            const float *bias)
{
  float *p = xmalloc_floats(kern_gemm_packed_size(ops->gemm_nr, n, k));
  kern_gemm_pack(ops->gemm_nr, n, k, w, bias, p);
  return p;
}

void
print_variants(const char *prog)
{
  printf("%s: seed %#x; variants:", prog, TEST_SEED);
  for (size_t v = 0; v < N_VARIANTS; v++)
    printf(" %s%s", variants[v].name,
           kern_ops_get(variants[v].isa) ? "" : " (SKIP: not supported here)");
  printf("\n");
}
