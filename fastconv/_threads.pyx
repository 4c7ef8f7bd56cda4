# cython: language_level=3
"""OpenMP helpers: whether the kernels were built with OpenMP and how many threads they use."""

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
