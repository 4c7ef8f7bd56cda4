# The C kernels of _conv_depthwise.pyx (_conv_depthwise_kernels.h), at the instruction-set level
# that fcd_level picks for a call.

cdef extern from "_conv_depthwise_kernels.h":
    ctypedef struct fcd_geo:
        Py_ssize_t H, W, C, Kh, Kw, Ho, Wo, ph, pw, sh, sw, dh, dw
        int stream

    void fcd_f32_fwd_row(
        int level, const fcd_geo *g, const float *ximg, const float *w, const float *bias, float *yrow,
        Py_ssize_t i) noexcept nogil
    void fcd_f64_fwd_row(
        int level, const fcd_geo *g, const double *ximg, const double *w, const double *bias, double *yrow,
        Py_ssize_t i) noexcept nogil
    void fcd_f32_dx_row(
        int level, const fcd_geo *g, const float *dyimg, const float *w, float *dxrow, Py_ssize_t h) noexcept nogil
    void fcd_f64_dx_row(
        int level, const fcd_geo *g, const double *dyimg, const double *w, double *dxrow, Py_ssize_t h) noexcept nogil
    void fcd_f32_dw_row(
        int level, const fcd_geo *g, const float *ximg, const float *dy, float *dwp, Py_ssize_t i) noexcept nogil
    void fcd_f64_dw_row(
        int level, const fcd_geo *g, const double *ximg, const double *dy, double *dwp, Py_ssize_t i) noexcept nogil
    void fcd_f32_db_row(int level, const fcd_geo *g, const float *dy, float *dbp) noexcept nogil
    void fcd_f64_db_row(int level, const fcd_geo *g, const double *dy, double *dbp) noexcept nogil
    Py_ssize_t fcd_lanes(Py_ssize_t itemsize, int level) noexcept nogil
    int fcd_level(Py_ssize_t itemsize, Py_ssize_t C, int cap) noexcept nogil
