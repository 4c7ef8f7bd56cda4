"""Convolution: the tutorial's ``convolve2d``, ``convolution_2d`` and conv layer, on Cython kernels."""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional, cast

import numpy as np

from . import _conv, _conv_depthwise, _conv_direct, _conv_small, _conv_transpose, _dilated, _winograd
from . import _layout, _outpool, _simd, _transpose
from . import _validate as v
from ._cache import ConvCache
from ._scratch import scratch
from ._threads import threads_for
from ._validate import _F32, _F64

__all__ = ["convolve2d", "convolution_2d", "conv2d_forward", "conv2d_backward"]

# The batch is cut into this many parts for the weight-gradient sums: a fixed number, so
# results do not depend on the thread count, and scratch memory does not grow with the batch.
_DW_PARTS = 8
# Bytes of one im2col tile (per thread): about half of a core's L2, so the tile stays cached
# between its unfolding and the GEMM that reads it. Tiles have at least _MIN_TILE_ROWS rows.
_TILE_BYTES = 1 << 18
_MIN_TILE_ROWS = 32
# Forward-type GEMMs (y = col @ W, and the stride-1 dx correlation) repack the (K, Cout) weight
# panel on every BLAS call: tiles of at least _ROWS_PER_COUT * Cout rows keep that repacking a
# small share of the work, up to _MAX_TILE_BYTES of im2col per thread.
_ROWS_PER_COUT = 8
_MAX_TILE_BYTES = 1 << 21
_MIN_TILES = 8
# Below this many multiply-adds (about 100 us of one core) a call runs on one thread: waking
# OpenMP workers, and waiting for them on a busy machine, costs more than it saves.
_PARALLEL_MIN_MACS = 1 << 20
# Direct kernels (fastconv._conv_small) for small reductions: Kh*Kw*C taps at most _SMALL_TAPS,
# at most _SMALL_COUT output channels, and padding smaller than the kernel.
_SMALL_TAPS = 32
_SMALL_COUT = 64
# The small kernels split a call by images (forward) or fixed parts of the batch (backward) and
# wake the team from this many multiply-adds per pass (the backward's dx and dw are counted once:
# they split the same way). bench/small_threads_interleaved.py, 1 vs 2 threads in alternating
# calls of the public functions, two runs on the Zen 5 host: at 147k MACs per pass (N32 8x8x1->8)
# 0.91-1.06x forward and 0.91-1.22x backward; at 295k (N64 8x8x1->8, N16 16x16x1->8) 1.13-1.25x
# forward and 1.39-1.47x backward. (The earlier threshold, 2**19 of the total, kept the 295k
# forwards on one thread.)
_SMALL_PARALLEL_MIN_MACS = 1 << 18
# Direct (implicit-GEMM) kernels (fastconv._conv_direct) instead of im2col + BLAS, for layers with
# at least _DIRECT_MIN_COLS output columns (Cout for the forward and dw, C for dx): narrower
# layers would leave most of each vector register's lanes idle.
_DIRECT_MIN_COLS = 8
# The weight gradient is summed over fixed parts of the batch's output rows, one (K, Cout)
# scratch sum each: as many as fit in _DIRECT_DW_BYTES, between _DIRECT_DW_PARTS[0] and [1]
# (more parts than threads let a thread that gets more of the CPU take more of them).
_DIRECT_DW_PARTS = (8, 32)
_DIRECT_DW_BYTES = 4 << 20
# Wide layers: where one (K, Cout) sum passes _WIDE_DW_BYTES, adding each output row into it
# streams it through the cache, so the direct backward of an ungrouped, undilated layer computes dw
# by im2col + BLAS instead, over chunks of the batch's rows of about _WIDE_CHUNK_BYTES of im2col and
# GEMM blocks of _WIDE_KB rows of dw, and dx by the forward kernel over dy with the flipped kernel
# (stride 1) or the transposed convolution's kernel (other strides). Measured (float32 backward,
# 2 threads, calls alternating): wide/fused time 0.51 on N8 7x7 512->512, 0.85 on 14x14 256->256
# (2.25 MiB) and 192->256 (1.69 MiB), 0.48 on 14x14 256->512 stride 2, but 1.05-1.10 on 128->256
# (1.12 MiB; 1.05 at stride 2) and 1.17-1.28 below (bench/wide_interleaved.py: fwd+bwd).
_WIDE_DW_BYTES = 3 << 19
_WIDE_CHUNK_BYTES = 8 << 20
_WIDE_KB = 256
# Winograd F(4x4, 3x3) kernels (fastconv._winograd) serve 3x3 stride-1 layers with padding at most
# _WINOGRAD_MAX_PAD. "auto" picks them for layers with at least _WINOGRAD_MIN_CHANNELS input and
# output channels, and at least _WINOGRAD_WIDE_CHANNELS on one side: narrower layers spend more on
# the tile transforms than the 4x fewer multiplies save (measured against the direct kernels).
_WINOGRAD_MAX_PAD = 2
_WINOGRAD_MIN_CHANNELS = 16
_WINOGRAD_WIDE_CHANNELS = 32
# ... and, ungrouped, where the output has enough pixels N*Ho*Wo for the layer's width C + Cout
# (_winograd_min_pixels), by the numbers of the SIMD level the kernels run at and the dtype
# (_WinogradRule, float32's and float64's per level in _WINOGRAD_RULE_AT): ``min_pixels``, or
# ``narrow_min_pixels`` below C + Cout = _WINOGRAD_NARROW_SUM (the transforms weigh more against
# thin products), growing with the square of (C + Cout) / ``wide_sum`` above that, and never above ``max_sum`` (U, the per-call weight
# transforms and the weight gradient's part sums outgrow the caches). Measured (2 threads, fwd+bwd,
# Winograd/direct time, bench/winograd_rule_interleaved.py):
# - avx512 (AMD Zen 5): N2 32x32 48->48 0.96, 64->64 0.89, N6 16x16 128->128 1.01, N8 0.83, N4
#   28x28 192->192 0.68; thin layers (C + Cout under 96) from 3072 pixels;
# - avx2 (AMD Zen 3, the register-blocked products of _winograd._UNGROUPED_GMUL_AT, Winograd's
#   weight gradient): thin N2 32x32 16->32 1.14, N3 0.99, N2 32x32 32->32 0.93; 1024 pixels read
#   0.97-1.05 (64->64, 128->128), 1536-1600 0.72-0.80 (64->64 to 192->192), 2048 0.63-0.79 (up to
#   256->256); C + Cout = 640 at 3136 pixels 0.67; 768 at 3136 1.04-1.06, at 6272 0.68; 1024 at
#   1568 2.8, at 6272 1.03. float64 as float32 up to C + Cout = 448 (N2 32x32 192->256 0.72), but
#   wide layers need more pixels, as at AVX-512: 512 at 2048 pixels 1.22, at 3072-3136 1.01-1.10,
#   640 at 3136 1.14, 768 at 6272 0.81;
# - baseline (SSE2 kernels): the AVX-512 numbers.
# The measurements behind each number: docs/architecture.md and docs/performance.md.
class _WinogradRule(NamedTuple):
    """The numbers of "auto"'s Winograd pixel rule at one SIMD level, for one dtype (see
    _winograd_min_pixels)."""

    min_pixels: int  # from C + Cout = _WINOGRAD_NARROW_SUM to wide_sum
    narrow_min_pixels: int  # below _WINOGRAD_NARROW_SUM
    wide_sum: int  # from here on the pixels grow with the square of C + Cout
    max_sum: int  # above it, never


