/* Direct convolution kernels for small reductions, for one element type and one instruction set.

   A template: _conv_small_kernels.h includes it once per (type, instruction-set level) through
   _simd_instantiate.h (FC_T, FC_FN, FC_ATTR, FC_VB, FC_ISA; see there).  The types fc_sg, fc_dg
   and the helpers FCS_* are defined once, in _conv_small_kernels.h.

   FC_FN(bc):  xb[((r+ph)*Wp + j+pw)*C + c] = x[r, j, c] broadcast to a vector (interior only)
   FC_FN(fwd): y[q, co] = b[co] + sum_t xb[poff[q] + toff[t]] * w[t, co]   (one image)
   FC_FN(dw):  dw[t, co] += sum_q xb[poff[q] + toff[t]] * dy[q, co]; db[co] += sum_q dy[q, co]
   FC_FN(dx):  dxp[poff[q] + toff[t]] += sum_co dy[q, co] * w[t, co]  (one image; by tap over a
               transposed block of QB pixels, added back row segment by row segment)
   FC_FN(dxg): dx[q, c] = the stride-1 input-gradient correlation (see fc_dg; one image)
   xb holds each padded-plane value as a whole vector, so the inner loops are vector FMAs
   with a memory operand and no broadcast.  Other compilers than GCC/Clang get one-lane
   "vectors" (plain scalars). */

#if defined(__GNUC__)
#define FCS_VB FC_VB
#else
#define FCS_VB (sizeof(FC_T))
#endif

FCS_VEC(FC_FN(v), FC_T, FCS_VB)
FC_ATTR static void FC_FN(dx)(const fc_sg *g, const FC_T *dy, const FC_T *w, FC_T *dxp, FC_T *scr)
{
    enum { L = FCS_VB / sizeof(FC_T), NV = 8, QB = NV * L };
    const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, Wo = g->Wo, st = g->step;
    const Py_ssize_t *toff = g->toff, *poff = g->poff;
    FC_T *dyT = scr, *gt = scr + Co * QB;
    Py_ssize_t q0, nq, qq, co, t, n, k;
    int v;
    for (q0 = 0; q0 < Q; q0 += QB) {
        nq = Q - q0 < QB ? Q - q0 : QB;
        for (co = 0; co < Co; co++) {
            FC_T *FCS_RESTRICT dst = dyT + co * QB;
            const FC_T *FCS_RESTRICT src = dy + q0 * Co + co;
            for (qq = 0; qq < nq; qq++) dst[qq] = src[qq * Co];
            for (; qq < QB; qq++) dst[qq] = 0;
        }
        for (t = 0; t < K; t++) {
            FC_FN(v) acc[NV], r;
            for (v = 0; v < NV; v++) acc[v] = (FC_FN(v)){0};
            for (co = 0; co < Co; co++) {
                const FC_T wt = w[t * Co + co];
                const FC_T *row = dyT + co * QB;
                for (v = 0; v < NV; v++) {
                    memcpy(&r, row + v * L, sizeof r);
                    acc[v] += wt * r;
                }
            }
            memcpy(gt, acc, sizeof acc);
            for (qq = 0; qq < nq; qq += n) {
                FC_T *FCS_RESTRICT d = dxp + poff[q0 + qq] + toff[t];
                const FC_T *FCS_RESTRICT gq = gt + qq;
                n = Wo - (q0 + qq) % Wo;
                if (n > nq - qq) n = nq - qq;
                if (st == 1) { FCS_VADD(FC_FN(v), L, d, gq, n, k) }
                else { for (k = 0; k < n; k++) d[k * st] += gq[k]; }
            }
        }
    }
}

/* FC_FN(red): the lane sums of L accumulators, r[p] = sum of the lanes of acc[p], p < L.
   _conv_small_kernels.h has shuffle versions for some levels (FCS_RED_<level> 1); the others
   take this loop. */
#if !FC_CAT(FCS_RED_, FC_ISA)
FC_ATTR static inline void FC_FN(red)(const void *a_, FC_T *r)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const FC_T *a = (const FC_T *)a_;
    int p, l;
    for (p = 0; p < L; p++) {
        FC_T s = a[p * L];
        for (l = 1; l < L; l++) s += a[p * L + l];
        r[p] = s;
    }
}
#endif

