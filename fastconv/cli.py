"""The command line: ``fastconv {digits,filter,gallery,info}`` (also ``python -m fastconv ...``).

Every command-line front end lives here; the library modules hold none. A command parses its
arguments, calls public functions and prints its results. A mistake (a bad argument, an
unreadable file, a missing optional dependency) is one line on stderr, ``fastconv CMD: error:
...``, never a traceback: :class:`CliError` and the ValueError/TypeError of the library's
argument checks exit with status 2, an OSError with 1, Ctrl-C with 130.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

__all__ = ["main", "CliError"]

# pip distribution of an optional module, where it differs from the module's top-level name
_PIP_NAMES = {"PIL": "pillow"}


class CliError(Exception):
    """A user-facing error: printed as one line; the command exits with ``status`` (default 2)."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as a CliError (one line) instead of usage text and exit."""

    def error(self, message):
        raise CliError(f"{message} (see --help)")


def _need(module: str, extra: str):
    """Import an optional dependency, or raise a CliError naming its pip install and fastconv's extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pip = _PIP_NAMES.get(module.split(".")[0], module.split(".")[0])
        raise CliError(f"this command needs {pip}: pip install {pip} (or: pip install 'fastconv[{extra}]')") from None


def _run(prog: str, body, argv: Sequence[str]) -> int:
    """Run ``body(argv)`` and turn every user-facing error into one line on stderr and an exit status."""
    try:
        return body(list(argv))
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.status
    except (ValueError, TypeError) as exc:  # the library's argument checks
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- fastconv info
def _info(argv) -> int:
    _Parser(prog="fastconv info", description="Show build and threading facts.").parse_args(argv)
    import fastconv
    from fastconv import _simd

    lines = [
        f"fastconv {fastconv.__version__}",
        f"numpy {np.__version__}",
        f"openmp_enabled: {fastconv.openmp_enabled()}",
        f"num_threads: {fastconv.get_num_threads()}",
        f"simd: {_simd.simd_level()} (built: {', '.join(_simd.SIMD_LEVELS)})",
    ]
    print("\n".join(lines))
    return 0


# --------------------------------------------------------------------------- fastconv digits
def _digits_parser() -> argparse.ArgumentParser:
    from .digits import DEFAULT_SEED

    p = _Parser(prog="fastconv digits",
                description="Train the tutorial's digits CNN on scikit-learn's bundled digits (no download).")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (default 64)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--backend", default="fastconv", help="fastconv (default) or reference (slow NumPy loops)")
    p.add_argument("--channels", type=int, default=8, help="conv filters (default 8)")
    p.add_argument("--kernel-size", type=int, default=3, help="conv kernel size (default 3)")
    p.add_argument("--padding", type=int, default=1, help="conv zero padding (default 1)")
    p.add_argument("--stride", type=int, default=1, help="conv stride (default 1)")
    p.add_argument("--pool", default="max", help="max (default) or avg")
    p.add_argument("--pool-size", type=int, default=2, help="pooling window (default 2)")
    p.add_argument("--dtype", default="float64", help="float64 (default) or float32")
    p.add_argument("--save", metavar="MODEL.npz", help="write the trained model here")
    p.add_argument("--plot", metavar="CURVES.png", help="write curves, filters and feature maps (needs matplotlib)")
    p.add_argument("--load", metavar="MODEL.npz",
                   help="evaluate a saved model on the bundled digits instead of training")
    p.add_argument("--quiet", action="store_true", help="no epoch lines, no progress bar")
    return p


def _check_writable(path: str, what: str) -> None:
    """Raise CliError if ``path`` cannot be written (missing directory, directory given)."""
    parent = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise CliError(f"{what} {path!r} is a directory")
    if not os.path.isdir(parent):
        raise CliError(f"{what} {path!r}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise CliError(f"{what} {path!r}: directory {parent!r} is not writable")


def _digits(argv) -> int:
    """``fastconv digits``: train, print one line per epoch, optionally save and plot; or evaluate --load."""
    from .digits import load, load_data, plot
    from .digits._train import _Trainer

    args = _digits_parser().parse_args(argv)
    if args.save:
        _check_writable(args.save, "--save")
    if args.plot:
        _check_writable(args.plot, "--plot")
        _need("matplotlib", "plot")
    out = sys.stdout
    if args.load:
        model = load(args.load)
        images, labels = load_data(model.config["dtype"])
        acc = float(np.mean(model.predict(images) == labels))
        print(f"{args.load}: accuracy {acc:.4f} on all {labels.size} bundled digits "
              f"(trained {len(model.history)} epochs, last val_acc "
              f"{model.history[-1]['val_acc'] if model.history else float('nan'):.4f})", file=out)
        if args.plot:
            plot(model, images[0], args.plot, label=int(labels[0]))
        return 0

    def report(r):
        if not args.quiet:
            print(f"Epoch {r['epoch']}/{args.epochs}  loss={r['loss']:.4f}  val_acc={r['val_acc']:.4f}",
                  file=out, flush=True)

    t0 = time.perf_counter()
    trainer = _Trainer(args.epochs, args.batch_size, args.lr, args.seed, args.backend,
                       conv_channels=args.channels, kernel_size=args.kernel_size, padding=args.padding,
                       stride=args.stride, pool=args.pool, pool_size=args.pool_size, dtype=args.dtype)
    model = trainer.run(progress=not args.quiet, callback=report)
    if not args.quiet:
        print(f"trained {args.epochs} epochs on backend {args.backend} in {time.perf_counter() - t0:.2f}s",
              file=out)
    if args.save:
        model.save(args.save)
        if not args.quiet:
            print(f"model saved to {args.save}", file=out)
    if args.plot:
        plot(model, trainer.x_val[0], args.plot, label=int(trainer.y_val[0]))
        if not args.quiet:
            print(f"figure written to {args.plot}", file=out)
    return 0


# --------------------------------------------------------------------------- image files
def _sample_image(color: bool) -> np.ndarray:
    """scikit-learn's built-in sample photo (no download), grayscale uint8 unless ``color``."""
    Image = _need("PIL.Image", "image")
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg")
    return rgb if color else np.asarray(Image.fromarray(rgb).convert("L"))


