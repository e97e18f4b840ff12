/* streamsight — helpers shared by the AVX2 and AVX-VNNI integer kernels.
 * Include only from sources built with -mavx2 (the vector types cross the
 * call). */
#ifndef SS_QKERNELS_AVX2_UTIL_H
#define SS_QKERNELS_AVX2_UTIL_H

#include <immintrin.h>

#include "qkernels.h"

/* Requantises the sums of channels j0..j0+15 (two vectors of 8) as
 * qk_requant_one does and stores the first nn (1..16) bytes at dst. */
void qk_avx2_requant_store(__m256i a0, __m256i a1, const struct qk_requant *rq,
                           size_t j0, size_t nn, uint8_t *dst);

#endif
