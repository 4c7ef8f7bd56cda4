"""Performance targets of the kernels: conv and pooling against torch, threads 1 vs 2, float64 vs
float32, and conv workspace memory against the batch size.

Run: ``python -m pytest bench/bench_perf.py`` (add ``--benchmark-json=perf.json`` for the report).
Every benchmark first checks its result against an independent implementation (torch, or
``fastconv.reference`` where the loops are fast enough), so a fast wrong answer never reports.
"""
import tracemalloc

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest

import fastconv
import fastconv.reference as R

CONV_SHAPES = [
    # N, H, W, C, Cout, padding, stride
    (64, 8, 8, 1, 8, 1, 1),
    (32, 32, 32, 16, 32, 1, 1),
    (8, 64, 64, 64, 64, 1, 1),
    (16, 56, 56, 64, 128, 1, 2),
]
BIG = (8, 64, 64, 64, 64, 1, 1)


def _conv_name(shape, dt="f32"):
    n, h, w, c, co, p, s = shape
    return f"conv2d fwd+bwd {dt} N{n} {h}x{w}x{c}->{co} k3 p{p}" + (f" s{s}" if s != 1 else "")


@pytest.fixture(autouse=True)
def two_threads():
    prev = fastconv.set_num_threads(2)
    yield
    fastconv.set_num_threads(prev)


def _conv_data(shape, dtype=np.float32, seed=0):
    n, h, w, c, co, p, s = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = (rng.standard_normal((3, 3, c, co)) / np.sqrt(9 * c)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    ho, wo = (h + 2 * p - 3) // s + 1, (w + 2 * p - 3) // s + 1
    dy = rng.standard_normal((n, ho, wo, co)).astype(dtype)
    return x, wt, b, dy, p, s


def _fastconv_conv(x, w, b, dy, p, s):
    y, cache = fastconv.conv2d_forward(x, w, b, p, s)
    dx, dw, db = fastconv.conv2d_backward(dy, cache)
    return y, dx, dw, db


def _torch_conv_fn(x, w, b, dy, p, s):
    torch = pytest.importorskip("torch", reason="torch is the speed yardstick")
    torch.set_num_threads(2)
    import torch.nn.functional as F

    xt = torch.from_numpy(x).permute(0, 3, 1, 2).requires_grad_()      # NHWC memory: channels_last
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2)

    def run():
        xt.grad = wt.grad = bt.grad = None
        yt = F.conv2d(xt, wt, bt, padding=p, stride=s)
        yt.backward(dyt)
        return yt

    def results():
        yt = run()
        return (yt.detach().permute(0, 2, 3, 1).numpy(), xt.grad.permute(0, 2, 3, 1).numpy(),
                wt.grad.permute(2, 3, 1, 0).numpy(), bt.grad.numpy())

    return run, results


def _close(got, want, rtol):
    for g, r in zip(got, want):
        scale = max(1.0, float(np.max(np.abs(r))))
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale)


def _check_conv(shape, dtype=np.float32):
    """fastconv's fwd+bwd against torch (or the reference loops for the small layer)."""
    x, w, b, dy, p, s = _conv_data(shape, dtype)
    got = _fastconv_conv(x, w, b, dy, p, s)
    if shape[0] * shape[1] * shape[2] * shape[4] <= 64 * 8 * 8 * 8:
        y, cache = R.conv2d_forward(x, w, b, p, s)
        want = (y,) + R.conv2d_backward(dy, cache)
    else:
        want = _torch_conv_fn(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                              dy.astype(np.float64), p, s)[1]()
    _close(got, want, 1e-4 if dtype == np.float32 else 1e-10)
    return got


# ``impl`` varies fastest: fastconv and torch are timed back to back for each workload
@pytest.mark.parametrize("impl", ["fastconv", "torch"])
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=_conv_name)
def bench_conv(benchmark, shape, impl):
    benchmark.group = _conv_name(shape)
    benchmark.extra_info["impl"] = impl
    args = _conv_data(shape)
    if impl == "fastconv":
        _check_conv(shape)
        benchmark(_fastconv_conv, *args)
    else:
        run, results = _torch_conv_fn(*args)
        _close(results(), _fastconv_conv(*args), 1e-4)
        benchmark(run)


