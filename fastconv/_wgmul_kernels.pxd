# The Winograd families' register-blocked per-position products (_wgmul_kernels.h), shared by
# _winograd.pyx and _conv1d_winograd.pyx.

cdef extern from "_wgmul_kernels.h" nogil:
    ctypedef void (*fcw_gmul_f32_t)(const float*, const float*, float*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                    Py_ssize_t) noexcept nogil
    ctypedef void (*fcw_gmul_f64_t)(const double*, const double*, double*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                    Py_ssize_t) noexcept nogil
    fcw_gmul_f32_t fcw_gmul_f32()
    fcw_gmul_f64_t fcw_gmul_f64()
    fcw_gmul_f32_t fcw_gacc_f32()
    fcw_gmul_f64_t fcw_gacc_f64()
    Py_ssize_t fcw_group_chunk()
