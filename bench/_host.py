"""Imported first (before NumPy) by bench/conftest.py and the benchmark scripts: the benchmarks run
without the host's ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``.

Some hosts set them for older OpenBLAS builds, which crash or compute wrong results on some
processors. A current OpenBLAS picks its own kernels, and these settings slow it: on an AMD Zen 5
host, ``OPENBLAS_CORETYPE=Haswell`` made it run its AVX2 sgemm (about 118 GFLOP/s per core against
about 210 for the AVX-512 kernel it picks itself), and fastconv's Winograd and GEMM paths call that
sgemm. Users don't set them, so the benchmarks run without them; :data:`UNSET` holds what was
removed (the report names it), and the child processes the scripts start inherit the removal. The
tests and CI keep the host's settings.
"""
import os
import sys

#: The host settings removed for the benchmarks.
OPENBLAS_HOST_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

if "numpy" in sys.modules:  # too late: OpenBLAS read them when NumPy loaded
    UNSET = {}
    if any(k in os.environ for k in OPENBLAS_HOST_SETTINGS):
        print("bench/_host.py: NumPy was imported first; the host's OpenBLAS settings stay",
              file=sys.stderr)
else:
    UNSET = {k: os.environ.pop(k) for k in OPENBLAS_HOST_SETTINGS if k in os.environ}
