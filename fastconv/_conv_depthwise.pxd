# Declarations of the depthwise convolution loops (fastconv/_conv_depthwise.h).

cdef extern from "_conv_depthwise.h" nogil:
    int fc_use_avx2()
    ctypedef struct fcd_geo:
        Py_ssize_t H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw, dh, dw

    void fcd_f32_fwd_row "FCD_PICK(fcd_f32_fwd_row)"(
        const fcd_geo *g, const float *ximg, const float *w, const float *bias, float *yrow, Py_ssize_t i) noexcept
    void fcd_f64_fwd_row "FCD_PICK(fcd_f64_fwd_row)"(
        const fcd_geo *g, const double *ximg, const double *w, const double *bias, double *yrow, Py_ssize_t i) noexcept
    void fcd_f32_dx_row "FCD_PICK(fcd_f32_dx_row)"(
        const fcd_geo *g, const float *dyimg, const float *w, float *dxrow, Py_ssize_t h) noexcept
    void fcd_f64_dx_row "FCD_PICK(fcd_f64_dx_row)"(
        const fcd_geo *g, const double *dyimg, const double *w, double *dxrow, Py_ssize_t h) noexcept
    void fcd_f32_dw_row "FCD_PICK(fcd_f32_dw_row)"(
        const fcd_geo *g, const float *ximg, const float *dy, float *dwp, Py_ssize_t i) noexcept
    void fcd_f64_dw_row "FCD_PICK(fcd_f64_dw_row)"(
        const fcd_geo *g, const double *ximg, const double *dy, double *dwp, Py_ssize_t i) noexcept
