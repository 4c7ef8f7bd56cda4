/* The 1-D Winograd kernels' tile transforms (fastconv._conv1d_winograd), compiled once per
   instruction-set level (_simd_instantiate.h) and picked at run time. */
#ifndef FASTCONV_CONV1D_WINOGRAD_KERNELS_H
#define FASTCONV_CONV1D_WINOGRAD_KERNELS_H
#include <stddef.h>

#include "_wgmul_kernels.h" /* the per-position products on the register-blocked kernel */

#define W1_CB 16 /* channels summed in registers at once */

/* The transforms the wrapper (fastconv.onedim.winograd_transforms) builds on the points 0, +-1,
   +-2, +-1/2 and infinity, compiled in: BT (8 x 8, the same for 3, 4 and 5 taps) and, for the
   weight gradient's output-gradient tiles, A8 (8 x 8: AT transposed, columns m.. zero) for m = 4,
   5, 6. The kernels use the compiled transforms where the given matrix equals one of these (in the
   compute dtype); the tests check that the wrapper's matrices do. */
static const double w1_bt[64] = {
    1.0, 0.0, -5.25, 0.0, 5.25, 0.0, -1.0, 0.0,
    0.0, -0.2222222222222222, -0.2222222222222222, 0.9444444444444444, 0.9444444444444444, -0.2222222222222222, -0.2222222222222222, 0.0,
    0.0, 0.2222222222222222, -0.2222222222222222, -0.9444444444444444, 0.9444444444444444, 0.2222222222222222, -0.2222222222222222, 0.0,
    0.0, 0.005555555555555556, 0.002777777777777778, -0.027777777777777776, -0.013888888888888888, 0.022222222222222223, 0.011111111111111112, 0.0,
    0.0, -0.005555555555555556, 0.002777777777777778, 0.027777777777777776, -0.013888888888888888, -0.022222222222222223, 0.011111111111111112, 0.0,
    0.0, 1.4222222222222223, 2.8444444444444446, -1.7777777777777777, -3.5555555555555554, 0.35555555555555557, 0.7111111111111111, 0.0,
    0.0, -1.4222222222222223, 2.8444444444444446, 1.7777777777777777, -3.5555555555555554, -0.35555555555555557, 0.7111111111111111, 0.0,
    0.0, -1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0,
};
static const double w1_a4[64] = {
    1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0,
    1.0, -1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0,
    1.0, 2.0, 4.0, 8.0, 0.0, 0.0, 0.0, 0.0,
    1.0, -2.0, 4.0, -8.0, 0.0, 0.0, 0.0, 0.0,
    1.0, 0.5, 0.25, 0.125, 0.0, 0.0, 0.0, 0.0,
    1.0, -0.5, 0.25, -0.125, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0,
};
static const double w1_a5[64] = {
    1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0,
    1.0, -1.0, 1.0, -1.0, 1.0, 0.0, 0.0, 0.0,
    1.0, 2.0, 4.0, 8.0, 16.0, 0.0, 0.0, 0.0,
    1.0, -2.0, 4.0, -8.0, 16.0, 0.0, 0.0, 0.0,
    1.0, 0.5, 0.25, 0.125, 0.0625, 0.0, 0.0, 0.0,
    1.0, -0.5, 0.25, -0.125, 0.0625, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0,
};
static const double w1_a6[64] = {
    1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0,
    1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0,
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 0.0, 0.0,
    1.0, -2.0, 4.0, -8.0, 16.0, -32.0, 0.0, 0.0,
    1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.0, 0.0,
    1.0, -0.5, 0.25, -0.125, 0.0625, -0.03125, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
};
static const double *const w1_compiled[4] = {w1_bt, w1_a4, w1_a5, w1_a6};

/* NAME(rows, v, vs, C): v[a*vs + c] = sum over j < NJ of MAT[a*8 + j] * rows[j][c], in the order
   j = 0.. (as w1_in), the loops unrolled so that the zero entries of the constant MAT drop out */
#define W1_IN_CONST(NAME, MAT, NJ)                                                              \
    FC_ATTR static void NAME(const FC_T *const *rows, FC_T *v, ptrdiff_t vs, ptrdiff_t C)        \
    {                                                                                           \
        ptrdiff_t c0 = 0, c;                                                                    \
        for (; c0 + W1_CB <= C; c0 += W1_CB) {                                                  \
            FC_T acc[8][W1_CB];                                                                 \
            _Pragma("GCC unroll 8") for (int a = 0; a < 8; a++)                                 \
                for (c = 0; c < W1_CB; c++) acc[a][c] = 0;                                      \
            _Pragma("GCC unroll 8") for (int j = 0; j < NJ; j++) {                              \
                const FC_T *restrict s = rows[j] + c0;                                          \
                _Pragma("GCC unroll 8") for (int a = 0; a < 8; a++) {                           \
                    if (MAT[a * 8 + j] != 0) {                                                  \
                        const FC_T k = (FC_T)MAT[a * 8 + j];                                    \
                        for (c = 0; c < W1_CB; c++) acc[a][c] += k * s[c];                      \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
            _Pragma("GCC unroll 8") for (int a = 0; a < 8; a++)                                 \
                for (c = 0; c < W1_CB; c++) v[a * vs + c0 + c] = acc[a][c];                     \
        }                                                                                       \
        for (c = c0; c < C; c++) {                                                              \
            FC_T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                             \
            for (int j = 0; j < NJ; j++)                                                        \
                for (int a = 0; a < 8; a++)                                                     \
                    if (MAT[a * 8 + j] != 0) acc[a] += (FC_T)MAT[a * 8 + j] * rows[j][c];       \
            for (int a = 0; a < 8; a++) v[a * vs + c] = acc[a];                                 \
        }                                                                                       \
    }

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
typedef void (*w1_inc_f32_t)(const float *const *, float *, ptrdiff_t, ptrdiff_t);
typedef void (*w1_inc_f64_t)(const double *const *, double *, ptrdiff_t, ptrdiff_t);
/* the compiled transform `which` (0: BT, 1-3: A8 for m = 4, 5, 6) at the running level */
static w1_inc_f32_t w1_inc_f32(int which)
{
    switch (which) {
    case 0: return FC_PICK(fc_f32_w1_in_bt);
    case 1: return FC_PICK(fc_f32_w1_in_a4);
    case 2: return FC_PICK(fc_f32_w1_in_a5);
    default: return FC_PICK(fc_f32_w1_in_a6);
    }
}
static w1_inc_f64_t w1_inc_f64(int which)
{
    switch (which) {
    case 0: return FC_PICK(fc_f64_w1_in_bt);
    case 1: return FC_PICK(fc_f64_w1_in_a4);
    case 2: return FC_PICK(fc_f64_w1_in_a5);
    default: return FC_PICK(fc_f64_w1_in_a6);
    }
}
static w1_out_f32_t w1_out_f32(void) { return FC_PICK(fc_f32_w1_out); }
static w1_out_f64_t w1_out_f64(void) { return FC_PICK(fc_f64_w1_out); }
/* the FASTCONV_SIMD name of the level the transforms run at */
static const char *w1_simd_name(void) { return fc_simd_names[fc_simd_level()]; }
#endif
