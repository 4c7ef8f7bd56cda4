/* Template of the small-channel convolution kernels (_conv_smallc_kernels.h includes it once
   per dtype FC_T and instruction-set level FC_ISA; see _simd_instantiate.h).

   Every pass is one register-blocked product over a packed reduction:
       C[r, 0:CP] (+)= sum_k base[ro[r] + ko[k]] * B[k, 0:CP]
   with rows r, reduction k and CP columns (a whole number of vectors).  A block of MR rows and
   NV column vectors lives in MR*NV accumulators; each step of the reduction loads NV vectors of
   B and broadcasts one value per row.  Forward: rows are output pixels, k the taps of the
   packed Kh*Kw*C reduction (ro = pixel origins, ko = tap offsets in the zero-padded image),
   B the (K, CP) weights.  Weight gradient: rows are taps, k the output pixels (ro = tap
   offsets, ko = pixel origins), B the image's dy (Q, CP).  Input gradient: rows are output
   pixels, k the output channels of dy, B the transposed weights (Cout, KP); the (pixel, tap)
   products are then added to the padded input gradient tap by tap. */

#define FCC_V FC_CAT(fcc_v_, FC_CAT(FC_DT, FC_ISA))
#define FCC_L ((Py_ssize_t)(FC_VB / sizeof(FC_T)))
#define FCC_REGS FC_CAT(FCC_REGS_, FC_ISA)
#define FCC_MR(nv) ((FCC_REGS - 1 - (nv)) / (nv) > 8 ? 8 : (FCC_REGS - 1 - (nv)) / (nv))

FCC_VEC(FCC_V, FC_T, FC_VB)

FC_ATTR static Py_ssize_t FC_FN(sc_lanes)(void) { return FCC_L; }

/* One block: rows r0 .. r0+m-1 (m <= MR), column vectors v0 .. v0+NV-1. */
FC_ATTR FCC_INLINE void FC_FN(sc_block)(
    const FC_T *FCC_RESTRICT base, const Py_ssize_t *ro, Py_ssize_t m, const Py_ssize_t *ko,
    Py_ssize_t R, const FC_T *FCC_RESTRICT B, Py_ssize_t ldb, FC_T *FCC_RESTRICT C, Py_ssize_t ldc,
    const FC_T *init, const int NV, const int MR)
{
    FCC_V acc[8][4], bv[4];
    const FC_T *ar[8];
    Py_ssize_t k;
    int r, v;
    FCC_UNROLL
    for (r = 0; r < MR; r++)
        ar[r] = base + ro[r < m ? r : m - 1];
    FCC_UNROLL
    for (r = 0; r < MR; r++) {
        FCC_UNROLL
        for (v = 0; v < NV; v++)
            memcpy(&acc[r][v], init ? init + v * FCC_L : C + (r < m ? r : 0) * ldc + v * FCC_L, sizeof(FCC_V));
    }
    for (k = 0; k < R; k++) {
        const Py_ssize_t o = ko[k];
        const FC_T *b = B + k * ldb;
        FCC_UNROLL
        for (v = 0; v < NV; v++)
            memcpy(&bv[v], b + v * FCC_L, sizeof(FCC_V));
        FCC_UNROLL
        for (r = 0; r < MR; r++) {
            const FC_T s = ar[r][o];
            FCC_UNROLL
            for (v = 0; v < NV; v++)
                acc[r][v] += s * bv[v];
        }
    }
    FCC_UNROLL
    for (r = 0; r < MR; r++) {
        if (r < m) {
            FCC_UNROLL
            for (v = 0; v < NV; v++)
                memcpy(C + r * ldc + v * FCC_L, &acc[r][v], sizeof(FCC_V));
        }
    }
}

#define FCC_BLOCKS(NV, MR, S)                                                                   \
    FC_ATTR static void FC_FN(FC_CAT(FC_CAT(sc_blocks, NV), S))(                                \
        const FC_T *base, const Py_ssize_t *ro, Py_ssize_t M, const Py_ssize_t *ko, Py_ssize_t R, \
        const FC_T *B, Py_ssize_t ldb, FC_T *C, Py_ssize_t ldc, const FC_T *init)               \
    {                                                                                           \
        Py_ssize_t r0, m;                                                                       \
        for (r0 = 0; r0 < M; r0 += (MR)) {                                                      \
            m = M - r0 < (MR) ? M - r0 : (MR);                                                  \
            FC_FN(sc_block)(base, ro + r0, m, ko, R, B, ldb, C + r0 * ldc, ldc, init, NV, (MR)); \
        }                                                                                       \
    }
/* Each number of column vectors with two block heights: the most rows the registers hold (h),
   and one fewer (l), which computes fewer rows when M is a multiple of it and not of the larger
   (25 output channels: five blocks of 5 rather than five of 6). A row's result does not depend
   on the block it is computed in. */
FCC_BLOCKS(1, FCC_MR(1), h)
FCC_BLOCKS(1, FCC_MR(1) - 1, l)
FCC_BLOCKS(2, FCC_MR(2), h)
FCC_BLOCKS(2, FCC_MR(2) - 1, l)
FCC_BLOCKS(3, FCC_MR(3), h)
FCC_BLOCKS(3, FCC_MR(3) - 1, l)
FCC_BLOCKS(4, FCC_MR(4), h)
FCC_BLOCKS(4, FCC_MR(4) - 1, l)
#undef FCC_BLOCKS

/* C[r, 0:ldb] (+)= sum_k base[ro[r] + ko[k]] * B[k, 0:ldb] for r < M; ldb (= ldc's used part) a
   whole number of vectors.  init: a row that every C row starts from (NULL: C's own values). */
FC_ATTR static void FC_FN(sc_gemm)(const FC_T *base, const Py_ssize_t *ro, Py_ssize_t M,
                                   const Py_ssize_t *ko, Py_ssize_t R, const FC_T *B, Py_ssize_t ldb,
                                   FC_T *C, Py_ssize_t ldc, const FC_T *init)
{
    Py_ssize_t nvt = ldb / FCC_L, v0, nv;
    for (v0 = 0; v0 < nvt; v0 += nv) {
        nv = nvt - v0 < 4 ? nvt - v0 : 4;
        const FC_T *bi = init ? init + v0 * FCC_L : NULL;
        /* the lower block height where that computes fewer rows (and blocks of at least 4 rows) */
        const int hi = FCC_MR(nv), lo = FCC_MR(nv) - 1;
        const int lower = lo >= 4 && (M + lo - 1) / lo * lo < (M + hi - 1) / hi * hi;
        switch (nv * 2 + lower) {
        case 2: FC_FN(sc_blocks1h)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        case 3: FC_FN(sc_blocks1l)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        case 4: FC_FN(sc_blocks2h)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        case 5: FC_FN(sc_blocks2l)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        case 6: FC_FN(sc_blocks3h)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        case 7: FC_FN(sc_blocks3l)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        case 8: FC_FN(sc_blocks4h)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        default: FC_FN(sc_blocks4l)(base, ro, M, ko, R, B + v0 * FCC_L, ldb, C + v0 * FCC_L, ldc, bi); break;
        }
    }
}

#undef FCC_V
#undef FCC_L
#undef FCC_REGS
#undef FCC_MR
