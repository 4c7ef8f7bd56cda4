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
    int stream;            /* non-temporal stores of the forward's / input gradient's interior blocks */
} fcd_geo;

#if defined(__GNUC__) && !defined(__clang__)
#define FCD_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FCD_UNROLL _Pragma("unroll")
#else
#define FCD_UNROLL
#endif
#define FCD_INLINE static inline __attribute__((always_inline))
#if defined(FC_X86_DISPATCH)
#include <immintrin.h>
#define FCD_SFENCE() _mm_sfence()  /* order a row's non-temporal stores before later stores */
#else
#define FCD_SFENCE() ((void)0)
#endif
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

/* Output pixels j0..j1-1 of row i of one image, every channel, one pixel at a time (any geometry). */
FCD_ATTR static void FCD_FN(fwd_pixels)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *w, const FCD_T *bias,
                                        FCD_T *yrow, Py_ssize_t i, Py_ssize_t j0, Py_ssize_t j1)
{
    const Py_ssize_t C = g->C;
    Py_ssize_t j;
    for (j = j0; j < j1; j++) {
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
FCD_ATTR static void FCD_FN(dx_row_any)(const fcd_geo *g, const FCD_T *dyimg, const FCD_T *w, FCD_T *dxrow, Py_ssize_t h)
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
FCD_ATTR static void FCD_FN(dw_row_any)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *dy, FCD_T *dwp, Py_ssize_t i)
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

/* ---- 3x3 kernels, column stride 1 or 2, column dilation 1: the interior of a row in blocks ----

   The columns of a row where every tap of the row lies inside the image (the interior) run one
   channel vector at a time over the row: the forward and the input gradient compute FCD_JB
   outputs at once with the vector's 9 weights held in registers, the weight gradient keeps the
   9 taps' sums in registers over the row.  Each output element is still the same sequence of
   operations as in fpix, dpix and wblock (bias, then the taps in (ki, kj) order; the weight
   gradient's sums in pixel order), so results are bit-identical to the general loops, which
   compute the columns at the row's edges and the channels past the last whole vector. */
#define FCD_JB FC_CAT(FCD_JB_, FC_ISA)
#define FCD_JBW 8  /* output columns per block of the weight gradient */
#ifndef FCD_JB_base
#define FCD_JB_base 4
#define FCD_JB_avx2 4
#define FCD_JB_avx512 8
#endif

/* FCD_NT(p, v): a non-temporal store of vector v to the FC_VB-aligned address p (x86 levels with
   whole vectors of cache lines or halves of them); FCD_CAN_NT says whether this level has one */
#undef FCD_NT
#undef FCD_CAN_NT
#if defined(FC_X86_DISPATCH) && FC_VB == 32
#define FCD_NT(p, v) _mm256_stream_si256((__m256i *)(p), (__m256i)(v))
#define FCD_CAN_NT 1
#elif defined(FC_X86_DISPATCH) && FC_VB == 64
#define FCD_NT(p, v) _mm512_stream_si512((__m512i *)(p), (__m512i)(v))
#define FCD_CAN_NT 1
#else
#define FCD_NT(p, v) memcpy((p), &(v), sizeof(v))
#define FCD_CAN_NT 0
#endif

/* The blocked loops' five kinds of row (M, a constant in every call):
     0  forward, column stride 1:  output jj reads columns jj + kj             (from the block's first column)
     1  forward, column stride 2:  output jj reads columns 2*jj + kj
     2  input gradient, stride 1:  output jj reads dy columns jj + 2 - kj
     3  input gradient, stride 2, the columns whose taps kj = 0, 2 hit outputs: dy columns jj + (2 - kj)/2
     4  input gradient, stride 2, the other columns (tap kj = 1 only):          dy column jj
   Kinds 3 and 4 write every other column (output stride 2 pixels). */
#define FCD_M_STEP(M) ((M) == 1 ? 2 : 1)
#define FCD_M_OUT(M) ((M) >= 3 ? 2 : 1)
#define FCD_M_TAP(M, kj) ((M) == 3 ? (kj) != 1 : (M) == 4 ? (kj) == 1 : 1)
#define FCD_M_COL(M, jj, kj) ((M) == 0 ? (jj) + (kj) : (M) == 1 ? 2 * (jj) + (kj) : (M) == 2 ? (jj) + 2 - (kj) \
                              : (M) == 3 ? (jj) + (2 - (kj)) / 2 : (jj))

