/* 1-D max pooling over one window of C channels (float and double), for _pool1d.pyx;
   declared in _pool1d_kernels.pxd. */
#ifndef FASTCONV_POOL1D_KERNELS_H
#define FASTCONV_POOL1D_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

/* The 3-tap, stride-2 window (dilation 1, every window inside the row) over one image row of Lo
   windows: y and the code (the tap 0, 1, 2) of each window's first maximum written once, in one
   pass over x. The selects are FC_MAX1D's (ties keep the earlier tap; a NaN wins once), so the
   results are the same. ``stream``: non-temporal stores of y (a large output would not stay
   cached; the caller then issues one fc_pool1d_sfence). */
#if defined(__SSE2__)
#include <emmintrin.h>
#define FC_POOL1D_SSE2 1
static void fc_pool1d_sfence(void) { _mm_sfence(); }
#else
static void fc_pool1d_sfence(void) { }
#endif

/* scalar: channel c of window j (x0 at its tap 0) */
#define FC_K3S2_SCALAR(T)                                                                  \
    {                                                                                      \
        T a = x0[c], v = x0[C + c], u = x0[2 * C + c];                                     \
        int m1 = (v > a) | ((v != v) & (a == a));                                          \
        T b = m1 ? v : a;                                                                  \
        int m2 = (u > b) | ((u != u) & (b == b));                                          \
        yj[c] = m2 ? u : b;                                                                \
        kj[c] = (uint8_t)(m2 ? 2 : m1);                                                    \
    }

static void fc_max1d_k3s2_f(const float *restrict x, ptrdiff_t Lo, float *restrict y, uint8_t *restrict k,
                            ptrdiff_t C, int stream)
{
    ptrdiff_t j, c;
    for (j = 0; j < Lo; j++) {
        const float *restrict x0 = x + 2 * j * C;
        float *restrict yj = y + j * C;
        uint8_t *restrict kj = k + j * C;
        c = 0;
#ifdef FC_POOL1D_SSE2
        {
            const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
            int aligned = stream && ((uintptr_t)yj & 15) == 0;
            for (; c + 4 <= C; c += 4) {
                __m128 a = _mm_loadu_ps(x0 + c), v = _mm_loadu_ps(x0 + C + c), u = _mm_loadu_ps(x0 + 2 * C + c);
                __m128 m1 = _mm_and_ps(_mm_cmpnle_ps(v, a), _mm_cmpord_ps(a, a));
                __m128 b = _mm_or_ps(_mm_and_ps(m1, v), _mm_andnot_ps(m1, a));
                __m128 m2 = _mm_and_ps(_mm_cmpnle_ps(u, b), _mm_cmpord_ps(b, b));
                __m128 r = _mm_or_ps(_mm_and_ps(m2, u), _mm_andnot_ps(m2, b));
                __m128i m2i = _mm_castps_si128(m2);
                __m128i t = _mm_or_si128(_mm_and_si128(m2i, two),
                                         _mm_andnot_si128(m2i, _mm_and_si128(_mm_castps_si128(m1), one)));
                int word;
                t = _mm_packs_epi32(t, t);
                t = _mm_packus_epi16(t, t);
                word = _mm_cvtsi128_si32(t);
                memcpy(kj + c, &word, 4);
                if (aligned)
                    _mm_stream_ps(yj + c, r);
                else
                    _mm_storeu_ps(yj + c, r);
            }
        }
#endif
        for (; c < C; c++)
            FC_K3S2_SCALAR(float)
    }
}

static void fc_max1d_k3s2_d(const double *restrict x, ptrdiff_t Lo, double *restrict y, uint8_t *restrict k,
                            ptrdiff_t C, int stream)
{
    ptrdiff_t j, c;
    (void)stream;
    for (j = 0; j < Lo; j++) {
        const double *restrict x0 = x + 2 * j * C;
        double *restrict yj = y + j * C;
        uint8_t *restrict kj = k + j * C;
        for (c = 0; c < C; c++)
            FC_K3S2_SCALAR(double)
    }
}

