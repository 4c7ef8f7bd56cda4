/* The compiled training step of _digits.pyx: the template _digits.h compiled for float and
   double at every instruction-set level of _simd.h.  Declared for Cython in
   _digits_kernels.pxd; FC_PICK(fc_f32_step) etc. call the level that runs. */
#ifndef FC_DIGITS_KERNELS_H
#define FC_DIGITS_KERNELS_H
#include <Python.h>

#define FC_TEMPLATE "_digits.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

#endif
