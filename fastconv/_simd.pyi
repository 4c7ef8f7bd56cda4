"""Type stubs for the instruction-set level of the compiled kernels (see fastconv/_simd.pyx)."""

SIMD_LEVELS: tuple[str, ...]

def simd_level() -> str: ...
