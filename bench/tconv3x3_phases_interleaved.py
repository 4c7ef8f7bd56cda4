"""The 3x3 stride-2 transposed convolution on its output phases by Winograd, against the direct rows
it runs on: per pass, float32, 2 threads, calls alternating in one process.

Run: ``PYTHONPATH=. python bench/tconv3x3_phases_interleaved.py [rounds]``. The layer is the
benchmarked one (N16 28x28x128 -> 56x56x64, stride 2, padding 1, output padding 1).

The phase form measured here: the layer's output phases (row and column parity of y) have 4, 2,
2 and 1 taps. The first three, y's (odd, odd), (odd, even) and (even, odd) pixels, are one 2x2
convolution of x (padding 1) with ``3 * Cout`` outputs by Winograd F(5x5, 2x2) in the forward and
dx, F(3x3, 2x2) in dw (:mod:`fastconv._winograd`), its output read and written in place in y / dy
through a phase view (``y_phases`` / ``dy_phases``: no phase planes, no copies); the one-tap phase,
y's (even, even) pixels, is a 1x1 convolution ``x @ w[1, 1]`` on the conv2d kernels, written into
every second row and column of y. Backward: dx is the 2x2 convolution's input gradient plus the
1x1's (a stride-2 1x1 convolution of dy), dw is read off the 2x2 kernel's gradient with
``w[1, 1]``'s from the 1x1 layer's, db the sum of dy (the three phases' sums from the weight pass,
plus the one-tap phase's pixels). That is 0.59 of the direct rows' multiplies (F(5x5, 2x2): 1.44
per output instead of 2 or 4).

Each form is checked against the direct rows (the public API) before it is timed. Prints the
p25, median and p75 (ms) of each pass: forward, dx, dw+db. The direct
forward is the public call (its argument checks and cache included); the direct dx and dw+db are
the passes ``conv_transpose2d_backward`` runs; the phase passes are the functions below alone.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
import fastconv.conv_transpose as ct
from fastconv import _conv_layer, _outpool, _winograd

N, H, W, CIN, COUT = 16, 28, 28, 128, 64
F32 = np.dtype(np.float32)
NONE = ((0, 0), (0, 0))
ONE = (1, 1)


# the phase view of the three phases: 2x2 convolution pixel (t, u) of (H + 1, W + 1) is y's
# (2t - 1, 2u - 1), (2t - 1, 2u) and (2t, 2u - 1)
VIEW = (H + 1, W + 1, ((-1, -1), (-1, 0), (0, -1)))


def phase_weights3(w):
    """The 2x2 kernel (2, 2, Cin, 3 * Cout) of the three phases of VIEW: tap (a, b) of y's
    (odd, odd) phase is ``w[2 - 2a, 2 - 2b]``, of (odd, even) ``w[2 - 2a, 1]`` at b = 1, of
    (even, odd) ``w[1, 2 - 2b]`` at a = 1 (transposed to (Cin, Cout)); the other taps are zeros."""
    k = np.zeros((2, 2, CIN, 3 * COUT), dtype=w.dtype)
    for a in range(2):
        for c in range(2):
            k[a, c, :, :COUT] = w[2 - 2 * a, 2 - 2 * c].T
        k[a, 1, :, COUT:2 * COUT] = w[2 - 2 * a, 1].T
        k[1, a, :, 2 * COUT:] = w[1, 2 - 2 * a].T
    return k


def forward(x, w, b, nt):
    y = _outpool.empty((N, 2 * H, 2 * W, COUT), np.float32)
    _winograd.winograd_forward(x, phase_weights3(w), np.tile(b, 3), 1, 1, y, nt, 5, y_phases=VIEW)
    w11 = np.ascontiguousarray(w[1, 1].T).reshape(1, 1, CIN, COUT)
    y[:, 0::2, 0::2] = _conv_layer.layer_forward(x, w11, b, NONE, ONE, ONE, 1, F32)[0]
    return y


def backward_input(x, w, dy, nt):
    dx = np.empty_like(x)
    _winograd.winograd_backward_input(dy, phase_weights3(w), 1, 1, dx, nt, 5, dy_phases=VIEW)
    w11 = np.ascontiguousarray(w[1, 1]).reshape(1, 1, COUT, CIN)
    dx += _conv_layer.layer_forward(dy, w11, None, NONE, (2, 2), ONE, 1, F32)[0]
    return dx


def backward_weights(x, w, dy, nt):
    dk = np.empty((2, 2, CIN, 3 * COUT), np.float32)
    db3 = np.empty(3 * COUT)
    _winograd.winograd_backward_weights(x, dy, 1, 1, dk, nt, 3, db=db3, dy_phases=VIEW)
    dw = np.empty((3, 3, COUT, CIN), np.float32)
    for a in range(2):
        for c in range(2):
            dw[2 - 2 * a, 2 - 2 * c] = dk[a, c, :, :COUT].T
        dw[2 - 2 * a, 1] = dk[a, 1, :, COUT:2 * COUT].T
        dw[1, 2 - 2 * a] = dk[1, a, :, 2 * COUT:].T
    dy11 = dy[:, 0::2, 0::2]
    dw[1, 1] = _conv_layer.layer_weight_grad(dy, x, (1, 1, COUT, CIN), NONE, (2, 2), ONE, 1, F32)[0, 0]
    db = db3.reshape(3, COUT).sum(0) + dy11.sum((0, 1, 2), dtype=np.float64)
    return dw, db.astype(np.float32)


def main(rounds=20):
    fastconv.set_num_threads(2)
    nt = 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, CIN), dtype=np.float32)
    w = (rng.standard_normal((3, 3, COUT, CIN)) * 0.05).astype(np.float32)
    b = rng.standard_normal(COUT).astype(np.float32)
    dy = rng.standard_normal((N, 2 * H, 2 * W, COUT), dtype=np.float32)
    assert not ct._phase_route(x.shape, w.shape, (2, 2), (1, 1), (1, 1), 1, (1, 1))  # the direct rows
    y, cache = fastconv.conv_transpose2d_forward(x, w, b, stride=2, padding=1, output_padding=1)
    want = (y,) + fastconv.conv_transpose2d_backward(dy, cache)
    got = (forward(x, w, b, nt), backward_input(x, w, dy, nt)) + backward_weights(x, w, dy, nt)
    for name, g, e in zip(("y", "dx", "dw", "db"), got, want):
        err = np.abs(g.astype(np.float64) - e).max() / np.abs(e).max()
        assert err < 1e-4, (name, err)
        print(f"phases against the direct rows: {name} max |error| / max |value| {err:.1e}")
    padding = ((1, 1), (1, 1))  # dy as the input of the conv2d whose input gradient the forward is
    fns = {
        "fwd    phases": lambda: forward(x, w, b, nt),
        "fwd    direct": lambda: fastconv.conv_transpose2d_forward(x, w, b, stride=2, padding=1, output_padding=1),
        "dx     phases": lambda: backward_input(x, w, dy, nt),
        "dx     direct": lambda: _conv_layer.layer_forward(dy, w, None, padding, (2, 2), ONE, 1, F32),
        "dw+db  phases": lambda: backward_weights(x, w, dy, nt),
        "dw+db  direct": lambda: (_conv_layer.layer_weight_grad(dy, x, w.shape, padding, (2, 2), ONE, 1, F32),
                                  ct._bias_grad(dy)),
    }
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    print(f"3x3 stride-2 transposed N16 28x28x128 -> 56x56x64, 2 threads, {rounds} rounds: p25 / median / p75 (ms)")
    for k, v in times.items():
        q = np.percentile(np.array(v) * 1e3, [25, 50, 75])
        print(f"  {k}  {q[0]:6.2f} / {q[1]:6.2f} / {q[2]:6.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