/* out[jj*FCD_M_OUT(M)*C + 0..L) for jj < nb: acc = bias[0..L) (or 0); then for ki = 0, 1, 2 with
   rows[ki] != NULL and the taps kj of kind M in order: acc += rows[ki][FCD_M_COL(M, jj, kj) * C + 0..L)
   * w[(3*ki + kj) * C + 0..L). */
FCD_ATTR FCD_INLINE void FCD_FN(blk3)(const FCD_T *const rows[3], Py_ssize_t C, const FCD_T *w,
                                      const FCD_T *bias, FCD_T *out, const int nb, const int M, const int nt)
{
    FCD_FN(v) acc[FCD_JB], a, wv[9];
    const Py_ssize_t os = FCD_M_OUT(M) * C;
    int jj, ki, kj;
    FCD_UNROLL for (jj = 0; jj < 9; jj++) memcpy(&wv[jj], w + jj * C, sizeof a);
    if (bias) memcpy(&a, bias, sizeof a);
    else a = (FCD_FN(v)){0};
    FCD_UNROLL for (jj = 0; jj < nb; jj++) acc[jj] = a;
    FCD_UNROLL for (ki = 0; ki < 3; ki++) {
        const FCD_T *r = rows[ki];
        if (!r) continue;
        FCD_UNROLL for (kj = 0; kj < 3; kj++) {
            if (!FCD_M_TAP(M, kj)) continue;
            FCD_UNROLL for (jj = 0; jj < nb; jj++) {
                memcpy(&a, r + FCD_M_COL(M, jj, kj) * C, sizeof a);
                acc[jj] += a * wv[3 * ki + kj];
            }
        }
    }
    if (nt) FCD_UNROLL for (jj = 0; jj < nb; jj++) FCD_NT(out + jj * os, acc[jj]);
    else FCD_UNROLL for (jj = 0; jj < nb; jj++) memcpy(out + jj * os, &acc[jj], sizeof a);
}

/* Outputs j0..j1-1 of a row of kind M (see blk3), every whole channel vector: output j reads
   columns from rows[ki] + j*FCD_M_STEP(M)*C and is written at out + j*FCD_M_OUT(M)*C.  Blocks of
   FCD_JB outputs, all channel vectors of a block before the next block.  Returns the first
   channel not done. */
FCD_ATTR FCD_INLINE Py_ssize_t FCD_FN(run3)(const FCD_T *const rows[3], const FCD_T *w, const FCD_T *bias,
                                            FCD_T *out, Py_ssize_t C, Py_ssize_t j0, Py_ssize_t j1,
                                            const int M, const int nt)
{
    const Py_ssize_t cv = C - C % FCD_L, is = FCD_M_STEP(M) * C, os = FCD_M_OUT(M) * C;
    Py_ssize_t c0, j;
    int t;
    if (FCD_JB >= 8 && j1 - j0 < FCD_JB && j1 - j0 >= FCD_JB / 2) {
        /* a row narrower than a block (the interior of a 7x7 or 8x8 image at AVX-512): blocks of
           half the width, the last overlapping the one before, rather than one output at a time,
           whose single sum is a chain of 9 dependent multiply-adds */
        for (j = j0; j < j1; j += FCD_JB / 2) {
            if (j + FCD_JB / 2 > j1) j = j1 - FCD_JB / 2;
            for (c0 = 0; c0 < cv; c0 += FCD_L) {
                const FCD_T *rc[3], *bc = bias ? bias + c0 : NULL;
                for (t = 0; t < 3; t++) rc[t] = rows[t] ? rows[t] + j * is + c0 : NULL;
                FCD_FN(blk3)(rc, C, w + c0, bc, out + j * os + c0, FCD_JB / 2, M, nt);
            }
        }
        return cv;
    }
    for (j = j0; j < j1; j += FCD_JB) {
        /* the last block ends at j1, overlapping the one before (its outputs computed twice, the
           same values), when the columns are not a whole number of blocks */
        const int full = j1 - j0 >= FCD_JB;
        if (full && j + FCD_JB > j1) j = j1 - FCD_JB;
        for (c0 = 0; c0 < cv; c0 += FCD_L) {
            const FCD_T *rc[3], *bc = bias ? bias + c0 : NULL;
            for (t = 0; t < 3; t++) rc[t] = rows[t] ? rows[t] + j * is + c0 : NULL;
            if (full) {
                FCD_FN(blk3)(rc, C, w + c0, bc, out + j * os + c0, FCD_JB, M, nt);
            } else {
                Py_ssize_t jj;
                for (jj = j; jj < j1; jj++) {
                    FCD_FN(blk3)(rc, C, w + c0, bc, out + jj * os + c0, 1, M, nt);
                    for (t = 0; t < 3; t++) if (rc[t]) rc[t] += is;
                }
            }
        }
    }
    return cv;
}

