/* Run-time choice between the baseline (SSE2) and the AVX2+FMA builds of a C kernel.
   Shared by the extension modules that compile a loop twice (_filter.pyx, _conv_small.pyx). */
#ifndef FASTCONV_SIMD_H
#define FASTCONV_SIMD_H

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FC_X86_DISPATCH 1
#endif

/* 1 if the AVX2+FMA kernels run on this CPU (FASTCONV_SIMD=baseline forces 0); decided once. */
static int fc_simd_level = -1;
static int fc_use_avx2(void)
{
    int lvl = fc_simd_level;
    if (lvl < 0) {
        const char *env = getenv("FASTCONV_SIMD");
        lvl = 0;
#ifdef FC_X86_DISPATCH
        __builtin_cpu_init();
        if (!(env && strcmp(env, "baseline") == 0)
            && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            lvl = 1;
#else
        (void)env;
#endif
        fc_simd_level = lvl;
    }
    return lvl;
}

#endif
