"""conv1d's 1-D Winograd path (fastconv._conv1d_winograd) measured two ways, calls interleaved.

``python bench/conv1d_winograd_interleaved.py rule [rounds] [N,L,C,Cout,K ...]``
    fwd+bwd through :func:`fastconv.conv1d_forward` / :func:`fastconv.conv1d_backward` ('same'
    padding, float32) with the Winograd path forced on and off (``onedim._WINOGRAD_MIN_CHANNELS``
    and ``_WINOGRAD_NARROW_MIN_MACS`` set so that the layer takes it or the conv2d kernels), the
    two settings alternating call by call; prints both medians, their ratio (Winograd / conv2d
    kernels: below 1, Winograd pays) and whether "auto" takes Winograd for the layer.
    Default layers: the ones behind the rule in ``onedim.py``.

``python bench/conv1d_winograd_interleaved.py transforms [rounds]``
    The k5 benchmark layer (N32 L1024 64->64) on the kernels themselves: the forward kernel and
    the weight-gradient kernel with the compiled transforms (the wrapper's matrices) and with the
    general 8 x 8 loop on the same matrices (``general=True``), alternating.

``python bench/conv1d_winograd_interleaved.py gmul [rounds] [N,L,C,Cout,K ...]``
    fwd+bwd through the API on the Winograd path with its per-position products by BLAS and by the
    register-blocked kernel (``fastconv._winograd.set_ungrouped_gmul``, which ``onedim._gmul``
    reads), alternating; prints both medians and their ratio (register-blocked / BLAS), after
    checking that the two agree to Winograd's rounding. Default layers: the benchmark's k5 layer
    (N32 L1024 64->64), the rule's 32-channel layers and a wide one (N8 L1024 256->256 k3).

2 threads (fastconv's default here); medians and quartiles in ms.
"""
from __future__ import annotations

import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _conv1d_winograd as cw
from fastconv import _winograd, onedim

LAYERS = [(32, 1024, 32, 32, 5), (32, 1024, 32, 32, 3), (32, 1024, 32, 48, 5), (4, 4096, 32, 32, 3),
          (16, 512, 32, 32, 3), (16, 256, 32, 32, 5), (32, 1024, 24, 24, 5), (32, 1024, 40, 40, 5),
          (32, 1024, 16, 16, 5), (2, 128, 64, 64, 5), (4, 128, 64, 64, 3), (8, 256, 64, 64, 5)]


def _q(v):
    return np.percentile(np.asarray(v) * 1e3, [50, 25, 75])


def _layer(rng, n, length, c, cout, k):
    """(x, w, b, dy) of a float32 'same' layer, standard-normal (w scaled by 1/sqrt(k*c)), zero bias."""
    x = rng.standard_normal((n, length, c), dtype=np.float32)
    w = (rng.standard_normal((k, c, cout)) / np.sqrt(k * c)).astype(np.float32)
    dy = rng.standard_normal((n, length, cout), dtype=np.float32)
    return x, w, np.zeros(cout, np.float32), dy


def rule(rounds: int, layers) -> None:
    keep = onedim._WINOGRAD_MIN_CHANNELS, onedim._WINOGRAD_NARROW_MIN_MACS
    rng = np.random.default_rng(0)
    try:
        for n, length, c, cout, k in layers:
            x, w, b, dy = _layer(rng, n, length, c, cout, k)
            onedim._WINOGRAD_MIN_CHANNELS, onedim._WINOGRAD_NARROW_MIN_MACS = keep
            auto = fastconv.conv1d_forward(x, w, b, padding="same")[1].plan.family
            times = {True: [], False: []}
            for r in range(rounds):
                for wino in ((True, False) if r % 2 else (False, True)):
                    onedim._WINOGRAD_MIN_CHANNELS = 1 if wino else 1 << 30
                    onedim._WINOGRAD_NARROW_MIN_MACS = 0 if wino else 1 << 62
                    t0 = time.perf_counter()
                    y, cache = fastconv.conv1d_forward(x, w, b, padding="same")
                    fastconv.conv1d_backward(dy, cache)
                    times[wino].append(time.perf_counter() - t0)
                    assert (cache.plan.family == "winograd1d") == wino
            a, d = _q(times[True]), _q(times[False])
            print(f"N{n} L{length} {c}->{cout} k{k}: Winograd {a[0]:.3f} [{a[1]:.3f}-{a[2]:.3f}]  conv2d kernels "
                  f"{d[0]:.3f} [{d[1]:.3f}-{d[2]:.3f}]  ratio {a[0] / d[0]:.2f}  auto: {auto}", flush=True)
    finally:
        onedim._WINOGRAD_MIN_CHANNELS, onedim._WINOGRAD_NARROW_MIN_MACS = keep


