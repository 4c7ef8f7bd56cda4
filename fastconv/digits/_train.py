"""Training: the state of one run (:class:`_Trainer`) and :func:`train`."""
from __future__ import annotations

import math
from typing import Callable, List, Optional

import numpy as np

from ._data import NUM_CLASSES, _as_images, _split, load_data
from ._model import DigitsModel, _feature_size
from ._net import _FastNet, _Net
from ._progress import _Progress

_BACKENDS = ("fastconv", "reference")
_POOLS = ("max", "avg")


def _positive_int(value, name: str) -> int:
    """``value`` as an int >= 1, or a ValueError/TypeError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class _Trainer:
    """State of one training run: data in preallocated buffers, the network, the rng.

    The fastconv backend runs each step as one compiled call (:class:`_FastNet`);
    ``layer_by_layer=True`` (for tests and benchmarks) runs it layer by layer over the backend's
    public functions instead (:class:`_Net`), as the reference backend always does.
    """

    def __init__(self, epochs=10, batch_size=64, lr=0.1, seed=None, backend="fastconv", *,
                 conv_channels=8, kernel_size=3, padding=1, stride=1, pool="max", pool_size=2,
                 dtype="float64", data=None, val_fraction=0.2, num_threads=1, layer_by_layer=False):
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
        if backend == "fastconv" and not layer_by_layer:
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
        from .._threads import set_num_threads

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
        Threads for fastconv's kernels during the run (restored afterwards); ``None`` keeps the
        current setting (:func:`fastconv.set_num_threads`). The fastconv backend's compiled
        step runs on one thread whatever this is: a step of a 64-image batch is about 0.84 M
        multiply-adds, below the 1 M at which fastconv's conv kernels start using threads (waking
        them costs more than such a call saves), so the thread count changes neither the
        results nor the speed of the default network.
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
