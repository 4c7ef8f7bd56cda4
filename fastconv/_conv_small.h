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
/* gt[0 : nv*L] = sum_co wt[co] * dyT[co*QB : +nv*L], the tap's gradient of nv vectors of pixels */
FCS_INLINE FC_ATTR void FC_FN(dxacc)(const FC_T *wt, const FC_T *dyT, Py_ssize_t Co, Py_ssize_t QB,
                                     FC_T *gt, const int nv)
{
    enum { L = FCS_VB / sizeof(FC_T), NV = 8 };
    FC_FN(v) acc[NV], r;
    Py_ssize_t co;
    int v;
    for (v = 0; v < nv; v++) acc[v] = (FC_FN(v)){0};
    for (co = 0; co < Co; co++) {
        const FC_T w = wt[co];
        const FC_T *row = dyT + co * QB;
        for (v = 0; v < nv; v++) {
            memcpy(&r, row + v * L, sizeof r);
            acc[v] += w * r;
        }
    }
    memcpy(gt, acc, nv * sizeof r);
}
FC_ATTR static void FC_FN(dx)(const fc_sg *g, const FC_T *dy, const FC_T *w, FC_T *dxp, FC_T *scr)
{
    enum { L = FCS_VB / sizeof(FC_T), NV = 8, QB = NV * L };
    const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, Wo = g->Wo, st = g->step;
    const Py_ssize_t *toff = g->toff, *poff = g->poff;
    FC_T *dyT = scr, *gt = scr + Co * QB;
    Py_ssize_t q0, nq, qq, co, t, n, k;
    int nv;
    for (q0 = 0; q0 < Q; q0 += QB) {
        nq = Q - q0 < QB ? Q - q0 : QB;
        nv = (int)((nq + L - 1) / L);  /* vectors of pixels in this block */
        for (co = 0; co < Co; co++) {
            FC_T *FCS_RESTRICT dst = dyT + co * QB;
            const FC_T *FCS_RESTRICT src = dy + q0 * Co + co;
            for (qq = 0; qq < nq; qq++) dst[qq] = src[qq * Co];
            for (; qq < nv * L; qq++) dst[qq] = 0;
        }
        for (t = 0; t < K; t++) {
            switch (nv) {  /* a constant vector count in each (unrolled) copy */
            case 1: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 1); break;
            case 2: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 2); break;
            case 3: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 3); break;
            case 4: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 4); break;
            case 5: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 5); break;
            case 6: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 6); break;
            case 7: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, 7); break;
            default: FC_FN(dxacc)(w + t * Co, dyT, Co, QB, gt, NV); break;
            }
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

/* FC_FN(ld), FC_FN(st): v <- p[0:r] (other lanes 0) and p[0:r] <- v, 0 < r < L, touching nothing
   past p[r-1].  _conv_small_kernels.h has masked versions for some levels (FCS_MASK_<level> 1);
   the others take these loops. */
#if !FC_CAT(FCS_MASK_, FC_ISA)
FC_ATTR static inline FC_FN(v) FC_FN(ld)(const FC_T *p, int r)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    FC_T t[L];
    FC_FN(v) v;
    int i;
    for (i = 0; i < L; i++) t[i] = i < r ? p[i] : 0;
    memcpy(&v, t, sizeof v);
    return v;
}
FC_ATTR static inline void FC_FN(st)(FC_T *p, FC_FN(v) v, int r)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    FC_T t[L];
    int i;
    memcpy(t, &v, sizeof v);
    for (i = 0; i < r; i++) p[i] = t[i];
}
#endif

/* vector lanes of this instantiation (the layout of the broadcast planes) */
static Py_ssize_t FC_FN(lanes)(void) { return FCS_VB / sizeof(FC_T); }

/* FC_FN(dwb<TB>) (FULL 1): columns [co, co + L); FC_FN(dwt<TB>) (FULL 0): the r < L columns
   [co, co + r), partial loads and stores; each for the taps [t0, t0 + TB) */
