"""The digits CNN trainer: backends agree, options work, models round-trip, the CLI behaves."""
import io
import os
import subprocess
import tempfile
import sys
import tracemalloc

import numpy as np
import pytest

from conftest import require_simd, run_python, simd_levels, subprocess_env
import fastconv
from fastconv import cli
from fastconv.digits import DEFAULT_SEED, load, load_data, train
from fastconv.digits._progress import _Progress
from fastconv.digits._train import _Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data():
    return load_data()


def subset(data, n):
    """The first ``n`` digits (the bundled set cycles through the classes, so all ten appear)."""
    images, labels = data
    return images[:n], labels[:n]


def assert_same_run(a, b, rtol=1e-4):
    """Every weight within ``rtol`` (relative to each array's scale) and equal accuracy each epoch."""
    assert [r["epoch"] for r in a.history] == [r["epoch"] for r in b.history]
    assert [r["val_acc"] for r in a.history] == [r["val_acc"] for r in b.history]
    np.testing.assert_allclose([r["loss"] for r in a.history], [r["loss"] for r in b.history], rtol=rtol)
    for k in ("w1", "b1", "w2", "b2"):
        pa, pb = a.params[k], b.params[k]
        assert pa.shape == pb.shape and pa.dtype == pb.dtype
        scale = max(float(np.abs(pb).max()), 1e-30)
        np.testing.assert_allclose(pa, pb, rtol=rtol, atol=rtol * scale, err_msg=k)


# --------------------------------------------------------------------------- backends agree
def test_backends_agree_ten_epochs(data):
    # the reference loops take ~5 ms per image: 10 epochs on 100 digits keep this affordable
    kw = dict(epochs=10, seed=3, batch_size=16, data=subset(data, 100))
    fast = train(backend="fastconv", **kw)
    ref = train(backend="reference", **kw)
    assert len(fast.history) == 10
    assert_same_run(fast, ref)
    # the run learned something (so agreement is not agreement on noise)
    assert fast.history[-1]["loss"] < fast.history[0]["loss"]


@pytest.mark.slow
def test_backends_agree_one_full_epoch(data):
    fast = train(epochs=1, seed=DEFAULT_SEED, data=data, backend="fastconv")
    ref = train(epochs=1, seed=DEFAULT_SEED, data=data, backend="reference")
    assert_same_run(fast, ref)


