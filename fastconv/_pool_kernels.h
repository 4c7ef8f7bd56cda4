/* The C side of _pool.pyx: 2x2 pooling rows with SSE2 selects (every x86-64 CPU has SSE2), the
   AVX2 versions of the float32 max-code rows, and the debug-build flag.  Declared for Cython in
   _pool_kernels.pxd.

   Pooling is memory-bound: these rows are hand-written with intrinsics rather than compiled per
   instruction-set level (_simd_instantiate.h); the AVX2 rows run at level 1 and above of _simd.h,
   so a higher level needs nothing here. */
#ifndef FC_POOL_KERNELS_H
#define FC_POOL_KERNELS_H
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_simd.h"

/* 1 in a FASTCONV_DEBUG=1 build (set by setup.py) */
#ifdef FASTCONV_DEBUG
#define FC_DEBUG_BUILD 1
#else
#define FC_DEBUG_BUILD 0
#endif

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define FC_SSE2 1
#endif
/* One row of 2x2 windows' worth of channels: y = max over the window, am = flat index of the
   first maximum (a NaN wins once, like np.argmax). A later element replaces the current
   maximum a when !(v <= a) && a is not NaN. The selects are branch-free (the data decide the
   winner, so branches would mispredict) and use SSE2, which every x86-64 CPU has; the
   winning offset t in 0..3 becomes the flat index base + (t & 1) + (t >> 1) * W. */
#define FC_MAX2X2_TAIL(T)                                                              \
    for (; c < C; c++) {                                                               \
        T a = x0[c], v; int t = 0, u;                                                  \
        v = x0[C + c]; u = !(v <= a) && a == a; if (u) { a = v; t = 1; }               \
        v = x1[c];     u = !(v <= a) && a == a; if (u) { a = v; t = 2; }               \
        v = x1[C + c]; u = !(v <= a) && a == a; if (u) { a = v; t = 3; }               \
        y[c] = a;                                                                      \
        am[c] = base + (int64_t)(t & 1) + (int64_t)(t >> 1) * W;                       \
    }
static void fc_max2x2_f(const float *x0, const float *x1, float *y, int64_t *am, Py_ssize_t C,
                        int64_t base, int64_t W)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2), three = _mm_set1_epi32(3);
    const __m128i vb = _mm_set1_epi64x(base), vw = _mm_set1_epi64x(W), zero = _mm_setzero_si128();
    const __m128i one64 = _mm_set1_epi64x(1);
    for (; c + 4 <= C; c += 4) {
        __m128 a = _mm_loadu_ps(x0 + c), v, m;
        __m128i t = zero, mi, t0, t1;
#define FC_STEP_F(SRC, K)                                                                  \
        v = _mm_loadu_ps(SRC);                                                             \
        m = _mm_and_ps(_mm_cmpnle_ps(v, a), _mm_cmpord_ps(a, a));                          \
        a = _mm_or_ps(_mm_and_ps(m, v), _mm_andnot_ps(m, a));                              \
        mi = _mm_castps_si128(m);                                                          \
        t = _mm_or_si128(_mm_and_si128(mi, K), _mm_andnot_si128(mi, t));
        FC_STEP_F(x0 + C + c, one)
        FC_STEP_F(x1 + c, two)
        FC_STEP_F(x1 + C + c, three)
#undef FC_STEP_F
        _mm_storeu_ps(y + c, a);
        t0 = _mm_unpacklo_epi32(t, zero);
        t1 = _mm_unpackhi_epi32(t, zero);
        /* base + (t & 1) + ((t >> 1) ? W : 0) */
        t0 = _mm_add_epi64(_mm_add_epi64(vb, _mm_and_si128(t0, one64)),
                           _mm_and_si128(_mm_sub_epi64(zero, _mm_srli_epi64(t0, 1)), vw));
        t1 = _mm_add_epi64(_mm_add_epi64(vb, _mm_and_si128(t1, one64)),
                           _mm_and_si128(_mm_sub_epi64(zero, _mm_srli_epi64(t1, 1)), vw));
        _mm_storeu_si128((__m128i *)(am + c), t0);
        _mm_storeu_si128((__m128i *)(am + c + 2), t1);
    }
