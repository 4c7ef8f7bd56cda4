"""fastconv right after a multi-threaded NumPy (OpenBLAS) call, against after a pause.

OpenBLAS's worker threads spin for a while after each multi-threaded call; on a small machine they
hold the cores fastconv's OpenMP threads need. Each round runs a 1024^2 float32 matmul, sleeps
0 / 1 / 10 / 50 / 300 ms, then times one ``conv2d_forward`` of the stride-2 benchmark layer
(N16 56x56x64->128, float32); then the same call after 0.3 s with no matmul before it. Prints the
medians over the rounds. Compare runs with and without ``OPENBLAS_THREAD_TIMEOUT=4`` in the
environment (the exponent of OpenBLAS's spin time, in cycles).

    PYTHONPATH=. python bench/blas_spin_interleaved.py [rounds]
"""
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

import fastconv

GAPS = (0.0, 0.001, 0.01, 0.05, 0.3)


def main(rounds: int = 9) -> None:
    rng = np.random.default_rng(0)
    a = rng.random((1024, 1024), dtype=np.float32)
    x = rng.standard_normal((16, 56, 56, 64), dtype=np.float32)
    w = (rng.standard_normal((3, 3, 64, 128)) / 24).astype(np.float32)
    b = np.zeros(128, np.float32)
    times = {g: [] for g in GAPS + ("no matmul",)}
    for _ in range(rounds):
        for gap in GAPS:
            a @ a
            if gap:
                time.sleep(gap)
            t0 = time.perf_counter()
            fastconv.conv2d_forward(x, w, b, 1, 2)
            times[gap].append(time.perf_counter() - t0)
        time.sleep(0.3)
        t0 = time.perf_counter()
        fastconv.conv2d_forward(x, w, b, 1, 2)
        times["no matmul"].append(time.perf_counter() - t0)
    for key, ts in times.items():
        label = key if isinstance(key, str) else f"{key * 1e3:g} ms after the matmul"
        print(f"{label:>26}: {np.median(ts) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