OPTIONS = [
    dict(pool="avg"),
    dict(conv_channels=4, kernel_size=5, padding=2),
    dict(stride=2, padding=0),
    dict(conv_channels=3, pool_size=3),
    dict(kernel_size=2, padding=0, pool="avg", pool_size=3),
    dict(dtype="float32"),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_options_backends_agree(data, opts):
    kw = dict(epochs=2, seed=1, batch_size=16, data=subset(data, 100), **opts)
    fast = train(backend="fastconv", **kw)
    ref = train(backend="reference", **kw)
    assert_same_run(fast, ref, rtol=1e-4 if opts.get("dtype") != "float32" else 2e-3)
    c = opts.get("conv_channels", 8)
    k = opts.get("kernel_size", 3)
    p = opts.get("padding", 1)
    s = opts.get("stride", 1)
    q = opts.get("pool_size", 2)
    ho = (8 + 2 * p - k) // s + 1
    hp = (ho - q) // q + 1
    assert fast.params["w1"].shape == (k, k, 1, c)
    assert fast.params["w2"].shape == (hp * hp * c, 10)
    assert fast.params["w1"].dtype == np.dtype(opts.get("dtype", "float64"))
    assert fast.config["pool"] == opts.get("pool", "max")


def test_options_change_the_computation(data):
    kw = dict(epochs=1, seed=1, data=subset(data, 150))
    base = train(**kw).params["w2"]
    assert not np.allclose(train(pool="avg", **kw).params["w2"], base)
    assert train(stride=2, **kw).params["w2"].shape != base.shape


@pytest.mark.parametrize("opts", [{}] + OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_compiled_step_equals_layer_by_layer(data, opts):
    """The compiled step (fused ReLU/pool, no first-layer dx, zero terms skipped) does the layer-by-layer
    arithmetic of the public functions: only the order of the sums differs."""
    kw = dict(seed=5, data=subset(data, 300), batch_size=32, **opts)
    a = _Trainer(3, **kw)
    b = _Trainer(3, layer_by_layer=True, **kw)
    assert type(a.net).__name__ == "_FastNet" and type(b.net).__name__ == "_Net"
    a, b = a.run(), b.run()
    f32 = opts.get("dtype") == "float32"
    assert [r["val_acc"] for r in a.history] == [r["val_acc"] for r in b.history]
    np.testing.assert_allclose([r["loss"] for r in a.history], [r["loss"] for r in b.history],
                               rtol=1e-5 if f32 else 1e-12)
    for k in a.params:
        scale = float(np.abs(b.params[k]).max())
        tol = 1e-4 if f32 else 1e-12
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=tol, atol=tol * scale, err_msg=k)


def test_compiled_step_one_step_gradients(data):
    """One step from the same weights: the compiled update equals the public layers' update."""
    for opts in [{}, dict(pool="avg", stride=2, padding=2, kernel_size=5, conv_channels=11)]:
        a = _Trainer(1, seed=2, data=data, **opts)
        b = _Trainer(1, seed=2, data=data, layer_by_layer=True, **opts)
        a.shuffle()
        b.shuffle()
        before = {k: v.copy() for k, v in a.params.items()}
        la, lb = a.step(3), b.step(3)
        assert la == pytest.approx(lb, rel=1e-13)
        for k in before:
            da, db = a.params[k] - before[k], b.params[k] - before[k]
            assert np.any(da != 0), k  # the step moved every parameter
            np.testing.assert_allclose(da, db, rtol=1e-10, atol=1e-15 * float(np.abs(before[k]).max()), err_msg=k)


@pytest.mark.parametrize("simd", simd_levels())
def test_compiled_step_each_instruction_set(simd, tmp_path):
    """The build of the step for each level this CPU runs, each in a fresh process, matches the public layers."""
    code = (
        "import numpy as np\n"
        "from fastconv import _simd\n"
        "from fastconv.digits import load_data\n"
        "from fastconv.digits._train import _Trainer\n"
        f"assert _simd.simd_level() == {simd!r}, _simd.simd_level()\n"
        "images, labels = load_data()\n"
        "data = (images[:200], labels[:200])\n"
        "for opts, tol in (({}, 1e-12), (dict(dtype='float32'), 1e-4),\n"
        "                  (dict(dtype='float32', pool='avg', conv_channels=11), 1e-4),\n"
        "                  (dict(dtype='float32', conv_channels=16, stride=2, padding=2), 1e-4),\n"
        "                  (dict(conv_channels=5, kernel_size=2, pool_size=3), 1e-12),\n"
        "                  (dict(conv_channels=16, kernel_size=5, padding=2), 1e-12)):\n"
        "    a = _Trainer(2, seed=4, batch_size=16, data=data, **opts).run()\n"
        "    b = _Trainer(2, seed=4, batch_size=16, data=data, layer_by_layer=True, **opts).run()\n"
        "    assert [r['val_acc'] for r in a.history] == [r['val_acc'] for r in b.history]\n"
        "    for k in a.params:\n"
        "        sc = float(np.abs(b.params[k]).max())\n"
        "        np.testing.assert_allclose(a.params[k], b.params[k], rtol=tol, atol=tol * sc, err_msg=k)\n"
        "print(_simd.simd_level())\n"
    )
    require_simd(simd, tmp_path)
    assert run_python(code, tmp_path, FASTCONV_SIMD=simd) == simd


def test_compiled_step_by_index_equals_gathered_batch(data):
    """step(x, y, lr, idx) reads x[idx], y[idx] in place: the same update as on the gathered batch."""
    runs = []
    for gathered in (True, False):
        t = _Trainer(1, seed=1, data=subset(data, 200), batch_size=16)
        idx = np.random.default_rng(0).permutation(t.x_all.shape[0])[:16].astype(np.int64)
        st = t.net.stepper
        if gathered:
            loss = st.step(t.x_all[idx], t.y_all[idx], 0.1)
        else:
            loss = st.step(t.x_all, t.y_all, 0.1, idx)
        runs.append((loss, {k: v.copy() for k, v in t.params.items()}))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k], err_msg=k)


