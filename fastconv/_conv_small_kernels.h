/* The direct convolution kernels for small reductions of _conv_small.pyx: the template
   _conv_small.h compiled for float and double at every instruction-set level of _simd.h, the
   types they share and the lane-sum helpers.  Declared for Cython in _conv_small_kernels.pxd;
   fcs_level picks one level per layer and fcs_fwd_f32(level, ...) etc. call that level. */
#ifndef FC_CONV_SMALL_KERNELS_H
#define FC_CONV_SMALL_KERNELS_H
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "_simd.h"

/* Geometry of the forward, the weight gradient and the strided input gradient: tap
   t = (ki, kj, c) sits at offset toff[t] from its window's origin, output pixel q at poff[q]. */
typedef struct {
    Py_ssize_t K;      /* taps Kh*Kw*C */
    Py_ssize_t Q;      /* output pixels per image Ho*Wo */
    Py_ssize_t Cout;
    Py_ssize_t Wo;     /* output columns */
    Py_ssize_t step;   /* sw*C: distance between horizontally adjacent window origins */
    const Py_ssize_t *toff;
    const Py_ssize_t *poff;
} fc_sg;

/* Geometry of the input-gradient correlation (stride 1): dx[q, c] = sum over vector taps tv of
   the lanes of D[pd[q] + doff[tv] : +L] * wv[(c*KV + tv)*L : +L], D being dy zero-padded by
   (Kh-1-ph, Kw-1-pw) with its channels padded to whole vectors, wv the flipped kernel. */
typedef struct {
    Py_ssize_t KV;     /* vector taps Kh*Kw*(Cout rounded up to L)/L */
    Py_ssize_t Q;      /* input pixels per image H*W */
    Py_ssize_t C;      /* input channels */
    const Py_ssize_t *doff;
    const Py_ssize_t *pd;
} fc_dg;

/* d[0:n] += g[0:n], whole vectors of type V (L lanes) first */
#define FCS_VADD(V, L, d, g, n, k)                                                    \
    for (k = 0; k + L <= n; k += L) {                                                 \
        V va_, vb_;                                                                   \
        memcpy(&va_, d + k, sizeof va_);                                              \
        memcpy(&vb_, g + k, sizeof vb_);                                              \
        va_ += vb_;                                                                   \
        memcpy(d + k, &va_, sizeof va_);                                              \
    }                                                                                 \
    for (; k < n; k++) d[k] += g[k];

#if defined(__GNUC__)
#define FCS_RESTRICT __restrict__
#define FCS_VEC(NAME, T, VB) typedef T NAME __attribute__((vector_size(VB)));
#else
#define FCS_RESTRICT
#define FCS_VEC(NAME, T, VB) typedef T NAME;
#endif

#if defined(__GNUC__)
#define FCS_INLINE static inline __attribute__((always_inline))
#else
#define FCS_INLINE static inline
#endif

/* FCS_UNROLL: unroll a loop of constant count whole; FCS_UNROLL4: unroll a loop by 4 */
#if defined(__GNUC__) && !defined(__clang__)
#define FCS_UNROLL _Pragma("GCC unroll 16")
#define FCS_UNROLL4 _Pragma("GCC unroll 4")
#elif defined(__clang__)
#define FCS_UNROLL _Pragma("unroll")
#define FCS_UNROLL4 _Pragma("unroll 4")
#else
#define FCS_UNROLL
#define FCS_UNROLL4
#endif

/* Lane sums of L accumulators with x86 shuffles, r[p] = sum of the lanes of acc[p], p < L
   (the per-level helpers fc_<dtype>_red_<level>; a level without one, FCS_RED_<level> unset,
   takes the loop in _conv_small.h). */
#if defined(FC_X86_DISPATCH) && defined(__SSE2__)
#include <immintrin.h>
#define FCS_RED_base 1
static inline void fc_f32_red_base(const void *a, float *r)
{
    __m128 v[4], s1, s2;
    memcpy(v, a, sizeof v);
    s1 = _mm_add_ps(_mm_unpacklo_ps(v[0], v[1]), _mm_unpackhi_ps(v[0], v[1]));
    s2 = _mm_add_ps(_mm_unpacklo_ps(v[2], v[3]), _mm_unpackhi_ps(v[2], v[3]));
    s1 = _mm_add_ps(_mm_movelh_ps(s1, s2), _mm_movehl_ps(s2, s1));
    _mm_storeu_ps(r, s1);
}
static inline void fc_f64_red_base(const void *a, double *r)
{
    __m128d v[2];
    memcpy(v, a, sizeof v);
    _mm_storeu_pd(r, _mm_add_pd(_mm_unpacklo_pd(v[0], v[1]), _mm_unpackhi_pd(v[0], v[1])));
}
#define FCS_RED_avx2 1
FC_ISA_ATTR(FC_ISA_1) static inline void fc_f32_red_avx2(const void *a, float *r)
{
    __m256 v[8], ab, cd, ef, gh;
    memcpy(v, a, sizeof v);
    ab = _mm256_hadd_ps(v[0], v[1]); cd = _mm256_hadd_ps(v[2], v[3]);
    ef = _mm256_hadd_ps(v[4], v[5]); gh = _mm256_hadd_ps(v[6], v[7]);
    ab = _mm256_hadd_ps(ab, cd); ef = _mm256_hadd_ps(ef, gh);
    _mm256_storeu_ps(r, _mm256_add_ps(_mm256_permute2f128_ps(ab, ef, 0x20),
                                      _mm256_permute2f128_ps(ab, ef, 0x31)));
}
FC_ISA_ATTR(FC_ISA_1) static inline void fc_f64_red_avx2(const void *a, double *r)
{
    __m256d v[4], ab, cd;
    memcpy(v, a, sizeof v);
    ab = _mm256_hadd_pd(v[0], v[1]); cd = _mm256_hadd_pd(v[2], v[3]);
    _mm256_storeu_pd(r, _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20),
                                      _mm256_permute2f128_pd(ab, cd, 0x31)));
}
#ifdef FC_ISA_2
#define FCS_RED_avx512 1
/* 512-bit lane sums: fold the 256-bit halves of v[i] and v[i+L/2] into one vector, then the
   128-bit quarters, then the lanes within each quarter; a last 128-bit permute puts r in order. */
