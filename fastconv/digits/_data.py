"""The digits data: scikit-learn's bundled ``load_digits`` images, image checks and the stratified split."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

NUM_CLASSES = 10


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