#define FCS_DWBLK(TB, NAME, FULL)                                                          \
FC_ATTR static inline void FC_FN(NAME##TB)(const fc_sg *g, const FC_T *xb, const FC_T *dy,    \
                                      FC_T *dw, FC_T *db, Py_ssize_t co, Py_ssize_t t0,    \
                                      int r)                                               \
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
        if (FULL) memcpy(&d, dy + q * Co + co, sizeof d);                                  \
        else d = FC_FN(ld)(dy + q * Co + co, r);                                           \
        FCS_UNROLL for (k = 0; k < TB; k++) {                                              \
            memcpy(&xv, x0 + o[k], sizeof xv);                                             \
            acc[k] += xv * d;                                                              \
        }                                                                                  \
        sb += d;                                                                           \
    }                                                                                      \
    for (k = 0; k < nb; k++) {                                                             \
        FC_T *dwk = dw + (t0 + k) * Co + co;                                               \
        if (FULL) { memcpy(&cur, dwk, sizeof cur); cur += acc[k]; memcpy(dwk, &cur, sizeof cur); } \
        else { cur = FC_FN(ld)(dwk, r); cur += acc[k]; FC_FN(st)(dwk, cur, r); }           \
    }                                                                                      \
    if (t0 == 0) {                                                                         \
        if (FULL) { memcpy(&cur, db + co, sizeof cur); cur += sb; memcpy(db + co, &cur, sizeof cur); } \
        else { cur = FC_FN(ld)(db + co, r); cur += sb; FC_FN(st)(db + co, cur, r); }       \
    }                                                                                      \
}

FC_ATTR static void FC_FN(bc)(const FC_T *x, FC_T *xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                        Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t WC = W * C;
    Py_ssize_t r, j;
    const FC_FN(v) zero = {0};
    for (r = 0; r < H; r++) {
        FC_T *d = xb + ((r + ph) * Wp + pw) * C * L;
        const FC_T *s = x + r * WC;
        FCS_UNROLL4
        for (j = 0; j < WC; j++) {
            /* s[j] - 0 is s[j] for every value (-0.0 included), so this compiles to a broadcast */
            FC_FN(v) v = s[j] - zero;
            memcpy(d + j * L, &v, sizeof v);
        }
    }
}
/* forward of the columns [co, co + L) (full) or [co, co + r), r < L (partial loads and stores) */
FCS_INLINE FC_ATTR void FC_FN(fwdc)(const fc_sg *g, const FC_T *xb, const FC_T *w, const FC_T *b, FC_T *y,
                                    Py_ssize_t co, const int full, int r)
{
    enum { L = FCS_VB / sizeof(FC_T), P = 8 };
    const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout;
    const Py_ssize_t *toff = g->toff, *poff = g->poff;
    Py_ssize_t q, t;
    int p;
    FC_FN(v) bv, wv, xv;
    if (full) memcpy(&bv, b + co, sizeof bv);
    else bv = FC_FN(ld)(b + co, r);
    for (q = 0; q + P <= Q; q += P) {
        FC_FN(v) acc[P];
        const FC_T *xq[P];
        FCS_UNROLL for (p = 0; p < P; p++) { acc[p] = bv; xq[p] = xb + poff[q + p] * L; }
        for (t = 0; t < K; t++) {
            const Py_ssize_t o = toff[t] * L;
            if (full) memcpy(&wv, w + t * Co + co, sizeof wv);
            else wv = FC_FN(ld)(w + t * Co + co, r);
            FCS_UNROLL for (p = 0; p < P; p++) {
                memcpy(&xv, xq[p] + o, sizeof xv);
                acc[p] += xv * wv;
            }
        }
        FCS_UNROLL for (p = 0; p < P; p++) {
            if (full) memcpy(y + (q + p) * Co + co, &acc[p], sizeof bv);
            else FC_FN(st)(y + (q + p) * Co + co, acc[p], r);
        }
    }
    for (; q < Q; q++) {
        FC_FN(v) a = bv;
        const FC_T *x0 = xb + poff[q] * L;
        for (t = 0; t < K; t++) {
            if (full) memcpy(&wv, w + t * Co + co, sizeof wv);
            else wv = FC_FN(ld)(w + t * Co + co, r);
            memcpy(&xv, x0 + toff[t] * L, sizeof xv);
            a += xv * wv;
        }
        if (full) memcpy(y + q * Co + co, &a, sizeof a);
        else FC_FN(st)(y + q * Co + co, a, r);
    }
}
/* 1 if the layer is a 3x3 kernel over one input channel at stride 1 with Cout one whole vector
   (the geometry fwd33 and dw33 serve), with Wp set to the padded plane's row length */
