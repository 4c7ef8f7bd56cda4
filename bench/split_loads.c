/* What loads that cross cache lines cost the FMA rate of a filter's inner loop: one core's float32
   vector FMAs per ns with 12 independent sums, every operand in L1, for
     - register operands only (the FMA units' limit),
     - 12 loads + 12 FMAs per round (filter2d's row kernel: one load per tap and vector),
     - 6 loads + 12 FMAs per round (each loaded vector feeding two sums, as a several-rows kernel),
   the loads 32-byte aligned and 4 bytes off (then every other 256-bit load crosses a 64-byte line).

   Build and run:  gcc -O2 bench/split_loads.c -o /tmp/split_loads && /tmp/split_loads
   On the AMD Zen 3 host of docs/performance.md ("filter2d's 5x5 kernels reach half of the FMA
   units"): 6.1-6.3 FMA/ns from registers, 5.9-6.2 with 12 aligned loads and 3.2 with 12 loads 4
   bytes off (5.5-6.4 and 3.5-4.2 with 6 loads). A filter's tap columns are one float apart, so at most one of a kernel's columns can
   be aligned. */
#include <stdio.h>
#include <time.h>

#define ROUNDS 50000000L
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
static float buf[256] __attribute__((aligned(64)));

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* the sums' first lanes, added: keeps the loops from being optimized away */
static float keep(const v8 *a)
{
    float s = 0;
    for (int i = 0; i < 12; i++) s += a[i][0];
    return s;
}

__attribute__((target("avx2,fma"), noinline)) static float registers(long n)
{
    v8 a[12], x = (v8){0} + 1.0001f, y = (v8){0} + 0.9999f;
    for (int i = 0; i < 12; i++) a[i] = (v8){0} + (float)i;
    for (long k = 0; k < n; k++) {
        __asm__ volatile("" : "+x"(x));
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = x * y + a[i];
    }
    return keep(a);
}

/* one load per FMA (12 + 12), from p */
__attribute__((target("avx2,fma"), noinline)) static float loads12(long n, const float *p)
{
    v8 a[12], x = (v8){0} + 1e-3f;
    for (int i = 0; i < 12; i++) a[i] = (v8){0} + (float)i;
    for (long k = 0; k < n; k++) {
        __asm__ volatile("" : "+r"(p));  /* the loads are issued again every round */
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = x * *(const v8u *)(p + 8 * i) + a[i];
    }
    return keep(a);
}

/* one load per two FMAs (6 + 12), from p */
__attribute__((target("avx2,fma"), noinline)) static float loads6(long n, const float *p)
{
    v8 a[12], x = (v8){0} + 1e-3f, z = (v8){0} + 2e-3f;
    for (int i = 0; i < 12; i++) a[i] = (v8){0} + (float)i;
    for (long k = 0; k < n; k++) {
        __asm__ volatile("" : "+r"(p));
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
            v8 v = *(const v8u *)(p + 8 * i);
            a[i] = x * v + a[i];
            a[i + 6] = z * v + a[i + 6];
        }
    }
    return keep(a);
}

int main(void)
{
    const double fmas = 12.0 * ROUNDS;
    float s = 0;
    for (int i = 0; i < 256; i++) buf[i] = 0.5f;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("this processor has no AVX2 + FMA\n");
        return 0;
    }
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        s += registers(ROUNDS);
        double t1 = now();
        s += loads12(ROUNDS, buf);
        double t2 = now();
        s += loads12(ROUNDS, buf + 1);
        double t3 = now();
        s += loads6(ROUNDS, buf);
        double t4 = now();
        s += loads6(ROUNDS, buf + 1);
        double t5 = now();
        printf("FMA/ns: registers %.2f | 12 loads: aligned %.2f, 4 bytes off %.2f | 6 loads: aligned %.2f, "
               "4 bytes off %.2f\n", fmas / (t1 - t0) * 1e-9, fmas / (t2 - t1) * 1e-9, fmas / (t3 - t2) * 1e-9,
               fmas / (t4 - t3) * 1e-9, fmas / (t5 - t4) * 1e-9);
    }
    return s == 12345.0f;  /* (never): uses s */
}
