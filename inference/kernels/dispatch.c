/* streamsight — chooses the kernel table once, by CPU feature. */
#include "kernels.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kernels-ref.h"
#include "qkernels-ref.h"
#if defined(__x86_64__)
#include "kernels-avx2.h"
#include "qkernels-avx2.h"
#include "qkernels-avx512.h"
#include "qkernels-dw-vnni.h"
#include "qkernels-vnni.h"
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

/* AVX-VNNI: CPUID leaf 7 sub-leaf 1, EAX bit 4 (and the OS saving ymm,
 * which the AVX2 check covers). */
static bool
cpu_has_avxvnni(void)
{
  unsigned a, b, c, d;
  return cpu_has_avx2_fma() && __get_cpuid_count(7, 1, &a, &b, &c, &d) &&
         (a & (1u << 4));
}

/* AVX-512 F, BW, VL and VNNI (CPUID leaf 7: EBX bits 16, 30, 31, ECX bit
 * 11), and the OS saving the opmask and zmm registers: OSXSAVE (leaf 1,
 * ECX bit 27), then XCR0 bits 1-2 (xmm, ymm) and 5-7 (opmask, the upper
 * halves of zmm0-15, zmm16-31). */
static bool
cpu_has_avx512vnni(void)
{
  unsigned a, b, c, d;
  if (!cpu_has_avx2_fma() || !__get_cpuid(1, &a, &b, &c, &d) ||
      !(c & (1u << 27)))
    return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return false;
  const unsigned ebx_need = (1u << 16) | (1u << 30) | (1u << 31);
  if ((b & ebx_need) != ebx_need || !(c & (1u << 11)))
    return false;
  unsigned xlo, xhi;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  (void)xhi;
  return (xlo & 0xe6u) == 0xe6u;
}
#endif

/* One table per variant of kernels-list.h. */
#define KERN_VARIANT(name, isa_, nr, cpu_ok)                                  \
  static const struct kern_ops name##_ops = {                                 \
    .isa = #name,                                                             \
    .gemm_nr = (nr),                                                          \
    .gemm = kern_f32_gemm_clamp__##name,                                      \
    .gemv = kern_f32_gemv_clamp__##name,                                      \
    .conv = kern_f32_conv_clamp__##name,                                      \
    .dwconv = kern_f32_dwconv_clamp__##name,                                  \
    .dwconv3x3_s1 = kern_f32_dwconv3x3_s1_clamp__##name,                      \
    .dwconv3x3_s2 = kern_f32_dwconv3x3_s2_clamp__##name,                      \
    .gemv16 = kern_f32_gemv16_clamp__##name,                                  \
    .avgpool = kern_f32_avgpool__##name,                                      \
    .add = kern_f32_add_clamp__##name,                                        \
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
  case KERN_ISA_AVXVNNI: /* the float kernels at this level: AVX2 */
#if defined(__x86_64__)
    return cpu_has_avxvnni() ? &avx2_ops : NULL;
#else
    return NULL;
#endif
  case KERN_ISA_AVX512VNNI:
#if defined(__x86_64__)
    return cpu_has_avx512vnni() ? &avx2_ops : NULL;
#else
    return NULL;
#endif
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

/* ---- integer kernels (qkernels.h) ---- */

static const struct qk_ops qk_ref_ops = {
  .isa = "ref",
  .gemm_packed_size = qk_gemm_packed_size,
  .gemm_pack = qk_gemm_pack,
  .gemm = qk_gemm__ref,
  .dw_packed_size = qk_dw_packed_size__ref,
  .dw_pack = qk_dw_pack__ref,
  .dw_scratch_size = qk_dw_scratch_size__ref,
  .dwconv = qk_dwconv__ref,
  .add = qk_add__ref,
  .avgpool = qk_avgpool__ref,
};

