/* One-input-channel 3x3 layers at AVX-512 (the tutorial's digits layer: N x H x W x 1 -> 8 filters,
   padding 1, stride 1), float32, for _conv_small.pyx.

   With one input channel and 8 filters a 512-bit vector holds two output pixels' 8 channels, so
   every loop below runs over pairs of horizontally adjacent pixels (W even):

   * the pair plane xb of the zero-padded image ((H + 2) x (W + 2) pixels): entry k of a row holds
     its pixels 2k and 2k + 1, each value repeated in 8 lanes, so that the two pixels at an even
     column are one aligned 64-byte load, and those at an odd column one shuffle of two entries
     (not a load across two cache lines, which costs the load units twice); the forward is 9 fused
     multiply-adds per pixel pair, with the tap's 8 weights twice in a register;
   * the weight gradient runs pixel by pixel instead (to keep the generic kernels' order of sums),
     with two adjacent taps per vector, times the pixel's dy twice; it reads a second plane with
     the pairs at odd columns (loads, not shuffles: fewer instructions on the one port that does
     both), and runs two images side by side, so that each accumulator's chain of adds waits half
     as often;
   * the input gradient reads the zero-padded dy plane dp ((H + 2) x (W + 2) x 8) and its copy dp1
     shifted by one pixel (again aligned loads only) against the flipped kernel, and sums each
     pixel's 8 lanes: four pairs (8 pixels) at a time through in-register transposes.

   The generic small-reduction kernels (_conv_small.h) keep one vector of output channels per
   pixel (256 bits for 8 filters) and look their taps up in offset tables; these take half the
   instructions.  Every sum is in a fixed order, whichever thread runs the image or the part. */
#ifndef FASTCONV_CONV_C1_H
#define FASTCONV_CONV_C1_H
#include <stddef.h>
#include <string.h>
#include "_simd.h"

#if defined(FC_ISA_2) && defined(__GNUC__)
#include <immintrin.h>
#define FCC1_LEVEL 2
#define FCC1_ATTR FC_ISA_ATTR(FC_ISA_2)
/* largest plane (pixels of the padded image) served: the backward's scratch, 192 bytes a pixel, stays in L2 */
#define FCC1_MAX_PLANE 4096

/* Whether these kernels serve a layer, at the level cap (-1: none) of the caller. */
static int fcc1_serves(Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Cout, Py_ssize_t H, Py_ssize_t W, int cap)
{
    return fc_simd_level() >= FCC1_LEVEL && (cap < 0 || cap >= FCC1_LEVEL) && C == 1 && Kh == 3 && Kw == 3
           && sh == 1 && sw == 1 && ph == 1 && pw == 1 && Cout == 8 && W % 2 == 0 && H >= 1 && W >= 2
           && (H + 2) * (W + 2) <= FCC1_MAX_PLANE;
}

/* acc + a * b written as the generic kernels write it (GCC's vector operators), so that the compiler
   fuses it into one rounding exactly where it fuses theirs (not at -O1, say): same bits */
#define FCC1_MADD(a, b, acc) _mm512_add_ps((acc), _mm512_mul_ps((a), (b)))

FCC1_ATTR static inline __m512 fcc1_twice(const float *p)
{
    __m256 v = _mm256_loadu_ps(p);
    return _mm512_insertf32x8(_mm512_castps256_ps512(v), v, 1);
}

/* Floats of 64-byte aligned, initially zero scratch a thread needs for H x W images (a multiple of
   16): the forward's pair plane; the backward's, for two images, then dp and dp1. */
static inline Py_ssize_t fcc1_scratch(Py_ssize_t H, Py_ssize_t W, int backward)
{
    return (backward ? 48 : 8) * (H + 2) * (W + 2);
}

/* The calling thread's scratch for H x W images: fcc1_scratch(H, W, backward) floats, 64-byte
   aligned, then `extra` floats (an NCHW stage). It is kept between calls, one for the forward and
   one for the backward, and zeroed only when allocated or when the image size changes: the kernels
   write only the planes' interiors, so their borders stay zero. Kept per thread, it stays in the
   cache of the core that uses it: a buffer zeroed by the calling thread on every call cost the
   team's other thread about a microsecond of cache-line transfers on the digits layer. A thread
   runs one call at a time, so no two calls share one. The buffers are never freed: a thread that
   has run these kernels keeps at most 0.75 MiB (the backward at the largest plane served, 8x8
   images 19 KiB). NULL if out of memory. */