_LEVEL = _simd.simd_level()  # the SIMD level the kernels run at, fixed per process
_WINOGRAD_NARROW_SUM = 96
_WINOGRAD_RULE_AT = {  # (float32, float64)
    "baseline": (_WinogradRule(2048, 3072, 384, 640),) * 2,
    "avx2": (_WinogradRule(2048, 4096, 576, 768), _WinogradRule(2048, 4096, 384, 640)),
    "avx512": (_WinogradRule(2048, 3072, 384, 640),) * 2,
}
_WINOGRAD_RULE = dict(zip((_F32, _F64), _WINOGRAD_RULE_AT[_LEVEL]))
# Grouped layers (1 < groups < C): a block-diagonal product per tile position, (tiles, C/groups) @
# (C/groups, Cout/groups) per group; "auto" takes Winograd (forward, dx and dw) from this many
# channels per group on each side (measured, 1 thread, interleaved, N8 64x64 64->64: Winograd/direct
# time 0.80 at 32 channels per group, 0.89 at 16, 0.68 at 8, for fwd+dx+dw).
_WINOGRAD_GROUP_CHANNELS = 8
# Winograd's weight gradient (fastconv._winograd.winograd_backward_weights) replaces the direct
# kernels' for layers with at least this many input and output channels, by the SIMD level the
# kernels run at (_LEVEL): it does 4x fewer multiplies but pays two tile transforms per tile, and
# its per-position products (C x tiles @ tiles x Cout) are thin. Where those products are the
# register-blocked kernel's (fastconv._winograd.ungrouped_gmul(), Cout a multiple of 16) it pays
# from the 16-channel floor at every level that takes that kernel (_winograd_dw_pays); the table is
# for BLAS products. conv2d_backward(..., compute_dx=False) time, Winograd dw / direct dw
# (bench/winograd_rule_interleaved.py --dw-rule, calls alternated in one process, 2 threads;
# docs/performance.md):
# - avx512 (AMD Zen 5, AVX-512 units full width, BLAS products): 0.88-0.96 on N32 32x32 16->32
#   float32 (with the whole backward), 0.74-0.88 on N16 32x32 32->32, 0.85 on 16->32 float64;
# - avx2 (AMD Zen 3), BLAS products: 1.18 on 16->32, 0.89 on 32->32, 0.86 on N8 32x32 48->48, 0.75
#   on N8 32x32 64->64, 0.60 on N8 64x64 64->64 (float32); float64 0.81, 0.74, 0.53 (64x64);
#   register-blocked products: 0.80 on N16 32x32 16->16, 0.64 on 16->32, 0.52 on 32->32, 0.42 on
#   64x64 (float32), 0.66, 0.52, 0.38 (float64);
# - baseline (SSE2 kernels; BLAS keeps its own instruction set): 0.61 on 16->32, 0.41 on 64->64.
# 16 is the fewest channels "auto" sends to Winograd.
_WINOGRAD_DW_MIN_CHANNELS_AT = {"baseline": 16, "avx2": 32, "avx512": 16}
_WINOGRAD_DW_MIN_CHANNELS = dict.fromkeys((_F32, _F64), _WINOGRAD_DW_MIN_CHANNELS_AT[_LEVEL])
_NO_DX = {_F32: np.empty((1, 1, 1, 1), _F32), _F64: np.empty((1, 1, 1, 1), _F64)}

#: The values of ``conv2d_forward``'s ``algorithm``: "auto", then the kernel families in the order
#: "auto" tries them.
ALGORITHMS = ("auto", "small", "winograd", "direct", "gemm")


class _Fit(NamedTuple):
    """Whether a kernel family serves a layer, and if not, why (a sentence for a ValueError)."""

    ok: bool
    why: str = ""

    def __bool__(self) -> bool:
        return self.ok


_SERVES = _Fit(True)


class _Unfit(_Fit):
    """A failing _Fit whose reason (a function returning the sentence) is formatted only when read:
    the "auto" choice tries families in turn and reads none of the reasons."""

    __slots__ = ()

    def __new__(cls, why):
        return tuple.__new__(cls, (False, why))

    @property
    def why(self) -> str:
        why = cast(Callable[[], str], tuple.__getitem__(self, 1))
        return why()

    def __repr__(self) -> str:
        return f"_Fit(ok=False, why={self.why!r})"


_NOT_GROUPED = _Unfit(lambda: "the depthwise kernels need groups == C == Cout > 1, got groups 1")
# The depthwise weight gradient is summed over this many fixed parts of the batch's output rows.
_DEPTHWISE_DW_PARTS = 32
# Depthwise outputs (y, dx) come from the output pool, as every family's but "small"'s do (those of
# 1 MiB or more cache-line aligned, no fresh page faults); those of at least this many bytes are
# written with non-temporal stores: they would not stay cached, and streaming saves reading every
# line in before overwriting it (the same values).
_DEPTHWISE_STREAM_BYTES = 1 << 22


class _Options(NamedTuple):
    """The options beyond symmetric padding, stride and a bias: they decide which kernels serve a layer."""

    pad_end: Optional[tuple] = None  # (bottom, right) padding; None: the same as (top, left)
    dilation: tuple = (1, 1)
    groups: int = 1

    def plain(self, pad) -> bool:
        """True for the options every kernel family serves: symmetric padding, dilation 1, one group."""
        return (self.pad_end is None or tuple(self.pad_end) == tuple(pad)) and self.dilation == (1, 1) \
            and self.groups == 1

    def describe(self, pad) -> str:
        end = tuple(pad) if self.pad_end is None else tuple(self.pad_end)
        return f"padding (top, left) {tuple(pad)}, (bottom, right) {end}, dilation {self.dilation}, groups {self.groups}"


_PLAIN = _Options()


def _plain_only(family: str, pad, opts: _Options) -> _Fit:
    """The small and im2col kernels serve symmetric padding, dilation 1 and one group only."""
    if opts.plain(pad):
        return _SERVES
    return _Unfit(lambda: f"the {family} kernels serve symmetric padding, dilation 1 and groups 1 only, got "
                          f"{opts.describe(pad)}")


def _depthwise_serves(w_shape, opts: _Options) -> _Fit:
    """The depthwise kernels (fastconv._conv_depthwise) serve groups == C == Cout > 1: one input
    channel per group and one output channel per input channel."""
    if opts.groups > 1 and w_shape[2] == 1 and w_shape[3] == opts.groups:
        return _SERVES
    if opts.groups == 1:
        return _NOT_GROUPED
    return _Unfit(lambda: f"the depthwise kernels need groups == C == Cout, got groups {opts.groups} and w of "
                          f"shape {tuple(w_shape)}")


