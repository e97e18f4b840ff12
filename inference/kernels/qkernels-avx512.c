/* streamsight — integer GEMM with AVX-512 VNNI (vpdpbusd on zmm: 64
 * multiply-adds per instruction, 16 int32 lanes), the twin of
 * qk_gemm__ref for CPUs that have it (Intel Ice Lake / Sapphire Rapids
 * servers on, AMD Zen 4 on): the same bytes out. Built with -mavx512f
 * -mavx512bw -mavx512vl -mavx512vnni; reached only through qk_ops_get(),
 * which checks the CPU and that the OS saves the zmm state.
 *
 * As the AVX-VNNI kernel (qkernels-vnni.c): the activations are bytes, the
 * weights w - w_zp (up to 511 values) are stored as int8 w8 = (w - w_zp) -
 * o_j, and o_j * sum_k a[k] is added back. Here o is one number for the
 * whole layer when every channel fits one int8 window, which holds for the
 * files users run: per-tensor uint8 weights (TF1: w - w_zp spans
 * -w_zp..255-w_zp for all channels, o = 128 - w_zp) and symmetric int8
 * ones (TF2: o = 0, and the row sums are not needed at all); other files
 * get an offset per channel (one vpmulld per accumulator).
 *
 * Tiles are MR pixels x NV blocks of 16 channels (MR * NV = 24
 * accumulators of the 32 zmm registers: 24x16, 12x32, 8x48, 6x64), so a
 * layer with few channels (the 16- and 32-channel ones of V2's first
 * blocks) still gets a full tile. Requantisation runs on the accumulators
 * in registers, 16 lanes at a time, and the bytes of a pixel's 64
 * channels leave in one (masked) store.
 *
 * "qgemm-512" layout:
 *   64 bytes    int32 offset mode (OFFS_*), int32 the layer's offset o
 *   groups of up to 64 channels (NV = ceil(channels / 16) blocks, the last
 *   group only may be short; lanes past N are zero):
 *     NV*16 int32   bias[j] - in_zp * sum_k w[j][k]   (as "qgemm")
 *     NV*16 int32   o_j (OFFS_CHANNEL)
 *     KQ = ceil(K/4) steps of NV*64 bytes: block v's 16 channels, each as
 *                   4 int8 w8[j][4q .. 4q+3] (0 past K)
 */
#include "qkernels-avx512.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "qkernels-ref.h"

enum { OFFS_NONE = 0, OFFS_LAYER, OFFS_CHANNEL };

#define HEADER 64
#define GROUP 64 /* channels */
#define PANEL 24 /* rows whose sums are computed together */
_Static_assert(PANEL % 8 == 0, "panel_sums stores 8 sums at a time");

static size_t
group_bytes(size_t nv, size_t k)
{
  return nv * (16 * 8 + (k + 3) / 4 * 64);
}

size_t
qk_gemm_packed_size__avx512(size_t n, size_t k)
{
  const size_t blocks = (n + 15) / 16;
  return HEADER + group_bytes(blocks, k);
}

