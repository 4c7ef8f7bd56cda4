"""The trained model: :class:`DigitsModel`, its ``.npz`` file format and :func:`load`."""
from __future__ import annotations

import json
import os
from typing import Dict, List

import numpy as np

from ._data import NUM_CLASSES, _as_images
from ._net import _Net

_FORMAT = "fastconv.digits/1"


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
            # (mypy: a ``**`` dict of arrays could also fill savez's bool ``allow_pickle`` keyword)
            np.savez(fh, __meta__=np.array(meta), **self.params)  # type: ignore[arg-type]


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
