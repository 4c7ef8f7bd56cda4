# The C kernels of _conv_small.pyx (_conv_small_kernels.h), at the instruction-set level that
# fcs_level picks for a layer.

cdef extern from "_conv_small_kernels.h":
    ctypedef struct fc_sg:
        Py_ssize_t K
        Py_ssize_t Q
        Py_ssize_t Cout
        Py_ssize_t Wo
        Py_ssize_t step
        const Py_ssize_t* toff
        const Py_ssize_t* poff
    ctypedef struct fc_dg:
        Py_ssize_t KV
        Py_ssize_t Q
        Py_ssize_t C
        const Py_ssize_t* doff
        const Py_ssize_t* pd
    void fcs_bc_f32(int level, const float* x, float* xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil
    void fcs_bc_f64(int level, const double* x, double* xb, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t Wp) noexcept nogil
    void fcs_fwd_f32(int level, const fc_sg* g, const float* xb, const float* w, const float* b, float* y) noexcept nogil
    void fcs_fwd_f64(int level, const fc_sg* g, const double* xb, const double* w, const double* b, double* y) noexcept nogil
    void fcs_dw_f32(int level, const fc_sg* g, const float* xb, const float* dy, float* dw, float* db) noexcept nogil
    void fcs_dw_f64(int level, const fc_sg* g, const double* xb, const double* dy, double* dw, double* db) noexcept nogil
    void fcs_dx_f32(int level, const fc_sg* g, const float* dy, const float* w, float* dxp, float* scr) noexcept nogil
    void fcs_dx_f64(int level, const fc_sg* g, const double* dy, const double* w, double* dxp, double* scr) noexcept nogil
    void fcs_dxg_f32(int level, const fc_dg* g, const float* D, const float* wv, float* dx) noexcept nogil
    void fcs_dxg_f64(int level, const fc_dg* g, const double* D, const double* wv, double* dx) noexcept nogil
    Py_ssize_t fcs_lanes(Py_ssize_t itemsize, int level) noexcept nogil
    int fcs_level(Py_ssize_t itemsize, Py_ssize_t cout, Py_ssize_t plane, int cap) noexcept nogil