void
qk_gemm_pack__avx512(size_t n, size_t k, const int16_t *w,
                     const int32_t *bias, int32_t in_zp, void *packed)
{
  uint8_t *p = packed;
  memset(p, 0, qk_gemm_packed_size__avx512(n, k));
  /* One offset for the layer when all its weights span at most 256
   * values; else one per channel. */
  int mn = 0, mx = 0;
  for (size_t i = 0; i < n * k; i++) {
    mn = i == 0 || w[i] < mn ? w[i] : mn;
    mx = i == 0 || w[i] > mx ? w[i] : mx;
  }
  int32_t mode, o_layer = 0;
  if (mn >= -128 && mx <= 127)
    mode = OFFS_NONE;
  else if (mx - mn <= 255) {
    mode = OFFS_LAYER;
    o_layer = mx - 127;
  } else
    mode = OFFS_CHANNEL;
  memcpy(p, &mode, 4);
  memcpy(p + 4, &o_layer, 4);
  p += HEADER;
  const size_t kq = (k + 3) / 4;
  for (size_t n0 = 0; n0 < n; n0 += GROUP) {
    const size_t nc = n - n0 < GROUP ? n - n0 : GROUP;
    const size_t nv = (nc + 15) / 16;
    int32_t *b = (int32_t *)(void *)p;
    int32_t *off = b + nv * 16;
    int8_t *pw = (int8_t *)(p + nv * 16 * 8);
    for (size_t j = 0; j < nc; j++) {
      const int16_t *wj = w + (n0 + j) * k;
      int64_t sum = 0;
      int cmn = 0, cmx = 0;
      for (size_t kk = 0; kk < k; kk++) {
        sum += wj[kk];
        cmn = kk == 0 || wj[kk] < cmn ? wj[kk] : cmn;
        cmx = kk == 0 || wj[kk] > cmx ? wj[kk] : cmx;
      }
      b[j] = (int32_t)((uint32_t)bias[n0 + j] - (uint32_t)(in_zp * sum));
      /* a channel spans at most 255 (one byte's range): shifting its
       * maximum to 127 fits all of it in int8 */
      const int o = mode == OFFS_LAYER     ? o_layer
                    : mode == OFFS_CHANNEL ? (cmn >= -128 && cmx <= 127
                                                  ? 0
                                                  : cmx - 127)
                                           : 0;
      off[j] = o;
      for (size_t kk = 0; kk < k; kk++)
        pw[((kk / 4) * nv + j / 16) * 64 + (j % 16) * 4 + kk % 4] =
            (int8_t)(wj[kk] - o);
    }
    (void)kq;
    p += group_bytes(nv, k);
  }
}

/* vpsadbw sums of the k bytes at a, in the 8 qwords of a vector (each at
 * most 255 * 8 * ceil(k / 64)) */
static inline __m512i
row_sad(const uint8_t *a, size_t k)
{
  if (k <= 32) { /* a masked load no wider than the row */
    const __mmask32 mk = _cvtu32_mask32(~0u >> (32 - k));
    return _mm512_zextsi256_si512(_mm256_sad_epu8(
        _mm256_maskz_loadu_epi8(mk, a), _mm256_setzero_si256()));
  }
  __m512i s = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= k; i += 64)
    s = _mm512_add_epi64(
        s, _mm512_sad_epu8(_mm512_loadu_si512(a + i), _mm512_setzero_si512()));
  if (i < k) {
    const __mmask64 mk = _cvtu64_mask64(~0ull >> (64 - (k - i)));
    s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(mk, a + i),
                                            _mm512_setzero_si512()));
  }
  return s;
}

/* The totals of 8 rows' vpsadbw vectors (8 qwords each), as 8 int32
 * (modulo 2^32): the 8 horizontal sums as one transposition by adds of
 * unpacked and shuffled halves, 24 instructions where 8 reductions took
 * 56 (for short rows, the sums cost as much as their GEMM). */
