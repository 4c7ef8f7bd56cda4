/* The depthwise convolution kernels of _conv_depthwise.pyx: the template _conv_depthwise.h
   compiled for float and double at every instruction-set level of _simd.h.  Declared for Cython
   in _conv_depthwise_kernels.pxd; FC_PICK(fc_f32_fwd_row) etc. call the level that runs. */
#ifndef FC_CONV_DEPTHWISE_KERNELS_H
#define FC_CONV_DEPTHWISE_KERNELS_H
#include <Python.h>

#define FC_TEMPLATE "_conv_depthwise.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

#endif
