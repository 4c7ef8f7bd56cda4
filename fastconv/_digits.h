/* One SGD step of the digits network, for one element type and one instruction set.

   A template: _digits_kernels.h includes it once per (type, instruction-set level) through
   _simd_instantiate.h, and the lines below give this family's names to that pass's macros:
     FCD_T       element type (float or double)
     FCD_I       the signed integer type of the same size (int or long long)
     FCD_FN(n)   the function name for this instantiation
     FCD_ATTR    function attributes (empty, or __attribute__((target("avx2,fma"))))
     FCD_VB      bytes per vector register (16 for SSE2, 32 for AVX2), the level's FCD_VB_<level>
     FCD_DVB     bytes per vector of the dense layer's dot products (FCD_DVB_<level>)

   Network (the tutorial's): conv k x k (one input channel, C filters, padding, stride)
   -> ReLU -> pool q x q (stride q, max or average) -> flatten -> dense (D -> 10)
   -> softmax cross-entropy; plain SGD.  Layouts are fastconv's: x (N, H, W) (C_in = 1),
   w1 (k, k, 1, C), conv output (N, Ho, Wo, C), pooled/flat (N, Hp, Wp, C) = (N, D),
   w2 (D, 10).

   ReLU and pooling are fused: max pooling takes the raw window maximum (first maximum in
   row-major order) and clips it at 0, which equals max(relu(window)) and sends the gradient
   to the same element (only when the maximum is positive, as ReLU's backward does).
   Average pooling averages relu(window); its backward shares the gradient among the
   window's positive elements.  Terms known to be zero are skipped (they add exactly
   nothing); the first layer's input gradient is never formed.

   Each image is read through a zero-padded copy (xpad, (H + 2p) x (W + 2p)), so every
   window lies inside it; the convolution and its weight gradient run over FCD_CB filters
   at a time in vector registers. */

#define FCD_T FC_T
#define FCD_I FC_I
#define FCD_FN(n) FC_FN(n)
#define FCD_ATTR FC_ATTR
/* tuning per instruction-set level: the vector bytes (at most FCD_CB values: 8 filters per block;
   float64 fills a 512-bit vector with them).  Every loop but the dense layer's dot products is
   lane by lane, so its results do not depend on the width; the dot products sum their lanes and
   keep one width per level (FCD_DVB), so the results stay the same at every FCD_VB. */
#define FCD_VB_base 16
#define FCD_VB_avx2 32
#define FCD_VB_avx512 (FCD_CB * sizeof(FCD_T))
#define FCD_VB FC_CAT(FCD_VB_, FC_ISA)
#define FCD_DVB_base 16
#define FCD_DVB_avx2 32
#define FCD_DVB_avx512 32
#define FCD_DVB FC_CAT(FCD_DVB_, FC_ISA)

#ifndef FCD_COMMON_H
#define FCD_COMMON_H
#include <math.h>
#include <stddef.h>
#include <string.h>

#define FCD_NCLS 10
#define FCD_CB 8 /* filters per register block */
#if defined(__GNUC__)
#define FCD_RESTRICT __restrict__
#define FCD_AINLINE static inline __attribute__((always_inline))
#define FCD_FLATTEN __attribute__((flatten)) /* inline every call in the function's body */
#else
#define FCD_RESTRICT
#define FCD_AINLINE static inline
#define FCD_FLATTEN
#endif

typedef struct {
    Py_ssize_t h, w;   /* image */
    Py_ssize_t k, c;   /* kernel size, conv channels */
    Py_ssize_t pad, stride;
    Py_ssize_t ho, wo; /* conv output */
    Py_ssize_t q;      /* pool size (= pool stride) */
    Py_ssize_t hp, wp; /* pooled output */
    Py_ssize_t d;      /* hp * wp * c */
    int max_pool;
} fcd_geo;

/* The tutorial's network (8x8 images, 3x3 conv of 8 filters, padding 1, stride 1, 2x2 max
   pooling): its step and forward are compiled once more with this geometry as constants */
static const fcd_geo fcd_tutorial = {8, 8, 3, 8, 1, 1, 8, 8, 2, 4, 4, 128, 1};
/* (ho, wo, hp, wp, d follow from the fields compared: _digits.pyx derives them) */
static inline int fcd_is_tutorial(const fcd_geo *g)
{
    const fcd_geo *t = &fcd_tutorial;
    return g->h == t->h && g->w == t->w && g->k == t->k && g->c == t->c && g->pad == t->pad &&
           g->stride == t->stride && g->q == t->q && g->max_pool == t->max_pool;
}
#endif

