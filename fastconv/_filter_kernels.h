/* The C side of _filter.pyx: the row kernel (the template _filter.h, compiled for float and
   double at every instruction-set level of _simd.h) and the border-mode index map.  Declared
   for Cython in _filter_kernels.pxd; FC_PICK(fc_f32_taps) calls the level that runs. */
#ifndef FC_FILTER_KERNELS_H
#define FC_FILTER_KERNELS_H
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "_simd.h"

/* The row kernel: out[j] = sum_t w[t] * src[t][j] for 0 <= j < n; taps summed in order, from 0. */
#define FC_SCALAR_TAIL(T)                                                            \
    for (; j < n; j++) {                                                             \
        T a = 0;                                                                     \
        for (t = 0; t < ntaps; t++) a += w[t] * src[t][j];                           \
        out[j] = a;                                                                  \
    }
#if defined(__GNUC__)
/* Accumulators are named variables (acc0, acc1, ...), not an array, so that they live in
   registers and are stored straight to the output. */
#define FC_R1(X) X(0)
#define FC_R4(X) X(0) X(1) X(2) X(3)
#define FC_R6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define FC_R8(X) FC_R6(X) X(6) X(7)
#define FC_R12(X) FC_R8(X) X(8) X(9) X(10) X(11)
#define FC_ONE(k) + 1
#define FC_ZERO(k) V acc##k = (V){0};
#define FC_FMA(k) acc##k += wa * *(const UV *)(s + k * L);
#define FC_STORE(k) *(UV *)(out + j + k * L) = acc##k;

/* The several-rows kernel (FC_FN(rows) in _filter.h): output rows per call, the largest kernel
   extent it takes, the lists of rows and vectors (FCF_L2, FCF_L4) and its per-(row, vector) steps.
   Row o's vector b is accumulator ra##o##_##b. */
#define FC_FILTER_BLOCK_ROWS 4
/* The fused separable kernel (FC_FN(sep) in _filter.h): output vectors per block. It serves rows of
   at least FC_FILTER_SEP_NB + 2 vectors of values, whatever their alignment. */
#define FC_FILTER_SEP_NB 8
#define FC_FILTER_MAX_K 8
#define FCF_L2(X) X(0) X(1)
#define FCF_L4(X) X(0) X(1) X(2) X(3)
#define FCF_ZB(o, b) V ra##o##_##b = (V){0};
#define FCF_LOAD(b) const V v##b = *(const UV *)(s + b * L);
#define FCF_FB(o, b) ra##o##_##b += wa##o * v##b;
#define FCF_SB(o, b) *(UV *)(og + o * ostride + j + b * L) = ra##o##_##b;
#define FCF_NB_(o, b) FCF_NT(og + o * ostride + j + b * L, ra##o##_##b);
/* per output row o: its accumulators zeroed / its tap on the loaded vectors / stored */
#define FCF_ZERO_ROW(o) FCF_EACH_B(FCF_ZB, o)
#define FCF_FMA_ROW(o) if (m & (1u << o)) { const V wa##o = wr[o] - (V){0}; FCF_EACH_B(FCF_FB, o) }
#define FCF_FMA_ALL(o) { const V wa##o = wr[o] - (V){0}; FCF_EACH_B(FCF_FB, o) }
#define FCF_STORE_ROW(o) FCF_EACH_B(FCF_SB, o)
#define FCF_NTSTORE_ROW(o) FCF_EACH_B(FCF_NB_, o)
#define FCF_EB2(M, o) M(o, 0) M(o, 1)
#define FCF_EB4(M, o) M(o, 0) M(o, 1) M(o, 2) M(o, 3)
#define FCF_EB_base FCF_EB2
#define FCF_EB_avx2 FCF_EB2
#define FCF_EB_avx512 FCF_EB4
#define FCF_PASTE_(a, b) a##b
#define FCF_PASTE(a, b) FCF_PASTE_(a, b)
#define FCF_EACH_B(M, o) FCF_PASTE(FCF_EB_, FC_ISA)(M, o)
#define FC_TYPES(T, VBYTES)                                                          \
    typedef T V __attribute__((vector_size(VBYTES)));                                \
    typedef T UV __attribute__((vector_size(VBYTES), aligned(sizeof(T)), may_alias)); \
    enum { L = VBYTES / sizeof(T) };
#endif

#if defined(FC_X86_DISPATCH)
#include <immintrin.h>
/* after a thread's non-temporal stores (the row kernel's ``stream``): order them before later stores */
static inline void fc_filter_sfence(void) { _mm_sfence(); }
#else
static inline void fc_filter_sfence(void) { }
#endif

/* Whether the several-rows kernel (FC_FN(rows)) serves a tap list: at least FC_FILTER_ROWS_MIN_TAPS
   taps, a kernel extent of at most FC_FILTER_MAX_K, and the taps in row-major order (each after
   the one before, as the wrapper lists them), so that it sums each output's taps in the row
   kernel's order. Measured (float32, AVX-512, random kernels, the two kernels' calls alternating,
   medians of 7; several rows / row kernel; bench/filter_rows_interleaved.py rows): 7x7 0.62-0.71,
   5x5 0.62-0.78 (1 thread) and 0.68-0.82 (2 threads) on 512x512 and 2048x2048, 3x3 0.76-1.02 and
   0.75-1.06; with 5 taps (the laplacian, sharpen) 1.00-1.12 on 1 thread and 0.88-1.03 on 2:
   fewer taps share too few loads. */
#define FC_FILTER_ROWS_MIN_TAPS 9
static inline int fc_filter_rows_serve(const Py_ssize_t *tki, const Py_ssize_t *tkj, Py_ssize_t ntaps,
                                       Py_ssize_t kh, Py_ssize_t kw)
{
    if (kh > FC_FILTER_MAX_K || kw > FC_FILTER_MAX_K || ntaps < FC_FILTER_ROWS_MIN_TAPS) return 0;
    for (Py_ssize_t t = 1; t < ntaps; t++)
        if (tki[t] < tki[t - 1] || (tki[t] == tki[t - 1] && tkj[t] <= tkj[t - 1])) return 0;
    return 1;
}

#define FC_TEMPLATE "_filter.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

/* Border modes, scipy.ndimage names. */
enum { FC_CONSTANT = 0, FC_NEAREST = 1, FC_REFLECT = 2, FC_MIRROR = 3, FC_WRAP = 4 };

/* Index i of an axis of length n >= 1 mapped into [0, n), or -1 for "cval" (constant mode). */
static inline Py_ssize_t fc_map(Py_ssize_t i, Py_ssize_t n, int mode)
{
    Py_ssize_t p;
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case FC_NEAREST: return i < 0 ? 0 : n - 1;
    case FC_REFLECT: p = 2 * n; i %= p; if (i < 0) i += p; return i < n ? i : p - 1 - i;
    case FC_MIRROR:  if (n == 1) return 0;
                     p = 2 * n - 2; i %= p; if (i < 0) i += p; return i < n ? i : p - i;
    case FC_WRAP:    i %= n; if (i < 0) i += n; return i;
    default:         return -1;
    }
}

#endif