def test_compiled_step_rejects_bad_batches(data):
    from fastconv._digits import Stepper

    t = _Trainer(1, seed=0, data=subset(data, 100), batch_size=8)
    st = t.net.stepper
    x = t.x_all[:8]
    with pytest.raises(ValueError, match="batch of 9"):
        st.step(t.x_all[:9], t.y_all[:9], 0.1)
    with pytest.raises(ValueError, match="int64 labels"):
        st.step(x, t.y_all[:8].astype(np.int32), 0.1)
    with pytest.raises(ValueError, match="labels must be 0..9"):
        st.step(x, np.full(8, 10, np.int64), 0.1)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        st.step(x.astype(np.float32), t.y_all[:8], 0.1)
    with pytest.raises(ValueError, match="idx must index the"):
        st.step(t.x_all, t.y_all, 0.1, np.array([0, t.x_all.shape[0]], np.int64))
    with pytest.raises(ValueError, match="idx must be contiguous int64"):
        st.step(t.x_all, t.y_all, 0.1, np.array([0, 1], np.int32))
    with pytest.raises(ValueError, match="batch of 9"):
        st.step(t.x_all, t.y_all, 0.1, np.arange(9, dtype=np.int64))
    with pytest.raises(ValueError, match="w1 must have shape"):
        Stepper({"w1": np.zeros((3, 3, 2, 4)), "b1": np.zeros(4), "w2": np.zeros((64, 10)), "b2": np.zeros(10)},
                (8, 8), 1, 1, 2, True, 8)


# --------------------------------------------------------------------------- randomness
def test_seed_determines_run_and_global_state_untouched(data):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = train(epochs=2, seed=7, data=data)
    b = train(epochs=2, seed=7, data=data)
    c = train(epochs=2, seed=8, data=data)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["w2"], c.params["w2"])


def test_split_is_stratified(data):
    t = _Trainer(1, seed=0, data=data)
    n_val = np.bincount(t.y_val, minlength=10)
    n_all = np.bincount(data[1], minlength=10)
    np.testing.assert_array_equal(n_val, np.round(0.2 * n_all).astype(int))
    assert t.x_all.shape[0] + t.x_val.shape[0] == data[0].shape[0]


# --------------------------------------------------------------------------- accuracy
def test_accuracy_after_ten_epochs(data):
    model = train(epochs=10, seed=DEFAULT_SEED, data=data)
    assert model.history[-1]["val_acc"] >= 0.90
    accs = [train(epochs=10, seed=s, data=data).history[-1]["val_acc"] for s in range(5)]
    assert np.median(accs) >= 0.90, accs


def test_history_and_predict(data):
    model = train(epochs=3, seed=0, data=data)
    assert [sorted(r) for r in model.history] == [["epoch", "loss", "val_acc"]] * 3
    assert [r["epoch"] for r in model.history] == [1, 2, 3]
    images, labels = data
    pred = model.predict(images[:, :, :, 0])
    assert pred.dtype == np.int64 and pred.shape == labels.shape
    np.testing.assert_array_equal(pred, model.predict(images))
    # predict agrees with the validation accuracy the trainer reported
    t = _Trainer(3, seed=0, data=data)
    assert np.mean(model.predict(t.x_val) == t.y_val) == model.history[-1]["val_acc"]
    with pytest.raises(ValueError, match="8x8"):
        model.predict(np.zeros((2, 7, 7)))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, 8, 8, 3)))


