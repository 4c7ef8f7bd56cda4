# The output memory pool of _alloc.pyx (_alloc_pool.h).

cdef extern from "_alloc_pool.h":
    ctypedef struct PyDataMem_Handler:
        pass
    PyDataMem_Handler fc_handler
    int FC_POOL_SLOTS
    int fc_pool_init()
    void fc_pool_configure(int max_blocks, size_t max_bytes, size_t min_block)
    void fc_pool_stats(int* count, size_t* bytes, unsigned long long* hits,
                       unsigned long long* misses, int* max_blocks, size_t* max_bytes,
                       size_t* min_block)