/* run3 with non-temporal stores, then a fence */
FCD_ATTR FCD_INLINE Py_ssize_t FCD_FN(run3_fenced)(const FCD_T *const rows[3], const FCD_T *w, const FCD_T *bias,
                                                   FCD_T *out, Py_ssize_t C, Py_ssize_t j0, Py_ssize_t j1,
                                                   const int M)
{
    const Py_ssize_t c = FCD_FN(run3)(rows, w, bias, out, C, j0, j1, M, 1);
    FCD_SFENCE();
    return c;
}

/* whether a row's interior blocks go out with non-temporal stores: asked for, and every vector
   store of the row (channel vectors of whole-vector pixels) aligned; *row is a row of the output */
#define FCD_STREAMS(g, row) (FCD_CAN_NT && (g)->stream && (size_t)(row) % FC_VB == 0 \
                             && ((g)->C * (Py_ssize_t)sizeof(FCD_T)) % FC_VB == 0)

/* run3 for outputs j0..j1-1 of the row at out (an output row, or its first pixel of a class),
   with non-temporal stores where FCD_STREAMS allows them (then fenced); returns as run3 */
#define FCD_RUN3(g, row, rows, w, bias, out, j0, j1, M)                                   \
    (FCD_STREAMS(g, row) ? FCD_FN(run3_fenced)(rows, w, bias, out, (g)->C, j0, j1, M)     \
                         : FCD_FN(run3)(rows, w, bias, out, (g)->C, j0, j1, M, 0))

/* whether the blocked 3x3 loops serve the forward / weight gradient (fwd3) and the input gradient (dx3) */
#define FCD_FWD3(g) ((g)->Kh == 3 && (g)->Kw == 3 && (g)->dw == 1 && ((g)->sw == 1 || (g)->sw == 2))
#define FCD_DX3(g) ((g)->Kh == 3 && (g)->Kw == 3 && (g)->dw == 1 && (g)->sh == 1 && (g)->sw == 1)
#define FCD_DX3S2(g) ((g)->Kh == 3 && (g)->Kw == 3 && (g)->dw == 1 && (g)->sh == 2 && (g)->sw == 2)

/* The interior output columns [*jlo, *jhi) of a row: every column tap j*sw - pw + kj, kj < 3, in [0, W). */
FCD_INLINE void FCD_FN(interior3)(const fcd_geo *g, Py_ssize_t *jlo, Py_ssize_t *jhi)
{
    const Py_ssize_t sw = g->sw, pw = g->pw;
    Py_ssize_t lo = (pw + sw - 1) / sw, hi = g->W - 3 + pw >= 0 ? (g->W - 3 + pw) / sw + 1 : 0;
    if (hi > g->Wo) hi = g->Wo;
    if (lo > g->Wo) lo = g->Wo;
    if (hi < lo) hi = lo;
    *jlo = lo;
    *jhi = hi;
}