#if defined(__GNUC__)
/* GCC/Clang vector extensions; other compilers take the scalar loops (FCD_VECTOR 0) */
#define FCD_VECTOR 1
typedef FCD_T FCD_FN(vec) __attribute__((vector_size(FCD_VB)));
typedef FCD_I FCD_FN(ivec) __attribute__((vector_size(FCD_VB)));
typedef FCD_T FCD_FN(dvec) __attribute__((vector_size(FCD_DVB)));
#define FCD_LANES ((int)(FCD_VB / sizeof(FCD_T)))
#define FCD_DLANES ((int)(FCD_DVB / sizeof(FCD_T)))
#else
#define FCD_VECTOR 0
#define FCD_LANES 1
#define FCD_DLANES 1
#endif
#define FCD_NV (FCD_CB / FCD_LANES) /* vectors per block of filters */
#define FCD_P (8 / FCD_NV)          /* output pixels per block (forward) */
/* most taps per block of the weight gradient: its FCD_TB x FCD_NV accumulators, FCD_NV gradient
   vectors and a broadcast value fit 16 registers (32 for one vector per block) */
#define FCD_TB (FCD_NV == 1 ? 9 : FCD_NV == 2 ? 5 : 2)

/* xp <- image xn zero-padded by g->pad on every side */
FCD_ATTR static void FCD_FN(pad)(const fcd_geo *g, const FCD_T *xn, FCD_T *xp)
{
    const Py_ssize_t P = g->pad, Wd = g->w + 2 * P;
    Py_ssize_t r;
    if (P == 0) {
        memcpy(xp, xn, (size_t)(g->h * g->w) * sizeof(FCD_T));
        return;
    }
    memset(xp, 0, (size_t)((g->h + 2 * P) * Wd) * sizeof(FCD_T));
    for (r = 0; r < g->h; r++) memcpy(xp + (r + P) * Wd + P, xn + r * g->w, (size_t)g->w * sizeof(FCD_T));
}

#if FCD_VECTOR
/* np (constant after inlining) adjacent output pixels starting at org, filters [cb, cb + FCD_CB) */
FCD_ATTR FCD_AINLINE void
FCD_FN(conv_block)(const fcd_geo *g, const FCD_T *org, const FCD_T *w, const FCD_T *b, FCD_T *o,
                   const int np, const Py_ssize_t K, const Py_ssize_t S)
{
    const Py_ssize_t C = g->c, Wd = g->w + 2 * g->pad;
    FCD_FN(vec) acc[FCD_P][FCD_NV], wv[FCD_NV];
    Py_ssize_t di, dj;
    int p, v;
    for (v = 0; v < FCD_NV; v++) memcpy(&wv[v], b + v * FCD_LANES, sizeof wv[v]);
    for (p = 0; p < np; p++)
        for (v = 0; v < FCD_NV; v++) acc[p][v] = wv[v];
    for (di = 0; di < K; di++)
        for (dj = 0; dj < K; dj++) {
            const FCD_T *xt = org + di * Wd + dj;
            const FCD_T *wt = w + (di * K + dj) * C;
            for (v = 0; v < FCD_NV; v++) memcpy(&wv[v], wt + v * FCD_LANES, sizeof wv[v]);
            for (p = 0; p < np; p++) {
                const FCD_T xv = xt[p * S];
                for (v = 0; v < FCD_NV; v++) acc[p][v] += xv * wv[v];
            }
        }
    for (p = 0; p < np; p++) memcpy(o + p * C, acc[p], sizeof acc[p]);
}
#endif

/* conv output of one image: o1[(i, j), c] = b1[c] + sum_t xp[window(i, j) + t] * w1[t, c];
   K and S are g's kernel size and stride (constants where inlined with them) */
FCD_ATTR FCD_AINLINE void
FCD_FN(conv_ks)(const fcd_geo *g, const FCD_T *xp, const FCD_T *w1, const FCD_T *b1, FCD_T *o1,
                const Py_ssize_t K, const Py_ssize_t S)
{
    const Py_ssize_t C = g->c, Wd = g->w + 2 * g->pad;
    const Py_ssize_t Ho = g->ho, Wo = g->wo;
    Py_ssize_t i, j, di, dj, cb, u;
    for (i = 0; i < Ho; i++) {
        const FCD_T *row = xp + i * S * Wd;
        FCD_T *orow = o1 + i * Wo * C;
        cb = 0;
#if FCD_VECTOR
        for (; cb + FCD_CB <= C; cb += FCD_CB) {
            for (j = 0; j + FCD_P <= Wo; j += FCD_P)
                FCD_FN(conv_block)(g, row + j * S, w1 + cb, b1 + cb, orow + j * C + cb, FCD_P, K, S);
            for (; j < Wo; j++)
                FCD_FN(conv_block)(g, row + j * S, w1 + cb, b1 + cb, orow + j * C + cb, 1, K, S);
        }
#endif
        for (u = cb; u < C; u++)
            for (j = 0; j < Wo; j++) {
                FCD_T acc = b1[u];
                for (di = 0; di < K; di++)
                    for (dj = 0; dj < K; dj++) acc += row[j * S + di * Wd + dj] * w1[(di * K + dj) * C + u];
                orow[j * C + u] = acc;
            }
    }
}
/* 3x3 stride-1 layers (any filter count or pooling) with the tap loops unrolled: the same sums in
   the same order */
