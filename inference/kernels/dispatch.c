/* streamsight — chooses the kernel table once, by CPU feature. */
#include "kernels.h"

#include <stdbool.h>
#include <stddef.h>

#include "kernels-ref.h"

static const struct kern_ops ref_ops = {
  .isa = "ref",
  .gemm_nr = KERN_REF_GEMM_NR,
  .gemm = kern_f32_gemm__ref,
  .conv_row = kern_f32_conv_row__ref,
  .dwconv_row = kern_f32_dwconv_row__ref,
  .avgpool = kern_f32_avgpool__ref,
  .add = kern_f32_add__ref,
  .softmax = kern_f32_softmax__ref,
};

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

static bool
cpu_has_avx2_fma(void)
{
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const struct kern_ops *
kern_ops_get(enum kern_isa isa)
{
  switch (isa) {
  case KERN_ISA_REF:
    return &ref_ops;
  case KERN_ISA_AVX2:
    (void)cpu_has_avx2_fma;
    return NULL; /* not built yet */
  case KERN_ISA_AUTO:
    return &ref_ops;
  }
  return NULL;
}
