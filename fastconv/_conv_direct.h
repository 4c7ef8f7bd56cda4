/* Direct (implicit-GEMM) NHWC convolution loops, for one element type and one instruction set.

   A template: _conv_direct_kernels.h includes it once per (type, instruction-set level) through
   _simd_instantiate.h, and the lines below give this family's names to that pass's macros:
     FCK_T       element type (float or double)
     FCK_FN(n)   the function name for this instantiation
     FCK_ATTR    function attributes (empty, or __attribute__((target("avx2,fma"))))
     FCK_VB      bytes per vector register (16 for SSE2, 32 for AVX2)
     FCK_R       output pixels per register block of the forward and dx (FCK_R x FCK_NV
                 accumulators), the level's FCK_R_<level> (at most 16)
     FCK_NV      vectors per panel row (FCK_CB = FCK_NV x lanes output channels per panel),
                 the level's FCK_NV_<level>
     FCK_TB      input channels per register block of dw (FCK_TB x FCK_NV accumulators),
                 the level's FCK_TB_<level> (at most 12)

   Layouts: x (N, H, W, C), weights (Kh, Kw, C, Cout) read as the (K = Kh*Kw*C, Cout) matrix,
   y (N, Ho, Wo, Cout).  The weights are packed once per call into column panels of FCK_CB
   output channels (zero-padded past Cout): wpk[cb][t][0:FCK_CB], t = (ki, kj, c).

   Forward (fwd_row): one output row (n, i) at a time.  A register block holds FCK_R adjacent
   output pixels x FCK_CB output channels; for each tap (ki, kj) whose input row is inside the
   image, each pixel's C input values are contiguous in x, so the block is an outer-product
   update per input channel: FCK_NV vector loads of the panel, FCK_R broadcasts of x, FCK_R*FCK_NV
   FMAs.  Columns outside the image read a row of zeros; rows outside the image are skipped.
   Every output is bias + the taps in (ki, kj, c) order.

   Options (fck_geo): tap (ki, kj) of output (i, j) reads x[i*sh - ph + dh*ki, j*sw - pw + dw*kj]
   (ph, pw: top and left padding; bottom and right follow from Ho, Wo).  Groups: C and Cout are
   one group's channels, and the pixel strides of x and y are xs and ys (all channels), so a
   group is a channel offset into the same arrays, with its own packed weights.

   Weight gradient (dw_row): dw[t, co] += sum_j xwindow(i, j)[t] * dy[i, j, co] over the
   pixels j of one output row whose window column lies inside the image; FCK_TB input channels
   of one (ki, kj) x FCK_CB output channels in registers, loaded from and stored back to a
   (K, Coutp) part of the result (Coutp = Cout rounded up to FCK_CB) once per row. */

#define FCK_T FC_T
#define FCK_FN(n) FC_FN(n)
#define FCK_ATTR FC_ATTR
#define FCK_VB FC_VB
/* tuning per instruction-set level: output pixels per register block of the forward and dx,
   vectors per panel row, input channels per register block of dw */
#define FCK_R_base 4
#define FCK_R_avx2 6
#define FCK_R_avx512 8
#define FCK_NV_base 2
#define FCK_NV_avx2 2
#define FCK_NV_avx512 2
#define FCK_TB_base 6
#define FCK_TB_avx2 6
#define FCK_TB_avx512 8
#define FCK_R FC_CAT(FCK_R_, FC_ISA)

#ifndef FCK_COMMON_H
#define FCK_COMMON_H
#include <stddef.h>
#include <string.h>

typedef struct {
    Py_ssize_t H, W, C;       /* input image */
    Py_ssize_t Kh, Kw, Cout;  /* kernel */
    Py_ssize_t Ho, Wo;        /* output */
    Py_ssize_t ph, pw, sh, sw;
    Py_ssize_t dh, dw;        /* dilation */
    Py_ssize_t xs, ys;        /* pixel strides of x and y: C and Cout, or more when C and Cout are
                                 one group's channels within wider arrays */
} fck_geo;

#if defined(__GNUC__) && !defined(__clang__)
#define FCK_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FCK_UNROLL _Pragma("unroll")
#else
#define FCK_UNROLL
#endif
#define FCK_INLINE static inline __attribute__((always_inline))
/* CALL(k) with the block width k = n as a compile-time constant (n in 1..FCK_R), so each width
   gets its own fully unrolled block. */