FCD_ATTR static void FCD_FN(conv)(const fcd_geo *g, const FCD_T *xp, const FCD_T *w1, const FCD_T *b1,
                                  FCD_T *o1)
{
    if (g->k == 3 && g->stride == 1)
        FCD_FN(conv_ks)(g, xp, w1, b1, o1, 3, 1);
    else
        FCD_FN(conv_ks)(g, xp, w1, b1, o1, g->k, g->stride);
}

#if FCD_VECTOR
/* dw1[t0 + p, cb : cb + FCD_CB] += sum_(i,j) xp[window(i, j) + t0 + p] * gm[(i, j), cb : cb + FCD_CB]
   for the nt (constant after inlining) taps p < nt, in registers */
FCD_ATTR FCD_AINLINE void
FCD_FN(dw_block)(const fcd_geo *g, const FCD_T *xp, const FCD_T *gm, FCD_T *dw1, Py_ssize_t cb,
                 Py_ssize_t t0, const int nt)
{
    const Py_ssize_t K = g->k, C = g->c, S = g->stride, Wd = g->w + 2 * g->pad;
    const Py_ssize_t Ho = g->ho, Wo = g->wo;
    FCD_FN(vec) acc[FCD_TB][FCD_NV], gv[FCD_NV], cur;
    Py_ssize_t off[FCD_TB], i, j;
    int v, p;
    for (p = 0; p < nt; p++) {
        off[p] = ((t0 + p) / K) * Wd + (t0 + p) % K;
        for (v = 0; v < FCD_NV; v++) acc[p][v] = (FCD_FN(vec)){0};
    }
    for (i = 0; i < Ho; i++) {
        const FCD_T *row = xp + i * S * Wd;
        const FCD_T *gr = gm + i * Wo * C + cb;
        for (j = 0; j < Wo; j++) {
            const FCD_T *org = row + j * S;
            for (v = 0; v < FCD_NV; v++) memcpy(&gv[v], gr + j * C + v * FCD_LANES, sizeof cur);
            for (p = 0; p < nt; p++) {
                const FCD_T xv = org[off[p]];
                for (v = 0; v < FCD_NV; v++) acc[p][v] += xv * gv[v];
            }
        }
    }
    for (p = 0; p < nt; p++)
        for (v = 0; v < FCD_NV; v++) {
            FCD_T *dwt = dw1 + (t0 + p) * C + cb + v * FCD_LANES;
            memcpy(&cur, dwt, sizeof cur);
            cur += acc[p][v];
            memcpy(dwt, &cur, sizeof cur);
        }
}
#endif

/* dw1[t, c] += sum_(i,j) xp[window(i, j) + t] * gm[(i, j), c]; db1[c] += sum_(i,j) gm[(i, j), c];
   up to FCD_TB taps at a time in registers */
FCD_ATTR static void FCD_FN(conv_dw)(const fcd_geo *g, const FCD_T *xp, const FCD_T *gm, FCD_T *dw1,
                                     FCD_T *db1)
{
    const Py_ssize_t K = g->k, KK = K * K, C = g->c, S = g->stride, Wd = g->w + 2 * g->pad;
    const Py_ssize_t Ho = g->ho, Wo = g->wo;
    Py_ssize_t i, j, di, dj, cb = 0, u;
#if FCD_VECTOR
    Py_ssize_t t0, nt, nblk;
    int v;
    for (; cb + FCD_CB <= C; cb += FCD_CB) {
        FCD_FN(vec) acc[1][FCD_NV], gv[FCD_NV], cur;
        /* the taps in nblk blocks of at most FCD_TB, the first KK % nblk blocks one tap longer */
        nblk = (KK + FCD_TB - 1) / FCD_TB;
        for (t0 = 0; t0 < KK; t0 += nt) {
            nt = KK / nblk + ((t0 / (KK / nblk + 1)) < KK % nblk ? 1 : 0);
            switch (nt) {  /* a constant tap count in each (unrolled) copy */
            case 1: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, 1); break;
            case 2: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 2 ? FCD_TB : 2); break;
            case 3: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 3 ? FCD_TB : 3); break;
            case 4: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 4 ? FCD_TB : 4); break;
            case 5: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 5 ? FCD_TB : 5); break;
            case 6: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 6 ? FCD_TB : 6); break;
            case 7: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 7 ? FCD_TB : 7); break;
            case 8: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB < 8 ? FCD_TB : 8); break;
            default: FCD_FN(dw_block)(g, xp, gm, dw1, cb, t0, FCD_TB); break;
            }
        }
        for (v = 0; v < FCD_NV; v++) acc[0][v] = (FCD_FN(vec)){0};
        for (i = 0; i < Ho * Wo; i++)
            for (v = 0; v < FCD_NV; v++) {
                memcpy(&gv[v], gm + i * C + cb + v * FCD_LANES, sizeof cur);
                acc[0][v] += gv[v];
            }
        for (v = 0; v < FCD_NV; v++) {
            memcpy(&cur, db1 + cb + v * FCD_LANES, sizeof cur);
            cur += acc[0][v];
            memcpy(db1 + cb + v * FCD_LANES, &cur, sizeof cur);
        }
    }