#endif
    FC_MAX2X2_TAIL(float)
}
static void fc_max2x2_d(const double *x0, const double *x1, double *y, int64_t *am, Py_ssize_t C,
                        int64_t base, int64_t W)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    const __m128i o1 = _mm_set1_epi64x(base + 1), o2 = _mm_set1_epi64x(base + W);
    const __m128i o3 = _mm_set1_epi64x(base + W + 1);
    for (; c + 2 <= C; c += 2) {
        __m128d a = _mm_loadu_pd(x0 + c), v, m;
        __m128i t = _mm_set1_epi64x(base), mi;
#define FC_STEP_D(SRC, K)                                                                  \
        v = _mm_loadu_pd(SRC);                                                             \
        m = _mm_and_pd(_mm_cmpnle_pd(v, a), _mm_cmpord_pd(a, a));                          \
        a = _mm_or_pd(_mm_and_pd(m, v), _mm_andnot_pd(m, a));                              \
        mi = _mm_castpd_si128(m);                                                          \
        t = _mm_or_si128(_mm_and_si128(mi, K), _mm_andnot_si128(mi, t));
        FC_STEP_D(x0 + C + c, o1)
        FC_STEP_D(x1 + c, o2)
        FC_STEP_D(x1 + C + c, o3)
#undef FC_STEP_D
        _mm_storeu_pd(y + c, a);
        _mm_storeu_si128((__m128i *)(am + c), t);
    }
#endif
    FC_MAX2X2_TAIL(double)
}
/* Backward of one 2x2 window row (stride 2): each of the four dx positions gets g where the
   forward's argmax points at it and 0 elsewhere (every dx element written once). */
#define FC_MAXBWD_TAIL                                                                 \
    for (; c < C; c++) {                                                               \
        int64_t t = am[c] - base;                                                      \
        d0[c] = t == 0 ? g[c] : 0;                                                     \
        d0[C + c] = t == 1 ? g[c] : 0;                                                 \
        d1[c] = t == W ? g[c] : 0;                                                     \
        d1[C + c] = t == W + 1 ? g[c] : 0;                                             \
    }
static void fc_maxbwd2x2_f(const float *g, const int64_t *am, float *d0, float *d1, Py_ssize_t C,
                           int64_t base, int64_t W)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    const __m128i vb = _mm_set1_epi64x(base);
    const __m128i k0 = _mm_setzero_si128(), k1 = _mm_set1_epi32(1);
    const __m128i kw = _mm_set1_epi32((int)W), kw1 = _mm_set1_epi32((int)(W + 1));
    for (; c + 4 <= C; c += 4) {
        __m128 gv = _mm_loadu_ps(g + c);
        /* offsets are < 2W + 2, so their low 32 bits identify them */
        __m128i t0 = _mm_sub_epi64(_mm_loadu_si128((const __m128i *)(am + c)), vb);
        __m128i t1 = _mm_sub_epi64(_mm_loadu_si128((const __m128i *)(am + c + 2)), vb);
        __m128i t = _mm_unpacklo_epi64(_mm_shuffle_epi32(t0, _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm_shuffle_epi32(t1, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm_storeu_ps(d0 + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k0))));
        _mm_storeu_ps(d0 + C + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k1))));
        _mm_storeu_ps(d1 + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, kw))));
        _mm_storeu_ps(d1 + C + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, kw1))));
    }
#endif
    FC_MAXBWD_TAIL
}
static void fc_maxbwd2x2_d(const double *g, const int64_t *am, double *d0, double *d1, Py_ssize_t C,
                           int64_t base, int64_t W)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    const __m128i k0 = _mm_set1_epi64x(base), k1 = _mm_set1_epi64x(base + 1);
    const __m128i kw = _mm_set1_epi64x(base + W), kw1 = _mm_set1_epi64x(base + W + 1);
    __m128i e;
    for (; c + 2 <= C; c += 2) {
        __m128d gv = _mm_loadu_pd(g + c);
        __m128i t = _mm_loadu_si128((const __m128i *)(am + c));
        /* 64-bit equality from 32-bit compares: both halves must match */
#define FC_EQ64(K) (e = _mm_cmpeq_epi32(t, K), _mm_castsi128_pd(_mm_and_si128(e, _mm_shuffle_epi32(e, _MM_SHUFFLE(2, 3, 0, 1)))))
        _mm_storeu_pd(d0 + c, _mm_and_pd(gv, FC_EQ64(k0)));
        _mm_storeu_pd(d0 + C + c, _mm_and_pd(gv, FC_EQ64(k1)));
        _mm_storeu_pd(d1 + c, _mm_and_pd(gv, FC_EQ64(kw)));
        _mm_storeu_pd(d1 + C + c, _mm_and_pd(gv, FC_EQ64(kw1)));
#undef FC_EQ64
    }
#endif
    FC_MAXBWD_TAIL
}

/* --------------------------------------------------------------------- window-code max pooling */
/* 2x2 window, any stride: x0 points at the window's top-left element, x0 + C at its right
   neighbour, x1 at the element below. y = max (NaN wins once), code = offset 0..3 of the
   first maximum; the same branch-free SSE2 selects as fc_max2x2_f/d. */
