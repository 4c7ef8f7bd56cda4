/* The depthwise convolution kernels of _conv_depthwise.pyx: the template _conv_depthwise.h
   compiled for float and double at every instruction-set level of _simd.h.  Declared for Cython
   in _conv_depthwise_kernels.pxd; fcd_level picks one level per call and fcd_f32_fwd_row(level,
   ...) etc. call that level. */
#ifndef FC_CONV_DEPTHWISE_KERNELS_H
#define FC_CONV_DEPTHWISE_KERNELS_H
#include <Python.h>

#define FC_TEMPLATE "_conv_depthwise.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

/* FCD_AT(f, l): the build of f for level l (0 .. FC_NLEVELS-1), an expression of function type */
#if FC_NLEVELS == 4
#define FCD_AT(f, l) ((l) >= 3 ? FC_AT(f, FC_ISA_3) : (l) == 2 ? FC_AT(f, FC_ISA_2) \
                      : (l) ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#elif FC_NLEVELS == 3
#define FCD_AT(f, l) ((l) >= 2 ? FC_AT(f, FC_ISA_2) : (l) ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#elif FC_NLEVELS == 2
#define FCD_AT(f, l) ((l) ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#else
#define FCD_AT(f, l) FC_AT(f, FC_ISA_0)
#endif

/* vector lanes of the kernels of level lvl */
static Py_ssize_t fcd_lanes(Py_ssize_t itemsize, int lvl)
{
    return itemsize == (Py_ssize_t)sizeof(float) ? FCD_AT(fc_f32_lanes, lvl)() : FCD_AT(fc_f64_lanes, lvl)();
}

/* The level the kernels of one call run at.  cap < 0: the level that runs (fc_simd_level),
   lowered (not below level 1: the baseline has no FMA) until its vectors divide C into whole
   vectors.  The channels past the last whole vector run one at a time, so on an AVX-512 CPU a
   float32 layer with C = 8, 12 or 24 (float64: C = 4 or 12) runs faster in 8-lane (4-lane)
   vectors than in 16-lane (8-lane) vectors and scalars; with fewer channels than one vector (all
   scalar) the AVX2 build of the scalar loops measures faster too.  With exactly one 16-lane
   (8-lane) vector, AVX-512 takes 0.91-1.0 of AVX2's time in the forward and 0.70-0.78 in the
   backward (N64 8x8 images, Zen 5).  Every output element is the same sequence of operations in
   a vector lane as in the scalar tail (both FMA levels), so levels 1 and up give bit-identical
   results.  cap >= 0: exactly min(cap, the level that runs). */
static int fcd_level(Py_ssize_t itemsize, Py_ssize_t C, int cap)
{
    int lvl = fc_simd_level();
    Py_ssize_t L;
    if (cap >= 0) return cap < lvl ? cap : lvl;
    for (; lvl > 1; lvl--) {
        L = fcd_lanes(itemsize, lvl);
        if (C % L == 0) break;
    }
    return lvl;
}

/* the kernels of level l (the calls of _conv_depthwise_kernels.pxd) */
#define fcd_f32_fwd_row(l, ...) FCD_AT(fc_f32_fwd_row, l)(__VA_ARGS__)
#define fcd_f64_fwd_row(l, ...) FCD_AT(fc_f64_fwd_row, l)(__VA_ARGS__)
#define fcd_f32_dx_row(l, ...) FCD_AT(fc_f32_dx_row, l)(__VA_ARGS__)
#define fcd_f64_dx_row(l, ...) FCD_AT(fc_f64_dx_row, l)(__VA_ARGS__)
#define fcd_f32_dw_row(l, ...) FCD_AT(fc_f32_dw_row, l)(__VA_ARGS__)
#define fcd_f64_dw_row(l, ...) FCD_AT(fc_f64_dw_row, l)(__VA_ARGS__)
#define fcd_f32_db_row(l, ...) FCD_AT(fc_f32_db_row, l)(__VA_ARGS__)
#define fcd_f64_db_row(l, ...) FCD_AT(fc_f64_db_row, l)(__VA_ARGS__)

#endif
