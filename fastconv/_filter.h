/* The row kernel of _filter.pyx, for one element type and one instruction set:
   out[j] = sum_t w[t] * src[t][j] for 0 <= j < n; taps summed in order, from 0.

   A template: _filter_kernels.h includes it once per (type, instruction-set level) through
   _simd_instantiate.h (FC_T, FC_FN, FC_ATTR, FC_VB, FC_ISA; see there).  FC_R*, FC_TYPES and
   the accumulator macros are defined once, in _filter_kernels.h.

   One output row, FCF_REP(...) accumulators of FC_VB-byte vectors.  A row that is not a
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
    if (n >= NACC * L) {
        for (;; j += NACC * L) {
            if (j + NACC * L > n) j = n - NACC * L;
            FCF_ACC(FCF_REP, j)
            FCF_REP(FC_STORE)
            if (j + NACC * L >= n) return;
        }
    }
    if (n >= L) {
        for (;; j += L) {
            if (j + L > n) j = n - L;
            FCF_ACC(FC_R1, j)
            FC_R1(FC_STORE)
            if (j + L >= n) return;
        }
    }
    FC_SCALAR_TAIL(FC_T)
}

/* baseline x86-64 (SSE2, 16 registers): 16-byte vectors */
#else  /* other compilers: plain loops, auto-vectorised if at all */
static void FC_FN(taps)(const FC_T *const *src, const FC_T *w, Py_ssize_t ntaps, FC_T *out, Py_ssize_t n,
                        int stream)
{ Py_ssize_t j = 0, t; (void)stream; FC_SCALAR_TAIL(FC_T) }
#endif

#undef FCF_REP
#undef FCF_NT
#undef FCF_NTSTORE
#undef FCF_ACC