/* Output row i of one image: yrow[j, c] = bias[c] + sum_(ki, kj) x[..., c] * w[ki, kj, c]; bias may be NULL. */
FCD_ATTR static void FCD_FN(fwd_row)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *w, const FCD_T *bias,
                                     FCD_T *yrow, Py_ssize_t i)
{
    const Py_ssize_t C = g->C, W = g->W;
    const FCD_T *rows[3];
    Py_ssize_t jlo, jhi, c, j, ki;
    if (!FCD_FWD3(g)) {
        FCD_FN(fwd_pixels)(g, ximg, w, bias, yrow, i, 0, g->Wo);
        return;
    }
    FCD_FN(interior3)(g, &jlo, &jhi);
    for (ki = 0; ki < 3; ki++) {
        const Py_ssize_t hi = i * g->sh - g->ph + ki * g->dh;
        rows[ki] = hi >= 0 && hi < g->H ? ximg + (hi * W - g->pw) * C : NULL;
    }
    FCD_FN(fwd_pixels)(g, ximg, w, bias, yrow, i, 0, jlo);
    c = g->sw == 1 ? FCD_RUN3(g, yrow, rows, w, bias, yrow, jlo, jhi, 0)
                   : FCD_RUN3(g, yrow, rows, w, bias, yrow, jlo, jhi, 1);
    for (; c < C; c++)
        for (j = jlo; j < jhi; j++) FCD_FN(fpix)(g, ximg, w, bias, yrow + j * C, i, j, c, 0);
    FCD_FN(fwd_pixels)(g, ximg, w, bias, yrow, i, jhi, g->Wo);
}

/* dxrow[wc] for the input columns wc = a0, a0 + 2, ... of one parity class (all channels), M = 3
   or 4 (see blk3): column wc = a0 + 2m reads dy columns base + m (+ 1 for M = 3) of rows[]. */
FCD_ATTR FCD_INLINE void FCD_FN(dx_class_s2)(const fcd_geo *g, const FCD_T *dyimg, const FCD_T *w, FCD_T *dxrow,
                                             Py_ssize_t h, const FCD_T *const rows[3], Py_ssize_t a0,
                                             Py_ssize_t base, const int M)
{
    const Py_ssize_t C = g->C, W = g->W, span = M == 3 ? 1 : 0;
    const Py_ssize_t count = a0 < W ? (W - a0 + 1) / 2 : 0;
    Py_ssize_t mlo = base < 0 ? -base : 0, mhi = g->Wo - span - base, m, c;
    const FCD_T *rb[3];
    int t;
    if (mhi > count) mhi = count;
    if (mlo > count) mlo = count;
    if (mhi < mlo) mhi = mlo;
    /* the columns before and after the interior, one pixel at a time */
#define FCD_CALL(c0, nv) FCD_FN(dpix)(g, dyimg, w, dxrow + (a0 + 2 * m) * C, h, a0 + 2 * m, c0, nv)
    for (m = 0; m < mlo; m++) FCD_BLOCKS(C, FCD_CALL);
    for (m = mhi; m < count; m++) FCD_BLOCKS(C, FCD_CALL);
#undef FCD_CALL
    if (mhi == mlo) return;
    for (t = 0; t < 3; t++) rb[t] = rows[t] ? rows[t] + (base + mlo) * C : NULL;
    c = FCD_RUN3(g, dxrow, rb, w, NULL, dxrow + (a0 + 2 * mlo) * C, 0, mhi - mlo, M);
    for (; c < C; c++)
        for (m = mlo; m < mhi; m++) FCD_FN(dpix)(g, dyimg, w, dxrow + (a0 + 2 * m) * C, h, a0 + 2 * m, c, 0);
}

/* Input-gradient row h of one image, 3x3 stride 2: the columns in two parity classes, those
   that taps kj = 0 and 2 reach and those that tap kj = 1 reaches; every element written. */