FC_ISA_ATTR(FC_ISA_2) static inline void fc_f32_red_avx512(const void *a, float *r)
{
    __m512 v[16], t[8], u[4], s1, s2;
    int i;
    memcpy(v, a, sizeof v);
    for (i = 0; i < 8; i++)  /* t[i]: lanes 0-7 v[i], 8-15 v[i+8] (8 partial sums each) */
        t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[i], v[i + 8], 0x44), _mm512_shuffle_f32x4(v[i], v[i + 8], 0xEE));
    for (i = 0; i < 4; i++)  /* u[i]: quarters v[i], v[i+8], v[i+4], v[i+12] (4 partial sums each) */
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[i], t[i + 4], 0x88), _mm512_shuffle_f32x4(t[i], t[i + 4], 0xDD));
    s1 = _mm512_add_ps(_mm512_unpacklo_ps(u[0], u[1]), _mm512_unpackhi_ps(u[0], u[1]));
    s2 = _mm512_add_ps(_mm512_unpacklo_ps(u[2], u[3]), _mm512_unpackhi_ps(u[2], u[3]));
    s1 = _mm512_add_ps(_mm512_shuffle_ps(s1, s2, 0x44), _mm512_shuffle_ps(s1, s2, 0xEE));
    _mm512_storeu_ps(r, _mm512_shuffle_f32x4(s1, s1, 0xD8));
}
FC_ISA_ATTR(FC_ISA_2) static inline void fc_f64_red_avx512(const void *a, double *r)
{
    __m512d v[8], t[4], u[2], s;
    int i;
    memcpy(v, a, sizeof v);
    for (i = 0; i < 4; i++)  /* t[i]: lanes 0-3 v[i], 4-7 v[i+4] */
        t[i] = _mm512_add_pd(_mm512_shuffle_f64x2(v[i], v[i + 4], 0x44), _mm512_shuffle_f64x2(v[i], v[i + 4], 0xEE));
    for (i = 0; i < 2; i++)  /* u[i]: quarters v[i], v[i+4], v[i+2], v[i+6] */
        u[i] = _mm512_add_pd(_mm512_shuffle_f64x2(t[i], t[i + 2], 0x88), _mm512_shuffle_f64x2(t[i], t[i + 2], 0xDD));
    s = _mm512_add_pd(_mm512_unpacklo_pd(u[0], u[1]), _mm512_unpackhi_pd(u[0], u[1]));
    _mm512_storeu_pd(r, _mm512_shuffle_f64x2(s, s, 0xD8));
}
#endif
#endif

/* Partial vectors for the column tails, v <- p[0:r] (the other lanes 0) and p[0:r] <- v, 0 < r < L,
   with masked loads and stores that touch no memory past p[r-1] (the per-level helpers
   fc_<dtype>_ld_<level> / _st_<level>; a level without them, FCS_MASK_<level> unset, takes the
   loops in _conv_small.h). */