#endif
    for (u = cb; u < C; u++) {
        FCD_T sb = 0;
        for (di = 0; di < K; di++)
            for (dj = 0; dj < K; dj++) {
                FCD_T s = 0;
                for (i = 0; i < Ho; i++)
                    for (j = 0; j < Wo; j++) s += xp[(i * S + di) * Wd + j * S + dj] * gm[(i * Wo + j) * C + u];
                dw1[(di * K + dj) * C + u] += s;
            }
        for (i = 0; i < Ho * Wo; i++) sb += gm[i * C + u];
        db1[u] += sb;
    }
}

#if FCD_VECTOR
/* ReLU + pooling of one window (its first element at v0, conv position first), filters
   [cb, cb + FCD_CB): max keeps the first maximum and its position (-1 when not positive),
   average sums the positive elements and scales by 1/q^2 */
FCD_ATTR static inline void FCD_FN(pool_block)(const fcd_geo *g, const FCD_T *v0, Py_ssize_t first,
                                               FCD_T *fo, FCD_I *ao)
{
    const Py_ssize_t C = g->c, Wo = g->wo, Q = g->q;
    const FCD_T inv = (FCD_T)1 / (FCD_T)(Q * Q);
    FCD_FN(vec) best[FCD_NV], vv;
    FCD_FN(ivec) at[FCD_NV], m;
    const FCD_FN(vec) zero = {0};
    Py_ssize_t di, dj;
    int v;
    for (v = 0; v < FCD_NV; v++) {
        memcpy(&best[v], v0 + v * FCD_LANES, sizeof vv);
        at[v] = (FCD_FN(ivec)){0} + (FCD_I)first;
        if (!g->max_pool) best[v] = (FCD_FN(vec))((FCD_FN(ivec))best[v] & (best[v] > zero));
    }
    for (di = 0; di < Q; di++)
        for (dj = 0; dj < Q; dj++) {
            const FCD_T *vp = v0 + (di * Wo + dj) * C;
            const FCD_I pos = (FCD_I)(first + di * Wo + dj);
            if (!(di | dj)) continue;
            for (v = 0; v < FCD_NV; v++) {
                memcpy(&vv, vp + v * FCD_LANES, sizeof vv);
                if (g->max_pool) {
                    m = vv > best[v];
                    best[v] = (FCD_FN(vec))(((FCD_FN(ivec))vv & m) | ((FCD_FN(ivec))best[v] & ~m));
                    at[v] = (pos & m) | (at[v] & ~m);
                } else {
                    best[v] += (FCD_FN(vec))((FCD_FN(ivec))vv & (vv > zero));
                }
            }
        }
    for (v = 0; v < FCD_NV; v++) {
        if (g->max_pool) {
            m = best[v] > zero;
            best[v] = (FCD_FN(vec))((FCD_FN(ivec))best[v] & m);
            at[v] = at[v] | ~m;
            memcpy(ao + v * FCD_LANES, &at[v], sizeof at[v]);
        } else {
            best[v] *= inv;
        }
        memcpy(fo + v * FCD_LANES, &best[v], sizeof vv);
    }
}
#endif

/* r[k] = sum_i a[i] b[k*n + i] for k < FCD_NCLS: per dot two chains of vector partial sums
   (even and odd vectors), added, then the lanes in order, then the scalar tail; FCD_DG dots at
   a time, so that their chains' latencies overlap */
