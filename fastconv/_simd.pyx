# cython: language_level=3
"""The instruction-set level the compiled kernels run at.

Every C kernel family (``_conv_small``, ``_conv_direct``, ``_filter``, ``_pool``, ``_digits``) is
compiled once per level that the build has (``_simd.h``: the baseline ISA, and on x86-64 with
GCC/Clang also AVX2+FMA and AVX-512 F/BW/VL/DQ+FMA), and each call runs the highest level that
the CPU supports. The environment variable ``FASTCONV_SIMD`` caps the level:
``FASTCONV_SIMD=baseline`` runs the baseline kernels, ``FASTCONV_SIMD=avx2`` at most AVX2,
``FASTCONV_SIMD=avx512`` at most AVX-512; another value sets no cap. The level is
decided once per process, when a kernel first asks.
"""
# FC_NLEVELS, fc_simd_names and fc_simd_level come from _simd.pxd

#: The levels this build has, lowest first ("baseline", then e.g. "avx2").
SIMD_LEVELS = tuple(fc_simd_names[i].decode("ascii") for i in range(FC_NLEVELS))


def simd_level() -> str:
    """Return the instruction-set level the kernels run at.

    Returns
    -------
    str
        One of :data:`SIMD_LEVELS`: ``"baseline"``, ``"avx2"`` or ``"avx512"``.
    """
    return SIMD_LEVELS[fc_simd_level()]
