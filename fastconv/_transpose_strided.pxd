# The strided block transpose of _transpose.h, for either float type: the kernels that move NCHW
# planes themselves (_conv_small.pyx, _conv_smallc.pyx, _winograd.pyx).

from cython cimport floating

cdef extern from "_transpose.h" nogil:
    void fc_transpose_strided_f32(const float* s, Py_ssize_t ls, float* d, Py_ssize_t ld, Py_ssize_t R, Py_ssize_t C)
    void fc_transpose_strided_f64(const double* s, Py_ssize_t ls, double* d, Py_ssize_t ld, Py_ssize_t R, Py_ssize_t C)


cdef inline void transpose_strided(const floating* s, Py_ssize_t ls, floating* d, Py_ssize_t ld, Py_ssize_t R,
                                   Py_ssize_t C) noexcept nogil:
    """d[k * ld + i] = s[i * ls + k] for i < R, k < C (register blocks with AVX2)."""
    if floating is float:
        fc_transpose_strided_f32(s, ls, d, ld, R, C)
    else:
        fc_transpose_strided_f64(s, ls, d, ld, R, C)