static inline __m256i
sum8(const __m512i s[8])
{
  __m512i t[4];
  for (int p = 0; p < 4; p++) /* lane L: s2p's and s2p+1's qwords 2L+2L+1 */
    t[p] = _mm512_add_epi64(_mm512_unpacklo_epi64(s[2 * p], s[2 * p + 1]),
                            _mm512_unpackhi_epi64(s[2 * p], s[2 * p + 1]));
  __m512i w[2];
  for (int h = 0; h < 2; h++) {
    const __m512i a = t[2 * h], b = t[2 * h + 1];
    /* lanes: (a's 0+1), (a's 2+3), (b's 0+1), (b's 2+3) */
    const __m512i u =
        _mm512_add_epi64(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    /* lanes 0 and 1: rows 4h, 4h+1 totals; 2 and 3: 4h+2, 4h+3 */
    w[h] = _mm512_add_epi64(
        u, _mm512_shuffle_i64x2(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
  }
  return _mm512_cvtepi64_epi32(
      _mm512_shuffle_i64x2(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)));
}

/* The byte sums of rows a, a + stride, ... (pm <= PANEL of them) times
 * mult into sum[0 .. PANEL-1] (modulo 2^32, as the reference's sums
 * wrap; 0 past pm), 8 rows at a time. */
static void
panel_sums(const uint8_t *a, size_t stride, size_t k, size_t pm,
           int32_t mult, int32_t *sum)
{
  for (size_t r = 0; r < pm; r += 8) {
    __m512i sv[8];
    for (size_t i = 0; i < 8; i++)
      sv[i] = r + i < pm ? row_sad(a + (r + i) * stride, k)
                         : _mm512_setzero_si512();
    const __m256i t = _mm256_mullo_epi32(sum8(sv), _mm256_set1_epi32(mult));
    /* sum[] holds PANEL entries: a whole vector fits past pm too (an
     * unmasked store, which later loads of its parts can forward from) */
    _mm256_storeu_si256((__m256i *)(void *)(sum + r), t);
  }
}

/* The 4 bytes of group q of row a (zero past k), as one int32: a masked
 * load, which reads nothing past k (and calls nothing: a call would cost
 * the accumulators their registers). */
static inline int32_t
group_tail(const uint8_t *a, size_t q, size_t k)
{
  const size_t left = k - 4 * q;
  const __mmask16 mk = _cvtu32_mask16(left < 4 ? (1u << left) - 1 : 0xfu);
  return _mm_cvtsi128_si32(_mm_maskz_loadu_epi8(mk, a + 4 * q));
}

static inline int32_t
load32(const uint8_t *p)
{
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

struct tile {
  const uint8_t *a;    /* the tile's first row */
  size_t a_stride, k;
  const uint8_t *g;    /* its channel group */
  int mode;            /* OFFS_* */
  const int32_t *corr; /* per row: o * row sum (OFFS_LAYER), row sum
                          (OFFS_CHANNEL) */
  const struct qk_requant *rq;
  size_t j0, nn; /* the group's first channel, channels in it (1..64) */
  uint8_t *out;
  size_t out_stride;
};

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The fp32 requantisation of an MR x NV tile's sums and its stores
 * (tile_run); hi_in_float: clamp above before the conversion. */
static ALWAYS_INLINE void
requant_store(const int MR, const int NV, const bool hi_in_float,
              __m512i acc[24][4], const __m512 sc[4], const struct tile *t)
{
  const struct qk_requant *rq = t->rq;
  const size_t nn = t->nn;
  const __m512 hi = _mm512_set1_ps((float)(rq->hi - rq->zp));
  const __m512i zp16 = _mm512_set1_epi16((short)rq->zp);
  const __m512i lo8 = _mm512_set1_epi8((char)rq->lo);
  const __m512i hi8 = _mm512_set1_epi8((char)rq->hi);
  const __m512i order =
      _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  /* 4 vectors a pack: one pixel's NV (3, 4), or 2 pixels' 2, or 4
   * pixels' 1, so that 16- and 32-channel layers pack no zeros */
  const int RP = NV >= 3 ? 1 : 4 / NV;
  const __mmask64 store = _cvtu64_mask64(nn >= 64 ? ~0ull : (1ull << nn) - 1);
#pragma GCC unroll 24
  for (int r = 0; r < MR; r += RP) {
    __m512i y[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      const int rr = r + i / NV, v = i % NV;
      if (i < RP * NV && rr < MR) {
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[rr][v]), sc[v]);
        if (hi_in_float)
          f = _mm512_min_ps(f, hi);
        y[i] = _mm512_cvtps_epi32(f);
      } else {
        y[i] = _mm512_setzero_si512();
      }
    }
    /* lane l of the packs: channels 4l..4l+3 of y0, y1, y2, y3 */
    const __m512i p01 = _mm512_adds_epi16(_mm512_packs_epi32(y[0], y[1]), zp16);
    const __m512i p23 = _mm512_adds_epi16(_mm512_packs_epi32(y[2], y[3]), zp16);
    __m512i bytes = _mm512_max_epu8(_mm512_packus_epi16(p01, p23), lo8);
    if (!hi_in_float)
      bytes = _mm512_min_epu8(bytes, hi8);
    bytes = _mm512_permutexvar_epi32(order, bytes);
    uint8_t *o = t->out + r * t->out_stride;
    if (NV >= 3) {
      _mm512_mask_storeu_epi8(o, store, bytes);
    } else if (NV == 2) {
      const __mmask32 st = (__mmask32)_cvtmask64_u64(store);
      _mm256_mask_storeu_epi8(o, st, _mm512_castsi512_si256(bytes));
      if (r + 1 < MR)
        _mm256_mask_storeu_epi8(o + t->out_stride, st,
                                _mm512_extracti64x4_epi64(bytes, 1));
    } else {
      const __mmask16 st = (__mmask16)_cvtmask64_u64(store);
      _mm_mask_storeu_epi8(o, st, _mm512_castsi512_si128(bytes));
      if (r + 1 < MR)
        _mm_mask_storeu_epi8(o + t->out_stride, st,
                             _mm512_extracti32x4_epi32(bytes, 1));
      if (r + 2 < MR)
        _mm_mask_storeu_epi8(o + 2 * t->out_stride, st,
                             _mm512_extracti32x4_epi32(bytes, 2));
      if (r + 3 < MR)
        _mm_mask_storeu_epi8(o + 3 * t->out_stride, st,
                             _mm512_extracti32x4_epi32(bytes, 3));
    }
  }
}


/* MR x NV tile: sums in registers, then requantised and stored. */
static ALWAYS_INLINE void
tile_run(const int MR, const int NV, const struct tile *t)
{
  const uint8_t *g = t->g;
  const size_t k = t->k, kq_full = k / 4, as = t->a_stride;
  __m512i acc[24][4]; /* [MR][NV] used */
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) {
    const __m512i b = _mm512_loadu_si512(g + v * 64);
    if (t->mode == OFFS_CHANNEL) {
      const __m512i o = _mm512_loadu_si512(g + NV * 64 + v * 64);
#pragma GCC unroll 24
      for (int r = 0; r < MR; r++)
        acc[r][v] = _mm512_add_epi32(
            b, _mm512_mullo_epi32(o, _mm512_set1_epi32(t->corr[r])));
    } else if (t->mode == OFFS_LAYER) {
#pragma GCC unroll 24
      for (int r = 0; r < MR; r++)
        acc[r][v] = _mm512_add_epi32(b, _mm512_set1_epi32(t->corr[r]));
    } else {
#pragma GCC unroll 24
      for (int r = 0; r < MR; r++)
        acc[r][v] = b;
    }
  }
  const uint8_t *pw = g + NV * 128;
  const uint8_t *a = t->a;
  for (size_t q = 0; q < kq_full; q++) {
    __m512i w[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
      w[v] = _mm512_loadu_si512(pw + (q * NV + v) * 64);
#pragma GCC unroll 24
    for (int r = 0; r < MR; r++) {
      const __m512i x = _mm512_set1_epi32(load32(a + r * as + 4 * q));
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x, w[v]);
    }
  }
  if (k % 4) {
    const size_t q = kq_full;
    __m512i w[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
      w[v] = _mm512_loadu_si512(pw + (q * NV + v) * 64);
#pragma GCC unroll 24
    for (int r = 0; r < MR; r++) {
      const __m512i x = _mm512_set1_epi32(group_tail(a + r * as, q, k));
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x, w[v]);
    }
  }

  const struct qk_requant *rq = t->rq;
  const size_t nn = t->nn;
  if (rq->mode != QK_RQ_FP32) {
    /* gemmlowp: scalar, over the channels that exist; all sums leave the
     * registers before the first call */
    int32_t tmp[24][64];
#pragma GCC unroll 24
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        _mm512_storeu_si512(&tmp[r][v * 16], acc[r][v]);
    for (int r = 0; r < MR; r++)
      for (size_t j = 0; j < nn; j++)
        t->out[r * t->out_stride + j] =
            qk_requant_one(tmp[r][j], rq, t->j0 + j);
    return;
  }
  /* fp32: y = lrint(min(acc * scale, hi - zp)) + zp, then max lo. The
   * low clamp after rounding gives the same byte (lo - zp is a whole
   * number); the high one before it keeps vcvtps2dq from overflowing
   * (it returns INT32_MIN for a too large value, and for a too small one,
   * which the clamps take to lo as they should). With every scale below
   * 1, |acc * scale| < 2^31 cannot overflow, and the high clamp moves to
   * the bytes too (one vpminub a pack instead of a vminps a vector). The
   * saturating packs keep the order: past int16 or 0..255 means past lo
   * or hi. */
  __m512 sc[4];
  __mmask16 big = 0;
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) {
    const size_t in_v = nn > (size_t)v * 16 ? nn - (size_t)v * 16 : 0;
    const __mmask16 mv =
        _cvtu32_mask16(in_v >= 16 ? 0xffffu : (1u << in_v) - 1);
    sc[v] = _mm512_maskz_loadu_ps(mv, rq->scale + t->j0 + (size_t)v * 16);
    big |= _mm512_cmp_ps_mask(sc[v], _mm512_set1_ps(1.0f), _CMP_NLT_UQ);
  }
  if (big)
    requant_store(MR, NV, true, acc, sc, t);
  else
    requant_store(MR, NV, false, acc, sc, t);
}