FCD_ATTR static void FCD_FN(dx_row_s2)(const fcd_geo *g, const FCD_T *dyimg, const FCD_T *w, FCD_T *dxrow,
                                       Py_ssize_t h)
{
    const Py_ssize_t pw = g->pw, a = pw % 2, b = (pw + 1) % 2;
    const FCD_T *rows[3];
    Py_ssize_t ki;
    for (ki = 0; ki < 3; ki++) {
        const Py_ssize_t num = h + g->ph - ki * g->dh;
        rows[ki] = num >= 0 && num % 2 == 0 && num / 2 < g->Ho ? dyimg + (num / 2) * g->Wo * g->C : NULL;
    }
    /* class a: wc = a + 2m reads dy columns (wc + pw)/2 - 1 (kj = 2) and (wc + pw)/2 (kj = 0);
       class b: wc = b + 2m reads (wc + pw - 1)/2 (kj = 1) */
    FCD_FN(dx_class_s2)(g, dyimg, w, dxrow, h, rows, a, (a + pw) / 2 - 1, 3);
    FCD_FN(dx_class_s2)(g, dyimg, w, dxrow, h, rows, b, (b + pw - 1) / 2, 4);
}

/* Input-gradient row h of one image (any stride, dilation and padding), every element written. */
FCD_ATTR static void FCD_FN(dx_row)(const fcd_geo *g, const FCD_T *dyimg, const FCD_T *w, FCD_T *dxrow, Py_ssize_t h)
{
    const Py_ssize_t C = g->C, Wo = g->Wo, pw = g->pw;
    const FCD_T *rows[3];
    Py_ssize_t lo, hi, c, wc, ki;
    if (FCD_DX3S2(g)) {
        FCD_FN(dx_row_s2)(g, dyimg, w, dxrow, h);
        return;
    }
    if (!FCD_DX3(g)) {
        FCD_FN(dx_row_any)(g, dyimg, w, dxrow, h);
        return;
    }
    /* interior: every column tap wc + pw - kj, kj < 3, in [0, Wo) */
    lo = 2 - pw > 0 ? 2 - pw : 0;
    hi = Wo - pw < g->W ? Wo - pw : g->W;
    if (lo > g->W) lo = g->W;
    if (hi < lo) hi = lo;
    for (ki = 0; ki < 3; ki++) {
        const Py_ssize_t i = h + g->ph - ki * g->dh;
        rows[ki] = i >= 0 && i < g->Ho ? dyimg + (i * Wo + pw - 2) * C : NULL;
    }
    for (wc = 0; wc < lo; wc++) {
#define FCD_CALL(c0, nv) FCD_FN(dpix)(g, dyimg, w, dxrow + wc * C, h, wc, c0, nv)
        FCD_BLOCKS(C, FCD_CALL);
    }
    c = FCD_RUN3(g, dxrow, rows, w, NULL, dxrow, lo, hi, 2);
    for (; c < C; c++)
        for (wc = lo; wc < hi; wc++) FCD_FN(dpix)(g, dyimg, w, dxrow + wc * C, h, wc, c, 0);
    for (wc = hi; wc < g->W; wc++) {
        FCD_BLOCKS(C, FCD_CALL);
#undef FCD_CALL
    }
}

/* acc[3*ki + kj] += x[tap (ki, kj) of output column j] * dy[j] for the channel vector at c0: every
   tap of a row inside the image (all), or only the taps kj with jt[kj][0] <= j < jt[kj][1]. */
FCD_ATTR FCD_INLINE void FCD_FN(wcol3)(const FCD_T *const rows[3], const FCD_T *dy, FCD_FN(v) acc[9],
                                       const Py_ssize_t jt[3][2], Py_ssize_t C, Py_ssize_t sw, Py_ssize_t j,
                                       Py_ssize_t c0, const int all)
{
    const Py_ssize_t off = j * sw * C + c0;
    FCD_FN(v) a, d;
    int ki, kj;
    memcpy(&d, dy + j * C + c0, sizeof d);
    FCD_UNROLL for (ki = 0; ki < 3; ki++) {
        if (!rows[ki]) continue;
        FCD_UNROLL for (kj = 0; kj < 3; kj++) {
            if (!all && (j < jt[kj][0] || j >= jt[kj][1])) continue;
            memcpy(&a, rows[ki] + off + kj * C, sizeof a);
            acc[3 * ki + kj] += a * d;
        }
    }
}

