/* The row kernel of _filter.pyx, for one element type and one instruction set:
   out[j] = sum_t w[t] * src[t][j] for 0 <= j < n; taps summed in order, from 0.

   A template: _filter_kernels.h includes it once per (type, instruction-set level) through
   _simd_instantiate.h (FC_T, FC_FN, FC_ATTR, FC_VB, FC_ISA; see there).  FC_R*, FC_TYPES and
   the accumulator macros are defined once, in _filter_kernels.h.

   One output row, FCF_REP(...) accumulators of FC_VB-byte vectors (a row narrower than that: blocks
   of 4 vectors, then single ones).  A row that is not a
   multiple of the block ends with one block (or vector) that overlaps the one before it:
   the overlapped outputs are recomputed with the same operations, so they do not change.

   ``stream`` (x86, when a block is whole cache lines: AVX2 and AVX-512): after a first block
   with ordinary stores, the blocks from the first cache-line boundary of ``out`` on are written
   with non-temporal stores, which do not read the output's lines in before overwriting them; the
   tail uses ordinary stores.  Overlapping outputs get the same value twice, so the order of the
   two kinds of store does not matter, and the values equal those of ordinary stores.  The caller
   issues one fc_filter_sfence() per thread after its rows. */

/* tuning per instruction-set level: accumulators per block (16 vector registers for SSE2 and AVX2) */
#define FCF_REP_base FC_R6
#define FCF_REP_avx2 FC_R12
#define FCF_REP_avx512 FC_R12
#define FCF_REP FC_CAT(FCF_REP_, FC_ISA)
/* the several-rows kernel: whether the level runs it (FCF_ROWS), and its output rows (FCF_NRR: a
   list of FCF_NR) by vectors (FCF_NBR) per block. AVX-512 runs it with 4 x 4 of its 32 registers;
   with 16 registers (SSE2: 2 x 2 accumulators, AVX2: 4 x 2) it measured 1.1-2.3x slower than the
   row kernel (float32, 3x3 and 5x5 kernels, 512x512 and 2048x2048, 1 and 2 threads), so those
   levels leave every row to the row kernel. */
#define FCF_ROWS_base 0
#define FCF_ROWS_avx2 0
#define FCF_ROWS_avx512 1
#define FCF_NRR_base FCF_L2
#define FCF_NRR_avx2 FCF_L4
#define FCF_NRR_avx512 FCF_L4
#define FCF_NBR_base FCF_L2
#define FCF_NBR_avx2 FCF_L2
#define FCF_NBR_avx512 FCF_L4
#define FCF_ROWS FC_CAT(FCF_ROWS_, FC_ISA)
#define FCF_NRR FC_CAT(FCF_NRR_, FC_ISA)
#define FCF_NBR FC_CAT(FCF_NBR_, FC_ISA)
#define FCF_NR (0 FCF_NRR(FC_ONE))

/* a non-temporal store of one vector to an FC_VB-aligned address */
#if defined(FC_X86_DISPATCH)
#if FC_VB == 16
#define FCF_NT(p, v) _mm_stream_si128((__m128i *)(p), (__m128i)(v))
#elif FC_VB == 32
#define FCF_NT(p, v) _mm256_stream_si256((__m256i *)(p), (__m256i)(v))
#elif FC_VB == 64
#define FCF_NT(p, v) _mm512_stream_si512((__m512i *)(p), (__m512i)(v))
#endif
#endif
#ifdef FCF_NT
#define FCF_NTSTORE(k) FCF_NT(out + j + k * L, acc##k);
#endif

/* one block of outputs from j: REP(FC_ZERO) the accumulators, then every tap's FMA */
#define FCF_ACC(REP, j0)                                  \
    REP(FC_ZERO)                                          \
    for (t = 0; t < ntaps; t++) {                         \
        const FC_T *s = src[t] + (j0);                    \
        V wa = w[t] - (V){0};                             \
        REP(FC_FMA)                                       \
    }
/* the row from j to n in blocks of NB vectors (REP: NB accumulators), the last block moved back to
   end at n (the outputs it overlaps are recomputed with the same operations); returns when done */
#define FCF_BLOCKS(REP, NB)                               \
    if (n >= (NB) * L) {                                  \
        for (;; j += (NB) * L) {                          \
            if (j + (NB) * L > n) j = n - (NB) * L;       \
            FCF_ACC(REP, j)                               \
            REP(FC_STORE)                                 \
            if (j + (NB) * L >= n) return;                \
        }                                                 \
    }