def test_numpy_integer_seed_is_saved(data, tmp_path):
    model = train(epochs=1, seed=np.int64(4), data=subset(data, 100))
    model.save(tmp_path / "m.npz")
    assert load(tmp_path / "m.npz").config["seed"] == 4


def test_num_threads_restored(data):
    prev = fastconv.set_num_threads(2)
    try:
        train(epochs=1, seed=0, data=subset(data, 200))
        assert fastconv.get_num_threads() == 2 or not fastconv.openmp_enabled()
    finally:
        fastconv.set_num_threads(prev)


# --------------------------------------------------------------------------- save / load
def test_save_load_round_trip(data, tmp_path):
    model = train(epochs=2, seed=0, data=data, conv_channels=4, pool="avg")
    path = tmp_path / "model.npz"
    model.save(path)
    back = load(path)
    assert back.history == model.history
    assert back.config == model.config
    for k in model.params:
        np.testing.assert_array_equal(back.params[k], model.params[k])
        assert back.params[k].dtype == model.params[k].dtype
    np.testing.assert_array_equal(back.predict(data[0]), model.predict(data[0]))
    # the name is used as given
    other = tmp_path / "model.bin"
    model.save(other)
    assert other.exists() and load(other).history == model.history


def test_load_rejects_other_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a fastconv digits model"):
        load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    with pytest.raises(ValueError, match="not a fastconv digits model"):
        load(plain)
    tagged = tmp_path / "tagged.npz"
    np.savez(tagged, __meta__=np.array('{"format": "other"}'), w1=1, b1=1, w2=1, b2=1)
    with pytest.raises(ValueError, match="not a fastconv digits model"):
        load(tagged)
    single = tmp_path / "single.npy"
    np.save(single, np.arange(3))
    with pytest.raises(ValueError, match="not a fastconv digits model"):
        load(single)
    nometa = tmp_path / "nometa.npz"
    np.savez(nometa, __meta__=np.array('[1, 2]'))
    with pytest.raises(ValueError, match="not a fastconv digits model"):
        load(nometa)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=-1), ValueError, "epochs"),
        (dict(epochs=1.5), TypeError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(backend="torch"), ValueError, "backend"),
        (dict(pool="min"), ValueError, "pool"),
        (dict(lr=0), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(dtype="int32"), ValueError, "dtype"),
        (dict(padding=-1), ValueError, "padding"),
        (dict(kernel_size=11, padding=0), ValueError, "kernel_size=11"),
        (dict(data=(np.zeros((10, 8, 8)), np.arange(10) + 5)), ValueError, "0..9"),
        (dict(data=(np.zeros((10, 8, 8)), np.zeros(9, int))), ValueError, "labels"),
        (dict(data=(np.zeros((10, 8, 8, 2)), np.zeros(10, int))), ValueError, "images"),
        (dict(data=np.zeros(3)), TypeError, "data"),
        (dict(data=(np.full((10, 8, 8), np.nan), np.zeros(10, int))), ValueError, "finite"),
    ],
)
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        train(**kw)


