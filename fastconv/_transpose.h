/* One tile of a float32 matrix transpose, 4x4 blocks at a time (SSE, part of the x86-64 baseline).
 *
 * dst[j * R + i] = src[i * C + j] for i0 <= i < i1, j0 <= j < j1 (src R x C, dst C x R, both
 * C-contiguous). Each 4x4 block is four unaligned 16-byte loads, the shuffles of
 * _MM_TRANSPOSE4_PS and four 16-byte stores: a pure data movement, so the result is the scalar
 * loop's bit for bit. Rows and columns beyond the last whole block are copied one by one; without
 * SSE the whole tile is.
 */
#ifndef FASTCONV_TRANSPOSE_H
#define FASTCONV_TRANSPOSE_H

#include <stddef.h>
#include <stdint.h>
#include "_simd.h"
#if defined(__SSE__) || defined(_M_X64) || defined(_M_AMD64)
#include <xmmintrin.h>
#define FC_TRANSPOSE_SSE 1
#endif

static inline void fc_transpose_tile_f32(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                         ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1)
{
    ptrdiff_t i, j, i4 = i0, j4 = j0;
#ifdef FC_TRANSPOSE_SSE
    i4 = i0 + ((i1 - i0) & ~(ptrdiff_t)3);
    j4 = j0 + ((j1 - j0) & ~(ptrdiff_t)3);
    for (j = j0; j < j4; j += 4) {
        for (i = i0; i < i4; i += 4) {
            __m128 r0 = _mm_loadu_ps(src + (i + 0) * C + j);
            __m128 r1 = _mm_loadu_ps(src + (i + 1) * C + j);
            __m128 r2 = _mm_loadu_ps(src + (i + 2) * C + j);
            __m128 r3 = _mm_loadu_ps(src + (i + 3) * C + j);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + (j + 0) * R + i, r0);
            _mm_storeu_ps(dst + (j + 1) * R + i, r1);
            _mm_storeu_ps(dst + (j + 2) * R + i, r2);
            _mm_storeu_ps(dst + (j + 3) * R + i, r3);
        }
    }
#endif
    /* the rows below the blocks (every column), then the columns right of them */
    for (j = j0; j < j1; j++)
        for (i = i4; i < i1; i++)
            dst[j * R + i] = src[i * C + j];
    for (j = j4; j < j1; j++)
        for (i = i0; i < i4; i++)
            dst[j * R + i] = src[i * C + j];
}

/* The whole-matrix float32 transpose of rows i0 <= i < i1 (every column), in register blocks.
 *
 * dst[j * R + i] = src[i * C + j]. AVX2: in bands of 16 rows, left to right, one 16x16 block
 * (four 8x8 register transposes) at a time: the band's 16 source rows are read in order (a line
 * split between two blocks is read by consecutive ones) and each block writes 16 whole 64-byte
 * destination segments. SSE: in strips of 16 columns, top to bottom, 4 rows at a time. With AVX2 a block reads 16 whole source row segments of 64 bytes
 * and writes 16 whole destination segments, so no cache line has to stay in L1 from one block to
 * the next, whatever the strides (a square tile needs its rows to, and with power-of-two strides
 * they all fall in one cache set, which holds only a few of them).
 * A pure data movement: the result is the scalar loop's bit for bit. The level is the one the
 * other kernels run at (fc_simd_level(), FASTCONV_SIMD); without AVX2, SSE; without SSE, scalar.
 */
#define FC_TR_SCALAR_REST(src, dst, R, C, i0, i1, ib, jb)                                     \
    do {                                                                                      \
        ptrdiff_t i_, j_;                                                                     \
        for (j_ = (jb); j_ < (C); j_++) /* the columns right of the blocks */                 \
            for (i_ = (i0); i_ < (ib); i_++)                                                  \
                (dst)[j_ * (R) + i_] = (src)[i_ * (C) + j_];                                  \
        for (i_ = (ib); i_ < (i1); i_++) /* the rows below them, every column */              \
            for (j_ = 0; j_ < (C); j_++)                                                      \
                (dst)[j_ * (R) + i_] = (src)[i_ * (C) + j_];                                  \
    } while (0)