static float *fcc1_thread_scratch(Py_ssize_t H, Py_ssize_t W, int backward, Py_ssize_t extra)
{
    static __thread float *buf[2];
    static __thread Py_ssize_t cap[2], at_h[2], at_w[2];
    const int k = backward ? 1 : 0;
    const Py_ssize_t zeroed = fcc1_scratch(H, W, backward), need = zeroed + extra;
    if (need > cap[k]) {
        free(buf[k]);
        cap[k] = 0;
        buf[k] = (float *)aligned_alloc(64, (size_t)((need * (Py_ssize_t)sizeof(float) + 63) & ~(Py_ssize_t)63));
        if (buf[k] == NULL) return NULL;
        cap[k] = need;
        at_h[k] = -1;
    }
    if (at_h[k] != H || at_w[k] != W) {
        memset(buf[k], 0, (size_t)zeroed * sizeof(float));
        at_h[k] = H;
        at_w[k] = W;
    }
    return buf[k];
}

/* The entry of an odd column: the upper half of entry k (its pixel 2k + 1), the lower half of k + 1 */
#define FCC1_ODD(ak, ak1) _mm512_shuffle_f32x4((ak), (ak1), _MM_SHUFFLE(1, 0, 3, 2))

/* [lo x 8, hi x 8] */
FCC1_ATTR static inline __m512 fcc1_pair(float lo, float hi)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}

/* The pair plane of image x (H x W) in xb ((H + 2) rows of R = (W + 2) / 2 entries of 16 floats),
   and if xo is not NULL the odd-column one in xo (entry k: the pixels 2k + 1 and 2k + 2); rows
   1..H are written, rows 0 and H + 1 are left as they are (zero). */
FCC1_ATTR static inline void fcc1_planes(const float *x, float *xb, float *xo, Py_ssize_t H, Py_ssize_t W)
{
    const Py_ssize_t R = (W + 2) / 2;
    for (Py_ssize_t i = 0; i < H; i++) {
        const float *s = x + i * W; /* padded pixel (i + 1, c) is s[c - 1] for 1 <= c <= W */
        float *ra = xb + (i + 1) * R * 16;
        _mm512_store_ps(ra, fcc1_pair(0.0f, s[0]));
        for (Py_ssize_t k = 1; k < R - 1; k++) _mm512_store_ps(ra + k * 16, fcc1_pair(s[2 * k - 1], s[2 * k]));
        _mm512_store_ps(ra + (R - 1) * 16, fcc1_pair(s[W - 1], 0.0f));
        if (xo == NULL) continue;
        float *ro = xo + (i + 1) * R * 16;
        for (Py_ssize_t k = 0; k < R - 1; k++) _mm512_store_ps(ro + k * 16, fcc1_pair(s[2 * k], s[2 * k + 1]));
        _mm512_store_ps(ro + (R - 1) * 16, _mm512_setzero_ps());
    }
}

/* y (N x H x W x 8) = b + the 3x3 correlation of x (N x H x W) with w (3, 3, 1, 8), padding 1, for
   the images n0..n1; xb: fcc1_scratch(H, W, 0) floats of scratch. */
FCC1_ATTR static inline __attribute__((always_inline)) void fcc1_fwd_body(
    const float *x, const float *w, const float *b, float *y, Py_ssize_t n0, Py_ssize_t n1, const Py_ssize_t H,
    const Py_ssize_t W, float *xb)
{
    const Py_ssize_t R = (W + 2) / 2;
    __m512 w2[9];
    for (int t = 0; t < 9; t++) w2[t] = fcc1_twice(w + t * 8);
    const __m512 b2 = fcc1_twice(b);
    for (Py_ssize_t n = n0; n < n1; n++) {
        float *yn = y + n * H * W * 8;
        fcc1_planes(x + n * H * W, xb, NULL, H, W);
        for (Py_ssize_t i = 0; i < H; i++)
#pragma GCC unroll 4
            for (Py_ssize_t j = 0; j < W; j += 2) {
                const float *o = xb + (i * R + j / 2) * 16;
                __m512 acc = b2;
#pragma GCC unroll 3
                for (int a = 0; a < 3; a++) { /* taps (a, 0), (a, 1), (a, 2): columns j, j + 1, j + 2 */
                    const __m512 e0 = _mm512_load_ps(o + a * R * 16), e1 = _mm512_load_ps(o + a * R * 16 + 16);
                    acc = FCC1_MADD(e0, w2[a * 3], acc);
                    acc = FCC1_MADD(FCC1_ODD(e0, e1), w2[a * 3 + 1], acc);
                    acc = FCC1_MADD(e1, w2[a * 3 + 2], acc);
                }
                _mm512_storeu_ps(yn + (i * W + j) * 8, acc);
            }
    }
}