@pytest.mark.parametrize("threads", [1, 2])
def bench_conv_threads(benchmark, threads):
    benchmark.group = _conv_name(BIG) + " threads 1 vs 2"
    benchmark.extra_info["impl"] = f"fastconv-{threads}thread"
    benchmark.extra_info["threads"] = threads
    fastconv.set_num_threads(1)
    ref = _check_conv(BIG)
    fastconv.set_num_threads(threads)
    args = _conv_data(BIG)
    for a, b in zip(_fastconv_conv(*args), ref):
        np.testing.assert_array_equal(a, b)  # identical bits for any thread count
    benchmark(_fastconv_conv, *args)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def bench_conv_dtype(benchmark, dtype):
    benchmark.group = _conv_name(BIG, "f32 vs f64")
    benchmark.extra_info["impl"] = f"fastconv-{dtype}"
    _check_conv(BIG, np.dtype(dtype))
    benchmark(_fastconv_conv, *_conv_data(BIG, np.dtype(dtype)))


def _conv_scratch(n):
    """Traced peak of forward and backward minus the arrays they return (the workspace)."""
    x, w, b, dy, p, s = _conv_data((n, 32, 32, 16, 32, 1, 1))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    y, cache = fastconv.conv2d_forward(x, w, b, p, s)
    fwd = tracemalloc.get_traced_memory()[1] - base - y.nbytes
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    grads = fastconv.conv2d_backward(dy, cache)
    bwd = tracemalloc.get_traced_memory()[1] - base - sum(g.nbytes for g in grads)
    tracemalloc.stop()
    return fwd, bwd


@pytest.mark.parametrize("n", [64, 256])
def bench_conv_workspace(benchmark, n):
    """The workspace is bounded: it stops growing once the batch fills one block of work.

    (The Winograd path transforms tiles in blocks of a fixed size per thread, so its scratch
    grows with the batch only until a batch of about 64 such images fills the blocks.)
    """
    benchmark.group = "conv2d workspace f32 32x32x16->32 k3 p1, N64 vs N256"
    benchmark.extra_info["impl"] = f"fastconv-N{n}"
    fwd64, bwd64 = _conv_scratch(64)
    fwd, bwd = benchmark.pedantic(_conv_scratch, args=(n,), rounds=3, iterations=1)
    benchmark.extra_info["fwd_scratch_bytes"] = int(fwd)
    benchmark.extra_info["bwd_scratch_bytes"] = int(bwd)
    benchmark.extra_info["batch_im2col_bytes"] = n * 32 * 32 * 9 * 16 * 4
    assert fwd <= fwd64 + 4096 and bwd <= bwd64 + 4096  # no growth with the batch


POOL_SHAPE = (32, 32, 32, 64)


def _pool_name(mode):
    return f"{mode}pool fwd+bwd f32 2x2 N32 32x32x64"


def _pool_data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(POOL_SHAPE).astype(np.float32)
    dy = rng.standard_normal((32, 16, 16, 64)).astype(np.float32)
    return x, dy


def _fastconv_pool(mode, x, dy):
    fwd, bwd = getattr(fastconv, f"{mode}pool_forward"), getattr(fastconv, f"{mode}pool_backward")
    y, cache = fwd(x)
    return y, bwd(dy, cache)


@pytest.mark.parametrize("impl", ["fastconv", "torch"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def bench_pool(benchmark, mode, impl):
    benchmark.group = _pool_name(mode)
    benchmark.extra_info["impl"] = impl
    x, dy = _pool_data()
    if impl == "fastconv":
        fr, br = getattr(R, f"{mode}pool_forward"), getattr(R, f"{mode}pool_backward")
        small = (x[:2], dy[:2])
        yr, cr = fr(small[0])
        _close(_fastconv_pool(mode, *small), (yr, br(small[1], cr)), 1e-6)
        benchmark(_fastconv_pool, mode, x, dy)
        return
    torch = pytest.importorskip("torch", reason="torch is the speed yardstick")
    torch.set_num_threads(2)
    import torch.nn.functional as F

    xt = torch.from_numpy(x).permute(0, 3, 1, 2).requires_grad_()
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2)
    op = F.max_pool2d if mode == "max" else F.avg_pool2d

    def run():
        xt.grad = None
        yt = op(xt, 2)
        yt.backward(dyt)
        return yt

    yt = run()
    _close((yt.detach().permute(0, 2, 3, 1).numpy(), xt.grad.permute(0, 2, 3, 1).numpy()),
           _fastconv_pool(mode, x, dy), 1e-6)
    benchmark(run)

