/* Depthwise NHWC convolution loops (groups == C, one output channel per input channel), for one
   element type and one instruction set.

   The template of _conv_depthwise_kernels.h: included once per (dtype, instruction-set level)
   by _simd_instantiate.h, which sets FC_T, FC_FN, FC_ATTR and FC_VB.

   Layouts: x (N, H, W, C), weights (Kh, Kw, 1, C) read as the (Kh*Kw, C) matrix, y and dy
   (N, Ho, Wo, C).  Channels are innermost everywhere, so every loop runs over the channels in
   vectors: blocks of FCD_NV vectors, then one block of the remaining vectors, then scalars for the last C mod
   (vector width) channels (so _conv_depthwise_kernels.h picks, per call, a level whose vectors
   divide C).  Every output element is a fixed sequence of operations of its own
   (the bias, then the taps in (ki, kj) order), whichever block computes it.

   Geometry: tap (ki, kj) of output (i, j) reads x[i*sh - ph + dh*ki, j*sw - pw + dw*kj];
   ph, pw are the top and left padding (bottom and right follow from Ho, Wo). */

#define FCD_T FC_T
#define FCD_FN(n) FC_FN(n)
#define FCD_ATTR FC_ATTR
#define FCD_VB FC_VB

#ifndef FCD_COMMON_H
#define FCD_COMMON_H
#include <stddef.h>
#include <string.h>

typedef struct {
    Py_ssize_t H, W, C;    /* input image */
    Py_ssize_t Kh, Kw;     /* kernel */
    Py_ssize_t Ho, Wo;     /* output */
    Py_ssize_t ph, pw, sh, sw, dh, dw;
} fcd_geo;

#if defined(__GNUC__) && !defined(__clang__)
#define FCD_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FCD_UNROLL _Pragma("unroll")
#else
#define FCD_UNROLL
#endif
#define FCD_INLINE static inline __attribute__((always_inline))
#define FCD_NV 4
#endif

typedef FCD_T FCD_FN(v) __attribute__((vector_size(FCD_VB)));
#define FCD_L ((Py_ssize_t)(FCD_VB / sizeof(FCD_T)))

/* CALL(c0, nv) over the channel blocks of C: nv = FCD_NV vectors, then the remaining whole
   vectors (fewer than FCD_NV) in one block, so that one pass over the taps serves them all,
   then nv = 0 for the scalar tail (one channel at a time).  nv is a constant in every CALL. */
#if FCD_NV != 4
#error "FCD_BLOCKS spells out the blocks of 1 to 3 vectors"
#endif
#define FCD_BLOCKS(C, CALL)                                                          \
    do {                                                                             \
        Py_ssize_t c0_ = 0;                                                          \
        for (; c0_ + FCD_NV * FCD_L <= (C); c0_ += FCD_NV * FCD_L) CALL(c0_, FCD_NV); \
        switch (((C) - c0_) / FCD_L) {                                               \
        case 3: CALL(c0_, 3); c0_ += 3 * FCD_L; break;                               \
        case 2: CALL(c0_, 2); c0_ += 2 * FCD_L; break;                               \
        case 1: CALL(c0_, 1); c0_ += FCD_L; break;                                   \
        default: break;                                                              \
        }                                                                            \
        for (; c0_ < (C); c0_++) CALL(c0_, 0);                                       \
    } while (0)

/* One output pixel (i, j), channels c0.. (nv vectors, or one scalar if nv == 0). */
FCD_ATTR FCD_INLINE void FCD_FN(fpix)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *w, const FCD_T *bias,
                                      FCD_T *yo, Py_ssize_t i, Py_ssize_t j, Py_ssize_t c0, const int nv)
{
    const Py_ssize_t W = g->W, C = g->C, Kw = g->Kw;
    Py_ssize_t ki, kj;
    int v;
    if (nv == 0) {
        FCD_T acc = bias ? bias[c0] : 0;
        for (ki = 0; ki < g->Kh; ki++) {
            const Py_ssize_t hi = i * g->sh - g->ph + ki * g->dh;
            if (hi < 0 || hi >= g->H) continue;
            for (kj = 0; kj < Kw; kj++) {
                const Py_ssize_t wi = j * g->sw - g->pw + kj * g->dw;
                if (wi < 0 || wi >= W) continue;
                acc += ximg[(hi * W + wi) * C + c0] * w[(ki * Kw + kj) * C + c0];
            }
        }
        yo[c0] = acc;
        return;
    }
    {
        FCD_FN(v) acc[FCD_NV], a, b;
        FCD_UNROLL for (v = 0; v < nv; v++) {
            if (bias) memcpy(&acc[v], bias + c0 + v * FCD_L, sizeof acc[v]);
            else acc[v] = (FCD_FN(v)){0};
        }
        for (ki = 0; ki < g->Kh; ki++) {
            const Py_ssize_t hi = i * g->sh - g->ph + ki * g->dh;
            if (hi < 0 || hi >= g->H) continue;
            for (kj = 0; kj < Kw; kj++) {
                const Py_ssize_t wi = j * g->sw - g->pw + kj * g->dw;
                const FCD_T *xp, *wp;
                if (wi < 0 || wi >= W) continue;
                xp = ximg + (hi * W + wi) * C + c0;
                wp = w + (ki * Kw + kj) * C + c0;
                FCD_UNROLL for (v = 0; v < nv; v++) {
                    memcpy(&a, xp + v * FCD_L, sizeof a);
                    memcpy(&b, wp + v * FCD_L, sizeof b);
                    acc[v] += a * b;
                }
            }
        }
        FCD_UNROLL for (v = 0; v < nv; v++) memcpy(yo + c0 + v * FCD_L, &acc[v], sizeof acc[v]);
    }
}