FCS_INLINE int FC_FN(is33)(const fc_sg *g, Py_ssize_t *Wp)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t *toff = g->toff;
    int t;
    if (g->K != 9 || g->Cout != L || g->step != 1 || g->Wo < 1)
        return 0;
    *Wp = toff[3];
    for (t = 0; t < 9; t++)
        if (toff[t] != (t / 3) * *Wp + t % 3)
            return 0;
    return g->Q <= g->Wo || g->poff[g->Wo] == g->poff[0] + *Wp;
}

/* The forward of a 3x3 kernel over one input channel at stride 1 with Cout one whole vector (the
   digits layer): the nine weight vectors stay in registers and, along an output row, each plane
   value loaded feeds the sums of the (up to) three pixels whose windows hold it, so a block of P
   pixels takes 3*(P+2) loads for 9*P multiply-adds (fwdc: 10 per 9). Each sum adds its taps in
   fwdc's order, so the results are fwdc's bit for bit. Returns 0 (nothing done) for other layers. */
FC_ATTR static int FC_FN(fwd33)(const fc_sg *g, const FC_T *xb, const FC_T *w, const FC_T *b, FC_T *y)
{
    enum { L = FCS_VB / sizeof(FC_T), P = 4 };
    const Py_ssize_t *toff = g->toff, *poff = g->poff, Q = g->Q, Wo = g->Wo;
    Py_ssize_t Wp, i, j, j0;
    int t, p, jj, ki;
    FC_FN(v) wv[9], bv, acc[P], xv;
    if (!FC_FN(is33)(g, &Wp))
        return 0;
    for (t = 0; t < 9; t++)
        memcpy(&wv[t], w + t * L, sizeof wv[t]);
    memcpy(&bv, b, sizeof bv);
    for (i = 0; i < Q / Wo; i++) {
        for (j0 = 0; j0 + P <= Wo; j0 += P) {
            const FC_T *r0 = xb + poff[i * Wo + j0] * L;
            FCS_UNROLL for (p = 0; p < P; p++) acc[p] = bv;
            FCS_UNROLL for (ki = 0; ki < 3; ki++) {
                const FC_T *r = r0 + ki * Wp * L;
                FCS_UNROLL for (jj = 0; jj < P + 2; jj++) {
                    memcpy(&xv, r + jj * L, sizeof xv);
                    if (jj < P) acc[jj] += xv * wv[ki * 3];
                    if (jj >= 1 && jj - 1 < P) acc[jj - 1] += xv * wv[ki * 3 + 1];
                    if (jj >= 2) acc[jj - 2] += xv * wv[ki * 3 + 2];
                }
            }
            FCS_UNROLL for (p = 0; p < P; p++) memcpy(y + (i * Wo + j0 + p) * L, &acc[p], sizeof bv);
        }
        for (j = j0; j < Wo; j++) {
            const FC_T *x0 = xb + poff[i * Wo + j] * L;
            FC_FN(v) a = bv;
            for (t = 0; t < 9; t++) {
                memcpy(&xv, x0 + toff[t] * L, sizeof xv);
                a += xv * wv[t];
            }
            memcpy(y + (i * Wo + j) * L, &a, sizeof a);
        }
    }
    return 1;
}
FC_ATTR static void FC_FN(fwd)(const fc_sg *g, const FC_T *xb, const FC_T *w, const FC_T *b, FC_T *y)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t Co = g->Cout, CV = Co - Co % L;
    Py_ssize_t co;
    if (FC_FN(fwd33)(g, xb, w, b, y))
        return;
    for (co = 0; co < CV; co += L) FC_FN(fwdc)(g, xb, w, b, y, co, 1, L);
    if (CV < Co) FC_FN(fwdc)(g, xb, w, b, y, CV, 0, (int)(Co - CV));
}
FCS_DWBLK(4, dwb, 1)
FCS_DWBLK(8, dwb, 1)
FCS_DWBLK(9, dwb, 1)
FCS_DWBLK(12, dwb, 1)
FCS_DWBLK(4, dwt, 0)
FCS_DWBLK(8, dwt, 0)
FCS_DWBLK(9, dwt, 0)
FCS_DWBLK(12, dwt, 0)
/* the taps of the columns [co, co + L) (dwb) or [co, co + r) (dwt, r < L) in blocks of 12, 9, 8, 4 */
#define FCS_DWTAPS(NAME, r)                                                               \
    for (t0 = 0; t0 < K; t0 += rem) {                                                     \
        rem = K - t0;                                                                     \
        if (rem >= 10) { rem = rem > 12 ? 12 : rem; FC_FN(NAME##12)(g, xb, dy, dw, db, co, t0, r); } \
        else if (rem == 9) FC_FN(NAME##9)(g, xb, dy, dw, db, co, t0, r);                  \
        else if (rem >= 5) FC_FN(NAME##8)(g, xb, dy, dw, db, co, t0, r);                  \
        else FC_FN(NAME##4)(g, xb, dy, dw, db, co, t0, r);                                \
    }
/* The weight gradient of the fwd33 geometry: the nine taps' sums stay in registers and, along an
   output row, each plane value loaded meets the dy vectors of the (up to) three pixels whose
   windows hold it (a block of P pixels: P + 3*(P+2) loads for 9*P multiply-adds; dwb9: 10 per 9).
   Every tap's sum adds its pixels in order, as dwb9 does, so the results are dwb9's bit for bit. */
FC_ATTR static int FC_FN(dw33)(const fc_sg *g, const FC_T *xb, const FC_T *dy, FC_T *dw, FC_T *db)
{
    enum { L = FCS_VB / sizeof(FC_T), P = 4 };
    const Py_ssize_t *toff = g->toff, *poff = g->poff, Q = g->Q, Wo = g->Wo;
    Py_ssize_t Wp, i, j, j0;
    int t, p, c, ki;
    FC_FN(v) acc[9], d[P], sb = (FC_FN(v)){0}, xv, cur, dv;
    if (!FC_FN(is33)(g, &Wp))
        return 0;
    for (t = 0; t < 9; t++)
        acc[t] = (FC_FN(v)){0};
    for (i = 0; i < Q / Wo; i++) {
        for (j0 = 0; j0 + P <= Wo; j0 += P) {
            const FC_T *r0 = xb + poff[i * Wo + j0] * L;
            FCS_UNROLL for (p = 0; p < P; p++) {
                memcpy(&d[p], dy + (i * Wo + j0 + p) * L, sizeof d[p]);
                sb += d[p];
            }
            FCS_UNROLL for (ki = 0; ki < 3; ki++) {
                const FC_T *r = r0 + ki * Wp * L;
                FCS_UNROLL for (c = 0; c < P + 2; c++) {
                    memcpy(&xv, r + c * L, sizeof xv);
                    if (c < P) acc[ki * 3] += xv * d[c];
                    if (c >= 1 && c - 1 < P) acc[ki * 3 + 1] += xv * d[c - 1];
                    if (c >= 2) acc[ki * 3 + 2] += xv * d[c - 2];
                }
            }
        }
        for (j = j0; j < Wo; j++) {
            const FC_T *x0 = xb + poff[i * Wo + j] * L;
            memcpy(&dv, dy + (i * Wo + j) * L, sizeof dv);
            for (t = 0; t < 9; t++) {
                memcpy(&xv, x0 + toff[t] * L, sizeof xv);
                acc[t] += xv * dv;
            }
            sb += dv;
        }
    }
    for (t = 0; t < 9; t++) {
        memcpy(&cur, dw + t * L, sizeof cur);
        cur += acc[t];
        memcpy(dw + t * L, &cur, sizeof cur);
    }
    memcpy(&cur, db, sizeof cur);
    cur += sb;
    memcpy(db, &cur, sizeof cur);
    return 1;
}
FC_ATTR static void FC_FN(dw)(const fc_sg *g, const FC_T *xb, const FC_T *dy, FC_T *dw, FC_T *db)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t K = g->K, Co = g->Cout, CV = Co - Co % L;
    Py_ssize_t co, t0, rem;
    if (FC_FN(dw33)(g, xb, dy, dw, db))
        return;
    for (co = 0; co < CV; co += L) FCS_DWTAPS(dwb, L)
    if (CV < Co) {
        co = CV;
        FCS_DWTAPS(dwt, (int)(Co - CV))
    }
}
#undef FCS_DWTAPS
/* dxg's block of L pixels q0.. of one row for a 3x3 kernel over one input channel with one vector
   of output channels (D rows of Wd vectors): each D vector loaded meets the (up to) three pixels
   it serves, with the kernel row's three (flipped) weight vectors loaded beside it (3*(L+2) + 9
   loads for 9*L multiply-adds; the generic block: 9 per 8), and the L sums are written straight
   from the lane-sum helper. Every pixel's vector adds its taps in dxg's order, so the lane sums
   are dxg's bit for bit. */
FCS_INLINE FC_ATTR void FC_FN(dxg33)(const FC_T *Dq, Py_ssize_t Wd, const FC_T *wv, FC_T *dxq)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    FC_FN(v) acc[L], dv, w0, w1, w2;
    int p, c, ki;
    FCS_UNROLL for (p = 0; p < L; p++) acc[p] = (FC_FN(v)){0};
    FCS_UNROLL for (ki = 0; ki < 3; ki++) {
        const FC_T *row = Dq + ki * Wd * L;
        memcpy(&w0, wv + (ki * 3) * L, sizeof w0);
        memcpy(&w1, wv + (ki * 3 + 1) * L, sizeof w1);
        memcpy(&w2, wv + (ki * 3 + 2) * L, sizeof w2);
        FCS_UNROLL for (c = 0; c < L + 2; c++) {
            memcpy(&dv, row + c * L, sizeof dv);
            if (c < L) acc[c] += dv * w0;
            if (c >= 1 && c - 1 < L) acc[c - 1] += dv * w1;
            if (c >= 2) acc[c - 2] += dv * w2;
        }
    }
    FC_FN(red)(acc, dxq);
}
FC_ATTR static void FC_FN(dxg)(const fc_dg *g, const FC_T *D, const FC_T *wv, FC_T *dx)
{
    enum { L = FCS_VB / sizeof(FC_T) };
    const Py_ssize_t KV = g->KV, Q = g->Q, C = g->C;
    const Py_ssize_t *doff = g->doff, *pd = g->pd;
    Py_ssize_t q, c, tv, Wd = 0;
    int p, l, is33 = 0;
    FC_FN(v) wt, dv;
    FC_T r[L];
    if (C == 1 && KV == 9) {  /* 3x3, one input channel, one vector of output channels */
        Wd = doff[3] / L;
        is33 = doff[3] == Wd * L;
        for (tv = 0; tv < 9; tv++)
            is33 = is33 && doff[tv] == ((tv / 3) * Wd + tv % 3) * L;
    }
    for (q = 0; q + L <= Q; q += L) {
        const FC_T *dq[L];
        if (is33 && pd[q + L - 1] == pd[q] + (L - 1) * L) {  /* the block's pixels in one row */
            FC_FN(dxg33)(D + pd[q], Wd, wv, dx + q);
            continue;
        }
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