#define FCD_DG 5
FCD_ATTR static inline void FCD_FN(dots)(const FCD_T *a, const FCD_T *b, Py_ssize_t n, FCD_T *r)
{
    int k0, k;
    for (k0 = 0; k0 < FCD_NCLS; k0 += FCD_DG) {
        Py_ssize_t i = 0;
        FCD_T rk[FCD_DG];
#if FCD_VECTOR
        FCD_FN(dvec) s0[FCD_DG], s1[FCD_DG], va, vb;
        int u;
        for (k = 0; k < FCD_DG; k++) s0[k] = s1[k] = (FCD_FN(dvec)){0};
        for (; i + 2 * FCD_DLANES <= n; i += 2 * FCD_DLANES) {
            memcpy(&va, a + i, sizeof va);
            for (k = 0; k < FCD_DG; k++) {
                memcpy(&vb, b + (k0 + k) * n + i, sizeof vb);
                s0[k] += va * vb;
            }
            memcpy(&va, a + i + FCD_DLANES, sizeof va);
            for (k = 0; k < FCD_DG; k++) {
                memcpy(&vb, b + (k0 + k) * n + i + FCD_DLANES, sizeof vb);
                s1[k] += va * vb;
            }
        }
        for (k = 0; k < FCD_DG; k++) {
            s0[k] += s1[k];
            rk[k] = 0;
            for (u = 0; u < FCD_DLANES; u++) rk[k] += s0[k][u];
        }
#else
        for (k = 0; k < FCD_DG; k++) rk[k] = 0;
#endif
        for (k = 0; k < FCD_DG; k++) {
            Py_ssize_t j;
            for (j = i; j < n; j++) rk[k] += a[j] * b[(k0 + k) * n + j];
            r[k0 + k] = rk[k];
        }
    }
}

/* conv + ReLU/pool + dense for images [0, nb) (or x[idx[0:nb]] when idx is not NULL): out1 (nb, ho, wo, c) is kept for average
   pooling's backward, arg (nb, d) holds each max window's winning conv position (i*wo + j)
   or -1 when the window's maximum is not positive; flat (nb, d) and logits (nb, 10) are
   written, and w2t (10, d) receives w2 transposed.  xp (nb, H + 2p, W + 2p) receives the
   zero-padded images, which the step's backward reads again. */
FCD_ATTR static void FCD_FN(forward_g)(const fcd_geo *g, const FCD_T *x, const long long *idx, Py_ssize_t nb,
                                     const FCD_T *w1, const FCD_T *b1,
                                     const FCD_T *w2, const FCD_T *b2,
                                     FCD_T *xp, FCD_T *out1, FCD_I *arg, FCD_T *flat, FCD_T *logits,
                                     FCD_T *w2t)
{
    const Py_ssize_t C = g->c, Wo = g->wo, Q = g->q, Hp = g->hp, Wp = g->wp, D = g->d;
    const FCD_T inv = (FCD_T)1 / (FCD_T)(Q * Q);
    Py_ssize_t n, di, dj, cc, cb, pi, pj, f, kk;
    for (f = 0; f < D; f++)
        for (kk = 0; kk < FCD_NCLS; kk++) w2t[kk * D + f] = w2[f * FCD_NCLS + kk];
    for (n = 0; n < nb; n++) {
        FCD_T *o1 = out1 + n * g->ho * Wo * C;
        FCD_T *fl = flat + n * D;
        FCD_I *an = arg + n * D;
        FCD_T *xpn = xp + n * (g->h + 2 * g->pad) * (g->w + 2 * g->pad);
        FCD_FN(pad)(g, x + (idx ? idx[n] : n) * g->h * g->w, xpn);
        FCD_FN(conv)(g, xpn, w1, b1, o1);
        /* ReLU + pooling */
        for (pi = 0; pi < Hp; pi++)
            for (pj = 0; pj < Wp; pj++) {
                const Py_ssize_t first = pi * Q * Wo + pj * Q;
                FCD_T *fo = fl + (pi * Wp + pj) * C;
                FCD_I *ao = an + (pi * Wp + pj) * C;
                cb = 0;
#if FCD_VECTOR
                for (; cb + FCD_CB <= C; cb += FCD_CB)
                    FCD_FN(pool_block)(g, o1 + first * C + cb, first, fo + cb, ao + cb);
#endif
                for (cc = cb; cc < C; cc++) {
                    FCD_T best = o1[first * C + cc];
                    FCD_I at = (FCD_I)first;
                    for (di = 0; di < Q; di++)
                        for (dj = 0; dj < Q; dj++) {
                            const Py_ssize_t pos = first + di * Wo + dj;
                            const FCD_T v = o1[pos * C + cc];
                            if (g->max_pool) {
                                if (v > best) { best = v; at = (FCD_I)pos; }
                            } else {
                                best = (di | dj) ? best + (v > 0 ? v : 0) : (v > 0 ? v : 0);
                            }
                        }
                    if (g->max_pool) {
                        fo[cc] = best > 0 ? best : 0;
                        ao[cc] = best > 0 ? at : -1;
                    } else {
                        fo[cc] = best * inv;
                    }
                }
            }
        /* dense */
        FCD_FN(dots)(fl, w2t, D, logits + n * FCD_NCLS);
        for (kk = 0; kk < FCD_NCLS; kk++) logits[n * FCD_NCLS + kk] += b2[kk];
    }
}