/* Its backward over one image row of L inputs: every dx element written once (no zeroing pass,
   no scatter). Input 2j gets window j-1's gradient if that window's maximum was its tap 2, then
   window j's if tap 0 (added to +0 in that order, as the general kernel adds them); input 2j+1
   gets window j's if tap 1. A window that does not pick an input adds +0 instead, which leaves
   every sum's bits as they are (the sums start at +0, so none is -0). ``stream`` as above. */
#define FC_BWD_SCALAR(T)                                                                   \
    {                                                                                      \
        T p = (T)0 + ((kp != NULL && kp[c] == 2) ? gp[c] : (T)0);                          \
        d0[c] = p + (kj[c] == 0 ? gj[c] : (T)0);                                           \
        d0[C + c] = (T)0 + (kj[c] == 1 ? gj[c] : (T)0);                                    \
    }

/* The row's end: the input after the last window's tap 1 gets that window's gradient if its
   maximum was tap 2 (added to +0), the inputs after it (no window reads them) get 0. */
#define FC_BWD_TAIL(T)                                                                     \
    j = 2 * Lo;                                                                            \
    if (Lo > 0 && j < L) {                                                                 \
        for (c = 0; c < C; c++)                                                            \
            dx[j * C + c] = (T)0 + (k[(Lo - 1) * C + c] == 2 ? g[(Lo - 1) * C + c] : (T)0); \
        j++;                                                                               \
    }                                                                                      \
    for (; j < L; j++)                                                                     \
        for (c = 0; c < C; c++)                                                            \
            dx[j * C + c] = 0;

static void fc_maxbwd1d_k3s2_f(const float *restrict g, const uint8_t *restrict k, ptrdiff_t Lo,
                               float *restrict dx, ptrdiff_t L, ptrdiff_t C, int stream)
{
    ptrdiff_t j, c;
    for (j = 0; j < Lo; j++) {
        const float *restrict gj = g + j * C;
        const uint8_t *restrict kj = k + j * C;
        const float *restrict gp = j ? gj - C : NULL;
        const uint8_t *restrict kp = j ? kj - C : NULL;
        float *restrict d0 = dx + 2 * j * C;
        c = 0;
#ifdef FC_POOL1D_SSE2
        {
            const __m128i zi = _mm_setzero_si128(), one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
            const __m128 z = _mm_setzero_ps();
            int aligned = stream && ((uintptr_t)d0 & 15) == 0 && (C & 3) == 0;
            for (; c + 4 <= C; c += 4) {
                int wj, wp = 0;
                __m128i tj, tp;
                __m128 gv = _mm_loadu_ps(gj + c), pv = z, r0, r1;
                memcpy(&wj, kj + c, 4);
                tj = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(wj), zi), zi);
                if (kp != NULL) {
                    memcpy(&wp, kp + c, 4);
                    tp = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(wp), zi), zi);
                    pv = _mm_and_ps(_mm_loadu_ps(gp + c), _mm_castsi128_ps(_mm_cmpeq_epi32(tp, two)));
                }
                r0 = _mm_add_ps(_mm_add_ps(z, pv), _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(tj, zi))));
                r1 = _mm_add_ps(z, _mm_and_ps(gv, _mm_castsi128_ps(_mm_cmpeq_epi32(tj, one))));
                if (aligned) {
                    _mm_stream_ps(d0 + c, r0);
                    _mm_stream_ps(d0 + C + c, r1);
                } else {
                    _mm_storeu_ps(d0 + c, r0);
                    _mm_storeu_ps(d0 + C + c, r1);
                }
            }
        }
#endif
        for (; c < C; c++)
            FC_BWD_SCALAR(float)
    }
    FC_BWD_TAIL(float)
}

static void fc_maxbwd1d_k3s2_d(const double *restrict g, const uint8_t *restrict k, ptrdiff_t Lo,
                               double *restrict dx, ptrdiff_t L, ptrdiff_t C, int stream)
{
    ptrdiff_t j, c;
    (void)stream;
    for (j = 0; j < Lo; j++) {
        const double *restrict gj = g + j * C;
        const uint8_t *restrict kj = k + j * C;
        const double *restrict gp = j ? gj - C : NULL;
        const uint8_t *restrict kp = j ? kj - C : NULL;
        double *restrict d0 = dx + 2 * j * C;
        for (c = 0; c < C; c++)
            FC_BWD_SCALAR(double)
    }
    FC_BWD_TAIL(double)
}

#endif