/* vector lanes of this instantiation (the layout of the broadcast planes) */
static Py_ssize_t FC_FN(lanes)(void) { return FCS_VB / sizeof(FC_T); }

#define FCS_DWBLK(TB)                                                                      \
FC_ATTR static inline void FC_FN(dwb##TB)(const fc_sg *g, const FC_T *xb, const FC_T *dy,  \
                                    FC_T *dw, FC_T *db, Py_ssize_t co, Py_ssize_t t0)      \
{                                                                                          \
    enum { L = FCS_VB / sizeof(FC_T) };                                                    \
    const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout;                                     \
    const Py_ssize_t nb = K - t0 < TB ? K - t0 : TB;                                       \
    Py_ssize_t o[TB], q;                                                                   \
    FC_FN(v) acc[TB], sb = (FC_FN(v)){0}, cur, xv, d;                                      \
    int k;                                                                                 \
    FCS_UNROLL for (k = 0; k < TB; k++) {                                                  \
        o[k] = g->toff[t0 + (k < nb ? k : 0)] * L;                                         \
        acc[k] = (FC_FN(v)){0};                                                            \
    }                                                                                      \
    for (q = 0; q < Q; q++) {                                                              \
        const FC_T *x0 = xb + g->poff[q] * L;                                              \
        memcpy(&d, dy + q * Co + co, sizeof d);                                            \
        FCS_UNROLL for (k = 0; k < TB; k++) {                                              \
            memcpy(&xv, x0 + o[k], sizeof xv);                                             \
            acc[k] += xv * d;                                                              \
        }                                                                                  \
        sb += d;                                                                           \
    }                                                                                      \
    for (k = 0; k < nb; k++) {                                                             \
        memcpy(&cur, dw + (t0 + k) * Co + co, sizeof cur);                                 \
        cur += acc[k];                                                                     \
        memcpy(dw + (t0 + k) * Co + co, &cur, sizeof cur);                                 \
    }                                                                                      \
    if (t0 == 0) {                                                                         \
        memcpy(&cur, db + co, sizeof cur);                                                 \
        cur += sb;                                                                         \
        memcpy(db + co, &cur, sizeof cur);                                                 \
    }                                                                                      \
}

