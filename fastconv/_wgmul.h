/* Template of the Winograd families' per-position products (see _wgmul_kernels.h), included by
   _simd_instantiate.h once per (dtype, instruction-set level): FC_T, FC_ATTR and FC_FN come from
   there. Not include-guarded. */

/* The block-diagonal products of grouped layers (G groups of cg = C/G inputs and og = Cout/G
   outputs), for one tile position, on chunks of FCW_VL output columns of a group (og a multiple
   of FCW_VL): register blocks of FCW_TB rows times FCW_NV vectors, every element summed in
   k (or tile) order, the same sequence whichever thread runs the block.
   wino_gmul: m[t, g*og + o] = sum_k v[t, g*cg + k] * u[k, g*og + o] (v: nt x C, u: cg x Cout,
   m: nt x Cout, row-major), the forward's and dx's M_p = V_p U_p.
   wino_gacc: a[k, g*og + o] += sum_t v[t, g*cg + k] * d[t, g*og + o] (a: cg x Cout), the
   weight gradient's acc_p += V_p^T D_p. */
#ifndef FCW_GROUPED_ONCE
#define FCW_GROUPED_ONCE
#define FCW_ACCREGS_base 12
#define FCW_ACCREGS_avx2 12
#define FCW_ACCREGS_avx512 8
#define FCW_GINLINE static inline __attribute__((always_inline))
/* CALL(b) for b = FCW_TB, then 8, 4, 2, 1 (those at most FCW_TB) while rows remain */
#define FCW_ROWBLOCKS(r, n, CALL)                                              \
    do {                                                                       \
        for (; (r) + FCW_TB <= (n); (r) += FCW_TB) CALL(FCW_TB);               \
        if (8 < FCW_TB) for (; (r) + 8 <= (n); (r) += 8) CALL(8);              \
        if (4 < FCW_TB) for (; (r) + 4 <= (n); (r) += 4) CALL(4);              \
        if (2 < FCW_TB) for (; (r) + 2 <= (n); (r) += 2) CALL(2);              \
        for (; (r) < (n); (r)++) CALL(1);                                      \
    } while (0)
#endif
#define FCW_NV ((int)(FCW_VL * sizeof(FC_T) / FC_VB))
#define FCW_TB (FC_CAT(FCW_ACCREGS_, FC_ISA) / FCW_NV > 0 ? FC_CAT(FCW_ACCREGS_, FC_ISA) / FCW_NV : 1)
typedef FC_T FC_FN(wvec) __attribute__((vector_size(FC_VB)));

/* The grouped products' register block: rows r < nr of out (row stride Cout, FCW_NV vectors wide)
   = (acc ? out : 0) + sum over k < K of a[r * ars + k * aks] * b[k * Cout : +FCW_NV vectors]. The
   forward product reads a's rows as tiles (ars = C, aks = 1); the weight gradient's accumulation
   reads them as channels (ars = 1, aks = C). Always inlined, so the strides are constants there. */
FC_ATTR FCW_GINLINE void FC_FN(wino_gblk)(const FC_T *a, ptrdiff_t ars, ptrdiff_t aks, const FC_T *b, FC_T *out,
                                          ptrdiff_t K, ptrdiff_t Cout, const int nr, const int acc_in)
{
    FC_FN(wvec) acc[FCW_TB][FCW_NV], u[FCW_NV];
    FCW_UNROLL for (int r = 0; r < nr; r++)
        FCW_UNROLL for (int j = 0; j < FCW_NV; j++) {
            if (acc_in) memcpy(&acc[r][j], out + r * Cout + j * (FC_VB / sizeof(FC_T)), FC_VB);
            else acc[r][j] = (FC_FN(wvec)){0};
        }
    for (ptrdiff_t k = 0; k < K; k++) {
        FCW_UNROLL for (int j = 0; j < FCW_NV; j++) memcpy(&u[j], b + k * Cout + j * (FC_VB / sizeof(FC_T)), FC_VB);
        FCW_UNROLL for (int r = 0; r < nr; r++) {
            const FC_T av = a[r * ars + k * aks];
            FCW_UNROLL for (int j = 0; j < FCW_NV; j++) acc[r][j] += av * u[j];
        }
    }
    FCW_UNROLL for (int r = 0; r < nr; r++)
        FCW_UNROLL for (int j = 0; j < FCW_NV; j++) memcpy(out + r * Cout + j * (FC_VB / sizeof(FC_T)), &acc[r][j], FC_VB);
}

FC_ATTR static void FC_FN(wino_gmul)(const FC_T *v, const FC_T *u, FC_T *m, ptrdiff_t nt, ptrdiff_t C,
                                     ptrdiff_t Cout, ptrdiff_t G)
{
    const ptrdiff_t cg = C / G, og = Cout / G;
    for (ptrdiff_t g = 0; g < G; g++)
        for (ptrdiff_t o0 = 0; o0 < og; o0 += FCW_VL) {
            ptrdiff_t t = 0;
#define FCW_CALL(b) FC_FN(wino_gblk)(v + t * C + g * cg, C, 1, u + g * og + o0, m + t * Cout + g * og + o0, cg, Cout, b, 0)
            FCW_ROWBLOCKS(t, nt, FCW_CALL);
#undef FCW_CALL
        }
}

FC_ATTR static void FC_FN(wino_gacc)(const FC_T *v, const FC_T *d, FC_T *a, ptrdiff_t nt, ptrdiff_t C,
                                     ptrdiff_t Cout, ptrdiff_t G)
{
    const ptrdiff_t cg = C / G, og = Cout / G;
    for (ptrdiff_t g = 0; g < G; g++)
        for (ptrdiff_t o0 = 0; o0 < og; o0 += FCW_VL) {
            ptrdiff_t k = 0;
#define FCW_CALL(b) FC_FN(wino_gblk)(v + g * cg + k, 1, C, d + g * og + o0, a + k * Cout + g * og + o0, nt, Cout, b, 1)
            FCW_ROWBLOCKS(k, cg, FCW_CALL);
#undef FCW_CALL
        }
}

#undef FCW_NV
#undef FCW_TB
