/* Whether this processor runs 512-bit FMAs at full width: one core's float32 FMA throughput on
   256-bit and on 512-bit vectors (12 independent accumulators, so latency never limits it).

   Build and run:  gcc -O2 bench/fma_width.c -o /tmp/fma_width && /tmp/fma_width
   A full-width AVX-512 core (AMD Zen 5 server parts, most Intel Xeons) reads about 2x on 512-bit;
   one that runs AVX-512 on 256-bit units (AMD Zen 4) about 1x. Several fastconv choices measured
   differently on the two (docs/performance.md). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2,fma"))) static float fma256(long n)
{
    __m256 a[12], x = _mm256_set1_ps(1.0001f), w = _mm256_set1_ps(0.9999f);
    float t[8], s = 0;
    int i;
    for (i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, w);
    for (i = 0; i < 12; i++) { _mm256_storeu_ps(t, a[i]); s += t[0]; }
    return s;
}

__attribute__((target("avx512f"))) static float fma512(long n)
{
    __m512 a[12], x = _mm512_set1_ps(1.0001f), w = _mm512_set1_ps(0.9999f);
    float t[16], s = 0;
    int i;
    for (i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], x, w);
    for (i = 0; i < 12; i++) { _mm512_storeu_ps(t, a[i]); s += t[0]; }
    return s;
}

int main(void)
{
    const long n = 20000000;
    volatile float sink;
    int r;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512 on this processor\n");
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
