# The C side of _filter.pyx (_filter_kernels.h): the row kernel and the several-rows kernel at the
# instruction-set level that runs, and the border-mode index map.

cdef extern from "_filter_kernels.h":
    void fc_taps_f32 "FC_PICK(fc_f32_taps)"(const float* const* src, const float* w, Py_ssize_t ntaps,
                                            float* out, Py_ssize_t n, int stream) noexcept nogil
    void fc_taps_f64 "FC_PICK(fc_f64_taps)"(const double* const* src, const double* w, Py_ssize_t ntaps,
                                            double* out, Py_ssize_t n, int stream) noexcept nogil
    int fc_rows_f32 "FC_PICK(fc_f32_rows)"(const float* const* rows, const Py_ssize_t* tki, const Py_ssize_t* tkj,
                                          const float* w, Py_ssize_t ntaps, Py_ssize_t kh, Py_ssize_t kw,
                                          Py_ssize_t step, float* out, Py_ssize_t ostride, Py_ssize_t n,
                                          int stream) noexcept nogil
    int fc_rows_f64 "FC_PICK(fc_f64_rows)"(const double* const* rows, const Py_ssize_t* tki, const Py_ssize_t* tkj,
                                          const double* w, Py_ssize_t ntaps, Py_ssize_t kh, Py_ssize_t kw,
                                          Py_ssize_t step, double* out, Py_ssize_t ostride, Py_ssize_t n,
                                          int stream) noexcept nogil
    int fc_rows_on "FC_PICK(fc_f32_rows_on)"() noexcept nogil
    int fc_sep_f32 "FC_PICK(fc_f32_sep)"(const float* const* src, const float* u, Py_ssize_t tu, const float* v,
                                        const Py_ssize_t* vk, Py_ssize_t tv, Py_ssize_t step, Py_ssize_t off,
                                        float* out, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil
    int fc_sep_f64 "FC_PICK(fc_f64_sep)"(const double* const* src, const double* u, Py_ssize_t tu,
                                        const double* v, const Py_ssize_t* vk, Py_ssize_t tv, Py_ssize_t step,
                                        Py_ssize_t off, double* out, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil
    int fc_sep_lanes_f32 "FC_PICK(fc_f32_sep_lanes)"() noexcept nogil
    int fc_sep_lanes_f64 "FC_PICK(fc_f64_sep_lanes)"() noexcept nogil
    int fc_filter_rows_serve(const Py_ssize_t* tki, const Py_ssize_t* tkj, Py_ssize_t ntaps, Py_ssize_t kh,
                             Py_ssize_t kw) noexcept nogil
    enum: FC_FILTER_BLOCK_ROWS
    enum: FC_FILTER_SEP_NB
    void fc_filter_sfence() noexcept nogil
    Py_ssize_t fc_map(Py_ssize_t i, Py_ssize_t n, int mode) noexcept nogil
