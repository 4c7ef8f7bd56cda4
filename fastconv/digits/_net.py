"""The network: one forward/backward/update loop over a backend's public layers, and the same step as
one compiled call (:class:`fastconv._digits.Stepper`)."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ._data import NUM_CLASSES

_EVAL_CHUNK = 1024  # evaluation/prediction batch: memory stays bounded for any data size


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
        _, dw1, db1 = o.conv2d_backward(dout1, c1, compute_dx=False)  # the first layer needs no dx

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
        from .._digits import Stepper

        self.stepper = Stepper(params, config["image_shape"], self.pad, self.stride, self.pool_size,
                               self.max_pool, batch_size)

    def logits(self, x):
        """Logits of a C-contiguous (N, H, W, 1) batch of the parameters' dtype."""
        return self.stepper.logits(x)

    def step(self, x_all, y_all, idx, lr):
        """One SGD step on ``x_all[idx]``, ``y_all[idx]``, read in place by the compiled step."""
        return self.stepper.step(x_all, y_all, lr, idx)
