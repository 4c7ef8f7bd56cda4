/* 1-D max pooling over one window of C channels (float and double), for _pool1d.pyx;
   declared in _pool1d_kernels.pxd. */
#ifndef FASTCONV_POOL1D_KERNELS_H
#define FASTCONV_POOL1D_KERNELS_H
#include <stddef.h>
/* One window over C channels: y = the maximum of its ntaps taps (step elements apart), k = the
   tap (t0 + t) of the first maximum, kept as a float of y's type so that the select runs in
   the same vector lanes as the values; a NaN wins once, like np.argmax. restrict and the
   branch-free selects let the compiler vectorize the channel loop. */
#define FC_MAX1D(NAME, T)                                                                  \
static void NAME(const T *restrict x, ptrdiff_t step, ptrdiff_t ntaps, ptrdiff_t t0,     \
                 T *restrict y, T *restrict k, ptrdiff_t C)                              \
{                                                                                        \
    ptrdiff_t c, t;                                                                      \
    for (c = 0; c < C; c++) { y[c] = x[c]; k[c] = (T)t0; }                               \
    for (t = 1; t < ntaps; t++) {                                                        \
        const T *restrict xt = x + t * step;                                             \
        const T tv = (T)(t0 + t);                                                        \
        for (c = 0; c < C; c++) {                                                        \
            T v = xt[c], a = y[c];                                                       \
            int m = (v > a) | ((v != v) & (a == a));                                     \
            y[c] = m ? v : a;                                                            \
            k[c] = m ? tv : k[c];                                                        \
        }                                                                                \
    }                                                                                    \
}
FC_MAX1D(fc_max1d_f, float)
FC_MAX1D(fc_max1d_d, double)

#endif