#define FC_MAXC_TAIL(T)                                                                \
    for (; c < C; c++) {                                                               \
        T a = x0[c], v; int t = 0, u;                                                  \
        v = x0[C + c]; u = !(v <= a) && a == a; if (u) { a = v; t = 1; }               \
        v = x1[c];     u = !(v <= a) && a == a; if (u) { a = v; t = 2; }               \
        v = x1[C + c]; u = !(v <= a) && a == a; if (u) { a = v; t = 3; }               \
        y[c] = a;                                                                      \
        code[c] = (uint8_t)t;                                                          \
    }
#ifdef FC_SSE2
#define FC_CSTEP_F(SRC, K)                                                                 \
        v = _mm_loadu_ps(SRC);                                                             \
        m = _mm_and_ps(_mm_cmpnle_ps(v, a), _mm_cmpord_ps(a, a));                          \
        a = _mm_or_ps(_mm_and_ps(m, v), _mm_andnot_ps(m, a));                              \
        mi = _mm_castps_si128(m);                                                          \
        t = _mm_or_si128(_mm_and_si128(mi, K), _mm_andnot_si128(mi, t));
/* four channels from offset c: y stored, the four codes returned as int32 lanes */
static inline __m128i fc_maxc4_f(const float *x0, const float *x1, float *y, Py_ssize_t C, Py_ssize_t c)
{
    const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2), three = _mm_set1_epi32(3);
    __m128 a = _mm_loadu_ps(x0 + c), v, m;
    __m128i t = _mm_setzero_si128(), mi;
    FC_CSTEP_F(x0 + C + c, one)
    FC_CSTEP_F(x1 + c, two)
    FC_CSTEP_F(x1 + C + c, three)
    _mm_storeu_ps(y + c, a);
    return t;
}
#define FC_CSTEP_D(SRC, K)                                                                 \
        v = _mm_loadu_pd(SRC);                                                             \
        m = _mm_and_pd(_mm_cmpnle_pd(v, a), _mm_cmpord_pd(a, a));                          \
        a = _mm_or_pd(_mm_and_pd(m, v), _mm_andnot_pd(m, a));                              \
        mi = _mm_castpd_si128(m);                                                          \
        t = _mm_or_si128(_mm_and_si128(mi, K), _mm_andnot_si128(mi, t));
/* two channels from offset c: y stored, the codes returned in the low int32 of each int64 lane */
static inline __m128i fc_maxc2_d(const double *x0, const double *x1, double *y, Py_ssize_t C, Py_ssize_t c)
{
    const __m128i one = _mm_set1_epi64x(1), two = _mm_set1_epi64x(2), three = _mm_set1_epi64x(3);
    __m128d a = _mm_loadu_pd(x0 + c), v, m;
    __m128i t = _mm_setzero_si128(), mi;
    FC_CSTEP_D(x0 + C + c, one)
    FC_CSTEP_D(x1 + c, two)
    FC_CSTEP_D(x1 + C + c, three)
    _mm_storeu_pd(y + c, a);
    return t;
}
#endif
static inline void fc_maxc2x2_f(const float *x0, const float *x1, float *y, uint8_t *code, Py_ssize_t C)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    for (; c + 8 <= C; c += 8) {
        __m128i t0 = fc_maxc4_f(x0, x1, y, C, c), t1 = fc_maxc4_f(x0, x1, y, C, c + 4);
        __m128i p = _mm_packs_epi32(t0, t1);
        _mm_storel_epi64((__m128i *)(code + c), _mm_packus_epi16(p, p));
    }
    for (; c + 4 <= C; c += 4) {
        __m128i p = _mm_packs_epi32(fc_maxc4_f(x0, x1, y, C, c), _mm_setzero_si128());
        int32_t b = _mm_cvtsi128_si32(_mm_packus_epi16(p, p));
        memcpy(code + c, &b, 4);
    }
#endif
    FC_MAXC_TAIL(float)
}
static inline void fc_maxc2x2_d(const double *x0, const double *x1, double *y, uint8_t *code, Py_ssize_t C)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    for (; c + 4 <= C; c += 4) {
        __m128i t0 = fc_maxc2_d(x0, x1, y, C, c), t1 = fc_maxc2_d(x0, x1, y, C, c + 2);
        __m128i t = _mm_unpacklo_epi64(_mm_shuffle_epi32(t0, _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm_shuffle_epi32(t1, _MM_SHUFFLE(2, 0, 2, 0)));
        __m128i p = _mm_packs_epi32(t, _mm_setzero_si128());
        int32_t b = _mm_cvtsi128_si32(_mm_packus_epi16(p, p));
        memcpy(code + c, &b, 4);
    }
#endif
    FC_MAXC_TAIL(double)
}

