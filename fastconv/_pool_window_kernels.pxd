# The C kernels of _pool_window.pyx (_pool_window_kernels.h), at the instruction-set level that runs.

cdef extern from "_pool_window_kernels.h":
    void pw_f32_max_row "FC_PICK(fc_f32_pw_max_row)"(
        const float *xn, float *y, unsigned char *code, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Wo,
        Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t dh, const Py_ssize_t *c0, const Py_ssize_t *c1, Py_ssize_t dw,
        Py_ssize_t KW) noexcept nogil
    void pw_f64_max_row "FC_PICK(fc_f64_pw_max_row)"(
        const double *xn, double *y, unsigned char *code, Py_ssize_t W, Py_ssize_t C, Py_ssize_t Wo,
        Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t dh, const Py_ssize_t *c0, const Py_ssize_t *c1, Py_ssize_t dw,
        Py_ssize_t KW) noexcept nogil
    void pw_f32_max_bwd_image "FC_PICK(fc_f32_pw_max_bwd_image)"(
        const float *dy, const unsigned char *code, float *dx, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
        Py_ssize_t Ho, Py_ssize_t Wo, const Py_ssize_t *r0, const Py_ssize_t *r1, Py_ssize_t dh,
        const Py_ssize_t *c0, const Py_ssize_t *c1, Py_ssize_t dw, Py_ssize_t KW) noexcept nogil
    void pw_f64_max_bwd_image "FC_PICK(fc_f64_pw_max_bwd_image)"(
        const double *dy, const unsigned char *code, double *dx, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
        Py_ssize_t Ho, Py_ssize_t Wo, const Py_ssize_t *r0, const Py_ssize_t *r1, Py_ssize_t dh,
        const Py_ssize_t *c0, const Py_ssize_t *c1, Py_ssize_t dw, Py_ssize_t KW) noexcept nogil
