"""The 3x3 stride-2 transposed convolution on its output phases by Winograd, against the direct rows
it runs on: per pass, float32, 2 threads, calls alternating in one process.

Run: ``PYTHONPATH=. python bench/tconv3x3_phases_interleaved.py [rounds]``. The layer is the
benchmarked one (N16 28x28x128 -> 56x56x64, stride 2, padding 1, output padding 1).

The phase form measured here: with a zero fourth row and column of taps the layer is the 4x4
stride-2 layer of the phase route (``fastconv.conv_transpose``), whose phases (0, 0), (0, 1),
(1, 0) and (1, 1) then have 4, 2, 2 and 1 nonzero taps of the 2x2 kernel. The first three are one
2x2 convolution of x with ``3 * Cout`` outputs by Winograd (F(5x5, 2x2) in the forward and dx,
F(3x3, 2x2) in dw; :mod:`fastconv._winograd`), copied into y by ``phases_to_output_kernel`` from
three-phase planes; the one-tap phase is a 1x1 convolution
``x @ w[1, 1]`` on the conv2d kernels, written into every second row and column of y. Backward:
dy gathered into the planes, dx the 2x2 convolution's input gradient plus the 1x1's, dw read off
the 2x2 kernel's gradient with ``w[1, 1]``'s from the 1x1 layer, db the sum of dy.
That is 0.59 of the direct rows' multiplies (F(5x5, 2x2): 1.44 per output instead of 2 or 4).

Each form is checked against the direct rows (the public API) before it is timed. Prints the
p25, median and p75 (ms) of each pass: forward, dx (with the gather of dy), dw+db. The direct
forward is the public call (its argument checks and cache included); the direct dx and dw+db are
the passes ``conv_transpose2d_backward`` runs; the phase passes are the functions below alone.
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
import fastconv.conv_transpose as ct
from fastconv import _conv_layer, _conv_transpose, _outpool, _winograd
from fastconv._scratch import scratch

N, H, W, CIN, COUT = 16, 28, 28, 128, 64
F32 = np.dtype(np.float32)
NONE = ((0, 0), (0, 0))
ONE = (1, 1)


def phase_weights3(w):
    """The 2x2 kernel (2, 2, Cin, 3 * Cout) of phases (0, 0), (0, 1), (1, 0) of the 3x3 kernel w."""
    w4 = np.zeros((4, 4) + w.shape[2:], dtype=w.dtype)
    w4[:3, :3] = w
    return np.ascontiguousarray(ct._phase_weights(w4)[..., :3 * w.shape[2]])


def forward(x, w, b, nt):
    z = scratch("bench.z", (N, H + 1, W + 1, 3 * COUT), np.float32)
    _winograd.winograd_forward(x, phase_weights3(w), np.tile(b, 3), 1, 1, z, nt, 5)
    y = _outpool.empty((N, 2 * H, 2 * W, COUT), np.float32)
    _conv_transpose.phases_to_output_kernel(z, y, 1, 1, nt)
    w11 = np.ascontiguousarray(w[1, 1].T).reshape(1, 1, CIN, COUT)
    y[:, 0::2, 0::2] = _conv_layer.layer_forward(x, w11, b, NONE, ONE, ONE, 1, F32)[0]
    return y


def gather(dy, nt):
    dz = scratch("bench.dz", (N, H + 1, W + 1, 3 * COUT), np.float32)
    _conv_transpose.output_to_phases_kernel(dy, dz, 1, 1, nt)
    return dz, np.ascontiguousarray(dy[:, 0::2, 0::2])


def backward_input(x, w, dy, nt):
    dz3, dz11 = gather(dy, nt)
    dx = np.empty_like(x)
    _winograd.winograd_backward_input(dz3, phase_weights3(w), 1, 1, dx, nt, 5)
    w11 = np.ascontiguousarray(w[1, 1]).reshape(1, 1, COUT, CIN)
    dx += _conv_layer.layer_forward(dz11, w11, None, NONE, ONE, ONE, 1, F32)[0]
    return dx


def backward_weights(x, w, dy, nt):
    dz3, dz11 = gather(dy, nt)
    dk = np.zeros((2, 2, CIN, 4 * COUT), np.float32)  # phase (1, 1)'s block stays zero
    dk3 = np.empty((2, 2, CIN, 3 * COUT), np.float32)
    _winograd.winograd_backward_weights(x, dz3, 1, 1, dk3, nt, 3)
    dk[..., :3 * COUT] = dk3
    # dw[r + 2 - 2i, s + 2 - 2j, co, c] = dk[i, j, c, (r, s, co)], as fastconv.conv_transpose._phase_dw
    dw = np.ascontiguousarray(dk.reshape(2, 2, CIN, 2, 2, COUT)[::-1, ::-1].transpose(0, 3, 1, 4, 5, 2)
                              .reshape(4, 4, COUT, CIN)[:3, :3])
    dw[1, 1] = _conv_layer.layer_weight_grad(dz11, x, (1, 1, COUT, CIN), NONE, ONE, ONE, 1, F32)[0, 0]
    return dw, ct._bias_grad(dy)


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
