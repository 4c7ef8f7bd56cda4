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
 * dst[j * R + i] = src[i * C + j]. The columns go in strips of 16, each top to bottom (16
 * destination rows written in order), a block at a time (AVX2: 16x16, four 8x8 register
 * transposes; SSE: 4 rows, four 4x4 transposes). (Wide matrices in bands of 16 rows instead,
 * left to right, measured no better.) With AVX2 a block reads 16 whole source row segments of 64 bytes
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

#ifdef FC_X86_DISPATCH
#include <immintrin.h>
#define FC_TR_AVX2 __attribute__((target("avx2")))

/* r[0..8) (8 rows of 8) := their transpose, in registers */
FC_TR_AVX2 static inline __attribute__((always_inline)) void fc_tr8_avx2(__m256 *r)
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* one 8x8 block: d[k * ld + i] = s[i * ls + k] */
FC_TR_AVX2 static inline void fc_tr8x8_avx2(const float *s, ptrdiff_t ls, float *d, ptrdiff_t ld)
{
    __m256 r[8];
    int k;
    for (k = 0; k < 8; k++)
        r[k] = _mm256_loadu_ps(s + k * ls);
    fc_tr8_avx2(r);
    for (k = 0; k < 8; k++)
        _mm256_storeu_ps(d + k * ld, r[k]);
}

/* one 16x16 block, every source row segment read whole (two adjacent loads) before any store and
 * every destination row segment written whole (two adjacent stores): 64 bytes each, one cache line
 * when aligned, so no line has to stay in L1 between steps */
FC_TR_AVX2 static inline void fc_tr16x16_avx2(const float *s, ptrdiff_t ls, float *d, ptrdiff_t ld)
{
    __m256 lo[16], hi[16]; /* columns 0-7 and 8-15 of the 16 rows */
    int k;
    for (k = 0; k < 16; k++) {
        lo[k] = _mm256_loadu_ps(s + k * ls);
        hi[k] = _mm256_loadu_ps(s + k * ls + 8);
    }
    fc_tr8_avx2(lo);
    fc_tr8_avx2(lo + 8);
    fc_tr8_avx2(hi);
    fc_tr8_avx2(hi + 8);
    for (k = 0; k < 8; k++) {
        _mm256_storeu_ps(d + k * ld, lo[k]);
        _mm256_storeu_ps(d + k * ld + 8, lo[8 + k]);
    }
    for (k = 0; k < 8; k++) {
        _mm256_storeu_ps(d + (8 + k) * ld, hi[k]);
        _mm256_storeu_ps(d + (8 + k) * ld + 8, hi[8 + k]);
    }
}

FC_TR_AVX2 static void fc_transpose_rows_f32_avx2(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                                  ptrdiff_t i0, ptrdiff_t i1)
{
    ptrdiff_t i, j, i16 = i0 + ((i1 - i0) & ~(ptrdiff_t)15), ib = i0 + ((i1 - i0) & ~(ptrdiff_t)7),
                    c16 = C & ~(ptrdiff_t)15, c8 = C & ~(ptrdiff_t)7;
    for (j = 0; j < c16; j += 16) {
        for (i = i0; i < i16; i += 16)
            fc_tr16x16_avx2(src + i * C + j, C, dst + j * R + i, R);
        if (ib > i16) {
            fc_tr8x8_avx2(src + i16 * C + j, C, dst + j * R + i16, R);
            fc_tr8x8_avx2(src + i16 * C + j + 8, C, dst + (j + 8) * R + i16, R);
        }
    }
    if (c8 > c16)
        for (i = i0; i < ib; i += 8)
            fc_tr8x8_avx2(src + i * C + c16, C, dst + c16 * R + i, R);
    FC_TR_SCALAR_REST(src, dst, R, C, i0, i1, ib, c8);
}
#endif

/* Rows i0 <= i < i1 of the R x C matrix src into dst (C x R), at the kernels' SIMD level. */
static inline void fc_transpose_rows_f32(const float *src, float *dst, ptrdiff_t R, ptrdiff_t C,
                                         ptrdiff_t i0, ptrdiff_t i1)
{
#ifdef FC_X86_DISPATCH
    if (fc_simd_level() >= 1) {
        fc_transpose_rows_f32_avx2(src, dst, R, C, i0, i1);
        return;
    }
#endif
#ifdef FC_TRANSPOSE_SSE
    fc_transpose_rows_f32_sse(src, dst, R, C, i0, i1);
#else
    FC_TR_SCALAR_REST(src, dst, R, C, i0, i1, i0, 0);
#endif
}

#endif