#ifdef FC_TRANSPOSE_SSE
static inline void fc_tr4x4_sse(const float *s, ptrdiff_t ls, float *d, ptrdiff_t ld)
{
    __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + ls), r2 = _mm_loadu_ps(s + 2 * ls),
           r3 = _mm_loadu_ps(s + 3 * ls);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(d, r0);
    _mm_storeu_ps(d + ld, r1);
    _mm_storeu_ps(d + 2 * ld, r2);
    _mm_storeu_ps(d + 3 * ld, r3);
}

static void fc_transpose_rows_f32_sse(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                      ptrdiff_t i0, ptrdiff_t i1)
{
    ptrdiff_t i, j, jj, ib = i0 + ((i1 - i0) & ~(ptrdiff_t)3), c16 = C & ~(ptrdiff_t)15,
                        c4 = C & ~(ptrdiff_t)3;
    for (j = 0; j < c16; j += 16)
        for (i = i0; i < ib; i += 4)
            for (jj = j; jj < j + 16; jj += 4)
                fc_tr4x4_sse(src + i * C + jj, C, dst + jj * R + i, R);
    for (j = c16; j < c4; j += 4)
        for (i = i0; i < ib; i += 4)
            fc_tr4x4_sse(src + i * C + j, C, dst + j * R + i, R);
    FC_TR_SCALAR_REST(src, dst, R, C, i0, i1, ib, c4);
}
#endif

#if defined(FC_X86_DISPATCH) && defined(FC_TRANSPOSE_SSE)
#define FC_TRANSPOSE_AVX2 1
#include <immintrin.h>
#define FC_TR_AVX2 __attribute__((target("avx2")))

/* r[k] := column k of the 8x8 block at s (row stride ls). Each register is loaded as two
 * 128-bit halves, rows i and i + 4, so that the rest is a 4x4 transpose within each half: 16
 * shuffles instead of the 24 of the three-stage transpose (shuffles, on one port, bound it). */
FC_TR_AVX2 static inline __attribute__((always_inline)) void fc_tr8_avx2(const float *s, ptrdiff_t ls, __m256 *r)
{
#define FC_TR_LD(i, j) \
    _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + (i) * ls + (j))), _mm_loadu_ps(s + ((i) + 4) * ls + (j)), 1)
    __m256 a0 = FC_TR_LD(0, 0), a1 = FC_TR_LD(1, 0), a2 = FC_TR_LD(2, 0), a3 = FC_TR_LD(3, 0);
    __m256 b0 = FC_TR_LD(0, 4), b1 = FC_TR_LD(1, 4), b2 = FC_TR_LD(2, 4), b3 = FC_TR_LD(3, 4);
