/* streamsight — every kernel variant this build has, in order of preference
 * (best last). An X-macro list: define
 *   KERN_VARIANT(name, isa, gemm_nr, cpu_ok)
 * before including this file; it is #undef'd at the end. name is the suffix
 * of the kern_f32_<op>__<name> functions (kernels-<name>.h), isa its
 * enum kern_isa, gemm_nr the NR of its "gemm" layout and cpu_ok an
 * expression, evaluated in dispatch.c only, that is true when the CPU runs
 * it. Used by dispatch.c, tests/test-kernels.c and the benchmarks.
 *
 * The file holds only the list (it may be expanded inside an initialiser);
 * code that expands the function names includes kernels-<name>.h itself.
 */
KERN_VARIANT(ref, KERN_ISA_REF, KERN_REF_GEMM_NR, true)
#if defined(__x86_64__)
KERN_VARIANT(avx2, KERN_ISA_AVX2, KERN_AVX2_GEMM_NR, cpu_has_avx2_fma())
#endif

#undef KERN_VARIANT