/* fcc1_fwd_body, with the sizes constant where the image is 8 x 8 (the tutorial's: the loops then
   unroll and their offsets are constants, 0.7x the time) or 28 x 28 */
FCC1_ATTR static void fcc1_fwd(const float *x, const float *w, const float *b, float *y, Py_ssize_t n0,
                               Py_ssize_t n1, Py_ssize_t H, Py_ssize_t W, float *xb)
{
    if (H == 8 && W == 8) fcc1_fwd_body(x, w, b, y, n0, n1, 8, 8, xb);
    else if (H == 28 && W == 28) fcc1_fwd_body(x, w, b, y, n0, n1, 28, 28, xb);
    else fcc1_fwd_body(x, w, b, y, n0, n1, H, W, xb);
}

/* The 8 pixel sums of 4 pairs s[0..3] (pair k: pixels 2k, 2k + 1 in its two halves), in pixel
   order, each summed in the same order */
FCC1_ATTR static inline __m256 fcc1_pixel_sums(const __m512 *s)
{
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(s[0], s[1]), _mm512_unpackhi_ps(s[0], s[1]));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(s[2], s[3]), _mm512_unpackhi_ps(s[2], s[3]));
    /* 128-bit block k of u: [s0, s1, s2, s3] summed over block k's 4 lanes */
    const __m512 u = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))));
    /* blocks 0 + 1: the pairs' first pixels; blocks 2 + 3: their second pixels */
    const __m512 e = _mm512_add_ps(_mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(3, 1, 2, 0)),
                                   _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(2, 0, 3, 1)));
    const __m256 r = _mm512_castps512_ps256(e); /* [p0 p2 p4 p6 p1 p3 p5 p7] */
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One pixel's terms of the weight gradient, from o: the entry of its column in its row of the pair
   plane, or of the odd-column one at an odd column: acc[a][0] += taps (a, 0), (a, 1), acc[a][1] +=
   tap (a, 2) (its upper half unused), each times the pixel's dy d8 (twice); sb += d8 (the bias
   gradient) */
#define FCC1_DW_PIXEL(o, d8, acc, sb, R)                                                          \
    do {                                                                                        \
        const __m512 dv_ = _mm512_insertf32x8(_mm512_castps256_ps512(d8), (d8), 1);            \
        (sb) = _mm256_add_ps((sb), (d8));                                                       \
        _Pragma("GCC unroll 3") for (int a_ = 0; a_ < 3; a_++) {                               \
            (acc)[a_][0] = FCC1_MADD(_mm512_load_ps((o) + a_ * (R) * 16), dv_, (acc)[a_][0]);      \
            (acc)[a_][1] = FCC1_MADD(_mm512_load_ps((o) + a_ * (R) * 16 + 16), dv_, (acc)[a_][1]); \
        }                                                                                       \
    } while (0)

/* One image's weight-gradient sums over its pixels in order, from its pair planes xb (the
   odd-column one at xb + P) and its dy d; two images (xb2, e) side by side if xb2 is not NULL */