# --------------------------------------------------------------------------- memory
def _step_peak(trainer):
    trainer.shuffle()
    trainer.step(0)  # warm-up: caches inside NumPy
    tracemalloc.start()
    try:
        trainer.step(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("layer_by_layer", [False, True], ids=["fused", "layer-by-layer"])
def test_step_allocation_does_not_grow_with_dataset(data, layer_by_layer):
    images, labels = data
    small = _Trainer(1, seed=0, data=(images, labels), layer_by_layer=layer_by_layer)
    big = _Trainer(1, seed=0, data=(np.tile(images, (64, 1, 1, 1)), np.tile(labels, 64)),
                   layer_by_layer=layer_by_layer)
    p_small, p_big = _step_peak(small), _step_peak(big)
    assert p_big <= 1.2 * p_small + 16_384, (p_small, p_big)
    # a step's scratch (a batch plus the conv kernels' fixed, batch-independent workspace) is far
    # below the size of the dataset
    assert p_big < big.x_all.nbytes / 8


# --------------------------------------------------------------------------- progress bar
def test_progress_bar_draws_and_clears():
    out = io.StringIO()
    bar = _Progress(10, stream=out, delay=0.0)
    bar.update(5)
    assert "5/10 steps" in out.getvalue() and "#" in out.getvalue()
    bar.clear()
    assert out.getvalue().endswith("\r")
    quiet = io.StringIO()
    late = _Progress(10, stream=quiet, delay=60.0)
    late.update(5)
    late.clear()
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------- command line
def run_cli(*args, code=None):
    cmd = [sys.executable] + (["-c", code] if code else ["-m", "fastconv", "digits"]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir(),
                          env=subprocess_env(), timeout=600)


def test_cli_trains_saves_and_plots(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (matplotlib)")
    model_path, png = tmp_path / "m.npz", tmp_path / "curves.png"
    r = run_cli("--epochs", "2", "--seed", "1", "--save", str(model_path), "--plot", str(png))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("Epoch")]
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2  loss=") and "val_acc=" in lines[1]
    model = load(model_path)
    assert len(model.history) == 2 and model.config["seed"] == 1
    assert f"val_acc={model.history[-1]['val_acc']:.4f}" in lines[1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in r.stderr
    r = run_cli("--load", str(model_path))
    assert r.returncode == 0, r.stderr
    images, labels = load_data()
    acc = np.mean(model.predict(images) == labels)
    assert f"accuracy {acc:.4f} on all 1797" in r.stdout


def test_cli_options_and_reference_backend(tmp_path):
    # one channel keeps the reference loops short; the run still takes seconds, so the bar shows
    r = run_cli("--epochs", "1", "--backend", "reference", "--channels", "1", "--pool", "avg",
                "--batch-size", "256", "--save", str(tmp_path / "m.npz"))
    assert r.returncode == 0, r.stderr
    model = load(tmp_path / "m.npz")
    assert model.config["backend"] == "reference" and model.params["w1"].shape == (3, 3, 1, 1)
    assert "Epoch 1/1" in r.stdout
    assert "steps" in r.stderr and "[#" in r.stderr  # the progress bar, on stderr only
    assert "steps" not in r.stdout


@pytest.mark.parametrize(
    "args, match",
    [
        (["--epochs", "0"], "epochs must be a positive int"),
        (["--epochs", "-3"], "epochs must be a positive int"),
        (["--batch-size", "0"], "batch_size must be a positive int"),
        (["--backend", "gpu"], "backend must be one of"),
        (["--epochs", "x"], "invalid int value"),
        (["--save", "/nonexistent-dir/m.npz"], "does not exist"),
        (["--save", "."], "is a directory"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--load", "/nonexistent-dir/m.npz"], "No such file"),
        (["--load", os.path.join(ROOT, "pyproject.toml")], "not a fastconv digits model"),
    ],
)
def test_cli_errors_are_one_line(args, match):
    r = run_cli(*args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert match in r.stderr


def test_cli_plot_without_matplotlib(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from fastconv.cli import main; "
            "sys.exit(main(['digits'] + sys.argv[1:]))")
    r = run_cli("--epochs", "1", "--plot", str(tmp_path / "c.png"), code=code)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "pip install 'fastconv[plot]'" in r.stderr
    assert not (tmp_path / "c.png").exists()


def test_main_in_process(capsys, tmp_path):
    assert cli.main(["digits", "--epochs", "1", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["digits", "--epochs", "1"]) == 0
    assert "Epoch 1/1" in capsys.readouterr().out
    bad = tmp_path / "bad.npz"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match="not a fastconv digits model"):
        load(bad)