#define FCK_BY_NP(n, CALL)                                                          \
    switch (n) {                                                                    \
    FCK_NP_XHI(CALL)                                                                \
    FCK_NP_HI(CALL)                                                                 \
    FCK_NP_MID(CALL)                                                                \
    case 4: CALL(4); break;                                                         \
    case 3: CALL(3); break;                                                         \
    case 2: CALL(2); break;                                                         \
    default: CALL(1); break;                                                        \
    }
#endif

/* the cases of FCK_BY_NP above 4, for this instantiation's FCK_R */
#undef FCK_NP_XHI
#undef FCK_NP_HI
#undef FCK_NP_MID
#if FCK_R >= 16
#define FCK_NP_XHI(CALL) case 16: CALL(16); break; case 15: CALL(15); break; case 14: CALL(14); break; \
    case 13: CALL(13); break; case 12: CALL(12); break; case 11: CALL(11); break; case 10: CALL(10); break; \
    case 9: CALL(9); break;
#elif FCK_R >= 12
#define FCK_NP_XHI(CALL) case 12: CALL(12); break; case 11: CALL(11); break; case 10: CALL(10); break; \
    case 9: CALL(9); break;
#elif FCK_R >= 10
#define FCK_NP_XHI(CALL) case 10: CALL(10); break; case 9: CALL(9); break;
#else
#define FCK_NP_XHI(CALL)
#endif
#if FCK_R >= 8
#define FCK_NP_HI(CALL) case 8: CALL(8); break; case 7: CALL(7); break;
#else
#define FCK_NP_HI(CALL)
#endif
#if FCK_R >= 6
#define FCK_NP_MID(CALL) case 6: CALL(6); break; case 5: CALL(5); break;
#else
#define FCK_NP_MID(CALL)
#endif

/* the same switch for the blocks of one vector per pixel (panels with at most one vector's
   worth of columns): widths up to FCK_RW = FCK_R * FCK_NV */
#undef FCK_RW
#undef FCK_NPW_16
#undef FCK_NPW_12
#undef FCK_NPW_8
#define FCK_RW (FCK_R * FC_CAT(FCK_NV_, FC_ISA))
#if FCK_RW >= 16
#define FCK_NPW_16(CALL) case 16: CALL(16); break; case 15: CALL(15); break; case 14: CALL(14); break; \
    case 13: CALL(13); break;
#else
#define FCK_NPW_16(CALL)
#endif
#if FCK_RW >= 12
#define FCK_NPW_12(CALL) case 12: CALL(12); break; case 11: CALL(11); break; case 10: CALL(10); break; \
    case 9: CALL(9); break;
#else
#define FCK_NPW_12(CALL)
#endif
#if FCK_RW >= 8
#define FCK_NPW_8(CALL) case 8: CALL(8); break; case 7: CALL(7); break; case 6: CALL(6); break; \
    case 5: CALL(5); break;
#else
#define FCK_NPW_8(CALL)
#endif
#define FCK_BY_NPW(n, CALL)                                                         \
    switch (n) {                                                                    \
    FCK_NPW_16(CALL)                                                                \
    FCK_NPW_12(CALL)                                                                \
    FCK_NPW_8(CALL)                                                                 \
    case 4: CALL(4); break;                                                         \
    case 3: CALL(3); break;                                                         \
    case 2: CALL(2); break;                                                         \
    default: CALL(1); break;                                                        \
    }

typedef FCK_T FCK_FN(v) __attribute__((vector_size(FCK_VB)));
#define FCK_L ((int)(FCK_VB / sizeof(FCK_T)))
#define FCK_NV FC_CAT(FCK_NV_, FC_ISA)
#define FCK_CB (FCK_NV * FCK_L)
#define FCK_TB FC_CAT(FCK_TB_, FC_ISA)

/* Output channels per packed panel (Cout is padded up to a multiple of it). */
static Py_ssize_t FCK_FN(cb)(void) { return FCK_CB; }

/* wpk <- the (K, Cout) matrix in panels of FCK_CB columns, zero-padded.  flip 1: the matrix is
   instead wf[(ki, kj, co), c] = w[Kh-1-ki, Kw-1-kj, c, co] (the stride-1 input-gradient
   correlation); flip 2: wt[(ki, kj, co), c] = w[ki, kj, c, co] (the strided input gradient);
   both with Kh*Kw*Cout rows and C columns.  Kh, Kw, C, Cout always describe w. */