#define FCC1_DW_IMAGE(xb, d, acc, sb, xb2, e, acc2, sb2)                                            \
    for (Py_ssize_t i = 0; i < H; i++)                                                            \
        for (Py_ssize_t j = 0; j < W; j += 2) {                                                   \
            const Py_ssize_t q = (i * W + j) * 8, o = (i * R + j / 2) * 16;                       \
            FCC1_DW_PIXEL((xb) + o, _mm256_loadu_ps((d) + q), acc, sb, R);                        \
            if (xb2) FCC1_DW_PIXEL((xb2) + o, _mm256_loadu_ps((e) + q), acc2, sb2, R);            \
            FCC1_DW_PIXEL((xb) + P + o, _mm256_loadu_ps((d) + q + 8), acc, sb, R);                \
            if (xb2) FCC1_DW_PIXEL((xb2) + P + o, _mm256_loadu_ps((e) + q + 8), acc2, sb2, R);    \
        }

/* dw (72) += one image's sums acc, db (8) += sb */
FCC1_ATTR static inline void fcc1_dw_add(float *dw, float *db, __m512 acc[3][2], __m256 sb)
{
    for (int a = 0; a < 3; a++) {
        float *t0 = dw + a * 24;
        _mm512_storeu_ps(t0, _mm512_add_ps(_mm512_loadu_ps(t0), acc[a][0]));
        _mm256_storeu_ps(t0 + 16, _mm256_add_ps(_mm256_loadu_ps(t0 + 16), _mm512_castps512_ps256(acc[a][1])));
    }
    _mm256_storeu_ps(db, _mm256_add_ps(_mm256_loadu_ps(db), sb));
}

/* dx (H x W) of one image from its dy d (H x W x 8) and the flipped kernel wf; dp: two (H + 2) x
   (W + 2) x 8 planes, border zero: the zero-padded d, then the same shifted left by one pixel */
FCC1_ATTR static inline __attribute__((always_inline)) void fcc1_dx_image(
    const float *d, float *dxi, const __m512 *wf, const Py_ssize_t H, const Py_ssize_t W, float *dp)
{
    const Py_ssize_t Wp = W + 2;
    float *dp1 = dp + (H + 2) * Wp * 8; /* pixel q of dp1 is pixel q + 1 of dp */
    for (Py_ssize_t i = 0; i < H; i++) {
        memcpy(dp + ((i + 1) * Wp + 1) * 8, d + i * W * 8, W * 8 * sizeof(float));
        memcpy(dp1 + (i + 1) * Wp * 8, d + i * W * 8, W * 8 * sizeof(float));
    }
    for (Py_ssize_t i = 0; i < H; i++)
        for (Py_ssize_t j0 = 0; j0 < W; j0 += 8) {
            const int np = (int)((W - j0 < 8 ? W - j0 : 8) / 2); /* pairs in this group of pixels */
            __m512 s[4];
            for (int k = 0; k < 4; k++) {
                s[k] = _mm512_setzero_ps();
                if (k >= np) continue;
                const Py_ssize_t o = (i * Wp + j0 + 2 * k) * 8;
#pragma GCC unroll 3
                for (int a = 0; a < 3; a++) {
                    s[k] = FCC1_MADD(_mm512_load_ps(dp + o + a * Wp * 8), wf[a * 3], s[k]);
                    s[k] = FCC1_MADD(_mm512_load_ps(dp1 + o + a * Wp * 8), wf[a * 3 + 1], s[k]);
                    s[k] = FCC1_MADD(_mm512_load_ps(dp + o + (a * Wp + 2) * 8), wf[a * 3 + 2], s[k]);
                }
            }
            const __m256 px = fcc1_pixel_sums(s);
            if (np == 4) _mm256_storeu_ps(dxi + i * W + j0, px);
            else _mm256_mask_storeu_ps(dxi + i * W + j0, (__mmask8)((1u << (2 * np)) - 1), px);
        }
}

/* The gradients of images n0..n1 of x (N x H x W) and dy (N x H x W x 8): their sums over those
   images added to dw (72) and db (8), and, if dx is not NULL, dx (N x H x W) of each image.
   xb: fcc1_scratch(H, W, 1) floats of scratch.

   dw and db add each image's sums (over its pixels in order, from zero) to the part's, as the
   generic kernels do, so they are the generic kernels' bits: a 512-bit accumulator holds two
   horizontally adjacent taps (one entry of a pair plane gives both) and the pixel's 8
   values of dy twice; the third tap of each kernel row fills half of another (its other half is
   not used). Two images run side by side, their sums added to the part in image order. */