/* Output row i of one image: yrow[j, c] = bias[c] + sum_(ki, kj) x[..., c] * w[ki, kj, c]; bias may be NULL. */
FCD_ATTR static void FCD_FN(fwd_row)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *w, const FCD_T *bias,
                                     FCD_T *yrow, Py_ssize_t i)
{
    const Py_ssize_t C = g->C;
    Py_ssize_t j;
    for (j = 0; j < g->Wo; j++) {
        FCD_T *yo = yrow + j * C;
#define FCD_CALL(c0, nv) FCD_FN(fpix)(g, ximg, w, bias, yo, i, j, c0, nv)
        FCD_BLOCKS(C, FCD_CALL);
#undef FCD_CALL
    }
}

/* One input-gradient pixel (h, wc), channels c0..: the sum over the taps (ki, kj) and output
   pixels (i, j) with h = i*sh - ph + dh*ki, wc = j*sw - pw + dw*kj of dy[i, j, c] * w[ki, kj, c],
   in (ki, kj) order; zero where no window reads the input. */
FCD_ATTR FCD_INLINE void FCD_FN(dpix)(const fcd_geo *g, const FCD_T *dyimg, const FCD_T *w, FCD_T *xo,
                                      Py_ssize_t h, Py_ssize_t wc, Py_ssize_t c0, const int nv)
{
    const Py_ssize_t Wo = g->Wo, C = g->C, Kw = g->Kw, sh = g->sh, sw = g->sw;
    Py_ssize_t ki, kj;
    int v;
    FCD_FN(v) acc[FCD_NV], a, b;
    FCD_T sacc = 0;
    FCD_UNROLL for (v = 0; v < nv; v++) acc[v] = (FCD_FN(v)){0};
    for (ki = 0; ki < g->Kh; ki++) {
        const Py_ssize_t num = h + g->ph - ki * g->dh;
        Py_ssize_t i;
        const FCD_T *dyr;
        /* (stride 1 needs no integer division, the costliest step of this loop otherwise) */
        if (num < 0) continue;
        if (sh == 1) i = num;
        else if (num % sh != 0) continue;
        else i = num / sh;
        if (i >= g->Ho) continue;
        dyr = dyimg + i * Wo * C;
        for (kj = 0; kj < Kw; kj++) {
            const Py_ssize_t numw = wc + g->pw - kj * g->dw;
            Py_ssize_t j;
            const FCD_T *dp, *wp;
            if (numw < 0) continue;
            if (sw == 1) j = numw;
            else if (numw % sw != 0) continue;
            else j = numw / sw;
            if (j >= Wo) continue;
            dp = dyr + j * C + c0;
            wp = w + (ki * Kw + kj) * C + c0;
            if (nv == 0) {
                sacc += dp[0] * wp[0];
                continue;
            }
            FCD_UNROLL for (v = 0; v < nv; v++) {
                memcpy(&a, dp + v * FCD_L, sizeof a);
                memcpy(&b, wp + v * FCD_L, sizeof b);
                acc[v] += a * b;
            }
        }
    }
    if (nv == 0) xo[c0] = sacc;
    else FCD_UNROLL for (v = 0; v < nv; v++) memcpy(xo + c0 + v * FCD_L, &acc[v], sizeof acc[v]);
}

/* Input-gradient row h of one image (any stride, dilation and padding), every element written. */
FCD_ATTR static void FCD_FN(dx_row)(const fcd_geo *g, const FCD_T *dyimg, const FCD_T *w, FCD_T *dxrow, Py_ssize_t h)
{
    const Py_ssize_t C = g->C;
    Py_ssize_t wc;
    for (wc = 0; wc < g->W; wc++) {
        FCD_T *xo = dxrow + wc * C;
#define FCD_CALL(c0, nv) FCD_FN(dpix)(g, dyimg, w, xo, h, wc, c0, nv)
        FCD_BLOCKS(C, FCD_CALL);
#undef FCD_CALL
    }
}

