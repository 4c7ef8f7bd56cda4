"""The training figure: loss and accuracy curves, the learned filters and one digit's feature maps."""
from __future__ import annotations

import os

import numpy as np

from ._model import DigitsModel


def _require_matplotlib():
    """Import matplotlib with the Agg backend, or raise ImportError with the install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("fastconv.digits.plot needs matplotlib: pip install 'fastconv[plot]'") from None
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
