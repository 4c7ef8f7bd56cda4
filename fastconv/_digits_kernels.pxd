# The compiled training step of _digits.pyx (_digits_kernels.h), at the instruction-set level that runs.

cdef extern from "_digits_kernels.h":
    ctypedef struct fcd_geo:
        Py_ssize_t h, w, k, c, pad, stride, ho, wo, q, hp, wp, d
        int max_pool

    void fcd_d_forward "FC_PICK(fc_f64_forward)"(
        const fcd_geo *g, const double *x, const long long *idx, Py_ssize_t nb, const double *w1, const double *b1,
        const double *w2, const double *b2, double *xp, double *out1, long long *arg, double *flat,
        double *logits, double *w2t) noexcept nogil
    void fcd_f_forward "FC_PICK(fc_f32_forward)"(
        const fcd_geo *g, const float *x, const long long *idx, Py_ssize_t nb, const float *w1, const float *b1,
        const float *w2, const float *b2, float *xp, float *out1, int *arg, float *flat,
        float *logits, float *w2t) noexcept nogil
    double fcd_d_step "FC_PICK(fc_f64_step)"(
        const fcd_geo *g, const double *x, const long long *y, const long long *idx, Py_ssize_t nb, double lr,
        double *w1, double *b1, double *w2, double *b2, double *xp, double *out1, long long *arg, double *flat,
        double *proba, double *dflat, double *gm, double *t2, double *dw1, double *db1, double *dw2,
        double *db2) noexcept nogil
    double fcd_f_step "FC_PICK(fc_f32_step)"(
        const fcd_geo *g, const float *x, const long long *y, const long long *idx, Py_ssize_t nb, float lr,
        float *w1, float *b1, float *w2, float *b2, float *xp, float *out1, int *arg, float *flat,
        float *proba, float *dflat, float *gm, float *t2, float *dw1, float *db1, float *dw2,
        float *db2) noexcept nogil
