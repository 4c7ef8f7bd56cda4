# The C kernels of _conv_direct.pyx (_conv_direct_kernels.h), at the instruction-set level that runs.

cdef extern from "_conv_direct_kernels.h":
    ctypedef struct fck_geo:
        Py_ssize_t H, W, C, Kh, Kw, Cout, Ho, Wo, ph, pw, sh, sw, dh, dw, xs, ys

    Py_ssize_t fck_f32_cb "FC_PICK(fc_f32_cb)"() noexcept nogil
    Py_ssize_t fck_f64_cb "FC_PICK(fc_f64_cb)"() noexcept nogil
    void fck_f32_pack "FC_PICK(fc_f32_pack)"(
        const float *w, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t C, Py_ssize_t Cout, int flip, float *wpk) noexcept nogil
    void fck_f64_pack "FC_PICK(fc_f64_pack)"(
        const double *w, Py_ssize_t Kh, Py_ssize_t Kw, Py_ssize_t C, Py_ssize_t Cout, int flip, double *wpk) noexcept nogil
    void fck_f32_fwd_row "FC_PICK(fc_f32_fwd_row)"(
        const fck_geo *g, const float *ximg, const float *zeros, const float *wpk, const float *bpk,
        float *yrow, Py_ssize_t i) noexcept nogil
    void fck_f64_fwd_row "FC_PICK(fc_f64_fwd_row)"(
        const fck_geo *g, const double *ximg, const double *zeros, const double *wpk, const double *bpk,
        double *yrow, Py_ssize_t i) noexcept nogil
    void fck_f32_dx_row "FC_PICK(fc_f32_dx_row)"(
        const fck_geo *g, const float *dyimg, const float *zeros, const float *wtpk, float *dxrow,
        Py_ssize_t h) noexcept nogil
    void fck_f64_dx_row "FC_PICK(fc_f64_dx_row)"(
        const fck_geo *g, const double *dyimg, const double *zeros, const double *wtpk, double *dxrow,
        Py_ssize_t h) noexcept nogil
    void fck_f32_dw_row "FC_PICK(fc_f32_dw_row)"(
        const fck_geo *g, const float *ximg, const float *dy, Py_ssize_t ldd, float *dwp, Py_ssize_t ldw,
        Py_ssize_t i) noexcept nogil
    void fck_f64_dw_row "FC_PICK(fc_f64_dw_row)"(
        const fck_geo *g, const double *ximg, const double *dy, Py_ssize_t ldd, double *dwp, Py_ssize_t ldw,
        Py_ssize_t i) noexcept nogil