FCK_ATTR static void FCK_FN(pack)(const FCK_T *w, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t C, Py_ssize_t Cout,
                                  int flip, FCK_T *wpk)
{
    const Py_ssize_t rows = Kh * Kw * (flip ? Cout : C), cols = flip ? C : Cout;
    const Py_ssize_t nb = (cols + FCK_CB - 1) / FCK_CB;
    Py_ssize_t b, t, u;
    for (b = 0; b < nb; b++)
        for (t = 0; t < rows; t++) {
            FCK_T *d = wpk + (b * rows + t) * FCK_CB;
            for (u = 0; u < FCK_CB; u++) {
                const Py_ssize_t col = b * FCK_CB + u;
                FCK_T val = 0;
                if (col < cols) {
                    if (flip) {
                        const Py_ssize_t kk = t / Cout, co = t - kk * Cout;
                        const Py_ssize_t ki = kk / Kw, kj = kk - ki * Kw;
                        if (flip == 1)
                            val = w[(((Kh - 1 - ki) * Kw + (Kw - 1 - kj)) * C + col) * Cout + co];
                        else
                            val = w[((ki * Kw + kj) * C + col) * Cout + co];
                    } else {
                        val = w[t * Cout + col];
                    }
                }
                d[u] = val;
            }
        }
}

/* np (a constant after inlining) output pixels j0.. of row i, panel bp, into yo (pixel stride Cout) */
/* acc[r] += sum_c ap[r][c] * panel row c, for the np pixels r of a register block: per input
   channel, nv (FCK_NV, or 1 for a panel of at most one vector's columns) vector loads of the
   panel, np broadcasts and np*nv FMAs. */
FCK_ATTR FCK_INLINE void FCK_FN(fma_panel)(FCK_FN(v) acc[FCK_RW][FCK_NV], const FCK_T *const *ap,
                                           const FCK_T *bt, Py_ssize_t n, int np, const int nv)
{
    FCK_FN(v) wv[FCK_NV];
    Py_ssize_t c;
    int r, v;
    for (c = 0; c < n; c++) {
        FCK_UNROLL for (v = 0; v < nv; v++) memcpy(&wv[v], bt + c * FCK_CB + v * FCK_L, sizeof wv[v]);
        FCK_UNROLL for (r = 0; r < np; r++) {
            const FCK_T a = ap[r][c];
            FCK_UNROLL for (v = 0; v < nv; v++) acc[r][v] += a * wv[v];
        }
    }
}

/* out[r * step + 0 : ncols] = the first ncols lanes of acc[r], for the np pixels of a block. */
FCK_ATTR FCK_INLINE void FCK_FN(store_block)(FCK_FN(v) acc[FCK_RW][FCK_NV], FCK_T *out, Py_ssize_t step,
                                             Py_ssize_t ncols, int np, const int nv)
{
    int r, v;
    if (ncols == nv * FCK_L) {
        FCK_UNROLL for (r = 0; r < np; r++)
            FCK_UNROLL for (v = 0; v < nv; v++) memcpy(out + r * step + v * FCK_L, &acc[r][v], sizeof acc[r][v]);
    } else if (ncols == FCK_CB) {
        FCK_UNROLL for (r = 0; r < np; r++) memcpy(out + r * step, acc[r], sizeof acc[r]);
    } else {
        for (r = 0; r < np; r++) memcpy(out + r * step, acc[r], (size_t)ncols * sizeof(FCK_T));
    }
}

FCK_ATTR FCK_INLINE void FCK_FN(fblock)(const fck_geo *g, const FCK_T *ximg, const FCK_T *zeros,
                                        const FCK_T *bp, const FCK_T *bias, FCK_T *yo, Py_ssize_t i,
                                        Py_ssize_t j0, Py_ssize_t ncols, const int np, const int nv)
{
    const Py_ssize_t W = g->W, C = g->C, Kh = g->Kh, Kw = g->Kw, sw = g->sw, pw = g->pw;
    const Py_ssize_t xs = g->xs, dh = g->dh, dw = g->dw;
    FCK_FN(v) acc[FCK_RW][FCK_NV], wv[FCK_NV];
    Py_ssize_t ki, kj;
    int r, v;
    FCK_UNROLL for (v = 0; v < nv; v++) {
        if (bias) memcpy(&wv[v], bias + v * FCK_L, sizeof wv[v]);
        else wv[v] = (FCK_FN(v)){0};
    }
    FCK_UNROLL for (r = 0; r < np; r++)
        FCK_UNROLL for (v = 0; v < nv; v++) acc[r][v] = wv[v];
    for (ki = 0; ki < Kh; ki++) {
        const Py_ssize_t hi = i * g->sh - g->ph + ki * dh;
        const FCK_T *xr;
        if (hi < 0 || hi >= g->H) continue;
        xr = ximg + hi * W * xs;
        for (kj = 0; kj < Kw; kj++) {
            const FCK_T *ap[FCK_RW];
            const FCK_T *bt = bp + (ki * Kw + kj) * C * FCK_CB;
            FCK_UNROLL for (r = 0; r < np; r++) {
                const Py_ssize_t wi = (j0 + r) * sw - pw + kj * dw;
                ap[r] = (wi >= 0 && wi < W) ? xr + wi * xs : zeros;
            }
            FCK_FN(fma_panel)(acc, ap, bt, C, np, nv);
        }
    }
    FCK_FN(store_block)(acc, yo, g->ys, ncols, np, nv);
}

