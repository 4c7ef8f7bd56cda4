# The 1-D max-pool window loops of _pool1d.pyx (_pool1d_kernels.h).

cdef extern from "_pool1d_kernels.h":
    void fc_max1d_f(const float* x, Py_ssize_t step, Py_ssize_t ntaps, Py_ssize_t t0, float* y, float* k,
                    Py_ssize_t C) noexcept nogil
    void fc_max1d_d(const double* x, Py_ssize_t step, Py_ssize_t ntaps, Py_ssize_t t0, double* y, double* k,
                    Py_ssize_t C) noexcept nogil