#if defined(__GNUC__)
FC_ATTR static void FC_FN(taps)(const FC_T *const *src, const FC_T *w, Py_ssize_t ntaps,
                      FC_T *out, Py_ssize_t n, int stream)
{
    FC_TYPES(FC_T, FC_VB)
    enum { NACC = 0 FCF_REP(FC_ONE) };
    Py_ssize_t j = 0, t;
#ifdef FCF_NTSTORE
    if (stream && n >= 2 * NACC * L && (size_t)out % sizeof(FC_T) == 0 && (NACC * L * sizeof(FC_T)) % 64 == 0) {
        /* the first block with ordinary stores; then, from the first cache-line boundary,
           blocks of whole cache lines past the caches; the rest below */
        FCF_ACC(FCF_REP, 0)
        FCF_REP(FC_STORE)
        j = (Py_ssize_t)((-(size_t)out & (size_t)63) / sizeof(FC_T));
        for (; j + NACC * L <= n; j += NACC * L) {
            FCF_ACC(FCF_REP, j)
            FCF_REP(FCF_NTSTORE)
        }
        if (j >= n) return;
    }
#endif
    FCF_BLOCKS(FCF_REP, NACC)
    if (NACC > 4) {  /* a row narrower than a block: blocks of 4 vectors, 4 sums in flight */
        FCF_BLOCKS(FC_R4, 4)
    }
    FCF_BLOCKS(FC_R1, 1)
    if (j < n) {  /* fewer outputs than one vector: the vector operations on zero-padded copies of
                     the inputs, so that each output gets the same arithmetic (fused or not) as
                     in a vector, whatever the compiler makes of a scalar loop */
        V acc0 = (V){0};
        for (t = 0; t < ntaps; t++) {
            V wa = w[t] - (V){0}, s0 = (V){0};
            memcpy(&s0, src[t] + j, (size_t)(n - j) * sizeof(FC_T));
            acc0 += wa * s0;
        }
        memcpy(out + j, &acc0, (size_t)(n - j) * sizeof(FC_T));
    }
}

/* FC_FILTER_BLOCK_ROWS output rows at once, in groups of FCF_NR rows of FCF_NB vectors: for
   output row o and 0 <= j < n, out[o * ostride + j] = sum over the taps t, in order, of
   w[t] * rows[o + tki[t]][tkj[t] * step + j]. A vector loaded from an input row serves every output
   row of the group that has a tap on it (up to FCF_NR multiply-adds per load instead of one, where
   the row kernel's loads, mostly across two cache lines, bound it). The loop runs over the input
   rows, then the kernel columns, so each output row gets its taps in row-major order: with the
   taps sorted so (fc_filter_rows_serve), these are the row kernel's sums, bit for bit. Returns 0
   (nothing written) where it does not serve: n under one block, or a level without FCF_ROWS. */
FC_ATTR static int FC_FN(rows)(const FC_T *const *rows, const Py_ssize_t *tki, const Py_ssize_t *tkj,
                               const FC_T *w, Py_ssize_t ntaps, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t step,
                               FC_T *out, Py_ssize_t ostride, Py_ssize_t n, int stream)
{
    FC_TYPES(FC_T, FC_VB)
    enum { NB = 0 FCF_NBR(FC_ONE), BL = NB * L };
    enum { ALL = (1 << FCF_NR) - 1 };
    /* per (input row, kernel column): bit o set where output row o has a tap there, and its weight */
    unsigned char mask[(FC_FILTER_MAX_K + FCF_NR - 1) * FC_FILTER_MAX_K];
    FC_T wt[(FC_FILTER_MAX_K + FCF_NR - 1) * FC_FILTER_MAX_K][FCF_NR];
    const Py_ssize_t nin = kh + FCF_NR - 1;
    Py_ssize_t g, j, r, c, t;
    if (!FCF_ROWS || n < BL) return 0;
    memset(mask, 0, (size_t)(nin * kw));
    for (t = 0; t < ntaps; t++)
        for (int o = 0; o < FCF_NR; o++) {
            mask[(tki[t] + o) * kw + tkj[t]] |= (unsigned char)(1u << o);
            wt[(tki[t] + o) * kw + tkj[t]][o] = w[t];
        }
    for (g = 0; g < FC_FILTER_BLOCK_ROWS; g += FCF_NR) {
        FC_T *og = out + g * ostride;
        const FC_T *const *rg = rows + g;
        int nt = 0;
#ifdef FCF_NT
        /* non-temporal stores from the first cache-line boundary of row 0 on, when every row starts
           at the same offset in its line and a block is whole lines (as the row kernel) */
        nt = stream && n >= 2 * BL && (size_t)og % sizeof(FC_T) == 0 && (ostride * sizeof(FC_T)) % 64 == 0
             && (BL * sizeof(FC_T)) % 64 == 0;
        const Py_ssize_t j_nt = nt ? (Py_ssize_t)((-(size_t)og & (size_t)63) / sizeof(FC_T)) : 0;
#else
        (void)stream;
#endif
        for (j = 0;; j += BL) {
            if (j + BL > n) j = n - BL;
            FCF_NRR(FCF_ZERO_ROW)
            for (r = 0; r < nin; r++)
                for (c = 0; c < kw; c++) {
                    const unsigned m = mask[r * kw + c];
                    if (!m) continue;
                    const FC_T *s = rg[r] + c * step + j;
                    const FC_T *wr = wt[r * kw + c];
                    FCF_NBR(FCF_LOAD)
                    if (m == ALL) { /* (a dense kernel's inner rows: no test per row) */
                        FCF_NRR(FCF_FMA_ALL)
                    } else {
                        FCF_NRR(FCF_FMA_ROW)
                    }
                }
#ifdef FCF_NT
            if (nt && j >= j_nt && j + BL <= n && ((j - j_nt) % BL) == 0) {
                FCF_NRR(FCF_NTSTORE_ROW)
            } else
#endif
            {
                FCF_NRR(FCF_STORE_ROW)
            }
            if (j + BL >= n) break;
#ifdef FCF_NT
            if (nt && j < j_nt && j + BL > j_nt) j = j_nt - BL; /* the next block starts on the line */
#endif
        }
    }
    return 1;
}

