/* streamsight — chooses the kernel table once, by CPU feature. */
#include "kernels.h"

#include <stdbool.h>
#include <stddef.h>

#include "kernels-ref.h"
#if defined(__x86_64__)
#include "kernels-avx2.h"
#endif

#if defined(__x86_64__)
#include <cpuid.h>

static bool
cpu_has_avx2_fma(void)
{
  /* F16C comes with every AVX2 CPU made; checked for the gemv16 kernel.
   * From CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no
   * "f16c" (the fuzz build, scripts/fuzz.sh, uses clang). */
  unsigned a, b, c, d;
  bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         f16c;
}
#endif

/* One table per variant of kernels-list.h. */
#define KERN_VARIANT(name, isa_, nr, cpu_ok)                                  \
  static const struct kern_ops name##_ops = {                                 \
    .isa = #name,                                                             \
    .gemm_nr = (nr),                                                          \
    .gemm = kern_f32_gemm__##name,                                            \
    .conv_row = kern_f32_conv_row__##name,                                    \
    .dwconv_row = kern_f32_dwconv_row__##name,                                \
    .gemv16 = kern_f32_gemv16__##name,                                        \
    .avgpool = kern_f32_avgpool__##name,                                      \
    .add = kern_f32_add__##name,                                              \
    .softmax = kern_f32_softmax__##name,                                      \
  };
#include "kernels-list.h"

const struct kern_ops *
kern_ops_ref(void)
{
  return &ref_ops;
}

void
kern_init(void)
{
  __builtin_cpu_init();
}

const struct kern_ops *
kern_ops_get(enum kern_isa isa)
{
  const struct kern_ops *best = NULL;
  switch (isa) {
#define KERN_VARIANT(name, isa_, nr, cpu_ok)                                  \
  case isa_:                                                                  \
    return (cpu_ok) ? &name##_ops : NULL;
#include "kernels-list.h"
  case KERN_ISA_AUTO:
    /* The list is in order of preference: the last one the CPU runs. */
#define KERN_VARIANT(name, isa_, nr, cpu_ok)                                  \
  if (cpu_ok)                                                                 \
    best = &name##_ops;
#include "kernels-list.h"
    return best;
  }
  return NULL;
}
