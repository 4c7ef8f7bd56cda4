/* The 1-D Winograd kernels' tile transforms (fastconv._conv1d_winograd), compiled once per
   instruction-set level (_simd_instantiate.h) and picked at run time. */
#ifndef FASTCONV_CONV1D_WINOGRAD_KERNELS_H
#define FASTCONV_CONV1D_WINOGRAD_KERNELS_H
#include <stddef.h>

#define W1_CB 16 /* channels summed in registers at once */

#define FC_TEMPLATE "_conv1d_winograd.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

typedef void (*w1_in_f32_t)(const float *const *, float *, ptrdiff_t, ptrdiff_t, const float *);
typedef void (*w1_in_f64_t)(const double *const *, double *, ptrdiff_t, ptrdiff_t, const double *);
typedef void (*w1_out_f32_t)(const float *, ptrdiff_t, float *, ptrdiff_t, ptrdiff_t, const float *, const float *);
typedef void (*w1_out_f64_t)(const double *, ptrdiff_t, double *, ptrdiff_t, ptrdiff_t, const double *,
                             const double *);
static w1_in_f32_t w1_in_f32(void) { return FC_PICK(fc_f32_w1_in); }
static w1_in_f64_t w1_in_f64(void) { return FC_PICK(fc_f64_w1_in); }
static w1_out_f32_t w1_out_f32(void) { return FC_PICK(fc_f32_w1_out); }
static w1_out_f64_t w1_out_f64(void) { return FC_PICK(fc_f64_w1_out); }
/* the FASTCONV_SIMD name of the level the transforms run at */
static const char *w1_simd_name(void) { return fc_simd_names[fc_simd_level()]; }
#endif
