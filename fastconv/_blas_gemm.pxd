# The BLAS GEMM call shared by the Winograd kernels (_winograd.pyx, _conv1d_winograd.pyx).

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void fc_gemm(
    int m, int n, int k, const floating* a, int lda, const floating* b, int ldb, floating* c, int ldc,
) noexcept nogil:
    """Column-major C (m, n) = A (m, k) @ B (k, n) via BLAS sgemm/dgemm (no transposes, alpha 1, beta 0)."""
    cdef char tn = b"N"
    cdef floating one = 1, zero = 0
    if floating is float:
        sgemm(&tn, &tn, &m, &n, &k, &one, <float*>a, &lda, <float*>b, &ldb, &zero, c, &ldc)
    else:
        dgemm(&tn, &tn, &m, &n, &k, &one, <double*>a, &lda, <double*>b, &ldb, &zero, c, &ldc)