/* One SGD step on the batch x (nb, H, W) with labels y (or, when idx is not NULL, on images
   x[idx[0:nb]] with labels y[idx[0:nb]]); updates w1, b1, w2, b2 in place and
   returns the mean cross-entropy (with the 1e-12 guard of fastconv's softmax).  gm is
   scratch for one image's conv-output gradient (ho, wo, c), t2 for two (10, d) matrices. */
FCD_ATTR static double FCD_FN(step_g)(const fcd_geo *g, const FCD_T *x, const long long *y,
                                    const long long *idx,
                                    Py_ssize_t nb, FCD_T lr,
                                    FCD_T *w1, FCD_T *b1, FCD_T *w2, FCD_T *b2,
                                    FCD_T *xp, FCD_T *out1, FCD_I *arg, FCD_T *flat, FCD_T *proba,
                                    FCD_T *dflat, FCD_T *gm, FCD_T *t2,
                                    FCD_T *dw1, FCD_T *db1, FCD_T *dw2, FCD_T *db2)
{
    const Py_ssize_t K = g->k, C = g->c, Ho = g->ho, Wo = g->wo, Q = g->q, Hp = g->hp, Wp = g->wp;
    const Py_ssize_t D = g->d;
    const FCD_T inv = (FCD_T)1 / (FCD_T)(Q * Q);
    Py_ssize_t n, di, dj, cc, f, kk, t, pi, pj;
    double loss = 0;

    FCD_FN(forward_g)(g, x, idx, nb, w1, b1, w2, b2, xp, out1, arg, flat, proba, t2);

    /* softmax, loss and dlogits = (proba - onehot) / nb, in place */
    for (n = 0; n < nb; n++) {
        FCD_T *pr = proba + n * FCD_NCLS;
        FCD_T m = pr[0], s = 0;
        for (kk = 1; kk < FCD_NCLS; kk++) if (pr[kk] > m) m = pr[kk];
        for (kk = 0; kk < FCD_NCLS; kk++) { pr[kk] = (FCD_T)exp((double)(pr[kk] - m)); s += pr[kk]; }
        for (kk = 0; kk < FCD_NCLS; kk++) pr[kk] /= s;
        const long long yn = y[idx ? idx[n] : n];
        loss -= log((double)(pr[yn] + (FCD_T)1e-12));
        pr[yn] -= 1;
        for (kk = 0; kk < FCD_NCLS; kk++) pr[kk] /= (FCD_T)nb;
    }

    /* dense backward with the old w2, vectorised over the D features on transposed copies
       (t2 = [w2^T | dw2^T], each (10, D)): dflat = dl w2^T, kept where the pooled value is
       positive (elsewhere nothing reaches the convolution); dw2 = flat^T dl; db2 = sum dl */
    {
        const FCD_T *FCD_RESTRICT w2t = t2;  /* filled by the forward pass */
        FCD_T *FCD_RESTRICT dw2t = t2 + FCD_NCLS * D;
        memset(dw2t, 0, (size_t)(FCD_NCLS * D) * sizeof(FCD_T));
        for (kk = 0; kk < FCD_NCLS; kk++) db2[kk] = 0;
        n = 0;
#if FCD_VECTOR
        for (; n + 2 <= nb; n += 2) {  /* two images per pass over dw2t (each element's sum in image order) */
            const FCD_T *FCD_RESTRICT fl = flat + n * D;
            const FCD_T *dl = proba + n * FCD_NCLS;
            FCD_T *FCD_RESTRICT df = dflat + n * D;
            for (kk = 0; kk < FCD_NCLS; kk++) db2[kk] += dl[kk];
            for (kk = 0; kk < FCD_NCLS; kk++) db2[kk] += dl[FCD_NCLS + kk];
            for (f = 0; f + FCD_LANES <= D; f += FCD_LANES) {
                FCD_FN(vec) dv0 = {0}, dv1 = {0}, flv0, flv1, wv, cur;
                const FCD_FN(vec) zero = {0};
                memcpy(&flv0, fl + f, sizeof flv0);
                memcpy(&flv1, fl + D + f, sizeof flv1);
                for (kk = 0; kk < FCD_NCLS; kk++) {
                    memcpy(&wv, w2t + kk * D + f, sizeof wv);
                    dv0 += dl[kk] * wv;
                    dv1 += dl[FCD_NCLS + kk] * wv;
                    memcpy(&cur, dw2t + kk * D + f, sizeof cur);
                    cur += dl[kk] * flv0;
                    cur += dl[FCD_NCLS + kk] * flv1;
                    memcpy(dw2t + kk * D + f, &cur, sizeof cur);
                }
                dv0 = (FCD_FN(vec))((FCD_FN(ivec))dv0 & (flv0 > zero));
                dv1 = (FCD_FN(vec))((FCD_FN(ivec))dv1 & (flv1 > zero));
                memcpy(df + f, &dv0, sizeof dv0);
                memcpy(df + D + f, &dv1, sizeof dv1);
            }
            for (; f < D; f++) {
                FCD_T s0 = 0, s1 = 0;
                for (kk = 0; kk < FCD_NCLS; kk++) {
                    s0 += dl[kk] * w2t[kk * D + f];
                    dw2t[kk * D + f] += dl[kk] * fl[f];
                }
                for (kk = 0; kk < FCD_NCLS; kk++) {
                    s1 += dl[FCD_NCLS + kk] * w2t[kk * D + f];
                    dw2t[kk * D + f] += dl[FCD_NCLS + kk] * fl[D + f];
                }
                df[f] = fl[f] > 0 ? s0 : 0;
                df[D + f] = fl[D + f] > 0 ? s1 : 0;
            }
        }
#endif
        for (; n < nb; n++) {
            const FCD_T *FCD_RESTRICT fl = flat + n * D;
            const FCD_T *dl = proba + n * FCD_NCLS;
            FCD_T *FCD_RESTRICT df = dflat + n * D;
            for (kk = 0; kk < FCD_NCLS; kk++) db2[kk] += dl[kk];
            f = 0;
#if FCD_VECTOR
            for (; f + FCD_LANES <= D; f += FCD_LANES) {
                FCD_FN(vec) dv = {0}, flv, wv, cur;
                const FCD_FN(vec) zero = {0};
                memcpy(&flv, fl + f, sizeof flv);
                for (kk = 0; kk < FCD_NCLS; kk++) {
                    memcpy(&wv, w2t + kk * D + f, sizeof wv);
                    dv += dl[kk] * wv;
                    memcpy(&cur, dw2t + kk * D + f, sizeof cur);
                    cur += dl[kk] * flv;
                    memcpy(dw2t + kk * D + f, &cur, sizeof cur);
                }
                dv = (FCD_FN(vec))((FCD_FN(ivec))dv & (flv > zero));
                memcpy(df + f, &dv, sizeof dv);
            }
#endif
            for (; f < D; f++) {
                FCD_T s = 0;
                for (kk = 0; kk < FCD_NCLS; kk++) {
                    s += dl[kk] * w2t[kk * D + f];
                    dw2t[kk * D + f] += dl[kk] * fl[f];
                }
                df[f] = fl[f] > 0 ? s : 0;
            }
        }
        for (f = 0; f < D; f++)
            for (kk = 0; kk < FCD_NCLS; kk++) dw2[f * FCD_NCLS + kk] = dw2t[kk * D + f];
    }

    /* pooling + ReLU backward into the conv-output gradient gm, then the conv's weight and
       bias gradients */
    memset(dw1, 0, (size_t)(K * K * C) * sizeof(FCD_T));
    for (cc = 0; cc < C; cc++) db1[cc] = 0;
    for (n = 0; n < nb; n++) {
        const FCD_T *df = dflat + n * D;
        if (Hp * Q < Ho || Wp * Q < Wo)  /* rows or columns no window covers */
            memset(gm, 0, (size_t)(Ho * Wo * C) * sizeof(FCD_T));
        for (pi = 0; pi < Hp; pi++)
            for (pj = 0; pj < Wp; pj++) {
                const Py_ssize_t f0 = (pi * Wp + pj) * C;
                const FCD_T *dfp = df + f0;
                for (di = 0; di < Q; di++)
                    for (dj = 0; dj < Q; dj++) {
                        const Py_ssize_t pos = (pi * Q + di) * Wo + pj * Q + dj, at = pos * C;
                        if (g->max_pool) {
                            const FCD_I *an = arg + n * D + f0;
                            cc = 0;
#if FCD_VECTOR
                            for (; cc + FCD_LANES <= C; cc += FCD_LANES) {  /* dfp where the window's winner is pos */
                                FCD_FN(ivec) av;
                                FCD_FN(vec) dv;
                                memcpy(&av, an + cc, sizeof av);
                                memcpy(&dv, dfp + cc, sizeof dv);
                                dv = (FCD_FN(vec))((FCD_FN(ivec))dv & (av == (FCD_I)pos));
                                memcpy(gm + at + cc, &dv, sizeof dv);
                            }
#endif
                            for (; cc < C; cc++) gm[at + cc] = an[cc] == (FCD_I)pos ? dfp[cc] : 0;
                        } else {
                            const FCD_T *o1 = out1 + n * Ho * Wo * C;
                            for (cc = 0; cc < C; cc++) gm[at + cc] = o1[at + cc] > 0 ? dfp[cc] * inv : 0;
                        }
                    }
            }
        FCD_FN(conv_dw)(g, xp + n * (g->h + 2 * g->pad) * (g->w + 2 * g->pad), gm, dw1, db1);
    }

    /* SGD update: p -= lr * grad */
    for (t = 0; t < K * K * C; t++) w1[t] -= lr * dw1[t];
    for (cc = 0; cc < C; cc++) b1[cc] -= lr * db1[cc];
    for (t = 0; t < D * FCD_NCLS; t++) w2[t] -= lr * dw2[t];
    for (kk = 0; kk < FCD_NCLS; kk++) b2[kk] -= lr * db2[kk];
    return loss / (double)nb;
}