def _read_image(path, color: bool) -> np.ndarray:
    """An image file as uint8 (H, W) grayscale, or (H, W, 3) RGB if ``color``; the sample photo if no path."""
    if path is None:
        return _sample_image(color)
    Image = _need("PIL.Image", "image")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if color else "L")
            return np.asarray(im)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read image {str(path)!r}: {exc}") from None


def _save_image(arr: np.ndarray, path) -> None:
    """Write a uint8 image with Pillow."""
    Image = _need("PIL.Image", "image")
    try:
        Image.fromarray(arr).save(path)
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"cannot write image {str(path)!r}: {exc}") from None


# --------------------------------------------------------------------------- fastconv filter
def _filter(argv) -> int:
    """``fastconv filter [IMAGE] --kernel NAME [--mode MODE] [--color] [-o OUT]``."""
    from .filters import KERNELS, MODES, filter2d

    p = _Parser(
        prog="fastconv filter",
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


# --------------------------------------------------------------------------- fastconv gallery
def _gallery_figure(img: np.ndarray, mode: str = "constant"):
    """The tutorial's 3x4 figure: the image filtered by each of the ten kernels."""
    from .filters import KERNELS, filter2d

    _need("matplotlib", "image")
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


def _gallery(argv) -> int:
    """``fastconv gallery [IMAGE] [--mode MODE] [--dpi N] [-o gallery.png]``."""
    from .filters import MODES

    p = _Parser(
        prog="fastconv gallery",
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
        raise CliError(f"--dpi must be positive, got {a.dpi}")
    img = _read_image(a.image, color=False)
    fig = _gallery_figure(img, a.mode)
    try:
        if str(a.output).lower().endswith(".png"):
            # the figure is all gray: an 8-bit grayscale PNG is a third of the RGBA one
            Image = _need("PIL.Image", "image")
            fig.set_dpi(a.dpi)
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())
            Image.fromarray(rgba).convert("L").save(a.output, optimize=True)
        else:
            fig.savefig(a.output, dpi=a.dpi)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write figure {a.output!r}: {exc}") from None
    print(f"wrote {a.output}")
    return 0


# --------------------------------------------------------------------------- dispatch
COMMANDS = {
    "digits": (_digits, "train the digits CNN (built-in data, no download)"),
    "filter": (_filter, "apply one named kernel to an image"),
    "gallery": (_gallery, "the ten classic kernels side by side"),
    "info": (_info, "build and threading facts"),
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``fastconv COMMAND [options]``; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The command and its arguments; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on a usage error (one line on stderr), 1 when a file cannot be written.

    Examples
    --------
    >>> from fastconv.cli import main
    >>> main(["digits", "--epochs", "1", "--quiet"])
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:8s} {help_}" for name, (_, help_) in COMMANDS.items()]
        out = ("usage: fastconv {" + ",".join(COMMANDS) + "} [options]   (or: python -m fastconv ...)\n\n"
               "commands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"fastconv: unknown command {argv[0]!r}\n{out}", file=sys.stderr)
            return 2
        print(out)
        return 0 if argv else 2
    func, _ = COMMANDS[argv[0]]
    return _run(f"fastconv {argv[0]}", func, argv[1:])
