"""Useful GFLOP/s of the conv kernels (forward, dx, dw) against OpenBLAS sgemm, per SIMD level.

Run: ``python bench/yardstick_interleaved.py [--algorithm NAME] [rounds] [processes] [levels...]``
(defaults: the direct kernels, 7 rounds, 3 processes per level, every level of
``fastconv._simd.SIMD_LEVELS`` from avx2 up); ``--algorithm auto`` (or "winograd") times what
``conv2d_forward`` picks (Winograd on both layers here), still counting the direct FLOPs.

The kernel level is fixed once per process (``FASTCONV_SIMD``), so the levels are compared in child
processes that alternate (avx2, avx512, avx2, avx512, ...); inside each child the forward, the
backward without dx (dw, db), the full backward (dx, dw, db) and sgemm (numpy float32 2048^2 matmul)
alternate call by call, on 1 thread and on 2 threads, with a pause after each sgemm call (``BLAS_PAUSE``). dx is timed as the full backward minus the
backward without dx. Useful FLOPs: 2*N*Ho*Wo*Cout*Kh*Kw*C per pass. Prints medians over all rounds
of all processes of a level, with the spread (min-max of the per-process medians), the fraction of
sgemm's GFLOP/s on as many threads, and the 1 -> 2 thread speed-ups of fwd+bwd and of sgemm.
"""
import json
import os
import subprocess
import sys
import time

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

LAYERS = {
    "large N8 64x64x64->64": (8, 64, 64, 64, 64),
    "medium N32 32x32x16->32": (32, 32, 32, 16, 32),
}


# Seconds between an sgemm call and the next fastconv call: OpenBLAS's threads spin for a while after
# each call and would hold the second core (bench/blas_spin_interleaved.py measures it).
BLAS_PAUSE = 0.3


def child(rounds, algorithm="direct"):
    from threadpoolctl import threadpool_limits

    import fastconv
    from fastconv import _simd

    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    bm = rng.standard_normal((2048, 2048), dtype=np.float32)
    ops = {}
    for name, (n, h, wd, c, co) in LAYERS.items():
        x = rng.standard_normal((n, h, wd, c)).astype(np.float32)
        w = (rng.standard_normal((3, 3, c, co)) / 24).astype(np.float32)
        b = rng.standard_normal(co).astype(np.float32)
        dy = rng.standard_normal((n, h, wd, co)).astype(np.float32)
        flops = 2.0 * n * h * wd * co * 9 * c
        _, cache = fastconv.conv2d_forward(x, w, b, 1, 1, algorithm=algorithm)
        ops[name] = (flops, {
            "fwd": lambda x=x, w=w, b=b: fastconv.conv2d_forward(x, w, b, 1, 1, algorithm=algorithm),
            "dw": lambda dy=dy, cache=cache: fastconv.conv2d_backward(dy, cache, compute_dx=False),
            "bwd": lambda dy=dy, cache=cache: fastconv.conv2d_backward(dy, cache),
        })
    times = {}
    for nt in (1, 2):
        with threadpool_limits(nt):
            np.matmul(a, bm)
        fastconv.set_num_threads(nt)
        for name, (_, fns) in ops.items():
            for fn in fns.values():
                fn()
    for _ in range(rounds):
        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            with threadpool_limits(nt):
                t0 = time.perf_counter()
                np.matmul(a, bm)
                times.setdefault(f"sgemm/{nt}", []).append(time.perf_counter() - t0)
            time.sleep(BLAS_PAUSE)  # let OpenBLAS's spinning threads go to sleep before fastconv runs
            for name, (_, fns) in ops.items():
                for op, fn in fns.items():
                    t0 = time.perf_counter()
                    fn()
                    times.setdefault(f"{name}/{op}/{nt}", []).append(time.perf_counter() - t0)
    print(json.dumps({"level": _simd.simd_level(), "times": times}))


def main():
    argv = sys.argv[1:]
    algorithm = "direct"
    if argv[:1] == ["--algorithm"]:
        algorithm, argv = argv[1], argv[2:]
    rounds = int(argv[0]) if argv else 7
    procs = int(argv[1]) if len(argv) > 1 else 3
    from fastconv import _simd

    levels = argv[2:] or [lv for lv in _simd.SIMD_LEVELS if lv != "baseline"]
    print(f"algorithm={algorithm!r}")
    runs = {lv: [] for lv in levels}
    for _ in range(procs):
        for lv in levels:
            env = dict(os.environ, FASTCONV_SIMD=lv)
            out = subprocess.run([sys.executable, __file__, "--child", str(rounds), algorithm], env=env,
                                 capture_output=True, text=True, check=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            assert res["level"] == lv, (res["level"], lv)
            runs[lv].append(res["times"])
    sg_flops = 2.0 * 2048 ** 3
    for lv in levels:
        print(f"== level {lv} ({procs} processes x {rounds} rounds)")

        def med(key):
            allv = [t for r in runs[lv] for t in r[key]]
            per = [float(np.median(r[key])) for r in runs[lv]]
            return float(np.median(allv)), min(per), max(per)

        def dxs(name, nt):  # per-round bwd - dw
            allv, per = [], []
            for r in runs[lv]:
                d = [u - v for u, v in zip(r[f"{name}/bwd/{nt}"], r[f"{name}/dw/{nt}"])]
                allv += d
                per.append(float(np.median(d)))
            return float(np.median(allv)), min(per), max(per)

        sg = {nt: sg_flops / med(f"sgemm/{nt}")[0] / 1e9 for nt in (1, 2)}
        print(f"sgemm: 1 thread {sg[1]:.0f} GFLOP/s, 2 threads {sg[2]:.0f} GFLOP/s, 1->2 {sg[2] / sg[1]:.2f}x")
        for name, (n, h, wd, c, co) in LAYERS.items():
            flops = 2.0 * n * h * wd * co * 9 * c
            tot = {}
            for nt in (1, 2):
                parts = {"fwd": med(f"{name}/fwd/{nt}"), "dx": dxs(name, nt), "dw": med(f"{name}/dw/{nt}")}
                tot[nt] = parts["fwd"][0] + med(f"{name}/bwd/{nt}")[0]
                line = ", ".join(f"{op} {flops / t[0] / 1e9:.0f} GFLOP/s ({t[0] * 1e3:.2f} ms, "
                                 f"{t[1] * 1e3:.2f}-{t[2] * 1e3:.2f}; {flops / t[0] / 1e9 / sg[nt]:.2f} sgemm)"
                                 for op, t in parts.items())
                print(f"{name} {nt}t: {line}; fwd+bwd {3 * flops / tot[nt] / 1e9:.0f} GFLOP/s "
                      f"({3 * flops / tot[nt] / 1e9 / sg[nt]:.2f} sgemm)")
            sc = tot[1] / tot[2]
            print(f"{name}: fwd+bwd 1->2 threads {sc:.2f}x = {sc / (sg[2] / sg[1]):.2f} of sgemm's scaling")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), *sys.argv[3:4])
    else:
        main()
