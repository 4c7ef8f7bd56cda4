/* The depthwise convolution loops of _conv_depthwise_impl.h, instantiated for float and double,
   baseline (SSE2) and, on x86 with GCC/Clang, AVX2+FMA; FCD_PICK(f) names the one to run. */
#ifndef FASTCONV_CONV_DEPTHWISE_H
#define FASTCONV_CONV_DEPTHWISE_H
#include "_simd.h"
#define FCD_CAT2(a, b) a##b
#define FCD_CAT(a, b) FCD_CAT2(a, b)

#define FCD_ATTR
#define FCD_VB 16
#define FCD_T float
#define FCD_FN(n) FCD_CAT(fcd_f32_, n)
#include "_conv_depthwise_impl.h"
#undef FCD_T
#undef FCD_FN
#define FCD_T double
#define FCD_FN(n) FCD_CAT(fcd_f64_, n)
#include "_conv_depthwise_impl.h"
#undef FCD_T
#undef FCD_FN
#undef FCD_ATTR
#undef FCD_VB

#ifdef FC_X86_DISPATCH
#define FCD_ATTR __attribute__((target("avx2,fma")))
#define FCD_VB 32
#define FCD_T float
#define FCD_FN(n) FCD_CAT(FCD_CAT(fcd_f32_, n), _avx2)
#include "_conv_depthwise_impl.h"
#undef FCD_T
#undef FCD_FN
#define FCD_T double
#define FCD_FN(n) FCD_CAT(FCD_CAT(fcd_f64_, n), _avx2)
#include "_conv_depthwise_impl.h"
#undef FCD_T
#undef FCD_FN
#undef FCD_ATTR
#undef FCD_VB
#define FCD_PICK(f) (fc_use_avx2() ? f##_avx2 : f)
#else
#define FCD_PICK(f) (f)
#endif

#endif
