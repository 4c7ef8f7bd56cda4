/* Template of the Winograd tile transforms (see _winograd_kernels.h), included by
   _simd_instantiate.h once per (dtype, instruction-set level): FC_T, FC_ATTR and FC_FN come
   from there. Not include-guarded. */
FCW_INPUT(FC_T, 2, FC_FN(wino_in2), FC_ATTR)
FCW_INPUT(FC_T, 4, FC_FN(wino_in4), FC_ATTR)
FCW_INPUT(FC_T, 6, FC_FN(wino_in6), FC_ATTR)
FCW_OUTPUT(FC_T, 2, FC_FN(wino_out2), FC_ATTR)
FCW_OUTPUT(FC_T, 4, FC_FN(wino_out4), FC_ATTR)
FCW_OUTPUT(FC_T, 6, FC_FN(wino_out6), FC_ATTR)
FCW_GRADOUT(FC_T, 2, FC_FN(wino_gout2), FC_ATTR)
FCW_GRADOUT(FC_T, 4, FC_FN(wino_gout4), FC_ATTR)
FCW_GRADOUT(FC_T, 6, FC_FN(wino_gout6), FC_ATTR)
/* F(m, 2) for odd m: the input transform is F(m - 1, 3)'s (the same points and tile), so only the
   output transforms are compiled again */
FCW_OUTPUT(FC_T, 3, FC_FN(wino_out3), FC_ATTR)
FCW_OUTPUT(FC_T, 5, FC_FN(wino_out5), FC_ATTR)
FCW_GRADOUT(FC_T, 3, FC_FN(wino_gout3), FC_ATTR)
FCW_GRADOUT(FC_T, 5, FC_FN(wino_gout5), FC_ATTR)

/* The bias gradient's column sums: out[j] += sum over rows i < R, in row order, of
   (double)a[i * K + j], for the n columns j (a multiple of FCW_VL); in FCW_VL-wide double vectors
   (the conversion is exact and each column's additions keep numpy's order, so the bits are the
   scalar loop's). Row by row, so a is read in address order: one or two chunks of columns keep
   their sums in registers, more keep them in out (a few cache lines, stored and reloaded as they
   are). */
FC_ATTR static void FC_FN(wino_colsum)(const FC_T *a, ptrdiff_t R, ptrdiff_t K, ptrdiff_t n, double *out)
{
    typedef double fcw_d __attribute__((vector_size(FCW_VL * sizeof(double))));
    typedef FC_T fcw_t __attribute__((vector_size(FCW_VL * sizeof(FC_T))));
    fcw_d acc, acc2 = {0}, o;
    fcw_t row;
    ptrdiff_t i, c;
    if (n <= 2 * FCW_VL) {  /* one or two chunks: the sums in registers */
        const int two = n == 2 * FCW_VL;
        memcpy(&acc, out, sizeof acc);
        if (two) memcpy(&acc2, out + FCW_VL, sizeof acc2);
        for (i = 0; i < R; i++) {
            memcpy(&row, a + i * K, sizeof row);
            acc += __builtin_convertvector(row, fcw_d);
            if (two) {
                memcpy(&row, a + i * K + FCW_VL, sizeof row);
                acc2 += __builtin_convertvector(row, fcw_d);
            }
        }
        memcpy(out, &acc, sizeof acc);
        if (two) memcpy(out + FCW_VL, &acc2, sizeof acc2);
    } else {
        for (i = 0; i < R; i++)
            for (c = 0; c < n; c += FCW_VL) {
                memcpy(&row, a + i * K + c, sizeof row);
                memcpy(&o, out + c, sizeof o);
                o += __builtin_convertvector(row, fcw_d);
                memcpy(out + c, &o, sizeof o);
            }
    }
}