/* forward_g and step_g with the tutorial's geometry as constants (every call inlined: the same
   operations in the same order, with constant loop bounds and offsets) */
FCD_ATTR FCD_FLATTEN static void FCD_FN(forward_tutorial)(
    const FCD_T *x, const long long *idx, Py_ssize_t nb, const FCD_T *w1, const FCD_T *b1, const FCD_T *w2,
    const FCD_T *b2, FCD_T *xp, FCD_T *out1, FCD_I *arg, FCD_T *flat, FCD_T *logits, FCD_T *w2t)
{
    FCD_FN(forward_g)(&fcd_tutorial, x, idx, nb, w1, b1, w2, b2, xp, out1, arg, flat, logits, w2t);
}
FCD_ATTR FCD_FLATTEN static double FCD_FN(step_tutorial)(
    const FCD_T *x, const long long *y, const long long *idx, Py_ssize_t nb, FCD_T lr, FCD_T *w1, FCD_T *b1,
    FCD_T *w2, FCD_T *b2, FCD_T *xp, FCD_T *out1, FCD_I *arg, FCD_T *flat, FCD_T *proba, FCD_T *dflat,
    FCD_T *gm, FCD_T *t2, FCD_T *dw1, FCD_T *db1, FCD_T *dw2, FCD_T *db2)
{
    return FCD_FN(step_g)(&fcd_tutorial, x, y, idx, nb, lr, w1, b1, w2, b2, xp, out1, arg, flat, proba, dflat,
                          gm, t2, dw1, db1, dw2, db2);
}