def _small_serves(w_shape, pad, opts: _Options = _PLAIN) -> _Fit:
    """The small-reduction kernels (fastconv._conv_small) serve few taps, few output channels and
    padding smaller than the kernel (the stride-1 dx correlation pads dy by ``K - 1 - p``)."""
    if not opts.plain(pad):
        return _plain_only("small", pad, opts)
    kh, kw, c, cout = w_shape
    if kh * kw * c > _SMALL_TAPS:
        taps = _SMALL_TAPS
        return _Unfit(lambda: f"the small kernels take at most {taps} taps Kh*Kw*C, w of shape "
                              f"{tuple(w_shape)} has {kh * kw * c}")
    if cout > _SMALL_COUT:
        most = _SMALL_COUT
        return _Unfit(lambda: f"the small kernels take at most {most} output channels, w of shape "
                              f"{tuple(w_shape)} has {cout}")
    if pad[0] >= kh or pad[1] >= kw:
        return _Unfit(lambda: f"the small kernels need padding smaller than the kernel, got padding {tuple(pad)} "
                              f"for a {kh}x{kw} kernel")
    return _SERVES


def _direct_serves(w_shape, compute_dx: bool, pad=(0, 0), opts: _Options = _PLAIN) -> _Fit:
    """The direct kernels (fastconv._conv_direct) serve layers with at least _DIRECT_MIN_COLS output
    channels (forward, dw, db) and, when dx is computed, as many input channels; and every layer
    with other options than the plain ones (they are the one family besides the depthwise kernels
    that has them)."""
    if not opts.plain(pad):
        return _SERVES
    _, _, c, cout = w_shape
    least = _DIRECT_MIN_COLS
    if cout < least:
        return _Unfit(lambda: f"the direct kernels take layers with at least {least} output channels, "
                              f"w of shape {tuple(w_shape)} has {cout}")
    if compute_dx and c < least:
        return _Unfit(lambda: f"the direct kernels compute dx only for layers with at least {least} input "
                              f"channels, w of shape {tuple(w_shape)} has {c} (conv2d_backward(..., "
                              "compute_dx=False) skips dx)")
    return _SERVES


def _winograd_serves(w_shape, pad, stride, opts: _Options = _PLAIN) -> _Fit:
    """The Winograd kernels (fastconv._winograd) serve 3x3 kernels at stride 1 with symmetric
    padding at most _WINOGRAD_MAX_PAD (their dx is a forward under padding ``2 - p``) and any groups
    (a block-diagonal product per tile), in float32 and float64 (the only compute dtypes); dilated
    ones with any padding, over the polyphase components of the padded input (fastconv._dilated)."""
    if tuple(w_shape[:2]) != (3, 3):
        return _Fit(False, f"the winograd kernels take 3x3 kernels only, w of shape {tuple(w_shape)} has "
                           f"{w_shape[0]}x{w_shape[1]}")
    if tuple(stride) != (1, 1):
        return _Fit(False, f"the winograd kernels take stride 1 only, got stride {tuple(stride)}")
    if opts.dilation != (1, 1):
        return _SERVES  # any padding and groups, over the polyphase components (fastconv._dilated)
    if not all(0 <= p <= _WINOGRAD_MAX_PAD for p in pad):
        return _Fit(False, f"the winograd kernels take padding 0 to {_WINOGRAD_MAX_PAD}, got padding {tuple(pad)}")
    if opts._replace(groups=1).plain(pad):
        return _SERVES
    return _Fit(False, f"the winograd kernels serve per-side padding only on dilated layers, got {opts.describe(pad)}")


