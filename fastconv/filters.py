"""Image filtering: the tutorial's ten named kernels and a fast same-size ``filter2d``.

Also the command-line tools ``python -m fastconv filter`` and ``python -m fastconv gallery``.
"""
from __future__ import annotations

import argparse
import os
import sys
import types
import warnings
from typing import Mapping, NamedTuple

import numpy as np

from . import _alloc, _filter
from . import _validate as v
from ._threads import get_num_threads

__all__ = ["KERNELS", "MODES", "filter2d", "output_pool", "main_filter", "main_gallery"]


def _frozen(rows, scale=1.0) -> np.ndarray:
    """A read-only float64 kernel."""
    a = np.array(rows, dtype=np.float64) / scale
    a.flags.writeable = False
    return a


#: The tutorial's ten kernels, in its order. A read-only mapping of read-only float64 arrays.
KERNELS: Mapping[str, np.ndarray] = types.MappingProxyType(
    {
        "horizontal_edge": _frozen([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
        "vertical_edge": _frozen([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
        "sobel_x": _frozen([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        "sobel_y": _frozen([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
        "laplacian": _frozen([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "sharpen": _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "gaussian3": _frozen([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 16),
        "gaussian5": _frozen(
            [[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]], 256
        ),
        "edge_enhance": _frozen([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]]),
        "mean": _frozen([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 9),
    }
)

#: Border modes (scipy.ndimage names) -> (kernel code, numpy.pad mode, OpenCV border name).
MODES: Mapping[str, tuple] = types.MappingProxyType(
    {
        "constant": (0, "constant", "BORDER_CONSTANT"),
        "nearest": (1, "edge", "BORDER_REPLICATE"),
        "reflect": (2, "symmetric", "BORDER_REFLECT"),
        "mirror": (3, "reflect", "BORDER_REFLECT_101"),
        "wrap": (4, "wrap", "BORDER_WRAP"),
    }
)


def _kernel_arg(kernel, image_ndim: int, image_shape) -> np.ndarray:
    """``kernel`` as a non-empty 2-D real array (a name from KERNELS is looked up)."""
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be an array or one of {', '.join(KERNELS)}; got {kernel!r}")
        return KERNELS[kernel]
    k = v.as_array(kernel, "kernel")
    if k.ndim > image_ndim:
        raise ValueError(
            f"kernel has more dimensions than the image: kernel shape {k.shape}, image shape {image_shape}"
        )
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D (Kh, Kw), got shape {k.shape} (image shape {image_shape})")
    if k.size == 0:
        raise ValueError(f"kernel must be non-empty, got shape {k.shape}")
    return k


_MACS_PER_THREAD = 1 << 22  # multiply-adds (~0.5 ms of one core) worth waking one more OpenMP thread for


def _rank1(k: np.ndarray):
    """``(u, v)`` with ``outer(u, v) == k`` to rounding, or None if ``k`` is not rank 1."""
    if not np.all(np.isfinite(k)) or k.shape[0] < 2 or k.shape[1] < 2:
        return None
    p, q = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    if k[p, q] == 0:
        return None
    u = k[:, q].copy()
    vv = k[p, :] / k[p, q]
    err = np.max(np.abs(np.outer(u, vv) - k))
    if err > 8 * np.finfo(np.float64).eps * np.abs(k[p, q]):
        return None
    return u, vv


class _Plan(NamedTuple):
    """How a kernel is run: its non-zero taps (or its two 1-D factors' non-zero taps)."""

    separable: bool
    w: np.ndarray     # weights of the taps (separable: of the column factor u)
    rows: np.ndarray  # kernel row of each tap (separable: index into u)
    cols: np.ndarray  # kernel column of each tap (separable: index into v)
    w2: np.ndarray    # separable: weights of the row factor v; else unused (empty)
    macs: int         # multiply-adds per output value


_PLANS: dict = {}
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _frozen_copy(a, dtype) -> np.ndarray:
    """A read-only C-contiguous copy."""
    a = np.array(a, dtype=dtype, order="C")
    a.flags.writeable = False
    return a


#: From this output size on a call is bound by memory traffic, not arithmetic: the two passes of
#: the separable path (input rows -> row buffer, then row buffer -> output) overlap reads and
#: writes less well than the one pass of the general path, which then wins unless the factored
#: form needs at most half the multiply-adds (3x3 rank-1 kernels: general; 5x5 Gaussian: separable).
_MEMORY_BOUND_BYTES = 8 << 20


def _plan(k: np.ndarray, ct: np.dtype, memory_bound: bool = False) -> _Plan:
    """The taps of ``k`` in dtype ``ct``, factored if rank 1 and cheaper; memoised per kernel value."""
    key = (k.shape, k.dtype.str, k.tobytes(), ct.str, memory_bound)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    k64 = np.asarray(k, dtype=np.float64)
    fac = _rank1(k64)
    nnz = int(np.count_nonzero(k64))
    ip = np.intp
    if fac is not None and (np.count_nonzero(fac[0]) + np.count_nonzero(fac[1])) * (1 + memory_bound) < nnz:
        ui, vi = np.flatnonzero(fac[0]), np.flatnonzero(fac[1])
        plan = _Plan(True, _frozen_copy(fac[0][ui], ct), _frozen_copy(ui, ip), _frozen_copy(vi, ip),
                     _frozen_copy(fac[1][vi], ct), len(ui) + len(vi))
    else:
        rows, cols = np.nonzero(k64)
        plan = _Plan(False, _frozen_copy(k64[rows, cols], ct), _frozen_copy(rows, ip), _frozen_copy(cols, ip),
                     _frozen_copy([], ct), max(nnz, 1))
    if len(_PLANS) >= 256:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _output_arg(output, img: np.ndarray):
    """Check an ``output`` array: float32/float64, the image's shape, C-contiguous, writeable, apart."""
    if output.dtype not in (_F32, _F64):
        raise TypeError(f"output must have dtype float32 or float64 (native byte order), got {output.dtype} "
                        f"(output shape {output.shape}, image shape {img.shape})")
    if output.shape != img.shape:
        raise ValueError(f"output must have the image's shape {img.shape}, got shape {output.shape}")
    if not output.flags.c_contiguous:
        raise ValueError(f"output must be C-contiguous, got strides {output.strides} (shape {output.shape})")
    if not output.flags.writeable:
        raise ValueError(f"output must be writeable (shape {output.shape})")
    if np.may_share_memory(output, img):
        raise ValueError(f"output must not overlap the image's memory (output shape {output.shape}, "
                         f"image shape {img.shape})")
    return output


def _filter2d_args(image, kernel, mode, cval, dtype):
    """Check filter2d's arguments; return (image, kernel, computing dtype, requested output dtype)."""
    img = v.as_array(image, "image")
    if img.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {img.shape}")
    k = _kernel_arg(kernel, img.ndim, img.shape)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if isinstance(cval, (bool, np.bool_)) or not isinstance(cval, (int, float, np.integer, np.floating)):
        raise TypeError(f"cval must be a real number, got {cval!r}")
    out_dt = None if dtype is None else np.dtype(dtype)
    if out_dt is not None and out_dt.kind not in "biuf":
        raise TypeError(f"dtype must be a real numeric dtype, got {out_dt}")
    src = out_dt if out_dt is not None and out_dt.kind == "f" else img.dtype
    ct = _F32 if src.kind == "f" and src.itemsize <= 4 else _F64
    return img, k, ct, out_dt


def _finish(out: np.ndarray, out_dt):
    """Cast a result to the requested dtype; integer dtypes are clipped to their range first."""
    if out_dt is None or out_dt == out.dtype:
        return out
    if out_dt.kind in "iu":
        info = np.iinfo(out_dt)
        out = np.clip(out, info.min, info.max)
    return out.astype(out_dt)


def filter2d(image, kernel, mode="constant", cval=0.0, dtype=None, output=None):
    """Same-size 2-D cross-correlation of an image with a kernel, with a border mode.

    The kernel is not flipped (cross-correlation, as in the tutorial, OpenCV and PyTorch). The
    output has the image's (H, W) or (H, W, C) shape; each channel of a colour image is
    filtered independently.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Any real dtype (uint8, uint16, float32, float64, ...); any memory layout. Never modified.
    kernel : array_like, shape (Kh, Kw), or str
        Any size, odd or even, square or rectangular; or a name from :data:`KERNELS`.
        Anchor (as ``scipy.ndimage.correlate`` with ``origin=0``): output ``(i, j)`` reads input
        ``(i + ki - Kh // 2, j + kj - Kw // 2)`` for tap ``(ki, kj)``; for an even size the
        anchor is the tap just after the middle (index 2 of a 4-tap axis).
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}, default "constant"
        How the image is extended beyond its border, with ``scipy.ndimage`` names and semantics
        (extension is periodic, so a kernel larger than the image is fine):

        ============  ===========================  ====================  ======================
        mode          extension of ``a b c d``     ``numpy.pad`` mode    OpenCV border
        ============  ===========================  ====================  ======================
        ``constant``  ``k k | a b c d | k k``      ``constant``          ``BORDER_CONSTANT``
        ``nearest``   ``a a | a b c d | d d``      ``edge``              ``BORDER_REPLICATE``
        ``reflect``   ``b a | a b c d | d c``      ``symmetric``         ``BORDER_REFLECT``
        ``mirror``    ``c b | a b c d | c b``      ``reflect``           ``BORDER_REFLECT_101``
        ``wrap``      ``c d | a b c d | a b``      ``wrap``              ``BORDER_WRAP``
        ============  ===========================  ====================  ======================

        (``k`` is ``cval``.) ``"constant"`` with ``cval=0`` is the tutorial's zero padding.
    cval : float, default 0.0
        The value outside the image in ``"constant"`` mode, in image units.
    dtype : dtype, optional
        Output dtype. By default float32 and float16 images give float32 and every other image
        (uint8, uint16, integer, bool, float64) gives float64: the tutorial's loop returns
        float64 for its uint8 photo, and a float image keeps its precision. The sums are formed
        in that dtype (the kernel is cast to it). A float ``dtype`` sets both the computing and
        the output dtype. An integer ``dtype`` (e.g. ``np.uint8``) computes as by default, then
        clips to the dtype's range and casts (truncating), exactly as the tutorial's
        ``np.clip(y, 0, 255).astype(np.uint8)``.
    output : ndarray or dtype, optional
        As in ``scipy.ndimage``: an array to write the result into, or the output dtype (then
        the same as ``dtype=``; give at most one of the two). The array must have the image's
        shape, dtype float32 or float64 (it sets the computing dtype, as a float ``dtype=``),
        be C-contiguous and writeable, and must not overlap the image. Reusing one array over
        many calls saves allocating (and, for a large image, page-faulting) a new output.

    Returns
    -------
    ndarray
        Same shape as ``image``; ``output`` itself when an array was given.

    Notes
    -----
    Kernel taps equal to zero are skipped (``scipy.ndimage`` skips them too), so a non-finite
    pixel under a zero weight does not spread. A rank-1 kernel (Gaussian, mean, Sobel, the edge
    kernels) is run as two 1-D passes when that needs fewer multiplications; the result equals
    the 2-D sum to rounding.

    The memory of large returned arrays (4 MiB and more) comes from a small bounded pool that
    recycles the blocks of freed outputs, so that repeated calls do not page-fault fresh memory
    in; see :func:`output_pool`. The arrays are ordinary ndarrays that own their data.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import filter2d, KERNELS
    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> filter2d(img, KERNELS["sobel_x"])
    array([[  7.,   6.,   6., -10.],
           [ 20.,   8.,   8., -24.],
           [ 36.,   8.,   8., -40.],
           [ 35.,   6.,   6., -38.]])
    >>> filter2d(img, "sobel_x", dtype=np.uint8)
    array([[ 7,  6,  6,  0],
           [20,  8,  8,  0],
           [36,  8,  8,  0],
           [35,  6,  6,  0]], dtype=uint8)

    An even size puts the anchor on the second tap, as in ``scipy.ndimage``:

    >>> filter2d(np.array([[1.0, 2.0, 4.0]]), np.array([[1.0, 10.0]]), mode="nearest")
    array([[11., 21., 42.]])
    """
    out_arr = None
    if output is not None:  # scipy.ndimage's output=: an array to fill, or a dtype
        if dtype is not None:
            raise TypeError(f"give at most one of output and dtype, got both (dtype={dtype!r})")
        if isinstance(output, np.ndarray):
            out_arr = output
        else:
            try:
                dtype = np.dtype(output)
            except TypeError:
                raise TypeError(f"output must be an ndarray or a dtype, got {type(output).__name__}") from None
    img, k, ct, out_dt = _filter2d_args(image, kernel, mode, cval, dtype)
    if out_arr is not None:
        ct = _output_arg(out_arr, img).dtype
    img3 = img if img.ndim == 3 else img[:, :, None]
    res = _alloc.empty(img.shape, ct) if out_arr is None else out_arr  # owns its data, image's shape
    out = res.reshape(img3.shape)  # a view: the kernels take (H, W, C)
    if out.size:
        if img3.dtype == ct and img3.flags.c_contiguous:
            x = img3
        else:  # a converted copy, from the pool too (it is freed before this call returns)
            x = _alloc.empty(img3.shape, ct)
            np.copyto(x, img3, casting="unsafe")
        kh, kw = k.shape
        plan = _plan(k, ct, out.nbytes >= _MEMORY_BOUND_BYTES)
        # waking a thread team can cost more than filtering a small image (milliseconds on a busy
        # machine): each thread gets at least _MACS_PER_THREAD multiply-adds
        nthreads = max(1, min(get_num_threads(), out.size * plan.macs // _MACS_PER_THREAD))
        if plan.separable:
            _filter.correlate2d_separable_kernel(
                x, plan.w, plan.rows, plan.w2, plan.cols, kh, kw, MODES[mode][0], cval, out, nthreads
            )
        else:
            _filter.correlate2d_same_kernel(
                x, plan.w, plan.rows, plan.cols, kh, kw, MODES[mode][0], cval, out, nthreads
            )
    return res if out_arr is not None else _finish(res, out_dt)


def output_pool(max_blocks=None, max_bytes=None, min_block=None) -> dict:
    """Inspect or set the bounded pool that recycles the memory of large :func:`filter2d` arrays.

    A freed output (or converted input copy) of at least ``min_block`` bytes is kept while the
    pool holds fewer than ``max_blocks`` blocks and at most ``max_bytes`` bytes (the oldest block
    makes room for a newer one), and is handed out again for the next array of exactly the same
    size, so that its pages need not be faulted in afresh. A block is in the pool only while no
    array owns it, so two live arrays never share memory. ``output_pool(max_blocks=0)`` turns the
    pool off and returns its memory at once; the environment variable ``FASTCONV_OUTPUT_POOL=0``
    does the same at import (a positive integer sets ``max_blocks``).

    Parameters
    ----------
    max_blocks : int, optional
        Blocks kept at most, 0 to 8 (default 2).
    max_bytes : int, optional
        Bytes kept at most (default 256 MiB).
    min_block : int, optional
        Smallest block that is pooled, in bytes (default 4 MiB); smaller ones go straight to ``free``.

    Returns
    -------
    dict
        ``blocks`` and ``bytes`` held now, ``hits`` and ``misses`` (large allocations served from
        the pool or not, since import), and the limits ``max_blocks``, ``max_bytes``, ``min_block``.

    Examples
    --------
    >>> from fastconv.filters import output_pool
    >>> output_pool(max_blocks=0)["bytes"]  # off: the memory held is returned
    0
    >>> output_pool(max_blocks=2)["max_blocks"]
    2
    """
    cur = _alloc.stats()
    args = {"max_blocks": max_blocks, "max_bytes": max_bytes, "min_block": min_block}
    for name, val in args.items():
        if val is None:
            args[name] = cur[name]
        elif isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {val!r}")
    _alloc.configure(int(args["max_blocks"]), int(args["max_bytes"]), int(args["min_block"]))
    return _alloc.stats()


def _pool_from_env() -> None:
    """Apply FASTCONV_OUTPUT_POOL (number of blocks kept; 0 = off) if it is set."""
    val = os.environ.get("FASTCONV_OUTPUT_POOL", "").strip()
    if not val:
        return
    try:
        output_pool(max_blocks=int(val))
    except ValueError:
        warnings.warn(f"FASTCONV_OUTPUT_POOL must be an integer from 0 to {_alloc.MAX_SLOTS}, got {val!r}; "
                      "keeping the default", RuntimeWarning, stacklevel=2)


_pool_from_env()


# --------------------------------------------------------------------------- command line
class _CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage text and a traceback."""

    def error(self, message):
        raise _CliError(message)


def _need(module: str, package: str):
    """Import an optional dependency or raise a one-line hint naming the pip install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise _CliError(
            f"{package} is required for this command: pip install {package} (or: pip install 'fastconv[image]')"
        ) from None


def _sample_image(color: bool) -> np.ndarray:
    """scikit-learn's built-in sample photo (no download), grayscale uint8 unless ``color``."""
    Image = _need("PIL.Image", "pillow")
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg")
    return rgb if color else np.asarray(Image.fromarray(rgb).convert("L"))


def _read_image(path, color: bool) -> np.ndarray:
    """An image file as uint8 (H, W) grayscale, or (H, W, 3) RGB if ``color``."""
    if path is None:
        return _sample_image(color)
    Image = _need("PIL.Image", "pillow")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if color else "L")
            return np.asarray(im)
    except (OSError, ValueError) as exc:
        raise _CliError(f"cannot read image {str(path)!r}: {exc}") from None


def _save_image(arr: np.ndarray, path) -> None:
    """Write a uint8 image with Pillow."""
    Image = _need("PIL.Image", "pillow")
    try:
        Image.fromarray(arr).save(path)
    except (OSError, ValueError, KeyError) as exc:
        raise _CliError(f"cannot write image {str(path)!r}: {exc}") from None


def _run_cli(prog: str, body, argv) -> int:
    """Run ``body(argv)``; a _CliError or a bad-argument error becomes one line on stderr."""
    try:
        return body(list(sys.argv[1:] if argv is None else argv))
    except _CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def _filter_body(argv) -> int:
    p = _Parser(
        prog="python -m fastconv filter",
        description="Filter an image with a named kernel as the tutorial does (pad, correlate, clip to "
        "0..255, uint8) and save it. Without IMAGE, a built-in sample photo is used.",
    )
    p.add_argument("image", nargs="?", help="input image file (any format Pillow reads)")
    p.add_argument("--kernel", "-k", required=True, choices=list(KERNELS), metavar="NAME",
                   help="one of: " + ", ".join(KERNELS))
    p.add_argument("--mode", "-m", default="constant", choices=list(MODES), metavar="MODE",
                   help="border mode: " + ", ".join(MODES) + " (default: constant, zero padding)")
    p.add_argument("--color", action="store_true", help="filter each RGB channel instead of grayscale")
    p.add_argument("-o", "--output", default=None, help="output file (default: <kernel>.png)")
    a = p.parse_args(argv)
    img = _read_image(a.image, a.color)
    out = filter2d(img, a.kernel, mode=a.mode, dtype=np.uint8)
    path = a.output or f"{a.kernel}.png"
    _save_image(out, path)
    print(f"wrote {path} ({'x'.join(map(str, out.shape))} uint8, kernel {a.kernel}, mode {a.mode})")
    return 0


def _gallery_figure(img: np.ndarray, mode: str = "constant"):
    """The tutorial's 3x4 figure: the image filtered by each of the ten kernels."""
    _need("matplotlib", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 8))
    FigureCanvasAgg(fig)
    for i, name in enumerate(KERNELS):
        ax = fig.add_subplot(3, 4, i + 1)
        ax.imshow(filter2d(img, name, mode=mode, dtype=np.uint8), cmap="gray", vmin=0, vmax=255)
        ax.set_title(name)
        ax.axis("off")
    fig.tight_layout()
    return fig


def _gallery_body(argv) -> int:
    p = _Parser(
        prog="python -m fastconv gallery",
        description="The ten classic kernels applied to one grayscale image, as a 3x4 figure. "
        "Without IMAGE, a built-in sample photo is used.",
    )
    p.add_argument("image", nargs="?", help="input image file (any format Pillow reads)")
    p.add_argument("--mode", "-m", default="constant", choices=list(MODES), metavar="MODE",
                   help="border mode: " + ", ".join(MODES) + " (default: constant)")
    p.add_argument("--dpi", type=int, default=60, help="resolution of the saved figure (default: 60)")
    p.add_argument("-o", "--output", default="gallery.png", help="output file (default: gallery.png)")
    a = p.parse_args(argv)
    if a.dpi < 1:
        raise _CliError(f"--dpi must be positive, got {a.dpi}")
    img = _read_image(a.image, color=False)
    fig = _gallery_figure(img, a.mode)
    try:
        if str(a.output).lower().endswith(".png"):
            # the figure is all gray: an 8-bit grayscale PNG is a third of the RGBA one
            Image = _need("PIL.Image", "pillow")
            fig.set_dpi(a.dpi)
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())
            Image.fromarray(rgba).convert("L").save(a.output, optimize=True)
        else:
            fig.savefig(a.output, dpi=a.dpi)
    except (OSError, ValueError) as exc:
        raise _CliError(f"cannot write figure {a.output!r}: {exc}") from None
    print(f"wrote {a.output}")
    return 0


def main_filter(argv=None) -> int:
    """``python -m fastconv filter [IMAGE] --kernel NAME [--mode MODE] [--color] [-o OUT]``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after ``filter`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on a bad argument, unreadable image or missing extra
        (reported as one line on stderr).

    Examples
    --------
    >>> main_filter(["photo.png", "--kernel", "sobel_x", "-o", "edges.png"])  # doctest: +SKIP
    wrote edges.png (427x640 uint8, kernel sobel_x, mode constant)
    0
    """
    return _run_cli("fastconv filter", _filter_body, argv)


def main_gallery(argv=None) -> int:
    """``python -m fastconv gallery [IMAGE] [--mode MODE] [--dpi N] [-o gallery.png]``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after ``gallery`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on a bad argument, unreadable image or missing extra
        (reported as one line on stderr).

    Examples
    --------
    >>> main_gallery(["-o", "gallery.png"])  # doctest: +SKIP
    wrote gallery.png
    0
    """
    return _run_cli("fastconv gallery", _gallery_body, argv)