def gmul(rounds: int, layers) -> None:
    rng = np.random.default_rng(0)
    keep = _winograd.ungrouped_gmul()
    try:
        for n, length, c, cout, k in layers:
            x, w, b, dy = _layer(rng, n, length, c, cout, k)

            def call(on):
                _winograd.set_ungrouped_gmul(on)
                y, cache = fastconv.conv1d_forward(x, w, b, padding="same")
                assert cache.plan.family == "winograd1d" and onedim._gmul(cout, x.dtype) is on
                return (y,) + fastconv.conv1d_backward(dy, cache)

            for a, r in zip(call(True), call(False)):
                assert np.abs(a - r).max() <= 1e-5 * max(1.0, float(np.abs(r).max()))
            times = {True: [], False: []}
            for r in range(rounds):
                for on in ((True, False) if r % 2 else (False, True)):
                    t0 = time.perf_counter()
                    call(on)
                    times[on].append(time.perf_counter() - t0)
            a, d = _q(times[True]), _q(times[False])
            print(f"N{n} L{length} {c}->{cout} k{k}: register-blocked {a[0]:.3f} [{a[1]:.3f}-{a[2]:.3f}]  BLAS "
                  f"{d[0]:.3f} [{d[1]:.3f}-{d[2]:.3f}]  ratio {a[0] / d[0]:.2f}", flush=True)
    finally:
        _winograd.set_ungrouped_gmul(keep)


def transforms(rounds: int) -> None:
    rng = np.random.default_rng(0)
    n, length, c, cout, k = 32, 1024, 64, 64, 5
    m = 9 - k
    x = rng.standard_normal((n, length, c), dtype=np.float32)
    dy = rng.standard_normal((n, length, cout), dtype=np.float32)
    bt, at, _ = onedim.winograd_transforms(k)
    a8 = np.zeros((8, 8))
    a8[:, :m] = at.T
    bt, at, a8 = (a.astype(np.float32) for a in (bt, at, a8))
    gu = rng.standard_normal((8, c, cout)).astype(np.float32)
    y = np.empty((n, length, cout), np.float32)
    nparts = min(onedim._WINOGRAD_DW_PARTS, -(-n * -(-length // m) // onedim._WINOGRAD_TILES))
    parts, dbp = np.empty((nparts, 8, c, cout), np.float32), np.empty((nparts, cout))
    nt = fastconv.get_num_threads()
    none = np.zeros(0, np.float32)
    calls = {}
    for general in (False, True):
        calls["forward", general] = lambda g=general: cw.winograd1d_kernel(
            x, gu, none, y, bt, at, 2, onedim._WINOGRAD_TILES, nt, g)
        calls["weight grad", general] = lambda g=general: cw.winograd1d_weight_grad_kernel(
            x, dy, parts, bt, a8, m, 2, onedim._WINOGRAD_TILES, nt, dbp, g)
    times = {key: [] for key in calls}
    for r in range(rounds):
        for key in (list(calls) if r % 2 else list(calls)[::-1]):
            calls[key]()
            t0 = time.perf_counter()
            calls[key]()
            times[key].append(time.perf_counter() - t0)
    for what in ("forward", "weight grad"):
        a, g = _q(times[what, False]), _q(times[what, True])
        print(f"N{n} L{length} {c}->{cout} k{k} {what}: compiled {a[0]:.3f} [{a[1]:.3f}-{a[2]:.3f}]  general "
              f"{g[0]:.3f} [{g[1]:.3f}-{g[2]:.3f}]  ratio {a[0] / g[0]:.2f}")


def main(argv) -> None:
    if not argv or argv[0] not in ("rule", "transforms", "gmul"):
        raise SystemExit(__doc__)
    rounds = int(argv[1]) if len(argv) > 1 else 15
    layers = [tuple(int(v) for v in a.split(",")) for a in argv[2:]]
    if argv[0] == "rule":
        rule(rounds, layers or LAYERS)
    elif argv[0] == "gmul":
        gmul(rounds, layers or [(32, 1024, 64, 64, 5), (32, 1024, 32, 32, 5), (32, 1024, 32, 32, 3),
                                (4, 4096, 32, 32, 3), (8, 1024, 256, 256, 3)])
    else:
        transforms(rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
