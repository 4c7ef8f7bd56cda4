/* Pinning the BLAS pool to one thread around OpenMP-parallel GEMM calls, shared by the GEMM
   kernels of _conv.pyx and _winograd.pyx.  Declared for Cython in _blas_pin.pxd.  Each module that
   includes it holds its own registration of the BLAS library's set/get-num-threads functions. */
#ifndef FC_BLAS_PIN_H
#define FC_BLAS_PIN_H
#include <stddef.h>

typedef void (*fc_blas_set_t)(int);
typedef int (*fc_blas_get_t)(void);
static fc_blas_set_t fc_blas_set = NULL;
static fc_blas_get_t fc_blas_get = NULL;

/* Register the set/get-num-threads functions by address; 0 for either clears both. */
static inline void fc_blas_register(size_t set_addr, size_t get_addr) {
    if (set_addr == 0 || get_addr == 0) {
        fc_blas_set = NULL;
        fc_blas_get = NULL;
    } else {
        fc_blas_set = (fc_blas_set_t)set_addr;
        fc_blas_get = (fc_blas_get_t)get_addr;
    }
}

/* 1 if BLAS can be pinned to one thread while OpenMP threads call it. */
static inline int fc_blas_available(void) { return fc_blas_set != NULL; }

/* Pin the BLAS pool to one thread; return the previous count (0: nothing to restore). */
static inline int fc_blas_pin(void) {
    int prev;
    if (fc_blas_get == NULL)
        return 0;
    prev = fc_blas_get();
    if (prev != 1) {
        fc_blas_set(1);
        return prev;
    }
    return 0;
}

/* Undo fc_blas_pin. */
static inline void fc_blas_restore(int prev) {
    if (prev > 0)
        fc_blas_set(prev);
}

#endif
