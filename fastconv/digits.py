"""The digits CNN: conv -> ReLU -> pool -> dense -> softmax cross-entropy, trained by plain SGD.

This is the network of the NumPy CNN tutorial (8 filters of 3x3, padding 1, 2x2 max pooling,
one dense layer, batch 64, learning rate 0.1, 10 epochs on scikit-learn's bundled
``load_digits`` with an 80/20 stratified split), as a function, a saved model and a command.

Two backends run the same loop on the same random draws:

* ``backend="reference"`` calls the public functions of :mod:`fastconv.reference` one layer at a
  time, exactly as the tutorial's script does (slow: about ten seconds per epoch);
* ``backend="fastconv"`` runs each SGD step as one compiled call
  (:class:`fastconv._digits.Stepper`, C without the GIL, float32/float64, SSE2 or AVX2+FMA
  picked at run time) on buffers allocated once per run: ReLU and pooling are fused (``max``
  and ``relu`` commute, and the gradient reaching the pool is masked where the pooled value is
  not positive, which gives the same numbers as ReLU's own backward), terms known to be zero are
  skipped and the first layer's input gradient is never computed. The tests hold this step to
  the same loop written layer by layer over :mod:`fastconv`'s public functions
  (``_Trainer(..., fused=False)``): only the order of the sums differs.

With the same ``seed`` both backends draw the same split, initial weights and batches, and end
within float rounding of each other.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["DigitsModel", "train", "load", "load_data", "main"]

NUM_CLASSES = 10
DEFAULT_SEED = 6  # the seed the command line uses when none is given (see README: accuracy by seed)
_FORMAT = "fastconv.digits/1"
_BACKENDS = ("fastconv", "reference")
_POOLS = ("max", "avg")
_EVAL_CHUNK = 1024  # evaluation/prediction batch: memory stays bounded for any data size


# --------------------------------------------------------------------------- data
def load_data(dtype=np.float64) -> Tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's bundled digits (no download), scaled to [0, 1].

    Parameters
    ----------
    dtype : dtype, default float64
        Dtype of the returned images.

    Returns
    -------
    images : ndarray, shape (1797, 8, 8, 1)
        Pixel values divided by 16, as in the tutorial.
    labels : ndarray of int64, shape (1797,)

    Examples
    --------
    >>> from fastconv.digits import load_data
    >>> images, labels = load_data()
    >>> images.shape, labels[:5]
    ((1797, 8, 8, 1), array([0, 1, 2, 3, 4]))
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images.astype(np.float32) / 16.0).astype(dtype)[..., np.newaxis]
    return images, d.target.astype(np.int64)


def _as_images(images, name: str, dtype, hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) images as a C-contiguous (N, H, W, 1) array of ``dtype``."""
    arr = np.asarray(images)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype} (shape {arr.shape})")
    if arr.ndim == 3:
        arr = arr[..., np.newaxis]
    if arr.ndim != 4 or arr.shape[3] != 1:
        raise ValueError(f"{name} must have shape (N, H, W) or (N, H, W, 1), got {arr.shape}")
    if hw is not None and arr.shape[1:3] != tuple(hw):
        raise ValueError(f"{name} must be {hw[0]}x{hw[1]} images, as in training, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _positive_int(value, name: str) -> int:
    """``value`` as an int >= 1, or a ValueError/TypeError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _split(labels: np.ndarray, val_fraction: float, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation index split drawn from ``rng``."""
    train_idx, val_idx = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(val_fraction * idx.size))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train = rng.permutation(np.concatenate(train_idx))
    val = np.sort(np.concatenate(val_idx))
    return train, val


