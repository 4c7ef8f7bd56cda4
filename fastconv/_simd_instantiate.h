/* Include the template header FC_TEMPLATE once per (dtype, instruction-set level).

   Usage, in a kernel family's header:
       #define FC_TEMPLATE "_conv_direct.h"
       #include "_simd_instantiate.h"
       #undef FC_TEMPLATE
   Each inclusion of the template sees
       FC_T        the element type (float, then double)
       FC_I        the signed integer type of its size (int, long long)
       FC_DT       f32 or f64
       FC_ISA      the level's identifier (base, avx2, ...; see _simd.h)
       FC_ATTR     the level's function attributes (empty, __attribute__((target("avx2,fma"))), ...)
       FC_VB       the level's vector bytes (16, 32, ...)
       FC_FN(n)    the function name fc_<dtype>_<n>_<level>, e.g. fc_f32_fwd_avx2, so that
                   FC_PICK(fc_f32_fwd) (see _simd.h) calls the level that runs
   A family's tuning constants are named per level and picked with the level's identifier, e.g.
       #define FCK_R_base 4
       #define FCK_R_avx2 6
       #define FCK_R FC_CAT(FCK_R_, FC_ISA)
   This header includes itself once per level (FC_LEVEL set); it is not include-guarded. */
#ifndef FC_LEVEL
#include "_simd.h"

/* the dtypes: (element type, integer type of its size, name) */
#define FC_DTYPE_T_(t, i, dt) t
#define FC_DTYPE_I_(t, i, dt) i
#define FC_DTYPE_DT_(t, i, dt) dt
#define FC_DTYPE_T(D) FC_DTYPE_T_ D
#define FC_DTYPE_I(D) FC_DTYPE_I_ D
#define FC_DTYPE_DT(D) FC_DTYPE_DT_ D
#define FC_T FC_DTYPE_T(FC_DTYPE)
#define FC_I FC_DTYPE_I(FC_DTYPE)
#define FC_DT FC_DTYPE_DT(FC_DTYPE)
#define FC_ISA FC_ISA_ID(FC_LEVEL)
#define FC_ATTR FC_ISA_ATTR(FC_LEVEL)
#define FC_VB FC_ISA_VB(FC_LEVEL)
#define FC_FN(n) FC_CAT(FC_CAT(FC_CAT(fc_, FC_DT), FC_CAT(_, n)), FC_CAT(_, FC_ISA))

#define FC_LEVEL FC_ISA_0
#include "_simd_instantiate.h"
#undef FC_LEVEL
#ifdef FC_ISA_1
#define FC_LEVEL FC_ISA_1
#include "_simd_instantiate.h"
#undef FC_LEVEL
#endif
#ifdef FC_ISA_2
#define FC_LEVEL FC_ISA_2
#include "_simd_instantiate.h"
#undef FC_LEVEL
#endif
#ifdef FC_ISA_3
#define FC_LEVEL FC_ISA_3
#include "_simd_instantiate.h"
#undef FC_LEVEL
#endif

#undef FC_T
#undef FC_I
#undef FC_DT
#undef FC_ISA
#undef FC_ATTR
#undef FC_VB
#undef FC_FN

#else  /* one level (FC_LEVEL): both dtypes */
#define FC_DTYPE (float, int, f32)
#include FC_TEMPLATE
#undef FC_DTYPE
#define FC_DTYPE (double, long long, f64)
#include FC_TEMPLATE
#undef FC_DTYPE
#endif