/* Backward of one 2x2 window position for C channels (windows tile the input): each of the
   four dx rows d0, d0 + C, d1, d1 + C gets g where the code names it and 0 elsewhere. */
#define FC_MAXBWDC_TAIL                                                                \
    for (; c < C; c++) {                                                               \
        int t = code[c];                                                               \
        d0[c] = t == 0 ? g[c] : 0;                                                     \
        d0[C + c] = t == 1 ? g[c] : 0;                                                 \
        d1[c] = t == 2 ? g[c] : 0;                                                     \
        d1[C + c] = t == 3 ? g[c] : 0;                                                 \
    }
static inline void fc_maxbwdc2x2_f(const float *g, const uint8_t *code, float *d0, float *d1, Py_ssize_t C)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    const __m128i zero = _mm_setzero_si128(), k1 = _mm_set1_epi32(1), k2 = _mm_set1_epi32(2);
    const __m128i k3 = _mm_set1_epi32(3);
    for (; c + 4 <= C; c += 4) {
        int32_t b;
        memcpy(&b, code + c, 4);
        __m128i t = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(b), zero), zero);
        __m128 gv = _mm_loadu_ps(g + c);
        _mm_storeu_ps(d0 + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, zero))));
        _mm_storeu_ps(d0 + C + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k1))));
        _mm_storeu_ps(d1 + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k2))));
        _mm_storeu_ps(d1 + C + c, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k3))));
    }
#endif
    FC_MAXBWDC_TAIL
}
static inline void fc_maxbwdc2x2_d(const double *g, const uint8_t *code, double *d0, double *d1, Py_ssize_t C)
{
    Py_ssize_t c = 0;
#ifdef FC_SSE2
    const __m128i k0 = _mm_setzero_si128(), k1 = _mm_set1_epi64x(1), k2 = _mm_set1_epi64x(2);
    const __m128i k3 = _mm_set1_epi64x(3);
    __m128i e;
    for (; c + 2 <= C; c += 2) {
        __m128i t = _mm_set_epi64x(code[c + 1], code[c]);
        __m128d gv = _mm_loadu_pd(g + c);
        /* the high halves are equal (0), so the low halves' result decides each lane */
#define FC_EQ64C(K) (e = _mm_cmpeq_epi32(t, K), _mm_castsi128_pd(_mm_shuffle_epi32(e, _MM_SHUFFLE(2, 2, 0, 0))))
        _mm_storeu_pd(d0 + c, _mm_and_pd(gv, FC_EQ64C(k0)));
        _mm_storeu_pd(d0 + C + c, _mm_and_pd(gv, FC_EQ64C(k1)));
        _mm_storeu_pd(d1 + c, _mm_and_pd(gv, FC_EQ64C(k2)));
        _mm_storeu_pd(d1 + C + c, _mm_and_pd(gv, FC_EQ64C(k3)));
#undef FC_EQ64C
    }
#endif
    FC_MAXBWDC_TAIL
}

/* Whole output rows of 2x2 windows: x0/x1 point at the first window's two input rows, the
   next window starts step elements further (step = sw * C); y/code rows are Wo * C long. */
#ifdef FC_X86_DISPATCH
#include <immintrin.h>
/* AVX2 rows (float32): eight channels per step, blends instead of and/andnot/or; the same
   selection rule, so the same results bit for bit. They run at level 1 (AVX2, see _simd.h) and
   above, for rows of at least 8 channels. */
#define FC_AVX2 FC_ISA_ATTR(FC_ISA_1)
FC_AVX2 static void fc_maxc_row_f_avx2(const float *x0, const float *x1, float *y, uint8_t *code,
                                       Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step)
{
    const __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2), three = _mm256_set1_epi32(3);
    for (Py_ssize_t j = 0; j < Wo; j++, x0 += step, x1 += step, y += C, code += C) {
        Py_ssize_t c = 0;
        for (; c + 8 <= C; c += 8) {
            __m256 a = _mm256_loadu_ps(x0 + c), v, m;
            __m256i t = _mm256_setzero_si256();
#define FC_ASTEP(SRC, K)                                                                   \
            v = _mm256_loadu_ps(SRC);                                                      \
            m = _mm256_and_ps(_mm256_cmp_ps(v, a, _CMP_NLE_UQ), _mm256_cmp_ps(a, a, _CMP_ORD_Q)); \
            a = _mm256_blendv_ps(a, v, m);                                                 \
            t = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(t), _mm256_castsi256_ps(K), m));
            FC_ASTEP(x0 + C + c, one)
            FC_ASTEP(x1 + c, two)
            FC_ASTEP(x1 + C + c, three)