# --------------------------------------------------------------------------- model
class DigitsModel:
    """A trained digits CNN: its weights, its training history and its layer settings.

    Attributes
    ----------
    params : dict of ndarray
        ``w1`` (K, K, 1, C) conv weights, ``b1`` (C,), ``w2`` (D, 10) dense weights, ``b2`` (10,).
    history : list of dict
        One dict per epoch: ``epoch`` (1-based), ``loss`` (mean training loss of the epoch),
        ``val_acc`` (validation accuracy after the epoch).
    config : dict
        ``conv_channels``, ``kernel_size``, ``padding``, ``stride``, ``pool``, ``pool_size``,
        ``image_shape``, ``dtype``, ``backend``, ``seed``, ``epochs``, ``batch_size``, ``lr``.
    """

    def __init__(self, params: Dict[str, np.ndarray], history: List[dict], config: dict):
        self.params = params
        self.history = history
        self.config = config

    def __repr__(self) -> str:
        acc = self.history[-1]["val_acc"] if self.history else float("nan")
        return (
            f"DigitsModel(conv {self.config['conv_channels']}x{self.config['kernel_size']}x"
            f"{self.config['kernel_size']}, pool {self.config['pool']}, epochs {len(self.history)}, "
            f"val_acc {acc:.4f})"
        )

    def feature_maps(self, image) -> np.ndarray:
        """Conv + ReLU outputs of one image: ndarray (Ho, Wo, C).

        Parameters
        ----------
        image : array_like, shape (H, W) or (H, W, 1)
            Scaled as in training.

        Returns
        -------
        ndarray, shape (Ho, Wo, C)
        """
        import fastconv

        img = np.asarray(image)
        x = _as_images(img[np.newaxis], "image", self._dtype(), self.config["image_shape"])
        y, _ = fastconv.conv2d_forward(x, self.params["w1"], self.params["b1"], self.config["padding"],
                                       self.config["stride"])
        return np.maximum(y[0], 0)

    def _dtype(self):
        return np.dtype(self.config["dtype"])

    def predict(self, images) -> np.ndarray:
        """Predicted digit of each image.

        Parameters
        ----------
        images : array_like, shape (N, H, W) or (N, H, W, 1)
            Scaled as in training (``load_data`` divides pixels by 16).

        Returns
        -------
        ndarray of int64, shape (N,)

        Examples
        --------
        >>> from fastconv.digits import train, load_data
        >>> model = train(epochs=1, seed=0)
        >>> images, labels = load_data()
        >>> model.predict(images[:3]).shape
        (3,)
        """
        import fastconv

        x = _as_images(images, "images", self._dtype(), self.config["image_shape"])
        net = _Net(fastconv, self.params, self.config)
        return net.predict(x)

    def save(self, path) -> None:
        """Write the model to ``path`` (a NumPy ``.npz`` archive; the name is used as given).

        Parameters
        ----------
        path : str or os.PathLike

        Examples
        --------
        >>> import tempfile, os
        >>> from fastconv.digits import train, load
        >>> model = train(epochs=1, seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> model.save(path)
        >>> load(path).history == model.history
        True
        """
        meta = json.dumps({"format": _FORMAT, "config": self.config, "history": self.history})
        with open(os.fspath(path), "wb") as fh:
            np.savez(fh, __meta__=np.array(meta), **self.params)


def load(path) -> DigitsModel:
    """Read a model written by :meth:`DigitsModel.save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    DigitsModel

    Raises
    ------
    ValueError
        If ``path`` is not a model saved by :meth:`DigitsModel.save`.
    OSError
        If the file cannot be read.

    Examples
    --------
    >>> from fastconv.digits import load
    >>> load("not-there.npz")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    FileNotFoundError: ...
    """
    path = os.fspath(path)
    not_model = f"{path} is not a fastconv digits model"
    try:
        z = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, EOFError, ValueError):
        raise ValueError(f"{not_model} (not a readable .npz archive)") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{not_model} (a single .npy array, not a saved model)")
    try:
        with z:
            meta = json.loads(str(z["__meta__"]))
            params = {k: np.array(z[k]) for k in ("w1", "b1", "w2", "b2")}
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{not_model} (no fastconv.digits format tag)")
        config, history = meta["config"], meta["history"]
        # a model whose arrays do not fit its own settings is not a model
        _check_params(params, config)
    except (KeyError, ValueError, TypeError, AttributeError, OSError) as exc:
        msg = str(exc) if str(exc).startswith(not_model) else f"{not_model} (missing or invalid model data)"
        raise ValueError(msg) from None
    return DigitsModel(params, history, config)


def _check_params(params, config) -> None:
    """Raise ValueError if the weight shapes disagree with ``config``."""
    k, c = config["kernel_size"], config["conv_channels"]
    d = _feature_size(config)
    want = {"w1": (k, k, 1, c), "b1": (c,), "w2": (d, NUM_CLASSES), "b2": (NUM_CLASSES,)}
    for name, shape in want.items():
        if params[name].shape != shape:
            raise ValueError(f"{name} has shape {params[name].shape}, expected {shape}")