FC_ATTR static void FC_FN(bc)(const FC_T *x, FC_T *xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                        Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t WC = W * C;
    Py_ssize_t r, j;
    for (r = 0; r < H; r++) {
        FC_T *d = xb + ((r + ph) * Wp + pw) * C * L;
        const FC_T *s = x + r * WC;
        for (j = 0; j < WC; j++) {
            FC_FN(v) v = (FC_FN(v)){0} + s[j];
            memcpy(d + j * L, &v, sizeof v);
        }
    }
}
FC_ATTR static void FC_FN(fwd)(const fc_sg *g, const FC_T *xb, const FC_T *w, const FC_T *b, FC_T *y)
{
    enum { L = FCS_VB / sizeof(FC_T), P = 8 };
    const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, CV = Co - Co % L;
    const Py_ssize_t *toff = g->toff, *poff = g->poff;
    Py_ssize_t co, q, t;
    int p;
    for (co = 0; co < CV; co += L) {
        FC_FN(v) bv, wv, xv;
        memcpy(&bv, b + co, sizeof bv);
        for (q = 0; q + P <= Q; q += P) {
            FC_FN(v) acc[P];
            const FC_T *xq[P];
            FCS_UNROLL for (p = 0; p < P; p++) { acc[p] = bv; xq[p] = xb + poff[q + p] * L; }
            for (t = 0; t < K; t++) {
                const Py_ssize_t o = toff[t] * L;
                memcpy(&wv, w + t * Co + co, sizeof wv);
                FCS_UNROLL for (p = 0; p < P; p++) {
                    memcpy(&xv, xq[p] + o, sizeof xv);
                    acc[p] += xv * wv;
                }
            }
            FCS_UNROLL for (p = 0; p < P; p++) memcpy(y + (q + p) * Co + co, &acc[p], sizeof bv);
        }
        for (; q < Q; q++) {
            FC_FN(v) a = bv;
            const FC_T *x0 = xb + poff[q] * L;
            for (t = 0; t < K; t++) {
                memcpy(&wv, w + t * Co + co, sizeof wv);
                memcpy(&xv, x0 + toff[t] * L, sizeof xv);
                a += xv * wv;
            }
            memcpy(y + q * Co + co, &a, sizeof a);
        }
    }
    for (co = CV; co < Co; co++)
        for (q = 0; q < Q; q++) {
            FC_T s = b[co];
            const FC_T *x0 = xb + poff[q] * L;
            for (t = 0; t < K; t++) s += x0[toff[t] * L] * w[t * Co + co];
            y[q * Co + co] = s;
        }
}
FCS_DWBLK(4)
FCS_DWBLK(8)
FCS_DWBLK(9)
FCS_DWBLK(12)
FC_ATTR static void FC_FN(dw)(const fc_sg *g, const FC_T *xb, const FC_T *dy, FC_T *dw, FC_T *db)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, CV = Co - Co % L;
    const Py_ssize_t *toff = g->toff, *poff = g->poff;
    Py_ssize_t co, q, t, t0, rem;
    for (co = 0; co < CV; co += L)
        for (t0 = 0; t0 < K; t0 += rem) {
            rem = K - t0;
            if (rem >= 10) { rem = rem > 12 ? 12 : rem; FC_FN(dwb12)(g, xb, dy, dw, db, co, t0); }
            else if (rem == 9) FC_FN(dwb9)(g, xb, dy, dw, db, co, t0);
            else if (rem >= 5) FC_FN(dwb8)(g, xb, dy, dw, db, co, t0);
            else FC_FN(dwb4)(g, xb, dy, dw, db, co, t0);
        }
    for (co = CV; co < Co; co++) {
        FC_T s = 0;
        for (q = 0; q < Q; q++) s += dy[q * Co + co];
        db[co] += s;
        for (t = 0; t < K; t++) {
            s = 0;
            for (q = 0; q < Q; q++) s += xb[(poff[q] + toff[t]) * L] * dy[q * Co + co];
            dw[t * Co + co] += s;
        }
    }
}
FC_ATTR static void FC_FN(dxg)(const fc_dg *g, const FC_T *D, const FC_T *wv, FC_T *dx)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t KV = g->KV, Q = g->Q, C = g->C;
    const Py_ssize_t *doff = g->doff, *pd = g->pd;
    Py_ssize_t q, c, tv;
    int p, l;
    FC_FN(v) wt, dv;
    FC_T r[L];
    for (q = 0; q + L <= Q; q += L) {
        const FC_T *dq[L];
        FCS_UNROLL for (p = 0; p < L; p++) dq[p] = D + pd[q + p];
        for (c = 0; c < C; c++) {
            FC_FN(v) acc[L];
            const FC_T *wc = wv + c * KV * L;
            FCS_UNROLL for (p = 0; p < L; p++) acc[p] = (FC_FN(v)){0};
            for (tv = 0; tv < KV; tv++) {
                const Py_ssize_t o = doff[tv];
                memcpy(&wt, wc + tv * L, sizeof wt);
                FCS_UNROLL for (p = 0; p < L; p++) {
                    memcpy(&dv, dq[p] + o, sizeof dv);
                    acc[p] += dv * wt;
                }
            }
            FC_FN(red)(acc, r);
            if (C == 1) memcpy(dx + q, r, sizeof r);
            else FCS_UNROLL for (p = 0; p < L; p++) dx[(q + p) * C + c] = r[p];
        }
    }
    for (; q < Q; q++)
        for (c = 0; c < C; c++) {
            FC_FN(v) a = (FC_FN(v)){0};
            const FC_T *wc = wv + c * KV * L;
            FC_T s;
            for (tv = 0; tv < KV; tv++) {
                memcpy(&wt, wc + tv * L, sizeof wt);
                memcpy(&dv, D + pd[q] + doff[tv], sizeof dv);
                a += dv * wt;
            }
            memcpy(r, &a, sizeof a);
            s = r[0];
            for (l = 1; l < L; l++) s += r[l];
            dx[q * C + c] = s;
        }
}

#undef FCS_DWBLK
#undef FCS_VB
