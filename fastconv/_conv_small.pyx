# cython: language_level=3
"""Direct convolution kernels for small reductions (few taps ``Kh*Kw*C``, few output channels).

For a layer such as 8x8x1 -> 8 with a 3x3 kernel, an im2col + GEMM call spends its time on
packing and call overhead, not on arithmetic. These kernels compute the convolution directly in
NHWC, vectorised over the output channels (``Cout`` = 8 float32 values fill one AVX register)
and register-blocked over output pixels (forward) or kernel taps (weight gradient).

Geometry: each image is written into a zero-padded "broadcast plane" (``Hp = H + 2*ph``,
``Wp = W + 2*pw``) that holds every value repeated across one vector, so the forward and weight
gradient loops are vector FMAs with a memory operand and no broadcasts or bounds tests. Tap
``t = (ki, kj, c)`` sits at offset ``toff[t] = (ki*Wp + kj)*C + c`` (in vectors) from its window's
origin and output pixel ``q = (i, j)`` has its origin at ``poff[q] = (i*sh*Wp + j*sw)*C``.
With stride 1 the input gradient is the correlation of dy, zero-padded by ``(Kh-1-ph, Kw-1-pw)``
and with its channels rounded up to whole vectors, with the flipped kernel: vector FMAs over
``Cout``, then one lane sum per input value. Other strides scatter dx tap by tap.

The C loops are compiled twice on x86 with GCC/Clang, for the baseline ISA (SSE2 vectors) and
with ``target("avx2,fma")``, and the AVX2 version is picked at run time when the CPU has it
(``FASTCONV_SIMD=baseline`` forces the baseline), as in :mod:`fastconv._filter`.

Results never depend on the thread count: the forward and the input gradient are computed image
by image, and the weight/bias gradients are summed within ``SMALL_PARTS`` fixed parts of the
batch, then across the parts in order.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc, calloc
from libc.string cimport memcpy, memset

cdef extern from "_simd.h":  # FC_X86_DISPATCH and fc_use_avx2(), shared with _filter
    int fc_use_avx2() noexcept nogil

cdef extern from *:
    """
    #include <stddef.h>
    #include <stdlib.h>
    #include <string.h>

    typedef struct {
        Py_ssize_t K;      /* taps Kh*Kw*C */
        Py_ssize_t Q;      /* output pixels per image Ho*Wo */
        Py_ssize_t Cout;
        Py_ssize_t Wo;     /* output columns */
        Py_ssize_t step;   /* sw*C: distance between horizontally adjacent window origins */
        const Py_ssize_t *toff;
        const Py_ssize_t *poff;
    } fc_sg;

    /* d[0:n] += g[0:n], whole vectors of type V (L lanes) first */
    #define FCS_VADD(V, L, d, g, n, k)                                                    \
        for (k = 0; k + L <= n; k += L) {                                                 \
            V va_, vb_;                                                                   \
            memcpy(&va_, d + k, sizeof va_);                                              \
            memcpy(&vb_, g + k, sizeof vb_);                                              \
            va_ += vb_;                                                                   \
            memcpy(d + k, &va_, sizeof va_);                                              \
        }                                                                                 \
        for (; k < n; k++) d[k] += g[k];

    #if defined(__GNUC__)
    #define FCS_RESTRICT __restrict__
    #define FCS_VEC(NAME, T, VB) typedef T NAME __attribute__((vector_size(VB)));
    #else
    #define FCS_RESTRICT
    #define FCS_VEC(NAME, T, VB) typedef T NAME;
    #endif

    /* S##_fwd:  y[q, co] = b[co] + sum_t xp[poff[q] + toff[t]] * w[t, co]   (one image)
       S##_dw:   dw[t, co] += sum_q xp[poff[q] + toff[t]] * dy[q, co]; db[co] += sum_q dy[q, co]
       S##_dx:   dxp[poff[q] + toff[t]] += sum_co dy[q, co] * w[t, co]  (one image; by tap over a
                 transposed block of QB pixels, added back row segment by row segment) */
    #define FCS_DEFINE(S, T, VB, ATTR)                                                    \\
    FCS_VEC(S##_v, T, VB)                                                                 \\
    ATTR static void S##_dx(const fc_sg *g, const T *dy, const T *w, T *dxp, T *scr)     \\
    {                                                                                     \\
        enum { L = VB / sizeof(T), NV = 8, QB = NV * L };                                 \\
        const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, Wo = g->Wo, st = g->step;      \\
        const Py_ssize_t *toff = g->toff, *poff = g->poff;                                \\
        T *dyT = scr, *gt = scr + Co * QB;                                                \\
        Py_ssize_t q0, nq, qq, co, t, n, k;                                               \\
        int v;                                                                            \\
        for (q0 = 0; q0 < Q; q0 += QB) {                                                  \\
            nq = Q - q0 < QB ? Q - q0 : QB;                                               \\
            for (co = 0; co < Co; co++) {                                             \\
                T *FCS_RESTRICT dst = dyT + co * QB;                                  \\
                const T *FCS_RESTRICT src = dy + q0 * Co + co;                        \\
                for (qq = 0; qq < nq; qq++) dst[qq] = src[qq * Co];                   \\
                for (; qq < QB; qq++) dst[qq] = 0;                                    \\
            }                                                                         \\
            for (t = 0; t < K; t++) {                                                     \\
                S##_v acc[NV], r;                                                         \\
                for (v = 0; v < NV; v++) acc[v] = (S##_v){0};                             \\
                for (co = 0; co < Co; co++) {                                             \\
                    const T wt = w[t * Co + co];                                          \\
                    const T *row = dyT + co * QB;                                         \\
                    for (v = 0; v < NV; v++) {                                            \\
                        memcpy(&r, row + v * L, sizeof r);                                \\
                        acc[v] += wt * r;                                                 \\
                    }                                                                     \\
                }                                                                         \\
                memcpy(gt, acc, sizeof acc);                                              \\
                for (qq = 0; qq < nq; qq += n) {                                          \\
                    T *FCS_RESTRICT d = dxp + poff[q0 + qq] + toff[t];                            \\
                    const T *FCS_RESTRICT gq = gt + qq;                                   \\
                    n = Wo - (q0 + qq) % Wo;                                              \\
                    if (n > nq - qq) n = nq - qq;                                         \\
                    if (st == 1) { FCS_VADD(S##_v, L, d, gq, n, k) }                           \\
                    else { for (k = 0; k < n; k++) d[k * st] += gq[k]; }                  \\
                }                                                                         \\
            }                                                                             \\
        }                                                                                 \\
    }

    /* The instantiations: float/double x baseline (SSE2 with GCC vectors, else scalar) and AVX2+FMA. */
    #if defined(__GNUC__)
    #define FCS_BASE_LIST(M) M(fcs_f32_base, float, 16, ) M(fcs_f64_base, double, 16, )
    #else
    #define FCS_BASE_LIST(M) M(fcs_f32_base, float, 4, ) M(fcs_f64_base, double, 8, )
    #endif
    #ifdef FC_X86_DISPATCH
    #define FCS_AVX2_LIST(M) M(fcs_f32_avx2, float, 32, __attribute__((target("avx2,fma")))) \\
                             M(fcs_f64_avx2, double, 32, __attribute__((target("avx2,fma"))))
    #else
    #define FCS_AVX2_LIST(M)
    #endif
    #define FCS_INSTANTIATE(M) FCS_BASE_LIST(M) FCS_AVX2_LIST(M)
    FCS_INSTANTIATE(FCS_DEFINE)

    /* Lane sums of L accumulators: r[p] = sum of the lanes of acc[p], p < L (x86 shuffles). */
    #define FCS_RED_GENERIC(NAME, T, L, ATTR)                                             \\
    ATTR static inline void NAME(const void *a_, T *r)                                    \\
    {                                                                                     \\
        const T *a = (const T *)a_;                                                       \\
        int p, l;                                                                         \\
        for (p = 0; p < L; p++) {                                                         \\
            T s = a[p * L];                                                               \\
            for (l = 1; l < L; l++) s += a[p * L + l];                                    \\
            r[p] = s;                                                                     \\
        }                                                                                 \\
    }
    #if defined(FC_X86_DISPATCH) && defined(__SSE2__)
    #include <immintrin.h>
    static inline void fcs_f32_base_red(const void *a, float *r)
    {
        __m128 v[4], s1, s2;
        memcpy(v, a, sizeof v);
        s1 = _mm_add_ps(_mm_unpacklo_ps(v[0], v[1]), _mm_unpackhi_ps(v[0], v[1]));
        s2 = _mm_add_ps(_mm_unpacklo_ps(v[2], v[3]), _mm_unpackhi_ps(v[2], v[3]));
        s1 = _mm_add_ps(_mm_movelh_ps(s1, s2), _mm_movehl_ps(s2, s1));
        _mm_storeu_ps(r, s1);
    }
    static inline void fcs_f64_base_red(const void *a, double *r)
    {
        __m128d v[2];
        memcpy(v, a, sizeof v);
        _mm_storeu_pd(r, _mm_add_pd(_mm_unpacklo_pd(v[0], v[1]), _mm_unpackhi_pd(v[0], v[1])));
    }
    __attribute__((target("avx2,fma"))) static inline void fcs_f32_avx2_red(const void *a, float *r)
    {
        __m256 v[8], ab, cd, ef, gh;
        memcpy(v, a, sizeof v);
        ab = _mm256_hadd_ps(v[0], v[1]); cd = _mm256_hadd_ps(v[2], v[3]);
        ef = _mm256_hadd_ps(v[4], v[5]); gh = _mm256_hadd_ps(v[6], v[7]);
        ab = _mm256_hadd_ps(ab, cd); ef = _mm256_hadd_ps(ef, gh);
        _mm256_storeu_ps(r, _mm256_add_ps(_mm256_permute2f128_ps(ab, ef, 0x20),
                                          _mm256_permute2f128_ps(ab, ef, 0x31)));
    }
    __attribute__((target("avx2,fma"))) static inline void fcs_f64_avx2_red(const void *a, double *r)
    {
        __m256d v[4], ab, cd;
        memcpy(v, a, sizeof v);
        ab = _mm256_hadd_pd(v[0], v[1]); cd = _mm256_hadd_pd(v[2], v[3]);
        _mm256_storeu_pd(r, _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20),
                                          _mm256_permute2f128_pd(ab, cd, 0x31)));
    }
    #elif defined(__GNUC__)
    FCS_RED_GENERIC(fcs_f32_base_red, float, 4, )
    FCS_RED_GENERIC(fcs_f64_base_red, double, 2, )
    #else
    FCS_RED_GENERIC(fcs_f32_base_red, float, 1, )
    FCS_RED_GENERIC(fcs_f64_base_red, double, 1, )
    #endif

    /* Geometry of the input-gradient correlation (stride 1): dx[q, c] = sum over vector taps tv of
       the lanes of D[pd[q] + doff[tv] : +L] * wv[(c*KV + tv)*L : +L], D being dy zero-padded by
       (Kh-1-ph, Kw-1-pw) with its channels padded to whole vectors, wv the flipped kernel. */
    typedef struct {
        Py_ssize_t KV;     /* vector taps Kh*Kw*(Cout rounded up to L)/L */
        Py_ssize_t Q;      /* input pixels per image H*W */
        Py_ssize_t C;      /* input channels */
        const Py_ssize_t *doff;
        const Py_ssize_t *pd;
    } fc_dg;

    /* S##_bc:  xb[((r+ph)*Wp + j+pw)*C + c] = x[r, j, c] broadcast to a vector (interior only)
       S##_fwd: y[q, co] = b[co] + sum_t xb[poff[q] + toff[t]] * w[t, co]   (one image)
       S##_dw:  dw[t, co] += sum_q xb[poff[q] + toff[t]] * dy[q, co]; db[co] += sum_q dy[q, co]
       S##_dxg: dx[q, c] = the correlation above (one image)
       xb holds each padded-plane value as a whole vector, so the inner loops are vector FMAs
       with a memory operand and no broadcast. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define FCS_UNROLL _Pragma("GCC unroll 16")
    #elif defined(__clang__)
    #define FCS_UNROLL _Pragma("unroll")
    #else
    #define FCS_UNROLL
    #endif
    #define FCS_DWBLK(S, T, VB, ATTR, TB)                                                 \\
    ATTR static inline void S##_dwb##TB(const fc_sg *g, const T *xb, const T *dy,        \\
                                        T *dw, T *db, Py_ssize_t co, Py_ssize_t t0)       \\
    {                                                                                     \\
        enum { L = VB / sizeof(T) };                                                      \\
        const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout;                                \\
        const Py_ssize_t nb = K - t0 < TB ? K - t0 : TB;                                  \\
        Py_ssize_t o[TB], q;                                                              \\
        S##_v acc[TB], sb = (S##_v){0}, cur, xv, d;                                       \\
        int k;                                                                            \\
        FCS_UNROLL for (k = 0; k < TB; k++) {                                                        \\
            o[k] = g->toff[t0 + (k < nb ? k : 0)] * L;                                    \\
            acc[k] = (S##_v){0};                                                          \\
        }                                                                                 \\
        for (q = 0; q < Q; q++) {                                                         \\
            const T *x0 = xb + g->poff[q] * L;                                            \\
            memcpy(&d, dy + q * Co + co, sizeof d);                                       \\
            FCS_UNROLL for (k = 0; k < TB; k++) {                                                    \\
                memcpy(&xv, x0 + o[k], sizeof xv);                                        \\
                acc[k] += xv * d;                                                         \\
            }                                                                             \\
            sb += d;                                                                      \\
        }                                                                                 \\
        for (k = 0; k < nb; k++) {                                                        \\
            memcpy(&cur, dw + (t0 + k) * Co + co, sizeof cur);                            \\
            cur += acc[k];                                                                \\
            memcpy(dw + (t0 + k) * Co + co, &cur, sizeof cur);                            \\
        }                                                                                 \\
        if (t0 == 0) {                                                                    \\
            memcpy(&cur, db + co, sizeof cur);                                            \\
            cur += sb;                                                                    \\
            memcpy(db + co, &cur, sizeof cur);                                            \\
        }                                                                                 \\
    }

    #define FCS_DEFINE_B(S, T, VB, ATTR)                                                  \\
    ATTR static void S##_bc(const T *x, T *xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, \\
                            Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp)                  \\
    {                                                                                     \\
        enum { L = VB / sizeof(T) };                                                      \\
        const Py_ssize_t WC = W * C;                                                      \\
        Py_ssize_t r, j;                                                                  \\
        for (r = 0; r < H; r++) {                                                         \\
            T *d = xb + ((r + ph) * Wp + pw) * C * L;                                     \\
            const T *s = x + r * WC;                                                      \\
            for (j = 0; j < WC; j++) {                                                    \\
                S##_v v = (S##_v){0} + s[j];                                              \\
                memcpy(d + j * L, &v, sizeof v);                                          \\
            }                                                                             \\
        }                                                                                 \\
    }                                                                                     \\
    ATTR static void S##_fwd(const fc_sg *g, const T *xb, const T *w, const T *b, T *y)  \\
    {                                                                                     \\
        enum { L = VB / sizeof(T), P = 8 };                                               \\
        const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, CV = Co - Co % L;              \\
        const Py_ssize_t *toff = g->toff, *poff = g->poff;                                \\
        Py_ssize_t co, q, t;                                                              \\
        int p;                                                                            \\
        for (co = 0; co < CV; co += L) {                                                  \\
            S##_v bv, wv, xv;                                                             \\
            memcpy(&bv, b + co, sizeof bv);                                               \\
            for (q = 0; q + P <= Q; q += P) {                                             \\
                S##_v acc[P];                                                             \\
                const T *xq[P];                                                           \\
                FCS_UNROLL for (p = 0; p < P; p++) { acc[p] = bv; xq[p] = xb + poff[q + p] * L; }    \\
                for (t = 0; t < K; t++) {                                                 \\
                    const Py_ssize_t o = toff[t] * L;                                     \\
                    memcpy(&wv, w + t * Co + co, sizeof wv);                              \\
                    FCS_UNROLL for (p = 0; p < P; p++) {                                             \\
                        memcpy(&xv, xq[p] + o, sizeof xv);                                \\
                        acc[p] += xv * wv;                                                \\
                    }                                                                     \\
                }                                                                         \\
                FCS_UNROLL for (p = 0; p < P; p++) memcpy(y + (q + p) * Co + co, &acc[p], sizeof bv); \\
            }                                                                             \\
            for (; q < Q; q++) {                                                          \\
                S##_v a = bv;                                                             \\
                const T *x0 = xb + poff[q] * L;                                           \\
                for (t = 0; t < K; t++) {                                                 \\
                    memcpy(&wv, w + t * Co + co, sizeof wv);                              \\
                    memcpy(&xv, x0 + toff[t] * L, sizeof xv);                             \\
                    a += xv * wv;                                                         \\
                }                                                                         \\
                memcpy(y + q * Co + co, &a, sizeof a);                                    \\
            }                                                                             \\
        }                                                                                 \\
        for (co = CV; co < Co; co++)                                                      \\
            for (q = 0; q < Q; q++) {                                                     \\
                T s = b[co];                                                              \\
                const T *x0 = xb + poff[q] * L;                                           \\
                for (t = 0; t < K; t++) s += x0[toff[t] * L] * w[t * Co + co];            \\
                y[q * Co + co] = s;                                                       \\
            }                                                                             \\
    }                                                                                     \\
    FCS_DWBLK(S, T, VB, ATTR, 4)                                                          \\
    FCS_DWBLK(S, T, VB, ATTR, 8)                                                          \\
    FCS_DWBLK(S, T, VB, ATTR, 9)                                                          \\
    FCS_DWBLK(S, T, VB, ATTR, 12)                                                         \\
    ATTR static void S##_dw(const fc_sg *g, const T *xb, const T *dy, T *dw, T *db)      \\
    {                                                                                     \\
        enum { L = VB / sizeof(T) };                                                      \\
        const Py_ssize_t K = g->K, Q = g->Q, Co = g->Cout, CV = Co - Co % L;              \\
        const Py_ssize_t *toff = g->toff, *poff = g->poff;                                \\
        Py_ssize_t co, q, t, t0, rem;                                                     \\
        for (co = 0; co < CV; co += L)                                                    \\
            for (t0 = 0; t0 < K; t0 += rem) {                                             \\
                rem = K - t0;                                                             \\
                if (rem >= 10) { rem = rem > 12 ? 12 : rem; S##_dwb12(g, xb, dy, dw, db, co, t0); } \\
                else if (rem == 9) S##_dwb9(g, xb, dy, dw, db, co, t0);                   \\
                else if (rem >= 5) S##_dwb8(g, xb, dy, dw, db, co, t0);                   \\
                else S##_dwb4(g, xb, dy, dw, db, co, t0);                                 \\
            }                                                                             \\
        for (co = CV; co < Co; co++) {                                                    \\
            T s = 0;                                                                      \\
            for (q = 0; q < Q; q++) s += dy[q * Co + co];                                 \\
            db[co] += s;                                                                  \\
            for (t = 0; t < K; t++) {                                                     \\
                s = 0;                                                                    \\
                for (q = 0; q < Q; q++) s += xb[(poff[q] + toff[t]) * L] * dy[q * Co + co]; \\
                dw[t * Co + co] += s;                                                     \\
            }                                                                             \\
        }                                                                                 \\
    }                                                                                     \\
    ATTR static void S##_dxg(const fc_dg *g, const T *D, const T *wv, T *dx)             \\
    {                                                                                     \\
        enum { L = VB / sizeof(T) };                                                      \\
        const Py_ssize_t KV = g->KV, Q = g->Q, C = g->C;                                  \\
        const Py_ssize_t *doff = g->doff, *pd = g->pd;                                    \\
        Py_ssize_t q, c, tv;                                                              \\
        int p, l;                                                                         \\
        S##_v wt, dv;                                                                     \\
        T r[L];                                                                           \\
        for (q = 0; q + L <= Q; q += L) {                                                 \\
            const T *dq[L];                                                               \\
            FCS_UNROLL for (p = 0; p < L; p++) dq[p] = D + pd[q + p];                                \\
            for (c = 0; c < C; c++) {                                                     \\
                S##_v acc[L];                                                             \\
                const T *wc = wv + c * KV * L;                                            \\
                FCS_UNROLL for (p = 0; p < L; p++) acc[p] = (S##_v){0};                              \\
                for (tv = 0; tv < KV; tv++) {                                             \\
                    const Py_ssize_t o = doff[tv];                                        \\
                    memcpy(&wt, wc + tv * L, sizeof wt);                                  \\
                    FCS_UNROLL for (p = 0; p < L; p++) {                                             \\
                        memcpy(&dv, dq[p] + o, sizeof dv);                                \\
                        acc[p] += dv * wt;                                                \\
                    }                                                                     \\
                }                                                                         \\
                S##_red(acc, r);                                                          \\
                if (C == 1) memcpy(dx + q, r, sizeof r);                                  \\
                else FCS_UNROLL for (p = 0; p < L; p++) dx[(q + p) * C + c] = r[p];                  \\
            }                                                                             \\
        }                                                                                 \\
        for (; q < Q; q++)                                                                \\
            for (c = 0; c < C; c++) {                                                     \\
                S##_v a = (S##_v){0};                                                     \\
                const T *wc = wv + c * KV * L;                                            \\
                T s;                                                                      \\
                for (tv = 0; tv < KV; tv++) {                                             \\
                    memcpy(&wt, wc + tv * L, sizeof wt);                                  \\
                    memcpy(&dv, D + pd[q] + doff[tv], sizeof dv);                         \\
                    a += dv * wt;                                                         \\
                }                                                                         \\
                memcpy(r, &a, sizeof a);                                                  \\
                s = r[0];                                                                 \\
                for (l = 1; l < L; l++) s += r[l];                                        \\
                dx[q * C + c] = s;                                                        \\
            }                                                                             \\
    }

    FCS_INSTANTIATE(FCS_DEFINE_B)


    #ifdef FC_X86_DISPATCH
    #define FCS_PICK(T, OP, ARGS) \\
        if (fc_use_avx2()) fcs_##T##_avx2_##OP ARGS; else fcs_##T##_base_##OP ARGS
    #else
    #define FCS_PICK(T, OP, ARGS) fcs_##T##_base_##OP ARGS
    #endif
    static void fcs_bc_f32(const float *x, float *xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp)
    { FCS_PICK(f32, bc, (x, xb, H, W, C, ph, pw, Wp)); }
    static void fcs_bc_f64(const double *x, double *xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp)
    { FCS_PICK(f64, bc, (x, xb, H, W, C, ph, pw, Wp)); }
    static void fcs_fwd_f32(const fc_sg *g, const float *xb, const float *w, const float *b, float *y)
    { FCS_PICK(f32, fwd, (g, xb, w, b, y)); }
    static void fcs_fwd_f64(const fc_sg *g, const double *xb, const double *w, const double *b, double *y)
    { FCS_PICK(f64, fwd, (g, xb, w, b, y)); }
    static void fcs_dw_f32(const fc_sg *g, const float *xb, const float *dy, float *dw, float *db)
    { FCS_PICK(f32, dw, (g, xb, dy, dw, db)); }
    static void fcs_dw_f64(const fc_sg *g, const double *xb, const double *dy, double *dw, double *db)
    { FCS_PICK(f64, dw, (g, xb, dy, dw, db)); }
    static void fcs_dx_f32(const fc_sg *g, const float *dy, const float *w, float *dxp, float *scr)
    { FCS_PICK(f32, dx, (g, dy, w, dxp, scr)); }
    static void fcs_dx_f64(const fc_sg *g, const double *dy, const double *w, double *dxp, double *scr)
    { FCS_PICK(f64, dx, (g, dy, w, dxp, scr)); }
    static void fcs_dxg_f32(const fc_dg *g, const float *D, const float *wv, float *dx)
    { FCS_PICK(f32, dxg, (g, D, wv, dx)); }
    static void fcs_dxg_f64(const fc_dg *g, const double *D, const double *wv, double *dx)
    { FCS_PICK(f64, dxg, (g, D, wv, dx)); }
    /* vector lanes of the kernels that run (the layout of the broadcast planes) */
    static Py_ssize_t fcs_lanes(Py_ssize_t itemsize)
    {
    #if defined(FC_X86_DISPATCH)
        if (fc_use_avx2()) return 32 / itemsize;
    #endif
    #if defined(__GNUC__)
        return 16 / itemsize;
    #else
        return 1;
    #endif
    }
    """
    ctypedef struct fc_sg:
        Py_ssize_t K
        Py_ssize_t Q
        Py_ssize_t Cout
        Py_ssize_t Wo
        Py_ssize_t step
        const Py_ssize_t* toff
        const Py_ssize_t* poff
    ctypedef struct fc_dg:
        Py_ssize_t KV
        Py_ssize_t Q
        Py_ssize_t C
        const Py_ssize_t* doff
        const Py_ssize_t* pd
    void fcs_bc_f32(const float* x, float* xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil
    void fcs_bc_f64(const double* x, double* xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil
    void fcs_fwd_f32(const fc_sg* g, const float* xb, const float* w, const float* b, float* y) noexcept nogil
    void fcs_fwd_f64(const fc_sg* g, const double* xb, const double* w, const double* b, double* y) noexcept nogil
    void fcs_dw_f32(const fc_sg* g, const float* xb, const float* dy, float* dw, float* db) noexcept nogil
    void fcs_dw_f64(const fc_sg* g, const double* xb, const double* dy, double* dw, double* db) noexcept nogil
    void fcs_dx_f32(const fc_sg* g, const float* dy, const float* w, float* dxp, float* scr) noexcept nogil
    void fcs_dx_f64(const fc_sg* g, const double* dy, const double* w, double* dxp, double* scr) noexcept nogil
    void fcs_dxg_f32(const fc_dg* g, const float* D, const float* wv, float* dx) noexcept nogil
    void fcs_dxg_f64(const fc_dg* g, const double* D, const double* wv, double* dx) noexcept nogil
    Py_ssize_t fcs_lanes(Py_ssize_t itemsize) noexcept nogil


# The batch is cut into this many fixed parts for the weight/bias gradient sums.
SMALL_PARTS = 8
cdef enum:
    _PARTS = 8


def simd_path():
    """Return which small-conv kernels run: ``"avx2+fma"`` or ``"baseline"``."""
    return "avx2+fma" if fc_use_avx2() else "baseline"


cdef inline void _bc(const floating* x, floating* xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                     Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil:
    """Write one image into the interior of its broadcast plane (float or double C kernel)."""
    if floating is float:
        fcs_bc_f32(x, xb, H, W, C, ph, pw, Wp)
    else:
        fcs_bc_f64(x, xb, H, W, C, ph, pw, Wp)


cdef inline void _fwd(const fc_sg* g, const floating* xb, const floating* w, const floating* b,
                      floating* y) noexcept nogil:
    """Forward of one image from its broadcast plane (float or double C kernel)."""
    if floating is float:
        fcs_fwd_f32(g, xb, w, b, y)
    else:
        fcs_fwd_f64(g, xb, w, b, y)


cdef inline void _dw(const fc_sg* g, const floating* xb, const floating* dy, floating* dw,
                     floating* db) noexcept nogil:
    """Add one image's weight and bias gradients (float or double C kernel)."""
    if floating is float:
        fcs_dw_f32(g, xb, dy, dw, db)
    else:
        fcs_dw_f64(g, xb, dy, dw, db)


cdef inline void _dx(const fc_sg* g, const floating* dy, const floating* w, floating* dxp,
                     floating* scr) noexcept nogil:
    """Scatter one image's input gradient onto its padded plane (float or double C kernel)."""
    if floating is float:
        fcs_dx_f32(g, dy, w, dxp, scr)
    else:
        fcs_dx_f64(g, dy, w, dxp, scr)


cdef inline void _dxg(const fc_dg* g, const floating* D, const floating* wv,
                      floating* dx) noexcept nogil:
    """Input gradient of one image as a correlation of its padded dy (stride 1; C kernel)."""
    if floating is float:
        fcs_dxg_f32(g, D, wv, dx)
    else:
        fcs_dxg_f64(g, D, wv, dx)


cdef int _offsets(Py_ssize_t* toff, Py_ssize_t* poff, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t C,
                  Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t Wp, Py_ssize_t sh,
                  Py_ssize_t sw) noexcept nogil:
    """Fill the tap offsets (Kh*Kw*C) and pixel origins (Ho*Wo) inside a padded plane of width Wp."""
    cdef Py_ssize_t ki, kj, c, i, j, t = 0
    for ki in range(Kh):
        for kj in range(Kw):
            for c in range(C):
                toff[t] = (ki * Wp + kj) * C + c
                t += 1
    t = 0
    for i in range(Ho):
        for j in range(Wo):
            poff[t] = (i * sh * Wp + j * sw) * C
            t += 1
    return 0


cdef inline void _zero(floating* a, Py_ssize_t n) noexcept nogil:
    """Zero n values (a loop for short runs, memset otherwise)."""
    cdef Py_ssize_t k
    if n < 256:
        for k in range(n):
            a[k] = 0
    else:
        memset(a, 0, n * sizeof(floating))


cdef inline void _pad_in(const floating* src, floating* dst, Py_ssize_t H, Py_ssize_t W,
                         Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil:
    """Copy an (H, W, C) image into the interior of a zeroed padded plane (borders stay zero)."""
    cdef Py_ssize_t r, k, WC = W * C
    cdef floating* d
    cdef const floating* s
    for r in range(H):
        d = dst + ((r + ph) * Wp + pw) * C
        s = src + r * WC
        if WC < 64:  # a short row: a plain loop beats a memcpy call
            for k in range(WC):
                d[k] = s[k]
        else:
            memcpy(d, s, WC * sizeof(floating))


cdef inline void _pad_out(const floating* src, floating* dst, Py_ssize_t H, Py_ssize_t W,
                          Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil:
    """Copy the interior of a padded plane back to an (H, W, C) image."""
    cdef Py_ssize_t r, k, WC = W * C
    cdef floating* d
    cdef const floating* s
    for r in range(H):
        d = dst + r * WC
        s = src + ((r + ph) * Wp + pw) * C
        if WC < 64:
            for k in range(WC):
                d[k] = s[k]
        else:
            memcpy(d, s, WC * sizeof(floating))


def conv2d_forward_small_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C)
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout), read as a (Kh*Kw*C, Cout) matrix
    const floating[::1] b,            # IN  (Cout,)
    floating[:, :, :, ::1] y,         # OUT (N, Ho, Wo, Cout), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns)
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    int num_threads,                  # OpenMP threads over images (1: no parallel region)
) -> None:
    """Direct convolution forward, image by image. All extents must be non-zero."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], Cout = w.shape[3]
    cdef Py_ssize_t Ho = y.shape[1], Wo = y.shape[2], L = fcs_lanes(sizeof(floating))
    cdef Py_ssize_t Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Hp * Wp * C * L
    cdef Py_ssize_t img = H * W * C, n
    cdef int nt = num_threads if num_threads > 1 else 1
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* bp = &b[0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* buf
    cdef floating* mine
    cdef fc_sg g
    if nt > N:
        nt = <int>N
    cdef Py_ssize_t* offs = <Py_ssize_t*>malloc((Kh * Kw * C + Ho * Wo) * sizeof(Py_ssize_t))
    buf = <floating*>calloc(nt * plane, sizeof(floating))  # broadcast planes; borders stay zero
    if offs == NULL or buf == NULL:
        free(offs)
        free(buf)
        raise MemoryError()
    g.K = Kh * Kw * C
    g.Q = Ho * Wo
    g.Cout = Cout
    g.Wo = Wo
    g.step = sw * C
    g.toff = offs
    g.poff = offs + g.K
    with nogil:
        _offsets(offs, offs + g.K, Kh, Kw, C, Ho, Wo, Wp, sh, sw)
        if nt == 1:
            for n in range(N):
                _bc(xp + n * img, buf, H, W, C, ph, pw, Wp)
                _fwd(&g, buf, wp, bp, yp + n * g.Q * Cout)
        else:
            for n in prange(N, schedule="static", num_threads=nt):
                mine = buf + threadid() * plane
                _bc(xp + n * img, mine, H, W, C, ph, pw, Wp)
                _fwd(&g, mine, wp, bp, yp + n * g.Q * Cout)
    free(buf)
    free(offs)


cdef void _backward_part(
    const fc_sg* g, const fc_dg* gd, Py_ssize_t n0, Py_ssize_t n1,
    const floating* xp, const floating* dyp, const floating* wp, const floating* wv,
    floating* dxp, floating* dw, floating* db, floating* xb, floating* dbuf, floating* scr,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp,
    Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t Wd, Py_ssize_t Cp, bint gather, bint want_dx,
) noexcept nogil:
    """Gradients of images n0..n1: dw/db summed into this part's buffers, dx written per image.

    ``xb``: the x broadcast plane; ``dbuf``: the padded dy plane D (``gather``, stride 1) or
    else the scalar padded dx plane of the scatter kernel, whose scratch is ``scr``.
    """
    cdef Py_ssize_t n, i, j, k, img = H * W * C, Cout = g.Cout, ystride = g.Q * Cout
    cdef Py_ssize_t Ho = g.Q // g.Wo, Wo = g.Wo, a = Kh - 1 - ph, bb = Kw - 1 - pw
    cdef Py_ssize_t Hp = H + 2 * ph, plane = Hp * Wp * C
    cdef bint padded = ph > 0 or pw > 0
    cdef const floating* dyi
    cdef const floating* s
    cdef floating* d
    cdef floating* dxi
    for n in range(n0, n1):
        dyi = dyp + n * ystride
        _bc(xp + n * img, xb, H, W, C, ph, pw, Wp)
        _dw(g, xb, dyi, dw, db)
        if not want_dx:
            continue
        dxi = dxp + n * img
        if gather:
            for i in range(Ho):  # dy into the interior of D (borders and channel padding stay zero)
                d = dbuf + ((i + a) * Wd + bb) * Cp
                s = dyi + i * Wo * Cout
                if Cp == Cout:
                    memcpy(d, s, Wo * Cout * sizeof(floating))
                else:
                    for j in range(Wo):
                        for k in range(Cout):
                            d[j * Cp + k] = s[j * Cout + k]
            _dxg(gd, dbuf, wv, dxi)
        elif padded:
            _zero(dbuf, plane)
            _dx(g, dyi, wp, dbuf, scr)
            _pad_out(dbuf, dxi, H, W, C, ph, pw, Wp)
        else:
            _zero(dxi, img)
            _dx(g, dyi, wp, dxi, scr)


def conv2d_backward_small_kernel(
    const floating[:, :, :, ::1] x,   # IN  (N, H, W, C), the forward input
    const floating[:, :, :, ::1] w,   # IN  (Kh, Kw, C, Cout)
    const floating[:, :, :, ::1] dy,  # IN  (N, Ho, Wo, Cout)
    floating[:, :, :, ::1] dx,        # OUT (N, H, W, C) if want_dx (fully overwritten), else unused
    floating[:, :, :, ::1] dw,        # OUT (Kh, Kw, C, Cout), fully overwritten
    floating[::1] db,                 # OUT (Cout,), fully overwritten
    Py_ssize_t ph, Py_ssize_t pw,     # zero padding (rows, columns); ph < Kh and pw < Kw
    Py_ssize_t sh, Py_ssize_t sw,     # stride (rows, columns)
    bint want_dx,                     # compute dx (else dx is not touched)
    int num_threads,                  # OpenMP threads over the fixed parts (1: no parallel region)
) -> None:
    """Direct convolution backward; dw/db summed over SMALL_PARTS fixed parts of the batch. N >= 1.

    Stride 1: dx is the correlation of the zero-padded dy with the flipped kernel, vectorised
    over Cout and summed across the lanes at the end. Other strides: dx is scattered tap by tap.
    """
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t Kh = w.shape[0], Kw = w.shape[1], Cout = w.shape[3]
    cdef Py_ssize_t Ho = dy.shape[1], Wo = dy.shape[2], L = fcs_lanes(sizeof(floating))
    cdef Py_ssize_t K = Kh * Kw * C, KC = K * Cout, tq = 64  # tq: pixels per dx block, at most
    cdef Py_ssize_t Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Hp * Wp * C
    cdef bint gather = want_dx and sh == 1 and sw == 1
    cdef Py_ssize_t nch = (Cout + L - 1) // L, Cp = nch * L, KV = Kh * Kw * nch
    cdef Py_ssize_t Wd = W + Kw - 1, dplane = (H + Kh - 1) * Wd * Cp
    cdef Py_ssize_t P = N if N < _PARTS else _PARTS, p, t, co, per, ki, kj, c, ch, l, q
    cdef int nt = num_threads if num_threads > 1 else 1
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0, 0] if want_dx else NULL
    cdef floating* dwo = &dw[0, 0, 0, 0]
    cdef floating* dbo = &db[0]
    cdef fc_sg g
    cdef fc_dg gd
    cdef floating* parts      # P x (KC + Cout): per-part dw then db
    cdef floating* wv         # gather: the flipped kernel, (C, KV, L)
    cdef floating* scratch    # per thread: x broadcast plane, then D or (dx plane, dx block)
    cdef floating* mine
    cdef Py_ssize_t per_thread = plane * L, nwv = C * KV * L if gather else 0
    if gather:
        per_thread += dplane
    elif want_dx:
        per_thread += plane + (Cout + 1) * tq
    if nt > P:
        nt = <int>P
    cdef Py_ssize_t* offs = <Py_ssize_t*>malloc((K + Ho * Wo + KV + H * W) * sizeof(Py_ssize_t))
    parts = <floating*>calloc(P * (KC + Cout) + nwv + nt * per_thread, sizeof(floating))
    if offs == NULL or parts == NULL:
        free(offs)
        free(parts)
        raise MemoryError()
    wv = parts + P * (KC + Cout)
    scratch = wv + nwv
    g.K = K
    g.Q = Ho * Wo
    g.Cout = Cout
    g.Wo = Wo
    g.step = sw * C
    g.toff = offs
    g.poff = offs + K
    gd.KV = KV
    gd.Q = H * W
    gd.C = C
    gd.doff = offs + K + Ho * Wo
    gd.pd = gd.doff + KV
    with nogil:
        _offsets(offs, offs + K, Kh, Kw, C, Ho, Wo, Wp, sh, sw)
        if gather:
            t = 0
            for ki in range(Kh):
                for kj in range(Kw):
                    for ch in range(nch):
                        (<Py_ssize_t*>gd.doff)[t] = (ki * Wd + kj) * Cp + ch * L
                        for c in range(C):
                            for l in range(L):
                                co = ch * L + l
                                if co < Cout:
                                    wv[(c * KV + t) * L + l] = wp[(((Kh - 1 - ki) * Kw + Kw - 1 - kj) * C + c) * Cout + co]
                        t += 1
            for q in range(H * W):
                (<Py_ssize_t*>gd.pd)[q] = ((q // W) * Wd + q % W) * Cp
        if nt == 1:
            for p in range(P):
                _backward_part(&g, &gd, p * N // P, (p + 1) * N // P, xp, dyp, wp, wv, dxp,
                               parts + p * (KC + Cout), parts + p * (KC + Cout) + KC,
                               scratch, scratch + plane * L, scratch + plane * L + plane,
                               H, W, C, ph, pw, Wp, Kh, Kw, Wd, Cp, gather, want_dx)
        else:
            for p in prange(P, schedule="static", num_threads=nt):
                mine = scratch + threadid() * per_thread
                _backward_part(&g, &gd, p * N // P, (p + 1) * N // P, xp, dyp, wp, wv, dxp,
                               parts + p * (KC + Cout), parts + p * (KC + Cout) + KC,
                               mine, mine + plane * L, mine + plane * L + plane,
                               H, W, C, ph, pw, Wp, Kh, Kw, Wd, Cp, gather, want_dx)
        # sum the parts in their fixed order
        memcpy(dwo, parts, KC * sizeof(floating))
        memcpy(dbo, parts + KC, Cout * sizeof(floating))
        for p in range(1, P):
            for t in range(KC):
                dwo[t] += parts[p * (KC + Cout) + t]
            for co in range(Cout):
                dbo[co] += parts[p * (KC + Cout) + KC + co]
    free(parts)
    free(offs)