def _feature_size(config) -> int:
    """Length of the flattened pooled feature vector for ``config``."""
    h, w = config["image_shape"]
    k, p, s = config["kernel_size"], config["padding"], config["stride"]
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    q = config["pool_size"]
    if ho < 1 or wo < 1 or ho < q or wo < q:
        raise ValueError(
            f"kernel_size={k}, padding={p}, stride={s}, pool_size={q} leave no output for "
            f"{h}x{w} images (conv output {max(ho, 0)}x{max(wo, 0)})"
        )
    return ((ho - q) // q + 1) * ((wo - q) // q + 1) * config["conv_channels"]


# --------------------------------------------------------------------------- the network
class _Net:
    """One forward/backward/update loop over a backend's public layer functions.

    ``batch_size`` (training only) sizes the buffers each batch is gathered into.
    """

    def __init__(self, ops, params: Dict[str, np.ndarray], config: dict, batch_size: Optional[int] = None):
        self.ops = ops
        self.p = params
        self.pad = config["padding"]
        self.stride = config["stride"]
        self.pool_size = config["pool_size"]
        self.max_pool = config["pool"] == "max"
        if self.max_pool:
            self.pool_fwd, self.pool_bwd = ops.maxpool_forward, ops.maxpool_backward
        else:
            self.pool_fwd, self.pool_bwd = ops.avgpool_forward, ops.avgpool_backward
        if batch_size is not None:
            dt = params["w1"].dtype
            h, w = config["image_shape"]
            self.xb = np.empty((batch_size, h, w, 1), dtype=dt)
            self.yb = np.empty(batch_size, dtype=np.int64)
            self.onehot = np.empty((batch_size, NUM_CLASSES), dtype=dt)
            self.eye = np.eye(NUM_CLASSES, dtype=dt)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits of a batch through the backend's layer functions."""
        o = self.ops
        out1, _ = o.conv2d_forward(x, self.p["w1"], self.p["b1"], self.pad, self.stride)
        out1r, _ = o.relu_forward(out1)
        out2, _ = self.pool_fwd(out1r, self.pool_size)
        flat, _ = o.flatten_forward(out2)
        logits, _ = o.dense_forward(flat, self.p["w2"], self.p["b2"])
        return logits

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Argmax of the logits, computed in bounded chunks."""
        out = np.empty(x.shape[0], dtype=np.int64)
        for i in range(0, x.shape[0], _EVAL_CHUNK):
            out[i : i + _EVAL_CHUNK] = self.logits(x[i : i + _EVAL_CHUNK]).argmax(axis=1)
        return out

    def step(self, x_all: np.ndarray, y_all: np.ndarray, idx: np.ndarray, lr: float) -> float:
        """One SGD step on ``x_all[idx]``, ``y_all[idx]`` written layer by layer, as the tutorial
        does (the batch is gathered into the preallocated buffers); returns the batch loss."""
        nb = idx.shape[0]
        xb = np.take(x_all, idx, axis=0, out=self.xb[:nb])
        yb = np.take(y_all, idx, out=self.yb[:nb])
        onehot = np.take(self.eye, yb, axis=0, out=self.onehot[:nb])
        o, p = self.ops, self.p
        out1, c1 = o.conv2d_forward(xb, p["w1"], p["b1"], self.pad, self.stride)
        out1r, c1r = o.relu_forward(out1)
        out2, c2 = self.pool_fwd(out1r, self.pool_size)
        flat, cf = o.flatten_forward(out2)
        logits, c3 = o.dense_forward(flat, p["w2"], p["b2"])
        loss, c4 = o.softmax_crossentropy_forward(logits, onehot)

        dlogits = o.softmax_crossentropy_backward(c4)
        dflat, dw2, db2 = o.dense_backward(dlogits, c3)
        dout2 = o.flatten_backward(dflat, cf)
        dout1r = self.pool_bwd(dout2, c2)
        dout1 = o.relu_backward(dout1r, c1r)
        _, dw1, db1 = o.conv2d_backward(dout1, c1)

        p["w1"] -= lr * dw1
        p["b1"] -= lr * db1
        p["w2"] -= lr * dw2
        p["b2"] -= lr * db2
        return float(loss)


class _FastNet(_Net):
    """The same network and step as one compiled call (:class:`fastconv._digits.Stepper`).

    ReLU and pooling are fused, the dense layer and softmax write into buffers allocated once,
    gradients are formed only where they are non-zero and the first layer's input gradient is
    never computed; ``tests/test_digits.py`` holds it to :meth:`_Net.step` on the public layers.
    """

    def __init__(self, ops, params, config, batch_size: int):
        super().__init__(ops, params, config)
        from ._digits import Stepper

        self.stepper = Stepper(params, config["image_shape"], self.pad, self.stride, self.pool_size,
                               self.max_pool, batch_size)

    def logits(self, x):
        """Logits of a C-contiguous (N, H, W, 1) batch of the parameters' dtype."""
        return self.stepper.logits(x)

    def step(self, x_all, y_all, idx, lr):
        """One SGD step on ``x_all[idx]``, ``y_all[idx]``, read in place by the compiled step."""
        return self.stepper.step(x_all, y_all, lr, idx)


# --------------------------------------------------------------------------- progress bar
class _Progress:
    """A one-line progress bar on a stream, drawn only once a run has taken more than ``delay`` s."""

    def __init__(self, total: int, stream=None, delay: float = 0.5, width: int = 30):
        self.total, self.stream, self.delay, self.width = total, stream or sys.stderr, delay, width
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, done: int) -> None:
        """Redraw (at most ten times a second) with ``done`` steps finished."""
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        filled = int(self.width * done / self.total)
        eta = elapsed / done * (self.total - done) if done else float("nan")
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} steps  {elapsed:5.1f}s  eta {eta:5.1f}s")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the bar (before other output, and at the end)."""
        if self.shown:
            self.stream.write("\r" + " " * (self.width + 48) + "\r")
            self.stream.flush()
            self.shown = False


