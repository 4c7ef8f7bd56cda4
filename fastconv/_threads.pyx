# cython: language_level=3
"""Threads: whether the kernels were built with OpenMP, how many threads they use, and the BLAS
library's thread controls (the GEMM kernels pin BLAS to one thread inside their OpenMP threads)."""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fc_omp_max_threads(void) { return omp_get_max_threads(); }
    static int fc_omp_enabled(void) { return 1; }
    #else
    static int fc_omp_max_threads(void) { return 1; }
    static int fc_omp_enabled(void) { return 0; }
    #endif
    """
    int fc_omp_max_threads() nogil
    int fc_omp_enabled() nogil

cdef int _requested = 0  # 0: follow OpenMP (OMP_NUM_THREADS, threadpoolctl)


def openmp_enabled():
    """Return True if the kernels were compiled with OpenMP (and so can use several threads)."""
    return fc_omp_enabled() == 1


def get_num_threads():
    """Return the number of threads the kernels use.

    This is the value given to :func:`set_num_threads`, or else OpenMP's current maximum, which
    follows ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits(user_api="openmp")``.
    Always 1 when the kernels were built without OpenMP. The convolution kernels call BLAS from
    inside these threads with the BLAS pool pinned to one thread, so a call never uses more
    threads than this number.
    """
    if fc_omp_enabled() == 0:
        return 1
    if _requested > 0:
        return _requested
    return max(1, fc_omp_max_threads())


def set_num_threads(n):
    """Set the number of threads the kernels use; ``None`` or 0 restores the OpenMP default.

    Returns the previous setting (0 meaning "the OpenMP default").
    """
    global _requested
    prev = _requested
    if n is None:
        n = 0
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int or None, got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    _requested = n
    return prev


def threads_for(work, min_work):
    """Threads for a kernel call doing ``work`` units: 1 below ``min_work``, else :func:`get_num_threads`.

    Waking an OpenMP team (and, on a busy machine, waiting for it) costs more than small calls
    save. Results do not depend on the answer: kernels partition their work independently of it.
    """
    return 1 if work < min_work else get_num_threads()


def blas_thread_functions():
    """Addresses ``(set, get)`` of the num-threads functions of the BLAS behind
    ``scipy.linalg.cython_blas`` (OpenBLAS, scipy-openblas or MKL), or ``(0, 0)`` if it has none.

    ``fastconv._conv`` registers them when it is imported, so that its GEMM kernels can pin BLAS
    to one thread while OpenMP threads call it (threads never multiply).
    """
    import ctypes
    import os

    from scipy.linalg import cython_blas

    try:
        lib = ctypes.CDLL(cython_blas.__file__, mode=getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_NOW", 0))
    except OSError:
        return 0, 0
    for set_name, get_name in (
        ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
        ("openblas_set_num_threads", "openblas_get_num_threads"),
        ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads"),
    ):
        try:
            fset, fget = getattr(lib, set_name), getattr(lib, get_name)
        except AttributeError:
            continue
        return ctypes.cast(fset, ctypes.c_void_p).value, ctypes.cast(fget, ctypes.c_void_p).value
    return 0, 0
