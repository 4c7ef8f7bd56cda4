/* The instruction-set levels of the C kernels and the run-time choice between them.

   Every kernel family is compiled once per (dtype, level) by _simd_instantiate.h; at run time
   FC_PICK(f) calls the build of f for the highest level that this CPU has (and that
   FASTCONV_SIMD allows).  The list of levels below is the only place that names them.

   FC_ISA_<i>, lowest level first, one line each:
       (identifier, FASTCONV_SIMD name, vector bytes, function attributes, CPU test)
   The identifier is pasted into function names (fc_f32_fwd_base, fc_f32_fwd_avx2, ...) and
   into the names of per-level tuning constants (FCK_R_base, FCK_R_avx2, ...); the CPU test is
   an expression evaluated once, after __builtin_cpu_init().  Level 0 is the baseline ISA of
   the build (SSE2 on x86-64), which every CPU that runs the build has.  Up to four levels. */
#ifndef FASTCONV_SIMD_H
#define FASTCONV_SIMD_H

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FC_X86_DISPATCH 1
#endif

#define FC_ISA_0 (base, "baseline", 16, , 1)
#ifdef FC_X86_DISPATCH
#define FC_ISA_1 (avx2, "avx2", 32, __attribute__((target("avx2,fma"))), \
                  __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#define FC_ISA_2 (avx512, "avx512", 64, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), \
                  __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&           \
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
#endif

/* token pasting after expansion */
#define FC_CAT2(a, b) a##b
#define FC_CAT(a, b) FC_CAT2(a, b)

/* the fields of a level */
#define FC_ISA_ID_(id, name, vb, attr, cpu) id
#define FC_ISA_NAME_(id, name, vb, attr, cpu) name
#define FC_ISA_VB_(id, name, vb, attr, cpu) vb
#define FC_ISA_ATTR_(id, name, vb, attr, cpu) attr
#define FC_ISA_CPU_(id, name, vb, attr, cpu) cpu
#define FC_ISA_ID(L) FC_ISA_ID_ L
#define FC_ISA_NAME(L) FC_ISA_NAME_ L
#define FC_ISA_VB(L) FC_ISA_VB_ L
#define FC_ISA_ATTR(L) FC_ISA_ATTR_ L
#define FC_ISA_CPU(L) FC_ISA_CPU_ L

/* the number of levels this build compiles */
#if defined(FC_ISA_3)
#define FC_NLEVELS 4
#elif defined(FC_ISA_2)
#define FC_NLEVELS 3
#elif defined(FC_ISA_1)
#define FC_NLEVELS 2
#else
#define FC_NLEVELS 1
#endif

/* The FASTCONV_SIMD names of the levels, lowest first. */
static const char *const fc_simd_names[FC_NLEVELS] = {
    FC_ISA_NAME(FC_ISA_0),
#ifdef FC_ISA_1
    FC_ISA_NAME(FC_ISA_1),
#endif
#ifdef FC_ISA_2
    FC_ISA_NAME(FC_ISA_2),
#endif
#ifdef FC_ISA_3
    FC_ISA_NAME(FC_ISA_3),
#endif
};

/* The level the kernels run at: the highest level whose CPU test passes, at most the level
   that FASTCONV_SIMD names (an unknown or empty name sets no limit).  Decided once. */
static int fc_simd_level_ = -1;
static int fc_simd_level(void)
{
    int lvl = fc_simd_level_;
    if (lvl < 0) {
        const char *env = getenv("FASTCONV_SIMD");
        int cap = FC_NLEVELS - 1, i;
        for (i = 0; env && i < FC_NLEVELS; i++)
            if (strcmp(env, fc_simd_names[i]) == 0) cap = i;
        lvl = 0;
#ifdef FC_X86_DISPATCH
        __builtin_cpu_init();
#endif
#ifdef FC_ISA_1
        if (cap >= 1 && (FC_ISA_CPU(FC_ISA_1))) lvl = 1;
#endif
#ifdef FC_ISA_2
        if (lvl == 1 && cap >= 2 && (FC_ISA_CPU(FC_ISA_2))) lvl = 2;
#endif
#ifdef FC_ISA_3
        if (lvl == 2 && cap >= 3 && (FC_ISA_CPU(FC_ISA_3))) lvl = 3;
#endif
        (void)cap;
        fc_simd_level_ = lvl;
    }
    return lvl;
}

/* The run-time dispatch: FC_PICK(fc_f32_fwd) is the function fc_f32_fwd_<level> for the level
   that runs (an expression of function type: FC_PICK(f)(args) calls it). */
#define FC_AT(f, L) FC_CAT(f, FC_CAT(_, FC_ISA_ID(L)))
#if FC_NLEVELS == 4
#define FC_PICK(f) (fc_simd_level() >= 3 ? FC_AT(f, FC_ISA_3) : fc_simd_level() == 2 ? FC_AT(f, FC_ISA_2) \
                    : fc_simd_level() ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#elif FC_NLEVELS == 3
#define FC_PICK(f) (fc_simd_level() >= 2 ? FC_AT(f, FC_ISA_2) : fc_simd_level() ? FC_AT(f, FC_ISA_1) \
                    : FC_AT(f, FC_ISA_0))
#elif FC_NLEVELS == 2
#define FC_PICK(f) (fc_simd_level() ? FC_AT(f, FC_ISA_1) : FC_AT(f, FC_ISA_0))
#else
#define FC_PICK(f) FC_AT(f, FC_ISA_0)
#endif

#endif
