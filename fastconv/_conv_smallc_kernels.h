/* The small-channel convolution kernels of _conv_smallc.pyx: the template _conv_smallc.h
   compiled for float and double at every instruction-set level of _simd.h.  Declared for Cython
   in _conv_smallc.pyx; fcc_gemm_f32 etc. call the level that runs. */
#ifndef FC_CONV_SMALLC_KERNELS_H
#define FC_CONV_SMALLC_KERNELS_H
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include "_simd.h"

#if defined(__GNUC__)
#define FCC_RESTRICT __restrict__
#define FCC_VEC(NAME, T, VB) typedef T NAME __attribute__((vector_size(VB)));
#define FCC_INLINE static inline __attribute__((always_inline))
#else
#define FCC_RESTRICT
#define FCC_VEC(NAME, T, VB) typedef T NAME;
#define FCC_INLINE static inline
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define FCC_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FCC_UNROLL _Pragma("unroll")
#else
#define FCC_UNROLL
#endif

/* vector registers of each level: the register blocks are sized to fit them */
#define FCC_REGS_base 16
#define FCC_REGS_avx2 16
#define FCC_REGS_avx512 32

#define FC_TEMPLATE "_conv_smallc.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

static Py_ssize_t fcc_lanes(Py_ssize_t itemsize)
{
    return itemsize == (Py_ssize_t)sizeof(float) ? FC_PICK(fc_f32_sc_lanes)() : FC_PICK(fc_f64_sc_lanes)();
}
static void fcc_gemm_f32(const float *base, const Py_ssize_t *ro, Py_ssize_t M, const Py_ssize_t *ko,
                         Py_ssize_t R, const float *B, Py_ssize_t ldb, float *C, Py_ssize_t ldc, const float *init)
{
    FC_PICK(fc_f32_sc_gemm)(base, ro, M, ko, R, B, ldb, C, ldc, init);
}
static void fcc_gemm_f64(const double *base, const Py_ssize_t *ro, Py_ssize_t M, const Py_ssize_t *ko,
                         Py_ssize_t R, const double *B, Py_ssize_t ldb, double *C, Py_ssize_t ldc, const double *init)
{
    FC_PICK(fc_f64_sc_gemm)(base, ro, M, ko, R, B, ldb, C, ldc, init);
}
#endif
