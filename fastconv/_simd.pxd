# The instruction-set levels of the C kernels (_simd.h).

cdef extern from "_simd.h":
    int FC_NLEVELS
    const char* const* fc_simd_names
    int fc_simd_level() noexcept nogil