# --------------------------------------------------------------------------- training
class _Trainer:
    """State of one training run: data in preallocated buffers, the network, the rng."""

    def __init__(self, epochs=10, batch_size=64, lr=0.1, seed=None, backend="fastconv", *,
                 conv_channels=8, kernel_size=3, padding=1, stride=1, pool="max", pool_size=2,
                 dtype="float64", data=None, val_fraction=0.2, num_threads=1, fused=True):
        epochs = _positive_int(epochs, "epochs")
        batch_size = _positive_int(batch_size, "batch_size")
        conv_channels = _positive_int(conv_channels, "conv_channels")
        kernel_size = _positive_int(kernel_size, "kernel_size")
        pool_size = _positive_int(pool_size, "pool_size")
        stride = _positive_int(stride, "stride")
        if isinstance(padding, (bool, np.bool_)) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"padding must be a non-negative int, got {padding!r}")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}; got {backend!r}")
        if pool not in _POOLS:
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"lr must be a positive number, got {lr!r}") from None
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a positive finite number, got {lr!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        if num_threads is not None:
            num_threads = _positive_int(num_threads, "num_threads")
        self.num_threads = num_threads
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")

        if data is None:
            images, labels = load_data(dtype)
        else:
            try:
                images, labels = data
            except (TypeError, ValueError):
                raise TypeError("data must be an (images, labels) pair") from None
            images = _as_images(images, "images", dtype)
            if not np.isfinite(images).all():
                raise ValueError(f"images must be finite; {int((~np.isfinite(images)).sum())} values are NaN or inf")
            labels = np.asarray(labels)
            if labels.dtype.kind not in "iu" or labels.shape != (images.shape[0],):
                raise ValueError(
                    f"labels must be {images.shape[0]} integer class labels, got dtype {labels.dtype} "
                    f"and shape {labels.shape}"
                )
            if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
                raise ValueError(f"labels must be digits 0..9, got values in [{labels.min()}, {labels.max()}]")
        if images.shape[0] < 2:
            raise ValueError(f"need at least 2 images to split into training and validation, got {images.shape[0]}")

        self.config = dict(
            conv_channels=conv_channels, kernel_size=kernel_size, padding=int(padding), stride=stride,
            pool=pool, pool_size=pool_size, image_shape=[int(images.shape[1]), int(images.shape[2])],
            dtype=dtype.name, backend=backend,
            seed=int(seed) if isinstance(seed, (int, np.integer)) else (None if seed is None else repr(seed)),
            epochs=epochs, batch_size=batch_size, lr=lr,
        )
        d = _feature_size(self.config)
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.rng = np.random.default_rng(seed)

        train_idx, val_idx = _split(labels, val_fraction, self.rng)
        if train_idx.size == 0 or val_idx.size == 0:
            raise ValueError(f"{images.shape[0]} images are too few for a {val_fraction:g} validation split")
        # everything the loop touches is allocated here, once
        self.x_all = images[train_idx]
        self.y_all = labels[train_idx].astype(np.int64)
        self.x_val = images[val_idx]
        self.y_val = labels[val_idx]

        k = kernel_size
        w1 = (self.rng.standard_normal((k, k, 1, conv_channels)) * np.sqrt(2.0 / (k * k))).astype(dtype)
        w2 = (self.rng.standard_normal((d, NUM_CLASSES)) * np.sqrt(2.0 / d)).astype(dtype)
        self.params = {"w1": w1, "b1": np.zeros(conv_channels, dtype), "w2": w2, "b2": np.zeros(NUM_CLASSES, dtype)}

        if backend == "reference":
            import fastconv.reference as ops
        else:
            import fastconv as ops
        if backend == "fastconv" and fused:
            self.net: _Net = _FastNet(ops, self.params, self.config, batch_size)
        else:
            self.net = _Net(ops, self.params, self.config, batch_size)
        self.history: List[dict] = []
        self.n_train = self.x_all.shape[0]
        self.steps_per_epoch = -(-self.n_train // batch_size)

    def shuffle(self) -> None:
        """Draw this epoch's order of the training images (nothing of data size is copied)."""
        self.perm = self.rng.permutation(self.n_train)

    def step(self, i: int) -> float:
        """Train on batch ``i`` of the current epoch; returns its loss."""
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.net.step(self.x_all, self.y_all, self.perm[s], self.lr)

    def validate(self) -> float:
        """Validation accuracy of the current weights."""
        return float((self.net.predict(self.x_val) == self.y_val).mean())

    def run(self, progress=False, callback: Optional[Callable[[dict], None]] = None) -> DigitsModel:
        """Train all epochs; report each epoch to ``callback``; return the model."""
        from ._threads import set_num_threads

        bar = _Progress(self.epochs * self.steps_per_epoch) if progress else None
        done = 0
        prev_threads = set_num_threads(self.num_threads) if self.num_threads is not None else None
        try:
            for ep in range(self.epochs):
                self.shuffle()
                total = 0.0
                for i in range(self.steps_per_epoch):
                    nb = min(self.batch_size, self.n_train - i * self.batch_size)
                    total += self.step(i) * nb
                    if bar is not None:
                        done += 1
                        bar.update(done)
                record = {"epoch": ep + 1, "loss": total / self.n_train, "val_acc": self.validate()}
                self.history.append(record)
                if callback is not None:
                    if bar is not None:
                        bar.clear()
                    callback(record)
        finally:
            if prev_threads is not None:
                set_num_threads(prev_threads)
            if bar is not None:
                bar.clear()
        return DigitsModel(self.params, self.history, self.config)


def train(epochs=10, batch_size=64, lr=0.1, seed=None, backend="fastconv", progress=False, *,
          conv_channels=8, kernel_size=3, padding=1, stride=1, pool="max", pool_size=2,
          dtype="float64", data=None, val_fraction=0.2, num_threads=1, callback=None) -> DigitsModel:
    """Train the tutorial's digits CNN with minibatch SGD.

    conv (``kernel_size`` x ``kernel_size``, ``conv_channels`` filters) -> ReLU -> pool
    (``pool_size``, max or avg) -> flatten -> dense (10) -> softmax cross-entropy.
    Weights are He-initialised; all randomness (split, initial weights, batch order) comes from
    one ``np.random.default_rng(seed)`` owned by the run, never from NumPy's global state.

    Parameters
    ----------
    epochs : int, default 10
    batch_size : int, default 64
    lr : float, default 0.1
    seed : int or None, default None
        ``None`` draws fresh entropy. Equal seeds give equal runs on either backend.
    backend : {'fastconv', 'reference'}, default 'fastconv'
        ``'reference'`` runs the same loop on :mod:`fastconv.reference`'s loops (slow).
    progress : bool, default False
        Draw a progress bar on stderr once the run has taken more than half a second.
    conv_channels : int, default 8
    kernel_size : int, default 3
    padding : int, default 1
    stride : int, default 1
        Conv layer settings.
    pool : {'max', 'avg'}, default 'max'
    pool_size : int, default 2
        Pooling window (stride = window).
    dtype : {'float64', 'float32'}, default 'float64'
        Dtype of weights and activations (both backends use the same).
    data : (images, labels), optional
        Images (N, H, W) or (N, H, W, 1) scaled to [0, 1] and integer labels 0..9; defaults to
        :func:`load_data` (scikit-learn's bundled digits, no download).
    val_fraction : float, default 0.2
        Share of each class held out for validation.
    num_threads : int or None, default 1
        Threads for fastconv's kernels during the run (restored afterwards). A batch of 64
        digits is too small for threads to pay, so one is the default; ``None`` keeps the
        current setting (:func:`fastconv.set_num_threads`).
    callback : callable, optional
        Called with each epoch's history record after the epoch.

    Returns
    -------
    DigitsModel
        ``.params``, ``.history``, ``.predict(images)``, ``.save(path)``.

    Examples
    --------
    >>> from fastconv.digits import train
    >>> model = train(epochs=2, seed=0)
    >>> [sorted(r) for r in model.history][0]
    ['epoch', 'loss', 'val_acc']
    >>> sorted(model.params)
    ['b1', 'b2', 'w1', 'w2']
    """
    trainer = _Trainer(epochs, batch_size, lr, seed, backend, conv_channels=conv_channels,
                       kernel_size=kernel_size, padding=padding, stride=stride, pool=pool,
                       pool_size=pool_size, dtype=dtype, data=data, val_fraction=val_fraction,
                       num_threads=num_threads)
    return trainer.run(progress=progress, callback=callback)


# --------------------------------------------------------------------------- figure
def _require_matplotlib():
    """Import matplotlib with the Agg backend, or raise ImportError with the install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'fastconv[plot]'") from None
    return plt


def plot(model: DigitsModel, image: np.ndarray, path, label=None) -> None:
    """Write a PNG: loss and accuracy curves, the learned filters, the feature maps of ``image``.

    Parameters
    ----------
    model : DigitsModel
    image : array_like, shape (H, W) or (H, W, 1)
        One digit, scaled as in training.
    path : str or os.PathLike
    label : int, optional
        Its true digit, shown in the title.
    """
    plt = _require_matplotlib()
    w1 = model.params["w1"]
    c = w1.shape[3]
    maps = model.feature_maps(image)
    fig = plt.figure(figsize=(2.0 * max(c, 4), 7.5), constrained_layout=True)
    grid = fig.add_gridspec(3, c)
    epochs = [r["epoch"] for r in model.history]
    ax = fig.add_subplot(grid[0, : max(1, c // 2)])
    ax.plot(epochs, [r["loss"] for r in model.history], "o-")
    ax.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax = fig.add_subplot(grid[0, max(1, c // 2):] if c > 1 else grid[0, 0])
    ax.plot(epochs, [r["val_acc"] for r in model.history], "o-", color="tab:green")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy", ylim=(0, 1))
    ax.xaxis.get_major_locator().set_params(integer=True)
    lim = float(np.abs(w1).max()) or 1.0
    for j in range(c):
        ax = fig.add_subplot(grid[1, j])
        ax.imshow(w1[:, :, 0, j], cmap="bwr", vmin=-lim, vmax=lim)
        ax.set_title(f"filter {j}", fontsize=9)
        ax.axis("off")
        ax = fig.add_subplot(grid[2, j])
        ax.imshow(maps[:, :, j], cmap="gray")
        ax.set_title(f"map {j}", fontsize=9)
        ax.axis("off")
    title = "digits CNN" + (f": feature maps of a {label}" if label is not None else "")
    fig.suptitle(title)
    fig.savefig(os.fspath(path), dpi=80)
    plt.close(fig)


# --------------------------------------------------------------------------- command line
class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises instead of exiting, so ``main`` returns an exit code."""

    def error(self, message):
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m fastconv digits",
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
    """Raise ValueError if ``path`` cannot be written (missing directory, directory given)."""
    parent = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a directory")
    if not os.path.isdir(parent):
        raise ValueError(f"{what} {path!r}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{what} {path!r}: directory {parent!r} is not writable")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m fastconv digits``: train, print one line per epoch, optionally save and plot.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after ``digits``; defaults to ``sys.argv[2:]``.

    Returns
    -------
    int
        0 on success, 2 on a usage error, 1 when a file cannot be written.

    Examples
    --------
    >>> from fastconv.digits import main
    >>> main(["--epochs", "1", "--quiet"])
    0
    """
    argv = list(sys.argv[2:] if argv is None else argv)
    prog = "fastconv digits"
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"{prog}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        if args.save:
            _check_writable(args.save, "--save")
        if args.plot:
            _check_writable(args.plot, "--plot")
            _require_matplotlib()
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
    except (ValueError, TypeError, ImportError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