/* Output row i of one image: yrow[j, co] = bias[co] + sum_t xwindow(i, j)[t] * w[t, co].
   wpk: packed panels (K rows each); bpk: bias padded to whole panels, or NULL;
   zeros: C zeros. */
FCK_ATTR static void FCK_FN(fwd_row)(const fck_geo *g, const FCK_T *ximg, const FCK_T *zeros,
                                     const FCK_T *wpk, const FCK_T *bpk, FCK_T *yrow, Py_ssize_t i)
{
    const Py_ssize_t K = g->Kh * g->Kw * g->C, Cout = g->Cout, Wo = g->Wo;
    const Py_ssize_t nb = (Cout + FCK_CB - 1) / FCK_CB;
    Py_ssize_t b, j0, ncols;
    for (b = 0; b < nb; b++) {
        const FCK_T *bp = wpk + b * K * FCK_CB;
        const FCK_T *bias = bpk ? bpk + b * FCK_CB : NULL;
        ncols = Cout - b * FCK_CB < FCK_CB ? Cout - b * FCK_CB : FCK_CB;
        if (FCK_NV > 1 && ncols <= FCK_L) {  /* one vector per pixel: wider blocks */
            for (j0 = 0; j0 < Wo; j0 += FCK_RW) {
                FCK_T *yo = yrow + j0 * g->ys + b * FCK_CB;
#define FCK_CALL(k) FCK_FN(fblock)(g, ximg, zeros, bp, bias, yo, i, j0, ncols, k, 1)
                FCK_BY_NPW(Wo - j0 < FCK_RW ? (int)(Wo - j0) : FCK_RW, FCK_CALL)
#undef FCK_CALL
            }
            continue;
        }
        for (j0 = 0; j0 < Wo; j0 += FCK_R) {
            FCK_T *yo = yrow + j0 * g->ys + b * FCK_CB;
#define FCK_CALL(k) FCK_FN(fblock)(g, ximg, zeros, bp, bias, yo, i, j0, ncols, k, FCK_NV)
            FCK_BY_NP(Wo - j0 < FCK_R ? (int)(Wo - j0) : FCK_R, FCK_CALL)
#undef FCK_CALL
        }
    }
}

/* nt (a constant after inlining) input channels c0.. of tap (ki, kj), all panels, pixels
   jlo..jhi of one output row: dwp[t, co] += sum_j xr[(j*sw - pw + kj)*C + c0 + t] * dy[j, co] */
FCK_ATTR FCK_INLINE void FCK_FN(dwblock)(const fck_geo *g, const FCK_T *xr, const FCK_T *dy, Py_ssize_t ldd,
                                         FCK_T *dwp, Py_ssize_t ldw, Py_ssize_t kj, Py_ssize_t c0,
                                         Py_ssize_t jlo, Py_ssize_t jhi, Py_ssize_t nb, const int nt,
                                         const int nv)
{
    const Py_ssize_t xs = g->xs, step = g->sw * xs;
    Py_ssize_t b, j;
    int t, v;
    for (b = 0; b < nb; b++) {
        FCK_FN(v) acc[FCK_RW][FCK_NV], d[FCK_NV];
        FCK_T *dwb = dwp + b * FCK_CB;
        const FCK_T *xp = xr + (jlo * g->sw - g->pw + kj * g->dw) * xs + c0;
        const FCK_T *dp = dy + jlo * ldd + b * FCK_CB;
        FCK_UNROLL for (t = 0; t < nt; t++)
            FCK_UNROLL for (v = 0; v < nv; v++) memcpy(&acc[t][v], dwb + t * ldw + v * FCK_L, sizeof acc[t][v]);
        for (j = jlo; j < jhi; j++) {
            FCK_UNROLL for (v = 0; v < nv; v++) memcpy(&d[v], dp + v * FCK_L, sizeof d[v]);
            FCK_UNROLL for (t = 0; t < nt; t++) {
                const FCK_T xv = xp[t];
                FCK_UNROLL for (v = 0; v < nv; v++) acc[t][v] += xv * d[v];
            }
            xp += step;
            dp += ldd;
        }
        FCK_UNROLL for (t = 0; t < nt; t++)
            FCK_UNROLL for (v = 0; v < nv; v++) memcpy(dwb + t * ldw + v * FCK_L, &acc[t][v], sizeof acc[t][v]);
    }
}