#undef FC_ASTEP
            _mm256_storeu_ps(y + c, a);
            __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
            _mm_storel_epi64((__m128i *)(code + c), _mm_packus_epi16(p, p));
        }
        FC_MAXC_TAIL(float)
    }
}
FC_AVX2 static void fc_maxbwdc_row_f_avx2(const float *g, const uint8_t *code, float *d0, float *d1,
                                          Py_ssize_t Wo, Py_ssize_t C)
{
    const __m256i k1 = _mm256_set1_epi32(1), k2 = _mm256_set1_epi32(2), k3 = _mm256_set1_epi32(3);
    const __m256i k0 = _mm256_setzero_si256();
    for (Py_ssize_t j = 0; j < Wo; j++, g += C, code += C, d0 += 2 * C, d1 += 2 * C) {
        Py_ssize_t c = 0;
        for (; c + 8 <= C; c += 8) {
            __m256i t = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(code + c)));
            __m256 gv = _mm256_loadu_ps(g + c);
            _mm256_storeu_ps(d0 + c, _mm256_and_ps(gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(t, k0))));
            _mm256_storeu_ps(d0 + C + c, _mm256_and_ps(gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(t, k1))));
            _mm256_storeu_ps(d1 + c, _mm256_and_ps(gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(t, k2))));
            _mm256_storeu_ps(d1 + C + c, _mm256_and_ps(gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(t, k3))));
        }
        FC_MAXBWDC_TAIL
    }
}
#endif
static void fc_maxc_row_f(const float *x0, const float *x1, float *y, uint8_t *code,
                          Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step)
{
#ifdef FC_X86_DISPATCH
    if (C >= 8 && fc_simd_level() >= 1) { fc_maxc_row_f_avx2(x0, x1, y, code, Wo, C, step); return; }
#endif
    for (Py_ssize_t j = 0; j < Wo; j++, x0 += step, x1 += step, y += C, code += C)
        fc_maxc2x2_f(x0, x1, y, code, C);
}
static void fc_maxc_row_d(const double *x0, const double *x1, double *y, uint8_t *code,
                          Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step)
{
    for (Py_ssize_t j = 0; j < Wo; j++, x0 += step, x1 += step, y += C, code += C)
        fc_maxc2x2_d(x0, x1, y, code, C);
}
/* Backward rows for tiling 2x2 windows (step = 2 * C): every element of dx rows d0, d1 written once. */
static void fc_maxbwdc_row_f(const float *g, const uint8_t *code, float *d0, float *d1,
                             Py_ssize_t Wo, Py_ssize_t C)
{
#ifdef FC_X86_DISPATCH
    if (C >= 8 && fc_simd_level() >= 1) { fc_maxbwdc_row_f_avx2(g, code, d0, d1, Wo, C); return; }
#endif
    for (Py_ssize_t j = 0; j < Wo; j++, g += C, code += C, d0 += 2 * C, d1 += 2 * C)
        fc_maxbwdc2x2_f(g, code, d0, d1, C);
}
static void fc_maxbwdc_row_d(const double *g, const uint8_t *code, double *d0, double *d1,
                             Py_ssize_t Wo, Py_ssize_t C)
{
    for (Py_ssize_t j = 0; j < Wo; j++, g += C, code += C, d0 += 2 * C, d1 += 2 * C)
        fc_maxbwdc2x2_d(g, code, d0, d1, C);
}

/* --------------------------------------------------------------- global average pool backward */
/* d[p * C + c] = g[c] for p < HW: the one row g (C long) written to HW consecutive pixels.  The
   writes stream past the caches (SSE2 non-temporal stores) when d is 16-byte aligned and rows
   are whole vectors: a large gradient is not read back before it is complete, and this halves
   the memory traffic of the write (no read-for-ownership). Same values either way. */
#define FC_BCAST_PLAIN                                                                 \
    for (Py_ssize_t p = 0; p < HW; p++)                                                \
        for (Py_ssize_t c = 0; c < C; c++) d[p * C + c] = g[c];
