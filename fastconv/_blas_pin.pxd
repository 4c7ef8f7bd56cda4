# BLAS thread pinning of the GEMM kernels in _conv.pyx and _winograd.pyx (_blas_pin.h).

cdef extern from "_blas_pin.h":
    void fc_blas_register(size_t set_addr, size_t get_addr) noexcept nogil
    bint fc_blas_available() noexcept nogil
    int fc_blas_pin() noexcept nogil
    void fc_blas_restore(int prev) noexcept nogil
