"""Winograd's per-position products by the register-blocked kernel against BLAS, calls alternating.

Run: ``PYTHONPATH=. python bench/winograd_products_interleaved.py [--dw] [--float64] [rounds]
[N,H,C,Cout ...]`` (default: 9 rounds; the medium, N16 32x32 32->32, large and N8 32x32 128->128
layers; square H x H images, 3x3, padding 1, float32 unless ``--float64``).

For each layer, one round times, in a rotating order, the forward (``conv2d_forward(...,
algorithm="winograd")``) on 1 and on 2 threads and the forward plus backward on 2 threads, each with
``fastconv._winograd.set_ungrouped_gmul(False)`` (BLAS) and ``(True)`` (the grouped layers'
register-blocked kernel, one group); prints the medians and the ratio register-blocked / BLAS: the
figures behind ``fastconv._winograd._UNGROUPED_GMUL_AT``. The two settings' results are checked to
agree (to Winograd's float32 rounding) first. Use ``FASTCONV_SIMD=baseline`` (or another level) to
measure a lower level.

``--dw``: the weight gradient instead (``conv2d_backward(..., compute_dx=False)`` on a Winograd
layer, 2 threads): Winograd's with BLAS products, Winograd's with the register-blocked ones (its
choice forced with ``conv._winograd_dw_pays``) and the direct kernels', alternating; prints the
medians and the ratios behind ``conv._WINOGRAD_DW_MIN_CHANNELS_AT`` (results checked to agree first).
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv
from fastconv import _winograd as wg
from fastconv import conv

LAYERS = [(32, 32, 16, 32), (16, 32, 32, 32), (8, 64, 64, 64), (8, 32, 128, 128)]


def weight_grad(rounds, layers, dtype):
    """The --dw measurement (see the module docstring)."""
    real = conv._winograd_dw_pays
    default = wg.ungrouped_gmul()
    try:
        for n, h, c, cout in layers:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, h, h, c)).astype(dtype)
            w = (rng.standard_normal((3, 3, c, cout)) / np.sqrt(9 * c)).astype(dtype)
            dy = rng.standard_normal((n, h, h, cout)).astype(dtype)
            _, cache = fastconv.conv2d_forward(x, w, np.zeros(cout, dtype), 1, algorithm="winograd")

            def call(winograd, on):
                conv._winograd_dw_pays = lambda *a, **k: winograd
                wg.set_ungrouped_gmul(on)
                try:
                    return fastconv.conv2d_backward(dy, cache, compute_dx=False)[1]
                finally:
                    conv._winograd_dw_pays = real

            keys = {"wino-blas": (True, False), "wino-gmul": (True, True), "direct": (False, default)}
            ref = call(*keys["direct"])
            for k in keys:
                assert np.abs(call(*keys[k]) - ref).max() <= 1e-4 * np.abs(ref).max(), k
            times = {k: [] for k in keys}
            order = list(keys)
            for r in range(rounds):
                for k in order[r % 3:] + order[:r % 3]:
                    t0 = time.perf_counter()
                    call(*keys[k])
                    times[k].append(time.perf_counter() - t0)
            m = {k: np.median(v) * 1e3 for k, v in times.items()}
            print(f"N{n} {h}x{h} {c}->{cout} {np.dtype(dtype).name} dw: Winograd with BLAS {m['wino-blas']:.2f} ms, "
                  f"with the register-blocked kernel {m['wino-gmul']:.2f} ms, direct {m['direct']:.2f} ms; "
                  f"Winograd/direct {m['wino-blas'] / m['direct']:.2f} (BLAS), {m['wino-gmul'] / m['direct']:.2f} "
                  f"(register-blocked)", flush=True)
    finally:
        wg.set_ungrouped_gmul(default)


def main(argv):
    dw = "--dw" in argv
    dtype = np.float64 if "--float64" in argv else np.float32
    argv = [a for a in argv if a not in ("--dw", "--float64")]
    rounds = int(argv[0]) if argv else 9
    layers = [tuple(int(v) for v in a.split(",")) for a in argv[1:]] or LAYERS
    default = wg.ungrouped_gmul()
    print(f"SIMD {wg.simd_path()}; the level's default: {'register-blocked' if default else 'BLAS'}")
    if dw:
        return weight_grad(rounds, layers, dtype)
    try:
        for n, h, c, cout in layers:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, h, h, c)).astype(dtype)
            w = (rng.standard_normal((3, 3, c, cout)) / np.sqrt(9 * c)).astype(dtype)
            b = np.zeros(cout, dtype)
            dy = rng.standard_normal((n, h, h, cout)).astype(dtype)
            ys = []
            for on in (False, True):
                wg.set_ungrouped_gmul(on)
                ys.append(fastconv.conv2d_forward(x, w, b, 1, algorithm="winograd")[0])
            assert np.abs(ys[1] - ys[0]).max() <= 1e-4 * np.abs(ys[0]).max()

            def call(on, nt, whole):
                wg.set_ungrouped_gmul(on)
                fastconv.set_num_threads(nt)
                t0 = time.perf_counter()
                y, cache = fastconv.conv2d_forward(x, w, b, 1, algorithm="winograd")
                if whole:
                    fastconv.conv2d_backward(dy, cache)
                return time.perf_counter() - t0

            keys = [(on, nt, whole) for whole, nt in ((False, 1), (False, 2), (True, 2)) for on in (False, True)]
            times = {k: [] for k in keys}
            for k in keys:
                call(*k)
            for r in range(rounds):
                for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                    times[k].append(call(*k))
            print(f"N{n} {h}x{h} {c}->{cout}:")
            for whole, nt in ((False, 1), (False, 2), (True, 2)):
                blas = np.median(times[(False, nt, whole)]) * 1e3
                gmul = np.median(times[(True, nt, whole)]) * 1e3
                what = "fwd+bwd" if whole else "forward"
                print(f"  {what}, {nt} thread(s): BLAS {blas:.2f} ms, register-blocked {gmul:.2f} ms, "
                      f"ratio {gmul / blas:.2f}", flush=True)
    finally:
        wg.set_ungrouped_gmul(default)
        fastconv.set_num_threads(None)


if __name__ == "__main__":
    main(sys.argv[1:])