static void fc_bcast_rows_f(const float *g, float *d, Py_ssize_t HW, Py_ssize_t C, int stream)
{
#ifdef FC_SSE2
    if (stream && ((uintptr_t)d & 15) == 0 && (C & 3) == 0) {
        for (Py_ssize_t p = 0; p < HW; p++, d += C)
            for (Py_ssize_t c = 0; c < C; c += 4) _mm_stream_ps(d + c, _mm_loadu_ps(g + c));
        _mm_sfence();
        return;
    }
#endif
    (void)stream;
    FC_BCAST_PLAIN
}
static void fc_bcast_rows_d(const double *g, double *d, Py_ssize_t HW, Py_ssize_t C, int stream)
{
#ifdef FC_SSE2
    if (stream && ((uintptr_t)d & 15) == 0 && (C & 1) == 0) {
        for (Py_ssize_t p = 0; p < HW; p++, d += C)
            for (Py_ssize_t c = 0; c < C; c += 2) _mm_stream_pd(d + c, _mm_loadu_pd(g + c));
        _mm_sfence();
        return;
    }
#endif
    (void)stream;
    FC_BCAST_PLAIN
}

/* ------------------------------------------------------------- one-channel planes (NCHW pools) */
/* 2x2 windows, stride 2, C == 1: the rows of an NCHW plane. Output j reads x0[2j], x0[2j + 1],
   x1[2j], x1[2j + 1]; vectorised along the row: SSE2 loads two neighbouring pairs and splits them
   into the windows' left and right elements (lanes = consecutive outputs), then the same selects
   as the channel rows, in the same order, so the results are the channel rows' bit for bit. */
#define FC_MAXP_TAIL(T)                                                                \
    for (; j < Wo; j++) {                                                              \
        T a = x0[2 * j], v; int t = 0, u;                                              \
        v = x0[2 * j + 1]; u = !(v <= a) && a == a; if (u) { a = v; t = 1; }           \
        v = x1[2 * j];     u = !(v <= a) && a == a; if (u) { a = v; t = 2; }           \
        v = x1[2 * j + 1]; u = !(v <= a) && a == a; if (u) { a = v; t = 3; }           \
        y[j] = a;                                                                      \
        code[j] = (uint8_t)t;                                                          \
    }
#ifdef FC_SSE2
/* One step of a 2x2 window's running max: candidate V (window position K) replaces a where it is
   greater or a is NaN, and its code replaces t there. S is the lane type, ps or pd. */
#define FC_PSTEP(V, K, S)                                                                  \
    v = V;                                                                                 \
    m = _mm_and_##S(_mm_cmpnle_##S(v, a), _mm_cmpord_##S(a, a));                           \
    a = _mm_or_##S(_mm_and_##S(m, v), _mm_andnot_##S(m, a));                               \
    mi = _mm_cast##S##_si128(m);                                                           \
    t = _mm_or_si128(_mm_and_si128(mi, K), _mm_andnot_si128(mi, t));
