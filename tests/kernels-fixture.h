/* streamsight — what the kernel suites share (test-kernels.c,
 * test-kernels-pack.c, test-kernels-elementwise.c): the variant list, the
 * fixed seed and each case's seed derived from it, the tolerance against
 * the reference and its reason, guarded output buffers, the clamps the
 * sweeps cycle through, and GEMM weight packing.
 */
#ifndef SS_KERNELS_FIXTURE_H
#define SS_KERNELS_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "testutil.h"

#define TEST_SEED 0x5EED2026u

/* The variants of kernels/kernels-list.h, by name and ISA (a copy in each
 * file that includes this header; kern_ops_get(isa) is NULL where the CPU
 * or the build lacks the ISA). */
static const struct {
  const char *name;
  enum kern_isa isa;
} variants[] = {
#define KERN_VARIANT(name, isa, nr, cpu_ok) { #name, isa },
#include "kernels/kernels-list.h"
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

/* Tolerance between a variant and the reference. They differ only in the
 * order of the sums and in FMA's single rounding. Inputs are in [-1, 1] and
 * weights are scaled by 1/sqrt(K), so partial sums stay below ~10 and the
 * accumulated rounding difference over K <= 960 terms random-walks to about
 * sqrt(K) * 2^-24 * 10 = 2e-5. 1e-4 relative is the bar; 1e-4
 * absolute covers results that cancel to near zero. A wrong tap, channel or
 * bias is off by at least one term, |x * w| ~ 1e-2, far above both. */
#define TOL_ABS 1e-4
#define TOL_REL 1e-4

/* Guard floats before and after every output buffer, and in the gaps of
 * strided outputs; a kernel must leave them untouched. */
#define GUARD 16
#define CANARY 1234.5f

/* ck_assert_msg, evaluated by Check only on failure: every passing
 * ck_assert sends a checkpoint through a pipe to the parent process, which
 * for millions of compared floats costs far more than the kernels. */
#define expect_msg(expr, ...)                                                 \
  do {                                                                        \
    if (!(expr))                                                              \
      ck_assert_msg(expr, __VA_ARGS__);                                       \
  } while (0)

bool close_enough(float got, float want);

uint64_t case_seed(int test_id, int i);

/* Exactly n floats (so that ASan and valgrind flag any read past them). */
float *xmalloc_floats(size_t n);

float *random_floats(struct tu_rng *r, size_t n, float lo, float hi);

/* An output buffer of n floats with GUARD canaries on each side; returns
 * the first float of the output. Free with guarded_free. */
float *guarded_new(size_t n);

void guarded_free(float *p);

/* Index of the first clobbered guard float, or -1. */
long guard_clobbered(const float *p, size_t n);

/* Counts of outputs that the clamp bit, for tests that check their sweep
 * exercised both bounds. */
struct clamp_hits {
  size_t at_min, at_max;
};

void count_clamp(struct clamp_hits *h, float v, float min, float max);

/* The clamps the sweeps cycle through: ReLU6, linear and a narrow band. */
void pick_clamp(int i, float *min, float *max);

/* The kernel table of variant v (NULL: not available here). */
const struct kern_ops *variant_ops(size_t v);

/* Packs w/bias for ops (exactly sized buffer). */
float *gemm_packed(const struct kern_ops *ops, size_t n, size_t k,
                   const float *w, const float *bias);

/* Prints "PROG: seed ...; variants: ..." (the unavailable ones marked). */
void print_variants(const char *prog);

#endif
