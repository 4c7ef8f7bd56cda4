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
#define FC_R6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define FC_R8(X) FC_R6(X) X(6) X(7)
#define FC_R12(X) FC_R8(X) X(8) X(9) X(10) X(11)
#define FC_ONE(k) + 1
#define FC_ZERO(k) V acc##k = (V){0};
#define FC_FMA(k) acc##k += wa * *(const UV *)(s + k * L);
#define FC_STORE(k) *(UV *)(out + j + k * L) = acc##k;

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