#if defined(__x86_64__)
static const struct qk_ops qk_avx2_ops = {
  .isa = "avx2",
  .gemm_packed_size = qk_gemm_packed_size,
  .gemm_pack = qk_gemm_pack,
  .gemm = qk_gemm__avx2,
  .dw_packed_size = qk_dw_packed_size__avx2,
  .dw_pack = qk_dw_pack__avx2,
  .dw_scratch_size = qk_dw_scratch_size__avx2,
  .dwconv = qk_dwconv__avx2,
  .add = qk_add__avx2,
  .avgpool = qk_avgpool__ref, /* once per inference, over 7x7 pixels */
};

/* AVX2 with the GEMM and the 3x3 depthwise convolutions on vpdpbusd. */
static const struct qk_ops qk_vnni_ops = {
  .isa = "avxvnni",
  .gemm_packed_size = qk_gemm_packed_size__vnni,
  .gemm_pack = qk_gemm_pack__vnni,
  .gemm = qk_gemm__vnni,
  .dw_packed_size = qk_dw_packed_size__vnni,
  .dw_pack = qk_dw_pack__vnni,
  .dw_scratch_size = qk_dw_scratch_size__vnni,
  .dwconv = qk_dwconv__vnni,
  .add = qk_add__avx2,
  .avgpool = qk_avgpool__ref,
};

/* AVX2 with the GEMM on 512-bit vpdpbusd, the 3x3 depthwise convolutions
 * on 256-bit (EVEX) vpdpbusd. */
static const struct qk_ops qk_avx512_ops = {
  .isa = "avx512vnni",
  .gemm_packed_size = qk_gemm_packed_size__avx512,
  .gemm_pack = qk_gemm_pack__avx512,
  .gemm = qk_gemm__avx512,
  .dw_packed_size = qk_dw_packed_size__avx512,
  .dw_pack = qk_dw_pack__avx512,
  .dw_scratch_size = qk_dw_scratch_size__avx512,
  .dwconv = qk_dwconv__avx512,
  .add = qk_add__avx2,
  .avgpool = qk_avgpool__ref,
};
#endif

const struct qk_ops *
qk_ops_ref(void)
{
  return &qk_ref_ops;
}

const struct qk_ops *
qk_ops_get(int kern_isa)
{
  switch ((enum kern_isa)kern_isa) {
  case KERN_ISA_REF:
    return &qk_ref_ops;
  case KERN_ISA_AVX2:
#if defined(__x86_64__)
    return cpu_has_avx2_fma() ? &qk_avx2_ops : NULL;
#else
    return NULL;
#endif
  case KERN_ISA_AVXVNNI:
#if defined(__x86_64__)
    return cpu_has_avxvnni() ? &qk_vnni_ops : NULL;
#else
    return NULL;
#endif
  case KERN_ISA_AVX512VNNI:
#if defined(__x86_64__)
    return cpu_has_avx512vnni() ? &qk_avx512_ops : NULL;
#else
    return NULL;
#endif
  case KERN_ISA_AUTO:
#if defined(__x86_64__)
    if (cpu_has_avx512vnni())
      return &qk_avx512_ops;
    if (cpu_has_avxvnni())
      return &qk_vnni_ops;
    if (cpu_has_avx2_fma())
      return &qk_avx2_ops;
#endif
    return &qk_ref_ops;
  }
  return NULL;
}

int
kern_isa_from_name(const char *name, enum kern_isa *out)
{
  static const struct { const char *name; enum kern_isa isa; } names[] = {
    { "auto", KERN_ISA_AUTO }, { "ref", KERN_ISA_REF },
    { "avx2", KERN_ISA_AVX2 }, { "avxvnni", KERN_ISA_AVXVNNI },
    { "avx512vnni", KERN_ISA_AVX512VNNI },
  };
  for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i].name) == 0) {
      *out = names[i].isa;
      return 0;
    }
  return -1;
}

const char *
kern_isa_name(enum kern_isa isa)
{
  switch (isa) {
  case KERN_ISA_AUTO:
    return "auto";
  case KERN_ISA_REF:
    return "ref";
  case KERN_ISA_AVX2:
    return "avx2";
  case KERN_ISA_AVXVNNI:
    return "avxvnni";
  case KERN_ISA_AVX512VNNI:
    return "avx512vnni";
  }
  return "?";
}