/* dwp (K, ldw) += the weight gradient of output row i of one image; dy: that row's gradient,
   pixel stride ldd >= the panels' width nb*FCK_CB (so whole vectors can be read). */
FCK_ATTR static void FCK_FN(dw_row)(const fck_geo *g, const FCK_T *ximg, const FCK_T *dy, Py_ssize_t ldd,
                                    FCK_T *dwp, Py_ssize_t ldw, Py_ssize_t i)
{
    const Py_ssize_t W = g->W, C = g->C, Kh = g->Kh, Kw = g->Kw, sw = g->sw, pw = g->pw, Wo = g->Wo;
    const Py_ssize_t nb = (g->Cout + FCK_CB - 1) / FCK_CB;
    Py_ssize_t ki, kj, c0, jlo, jhi;
    for (ki = 0; ki < Kh; ki++) {
        const Py_ssize_t hi = i * g->sh - g->ph + ki * g->dh;
        const FCK_T *xr;
        if (hi < 0 || hi >= g->H) continue;
        xr = ximg + hi * W * g->xs;
        for (kj = 0; kj < Kw; kj++) {
            /* j*sw - pw + kj*dw in [0, W) */
            const Py_ssize_t o = pw - kj * g->dw;
            jlo = o > 0 ? (o + sw - 1) / sw : 0;
            jhi = W + o > 0 ? (W + o + sw - 1) / sw : 0;
            if (jhi > Wo) jhi = Wo;
            if (jlo >= jhi) continue;
            if (FCK_NV > 1 && g->Cout <= FCK_L) {  /* one vector of columns: wider channel blocks */
                for (c0 = 0; c0 < C; c0 += FCK_RW) {
                    FCK_T *dwt = dwp + ((ki * Kw + kj) * C + c0) * ldw;
#define FCK_CALL(k) FCK_FN(dwblock)(g, xr, dy, ldd, dwt, ldw, kj, c0, jlo, jhi, nb, k, 1)
                    FCK_BY_NPW(C - c0 < FCK_RW ? (int)(C - c0) : FCK_RW, FCK_CALL)
#undef FCK_CALL
                }
                continue;
            }
            for (c0 = 0; c0 < C; c0 += FCK_TB) {
                FCK_T *dwt = dwp + ((ki * Kw + kj) * C + c0) * ldw;
#define FCK_CALL(k) FCK_FN(dwblock)(g, xr, dy, ldd, dwt, ldw, kj, c0, jlo, jhi, nb, k, FCK_NV)
                switch (C - c0 < FCK_TB ? (int)(C - c0) : FCK_TB) {
#if FCK_TB >= 12
                case 12: FCK_CALL(12); break;
                case 11: FCK_CALL(11); break;
                case 10: FCK_CALL(10); break;
                case 9: FCK_CALL(9); break;
#endif
#if FCK_TB >= 8
                case 8: FCK_CALL(8); break;
                case 7: FCK_CALL(7); break;
#endif
                case 6: FCK_CALL(6); break;
                case 5: FCK_CALL(5); break;
                case 4: FCK_CALL(4); break;
                case 3: FCK_CALL(3); break;
                case 2: FCK_CALL(2); break;
                default: FCK_CALL(1); break;
                }
#undef FCK_CALL
            }
        }
    }
}

/* np (a constant after inlining) input-gradient pixels w = phi + sw*(m0 + r) of input row h,
   panel bp of wt (flip 2), into xo (pixel stride sw*C): dx[h, w, c] = sum over the taps
   (ki, kj) with h = i*sh - ph + ki, w = j*sw - pw + kj for an output pixel (i, j), and over co,
   of dy[i, j, co] * w[ki, kj, c, co]; in (ki, kj, co) order. */
