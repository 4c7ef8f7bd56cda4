/* Template (see _simd_instantiate.h): general-window max pooling over NHWC rows, keeping each
   window's first maximum as a one-byte code.

   A window is the rows h0, h0 + dh, .. < h1 and the columns w0, w0 + dw, .. < w1 of one image
   (already clipped to the plane).  Its taps are numbered di * KW + dj (di, dj: the tap's row
   and column number inside the window; KW >= the number of column taps of any window), which
   the caller keeps below 256; the tap of the first maximum is stored as an unsigned char.
   Rule (np.argmax's): a tap replaces the running maximum when it is larger, or when it is a NaN
   and the running maximum is not; so the first maximum wins ties and the first NaN wins.

   Channels are the innermost, contiguous axis: the kernels run over FC_VB-byte vectors of
   channels (GCC/Clang vector extensions, so every level compiles the same source) with the
   compare/select done by bit masks, and finish the last C % lanes channels with scalar code. */

typedef FC_T FC_FN(pwv) __attribute__((vector_size(FC_VB)));
typedef FC_I FC_FN(pwi) __attribute__((vector_size(FC_VB)));
typedef unsigned char FC_FN(pwb) __attribute__((vector_size(FC_VB / sizeof(FC_T))));
#define PW_V FC_FN(pwv)
#define PW_I FC_FN(pwi)
#define PW_B FC_FN(pwb)
#define PW_L ((Py_ssize_t)(FC_VB / sizeof(FC_T)))
#define PW_NV 4  /* vectors of channels per register block */

/* nv (1 or PW_NV) vectors of channels at xc (element offset of channel c in the image) */
static inline __attribute__((always_inline)) FC_ATTR void FC_FN(pw_max_blk)(
    const FC_T *xc, FC_T *yc, unsigned char *cc, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t dh, Py_ssize_t w0, Py_ssize_t w1, Py_ssize_t dw,
    Py_ssize_t KW, const int nv)
{
    PW_V cur[PW_NV], v;
    PW_I code[PW_NV], tv, take;
    Py_ssize_t h, w, di, dj;
    int u;
    const FC_T *p = xc + (h0 * W + w0) * C;
    for (u = 0; u < nv; u++) {
        memcpy(&cur[u], p + u * PW_L, sizeof cur[u]);
        code[u] = (PW_I){0};
    }
    for (h = h0, di = 0; h < h1; h += dh, di++) {
        for (w = (h == h0 ? w0 + dw : w0), dj = (h == h0 ? 1 : 0); w < w1; w += dw, dj++) {
            p = xc + (h * W + w) * C;
            tv = (PW_I){0} + (FC_I)(di * KW + dj);
            for (u = 0; u < nv; u++) {
                memcpy(&v, p + u * PW_L, sizeof v);
                take = ~(v <= cur[u]) & (cur[u] == cur[u]);  /* v > cur, or v NaN over a number */
                cur[u] = (PW_V)(((PW_I)v & take) | ((PW_I)cur[u] & ~take));
                code[u] = (tv & take) | (code[u] & ~take);
            }
        }
    }
    FC_I k[PW_NV * PW_L];
    for (u = 0; u < nv; u++) {
        memcpy(yc + u * PW_L, &cur[u], sizeof cur[u]);
        memcpy(k + u * PW_L, &code[u], sizeof code[u]);
    }
    for (u = 0; u < nv * PW_L; u++)  /* narrowed in one loop: the compiler packs it */
        cc[u] = (unsigned char)k[u];
}

/* One output row: Wo windows with rows h0 .. h1 (step dh) and columns c0[j] .. c1[j] (step dw)
   of the image xn (H, W, C); y and the codes of the row are (Wo, C). */
FC_ATTR void FC_FN(pw_max_row)(
    const FC_T *xn, FC_T *y, unsigned char *code, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Wo,
    Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t dh, const Py_ssize_t *c0, const Py_ssize_t *c1, Py_ssize_t dw,
    Py_ssize_t KW)
{
    Py_ssize_t j, c, h, w, di, dj;
    for (j = 0; j < Wo; j++) {
        FC_T *yc = y + j * C;
        unsigned char *cc = code + j * C;
        const Py_ssize_t w0 = c0[j], w1 = c1[j];
        for (c = 0; c + PW_NV * PW_L <= C; c += PW_NV * PW_L)
            FC_FN(pw_max_blk)(xn + c, yc + c, cc + c, W, C, h0, h1, dh, w0, w1, dw, KW, PW_NV);
        for (; c + PW_L <= C; c += PW_L)
            FC_FN(pw_max_blk)(xn + c, yc + c, cc + c, W, C, h0, h1, dh, w0, w1, dw, KW, 1);
        for (; c < C; c++) {
            FC_T cur = xn[(h0 * W + w0) * C + c], v;
            int k = 0;
            for (h = h0, di = 0; h < h1; h += dh, di++)
                for (w = (h == h0 ? w0 + dw : w0), dj = (h == h0 ? 1 : 0); w < w1; w += dw, dj++) {
                    v = xn[(h * W + w) * C + c];
                    if (!(v <= cur) && cur == cur) {
                        cur = v;
                        k = (int)(di * KW + dj);
                    }
                }
            yc[c] = cur;
            cc[c] = (unsigned char)k;
        }
    }
}

/* Image n of the backward pass: dx (H, W, C) = 0, then dy of every window (Ho, Wo, C) added at
   the tap its code names, output pixels in row-major order.  Windows as in pw_max_row, rows
   r0[i] .. r1[i] (step dh). */
FC_ATTR void FC_FN(pw_max_bwd_image)(
    const FC_T *dy, const unsigned char *code, FC_T *dx, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t Ho, Py_ssize_t Wo, const Py_ssize_t *r0, const Py_ssize_t *r1, Py_ssize_t dh,
    const Py_ssize_t *c0, const Py_ssize_t *c1, Py_ssize_t dw, Py_ssize_t KW)
{
    Py_ssize_t i, j, c, h, w, di, dj, k;
    PW_V g, d;
    PW_I cv, m;
    PW_B b;
    memset(dx, 0, (size_t)(H * W * C) * sizeof(FC_T));
    for (i = 0; i < Ho; i++)
        for (j = 0; j < Wo; j++) {
            const FC_T *gp = dy + (i * Wo + j) * C;
            const unsigned char *cp = code + (i * Wo + j) * C;
            const Py_ssize_t w0 = c0[j], w1 = c1[j];
            for (c = 0; c + PW_L <= C; c += PW_L) {
                memcpy(&g, gp + c, sizeof g);
                memcpy(&b, cp + c, sizeof b);
                cv = __builtin_convertvector(b, PW_I);
                for (h = r0[i], di = 0; h < r1[i]; h += dh, di++)
                    for (w = w0, dj = 0; w < w1; w += dw, dj++) {
                        FC_T *dp = dx + (h * W + w) * C + c;
                        m = cv == ((PW_I){0} + (FC_I)(di * KW + dj));
                        memcpy(&d, dp, sizeof d);
                        d += (PW_V)((PW_I)g & m);
                        memcpy(dp, &d, sizeof d);
                    }
            }
            for (; c < C; c++) {
                k = cp[c];
                dx[((r0[i] + k / KW * dh) * W + w0 + k % KW * dw) * C + c] += gp[c];
            }
        }
}

#undef PW_V
#undef PW_I
#undef PW_B
#undef PW_L
#undef PW_NV