/* The entry points: the tutorial's geometry takes its constant-geometry copy */
FCD_ATTR static void FCD_FN(forward)(const fcd_geo *g, const FCD_T *x, const long long *idx, Py_ssize_t nb,
                                     const FCD_T *w1, const FCD_T *b1, const FCD_T *w2, const FCD_T *b2,
                                     FCD_T *xp, FCD_T *out1, FCD_I *arg, FCD_T *flat, FCD_T *logits,
                                     FCD_T *w2t)
{
    if (fcd_is_tutorial(g))
        FCD_FN(forward_tutorial)(x, idx, nb, w1, b1, w2, b2, xp, out1, arg, flat, logits, w2t);
    else
        FCD_FN(forward_g)(g, x, idx, nb, w1, b1, w2, b2, xp, out1, arg, flat, logits, w2t);
}
FCD_ATTR static double FCD_FN(step)(const fcd_geo *g, const FCD_T *x, const long long *y,
                                    const long long *idx, Py_ssize_t nb, FCD_T lr,
                                    FCD_T *w1, FCD_T *b1, FCD_T *w2, FCD_T *b2,
                                    FCD_T *xp, FCD_T *out1, FCD_I *arg, FCD_T *flat, FCD_T *proba,
                                    FCD_T *dflat, FCD_T *gm, FCD_T *t2,
                                    FCD_T *dw1, FCD_T *db1, FCD_T *dw2, FCD_T *db2)
{
    if (fcd_is_tutorial(g))
        return FCD_FN(step_tutorial)(x, y, idx, nb, lr, w1, b1, w2, b2, xp, out1, arg, flat, proba, dflat, gm, t2,
                                     dw1, db1, dw2, db2);
    return FCD_FN(step_g)(g, x, y, idx, nb, lr, w1, b1, w2, b2, xp, out1, arg, flat, proba, dflat, gm, t2,
                          dw1, db1, dw2, db2);
}

#undef FCD_T
#undef FCD_I
#undef FCD_FN
#undef FCD_ATTR
#undef FCD_VB
#undef FCD_DVB
