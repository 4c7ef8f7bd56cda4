/* The output memory pool of _alloc.pyx: a NumPy memory handler (NEP 49) whose free keeps a few
   large blocks for reuse (see the module docstring).  Declared for Cython in _alloc_pool.pxd. */
#ifndef FC_ALLOC_POOL_H
#define FC_ALLOC_POOL_H
#include <Python.h>
#include <stdlib.h>
#include <string.h>
#include "pythread.h"
#include "numpy/ndarraytypes.h"  /* PyDataMem_Handler */
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define FC_POOL_SLOTS 8          /* hard upper bound of max_blocks */
#define FC_ALIGN 64              /* large blocks start on a cache line */

typedef struct { void *p; size_t n; } fc_block;
static fc_block fc_pool[FC_POOL_SLOTS];
static int fc_pool_count = 0;                  /* blocks held */
static size_t fc_pool_bytes = 0;               /* bytes held */
static int fc_max_blocks = 4;  /* a layout="NCHW" conv forward+backward recycles 4 same-size copies */
static size_t fc_max_bytes = (size_t)256 << 20;
static size_t fc_min_block = (size_t)1 << 20;  /* a conv layer's dx of 1-4 MiB page-faulted on every step */
static unsigned long long fc_hits = 0, fc_misses = 0;
static PyThread_type_lock fc_lock = NULL;

static void fc_lock_acquire(void) { PyThread_acquire_lock(fc_lock, WAIT_LOCK); }
static void fc_lock_release(void) { PyThread_release_lock(fc_lock); }

/* A new large block, cache-line aligned, with transparent huge pages requested (as NumPy's
   own allocator does for blocks of 4 MiB and more). */
static void *fc_new_large(size_t n)
{
    void *p = NULL;
#if defined(_WIN32)
    p = malloc(n);
#else
    if (posix_memalign(&p, FC_ALIGN, n) != 0) p = NULL;
#endif
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p != NULL) {
        size_t pg = 4096, off = (pg - (size_t)p % pg) % pg;
        if (n > off) madvise((char *)p + off, n - off, MADV_HUGEPAGE);
    }
#endif
    return p;
}

static void *fc_malloc(void *ctx, size_t n)
{
    int i;
    (void)ctx;
    if (n < fc_min_block) return malloc(n ? n : 1);
    fc_lock_acquire();
    for (i = fc_pool_count - 1; i >= 0; i--) {
        if (fc_pool[i].n == n) {
            void *p = fc_pool[i].p;
            fc_pool[i] = fc_pool[--fc_pool_count];
            fc_pool_bytes -= n;
            fc_hits++;
            fc_lock_release();
            return p;
        }
    }
    fc_misses++;
    fc_lock_release();
    return fc_new_large(n);
}

static void *fc_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return calloc(nelem ? nelem : 1, elsize ? elsize : 1);
}

static void *fc_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n ? n : 1);
}

/* Keep a large block if the pool has room; otherwise (or if it would exceed the byte cap
   with the oldest block evicted) give it back. The oldest block is evicted first. */
static void fc_free(void *ctx, void *p, size_t n)
{
    void *evict = NULL;
    (void)ctx;
    if (p == NULL) return;
    if (n >= fc_min_block) {
        fc_lock_acquire();
        if (fc_max_blocks > 0 && n <= fc_max_bytes) {
            if (fc_pool_count >= fc_max_blocks || fc_pool_bytes + n > fc_max_bytes) {
                /* make room by dropping the oldest block (index 0), at most one per call */
                if (fc_pool_count > 0 && fc_pool_bytes - fc_pool[0].n + n <= fc_max_bytes) {
                    evict = fc_pool[0].p;
                    fc_pool_bytes -= fc_pool[0].n;
                    memmove(fc_pool, fc_pool + 1, (size_t)(fc_pool_count - 1) * sizeof(fc_block));
                    fc_pool_count--;
                }
            }
            if (fc_pool_count < fc_max_blocks && fc_pool_bytes + n <= fc_max_bytes) {
                fc_pool[fc_pool_count].p = p;
                fc_pool[fc_pool_count].n = n;
                fc_pool_count++;
                fc_pool_bytes += n;
                p = NULL;
            }
        }
        fc_lock_release();
        free(evict);
    }
    free(p);
}

static PyDataMem_Handler fc_handler = {
    "fastconv_pool",
    1,
    {NULL, fc_malloc, fc_calloc, fc_realloc, fc_free}
};

static int fc_pool_init(void)
{
    if (fc_lock == NULL) fc_lock = PyThread_allocate_lock();
    return fc_lock != NULL ? 0 : -1;
}

/* Set the limits and give back whatever no longer fits (oldest first). */
static void fc_pool_configure(int max_blocks, size_t max_bytes, size_t min_block)
{
    fc_block drop[FC_POOL_SLOTS];
    int ndrop = 0, i;
    fc_lock_acquire();
    fc_max_blocks = max_blocks;
    fc_max_bytes = max_bytes;
    fc_min_block = min_block;
    while (fc_pool_count > 0 && (fc_pool_count > fc_max_blocks || fc_pool_bytes > fc_max_bytes)) {
        drop[ndrop++] = fc_pool[0];
        fc_pool_bytes -= fc_pool[0].n;
        memmove(fc_pool, fc_pool + 1, (size_t)(fc_pool_count - 1) * sizeof(fc_block));
        fc_pool_count--;
    }
    fc_lock_release();
    for (i = 0; i < ndrop; i++) free(drop[i].p);
}

static void fc_pool_stats(int *count, size_t *bytes, unsigned long long *hits,
                          unsigned long long *misses, int *max_blocks, size_t *max_bytes,
                          size_t *min_block)
{
    fc_lock_acquire();
    *count = fc_pool_count; *bytes = fc_pool_bytes; *hits = fc_hits; *misses = fc_misses;
    *max_blocks = fc_max_blocks; *max_bytes = fc_max_bytes; *min_block = fc_min_block;
    fc_lock_release();
}

#endif
