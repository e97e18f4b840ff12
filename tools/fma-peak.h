/* streamsight — measures the single-core float32 FMA peak (streamsight-bench
 * --profile), so that the share of peak a network reaches is computed against
 * this machine's measured limit, not a datasheet figure. */
#ifndef SS_FMA_PEAK_H
#define SS_FMA_PEAK_H

#include <stdint.h>

/* Runs iters iterations of FMA_PEAK_FLOPS_PER_ITER floating-point operations
 * (12 independent chains of 8-lane fused multiply-adds) and returns a value
 * derived from the accumulators so that the work cannot be optimised away.
 * The whole file is built with -mavx2 -mfma: call it only after checking
 * __builtin_cpu_supports("avx2") and ("fma"); the timing loop around it lives
 * in bench-measure.c, built for the baseline ISA. Thread-safe. */
float fma_peak_run(uint64_t iters);

/* 12 chains x 8 lanes x 2 flops (multiply + add) */
#define FMA_PEAK_FLOPS_PER_ITER (12 * 8 * 2)

/* The integer engine's peaks, measured the same way (12 independent
 * chains). madd16: vpmaddwd + vpaddd, 8 lanes x 2 int16 products, 32 ops
 * (multiply + add) per chain step; needs AVX2. dpbusd: AVX-VNNI vpdpbusd,
 * 8 lanes x 4 byte products, 64 ops per step; call only when the CPU has
 * AVX-VNNI (CPUID 7.1 EAX bit 4). */
float madd16_peak_run(uint64_t iters);
float dpbusd_peak_run(uint64_t iters);
#define MADD16_PEAK_OPS_PER_ITER (12 * 8 * 2 * 2)
#define DPBUSD_PEAK_OPS_PER_ITER (12 * 8 * 4 * 2)
/* dpbusd512: AVX-512 VNNI vpdpbusd on zmm, 16 lanes x 4 byte products,
 * 128 ops per step; call only when the CPU and the OS run AVX-512 VNNI
 * (kern_ops_get(KERN_ISA_AVX512VNNI) != NULL). */
float dpbusd512_peak_run(uint64_t iters);
#define DPBUSD512_PEAK_OPS_PER_ITER (12 * 16 * 4 * 2)

#endif