typedef void (*tile_fn)(const struct tile *t);

#define TILE(MR, NV)                                                        \
  static void tile_##MR##x##NV(const struct tile *t) { tile_run(MR, NV, t); }
TILE(24, 1)
TILE(8, 1)
TILE(4, 1)
TILE(2, 1)
TILE(1, 1)
TILE(12, 2)
TILE(8, 2)
TILE(4, 2)
TILE(2, 2)
TILE(1, 2)
TILE(8, 3)
TILE(4, 3)
TILE(2, 3)
TILE(1, 3)
TILE(6, 4)
TILE(4, 4)
TILE(2, 4)
TILE(1, 4)
#undef TILE

/* Tile sizes for NV blocks, largest first (the first one the full tile). */
static const struct {
  int mr;
  tile_fn fn;
} tiles[4][5] = {
  { { 24, tile_24x1 }, { 8, tile_8x1 }, { 4, tile_4x1 }, { 2, tile_2x1 },
    { 1, tile_1x1 } },
  { { 12, tile_12x2 }, { 8, tile_8x2 }, { 4, tile_4x2 }, { 2, tile_2x2 },
    { 1, tile_1x2 } },
  { { 8, tile_8x3 }, { 4, tile_4x3 }, { 2, tile_2x3 }, { 1, tile_1x3 } },
  { { 6, tile_6x4 }, { 4, tile_4x4 }, { 2, tile_2x4 }, { 1, tile_1x4 } },
};

