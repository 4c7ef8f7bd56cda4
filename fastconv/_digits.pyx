# cython: language_level=3
"""Compiled training step of the digits network (used by :mod:`fastconv.digits`).

The whole step (conv, ReLU + pooling, dense, softmax cross-entropy, their gradients and the
SGD update) runs as one C call without the GIL on buffers allocated once per run; the loops
are in ``_digits.h``, compiled for float32 and float64 at every instruction-set level of
``_simd.h`` (the level that runs is picked at run time, see :mod:`fastconv._simd`).
``fastconv.digits`` holds this step to the layer-by-layer loop over the public functions.
"""
import numpy as np

cimport numpy as cnp

from ._digits_kernels cimport fcd_d_forward, fcd_d_step, fcd_f_forward, fcd_f_step, fcd_geo

cnp.import_array()

NUM_CLASSES = 10


cdef inline void *_ptr(cnp.ndarray a) noexcept:
    return cnp.PyArray_DATA(a)


cdef class Stepper:
    """SGD steps and logits of the digits network on parameter arrays updated in place.

    Parameters
    ----------
    params : dict
        ``w1`` (k, k, 1, C), ``b1`` (C,), ``w2`` (D, 10), ``b2`` (10,): C-contiguous arrays of
        one float dtype, updated in place by :meth:`step`.
    image_shape : (int, int)
    padding, stride, pool_size : int
    max_pool : bool
        Max pooling (else average pooling).
    batch_size : int
        The largest batch :meth:`step` accepts (the workspace is sized for it).
    """

    cdef fcd_geo g
    cdef bint f64
    cdef Py_ssize_t cap
    cdef cnp.ndarray w1, b1, w2, b2
    cdef cnp.ndarray xpad, gm, t2, out1, arg, flat, proba, dflat, dw1, db1, dw2, db2
    # data pointers of the arrays above, taken once (self keeps the arrays alive, never resized)
    cdef void *p_w1
    cdef void *p_b1
    cdef void *p_w2
    cdef void *p_b2
    cdef void *p_xpad
    cdef void *p_gm
    cdef void *p_t2
    cdef void *p_out1
    cdef void *p_arg
    cdef void *p_flat
    cdef void *p_proba
    cdef void *p_dflat
    cdef void *p_dw1
    cdef void *p_db1
    cdef void *p_dw2
    cdef void *p_db2

    def __init__(self, dict params, image_shape, Py_ssize_t padding, Py_ssize_t stride,
                 Py_ssize_t pool_size, bint max_pool, Py_ssize_t batch_size):
        w1, b1, w2, b2 = (params[k] for k in ("w1", "b1", "w2", "b2"))
        dt = w1.dtype
        if dt not in (np.float32, np.float64):
            raise TypeError(f"parameters must be float32 or float64, got {dt}")
        for name, a in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
            if not isinstance(a, np.ndarray) or a.dtype != dt or not a.flags.c_contiguous \
                    or not a.flags.writeable:
                raise ValueError(f"{name} must be a writeable C-contiguous {dt} array")
        if w1.ndim != 4 or w1.shape[0] != w1.shape[1] or w1.shape[2] != 1:
            raise ValueError(f"w1 must have shape (k, k, 1, C), got {w1.shape}")
        if batch_size < 1 or padding < 0 or stride < 1 or pool_size < 1:
            raise ValueError("batch_size, stride and pool_size must be positive, padding non-negative")
        g = &self.g
        g.h, g.w = image_shape
        g.k, g.c = w1.shape[0], w1.shape[3]
        g.pad, g.stride, g.q = padding, stride, pool_size
        g.ho = (g.h + 2 * padding - g.k) // stride + 1
        g.wo = (g.w + 2 * padding - g.k) // stride + 1
        if g.ho < pool_size or g.wo < pool_size:
            raise ValueError(f"no pooled output: conv output {g.ho}x{g.wo}, pool_size {pool_size}")
        g.hp = (g.ho - pool_size) // pool_size + 1
        g.wp = (g.wo - pool_size) // pool_size + 1
        g.d = g.hp * g.wp * g.c
        g.max_pool = max_pool
        if b1.shape != (g.c,) or w2.shape != (g.d, NUM_CLASSES) or b2.shape != (NUM_CLASSES,):
            raise ValueError(
                f"parameter shapes {b1.shape}, {w2.shape}, {b2.shape} do not fit w1 {w1.shape} "
                f"and {g.h}x{g.w} images (expected ({g.c},), ({g.d}, 10), (10,))"
            )
        self.f64 = dt == np.float64
        self.cap = batch_size
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2
        self.xpad = np.empty((batch_size, g.h + 2 * padding, g.w + 2 * padding), dt)
        self.gm = np.empty((g.ho, g.wo, g.c), dt)
        self.t2 = np.empty((2, NUM_CLASSES, g.d), dt)
        self.out1 = np.empty((batch_size, g.ho, g.wo, g.c), dt)
        self.arg = np.empty((batch_size, g.d), np.int64 if self.f64 else np.int32)
        self.flat = np.empty((batch_size, g.d), dt)
        self.proba = np.empty((batch_size, NUM_CLASSES), dt)
        self.dflat = np.empty((batch_size, g.d), dt)
        self.dw1 = np.empty_like(w1)
        self.db1 = np.empty_like(b1)
        self.dw2 = np.empty_like(w2)
        self.db2 = np.empty_like(b2)
        self.p_w1, self.p_b1, self.p_w2, self.p_b2 = _ptr(w1), _ptr(b1), _ptr(w2), _ptr(b2)
        self.p_xpad, self.p_gm, self.p_t2 = _ptr(self.xpad), _ptr(self.gm), _ptr(self.t2)
        self.p_out1, self.p_arg, self.p_flat = _ptr(self.out1), _ptr(self.arg), _ptr(self.flat)
        self.p_proba, self.p_dflat = _ptr(self.proba), _ptr(self.dflat)
        self.p_dw1, self.p_db1, self.p_dw2, self.p_db2 = _ptr(self.dw1), _ptr(self.db1), _ptr(self.dw2), _ptr(self.db2)

    cdef Py_ssize_t _check_x(self, cnp.ndarray x) except -1:
        if (x.dtype != self.w1.dtype or not x.flags.c_contiguous or x.ndim != 4
                or x.shape[1] != self.g.h or x.shape[2] != self.g.w or x.shape[3] != 1):
            raise ValueError(
                f"x must be a C-contiguous {self.w1.dtype} array of shape (N, {self.g.h}, {self.g.w}, 1), "
                f"got {x.dtype} {(<object>x).shape}"
            )
        return x.shape[0]

    def step(self, cnp.ndarray x, cnp.ndarray y, double lr, cnp.ndarray idx=None):
        """One SGD step; returns the mean loss.

        On the batch ``x`` (N, H, W, 1) with int64 labels ``y`` (N,); or, given ``idx`` (int64,
        at most ``batch_size`` entries), on the images ``x[idx]`` with labels ``y[idx]`` of the
        whole arrays (no gathered copy).
        """
        cdef Py_ssize_t n = self._check_x(x), nb = n
        cdef double loss
        cdef const long long *yp
        cdef const long long *ip = NULL
        cdef Py_ssize_t i, j
        if y.dtype != np.int64 or not y.flags.c_contiguous or y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y must be {n} contiguous int64 labels, got {y.dtype} {(<object>y).shape}")
        if idx is not None:
            if idx.dtype != np.int64 or not idx.flags.c_contiguous or idx.ndim != 1:
                raise ValueError(f"idx must be contiguous int64 indices, got {idx.dtype} {(<object>idx).shape}")
            nb = idx.shape[0]
            ip = <const long long *>_ptr(idx)
            for i in range(nb):
                if ip[i] < 0 or ip[i] >= n:
                    raise ValueError(f"idx must index the {n} images, got {ip[i]}")
        if nb < 1 or nb > self.cap:
            raise ValueError(f"batch of {nb} images; this step takes 1 to {self.cap}")
        yp = <const long long *>_ptr(y)
        for i in range(nb):
            j = ip[i] if ip != NULL else i
            if yp[j] < 0 or yp[j] >= 10:
                raise ValueError(f"labels must be 0..9, got {yp[j]}")
        cdef void *xp = _ptr(x)
        if self.f64:
            with nogil:
                loss = fcd_d_step(
                    &self.g, <double *>xp, yp, ip, nb, lr, <double *>self.p_w1, <double *>self.p_b1,
                    <double *>self.p_w2, <double *>self.p_b2, <double *>self.p_xpad, <double *>self.p_out1,
                    <long long *>self.p_arg, <double *>self.p_flat, <double *>self.p_proba, <double *>self.p_dflat,
                    <double *>self.p_gm, <double *>self.p_t2, <double *>self.p_dw1, <double *>self.p_db1,
                    <double *>self.p_dw2, <double *>self.p_db2)
        else:
            with nogil:
                loss = fcd_f_step(
                    &self.g, <float *>xp, yp, ip, nb, <float>lr, <float *>self.p_w1, <float *>self.p_b1,
                    <float *>self.p_w2, <float *>self.p_b2, <float *>self.p_xpad, <float *>self.p_out1,
                    <int *>self.p_arg, <float *>self.p_flat, <float *>self.p_proba, <float *>self.p_dflat,
                    <float *>self.p_gm, <float *>self.p_t2, <float *>self.p_dw1, <float *>self.p_db1,
                    <float *>self.p_dw2, <float *>self.p_db2)
        return loss

    def logits(self, cnp.ndarray x):
        """Logits (N, 10) of ``x`` (N, H, W, 1), computed ``batch_size`` images at a time."""
        cdef Py_ssize_t n = self._check_x(x), i0, nb
        cdef cnp.ndarray out = np.empty((n, NUM_CLASSES), self.w1.dtype)
        cdef char *xp = <char *>_ptr(x)
        cdef char *op = <char *>_ptr(out)
        cdef Py_ssize_t xs = x.strides[0], os = out.strides[0]
        i0 = 0
        while i0 < n:
            nb = min(self.cap, n - i0)
            if self.f64:
                with nogil:
                    fcd_d_forward(&self.g, <double *>(xp + i0 * xs), NULL, nb, <double *>self.p_w1,
                                  <double *>self.p_b1, <double *>self.p_w2, <double *>self.p_b2, <double *>self.p_xpad,
                                  <double *>self.p_out1, <long long *>self.p_arg, <double *>self.p_flat,
                                  <double *>(op + i0 * os), <double *>self.p_t2)
            else:
                with nogil:
                    fcd_f_forward(&self.g, <float *>(xp + i0 * xs), NULL, nb, <float *>self.p_w1,
                                  <float *>self.p_b1, <float *>self.p_w2, <float *>self.p_b2, <float *>self.p_xpad,
                                  <float *>self.p_out1, <int *>self.p_arg, <float *>self.p_flat,
                                  <float *>(op + i0 * os), <float *>self.p_t2)
            i0 += nb
        return out