/* The separable path's fused kernel at AVX-512: values [j0, j1) of one output row of interleaved
   channels (``step`` values per pixel), out[j] = sum over q of v[q] * (sum over t of u[t] *
   src[t][j + vk[q] * step - off]), off being the anchor's aw * step. A block of FC_FILTER_SEP_NB
   output vectors from j sums the vertical taps of the FC_FILTER_SEP_NB + 1 vectors of values [j - off, j - off +
   (FC_FILTER_SEP_NB + 1) * L) in registers, then forms each horizontal tap's window from two adjacent
   sums by a lane shift (vk[q] * step lanes on), where the row kernel's two passes store the vertical
   sums in a row and load them back once per tap (most of those loads across two cache lines). The
   sums are the two passes' own, in the same order, so the values are the same bits. Reads src[t]
   over values [j0 - off, j1 - off + L); returns 0 (nothing written) where it does not serve: j1 - j0
   under one block, more than FC_FILTER_MAX_K horizontal taps or a shift above L, or a level
   without it. */
#if defined(FC_X86_DISPATCH) && FC_VB == 64
#define FCF_SEP 1
/* lanes idx of the pair (a, b): lane e of the result is a[idx[e]] if idx[e] < L, else b[idx[e] - L] */
#define FCF_PERM(a, idx, b) (sizeof(FC_T) == 4                                                       \
    ? (V)_mm512_permutex2var_ps((__m512)(a), (__m512i)(idx), (__m512)(b))                            \
    : (V)_mm512_permutex2var_pd((__m512d)(a), (__m512i)(idx), (__m512d)(b)))
#define FCF_ALIGN(a, q, b) (sizeof(FC_T) == 4                                                     \
    ? (V)_mm512_alignr_epi32((__m512i)(b), (__m512i)(a), (q))                                        \
    : (V)_mm512_alignr_epi64((__m512i)(b), (__m512i)(a), (q)))
/* tap q's window: lanes vk[q] * step on of the pair (a, b), for any vk and step (an index vector per
   tap) or for vk[q] == q and step 1 (an immediate shift: FCF_ALIGN, which measured faster) */
#define FCF_PERMQ(a, q, b) FCF_PERM(a, idx[q], b)
/* the block loop with TV horizontal taps (a constant, so that the loops over taps unroll and the
   index vectors and weights stay in registers) */
#define FCF_SEP_LOOP(TV, SHIFT)                                                                    \
    for (j = j0;; j += BL) {                                                                  \
        if (j + BL > j1) j = j1 - BL;                                                         \
        V a[NB + 1];                                                                          \
        _Pragma("GCC unroll 16") for (int m = 0; m <= NB; m++) a[m] = (V){0};               \
        for (t = 0; t < tu; t++) {                                                            \
            const FC_T *s = src[t] + j - off;                                                 \
            const V wa = u[t] - (V){0};                                                       \
            _Pragma("GCC unroll 16") for (int m = 0; m <= NB; m++) a[m] += wa * *(const UV *)(s + m * L); \
        }                                                                                     \
        _Pragma("GCC unroll 16") for (int m = 0; m < NB; m++) {                              \
            V acc = (V){0};                                                                   \
            _Pragma("GCC unroll 8") for (int q = 0; q < (TV); q++)                           \
                acc += vw[q] * SHIFT(a[m], q, a[m + 1]);                                      \
            *(UV *)(out + j + m * L) = acc;                                                   \
        }                                                                                     \
        if (j + BL >= j1) break;                                                              \
    }