#undef FC_TR_LD
    __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    __m256 u0 = _mm256_unpacklo_ps(b0, b1), u1 = _mm256_unpackhi_ps(b0, b1);
    __m256 u2 = _mm256_unpacklo_ps(b2, b3), u3 = _mm256_unpackhi_ps(b2, b3);
    r[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    r[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    r[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    r[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    r[4] = _mm256_shuffle_ps(u0, u2, 0x44);
    r[5] = _mm256_shuffle_ps(u0, u2, 0xEE);
    r[6] = _mm256_shuffle_ps(u1, u3, 0x44);
    r[7] = _mm256_shuffle_ps(u1, u3, 0xEE);
}

/* one 8x8 block: d[k * ld + i] = s[i * ls + k] */
FC_TR_AVX2 static inline void fc_tr8x8_avx2(const float *s, ptrdiff_t ls, float *d, ptrdiff_t ld)
{
    __m256 r[8];
    int k;
    fc_tr8_avx2(s, ls, r);
    for (k = 0; k < 8; k++)
        _mm256_storeu_ps(d + k * ld, r[k]);
}

/* one 16x16 block, as four 8x8 ones; each destination row segment of 64 bytes (one cache line
 * when aligned) is written whole by two adjacent stores, so no line has to stay in L1 from one
 * block to the next, and the block reads 16 source lines only */
FC_TR_AVX2 static inline __attribute__((always_inline)) void fc_tr16x16_avx2(const float *s, ptrdiff_t ls, float *d,
                                                                             ptrdiff_t ld, const int stream)
{
    __m256 top[8], bot[8]; /* columns 8h..8h+7 of rows 0-7 and 8-15, transposed */
    int h, k;
    for (h = 0; h < 2; h++) {
        fc_tr8_avx2(s + 8 * h, ls, top);
        fc_tr8_avx2(s + 8 * ls + 8 * h, ls, bot);
        for (k = 0; k < 8; k++) {
            if (stream) { /* d's lines are 64-byte aligned: two non-temporal halves fill each */
                _mm256_stream_ps(d + (8 * h + k) * ld, top[k]);
                _mm256_stream_ps(d + (8 * h + k) * ld + 8, bot[k]);
            } else {
                _mm256_storeu_ps(d + (8 * h + k) * ld, top[k]);
                _mm256_storeu_ps(d + (8 * h + k) * ld + 8, bot[k]);
            }
        }
    }
}

/* rows [ia, ib) x columns [ja, jb): 8x8 blocks, the ragged edges in 4x4 ones and one by one */
FC_TR_AVX2 static void fc_tr_rect_avx2(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C, ptrdiff_t ia,
                                       ptrdiff_t ib, ptrdiff_t ja, ptrdiff_t jb)
{
    ptrdiff_t i, j, i8 = ia + ((ib - ia) & ~(ptrdiff_t)7), j8 = ja + ((jb - ja) & ~(ptrdiff_t)7);
    for (i = ia; i < i8; i += 8)
        for (j = ja; j < j8; j += 8)
            fc_tr8x8_avx2(src + i * C + j, C, dst + j * R + i, R);
    fc_transpose_tile_f32(src, dst, R, C, ia, i8, j8, jb);
    fc_transpose_tile_f32(src, dst, R, C, i8, ib, ja, jb);
}

/* Few columns (C 16 or 32): the destination is C long rows, each written FC_TR_STAGE / C values
 * at a time. Groups of RB = FC_TR_STAGE / C source rows are transposed in 16x16 blocks into a
 * staging block (16 KiB, which stays in L1 with the group's source lines), whose C rows are then
 * copied out whole: each destination row gets RB contiguous values at once instead of 16 values
 * per band. Measured, float32 (32, 1024, C) -> (32, C, 1024): 0.52-0.62 of the banded loop's
 * time at C 16 and 32 on one thread (0.50-0.78 on two), 0.8-1.1 at C 64 (not used there).
 * Streamed copies keep the banded loop. Returns the first row not done (fewer than RB rows are
 * left to the caller). */
#define FC_TR_STAGE 4096
FC_TR_AVX2 static ptrdiff_t fc_tr_staged_avx2(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                              ptrdiff_t i0, ptrdiff_t i1)
{
    float buf[FC_TR_STAGE] __attribute__((aligned(64)));
    const ptrdiff_t RB = FC_TR_STAGE / C;
    ptrdiff_t i, b, j, k;
    for (i = i0; i + RB <= i1; i += RB) {
        for (b = 0; b < RB; b += 16)
            for (j = 0; j < C; j += 16)
                fc_tr16x16_avx2(src + (i + b) * C + j, C, buf + j * RB + b, RB, 0);
        for (k = 0; k < C; k++)
            memcpy(dst + k * R + i, buf + k * RB, (size_t)RB * sizeof(float));
    }
    return i;
}

FC_TR_AVX2 static void fc_transpose_rows_f32_avx2(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                                  ptrdiff_t i0, ptrdiff_t i1, int stream)
{
    ptrdiff_t i, j, i16, cm, hi = 0, hj = 0;
    size_t dmis, smis;
    if (C < 16) { /* no whole 16-column block: 8x8 blocks down the rows (a block's source is contiguous for C == 8) */
        fc_tr_rect_avx2(src, dst, R, C, i0, i1, 0, C);
        return;
    }
    if (!stream && (C == 16 || C == 32)) {
        i0 = fc_tr_staged_avx2(src, dst, R, C, i0, i1);
        if (i0 == i1)
            return;
    }
    dmis = (size_t)(uintptr_t)(dst + i0) & 63;
    /* Line alignment. With R a multiple of 16 every destination row starts at the same offset in
     * its cache line (NumPy's large arrays start 16 bytes into one), likewise the source rows
     * with C a multiple of 16: the first hi rows and, in each band, the first hj columns go in
     * 4x4 blocks, so that every 16x16 block reads 16 whole source lines and writes 16 whole
     * destination lines. (A line shared by two blocks would have to stay in L1 between them,
     * which with power-of-two strides puts 16 lines in one 12-way set: measured 2-4x the
     * compulsory L1 misses without this.) */
    if ((R & 15) == 0 && dmis && (dmis & 15) == 0 && (ptrdiff_t)((64 - dmis) / 4) < i1 - i0) {
        hi = (ptrdiff_t)((64 - dmis) / 4);
        fc_transpose_tile_f32(src, dst, R, C, i0, i0 + hi, 0, C);
        i0 += hi;
    }
    smis = (size_t)(uintptr_t)(src + i0 * C) & 63;
    if ((C & 15) == 0 && smis && (smis & 15) == 0)
        hj = (ptrdiff_t)((64 - smis) / 4);
    i16 = i0 + ((i1 - i0) & ~(ptrdiff_t)15);
    cm = hj + ((C - hj) & ~(ptrdiff_t)15);
    /* non-temporal stores only where every 16x16 block writes whole aligned destination lines */
    stream = stream && (R & 15) == 0 && ((size_t)(uintptr_t)(dst + i0) & 63) == 0;
    for (i = i0; i < i16; i += 16) {
        if (hj)
            fc_transpose_tile_f32(src, dst, R, C, i, i + 16, 0, hj);
        if (stream)
            for (j = hj; j < cm; j += 16)
                fc_tr16x16_avx2(src + i * C + j, C, dst + j * R + i, R, 1);
        else
            for (j = hj; j < cm; j += 16)
                fc_tr16x16_avx2(src + i * C + j, C, dst + j * R + i, R, 0);
        if (cm < C) /* the band's last columns, while its source lines are in L1 */
            fc_tr_rect_avx2(src, dst, R, C, i, i + 16, cm, C);
    }
    fc_tr_rect_avx2(src, dst, R, C, i16, i1, 0, C);
}
#endif

/* Rows i0 <= i < i1 of the R x C matrix src into dst (C x R), at the kernels' SIMD level.
 * stream: the AVX2 blocks write whole aligned destination lines with non-temporal stores (which do
 * not read the lines in first); the caller issues fc_transpose_sfence() before the data is used
 * by another thread. The values are the same either way. */
static inline void fc_transpose_rows_f32(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                         ptrdiff_t i0, ptrdiff_t i1, int stream)
{
#ifdef FC_TRANSPOSE_AVX2
    if (fc_simd_level() >= 1) {
        fc_transpose_rows_f32_avx2(src, dst, R, C, i0, i1, stream);
        return;
    }
#endif
    (void)stream;
#ifdef FC_TRANSPOSE_SSE
    fc_transpose_rows_f32_sse(src, dst, R, C, i0, i1);
#else
    FC_TR_SCALAR_REST(src, dst, R, C, i0, i1, i0, 0);
#endif
}

/* fc_transpose_strided_f32 / _f64 (below): d[k * ld + i] = s[i * ls + k] for 0 <= i < R,
 * 0 <= k < C, an R x C block between two arrays of any row strides (ls, ld in elements), e.g. a
 * row of NHWC pixels of a staging block into the rows of the NCHW planes. With AVX2, whole bands
 * of rows go in register blocks (float32 8x8, float64 4x4) and each band's last columns element
 * by element; the rows after the last band (all rows without AVX2) element by element. A pure
 * data movement either way. */
#ifdef FC_TRANSPOSE_AVX2
/* the whole 8-row bands of fc_transpose_strided_f32; returns the rows done */
FC_TR_AVX2 static ptrdiff_t fc_tr_strided_f32_avx2(const float *s, ptrdiff_t ls, float *d, ptrdiff_t ld,
                                                   ptrdiff_t R, ptrdiff_t C)
{
    ptrdiff_t i, k, u, r8 = R & ~(ptrdiff_t)7, c8 = C & ~(ptrdiff_t)7;
    for (i = 0; i < r8; i += 8) {
        for (k = 0; k < c8; k += 8)
            fc_tr8x8_avx2(s + i * ls + k, ls, d + k * ld + i, ld);
        for (k = c8; k < C; k++)
            for (u = 0; u < 8; u++)
                d[k * ld + i + u] = s[(i + u) * ls + k];
    }
    return r8;
}

/* the whole 4-row bands of fc_transpose_strided_f64; returns the rows done */
FC_TR_AVX2 static ptrdiff_t fc_tr_strided_f64_avx2(const double *s, ptrdiff_t ls, double *d, ptrdiff_t ld,
                                                   ptrdiff_t R, ptrdiff_t C)
{
    ptrdiff_t i, k, u, r4 = R & ~(ptrdiff_t)3, c4 = C & ~(ptrdiff_t)3;
    for (i = 0; i < r4; i += 4) {
        for (k = 0; k < c4; k += 4) {
            const double *p = s + i * ls + k;
            __m256d a0 = _mm256_loadu_pd(p), a1 = _mm256_loadu_pd(p + ls);
            __m256d a2 = _mm256_loadu_pd(p + 2 * ls), a3 = _mm256_loadu_pd(p + 3 * ls);
            __m256d t0 = _mm256_unpacklo_pd(a0, a1), t1 = _mm256_unpackhi_pd(a0, a1);
            __m256d t2 = _mm256_unpacklo_pd(a2, a3), t3 = _mm256_unpackhi_pd(a2, a3);
            double *q = d + k * ld + i;
            _mm256_storeu_pd(q, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(q + ld, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(q + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(q + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
        for (k = c4; k < C; k++)
            for (u = 0; u < 4; u++)
                d[k * ld + i + u] = s[(i + u) * ls + k];
    }
    return r4;
}
#define FC_TR_STRIDED_BANDS(T) if (fc_simd_level() >= 1) i = fc_tr_strided_##T##_avx2(s, ls, d, ld, R, C);
#else
#define FC_TR_STRIDED_BANDS(T)
#endif

#define FC_TR_STRIDED(T, E)                                                                     \
    static inline void fc_transpose_strided_##T(const E *s, ptrdiff_t ls, E *d, ptrdiff_t ld,   \
                                                ptrdiff_t R, ptrdiff_t C)                       \
    {                                                                                           \
        ptrdiff_t i = 0, k;                                                                     \
        FC_TR_STRIDED_BANDS(T)                                                                  \
        for (; i < R; i++)                                                                      \
            for (k = 0; k < C; k++)                                                             \
                d[k * ld + i] = s[i * ls + k];                                                  \
    }
FC_TR_STRIDED(f32, float)
FC_TR_STRIDED(f64, double)
#undef FC_TR_STRIDED
#undef FC_TR_STRIDED_BANDS

/* orders this thread's non-temporal stores before what follows */
static inline void fc_transpose_sfence(void)
{
#ifdef FC_TRANSPOSE_SSE
    _mm_sfence();
#endif
}

#endif