#if defined(FC_X86_DISPATCH) && defined(__SSE2__)
#define FCS_MASK_avx2 1
FC_ISA_ATTR(FC_ISA_1) static inline __m256i fcs_mask32_avx2(int r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
FC_ISA_ATTR(FC_ISA_1) static inline __m256i fcs_mask64_avx2(int r)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(r), _mm256_setr_epi64x(0, 1, 2, 3));
}
FC_ISA_ATTR(FC_ISA_1) static inline __m256 fc_f32_ld_avx2(const float *p, int r)
{
    return _mm256_maskload_ps(p, fcs_mask32_avx2(r));
}
FC_ISA_ATTR(FC_ISA_1) static inline void fc_f32_st_avx2(float *p, __m256 v, int r)
{
    _mm256_maskstore_ps(p, fcs_mask32_avx2(r), v);
}
FC_ISA_ATTR(FC_ISA_1) static inline __m256d fc_f64_ld_avx2(const double *p, int r)
{
    return _mm256_maskload_pd(p, fcs_mask64_avx2(r));
}
FC_ISA_ATTR(FC_ISA_1) static inline void fc_f64_st_avx2(double *p, __m256d v, int r)
{
    _mm256_maskstore_pd(p, fcs_mask64_avx2(r), v);
}
#ifdef FC_ISA_2
#define FCS_MASK_avx512 1
FC_ISA_ATTR(FC_ISA_2) static inline __m512 fc_f32_ld_avx512(const float *p, int r)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << r) - 1), p);
}
FC_ISA_ATTR(FC_ISA_2) static inline void fc_f32_st_avx512(float *p, __m512 v, int r)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << r) - 1), v);
}
FC_ISA_ATTR(FC_ISA_2) static inline __m512d fc_f64_ld_avx512(const double *p, int r)
{
    return _mm512_maskz_loadu_pd((__mmask8)((1u << r) - 1), p);
}
FC_ISA_ATTR(FC_ISA_2) static inline void fc_f64_st_avx512(double *p, __m512d v, int r)
{
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << r) - 1), v);
}
#endif
#endif

#define FC_TEMPLATE "_conv_small.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

/* FCS_AT(f, l): the build of f for level l (0 .. FC_NLEVELS-1), an expression of function type */
#if FC_NLEVELS == 4
#define FCS_AT(f, l) ((l) >= 3 ? FC_AT(f, FC_ISA_3) : (l) == 2 ? FC_AT(f, FC_ISA_2) \
                      : (l) ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#elif FC_NLEVELS == 3
#define FCS_AT(f, l) ((l) >= 2 ? FC_AT(f, FC_ISA_2) : (l) ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#elif FC_NLEVELS == 2
#define FCS_AT(f, l) ((l) ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#else
#define FCS_AT(f, l) FC_AT(f, FC_ISA_0)
#endif

/* vector lanes of the kernels of level lvl (the layout of the broadcast planes) */
static Py_ssize_t fcs_lanes(Py_ssize_t itemsize, int lvl)
{
    return itemsize == (Py_ssize_t)sizeof(float) ? FCS_AT(fc_f32_lanes, lvl)() : FCS_AT(fc_f64_lanes, lvl)();
}

/* The level the kernels of one layer run at.  cap < 0: the level that runs (fc_simd_level),
   lowered (not below level 1: the baseline has no FMA) until its vectors divide cout and its
   broadcast plane of `plane` values (Hp*Wp*C, each one vector) takes at most FCS_PLANE_BYTES.
   Every tap of every pixel loads whole vectors of the plane for each block of L columns, so a
   wider vector only pays when it leaves no columns unused (a float32 layer with Cout = 8, 12,
   24 loads fewer bytes with 8 lanes than with 16) and while the plane stays in the L1 cache.
   The broadcast planes are laid out for one lane count, so one call runs every kernel (bc, fwd,
   dw, dx, dxg) at this one level.  cap >= 0: exactly min(cap, the level that runs). */
#define FCS_PLANE_BYTES 32768
static int fcs_level(Py_ssize_t itemsize, Py_ssize_t cout, Py_ssize_t plane, int cap)
{
    int lvl = fc_simd_level();
    Py_ssize_t L;
    if (cap >= 0) return cap < lvl ? cap : lvl;
    for (; lvl > 1; lvl--) {
        L = fcs_lanes(itemsize, lvl);
        if (cout % L == 0 && plane * L * itemsize <= FCS_PLANE_BYTES) break;
    }
    return lvl;
}

/* the kernels of level l (the calls of _conv_small_kernels.pxd) */
#define fcs_bc_f32(l, ...) FCS_AT(fc_f32_bc, l)(__VA_ARGS__)
#define fcs_bc_f64(l, ...) FCS_AT(fc_f64_bc, l)(__VA_ARGS__)
#define fcs_fwd_f32(l, ...) FCS_AT(fc_f32_fwd, l)(__VA_ARGS__)
#define fcs_fwd_f64(l, ...) FCS_AT(fc_f64_fwd, l)(__VA_ARGS__)
#define fcs_dw_f32(l, ...) FCS_AT(fc_f32_dw, l)(__VA_ARGS__)
#define fcs_dw_f64(l, ...) FCS_AT(fc_f64_dw, l)(__VA_ARGS__)
#define fcs_dx_f32(l, ...) FCS_AT(fc_f32_dx, l)(__VA_ARGS__)
#define fcs_dx_f64(l, ...) FCS_AT(fc_f64_dx, l)(__VA_ARGS__)
#define fcs_dxg_f32(l, ...) FCS_AT(fc_f32_dxg, l)(__VA_ARGS__)
#define fcs_dxg_f64(l, ...) FCS_AT(fc_f64_dxg, l)(__VA_ARGS__)

#endif
