# The C kernels of _conv_depthwise.pyx (_conv_depthwise_kernels.h), at the instruction-set level that runs.

cdef extern from "_conv_depthwise_kernels.h":
    ctypedef struct fcd_geo:
        Py_ssize_t H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw, dh, dw

    void fcd_f32_fwd_row "FC_PICK(fc_f32_fwd_row)"(
        const fcd_geo *g, const float *ximg, const float *w, const float *bias, float *yrow, Py_ssize_t i) noexcept nogil
    void fcd_f64_fwd_row "FC_PICK(fc_f64_fwd_row)"(
        const fcd_geo *g, const double *ximg, const double *w, const double *bias, double *yrow, Py_ssize_t i) noexcept nogil
    void fcd_f32_dx_row "FC_PICK(fc_f32_dx_row)"(
        const fcd_geo *g, const float *dyimg, const float *w, float *dxrow, Py_ssize_t h) noexcept nogil
    void fcd_f64_dx_row "FC_PICK(fc_f64_dx_row)"(
        const fcd_geo *g, const double *dyimg, const double *w, double *dxrow, Py_ssize_t h) noexcept nogil
    void fcd_f32_dw_row "FC_PICK(fc_f32_dw_row)"(
        const fcd_geo *g, const float *ximg, const float *dy, float *dwp, Py_ssize_t i) noexcept nogil
    void fcd_f64_dw_row "FC_PICK(fc_f64_dw_row)"(
        const fcd_geo *g, const double *ximg, const double *dy, double *dwp, Py_ssize_t i) noexcept nogil
