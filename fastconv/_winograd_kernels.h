/* Winograd F(m x m, 3 x 3) and F(m x m, 2 x 2) tile transforms (the kernel family header) for
   fastconv/_winograd.pyx: an even m (2, 4, 6) is F(m, 3), an odd m (3, 5) is F(m, 2); the tile is
   alpha = FCW_ALPHA(m) pixels wide (m + 2 or m + 1: 4 or 6 either way, and 8 for F(6, 3)).

   fcw_input_{f32,f64}(m, rows, v, vstride, C): one tile's input transform V = B^T d B. rows[r*alpha + s]
   points at the C channels of patch pixel (r, s), or is NULL for a pixel in the zero padding;
   V position p (= i*alpha + j) is written at v + p*vstride, C channels.
   fcw_output_{f32,f64}(m, mm, mstride, dst, bias, Cout): one tile's output transform Y = A^T M A
   (+ bias, which may be NULL). M position p is read at mm + p*mstride; output pixel (k, l) is
   written at dst[k*m + l] (Cout channels), skipped where that pointer is NULL.

   The matrices are compile-time constants (the Toom-Cook matrices of _winograd.transforms on the
   points 0, +-1, +-2, +-1/2; every entry is a dyadic rational, exact in float and double), and
   the loops over a coefficient row are unrolled, so zero coefficients cost nothing and +-1 cost
   no multiply (the loop over the other index stays rolled, to keep the code small).
   Channels run in chunks of FCW_VL values held in local arrays, so the arithmetic is done on
   whole vectors. The functions are compiled once per (dtype, instruction-set level) through
   _simd_instantiate.h (the template is _winograd.h) and picked at run time with FC_PICK. */
#ifndef FASTCONV_WINOGRAD_KERNELS_H
#define FASTCONV_WINOGRAD_KERNELS_H

#include <stddef.h>
#include <string.h>

#include "_wgmul_kernels.h" /* FCW_VL, FCW_UNROLL, FCW_ROLL and the per-position products */

static const double fcw_bt2[16] = {-1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, -1.0, 1.0, 0.0, 0.0, -1.0, 0.0, 1.0};
static const double fcw_at2[8] = {1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 1.0};
static const double fcw_bt4[36] = {4.0, 0.0, -5.0, 0.0, 1.0, 0.0, 0.0, -4.0, -4.0, 1.0, 1.0, 0.0, 0.0, 4.0, -4.0, -1.0, 1.0, 0.0, 0.0, -2.0, -1.0, 2.0, 1.0, 0.0, 0.0, 2.0, -1.0, -2.0, 1.0, 0.0, 0.0, 4.0, 0.0, -5.0, 0.0, 1.0};
static const double fcw_at4[24] = {1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 2.0, -2.0, 0.0, 0.0, 1.0, 1.0, 4.0, 4.0, 0.0, 0.0, 1.0, -1.0, 8.0, -8.0, 1.0};
static const double fcw_bt6[64] = {-1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, -4.25, -4.25, 1.0, 1.0, 0.0, 0.0, -1.0, 1.0, 4.25, -4.25, -1.0, 1.0, 0.0, 0.0, 0.5, 0.25, -2.5, -1.25, 2.0, 1.0, 0.0, 0.0, -0.5, 0.25, 2.5, -1.25, -2.0, 1.0, 0.0, 0.0, 2.0, 4.0, -2.5, -5.0, 0.5, 1.0, 0.0, 0.0, -2.0, 4.0, 2.5, -5.0, -0.5, 1.0, 0.0, 0.0, -1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0};
static const double fcw_at6[48] = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0, 0.0, 1.0, 1.0, 4.0, 4.0, 0.25, 0.25, 0.0, 0.0, 1.0, -1.0, 8.0, -8.0, 0.125, -0.125, 0.0, 0.0, 1.0, 1.0, 16.0, 16.0, 0.0625, 0.0625, 0.0, 0.0, 1.0, -1.0, 32.0, -32.0, 0.03125, -0.03125, 1.0};

/* F(m, 2) on the same points as F(m - 1, 3): the same B^T (alpha x alpha), so the same input
   transform; A^T with one more row */