/* dwt[c0..] += sum_j xr[(j*sw - o)*C + c0..] * dy[j*C + c0..] over the output pixels jlo..jhi of one row. */
FCD_ATTR FCD_INLINE void FCD_FN(wblock)(const FCD_T *xr, const FCD_T *dy, FCD_T *dwt, Py_ssize_t C, Py_ssize_t step,
                                        Py_ssize_t jlo, Py_ssize_t jhi, Py_ssize_t c0, const int nv)
{
    Py_ssize_t j;
    int v;
    const FCD_T *xp = xr + c0, *dp = dy + jlo * C + c0;
    if (nv == 0) {
        FCD_T acc = dwt[c0];
        for (j = jlo; j < jhi; j++, xp += step, dp += C) acc += xp[0] * dp[0];
        dwt[c0] = acc;
        return;
    }
    {
        FCD_FN(v) acc[FCD_NV], a, b;
        FCD_UNROLL for (v = 0; v < nv; v++) memcpy(&acc[v], dwt + c0 + v * FCD_L, sizeof acc[v]);
        for (j = jlo; j < jhi; j++, xp += step, dp += C) {
            FCD_UNROLL for (v = 0; v < nv; v++) {
                memcpy(&a, xp + v * FCD_L, sizeof a);
                memcpy(&b, dp + v * FCD_L, sizeof b);
                acc[v] += a * b;
            }
        }
        FCD_UNROLL for (v = 0; v < nv; v++) memcpy(dwt + c0 + v * FCD_L, &acc[v], sizeof acc[v]);
    }
}

/* dwp (Kh*Kw, C) += the weight gradient of output row i of one image; dy: that row's gradient. */
FCD_ATTR static void FCD_FN(dw_row)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *dy, FCD_T *dwp, Py_ssize_t i)
{
    const Py_ssize_t W = g->W, C = g->C, Kw = g->Kw, sw = g->sw, Wo = g->Wo;
    Py_ssize_t ki, kj, jlo, jhi;
    for (ki = 0; ki < g->Kh; ki++) {
        const Py_ssize_t hi = i * g->sh - g->ph + ki * g->dh;
        if (hi < 0 || hi >= g->H) continue;
        for (kj = 0; kj < Kw; kj++) {
            /* j*sw - o in [0, W), o = pw - kj*dw */
            const Py_ssize_t o = g->pw - kj * g->dw;
            const FCD_T *xr;
            FCD_T *dwt = dwp + (ki * Kw + kj) * C;
            jlo = o > 0 ? (o + sw - 1) / sw : 0;
            jhi = W + o > 0 ? (W + o + sw - 1) / sw : 0;
            if (jhi > Wo) jhi = Wo;
            if (jlo >= jhi) continue;
            xr = ximg + (hi * W + jlo * sw - o) * C;
#define FCD_CALL(c0, nv) FCD_FN(wblock)(xr, dy, dwt, C, sw * C, jlo, jhi, c0, nv)
            FCD_BLOCKS(C, FCD_CALL);
#undef FCD_CALL
        }
    }
}

/* dbt[c0..] += dy[j*C + c0..] for j = 0 .. Wo-1, in that order (nv vectors, or one scalar if nv == 0). */
FCD_ATTR FCD_INLINE void FCD_FN(bblock)(const FCD_T *dy, FCD_T *dbt, Py_ssize_t C, Py_ssize_t Wo, Py_ssize_t c0,
                                        const int nv)
{
    Py_ssize_t j;
    int v;
    const FCD_T *dp = dy + c0;
    if (nv == 0) {
        FCD_T acc = dbt[c0];
        for (j = 0; j < Wo; j++, dp += C) acc += dp[0];
        dbt[c0] = acc;
        return;
    }
    {
        FCD_FN(v) acc[FCD_NV], a;
        FCD_UNROLL for (v = 0; v < nv; v++) memcpy(&acc[v], dbt + c0 + v * FCD_L, sizeof acc[v]);
        for (j = 0; j < Wo; j++, dp += C) {
            FCD_UNROLL for (v = 0; v < nv; v++) {
                memcpy(&a, dp + v * FCD_L, sizeof a);
                acc[v] += a;
            }
        }
        FCD_UNROLL for (v = 0; v < nv; v++) memcpy(dbt + c0 + v * FCD_L, &acc[v], sizeof acc[v]);
    }
}

/* dbp (C,) += the bias gradient of one output row (dy: that row's gradient), each channel summed
   over the row's pixels in order (the same sequence of additions at every level). */
FCD_ATTR static void FCD_FN(db_row)(const fcd_geo *g, const FCD_T *dy, FCD_T *dbp)
{
    const Py_ssize_t C = g->C, Wo = g->Wo;
#define FCD_CALL(c0, nv) FCD_FN(bblock)(dy, dbp, C, Wo, c0, nv)
    FCD_BLOCKS(C, FCD_CALL);
#undef FCD_CALL
}

/* vector lanes of this level's kernels */
static Py_ssize_t FCD_FN(lanes)(void) { return FCD_L; }

#undef FCD_L
#undef FCD_T
#undef FCD_FN
#undef FCD_ATTR
#undef FCD_VB
