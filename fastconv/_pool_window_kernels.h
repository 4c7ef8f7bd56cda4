/* The C kernels of _pool_window.pyx: the general-window max-pooling template _pool_window.h,
   instantiated for float and double at every instruction-set level of _simd.h. */
#ifndef FASTCONV_POOL_WINDOW_KERNELS_H
#define FASTCONV_POOL_WINDOW_KERNELS_H

#include <string.h>

#define FC_TEMPLATE "_pool_window.h"
#include "_simd_instantiate.h"
#undef FC_TEMPLATE

#endif