/* four outputs from j (float32): y stored, the codes returned as int32 lanes */
static inline __m128i fc_maxp4_f(const float *x0, const float *x1, float *y, Py_ssize_t j)
{
    const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2), three = _mm_set1_epi32(3);
    __m128 p = _mm_loadu_ps(x0 + 2 * j), q = _mm_loadu_ps(x0 + 2 * j + 4);
    __m128 r = _mm_loadu_ps(x1 + 2 * j), s = _mm_loadu_ps(x1 + 2 * j + 4), v, m;
    __m128 a = _mm_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0));
    __m128 b = _mm_shuffle_ps(p, q, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 c = _mm_shuffle_ps(r, s, _MM_SHUFFLE(2, 0, 2, 0));
    __m128 d = _mm_shuffle_ps(r, s, _MM_SHUFFLE(3, 1, 3, 1));
    __m128i t = _mm_setzero_si128(), mi;
    FC_PSTEP(b, one, ps)
    FC_PSTEP(c, two, ps)
    FC_PSTEP(d, three, ps)
    _mm_storeu_ps(y + j, a);
    return t;
}
/* two outputs from j (float64): y stored, the codes in the low int32 of each int64 lane */
static inline __m128i fc_maxp2_d(const double *x0, const double *x1, double *y, Py_ssize_t j)
{
    const __m128i one = _mm_set1_epi64x(1), two = _mm_set1_epi64x(2), three = _mm_set1_epi64x(3);
    __m128d p = _mm_loadu_pd(x0 + 2 * j), q = _mm_loadu_pd(x0 + 2 * j + 2);
    __m128d r = _mm_loadu_pd(x1 + 2 * j), s = _mm_loadu_pd(x1 + 2 * j + 2), v, m;
    __m128d a = _mm_unpacklo_pd(p, q), b = _mm_unpackhi_pd(p, q);
    __m128d c = _mm_unpacklo_pd(r, s), d = _mm_unpackhi_pd(r, s);
    __m128i t = _mm_setzero_si128(), mi;
    FC_PSTEP(b, one, pd)
    FC_PSTEP(c, two, pd)
    FC_PSTEP(d, three, pd)
    _mm_storeu_pd(y + j, a);
    return t;
}
#undef FC_PSTEP
#endif
/* Forward: one output row of a plane, Wo windows over input rows x0, x1 (2 * Wo <= W). */
static void fc_maxc_plane_row_f(const float *x0, const float *x1, float *y, uint8_t *code, Py_ssize_t Wo)
{
    Py_ssize_t j = 0;
#ifdef FC_SSE2
    for (; j + 8 <= Wo; j += 8) {
        __m128i t0 = fc_maxp4_f(x0, x1, y, j), t1 = fc_maxp4_f(x0, x1, y, j + 4);
        __m128i p = _mm_packs_epi32(t0, t1);
        _mm_storel_epi64((__m128i *)(code + j), _mm_packus_epi16(p, p));
    }
#endif
    FC_MAXP_TAIL(float)
}
static void fc_maxc_plane_row_d(const double *x0, const double *x1, double *y, uint8_t *code, Py_ssize_t Wo)
{
    Py_ssize_t j = 0;
#ifdef FC_SSE2
    for (; j + 4 <= Wo; j += 4) {
        __m128i t0 = fc_maxp2_d(x0, x1, y, j), t1 = fc_maxp2_d(x0, x1, y, j + 2);
        __m128i t = _mm_unpacklo_epi64(_mm_shuffle_epi32(t0, _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm_shuffle_epi32(t1, _MM_SHUFFLE(2, 0, 2, 0)));
        __m128i p = _mm_packs_epi32(t, _mm_setzero_si128());
        int32_t b = _mm_cvtsi128_si32(_mm_packus_epi16(p, p));
        memcpy(code + j, &b, 4);
    }
#endif
    FC_MAXP_TAIL(double)
}
/* Backward: dx rows d0, d1 (their first 2 * Wo elements, each written once) from one row of a plane. */
#define FC_MAXBWDP_TAIL                                                                \
    for (; j < Wo; j++) {                                                              \
        int t = code[j];                                                               \
        d0[2 * j] = t == 0 ? g[j] : 0;                                                 \
        d0[2 * j + 1] = t == 1 ? g[j] : 0;                                             \
        d1[2 * j] = t == 2 ? g[j] : 0;                                                 \
        d1[2 * j + 1] = t == 3 ? g[j] : 0;                                             \
    }
static void fc_maxbwdc_plane_row_f(const float *g, const uint8_t *code, float *d0, float *d1, Py_ssize_t Wo)
{
    Py_ssize_t j = 0;
#ifdef FC_SSE2
    const __m128i zero = _mm_setzero_si128(), k1 = _mm_set1_epi32(1), k2 = _mm_set1_epi32(2);
    const __m128i k3 = _mm_set1_epi32(3);
    for (; j + 4 <= Wo; j += 4) {
        int32_t b;
        memcpy(&b, code + j, 4);
        __m128i t = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(b), zero), zero);
        __m128 gv = _mm_loadu_ps(g + j);
        __m128 e0 = _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, zero)));
        __m128 e1 = _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k1)));
        __m128 e2 = _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k2)));
        __m128 e3 = _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(t, k3)));
        _mm_storeu_ps(d0 + 2 * j, _mm_unpacklo_ps(e0, e1));
        _mm_storeu_ps(d0 + 2 * j + 4, _mm_unpackhi_ps(e0, e1));
        _mm_storeu_ps(d1 + 2 * j, _mm_unpacklo_ps(e2, e3));
        _mm_storeu_ps(d1 + 2 * j + 4, _mm_unpackhi_ps(e2, e3));
    }
#endif
    FC_MAXBWDP_TAIL
}
static void fc_maxbwdc_plane_row_d(const double *g, const uint8_t *code, double *d0, double *d1, Py_ssize_t Wo)
{
    Py_ssize_t j = 0;
#ifdef FC_SSE2
    const __m128i k0 = _mm_setzero_si128(), k1 = _mm_set1_epi64x(1), k2 = _mm_set1_epi64x(2);
    const __m128i k3 = _mm_set1_epi64x(3);
    __m128i e;
    for (; j + 2 <= Wo; j += 2) {
        __m128i t = _mm_set_epi64x(code[j + 1], code[j]);
        __m128d gv = _mm_loadu_pd(g + j);
#define FC_EQ64P(K) (e = _mm_cmpeq_epi32(t, K), _mm_castsi128_pd(_mm_shuffle_epi32(e, _MM_SHUFFLE(2, 2, 0, 0))))
        __m128d e0 = _mm_and_pd(gv, FC_EQ64P(k0)), e1 = _mm_and_pd(gv, FC_EQ64P(k1));
        __m128d e2 = _mm_and_pd(gv, FC_EQ64P(k2)), e3 = _mm_and_pd(gv, FC_EQ64P(k3));
#undef FC_EQ64P
        _mm_storeu_pd(d0 + 2 * j, _mm_unpacklo_pd(e0, e1));
        _mm_storeu_pd(d0 + 2 * j + 2, _mm_unpackhi_pd(e0, e1));
        _mm_storeu_pd(d1 + 2 * j, _mm_unpacklo_pd(e2, e3));
        _mm_storeu_pd(d1 + 2 * j + 2, _mm_unpackhi_pd(e2, e3));
    }
#endif
    FC_MAXBWDP_TAIL
}

