/* streamsight — the depthwise kernels of qkernels-dw-vnni.c for AVX-512
 * VNNI CPUs (the EVEX vpdpbusd on ymm; some of them have no AVX-VNNI),
 * named __avx512. Built with -mavx512vnni -mavx512vl. */
#define QK_DW_EVEX 1
#include "qkernels-dw-vnni.c"
