/* The Winograd families' per-position products on a register-blocked kernel (fastconv._winograd
   for grouped layers, and for ungrouped ones where the level takes it; fastconv._conv1d_winograd
   likewise), compiled once per instruction-set level (the template is _wgmul.h) and picked at run
   time with FC_PICK. Shared by both families' headers. */
#ifndef FASTCONV_WGMUL_KERNELS_H
#define FASTCONV_WGMUL_KERNELS_H

#include <stddef.h>
#include <string.h>

/* the chunk of output channels the products (and the 2-D transforms) run on */
#define FCW_VL 16
#define FCW_PRAGMA(x) _Pragma(#x)
#define FCW_UNROLL FCW_PRAGMA(GCC unroll 16)
#define FCW_ROLL FCW_PRAGMA(GCC unroll 1)

#define FC_TEMPLATE "_wgmul.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

/* the products (see _wgmul.h) at the level that runs; og = Cout/G must be a multiple of FCW_VL */
typedef void (*fcw_gmul_f32_t)(const float *, const float *, float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);
typedef void (*fcw_gmul_f64_t)(const double *, const double *, double *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);
static fcw_gmul_f32_t fcw_gmul_f32(void) { return FC_PICK(fc_f32_wino_gmul); }
static fcw_gmul_f64_t fcw_gmul_f64(void) { return FC_PICK(fc_f64_wino_gmul); }
static fcw_gmul_f32_t fcw_gacc_f32(void) { return FC_PICK(fc_f32_wino_gacc); }
static fcw_gmul_f64_t fcw_gacc_f64(void) { return FC_PICK(fc_f64_wino_gacc); }
static ptrdiff_t fcw_group_chunk(void) { return FCW_VL; }

#endif