def _winograd_min_pixels(c: int, cout: int, ct=_F32):
    """The output pixels N*Ho*Wo from which "auto" takes Winograd for an ungrouped layer of ``c``
    input and ``cout`` output channels computed in ``ct``, or None where it never does (see
    _WinogradRule)."""
    rule, s = _WINOGRAD_RULE[ct], c + cout
    if s > rule.max_sum:
        return None
    if s < _WINOGRAD_NARROW_SUM:
        return rule.narrow_min_pixels
    return -(-rule.min_pixels * max(s, rule.wide_sum) ** 2 // rule.wide_sum ** 2)


def _winograd_pays(w_shape, groups: int = 1, pixels=None, ct=_F32) -> bool:
    """The "auto" rule: Winograd for layers with at least _WINOGRAD_MIN_CHANNELS input and output
    channels and at least _WINOGRAD_WIDE_CHANNELS on one side (where it measured faster) whose
    output has ``pixels`` N*Ho*Wo (None: not checked) of at least _winograd_min_pixels (computed in
    ``ct``); for grouped layers, at least _WINOGRAD_GROUP_CHANNELS input and output channels per
    group and _WINOGRAD_WIDE_CHANNELS output channels in all."""
    c, cout = w_shape[2], w_shape[3]
    if groups > 1:
        return min(c, cout // groups) >= _WINOGRAD_GROUP_CHANNELS and cout >= _WINOGRAD_WIDE_CHANNELS
    if not (min(c, cout) >= _WINOGRAD_MIN_CHANNELS and max(c, cout) >= _WINOGRAD_WIDE_CHANNELS):
        return False
    if pixels is None:
        return True
    least = _winograd_min_pixels(c, cout, ct)
    return least is not None and pixels >= least


def _output_pixels(y_shape) -> int:
    """The pixels N*Ho*Wo of an NHWC output shape (N, Ho, Wo, Cout), for _winograd_pays."""
    n, ho, wo = y_shape[:3]
    return n * ho * wo


def _gemm_serves(w_shape, pad, compute_dx: bool, opts: _Options = _PLAIN) -> _Fit:
    """im2col + BLAS (fastconv._conv) serves every layer with the plain options."""
    return _plain_only("im2col (gemm)", pad, opts)


def _dx_by_correlation_serves(w_shape, pad, stride) -> _Fit:
    """The GEMM path's dx as the full correlation of dy with the flipped kernel (a forward-like
    GEMM writing every dx row once) serves stride 1 with padding smaller than the kernel; other
    layers scatter-add the im2col gradient."""
    kh, kw = w_shape[:2]
    if stride != (1, 1):
        return _Fit(False, f"dx by correlation needs stride 1, got stride {tuple(stride)}")
    if pad[0] >= kh or pad[1] >= kw:
        return _Fit(False, f"dx by correlation needs padding smaller than the kernel, got padding {tuple(pad)} "
                           f"for a {kh}x{kw} kernel")
    return _SERVES


def _check_algorithm(algorithm) -> str:
    """``algorithm`` if it is one of ALGORITHMS, else a ValueError listing them."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(map(repr, ALGORITHMS))}; got {algorithm!r}")
    return algorithm


def _fit(name: str, w_shape, pad, compute_dx: bool, opts: _Options = _PLAIN, stride=(1, 1)) -> _Fit:
    """Whether kernel family ``name`` serves this layer (its forward if not ``compute_dx``)."""
    if name == "small":
        return _small_serves(w_shape, pad, opts)
    if name == "winograd":
        return _winograd_serves(w_shape, pad, stride, opts)
    if name == "direct":
        return _direct_serves(w_shape, compute_dx, pad, opts)
    return _gemm_serves(w_shape, pad, compute_dx, opts)


def _choose(algorithm: str, w_shape, pad, compute_dx: bool, call: str, opts: _Options = _PLAIN,
            stride=(1, 1), pixels=None, ct=_F32) -> str:
    """The kernel family of a call: for "auto" the depthwise kernels if they serve the layer, else
    the first of small, winograd (where it pays; ``pixels``: the output's N*Ho*Wo, ``ct``: the
    compute dtype, see _winograd_pays), direct, gemm that does; else the forced one, or a
    ValueError saying why it cannot serve."""
    if algorithm == "auto":
        # (.ok: a field read, cheaper than truth's __bool__; one group is never depthwise)
        if opts.groups > 1 and _depthwise_serves(w_shape, opts).ok:
            return "depthwise"
        if _small_serves(w_shape, pad, opts).ok:
            return "small"
        if _winograd_pays(w_shape, opts.groups, pixels, ct) and _winograd_serves(w_shape, pad, stride, opts) \
                and _dilated.pays(w_shape, opts.dilation, opts.groups):
            return "winograd"
        if _direct_serves(w_shape, compute_dx, pad, opts):
            return "direct"
        return "gemm"
    fit = _fit(algorithm, w_shape, pad, compute_dx, opts, stride)
    if not fit:
        raise ValueError(f"{call} cannot use algorithm={algorithm!r}: {fit.why}")
    return algorithm


def _threads_for(macs: int) -> int:
    """OpenMP threads for a call doing ``macs`` multiply-adds."""
    return threads_for(macs, _PARALLEL_MIN_MACS)


def _small_threads(macs: int) -> int:
    """OpenMP threads for a call of the small-reduction kernels doing ``macs`` multiply-adds."""
    return threads_for(macs, _SMALL_PARALLEL_MIN_MACS)


def _gemm_threads(macs: int) -> int:
    """Threads for the GEMM kernels: OpenMP over tiles only when BLAS can be pinned to one thread."""
    return _threads_for(macs) if _conv.blas_pinning_available() else 1


def _tile_rows(m: int, k: int, itemsize: int) -> int:
    """Rows per im2col tile: about _TILE_BYTES, never more than the m rows there are."""
    return max(1, min(m, max(_MIN_TILE_ROWS, _TILE_BYTES // (k * itemsize))))


def _fwd_tile_rows(m: int, k: int, cout: int, itemsize: int) -> int:
    """Rows per im2col tile of a forward-type GEMM with ``cout`` output columns.

    Enlarged tiles still leave at least _MIN_TILES tiles (fixed, so threads stay balanced and
    the tiling never depends on the thread count).
    """
    big = min(_ROWS_PER_COUT * cout, _MAX_TILE_BYTES // (k * itemsize), -(-m // _MIN_TILES))
    rows = max(_TILE_BYTES // (k * itemsize), big)
    return max(1, min(m, max(_MIN_TILE_ROWS, rows)))


def _as(a: np.ndarray, dtype) -> np.ndarray:
    """A C-contiguous array of ``dtype`` (no copy if ``a`` already is one)."""
    if (a.dtype is dtype or a.dtype == dtype) and a.flags.c_contiguous:
        return a  # (== too: arrays from pickle carry an equal dtype object that is not the canonical one)
    return np.ascontiguousarray(a, dtype=dtype)


def _cast(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` as ``dtype`` (no copy if it already has it)."""
    return a if a.dtype is dtype or a.dtype == dtype else a.astype(dtype)


def _correlate_valid(image, kernel, stride):
    image, kernel, (sh, sw), (ho, wo) = v.image_kernel_args(image, kernel, stride)
    ct = v.compute_dtype(image.dtype, kernel.dtype)
    out = np.empty((ho, wo), dtype=ct)
    threads = _threads_for(ho * wo * kernel.size)
    _conv.correlate2d_valid_kernel(_as(image, ct), _as(kernel, ct), out, sh, sw, threads)
    return out.astype(np.float64, copy=False)


def convolve2d(image, kernel):
    """Valid 2-D cross-correlation of an image with a kernel (the tutorial's filter loop).

    Parameters
    ----------
    image : array_like, shape (H, W)
    kernel : array_like, shape (Kh, Kw)
        Not flipped (cross-correlation, as in the tutorial, PyTorch and OpenCV).

    Returns
    -------
    ndarray, float64, shape (H - Kh + 1, W - Kw + 1)

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import convolve2d
    >>> convolve2d(np.arange(16.0).reshape(4, 4), np.ones((3, 3)))
    array([[45., 54.],
           [81., 90.]])
    """
    return _correlate_valid(image, kernel, None)


def convolution_2d(input_array, kernel, stride=3):
    """Valid, strided 2-D cross-correlation (the tutorial's stride example).

    Parameters
    ----------
    input_array : array_like, shape (H, W)
    kernel : array_like, shape (Kh, Kw)
        Rectangular kernels are allowed.
    stride : int or (int, int), default 3

    Returns
    -------
    ndarray, float64, shape ((H - Kh) // sh + 1, (W - Kw) // sw + 1)

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import convolution_2d
    >>> convolution_2d(np.ones((8, 8)), np.ones((5, 5)), stride=3)
    array([[25., 25.],
           [25., 25.]])
    """
    return _correlate_valid(input_array, kernel, stride)


def _plain_forward_args(x, w, b, padding, stride, dilation, groups, layout):
    """(ph, pw, sh, sw, Ho, Wo) of a forward call in the common case, checked cheaply: NHWC (or
    NCHW, with (Cout, C, Kh, Kw) weights) NumPy arrays of one float dtype (b of it too, or None),
    int padding and stride, dilation 1, groups 1, and arguments that pass every check of
    v.conv_options. None for any other call, which then goes through the general checks (and gets
    their errors and messages)."""
    if not (type(x) is np.ndarray and type(w) is np.ndarray and type(padding) is int and type(stride) is int
            and type(dilation) is int and dilation == 1 and type(groups) is int and groups == 1
            and type(layout) is str and (layout == "NHWC" or layout == "NCHW")):
        return None
    dt = x.dtype
    if not ((dt is _F32 or dt is _F64) and w.dtype is dt and x.ndim == 4 and w.ndim == 4):
        return None
    if layout == "NHWC":
        kh, kw, c, cout = w.shape
        _, h, wd, xc = x.shape
    else:
        cout, c, kh, kw = w.shape
        _, xc, h, wd = x.shape
    if b is not None and not (type(b) is np.ndarray and b.dtype is dt and b.ndim == 1 and b.shape[0] == cout):
        return None
    if not (c == xc and kh and kw and 0 <= padding <= v.MAX_EXTENT and 1 <= stride <= v.MAX_EXTENT
            and kh <= h + 2 * padding and kw <= wd + 2 * padding):
        return None
    return (padding, padding, stride, stride,
            (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1)


def conv2d_forward(x, w, b, padding=1, stride=1, dilation=1, groups=1, *, algorithm="auto", layout="NHWC"):
    """Convolution layer forward pass (NHWC), with zero padding, stride, dilation and groups.

    The semantics of ``torch.nn.functional.conv2d``, in the NHWC layout.

    ``algorithm="auto"`` picks the first kernel family that serves the layer: "small" (direct
    loops for at most 32 taps ``Kh*Kw*C``, at most 64 output channels and padding smaller than
    the kernel), then "winograd" (F(4x4, 3x3) for 3x3 stride-1 layers with padding at most 2,
    where it pays: at least 16 input and 16 output channels, at least 32 on one side, and an
    output of at least 2048 pixels ``N*Ho*Wo`` (3072 when C + Cout is under 96, and
    ``2048*((C + Cout)/384)**2`` when it is above 384; never above 640: smaller outputs make
    per-position products too thin for the transforms' cost, wider layers transformed weights
    too large for the caches; where the kernels run at AVX2, 4096 when C + Cout is under 96, and
    in float32 ``2048*((C + Cout)/576)**2`` above 576, never above 768), then "direct" (implicit
    GEMM, at least 8 output channels), then "gemm" (im2col + BLAS, any layer).
    The backward pass uses the same rule, where "direct" also needs 8 input channels when it
    computes dx; "winograd" computes dx by its transforms, and dw too on layers with at least 16
    channels on each side (at AVX2, 32 where Cout is not a multiple of 16; db then sums dy), else
    dw, db by the direct kernels. Every
    family gives the same results to float rounding, except that Winograd's transforms cost
    float32 up to about 1e-5 of the largest output (float64: well under 1e-10). Narrower 3x3 layers
    stay on "direct" because there the tile transforms cost more than the 4x fewer multiplies
    save (measured: Winograd/direct time 0.35-0.55 on 32->32 to 128->128 layers, 0.6-0.8 at
    16->32, a toss-up at 16->16, 1.6-2x slower at 8->8).
    Dilated 3x3 stride-1 layers with one group, dilation at most 4 and at least 64 input and
    64 output channels run on "winograd" over the polyphase components of the padded input (the
    dh*dw phases stacked along N make one undilated layer; ``algorithm="winograd"`` serves every
    dilated 3x3 stride-1 layer so); other layers with per-side padding or dilation go to
    "direct". Depthwise layers
    (``groups == C == Cout``) have their own kernels; other grouped 3x3 stride-1 layers with
    symmetric padding run on "winograd" (block-diagonal per-tile products) when each group has
    at least 8 input and 8 output channels and there are at least 32 output channels, else on
    "direct". "small" and "gemm" serve only the plain options.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    w : array_like, shape (Kh, Kw, C/groups, Cout)
    b : array_like, shape (Cout,), or None
        None: no bias (:func:`conv2d_backward` then returns ``db=None``).
    padding : int, (int, int), ((int, int), (int, int)), 'valid' or 'same', default 1
        Zero padding: the same on each side of the rows and columns (int, or an (h, w) pair),
        per side ``((top, bottom), (left, right))``, ``'valid'`` (none) or ``'same'`` (the output
        has the input's size; stride 1 only; the total ``dilation*(K-1)`` is split as torch
        does, the smaller half before).
    stride : int or (int, int), default 1
    dilation : int or (int, int), default 1
        Tap ``(ki, kj)`` of output ``(i, j)`` reads ``x[n, i*sh - top + dh*ki, j*sw - left + dw*kj]``.
    groups : int, default 1
        Divides C and Cout; output channel ``o`` reads the C/groups input channels of group
        ``o // (Cout/groups)``. ``groups == C`` is a depthwise convolution (channel multiplier
        ``Cout/C``).
    algorithm : {"auto", "small", "winograd", "direct", "gemm"}, default "auto"
        The kernel family, for this call and for :func:`conv2d_backward` with its cache. A
        family that cannot serve the layer is a ValueError saying why.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        "NCHW": x is (N, C, H, W), w is (Cout, C, Kh, Kw) (torch's order), y is (N, Cout, Ho, Wo).

    Returns
    -------
    y : ndarray, shape (N, Ho, Wo, Cout)
        ``Ho = (H + top + bottom - dh*(Kh-1) - 1) // sh + 1`` (likewise ``Wo``). Same dtype as
        ``x`` (float64 for integer ``x``); the sums are formed in the promoted dtype of ``x``,
        ``w`` and ``b``.
    cache : ConvCache
        Opaque; pass it to :func:`conv2d_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import conv2d_forward
    >>> x = np.ones((1, 4, 4, 1)); w = np.ones((3, 3, 1, 2)); b = np.zeros(2)
    >>> y, cache = conv2d_forward(x, w, b)
    >>> y[0, :, :, 0]
    array([[4., 6., 6., 4.],
           [6., 9., 9., 6.],
           [6., 9., 9., 6.],
           [4., 6., 6., 4.]])
    """
    y = _conv_small.forward_plain(x, w, b, padding, stride, dilation, groups, algorithm, layout, v.MAX_EXTENT,
                                  _SMALL_TAPS, _SMALL_COUT, _SMALL_PARALLEL_MIN_MACS)
    if y is not None:  # the most common small-layer call, checked and run in C: the route below's result
        pad, st, ct = (padding, padding), (stride, stride), y.dtype
        return y, ConvCache(x, w, (w.shape[3],), pad, st, ct, ct, ct, y.shape, "auto", "NHWC", pad, (1, 1), 1,
                            b is not None, "small")
    plain = _plain_forward_args(x, w, b, padding, stride, dilation, groups, layout)
    if plain is not None:
        ph, pw, sh, sw, ho, wo = plain
        pad_end, dil, opts, ct = (ph, pw), (1, 1), _PLAIN, x.dtype
        if layout == "NCHW":
            x, w = _layout.conv_inputs_plain(x, w)
    else:
        groups = v.groups_arg(groups)
        x, w, layout = _layout.conv_inputs(x, w, b, layout, groups)
        x, w, b, (ph, pw), pad_end, (sh, sw), dil, groups, (ho, wo) = v.conv_options(
            x, w, b, padding, stride, dilation, groups
        )
        opts = _Options(pad_end, dil, groups)
        ct = v.compute_dtype(x.dtype, w.dtype, *((b.dtype,) if b is not None else ()))
    path = _choose(_check_algorithm(algorithm), w.shape, (ph, pw), False, "conv2d_forward", opts, (sh, sw),
                   x.shape[0] * ho * wo, ct)
    has_bias = b is not None
    xc, wc = _as(x, ct), _as(w, ct)
    bc = _as(b, ct) if has_bias else np.zeros(w.shape[3], dtype=ct)
    shape = (x.shape[0], ho, wo, w.shape[3])
    # plain NCHW calls on the small and Winograd kernels get y written in NCHW by the kernels (no
    # transpose pass over the batch)
    nchw_y = (plain is not None and layout == "NCHW" and (path == "small" or path == "winograd")
              and xc.size > 0 and wc.size > 0)
    y_shape = (shape[0], shape[3], ho, wo) if nchw_y else shape
    # the output pool's pages (no fresh page faults in a training loop), but for the small family's
    # small outputs, which malloc recycles anyway and which np.empty serves faster
    y = np.empty(y_shape, dtype=ct) if path == "small" else _outpool.empty(y_shape, ct)
    kh, kw, c, cout = wc.shape
    k = kh * kw * c
    macs = y.size * k
    if xc.size == 0 or wc.size == 0:
        y[...] = bc
    elif path == "depthwise":
        _conv_depthwise.depthwise_forward_kernel(
            xc, wc, bc if has_bias else bc[:0], y, ph, pw, sh, sw, dil[0], dil[1], _threads_for(macs), -1,
            y.nbytes >= _DEPTHWISE_STREAM_BYTES,
        )
    elif path == "small":
        _conv_small.conv2d_forward_small_kernel(xc, wc, bc, y, ph, pw, sh, sw, _small_threads(macs), -1, nchw_y)
    elif path == "winograd" and dil != (1, 1):
        _dilated.forward(xc, wc, bc if has_bias else None, (ph, pw), pad_end, dil, y, _threads_for(macs))
    elif path == "winograd":
        _winograd.winograd_forward(xc, wc, bc if has_bias else None, ph, pw, y, _threads_for(macs), 0, nchw_y)
    elif path == "direct":
        _conv_direct.conv2d_forward_direct_kernel(
            xc, wc, bc if has_bias else bc[:0], y, ph, pw, sh, sw, _threads_for(macs), dil[0], dil[1], groups
        )
    else:
        nt = _gemm_threads(macs)
        mt = _fwd_tile_rows(y.size // cout, k, cout, ct.itemsize)
        work = np.empty((nt, mt * k), dtype=ct)
        _conv.conv2d_forward_gemm_kernel(xc, wc, bc, y, work, mt, ph, pw, sh, sw, nt)
    if plain is not None:  # x, w (and b) have the float dtype ct
        dx_dt = dw_dt = db_dt = ct
    else:
        dx_dt, dw_dt, db_dt = v.out_dtype(x.dtype), v.out_dtype(w.dtype), v.out_dtype((b if has_bias else bc).dtype)
    cache = ConvCache(  # (positional: the fields in their order; layout "NHWC" until conv_output, or
        # "NCHW" at once where the kernels wrote y so)
        xc, wc, bc.shape, (ph, pw), (sh, sw), dx_dt, dw_dt, db_dt, shape, algorithm, "NCHW" if nchw_y else "NHWC",
        pad_end, dil, groups, has_bias, path,
    )
    if nchw_y or (plain is not None and layout == "NHWC"):  # y is in its layout and dtype already
        return y, cache
    return _layout.conv_output(_cast(y, dx_dt), cache, layout)


def conv2d_backward(dy, cache, *, compute_dx=True, layout=None):
    """Convolution layer backward pass.

    Parameters
    ----------
    dy : array_like, shape (N, Ho, Wo, Cout)
        Gradient of the loss with respect to the forward output.
    cache : ConvCache
        The second value returned by :func:`conv2d_forward`.
    compute_dx : bool, default True
        False skips the input gradient (a network's first layer needs none) and returns None
        for it; ``dw`` and ``db`` are the same either way.
    layout : {"NHWC", "NCHW"}, optional
        The forward call's layout, which the cache records (a different one is a ValueError).
        dy, dx and dw are in that layout.

    Returns
    -------
    dx : ndarray, shape and dtype of ``x``, or None if not ``compute_dx``
        Input rows/columns that no window reads get zero.
    dw : ndarray, shape and dtype of ``w``
    db : ndarray, shape and dtype of ``b``, or None if the forward had ``b=None``

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import conv2d_forward, conv2d_backward
    >>> y, cache = conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.zeros(2))
    >>> dx, dw, db = conv2d_backward(np.ones_like(y), cache, compute_dx=False)
    >>> dx is None, dw.shape, db
    (True, (3, 3, 1, 2), array([16., 16.]))
    """
    if type(cache) is ConvCache and layout is None and type(compute_dx) is bool:
        # the common cases: the checks and layout steps below pass them as they are
        if cache.family == "small":  # the most common one checked and run in C, else None
            grads = _conv_small.backward_plain(dy, cache, compute_dx, _SMALL_PARALLEL_MIN_MACS)
            if grads is not None:
                return grads
        if cache.layout == "NHWC":
            return _backward(dy, cache, compute_dx)
        if cache.layout == "NCHW" and type(dy) is np.ndarray and dy.dtype is cache.x.dtype:
            nonempty = dy.size and cache.x.size and cache.w.size
            if cache.family == "small" and nonempty:
                # the small kernels read NCHW dy in place (a checked shape; dx still goes through conv_grads)
                return _layout.conv_grads(*_backward(dy, cache, compute_dx, dy_nchw=True), "NCHW")
            nhwc = _layout.conv_dy_plain(dy, cache)
            if nhwc is not None:
                if cache.family == "winograd" and cache.dilation == (1, 1) and nonempty:
                    # the Winograd kernels write dx in NCHW (the weight gradient reads the NHWC dy)
                    return _layout.conv_grads(*_backward(nhwc, cache, compute_dx, dx_nchw=True), "NCHW", True)
                return _layout.conv_grads(*_backward(nhwc, cache, compute_dx), "NCHW")
    v.check_cache(cache, ConvCache, "conv2d_forward")
    dy, layout = _layout.conv_dy(dy, cache, layout)
    return _layout.conv_grads(*_backward(dy, cache, v.flag(compute_dx, "compute_dx")), layout)


def _backward(dy, cache, compute_dx: bool, gemm_dx: str = "auto", dy_nchw: bool = False, dx_nchw: bool = False):
    """conv2d_backward after the checks of its options (dy in NHWC). ``gemm_dx="scatter"`` (for tests)
    makes the GEMM path scatter-add dx even where the correlation serves. ``dy_nchw``: dy is NCHW,
    for a non-empty layer on the small kernels, which read it so; ``dx_nchw``: dx is wanted in NCHW,
    from a non-empty undilated layer on the Winograd kernels, which write it so."""
    x, w, b_shape, pad, stride, dx_dt, dw_dt, db_dt, y_shape, algorithm, _, pad_end, dil, groups, has_bias, \
        family = cache
    if dy_nchw:
        n, ho, wo, cout = y_shape
        dy = v.check_dy(dy, (n, cout, ho, wo))
    else:
        dy = v.check_dy(dy, y_shape)
    ct = x.dtype
    if not (dy.dtype is ct and w.dtype is ct):  # (else the promotion is ct: the common case, cheaply)
        ct = v.compute_dtype(x.dtype, w.dtype, dy.dtype)
    if family is not None and family != "direct":
        # The forward's choice. Of the families, only "direct" depends on compute_dx (it needs
        # _DIRECT_MIN_COLS input channels for dx); every other choice is the same with and without dx
        # (tests/test_conv.py holds _choose to that).
        path = family
    else:
        path = _choose(algorithm, w.shape, pad, compute_dx, "conv2d_backward", _Options(pad_end, dil, groups), stride,
                       _output_pixels(y_shape), ct)
    nonempty = dy.size and w.size and x.size
    if nonempty and path == "depthwise":
        dx, dw, db = _depthwise_backward(x, w, dy, ct, pad, stride, compute_dx, dil)
    elif nonempty and path == "small":
        dx, dw, db = _small_backward(x, w, dy, ct, pad, stride, compute_dx, dy_nchw)
    elif nonempty and path == "winograd" and dil != (1, 1):
        dx, dw, db = _dilated.backward(x, w, dy, ct, pad, pad_end, dil, compute_dx, _winograd_backward)
    elif nonempty and path == "winograd":
        dx, dw, db = _winograd_backward(x, w, dy, ct, pad, stride, compute_dx, dx_nchw)
    elif nonempty and path == "direct":
        dx, dw, db = _direct_backward(x, w, dy, ct, pad, stride, compute_dx, dil, groups)
    else:  # the GEMM path, or empty inputs (whose gradients need no kernel, whatever the options)
        dx, dw, db = _gemm_backward(x, w, dy, ct, pad, stride, compute_dx, gemm_dx)
    if has_bias:
        db = _cast(db, db_dt)
        if db.shape != b_shape:
            db = db.reshape(b_shape)
    else:
        db = None
    return _cast(dx, dx_dt) if compute_dx else None, _cast(dw, dw_dt), db


def _small_backward(x, w, dy, ct, pad, stride, compute_dx, dy_nchw=False):
    """(dx, dw, db) in ``ct`` through the small-reduction kernels (dx a placeholder if not wanted;
    ``dy_nchw``: dy is (N, Cout, Ho, Wo))."""
    (ph, pw), (sh, sw) = pad, stride
    dx = np.empty(x.shape, dtype=ct) if compute_dx else _NO_DX[ct]
    dw = np.empty(w.shape, dtype=ct)
    db = np.empty(w.shape[3], dtype=ct)
    macs = dy.size * w.shape[0] * w.shape[1] * w.shape[2]  # per pass (see _SMALL_PARALLEL_MIN_MACS)
    if x.dtype is not ct:  # (x and w from the forward's cache are C-contiguous arrays of its dtype)
        x, w = _as(x, ct), _as(w, ct)
    _conv_small.conv2d_backward_small_kernel(
        x, w, _as(dy, ct), dx, dw, db, ph, pw, sh, sw, compute_dx, _small_threads(macs), -1, dy_nchw,
    )
    return dx, dw, db


def _gemm_backward(x, w, dy, ct, pad, stride, compute_dx, gemm_dx="auto"):
    """(dx, dw, db) in ``ct`` through im2col + BLAS; also the path of empty inputs."""
    (ph, pw), (sh, sw) = pad, stride
    n = x.shape[0]
    kh, kw, c, cout = w.shape
    parts = max(1, min(n, _DW_PARTS))
    dw_parts = np.empty((parts,) + w.shape, dtype=ct)  # the kernel overwrites and reduces them
    db_parts = np.empty((parts, cout), dtype=ct)
    dx_by_correlation = compute_dx and gemm_dx != "scatter" and bool(_dx_by_correlation_serves(w.shape, pad,
                                                                                                stride))
    dx_scatter = compute_dx and not dx_by_correlation
    dx = _outpool.empty(x.shape if compute_dx else (1, 1, 1, 1), ct)
    if dx_scatter or not (x.size and w.size and dy.size):
        dx.fill(0)
    if x.size and w.size and dy.size:
        k = kh * kw * c
        m = n * dy.shape[1] * dy.shape[2]
        nt = _gemm_threads(m * k * cout * (2 if compute_dx else 1))
        mt = _tile_rows(m, k, ct.itemsize)
        size = (2 if dx_scatter else 1) * mt * k
        if dx_by_correlation:
            mt_dx = _fwd_tile_rows(n * x.shape[1] * x.shape[2], kh * kw * cout, c, ct.itemsize)
            size = max(size, mt_dx * kh * kw * cout)
        work = np.empty((nt, size), dtype=ct)
        dyc = _as(dy, ct)
        wc = _as(w, ct)
        _conv.conv2d_backward_gemm_kernel(
            _as(x, ct), wc, dyc, dx, dw_parts, db_parts, work, mt,
            ph, pw, sh, sw, dx_scatter, nt,
        )
        if dx_by_correlation:
            wf = np.ascontiguousarray(wc[::-1, ::-1].transpose(0, 1, 3, 2))  # (Kh, Kw, Cout, C)
            _conv.conv2d_forward_gemm_kernel(
                dyc, wf, wf[0, 0, 0, :0], dx, work, mt_dx, kh - 1 - ph, kw - 1 - pw, 1, 1, nt
            )
    else:
        dw_parts[0] = 0
        db_parts[0] = dy.sum(axis=(0, 1, 2), dtype=ct) if dy.size else 0
    # the kernel has added every part into part 0; copy it out so the result owns its memory
    dw = dw_parts[0] if parts == 1 else dw_parts[0].copy()
    db = db_parts[0] if parts == 1 else db_parts[0].copy()
    return dx, dw, db


def _wide_serves(w_shape, ct, dil, groups) -> bool:
    """Whether the direct backward takes the wide route (see _WIDE_DW_BYTES): an ungrouped,
    undilated layer whose dw passes _WIDE_DW_BYTES, with at least _DIRECT_MIN_COLS input channels."""
    kh, kw, c, cout = w_shape
    return (tuple(dil) == (1, 1) and groups == 1 and c >= _DIRECT_MIN_COLS
            and kh * kw * c * cout * ct.itemsize > _WIDE_DW_BYTES)


def _wide_backward(x, w, dy, ct, pad, stride, compute_dx):
    """(dx, dw, db) in ``ct`` of a wide layer (see _WIDE_DW_BYTES): dw by im2col + BLAS in fixed
    chunks and blocks, db the float64 column sums of dy; dx by the direct forward kernel over dy
    with the flipped, channel-transposed kernel where that correlation gives x's size back (stride 1,
    padding under the kernel, the same at both ends; the fused kernel's bits), else by the
    transposed convolution's kernel (the input gradient's rows of the direct family; the fused
    kernel's bits at stride 2 and 3 as measured, equal to rounding with per-side padding at stride 1)
    (dx a placeholder if not wanted)."""
    (ph, pw), (sh, sw) = pad, stride
    kh, kw, c, cout = w.shape
    n, ho, wo = dy.shape[:3]
    k = kh * kw * c
    xc, wc, dyc = _as(x, ct), _as(w, ct), _as(dy, ct)
    nt = _threads_for(dy.size * k * (2 if compute_dx else 1))
    mt = max(1, min(n * ho * wo, _WIDE_CHUNK_BYTES // (k * ct.itemsize)))
    dw = np.empty(w.shape, dtype=ct)
    _conv.conv2d_weight_grad_gemm_kernel(xc, dyc, dw, scratch("conv.wide_cols", (mt, k), ct), mt, _WIDE_KB,
                                         ph, pw, sh, sw, _gemm_threads(dy.size * k))
    db = _winograd.bias_grad(dyc, nt)
    if not compute_dx:
        return _NO_DX[ct], dw, db
    dx = _outpool.empty(x.shape, ct)
    if ((sh, sw) == (1, 1) and ph < kh and pw < kw and ho + kh - 1 - 2 * ph == x.shape[1]
            and wo + kw - 1 - 2 * pw == x.shape[2]):
        # wf[Kh-1-ki, Kw-1-kj] = w[ki, kj]^T, (Kh, Kw, Cout, C): by the blocked transpose kernel, one
        # tap at a time (a NumPy transposing copy of a 3x3 512->512 kernel took 3.3 ms)
        w3, wf = wc.reshape(kh * kw, c, cout), np.empty((kh, kw, cout, c), dtype=ct)
        wf3 = wf.reshape(kh * kw, cout, c)
        for t in range(kh * kw):
            _transpose.transpose_batch_kernel(w3[t:t + 1], wf3[kh * kw - 1 - t:kh * kw - t], nt)
        _conv_direct.conv2d_forward_direct_kernel(dyc, wf, wf[0, 0, 0, :0], dx, kh - 1 - ph, kw - 1 - pw, 1, 1, nt,
                                                  1, 1, 1)
    else:  # the transposed convolution of dy with w ((Kh, Kw, C, Cout) is its (Kh, Kw, Cout_t, Cin_t))
        _conv_transpose.conv_transpose2d_forward_direct_kernel(dyc, wc, wc[0, 0, 0, :0], dx, ph, pw, sh, sw, nt)
    return dx, dw, db


def _direct_backward(x, w, dy, ct, pad, stride, compute_dx, dil=(1, 1), groups=1):
    """(dx, dw, db) in ``ct`` through the direct kernels: dw, db over fixed row parts and dx row by
    row, in one loop (dx a placeholder if not wanted); wide layers (_wide_serves) take
    _wide_backward."""
    if _wide_serves(w.shape, ct, dil, groups):
        return _wide_backward(x, w, dy, ct, pad, stride, compute_dx)
    (ph, pw), (sh, sw) = pad, stride
    kh, kw, c, cout = w.shape  # c: input channels per group
    n, ho, wo = dy.shape[:3]
    dw = np.empty(w.shape, dtype=ct)
    db = np.empty(cout, dtype=ct)
    dx = _outpool.empty(x.shape, ct) if compute_dx else _NO_DX[ct]
    og = cout // groups
    ldw = _conv_direct.dw_width(og, ct == _F64)
    lo, hi = _DIRECT_DW_PARTS
    parts = max(1, min(n * ho, max(lo, min(hi, _DIRECT_DW_BYTES // (groups * kh * kw * c * ldw * ct.itemsize)))))
    nt = _threads_for(dy.size * kh * kw * c * (2 if compute_dx else 1))
    _conv_direct.conv2d_backward_direct_kernel(
        _as(x, ct), _as(w, ct), _as(dy, ct), dx, dw, db,
        np.empty((parts, groups * kh * kw * c, ldw), dtype=ct), np.empty((parts, cout), dtype=ct),
        np.empty((nt, wo * ldw if ldw != og else 0), dtype=ct), ph, pw, sh, sw, compute_dx, nt,
        dil[0], dil[1], groups,
    )
    return dx, dw, db


def _depthwise_backward(x, w, dy, ct, pad, stride, compute_dx, dil):
    """(dx, dw, db) in ``ct`` through the depthwise kernels (dx a placeholder if not wanted)."""
    (ph, pw), (sh, sw) = pad, stride
    kh, kw, _, c = w.shape
    n, ho = dy.shape[:2]
    dw = np.empty(w.shape, dtype=ct)
    db = np.empty(c, dtype=ct)
    dx = _outpool.empty(x.shape, ct) if compute_dx else _NO_DX[ct]
    parts = max(1, min(n * ho, _DEPTHWISE_DW_PARTS))
    nt = _threads_for(dy.size * kh * kw * (2 if compute_dx else 1))
    _conv_depthwise.depthwise_backward_kernel(
        _as(x, ct), _as(w, ct), _as(dy, ct), dx, dw, db,
        np.empty((parts, kh * kw * c), dtype=ct), np.empty((parts, c), dtype=ct),
        ph, pw, sh, sw, dil[0], dil[1], compute_dx, nt, -1, dx.nbytes >= _DEPTHWISE_STREAM_BYTES,
    )
    return dx, dw, db


def _winograd_dw_pays(w_shape, ct, groups: int = 1) -> bool:
    """Whether Winograd's weight gradient beats the direct kernels' (see _WINOGRAD_DW_MIN_CHANNELS)."""
    if groups > 1:
        return True  # measured 0.95-1.03 of the direct kernels' time at 8 to 32 channels per group
    least = _WINOGRAD_DW_MIN_CHANNELS[ct]
    if _winograd.gmul_serves(w_shape[3]):
        least = _WINOGRAD_MIN_CHANNELS  # the register-blocked products
    return min(w_shape[2], w_shape[3]) >= least


def _winograd_backward(x, w, dy, ct, pad, stride, compute_dx, dx_nchw=False):
    """(dx, dw, db) in ``ct``: dx by the Winograd kernels (NCHW if ``dx_nchw``); dw by Winograd where
    it pays (db then from the same pass over dy), else dw and db by the direct kernels (by im2col + BLAS where
    those do not serve the layer); dx a placeholder if not wanted."""
    nt = _threads_for(dy.size * 9 * w.shape[2])
    groups = x.shape[3] // w.shape[2]
    if _winograd_dw_pays(w.shape, ct, groups):
        dyc = _as(dy, ct)
        dw = np.empty(w.shape, dtype=ct)
        db = np.empty(w.shape[3], dtype=np.float64)  # from the same pass over dy (see there)
        _winograd.winograd_backward_weights(_as(x, ct), dyc, pad[0], pad[1], dw, nt, db=db)
    elif groups > 1 or _direct_serves(w.shape, False):
        _, dw, db = _direct_backward(x, w, dy, ct, pad, stride, False, (1, 1), groups)
    else:
        _, dw, db = _gemm_backward(x, w, dy, ct, pad, stride, False)
    if not compute_dx:
        return _NO_DX[ct], dw, db
    n, h, wd, c = x.shape
    dx = _outpool.empty((n, c, h, wd) if dx_nchw else x.shape, ct)
    _winograd.winograd_backward_input(_as(dy, ct), _as(w, ct), pad[0], pad[1], dx, nt, 0, dx_nchw)
    return dx, dw, db