#define fcw_bt3 fcw_bt2
#define fcw_bt5 fcw_bt4
static const double fcw_at3[12] = {1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0};
static const double fcw_at5[30] = {1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 2.0, -2.0, 0.0, 0.0, 1.0, 1.0, 4.0, 4.0, 0.0, 0.0, 1.0, -1.0, 8.0, -8.0, 0.0, 0.0, 1.0, 1.0, 16.0, 16.0, 1.0};
/* the tile width of output tile size m: F(m, 3) for even m, F(m, 2) for odd m */
#define FCW_ALPHA(M) ((M) % 2 ? (M) + 1 : (M) + 2)

/* Full chunks run through "register" paths: the tile's values are read straight from the source
   rows (a padding pixel from fcw_zeros), each value once: a column pass loads one column of
   the tile and leaves its transformed column in FCW_VL-wide vector variables (the whole
   intermediate tile), the row pass combines those, with no staging copies (a row-first order
   would load every value once per output row). Every element sees the same sums in the same order as in the
   staged path that partial chunks (C or Cout not a multiple of FCW_VL) take; at the levels with
   FMA the compiler may fuse a different product of a sum into the FMA in the two paths, so their
   roundings can differ there (both within the family's error bounds; each channel always takes
   the same path, whatever the thread count). */
static const double fcw_zeros[FCW_VL] __attribute__((aligned(64))) = {0};
/* The register paths run a chunk in slices of FCW_SLICE(T) bytes: one of the level's vectors below
   AVX-512, where a whole chunk's intermediate tile (2 to 4 vectors per value) does not fit the 16
   registers and the compiler spilled it in pieces (at AVX2, 1 thread, F(4, 3), BLAS products: the
   N32 32x32 16->32 weight gradient 5.5-5.9 ms, 3.7-4.1 ms in slices; its dx 2.3-2.5 ms, 1.8-2.2;
   the forward unchanged; the same bits); the whole chunk at AVX-512 (32 registers). */
#define FCW_SLICE_base(T) FC_VB
#define FCW_SLICE_avx2(T) FC_VB
#define FCW_SLICE_avx512(T) (FCW_VL * sizeof(T))
#define FCW_SLICE(T) FC_CAT(FCW_SLICE_, FC_ISA)(T)
#define FCW_VTYPE(T) typedef T fcw_v __attribute__((vector_size(FCW_SLICE(T))))
#define FCW_VW(T) ((ptrdiff_t)(FCW_SLICE(T) / sizeof(T)))
#define FCW_LOAD(dstv, src) memcpy(&(dstv), (src), sizeof(fcw_v))

/* dst = the sum over k_ < N with a nonzero coefficient COEF (a constant once unrolled) of COEF * t_,
   t_ set by the statement TERM; the first such term is a product, the others are added in order. */
#define FCW_LINCOMB(T, dst, N, COEF, TERM)                                                          \
    do {                                                                                            \
        int first_ = 1;                                                                             \
        FCW_UNROLL for (int k_ = 0; k_ < (N); k_++) {                                               \
            const T b_ = (T)(COEF);                                                                 \
            fcw_v t_;                                                                               \
            if (b_ == 0) continue;                                                                  \
            TERM;                                                                                   \
            if (first_) dst = b_ * t_; else dst += b_ * t_;                                         \
            first_ = 0;                                                                             \
        }                                                                                           \
    } while (0)