void
qk_gemm__avx512(size_t m, size_t n, size_t k, const uint8_t *in,
                size_t in_stride, const void *packed,
                const struct qk_requant *rq, uint8_t *out, size_t out_stride)
{
  const uint8_t *hdr = packed;
  int32_t mode, o_layer;
  memcpy(&mode, hdr, 4);
  memcpy(&o_layer, hdr + 4, 4);
  const uint8_t *groups = hdr + HEADER;
  int32_t corr[PANEL];
  for (size_t i0 = 0; i0 < m; i0 += PANEL) {
    const size_t pm = m - i0 < PANEL ? m - i0 : PANEL;
    const uint8_t *a = in + i0 * in_stride;
    if (mode != OFFS_NONE) {
      panel_sums(a, in_stride, k, pm, mode == OFFS_LAYER ? o_layer : 1,
                 corr);
    }
    const uint8_t *g = groups;
    for (size_t n0 = 0; n0 < n; n0 += GROUP) {
      const size_t nn = n - n0 < GROUP ? n - n0 : GROUP;
      const size_t nv = (nn + 15) / 16;
      struct tile t = { .a_stride = in_stride, .k = k, .g = g, .mode = mode,
                        .rq = rq, .j0 = n0, .nn = nn,
                        .out_stride = out_stride };
      size_t r = 0, s = 0;
      while (r < pm) {
        while (tiles[nv - 1][s].mr > (int)(pm - r))
          s++;
        t.a = a + r * in_stride;
        t.corr = corr + r;
        t.out = out + (i0 + r) * out_stride + n0;
        tiles[nv - 1][s].fn(&t);
        r += (size_t)tiles[nv - 1][s].mr;
      }
      g += group_bytes(nv, k);
    }
  }
}
