/* Whether this processor runs 512-bit FMAs at full width: one core's float32 FMA throughput on
   256-bit and on 512-bit vectors (12 independent accumulators, so latency never limits it).

   Build and run:  gcc -O2 bench/fma_width.c -o /tmp/fma_width && /tmp/fma_width
   A core with full-width AVX-512 units (the AMD Zen 5 EPYC of docs/performance.md: 2.0x) reads
   about 2x on 512-bit; one that executes AVX-512 on 256-bit units (AMD Zen 4) about 1x. Several
   fastconv choices measured differently on the two (docs/performance.md). A processor without
   AVX-512 gets the 256-bit figure alone: one core's FMA limit at AVX2. */
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* NAME(n): n rounds of 12 independent a = a * x + w on float vectors of BYTES bytes (GCC contracts
   them to FMAs); the value returned keeps the loop from being optimized away. */
#define FMA_THROUGHPUT(NAME, BYTES, TARGET)                                     \
    __attribute__((target(TARGET))) static float NAME(long n)                   \
    {                                                                           \
        typedef float vec __attribute__((vector_size(BYTES)));                  \
        vec a[12], x = (vec){0} + 1.0001f, w = (vec){0} + 0.9999f;              \
        float s = 0;                                                            \
        int i;                                                                  \
        for (i = 0; i < 12; i++) a[i] = (vec){0} + (float)i;                    \
        for (long k = 0; k < n; k++)                                            \
            _Pragma("GCC unroll 12") for (i = 0; i < 12; i++) a[i] = a[i] * x + w; \
        for (i = 0; i < 12; i++) s += a[i][0];                                  \
        return s;                                                               \
    }
FMA_THROUGHPUT(fma256, 32, "avx2,fma")
FMA_THROUGHPUT(fma512, 64, "avx512f")

int main(void)
{
    const long n = 20000000;
    volatile float sink;
    int r;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {  /* the 256-bit peak alone: an AVX2 host's FMA limit */
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
            printf("no AVX2 with FMA on this processor\n");
            return 0;
        }
        for (r = 0; r < 3; r++) {
            double t = now();
            sink = fma256(n);
            printf("256-bit %.0f GFLOP/s (no AVX-512 on this processor)\n", 12.0 * n * 16 / (now() - t) / 1e9);
        }
        return 0;
    }
    for (r = 0; r < 3; r++) {
        double t = now(), g256, g512;
        sink = fma256(n);
        g256 = 12.0 * n * 16 / (now() - t) / 1e9;
        t = now();
        sink = fma512(n);
        g512 = 12.0 * n * 32 / (now() - t) / 1e9;
        printf("256-bit %.0f GFLOP/s, 512-bit %.0f GFLOP/s: %.2fx\n", g256, g512, g512 / g256);
    }
    (void)sink;
    return 0;
}
