"""Training the digits CNN: fastconv's trainer beside the tutorial's PyTorch model and the NumPy loops.

Workload: the tutorial's network (conv 3x3, 8 filters, padding 1 -> ReLU -> 2x2 max pool ->
dense 10 -> softmax cross-entropy), SGD lr 0.1, batch 64, on scikit-learn's bundled digits with
an 80/20 stratified split (1437 training, 360 validation images), validation after every epoch.
Data loading is done once, outside the timed region.

* ``fastconv``: ``fastconv.digits.train(data=...)``, 10 epochs; ``extra_info["cpu_median_s"]``
  holds the median CPU time of the same call (it runs on one thread), which the wall-clock
  median exceeds by the time other processes on the machine took.
* ``torch``: the tutorial's ``SimpleConvNet`` training loop, verbatim apart from the timing, on
  CPU with ``torch.set_num_threads(2)`` (and once more with one thread, beside fastconv's
  single-threaded trainer). Before timing, the same model is fed fastconv's initial weights and
  batch order in float64 and must end on fastconv's weights: it is the same computation.
* ``reference``: ``train(backend="reference")``, the NumPy loops. Too slow for 10 epochs per
  round, so it is timed for 1 epoch in its own group (beside fastconv's 1 epoch), and
  ``extra_info["x10_epochs_s"]`` holds its median times 10, labelled as scaled.

Run: ``python -m pytest bench/bench_digits.py --benchmark-only --benchmark-columns=median,rounds``
"""
from __future__ import annotations

import os
import time
import tracemalloc
from functools import lru_cache

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np
import pytest

from fastconv.digits import load_data, train
from fastconv.digits._train import _Trainer

SEED = 6
EPOCHS = 10
GROUP_10 = "digits train 10 epochs N1437 8x8x1->8 k3 p1 max2 batch64"
GROUP_10_1T = "digits train 10 epochs N1437 8x8x1->8 k3 p1 max2 batch64 (1 thread)"
GROUP_1 = "digits train 1 epoch N1437 8x8x1->8 k3 p1 max2 batch64"
#: Seconds of sleep before each timing, as in conftest.py's ``timed`` (FASTCONV_BENCH_PAUSE overrides
#: it): OpenMP and BLAS pools spin for a while after a parallel region, and the pause keeps the
#: previous benchmark's spinning threads off this one's timing.
PAUSE_SECONDS = float(os.environ.get("FASTCONV_BENCH_PAUSE", "0.3"))


@lru_cache(maxsize=None)
def digits_data():
    return load_data()


@lru_cache(maxsize=None)
def one_epoch(backend):
    """1 epoch of each backend with the same seed (cached: the reference takes seconds)."""
    return train(epochs=1, seed=SEED, data=digits_data(), backend=backend)


def assert_same_weights(a, b, rtol=1e-4):
    for k in ("w1", "b1", "w2", "b2"):
        scale = float(np.abs(b[k]).max())
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=rtol * scale, err_msg=k)


def check_fastconv_equals_reference():
    """fastconv's trainer ends where the reference loops end (1 epoch, full data, same seed)."""
    fast, ref = one_epoch("fastconv"), one_epoch("reference")
    assert fast.history[0]["val_acc"] == ref.history[0]["val_acc"]
    assert_same_weights(fast.params, ref.params)