/* one case per tap count 1..8 (FC_FILTER_MAX_K), the count carrying SIGN */
#define FCF_SEP_CASES(SIGN, SHIFT)                                                                    \
    case SIGN 1: FCF_SEP_LOOP(1, SHIFT) break; case SIGN 2: FCF_SEP_LOOP(2, SHIFT) break;             \
    case SIGN 3: FCF_SEP_LOOP(3, SHIFT) break; case SIGN 4: FCF_SEP_LOOP(4, SHIFT) break;             \
    case SIGN 5: FCF_SEP_LOOP(5, SHIFT) break; case SIGN 6: FCF_SEP_LOOP(6, SHIFT) break;             \
    case SIGN 7: FCF_SEP_LOOP(7, SHIFT) break; case SIGN 8: FCF_SEP_LOOP(8, SHIFT) break;
#else
#define FCF_SEP 0
#endif

FC_ATTR static int FC_FN(sep)(const FC_T *const *src, const FC_T *u, Py_ssize_t tu, const FC_T *v,
                              const Py_ssize_t *vk, Py_ssize_t tv, Py_ssize_t step, Py_ssize_t off,
                              FC_T *out, Py_ssize_t j0, Py_ssize_t j1)
{
#if FCF_SEP
    FC_TYPES(FC_T, FC_VB)
    typedef FC_I IV __attribute__((vector_size(FC_VB)));
    enum { NB = FC_FILTER_SEP_NB, BL = NB * L };
    IV idx[FC_FILTER_MAX_K];
    V vw[FC_FILTER_MAX_K];
    Py_ssize_t j, t;
    if (j1 - j0 < BL || tv < 1 || tv > FC_FILTER_MAX_K) return 0;
    for (int q = 0; q < tv; q++) {
        if (vk[q] < 0 || vk[q] * step > L) return 0;
        for (int e = 0; e < L; e++) idx[q][e] = (FC_I)(e + vk[q] * step);
        vw[q] = v[q] - (V){0};
    }
    int dense = step == 1;
    for (int q = 0; q < tv; q++) dense &= vk[q] == q;
    switch (dense ? tv : -tv) {  /* (1 <= tv <= FC_FILTER_MAX_K, checked above) */
    FCF_SEP_CASES(+, FCF_ALIGN)
    FCF_SEP_CASES(-, FCF_PERMQ)
    }
    return 1;
#else
    (void)src; (void)u; (void)tu; (void)v; (void)vk; (void)tv; (void)step; (void)off; (void)out; (void)j0;
    (void)j1;
    return 0;
#endif
}

/* the lanes of the fused separable kernel's vectors at this level, 0 where it does not run */
static int FC_FN(sep_lanes)(void) { return FCF_SEP ? FC_VB / (int)sizeof(FC_T) : 0; }

/* whether this level runs the several-rows kernel */
static int FC_FN(rows_on)(void) { return FCF_ROWS; }

/* baseline x86-64 (SSE2, 16 registers): 16-byte vectors */
#else  /* other compilers: plain loops, auto-vectorised if at all */
static void FC_FN(taps)(const FC_T *const *src, const FC_T *w, Py_ssize_t ntaps, FC_T *out, Py_ssize_t n,
                        int stream)
{ Py_ssize_t j = 0, t; (void)stream; FC_SCALAR_TAIL(FC_T) }
static int FC_FN(rows)(const FC_T *const *rows, const Py_ssize_t *tki, const Py_ssize_t *tkj, const FC_T *w,
                       Py_ssize_t ntaps, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t step, FC_T *out,
                       Py_ssize_t ostride, Py_ssize_t n, int stream)
{
    (void)rows; (void)tki; (void)tkj; (void)w; (void)ntaps; (void)kh; (void)kw; (void)step; (void)out;
    (void)ostride; (void)n; (void)stream;
    return 0;
}
static int FC_FN(rows_on)(void) { return 0; }
static int FC_FN(sep)(const FC_T *const *src, const FC_T *u, Py_ssize_t tu, const FC_T *v, const Py_ssize_t *vk,
                      Py_ssize_t tv, Py_ssize_t step, Py_ssize_t off, FC_T *out, Py_ssize_t j0, Py_ssize_t j1)
{
    (void)src; (void)u; (void)tu; (void)v; (void)vk; (void)tv; (void)step; (void)off; (void)out; (void)j0;
    (void)j1;
    return 0;
}
static int FC_FN(sep_lanes)(void) { return 0; }
#endif

#undef FCF_REP
#undef FCF_SEP
#undef FCF_SEP_CASES
#undef FCF_PERM
#undef FCF_PERMQ
#undef FCF_ALIGN
#undef FCF_SEP_LOOP
#undef FCF_ROWS
#undef FCF_NRR
#undef FCF_NBR
#undef FCF_NR
#undef FCF_NT
#undef FCF_NTSTORE
#undef FCF_ACC
#undef FCF_BLOCKS
