/* Template of the 1-D Winograd tile transforms (see _conv1d_winograd_kernels.h), included by
   _simd_instantiate.h once per (dtype, instruction-set level): FC_T, FC_ATTR and FC_FN come
   from there. Not include-guarded. */

/* v[a*vs + c] = sum_j bt[a*8 + j] * rows[j][c] for the 8 transform points a and channels c < C:
   chunks of W1_CB channels summed in registers, in the order j = 0..7 */
FC_ATTR static void FC_FN(w1_in)(const FC_T *const *rows, FC_T *v, ptrdiff_t vs, ptrdiff_t C,
                                 const FC_T *bt)
{
    ptrdiff_t c0 = 0, a, j, c;
    for (; c0 + W1_CB <= C; c0 += W1_CB) {
        FC_T acc[8][W1_CB];
        for (a = 0; a < 8; a++)
            for (c = 0; c < W1_CB; c++)
                acc[a][c] = 0;
        for (j = 0; j < 8; j++) {
            const FC_T *restrict s = rows[j] + c0;
            for (a = 0; a < 8; a++) {
                const FC_T k = bt[a * 8 + j];
                for (c = 0; c < W1_CB; c++)
                    acc[a][c] += k * s[c];
            }
        }
        for (a = 0; a < 8; a++)
            for (c = 0; c < W1_CB; c++)
                v[a * vs + c0 + c] = acc[a][c];
    }
    for (c = c0; c < C; c++) {
        FC_T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (j = 0; j < 8; j++)
            for (a = 0; a < 8; a++)
                acc[a] += bt[a * 8 + j] * rows[j][c];
        for (a = 0; a < 8; a++)
            v[a * vs + c] = acc[a];
    }
}

/* y[r*Co + o] = b[o] (0 without b) + sum_a at[r*8 + a] * mb[a*ms + o] for the rows r < nr and
   channels o < Co, the sum in the order a = 0..7 */
FC_ATTR static void FC_FN(w1_out)(const FC_T *mb, ptrdiff_t ms, FC_T *y, ptrdiff_t nr, ptrdiff_t Co,
                                  const FC_T *at, const FC_T *b)
{
    ptrdiff_t r, a, o, o0;
    for (r = 0; r < nr; r++) {
        FC_T *restrict yr = y + r * Co;
        for (o0 = 0; o0 + W1_CB <= Co; o0 += W1_CB) {
            FC_T acc[W1_CB];
            for (o = 0; o < W1_CB; o++)
                acc[o] = b ? b[o0 + o] : 0;
            for (a = 0; a < 8; a++) {
                const FC_T k = at[r * 8 + a];
                const FC_T *restrict s = mb + a * ms + o0;
                for (o = 0; o < W1_CB; o++)
                    acc[o] += k * s[o];
            }
            for (o = 0; o < W1_CB; o++)
                yr[o0 + o] = acc[o];
        }
        for (o = o0; o < Co; o++) {
            FC_T acc = b ? b[o] : 0;
            for (a = 0; a < 8; a++)
                acc += at[r * 8 + a] * mb[a * ms + o];
            yr[o] = acc;
        }
    }
}

/* w1_in for the compiled matrices (W1_IN_CONST in _conv1d_winograd_kernels.h): the same sums in
   the same order, with the zero entries of the constant matrix left out and the first NJ inputs
   only (the output gradient's tiles have m rows) */
W1_IN_CONST(FC_FN(w1_in_bt), w1_bt, 8)
W1_IN_CONST(FC_FN(w1_in_a4), w1_a4, 4)
W1_IN_CONST(FC_FN(w1_in_a5), w1_a5, 5)
W1_IN_CONST(FC_FN(w1_in_a6), w1_a6, 6)
