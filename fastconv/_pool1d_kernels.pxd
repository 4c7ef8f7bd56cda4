# The 1-D max-pool window loops of _pool1d.pyx (_pool1d_kernels.h).

from libc.stdint cimport uint8_t

cdef extern from "_pool1d_kernels.h":
    void fc_max1d_f(const float* x, Py_ssize_t step, Py_ssize_t ntaps, Py_ssize_t t0, float* y, float* k,
                    Py_ssize_t C) noexcept nogil
    void fc_max1d_d(const double* x, Py_ssize_t step, Py_ssize_t ntaps, Py_ssize_t t0, double* y, double* k,
                    Py_ssize_t C) noexcept nogil
    void fc_max1d_k3s2_f(const float* x, Py_ssize_t Lo, float* y, uint8_t* k, Py_ssize_t C, int stream) noexcept nogil
    void fc_max1d_k3s2_d(const double* x, Py_ssize_t Lo, double* y, uint8_t* k, Py_ssize_t C,
                         int stream) noexcept nogil
    void fc_maxbwd1d_k3s2_f(const float* g, const uint8_t* k, Py_ssize_t Lo, float* dx, Py_ssize_t L,
                            Py_ssize_t C, int stream) noexcept nogil
    void fc_maxbwd1d_k3s2_d(const double* g, const uint8_t* k, Py_ssize_t Lo, double* dx, Py_ssize_t L,
                            Py_ssize_t C, int stream) noexcept nogil
    void fc_pool1d_sfence() noexcept nogil
