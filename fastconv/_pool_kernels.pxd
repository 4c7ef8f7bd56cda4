# The C side of _pool.pyx (_pool_kernels.h): 2x2 pooling rows and the debug-build flag.
from libc.stdint cimport int64_t, uint8_t


cdef extern from "_pool_kernels.h":
    const bint FC_DEBUG_BUILD  # set by setup.py for FASTCONV_DEBUG=1 builds
    void fc_max2x2_f(const float* x0, const float* x1, float* y, int64_t* am, Py_ssize_t C,
                     int64_t base, int64_t W) noexcept nogil
    void fc_max2x2_d(const double* x0, const double* x1, double* y, int64_t* am, Py_ssize_t C,
                     int64_t base, int64_t W) noexcept nogil
    void fc_maxbwd2x2_f(const float* g, const int64_t* am, float* d0, float* d1, Py_ssize_t C,
                        int64_t base, int64_t W) noexcept nogil
    void fc_maxbwd2x2_d(const double* g, const int64_t* am, double* d0, double* d1, Py_ssize_t C,
                        int64_t base, int64_t W) noexcept nogil
    void fc_maxc2x2_f(const float* x0, const float* x1, float* y, uint8_t* code, Py_ssize_t C) noexcept nogil
    void fc_maxc2x2_d(const double* x0, const double* x1, double* y, uint8_t* code, Py_ssize_t C) noexcept nogil
    void fc_maxbwdc2x2_f(const float* g, const uint8_t* code, float* d0, float* d1, Py_ssize_t C) noexcept nogil
    void fc_maxbwdc2x2_d(const double* g, const uint8_t* code, double* d0, double* d1, Py_ssize_t C) noexcept nogil
    void fc_maxc_row_f(const float* x0, const float* x1, float* y, uint8_t* code, Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step) noexcept nogil
    void fc_maxc_row_d(const double* x0, const double* x1, double* y, uint8_t* code, Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step) noexcept nogil
    void fc_maxbwdc_row_f(const float* g, const uint8_t* code, float* d0, float* d1, Py_ssize_t Wo, Py_ssize_t C) noexcept nogil
    void fc_maxbwdc_row_d(const double* g, const uint8_t* code, double* d0, double* d1, Py_ssize_t Wo, Py_ssize_t C) noexcept nogil
    void fc_avg_row_f(const float* x0, const float* x1, float* y, Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step) noexcept nogil
    void fc_avg_row_d(const double* x0, const double* x1, double* y, Py_ssize_t Wo, Py_ssize_t C, Py_ssize_t step) noexcept nogil
    void fc_avgbwd_row_f(const float* g, float* d0, float* d1, Py_ssize_t Wo, Py_ssize_t C) noexcept nogil
    void fc_avgbwd_row_d(const double* g, double* d0, double* d1, Py_ssize_t Wo, Py_ssize_t C) noexcept nogil
    void fc_maxc_plane_row_f(const float* x0, const float* x1, float* y, uint8_t* code, Py_ssize_t Wo) noexcept nogil
    void fc_maxc_plane_row_d(const double* x0, const double* x1, double* y, uint8_t* code, Py_ssize_t Wo) noexcept nogil
    void fc_maxbwdc_plane_row_f(const float* g, const uint8_t* code, float* d0, float* d1, Py_ssize_t Wo) noexcept nogil
    void fc_maxbwdc_plane_row_d(const double* g, const uint8_t* code, double* d0, double* d1, Py_ssize_t Wo) noexcept nogil
    void fc_bcast_rows_f(const float* g, float* d, Py_ssize_t HW, Py_ssize_t C, int stream) noexcept nogil
    void fc_bcast_rows_d(const double* g, double* d, Py_ssize_t HW, Py_ssize_t C, int stream) noexcept nogil