/* dwp (Kh*Kw, C) += the weight gradient of output row i of one image; dy: that row's gradient. */
FCD_ATTR static void FCD_FN(dw_row)(const fcd_geo *g, const FCD_T *ximg, const FCD_T *dy, FCD_T *dwp, Py_ssize_t i)
{
    const Py_ssize_t W = g->W, C = g->C, sw = g->sw, pw = g->pw, Wo = g->Wo;
    const FCD_T *rows[3];
    Py_ssize_t jlo, jhi, jt[3][2], c0, j0, j, ki, kj;
    int t;
    if (!FCD_FWD3(g)) {
        FCD_FN(dw_row_any)(g, ximg, dy, dwp, i);
        return;
    }
    FCD_FN(interior3)(g, &jlo, &jhi);
    if (jlo >= jhi) {
        FCD_FN(dw_row_any)(g, ximg, dy, dwp, i);
        return;
    }
    for (ki = 0; ki < 3; ki++) {
        const Py_ssize_t hi = i * g->sh - g->ph + ki * g->dh;
        rows[ki] = hi >= 0 && hi < g->H ? ximg + (hi * W - pw) * C : NULL;
    }
    /* the output columns [jt[kj][0], jt[kj][1]) whose tap kj lies inside the row (wblock's jlo, jhi) */
    for (kj = 0; kj < 3; kj++) {
        const Py_ssize_t o = pw - kj;
        jt[kj][0] = o > 0 ? (o + sw - 1) / sw : 0;
        jt[kj][1] = W + o > 0 ? (W + o + sw - 1) / sw : 0;
        if (jt[kj][1] > Wo) jt[kj][1] = Wo;
    }
    /* blocks of FCD_JBW output columns, every whole channel vector of a block before the next
       block; a block's sums kept in registers, each tap's sum in pixel order (the edge columns
       before the interior, the interior, the edge columns after) */
    for (j0 = 0; j0 < Wo; j0 += FCD_JBW) {
        const Py_ssize_t j1 = j0 + FCD_JBW < Wo ? j0 + FCD_JBW : Wo;
        const Py_ssize_t e0 = j1 < jlo ? j1 : jlo, e1 = j0 > jhi ? j0 : jhi;
        for (c0 = 0; c0 + FCD_L <= C; c0 += FCD_L) {
            FCD_FN(v) acc[9], a;
            for (t = 0; t < 9; t++) memcpy(&acc[t], dwp + t * C + c0, sizeof a);
            for (j = j0; j < e0; j++) FCD_FN(wcol3)(rows, dy, acc, jt, C, sw, j, c0, 0);
            for (j = j0 > jlo ? j0 : jlo; j < (j1 < jhi ? j1 : jhi); j++)
                FCD_FN(wcol3)(rows, dy, acc, jt, C, sw, j, c0, 1);
            for (j = e1; j < j1; j++) FCD_FN(wcol3)(rows, dy, acc, jt, C, sw, j, c0, 0);
            for (t = 0; t < 9; t++) memcpy(dwp + t * C + c0, &acc[t], sizeof a);
        }
    }
    c0 = C - C % FCD_L;
    /* the channels past the last whole vector, one tap at a time as in dw_row_any */
    for (; c0 < C; c0++)
        for (ki = 0; ki < 3; ki++) {
            if (!rows[ki]) continue;
            for (kj = 0; kj < 3; kj++) {
                if (jt[kj][0] >= jt[kj][1]) continue;
                FCD_FN(wblock)(rows[ki] + (jt[kj][0] * sw + kj) * C, dy, dwp + (3 * ki + kj) * C, C, sw * C,
                               jt[kj][0], jt[kj][1], c0, 0);
            }
        }
}

/* vector lanes of this level's kernels */
static Py_ssize_t FCD_FN(lanes)(void) { return FCD_L; }

#undef FCD_L
#undef FCD_T
#undef FCD_FN
#undef FCD_ATTR
#undef FCD_VB
