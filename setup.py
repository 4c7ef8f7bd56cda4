"""Build the fastconv Cython extensions.

Environment switches:

* ``FASTCONV_DEBUG=1``  bounds-checked build (boundscheck, wraparound and
  initializedcheck on, ``-O1 -g``): an out-of-bounds index raises instead of
  corrupting memory.
* ``FASTCONV_NATIVE=1`` compile for the building host's CPU (``-march=native``).
  Off by default so that a wheel runs on any x86-64.
* ``FASTCONV_OPENMP=0`` build without OpenMP even when the compiler has it.
"""
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or ([], []) if the compiler lacks it."""
    if os.environ.get("FASTCONV_OPENMP", "1").strip() == "0":
        return [], []
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    if sys.platform == "win32":
        cflags, lflags = ["/openmp"], []
    elif sys.platform == "darwin":
        cflags, lflags = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    else:
        cflags, lflags = ["-fopenmp"], ["-fopenmp"]
    compiler = new_compiler()
    customize_compiler(compiler)
    src = "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel reduction(+:n)\nn+=1;\nreturn n>0?0:1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "omp_probe.c"
        path.write_text(src)
        try:
            objs = compiler.compile([str(path)], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, "omp_probe", output_dir=tmp, extra_postargs=lflags)
        except Exception:  # noqa: BLE001 - any compiler failure means "no OpenMP"
            print("fastconv: compiler has no OpenMP; building serial kernels", file=sys.stderr)
            return [], []
    return cflags, lflags


debug = _flag("FASTCONV_DEBUG")
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
    "embedsignature": True,
}
omp_c, omp_l = _openmp_flags()
if sys.platform == "win32":
    opt = ["/O2"]
else:
    # the release build drops the debug information that Python's own CFLAGS ask for (-g): the
    # heavily unrolled kernel families take about a third longer to compile with it, and the
    # shared objects are several times larger
    opt = ["-O1", "-g"] if debug else ["-O3", "-g0"]
    if _flag("FASTCONV_NATIVE"):
        opt.append("-march=native")

# Each extension with the headers its C includes (directly or through its .pxd files): a
# header change rebuilds exactly the extensions that use it. The .pxd files are tracked by
# cythonize itself.
_SIMD = ["_simd.h"]
_FAMILY = ["_simd_instantiate.h", "_simd.h"]  # a kernel family compiled per instruction-set level
MODULES = {
    "_alloc": ["_alloc_pool.h"],
    "_conv": ["_blas_pin.h"],
    "_conv1d_winograd": ["_conv1d_winograd_kernels.h", "_conv1d_winograd.h", "_wgmul_kernels.h", "_wgmul.h",
                         "_wgmul_kernels.pxd", "_blas_pin.h"] + _FAMILY,
    "_conv_depthwise": ["_conv_depthwise_kernels.h", "_conv_depthwise.h"] + _FAMILY,
    "_conv_direct": ["_conv_direct_kernels.h", "_conv_direct.h"] + _FAMILY,
    "_conv_transpose": ["_conv_direct_kernels.h", "_conv_direct.h"] + _FAMILY,
    "_conv_small": ["_conv_small_kernels.h", "_conv_small.h", "_conv_c1.h", "_transpose.h"] + _FAMILY,
    "_conv_smallc": ["_conv_smallc_kernels.h", "_conv_smallc.h", "_transpose.h"] + _FAMILY,
    "_digits": ["_digits_kernels.h", "_digits.h"] + _FAMILY,
    "_filter": ["_filter_kernels.h", "_filter.h"] + _FAMILY,
    "_pool": ["_pool_kernels.h"] + _SIMD,
    "_pool1d": ["_pool1d_kernels.h"],
    "_pool_window": ["_pool_window_kernels.h", "_pool_window.h", "_pool_kernels.h"] + _FAMILY,
    "_simd": _SIMD,
    "_threads": [],
    "_transpose": ["_transpose.h"] + _SIMD,
    "_winograd": ["_winograd_kernels.h", "_winograd.h", "_wgmul_kernels.h", "_wgmul.h",
                  "_wgmul_kernels.pxd", "_blas_pin.h", "_transpose.h"] + _FAMILY,
}
_SLOWEST_FIRST = ("_winograd", "_conv_direct", "_conv_depthwise")


def _compile_order(name):
    return _SLOWEST_FIRST.index(name) if name in _SLOWEST_FIRST else len(_SLOWEST_FIRST)


_unlisted = sorted({p.stem for p in Path("fastconv").glob("_*.pyx")} - set(MODULES))
if _unlisted:
    sys.exit(f"setup.py: list {', '.join(_unlisted)} in MODULES, with the headers each includes")

extensions = [
    Extension(
        f"fastconv.{name}",
        [f"fastconv/{name}.pyx"],
        include_dirs=[np.get_include(), "fastconv"],
        depends=[f"fastconv/{h}" for h in headers],
        # NPY_TARGET_VERSION: _alloc uses the NumPy 1.22 memory-handler API (NEP 49), which NumPy 2.0's
        # headers hide under their default target (1.19)
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"), ("NPY_TARGET_VERSION", "NPY_1_22_API_VERSION")]
        + ([("FASTCONV_DEBUG", "1")] if debug else []),
        extra_compile_args=opt + omp_c,
        extra_link_args=omp_l,
    )
    # the longest compiles first (about 85, 45 and 45 s here; the others take 2-20 s), so that the
    # parallel build does not end on one of them alone
    for name, headers in sorted(MODULES.items(), key=lambda item: _compile_order(item[0]))
]

# Cython does not regenerate C when only the directives change, so the bounds-checked build keeps
# its generated C apart from the release build's: neither can silently reuse the other's.
setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        build_dir=str(Path("build") / "cython-debug") if debug else None,
        nthreads=os.cpu_count() or 1,
    ),
    # compile the extensions in parallel (pip's build runs build_ext without -j)
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
)