FCC1_ATTR static inline __attribute__((always_inline)) void fcc1_bwd_body(
    const float *x, const float *dy, const float *w, float *dx, float *dw, float *db, Py_ssize_t n0,
    Py_ssize_t n1, const Py_ssize_t H, const Py_ssize_t W, float *xb)
{
    const Py_ssize_t img = H * W, R = (W + 2) / 2, P = (H + 2) * R * 16; /* P: a plane's floats */
    float *xb2 = xb + 2 * P, *dp = xb + 4 * P;
    __m512 wf[9];
    for (int t = 0; t < 9; t++) wf[t] = fcc1_twice(w + (8 - t) * 8); /* the flipped kernel, for dx */
    for (Py_ssize_t n = n0; n < n1; n += 2) {
        const int two = n + 1 < n1;
        const float *d = dy + n * img * 8, *e = d + img * 8;
        __m512 acc[3][2], acc2[3][2];
        __m256 sb = _mm256_setzero_ps(), sb2 = _mm256_setzero_ps();
        for (int a = 0; a < 3; a++) acc[a][0] = acc[a][1] = acc2[a][0] = acc2[a][1] = _mm512_setzero_ps();
        fcc1_planes(x + n * img, xb, xb + P, H, W);
        if (two) {
            fcc1_planes(x + (n + 1) * img, xb2, xb2 + P, H, W);
            FCC1_DW_IMAGE(xb, d, acc, sb, xb2, e, acc2, sb2)
        } else {
            FCC1_DW_IMAGE(xb, d, acc, sb, (float *)NULL, e, acc2, sb2)
        }
        fcc1_dw_add(dw, db, acc, sb);
        if (two) fcc1_dw_add(dw, db, acc2, sb2);
        if (dx == NULL) continue;
        fcc1_dx_image(d, dx + n * img, wf, H, W, dp);
        if (two) fcc1_dx_image(e, dx + (n + 1) * img, wf, H, W, dp);
    }
}

/* fcc1_bwd_body, with constant sizes for 8 x 8 and 28 x 28 images (as fcc1_fwd) */
FCC1_ATTR static void fcc1_bwd(const float *x, const float *dy, const float *w, float *dx, float *dw,
                               float *db, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H, Py_ssize_t W,
                               float *xb)
{
    if (H == 8 && W == 8) fcc1_bwd_body(x, dy, w, dx, dw, db, n0, n1, 8, 8, xb);
    else if (H == 28 && W == 28) fcc1_bwd_body(x, dy, w, dx, dw, db, n0, n1, 28, 28, xb);
    else fcc1_bwd_body(x, dy, w, dx, dw, db, n0, n1, H, W, xb);
}

#else /* no AVX-512 level in this build: never served */
#define FCC1_MAX_PLANE 0
static int fcc1_serves(Py_ssize_t C, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                       Py_ssize_t pw, Py_ssize_t Cout, Py_ssize_t H, Py_ssize_t W, int cap)
{
    (void)C; (void)Kh; (void)Kw; (void)sh; (void)sw; (void)ph; (void)pw; (void)Cout; (void)H; (void)W; (void)cap;
    return 0;
}
static void fcc1_fwd(const float *x, const float *w, const float *b, float *y, Py_ssize_t n0, Py_ssize_t n1,
                     Py_ssize_t H, Py_ssize_t W, float *xb)
{
    (void)x; (void)w; (void)b; (void)y; (void)n0; (void)n1; (void)H; (void)W; (void)xb;
}
static void fcc1_bwd(const float *x, const float *dy, const float *w, float *dx, float *dw, float *db,
                     Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H, Py_ssize_t W, float *xb)
{
    (void)x; (void)dy; (void)w; (void)dx; (void)dw; (void)db; (void)n0; (void)n1; (void)H; (void)W; (void)xb;
}
static inline Py_ssize_t fcc1_scratch(Py_ssize_t H, Py_ssize_t W, int backward)
{
    (void)H; (void)W; (void)backward;
    return 0;
}
static float *fcc1_thread_scratch(Py_ssize_t H, Py_ssize_t W, int backward, Py_ssize_t extra)
{
    (void)H; (void)W; (void)backward; (void)extra;
    return NULL;
}
#endif
#endif
