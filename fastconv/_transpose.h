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

#endif
