/* The direct (implicit-GEMM) convolution kernels of _conv_direct.pyx: the template
   _conv_direct.h compiled for float and double at every instruction-set level of _simd.h.
   Declared for Cython in _conv_direct_kernels.pxd; FC_PICK(fc_f32_fwd_row) etc. call the level
   that runs. */
#ifndef FC_CONV_DIRECT_KERNELS_H
#define FC_CONV_DIRECT_KERNELS_H
#include <Python.h>

#define FC_TEMPLATE "_conv_direct.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

#endif