FCK_ATTR FCK_INLINE void FCK_FN(dblock)(const fck_geo *g, const FCK_T *dyimg, const FCK_T *zeros,
                                        const FCK_T *bp, FCK_T *xo, Py_ssize_t h, Py_ssize_t phi,
                                        Py_ssize_t m0, Py_ssize_t ncols, const int np, const int nv)
{
    const Py_ssize_t Wo = g->Wo, Co = g->Cout, Kh = g->Kh, Kw = g->Kw, sh = g->sh, sw = g->sw;
    const Py_ssize_t step = sw * g->xs, ys = g->ys;
    FCK_FN(v) acc[FCK_RW][FCK_NV];
    Py_ssize_t ki, kj;
    int r, v;
    FCK_UNROLL for (r = 0; r < np; r++)
        FCK_UNROLL for (v = 0; v < nv; v++) acc[r][v] = (FCK_FN(v)){0};
    for (ki = 0; ki < Kh; ki++) {
        const Py_ssize_t num = h + g->ph - ki * g->dh;
        const FCK_T *dyr;
        if (num < 0 || num % sh != 0 || num / sh >= g->Ho) continue;
        dyr = dyimg + (num / sh) * Wo * ys;
        for (kj = 0; kj < Kw; kj++) {
            const Py_ssize_t numw = phi + g->pw - kj * g->dw;
            const FCK_T *ap[FCK_RW];
            const FCK_T *bt = bp + (ki * Kw + kj) * Co * FCK_CB;
            if (numw % sw != 0) continue;
            FCK_UNROLL for (r = 0; r < np; r++) {
                const Py_ssize_t j = numw / sw + m0 + r;
                ap[r] = (j >= 0 && j < Wo) ? dyr + j * ys : zeros;
            }
            FCK_FN(fma_panel)(acc, ap, bt, Co, np, nv);
        }
    }
    FCK_FN(store_block)(acc, xo, step, ncols, np, nv);
}

/* Input-gradient row h of one image, any stride: the pixels of each column phase
   phi = w mod sw in register blocks (the taps that reach them are the same for the whole block).
   wtpk: panels of wt (flip 2, Kh*Kw*Cout rows each); zeros: Cout zeros.  Every element of the
   row is written (zero where no window reads the input). */
FCK_ATTR static void FCK_FN(dx_row)(const fck_geo *g, const FCK_T *dyimg, const FCK_T *zeros,
                                    const FCK_T *wtpk, FCK_T *dxrow, Py_ssize_t h)
{
    const Py_ssize_t K = g->Kh * g->Kw * g->Cout, C = g->C, W = g->W, sw = g->sw;
    const Py_ssize_t nb = (C + FCK_CB - 1) / FCK_CB;
    Py_ssize_t b, phi, m0, M, ncols;
    for (b = 0; b < nb; b++) {
        const FCK_T *bp = wtpk + b * K * FCK_CB;
        ncols = C - b * FCK_CB < FCK_CB ? C - b * FCK_CB : FCK_CB;
        for (phi = 0; phi < sw && phi < W; phi++) {
            M = (W - phi + sw - 1) / sw;
            if (FCK_NV > 1 && ncols <= FCK_L) {  /* one vector per pixel: wider blocks */
                for (m0 = 0; m0 < M; m0 += FCK_RW) {
                    FCK_T *xo = dxrow + (phi + sw * m0) * g->xs + b * FCK_CB;
#define FCK_CALL(k) FCK_FN(dblock)(g, dyimg, zeros, bp, xo, h, phi, m0, ncols, k, 1)
                    FCK_BY_NPW(M - m0 < FCK_RW ? (int)(M - m0) : FCK_RW, FCK_CALL)
#undef FCK_CALL
                }
                continue;
            }
            for (m0 = 0; m0 < M; m0 += FCK_R) {
                FCK_T *xo = dxrow + (phi + sw * m0) * g->xs + b * FCK_CB;
#define FCK_CALL(k) FCK_FN(dblock)(g, dyimg, zeros, bp, xo, h, phi, m0, ncols, k, FCK_NV)
                FCK_BY_NP(M - m0 < FCK_R ? (int)(M - m0) : FCK_R, FCK_CALL)
#undef FCK_CALL
            }
        }
    }
}

#undef FCK_L
#undef FCK_NV
#undef FCK_CB
#undef FCK_TB
#undef FCK_T
#undef FCK_FN
#undef FCK_ATTR
#undef FCK_VB
#undef FCK_R
#undef FCK_RW