/* Average of 2x2 windows, rows as above: y = (((a + b) + c) + d) * 0.25, which is exactly
   the division by 4 (scaling by a power of two rounds the same real number). */
static void fc_avg_row_f(const float *x0, const float *x1, float *y, Py_ssize_t Wo, Py_ssize_t C,
                         Py_ssize_t step)
{
    for (Py_ssize_t j = 0; j < Wo; j++, x0 += step, x1 += step, y += C) {
        Py_ssize_t c = 0;
#ifdef FC_SSE2
        const __m128 q = _mm_set1_ps(0.25f);
        for (; c + 4 <= C; c += 4) {
            __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_loadu_ps(x0 + c), _mm_loadu_ps(x0 + C + c)),
                                             _mm_loadu_ps(x1 + c)), _mm_loadu_ps(x1 + C + c));
            _mm_storeu_ps(y + c, _mm_mul_ps(s, q));
        }
#endif
        for (; c < C; c++) y[c] = (((x0[c] + x0[C + c]) + x1[c]) + x1[C + c]) * 0.25f;
    }
}
static void fc_avg_row_d(const double *x0, const double *x1, double *y, Py_ssize_t Wo, Py_ssize_t C,
                         Py_ssize_t step)
{
    for (Py_ssize_t j = 0; j < Wo; j++, x0 += step, x1 += step, y += C) {
        Py_ssize_t c = 0;
#ifdef FC_SSE2
        const __m128d q = _mm_set1_pd(0.25);
        for (; c + 2 <= C; c += 2) {
            __m128d s = _mm_add_pd(_mm_add_pd(_mm_add_pd(_mm_loadu_pd(x0 + c), _mm_loadu_pd(x0 + C + c)),
                                              _mm_loadu_pd(x1 + c)), _mm_loadu_pd(x1 + C + c));
            _mm_storeu_pd(y + c, _mm_mul_pd(s, q));
        }
#endif
        for (; c < C; c++) y[c] = (((x0[c] + x0[C + c]) + x1[c]) + x1[C + c]) * 0.25;
    }
}
/* Backward of tiling 2x2 average windows: g / 4 to all four elements of each window. */
static void fc_avgbwd_row_f(const float *g, float *d0, float *d1, Py_ssize_t Wo, Py_ssize_t C)
{
    for (Py_ssize_t j = 0; j < Wo; j++, g += C, d0 += 2 * C, d1 += 2 * C) {
        Py_ssize_t c = 0;
#ifdef FC_SSE2
        const __m128 q = _mm_set1_ps(0.25f);
        for (; c + 4 <= C; c += 4) {
            __m128 v = _mm_mul_ps(_mm_loadu_ps(g + c), q);
            _mm_storeu_ps(d0 + c, v); _mm_storeu_ps(d0 + C + c, v);
            _mm_storeu_ps(d1 + c, v); _mm_storeu_ps(d1 + C + c, v);
        }
#endif
        for (; c < C; c++) { float v = g[c] * 0.25f; d0[c] = v; d0[C + c] = v; d1[c] = v; d1[C + c] = v; }
    }
}
static void fc_avgbwd_row_d(const double *g, double *d0, double *d1, Py_ssize_t Wo, Py_ssize_t C)
{
    for (Py_ssize_t j = 0; j < Wo; j++, g += C, d0 += 2 * C, d1 += 2 * C) {
        Py_ssize_t c = 0;
#ifdef FC_SSE2
        const __m128d q = _mm_set1_pd(0.25);
        for (; c + 2 <= C; c += 2) {
            __m128d v = _mm_mul_pd(_mm_loadu_pd(g + c), q);
            _mm_storeu_pd(d0 + c, v); _mm_storeu_pd(d0 + C + c, v);
            _mm_storeu_pd(d1 + c, v); _mm_storeu_pd(d1 + C + c, v);
        }
#endif
        for (; c < C; c++) { double v = g[c] * 0.25; d0[c] = v; d0[C + c] = v; d1[c] = v; d1[C + c] = v; }
    }
}

#endif