def step_peak_bytes(data):
    """Peak bytes traced during one training step (after a warm-up step)."""
    t = _Trainer(1, seed=SEED, data=data)
    t.shuffle()
    t.step(0)
    tracemalloc.start()
    try:
        t.step(1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- fastconv
def _bench_fastconv(benchmark, group, epochs, rounds):
    data = digits_data()
    check_fastconv_equals_reference()
    benchmark.group = group
    benchmark.extra_info["impl"] = "fastconv"
    benchmark.extra_info["epochs"] = epochs
    benchmark.extra_info["threads"] = 1
    time.sleep(PAUSE_SECONDS)
    model = benchmark.pedantic(train, kwargs=dict(epochs=epochs, seed=SEED, data=data),
                               rounds=rounds, iterations=1, warmup_rounds=1)
    benchmark.extra_info["val_acc"] = model.history[-1]["val_acc"]
    # The trainer runs on this one thread: its CPU time beside the wall-clock median above
    # shows how much of the wall time other processes on the machine took.
    cpu = []
    for _ in range(5):
        t0 = time.thread_time()
        train(epochs=epochs, seed=SEED, data=data)
        cpu.append(time.thread_time() - t0)
    benchmark.extra_info["cpu_median_s"] = float(np.median(cpu))
    images, labels = data
    peak = step_peak_bytes(data)
    peak_x8 = step_peak_bytes((np.tile(images, (8, 1, 1, 1)), np.tile(labels, 8)))
    benchmark.extra_info["step_peak_bytes"] = peak
    benchmark.extra_info["step_peak_bytes_8x_data"] = peak_x8
    assert peak_x8 <= 1.2 * peak + 16_384, (peak, peak_x8)  # nothing proportional to the dataset


def bench_digits_train_1epoch_fastconv(benchmark):
    _bench_fastconv(benchmark, GROUP_1, 1, rounds=15)


# --------------------------------------------------------------------------- reference
def bench_digits_train_1epoch_reference(benchmark):
    data = digits_data()
    check_fastconv_equals_reference()
    benchmark.group = GROUP_1
    benchmark.extra_info["impl"] = "reference"
    benchmark.extra_info["epochs"] = 1
    model = benchmark.pedantic(train, kwargs=dict(epochs=1, seed=SEED, data=data, backend="reference"),
                               rounds=2, iterations=1)
    assert_same_weights(model.params, one_epoch("fastconv").params)
    if benchmark.stats is not None:  # None under --benchmark-disable (checks only, no timing)
        benchmark.extra_info["x10_epochs_s"] = benchmark.stats.stats.median * 10
        benchmark.extra_info["note"] = "1 epoch timed; x10_epochs_s is the median scaled to 10 epochs"


# --------------------------------------------------------------------------- torch
def torch_setup(torch, nn):
    """The tutorial's model definition (NCHW), returned as a class."""

    class SimpleConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, kernel_size=3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(kernel_size=2)
            self.fc = nn.Linear(4 * 4 * 8, 10)

        def forward(self, x):
            x = self.conv(x)
            x = self.relu(x)
            x = self.pool(x)
            x = x.reshape(x.shape[0], -1)
            return self.fc(x)

    return SimpleConvNet


def torch_train(torch, nn, optim, Net, X_train, y_train, X_val, y_val, epochs=EPOCHS, batch_size=64):
    """The tutorial's PyTorch training loop (printing left out); returns (model, val accuracy)."""
    model = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(epochs):
        indices = torch.randperm(len(X_train))
        model.train()
        total_loss = 0
        for i in range(0, len(X_train), batch_size):
            batch_indices = indices[i : i + batch_size]
            x_batch = X_train[batch_indices]
            y_batch = y_train[batch_indices]
            outputs = model(x_batch)
            loss = criterion(outputs, y_batch)
            total_loss += loss.item()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            outputs = model(X_val)
            _, predicted = torch.max(outputs, 1)
            accuracy = (predicted == y_val).float().mean()
    return model, float(accuracy)


def check_torch_equals_fastconv(torch, nn, optim, Net, epochs=2):
    """Fed fastconv's split, initial weights and batch order (float64), the tutorial's torch model ends on fastconv's weights."""
    data = digits_data()
    t = _Trainer(epochs, seed=SEED, data=data)
    w1, b1, w2, b2 = (t.params[k].copy() for k in ("w1", "b1", "w2", "b2"))
    model = Net().double()
    with torch.no_grad():
        model.conv.weight.copy_(torch.from_numpy(w1.transpose(3, 2, 0, 1).copy()))
        model.conv.bias.copy_(torch.from_numpy(b1))
        # fastconv flattens (H, W, C), torch flattens (C, H, W)
        model.fc.weight.copy_(torch.from_numpy(w2.reshape(4, 4, 8, 10).transpose(2, 0, 1, 3).reshape(128, 10).T.copy()))
        model.fc.bias.copy_(torch.from_numpy(b2))
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        t.shuffle()
        xs = torch.from_numpy(t.x_all[t.perm].transpose(0, 3, 1, 2).copy())
        ys = torch.from_numpy(t.y_all[t.perm])
        for i in range(0, t.n_train, 64):
            loss = criterion(model(xs[i : i + 64]), ys[i : i + 64])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    fast = _Trainer(epochs, seed=SEED, data=data).run()
    got = {
        "w1": model.conv.weight.detach().numpy().transpose(2, 3, 1, 0),
        "b1": model.conv.bias.detach().numpy(),
        "w2": model.fc.weight.detach().numpy().T.reshape(8, 4, 4, 10).transpose(1, 2, 0, 3).reshape(128, 10),
        "b2": model.fc.bias.detach().numpy(),
    }
    assert_same_weights(got, fast.params, rtol=1e-6)


def _bench_torch(benchmark, group, threads):
    torch = pytest.importorskip("torch", reason="torch is a benchmark-only peer")
    nn, optim = torch.nn, torch.optim
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        Net = torch_setup(torch, nn)
        check_torch_equals_fastconv(torch, nn, optim, Net)
        images, labels = digits_data()
        from sklearn.model_selection import train_test_split

        X = images.astype(np.float32)  # the tutorial's float32 data, its split
        X_train, X_val, y_train, y_val = train_test_split(X, labels, test_size=0.2, random_state=42, stratify=labels)
        X_train = torch.tensor(X_train).permute(0, 3, 1, 2)
        X_val = torch.tensor(X_val).permute(0, 3, 1, 2)
        y_train = torch.tensor(y_train, dtype=torch.long)
        y_val = torch.tensor(y_val, dtype=torch.long)
        torch.manual_seed(0)
        benchmark.group = group
        benchmark.extra_info["impl"] = "torch"
        benchmark.extra_info["epochs"] = EPOCHS
        benchmark.extra_info["threads"] = threads
        time.sleep(PAUSE_SECONDS)
        _, acc = benchmark.pedantic(torch_train, args=(torch, nn, optim, Net, X_train, y_train, X_val, y_val),
                                    rounds=5, iterations=1, warmup_rounds=1)
        benchmark.extra_info["val_acc"] = acc
        assert acc >= 0.8  # it trained
    finally:
        torch.set_num_threads(prev)


# --------------------------------------------------------------------------- fastconv beside torch
# ``impl`` varies fastest: the two trainers are timed back to back, under the same machine load.
# fastconv's trainer runs on one thread either way (its compiled step has no parallel region: a
# batch-64 step is about 0.84 M multiply-adds, below the 1 M where the conv kernels start threads);
# torch gets 2 threads, then 1. The two fastconv rows time the same call.
@pytest.mark.parametrize("impl", ["fastconv", "torch"])
@pytest.mark.parametrize("threads", [2, 1], ids=["2threads", "1thread"])
def bench_digits_train(benchmark, impl, threads):
    group = GROUP_10 if threads == 2 else GROUP_10_1T
    if impl == "fastconv":
        _bench_fastconv(benchmark, group, EPOCHS, rounds=15)
    else:
        _bench_torch(benchmark, group, threads=threads)
