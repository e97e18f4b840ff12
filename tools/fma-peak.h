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
 * in streamsight-bench.c, built for the baseline ISA. Thread-safe. */
float fma_peak_run(uint64_t iters);

/* 12 chains x 8 lanes x 2 flops (multiply + add) */
#define FMA_PEAK_FLOPS_PER_ITER (12 * 8 * 2)

#endif