#define FCW_INPUT(T, M, SFX, ATTR)                                                                  \
ATTR static void SFX(const T *const *rows, T *v, ptrdiff_t vstride, ptrdiff_t C)      \
{                                                                                                   \
    enum { A = FCW_ALPHA(M) };                                                                             \
    T d[A * A][FCW_VL], t[A * A][FCW_VL];                                                           \
    /* prefetch the M pixels right of each patch row: the next tile's new columns */                \
    for (int i = 0; i < A; i++) {                                                                   \
        const T *s = rows[i * A + A - 1];                                                           \
        if (s != NULL)                                                                              \
            for (ptrdiff_t o = C; o < (M + 1) * C; o += 64 / (ptrdiff_t)sizeof(T)) __builtin_prefetch(s + o); \
    }                                                                                               \
    FCW_VTYPE(T);                                                                                   \
    for (ptrdiff_t c0 = 0; c0 < C; c0 += FCW_VL) {                                                  \
        const ptrdiff_t n = C - c0 < FCW_VL ? C - c0 : FCW_VL;                                      \
        if (n == FCW_VL) {                                                                          \
            const T *src[A * A];                                                                    \
            for (int p = 0; p < A * A; p++) src[p] = rows[p] != NULL ? rows[p] + c0 : (const T *)fcw_zeros; \
            FCW_ROLL for (ptrdiff_t h = 0; h < FCW_VL; h += FCW_VW(T)) {                              \
            fcw_v tr[A][A];                                                                         \
            FCW_UNROLL for (int s = 0; s < A; s++) {                                                \
                fcw_v dc[A];                                                                        \
                FCW_UNROLL for (int k = 0; k < A; k++) FCW_LOAD(dc[k], src[k * A + s] + h);         \
                FCW_UNROLL for (int i = 0; i < A; i++)                                              \
                    FCW_LINCOMB(T, tr[i][s], A, fcw_bt##M[i * A + k_], t_ = dc[k_]);                \
            }                                                                                       \
            FCW_UNROLL for (int i = 0; i < A; i++)                                                  \
                FCW_UNROLL for (int j = 0; j < A; j++) {                                            \
                    fcw_v acc;                                                                      \
                    FCW_LINCOMB(T, acc, A, fcw_bt##M[j * A + k_], t_ = tr[i][k_]);                  \
                    memcpy(v + (i * A + j) * vstride + c0 + h, &acc, sizeof acc);                   \
                }                                                                                   \
            }                                                                                       \
            continue;                                                                               \
        }                                                                                           \
        for (int p = 0; p < A * A; p++) {                                                           \
            const T *s = rows[p];                                                                   \
            for (int c = 0; c < FCW_VL; c++) d[p][c] = (s != NULL && c < n) ? s[c0 + c] : (T)0;\
        }                                                                                           \
        FCW_ROLL for (int s = 0; s < A; s++) {                                                      \
            FCW_UNROLL for (int i = 0; i < A; i++) {                                                \
                T acc[FCW_VL];                                                                      \
                int first = 1;                                                                      \
                FCW_UNROLL for (int k = 0; k < A; k++) {                                            \
                    const T b = (T)fcw_bt##M[i * A + k];                                            \
                    if (b == 0) continue;                                                           \
                    if (first) { for (int c = 0; c < FCW_VL; c++) acc[c] = b * d[k * A + s][c]; }   \
                    else { for (int c = 0; c < FCW_VL; c++) acc[c] += b * d[k * A + s][c]; }        \
                    first = 0;                                                                      \
                }                                                                                   \
                for (int c = 0; c < FCW_VL; c++) t[i * A + s][c] = acc[c];                          \
            }                                                                                       \
        }                                                                                           \
        FCW_ROLL for (int i = 0; i < A; i++) {                                                      \
            FCW_UNROLL for (int j = 0; j < A; j++) {                                                \
                T acc[FCW_VL];                                                                      \
                int first = 1;                                                                      \
                FCW_UNROLL for (int s = 0; s < A; s++) {                                            \
                    const T b = (T)fcw_bt##M[j * A + s];                                            \
                    if (b == 0) continue;                                                           \
                    if (first) { for (int c = 0; c < FCW_VL; c++) acc[c] = b * t[i * A + s][c]; }   \
                    else { for (int c = 0; c < FCW_VL; c++) acc[c] += b * t[i * A + s][c]; }        \
                    first = 0;                                                                      \
                }                                                                                   \
                T *dst = v + (i * A + j) * vstride + c0;                                            \
                for (int c = 0; c < n; c++) dst[c] = acc[c];                                \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

#define FCW_OUTPUT(T, M, SFX, ATTR)                                                                 \
ATTR static void SFX(const T *mm, ptrdiff_t mstride, T *const *dst, const T *bias,   \
                                    ptrdiff_t Cout)                                                 \
{                                                                                                   \
    enum { A = FCW_ALPHA(M) };                                                                             \
    T q[A * A][FCW_VL], t[M * A][FCW_VL], b0[FCW_VL];                                              \
    FCW_VTYPE(T);                                                                                   \
    for (ptrdiff_t c0 = 0; c0 < Cout; c0 += FCW_VL) {                                               \
        const ptrdiff_t n = Cout - c0 < FCW_VL ? Cout - c0 : FCW_VL;                                \
        if (n == FCW_VL) {                                                                          \
            FCW_ROLL for (ptrdiff_t h = 0; h < FCW_VL; h += FCW_VW(T)) {                              \
            fcw_v bv;                                                                               \
            FCW_LOAD(bv, bias != NULL ? bias + c0 + h : (const T *)fcw_zeros);                      \
            fcw_v tr[M][A];                                                                         \
            FCW_UNROLL for (int j = 0; j < A; j++) {                                                \
                fcw_v qc[A];                                                                        \
                FCW_UNROLL for (int i = 0; i < A; i++) FCW_LOAD(qc[i], mm + (i * A + j) * mstride + c0 + h); \
                FCW_UNROLL for (int k = 0; k < M; k++)                                              \
                    FCW_LINCOMB(T, tr[k][j], A, fcw_at##M[k * A + k_], t_ = qc[k_]);                \
            }                                                                                       \
            FCW_UNROLL for (int k = 0; k < M; k++)                                                  \
                FCW_UNROLL for (int l = 0; l < M; l++) {                                            \
                    fcw_v acc = bv;                                                                 \
                    FCW_UNROLL for (int j = 0; j < A; j++) {                                        \
                        const T b = (T)fcw_at##M[l * A + j];                                        \
                        if (b == 0) continue;                                                       \
                        acc += b * tr[k][j];                                                        \
                    }                                                                               \
                    T *o = dst[k * M + l];                                                          \
                    if (o != NULL) memcpy(o + c0 + h, &acc, sizeof acc);                            \
                }                                                                                   \
            }                                                                                       \
            continue;                                                                               \
        }                                                                                           \
        for (int p = 0; p < A * A; p++) {                                                           \
            const T *s = mm + p * mstride + c0;                                                     \
            for (int c = 0; c < FCW_VL; c++) q[p][c] = c < n ? s[c] : (T)0;                 \
        }                                                                                           \
        for (int c = 0; c < FCW_VL; c++) b0[c] = (bias != NULL && c < n) ? bias[c0 + c] : (T)0;     \
        FCW_ROLL for (int j = 0; j < A; j++) {                                                      \
            FCW_UNROLL for (int k = 0; k < M; k++) {                                                \
                T acc[FCW_VL];                                                                      \
                int first = 1;                                                                      \
                FCW_UNROLL for (int i = 0; i < A; i++) {                                            \
                    const T b = (T)fcw_at##M[k * A + i];                                            \
                    if (b == 0) continue;                                                           \
                    if (first) { for (int c = 0; c < FCW_VL; c++) acc[c] = b * q[i * A + j][c]; }   \
                    else { for (int c = 0; c < FCW_VL; c++) acc[c] += b * q[i * A + j][c]; }        \
                    first = 0;                                                                      \
                }                                                                                   \
                for (int c = 0; c < FCW_VL; c++) t[k * A + j][c] = acc[c];                          \
            }                                                                                       \
        }                                                                                           \
        FCW_ROLL for (int k = 0; k < M; k++) {                                                      \
            FCW_UNROLL for (int l = 0; l < M; l++) {                                                \
                T acc[FCW_VL];                                                                      \
                for (int c = 0; c < FCW_VL; c++) acc[c] = b0[c];                                    \
                FCW_UNROLL for (int j = 0; j < A; j++) {                                            \
                    const T b = (T)fcw_at##M[l * A + j];                                            \
                    if (b == 0) continue;                                                           \
                    for (int c = 0; c < FCW_VL; c++) acc[c] += b * t[k * A + j][c];                 \
                }                                                                                   \
                T *o = dst[k * M + l];                                                              \
                if (o == NULL) continue;                                                            \
                for (int c = 0; c < n; c++) o[c0 + c] = acc[c];                             \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

/* fcw_gradout_{f32,f64}(m, rows, v, vstride, Cout): one tile's output-gradient transform for the weight
   gradient, D = A dY A^T (alpha x alpha from the m x m tile dY). rows[k*m + l] points at the Cout
   channels of output pixel (k, l), or is NULL outside the output; D position p is written at v + p*vstride. */
#define FCW_GRADOUT(T, M, SFX, ATTR)                                                                \
ATTR static void SFX(const T *const *rows, T *v, ptrdiff_t vstride, ptrdiff_t C)                   \
{                                                                                                   \
    enum { A = FCW_ALPHA(M) };                                                                             \
    T d[M * M][FCW_VL], t[A * M][FCW_VL];                                                           \
    /* prefetch the M pixels right of each tile row: the next tile's */                             \
    for (int k = 0; k < M; k++) {                                                                   \
        const T *s = rows[k * M + M - 1];                                                           \
        if (s != NULL)                                                                              \
            for (ptrdiff_t o = C; o < (M + 1) * C; o += 64 / (ptrdiff_t)sizeof(T)) __builtin_prefetch(s + o); \
    }                                                                                               \
    FCW_VTYPE(T);                                                                                   \
    for (ptrdiff_t c0 = 0; c0 < C; c0 += FCW_VL) {                                                  \
        const ptrdiff_t n = C - c0 < FCW_VL ? C - c0 : FCW_VL;                                      \
        if (n == FCW_VL) {                                                                          \
            const T *src[M * M];                                                                    \
            for (int p = 0; p < M * M; p++) src[p] = rows[p] != NULL ? rows[p] + c0 : (const T *)fcw_zeros; \
            FCW_ROLL for (ptrdiff_t h = 0; h < FCW_VL; h += FCW_VW(T)) {                              \
            fcw_v tr[A][M];                                                                         \
            FCW_UNROLL for (int l = 0; l < M; l++) {                                                \
                fcw_v dc[M];                                                                        \
                FCW_UNROLL for (int k = 0; k < M; k++) FCW_LOAD(dc[k], src[k * M + l] + h);         \
                FCW_UNROLL for (int i = 0; i < A; i++) {                                            \
                    tr[i][l] = (fcw_v){0};                                                          \
                    FCW_UNROLL for (int k = 0; k < M; k++) {                                        \
                        const T b = (T)fcw_at##M[k * A + i];                                        \
                        if (b == 0) continue;                                                       \
                        tr[i][l] += b * dc[k];                                                      \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
            FCW_UNROLL for (int i = 0; i < A; i++)                                                  \
                FCW_UNROLL for (int j = 0; j < A; j++) {                                            \
                    fcw_v acc = (fcw_v){0};                                                         \
                    FCW_UNROLL for (int l = 0; l < M; l++) {                                        \
                        const T b = (T)fcw_at##M[l * A + j];                                        \
                        if (b == 0) continue;                                                       \
                        acc += b * tr[i][l];                                                        \
                    }                                                                               \
                    memcpy(v + (i * A + j) * vstride + c0 + h, &acc, sizeof acc);                   \
                }                                                                                   \
            }                                                                                       \
            continue;                                                                               \
        }                                                                                           \
        for (int p = 0; p < M * M; p++) {                                                           \
            const T *s = rows[p];                                                                   \
            for (int c = 0; c < FCW_VL; c++) d[p][c] = (s != NULL && c < n) ? s[c0 + c] : (T)0;\
        }                                                                                           \
        FCW_ROLL for (int l = 0; l < M; l++) {                                                      \
            FCW_UNROLL for (int i = 0; i < A; i++) {                                                \
                T acc[FCW_VL];                                                                      \
                for (int c = 0; c < FCW_VL; c++) acc[c] = 0;                                        \
                FCW_UNROLL for (int k = 0; k < M; k++) {                                            \
                    const T b = (T)fcw_at##M[k * A + i];                                            \
                    if (b == 0) continue;                                                           \
                    for (int c = 0; c < FCW_VL; c++) acc[c] += b * d[k * M + l][c];                 \
                }                                                                                   \
                for (int c = 0; c < FCW_VL; c++) t[i * M + l][c] = acc[c];                          \
            }                                                                                       \
        }                                                                                           \
        FCW_ROLL for (int i = 0; i < A; i++) {                                                      \
            FCW_UNROLL for (int j = 0; j < A; j++) {                                                \
                T acc[FCW_VL];                                                                      \
                for (int c = 0; c < FCW_VL; c++) acc[c] = 0;                                        \
                FCW_UNROLL for (int l = 0; l < M; l++) {                                            \
                    const T b = (T)fcw_at##M[l * A + j];                                            \
                    if (b == 0) continue;                                                           \
                    for (int c = 0; c < FCW_VL; c++) acc[c] += b * t[i * M + l][c];                 \
                }                                                                                   \
                T *dst = v + (i * A + j) * vstride + c0;                                            \
                for (int c = 0; c < n; c++) dst[c] = acc[c];                                \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

#define FC_TEMPLATE "_winograd.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

#define FCW_DISPATCH(DT, CT)                                                                        \
typedef void (*fcw_in_##DT##_t)(const CT *const *, CT *, ptrdiff_t, ptrdiff_t);                     \
typedef void (*fcw_out_##DT##_t)(const CT *, ptrdiff_t, CT *const *, const CT *, ptrdiff_t);        \
/* the input / output transform of tile size m (2 to 6) at the level that runs */               \
static fcw_in_##DT##_t fcw_input_##DT(int m)                                                        \
{                                                                                                   \
    switch (m) {                                                                                    \
    case 2: return FC_PICK(fc_##DT##_wino_in2);                                                     \
    case 3: return FC_PICK(fc_##DT##_wino_in2); /* F(3, 2): F(2, 3)'s tile and B^T */               \
    case 4: return FC_PICK(fc_##DT##_wino_in4);                                                     \
    case 5: return FC_PICK(fc_##DT##_wino_in4);                                                     \
    default: return FC_PICK(fc_##DT##_wino_in6);                                                    \
    }                                                                                               \
}                                                                                                   \
static fcw_out_##DT##_t fcw_output_##DT(int m)                                                      \
{                                                                                                   \
    switch (m) {                                                                                    \
    case 2: return FC_PICK(fc_##DT##_wino_out2);                                                    \
    case 3: return FC_PICK(fc_##DT##_wino_out3);                                                    \
    case 4: return FC_PICK(fc_##DT##_wino_out4);                                                    \
    case 5: return FC_PICK(fc_##DT##_wino_out5);                                                    \
    default: return FC_PICK(fc_##DT##_wino_out6);                                                   \
    }                                                                                               \
}                                                                                                   \
static fcw_in_##DT##_t fcw_gradout_##DT(int m)                                                      \
{                                                                                                   \
    switch (m) {                                                                                    \
    case 2: return FC_PICK(fc_##DT##_wino_gout2);                                                   \
    case 3: return FC_PICK(fc_##DT##_wino_gout3);                                                   \
    case 4: return FC_PICK(fc_##DT##_wino_gout4);                                                   \
    case 5: return FC_PICK(fc_##DT##_wino_gout5);                                                   \
    default: return FC_PICK(fc_##DT##_wino_gout6);                                                  \
    }                                                                                               \
}

FCW_DISPATCH(f32, float)
FCW_DISPATCH(f64, double)

/* the column sums of one chunk of FCW_VL columns (see _winograd.h) at the level that runs */
typedef void (*fcw_colsum_f32_t)(const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, double *);
typedef void (*fcw_colsum_f64_t)(const double *, ptrdiff_t, ptrdiff_t, ptrdiff_t, double *);
static fcw_colsum_f32_t fcw_colsum_f32(void) { return FC_PICK(fc_f32_wino_colsum); }
static fcw_colsum_f64_t fcw_colsum_f64(void) { return FC_PICK(fc_f64_wino_colsum); }

/* the compiled-in matrices, for the tests: B^T (alpha x alpha) or A^T (m x alpha), or NULL */
static const double *fcw_matrix(int m, int which_at)
{
    switch (m) {
    case 2: return which_at ? fcw_at2 : fcw_bt2;
    case 4: return which_at ? fcw_at4 : fcw_bt4;
    case 6: return which_at ? fcw_at6 : fcw_bt6;
    case 3: return which_at ? fcw_at3 : fcw_bt3;
    case 5: return which_at ? fcw_at5 : fcw_bt5;
    }
    return NULL;
}

/* the FASTCONV_SIMD name of the level the transforms run at */
static const char *fcw_simd_name(void) { return fc_simd_names[fc_simd_level()]; }

#endif
