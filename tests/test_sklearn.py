"""fastconv.CNNClassifier: scikit-learn's estimator checks, input forms, the network against
fastconv.reference, training, persistence and errors."""
import io
import os
import pickle
import subprocess
import sys
from contextlib import redirect_stdout

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastconv
import fastconv.reference as ref
from conftest import require_simd, run_python, simd_levels
from fastconv.sklearn import CNNClassifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def _expected_failed(estimator):
    return CNNClassifier._expected_failed_checks


@parametrize_with_checks([CNNClassifier(random_state=0)], expected_failed_checks=_expected_failed)
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_few_and_explained():
    assert len(CNNClassifier._expected_failed_checks) <= 3
    assert all(isinstance(v, str) and v for v in CNNClassifier._expected_failed_checks.values())


def test_lazy_import(tmp_path):
    code = "import sys, fastconv; assert 'sklearn' not in sys.modules; fastconv.CNNClassifier; " \
           "assert 'sklearn' in sys.modules; print('ok')"
    # the child imports the fastconv under test (built in place or installed), never an unbuilt checkout in its cwd
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fastconv.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.stdout.strip() == "ok", out.stderr
    assert fastconv.CNNClassifier is CNNClassifier
    assert "CNNClassifier" in fastconv.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fastconv.nope


def test_digits_default_accuracy(digits):
    X_tr, X_te, y_tr, y_te = digits
    clf = CNNClassifier(random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) >= 0.97
    assert clf.n_features_in_ == 64 and clf.image_shape_ == (8, 8, 1)
    assert len(clf.loss_curve_) == clf.n_iter_ == clf.max_epochs
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def _logits_reference(clf, X):
    """The fitted network's logits through fastconv.reference, layer by layer, in float64."""
    x = (np.asarray(X, np.float64).reshape((-1,) + clf.image_shape_) - clf._x_offset) / clf._x_scale
    coefs, ints = clf.coefs_, clf.intercepts_
    n_conv = len(clf.conv_channels)
    for w, b in zip(coefs[:n_conv], ints[:n_conv]):
        pad = (w.shape[0] - 1) // 2 if clf.padding == "same" else clf.padding
        x, _ = ref.conv2d_forward(x, w.astype(np.float64), b.astype(np.float64), pad, 1)
        x, _ = ref.relu_forward(x)
        if clf.pool == "max":
            x, _ = ref.maxpool_forward(x, clf.pool_size)
        elif clf.pool == "avg":
            x, _ = ref.avgpool_forward(x, clf.pool_size)
    x = x.reshape(x.shape[0], -1)
    dense = list(zip(coefs[n_conv:], ints[n_conv:]))
    for j, (w, b) in enumerate(dense):
        x, _ = ref.dense_forward(x, w.astype(np.float64), b.astype(np.float64))
        if j < len(dense) - 1:
            x, _ = ref.relu_forward(x)
    m = clf.ensemble_size
    return x.reshape(x.shape[0], m, -1).mean(axis=1)  # the mean of the members' logits


@pytest.mark.parametrize("pool", ["max", "avg", None])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_network_matches_reference(digits, pool, dtype):
    X_tr, X_te, y_tr, _ = digits
    clf = CNNClassifier(conv_channels=(6, 5), hidden_layer_sizes=(7,), pool=pool, max_epochs=2, dtype=dtype,
                        random_state=0).fit(X_tr[:300], y_tr[:300])
    want = _logits_reference(clf, X_te[:50])
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(clf.decision_function(X_te[:50]), want, rtol=tol, atol=tol)
    lp = want - want.max(1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(1, keepdims=True))
    np.testing.assert_allclose(clf.predict_log_proba(X_te[:50]), lp, rtol=tol, atol=tol)
    assert clf.coefs_[0].dtype == np.dtype(dtype)


@pytest.mark.parametrize("m", [2, 3])
def test_ensemble_network_matches_reference(digits, m):
    X_tr, X_te, y_tr, _ = digits
    clf = CNNClassifier(conv_channels=(4, 3), hidden_layer_sizes=(5,), ensemble_size=m, max_epochs=2,
                        dtype="float64", random_state=0).fit(X_tr[:300], y_tr[:300])
    assert clf.coefs_[0].shape == (3, 3, 1, 4 * m) and clf.coefs_[-1].shape == (5 * m, 10 * m)
    np.testing.assert_allclose(clf.decision_function(X_te[:50]), _logits_reference(clf, X_te[:50]),
                               rtol=1e-10, atol=1e-10)


def test_label_smoothing_targets(digits):
    """With smoothing s the loss is a cross-entropy against targets (1 - s) * onehot + s / k, so it
    never falls below their entropy; without smoothing it does."""
    X_tr, _, y_tr, _ = digits
    s, k = 0.3, 10
    t = np.full(k, s / k)
    t[0] += 1 - s
    entropy = -np.sum(t * np.log(t))
    smooth = CNNClassifier(label_smoothing=s, max_epochs=10, random_state=0).fit(X_tr, y_tr)
    plain = CNNClassifier(label_smoothing=0.0, max_epochs=10, random_state=0).fit(X_tr, y_tr)
    assert min(smooth.loss_curve_) >= entropy - 1e-4
    assert min(smooth.loss_curve_) < entropy + 0.2  # and it gets near that floor
    assert plain.loss_curve_[-1] < entropy - 0.5
    assert smooth.predict_proba(X_tr).max() < plain.predict_proba(X_tr).max()


def test_ensemble_members_are_independent():
    """Weights between members stay zero in training, and one member's logits do not depend on
    another member's parameters."""
    from fastconv.sklearn import _forward, _Layout

    rng = np.random.default_rng(1)
    X = rng.integers(0, 17, size=(120, 64))
    y = rng.integers(0, 3, size=120)
    clf = CNNClassifier(conv_channels=(4, 3), hidden_layer_sizes=(5,), ensemble_size=2, max_epochs=3,
                        random_state=0).fit(X, y)
    mask = clf._layout.mask(np.float64)
    assert 0 < np.count_nonzero(mask == 0) and np.all(clf._theta[mask == 0] == 0)
    layout = _Layout((8, 8, 1), [4, 3], [3, 3], ["same", "same"], ["max", "max"], [2, 2], [5], 3, 2)
    theta = rng.standard_normal(layout.size) * layout.mask(np.float64)
    x = rng.standard_normal((6, 8, 8, 1))
    z = _forward(layout, layout.views(theta), x, False)[0]
    # member 1 owns the second half of every layer's outputs: redraw its parameters
    other = theta.copy()
    for view, shape in zip(layout.views(other), layout.shapes):
        view[..., shape[-1] // 2 :] = rng.standard_normal(view[..., shape[-1] // 2 :].shape)
    other *= layout.mask(np.float64)
    z2 = _forward(layout, layout.views(other), x, False)[0]
    np.testing.assert_allclose(z2[:, :3], z[:, :3], rtol=1e-12)
    assert not np.allclose(z2[:, 3:], z[:, 3:])


@pytest.mark.parametrize("pool", ["max", "avg", None])
def test_gradients_match_finite_differences(pool):
    """The training step's gradient (fastconv layers) against central differences of the loss."""
    from fastconv.sklearn import _backward, _forward, _Layout, _Trainer

    rng = np.random.default_rng(0)
    layout = _Layout((6, 5, 2), [3, 4], [3, 3], ["same", 0], [pool, pool], [2, 2], [5], 3)
    theta = rng.standard_normal(layout.size) * 0.5
    x = rng.standard_normal((4, 6, 5, 2))
    onehot = np.eye(3)[[0, 2, 1, 2]]

    def loss(t):
        logits, _ = _forward(layout, layout.views(t), x, False)
        return ref.softmax_crossentropy_forward(logits, onehot)[0]

    logits, caches = _forward(layout, layout.views(theta), x, True)
    _, sc = fastconv.softmax_crossentropy_forward(logits, onehot)
    g = np.empty_like(theta)
    _backward(layout, caches, fastconv.softmax_crossentropy_backward(sc), layout.views(g))
    num = np.empty_like(theta)
    eps = 1e-6
    for i in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += eps
        tm[i] -= eps
        num[i] = (loss(tp) - loss(tm)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)
    # the training step of fit (kernels called directly, buffers reused) gives that gradient bit for bit
    g2 = np.empty_like(theta)
    trainer = _Trainer(layout, layout.views(theta), layout.views(g2), x.shape[1:], 4, theta.dtype)
    loss = trainer.step(x, onehot)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_allclose(loss, ref.softmax_crossentropy_forward(logits, onehot)[0], rtol=1e-10)


def _step_by_the_layer_functions(layout, theta, x, t):
    """(gradient, loss) of one training step through _forward, _backward and the softmax
    cross-entropy's arithmetic, as the training loop computed them before _Trainer."""
    from fastconv.sklearn import _backward, _forward

    nb, m, k = x.shape[0], layout.m, layout.n_out
    logits, caches = _forward(layout, layout.views(theta), x, True)
    z, tt = logits.reshape(nb * m, k), t.reshape(nb * m, k)
    ex = np.exp(z - z.max(axis=1, keepdims=True))
    proba = ex / ex.sum(axis=1, keepdims=True)
    loss = -np.sum(tt * np.log(proba + 1e-12)) / (nb * m)
    dlogits = ((proba - tt) / (nb * m)).reshape(nb, m * k)
    if m > 1:
        dlogits *= m
    g = np.empty_like(theta)
    _backward(layout, caches, dlogits, layout.views(g))
    return g, loss


@pytest.mark.parametrize("kw", [
    {},  # the default network: a small-kernel conv, average pooling
    {"conv_channels": (3, 4), "pool": ("max", "avg"), "hidden_layer_sizes": (5,)},  # the second block's dx
    {"conv_channels": (8, 4), "pool": (None, "max")},  # a second conv on conv2d_forward's other kernels
    {"conv_channels": (6,), "ensemble_size": 2, "dtype": "float64", "label_smoothing": 0.0},
])
def test_training_step_matches_the_layer_functions(kw):
    """_Trainer.step gives the gradient and loss of the public layer functions' path bit for bit,
    on full batches and on a shorter last batch (views of its buffers), batch after batch."""
    from fastconv.sklearn import _Trainer

    rng = np.random.default_rng(0)
    X = rng.integers(0, 17, size=(40, 64))
    y = rng.integers(0, 3, size=40)
    clf = CNNClassifier(max_epochs=1, random_state=0, **kw).fit(X, y)
    layout, theta = clf._layout, clf._theta
    x = clf._prepare(clf._validate(X, reset=False), theta.dtype)
    t = np.tile(np.eye(3, dtype=theta.dtype)[y] * 0.9 + 0.1 / 3, (1, layout.m))
    g = np.empty_like(theta)
    trainer = _Trainer(layout, layout.views(theta), layout.views(g), x.shape[1:], 16, theta.dtype)
    for a, b in [(0, 16), (16, 23), (23, 39), (5, 12)]:
        loss = trainer.step(x[a:b].copy(), t[a:b].copy())
        want_g, want_loss = _step_by_the_layer_functions(layout, theta, x[a:b], t[a:b])
        np.testing.assert_array_equal(g, want_g)
        assert loss == want_loss and loss.dtype == theta.dtype


@pytest.mark.parametrize("level", simd_levels())
def test_training_step_and_prediction_at_each_simd_level(level, tmp_path):
    """At each instruction-set level this CPU runs (forced in a fresh process), the training step
    gives the layer functions' gradient and loss bit for bit, and the prediction pass gives
    _predict_forward's logits bit for bit and fastconv.reference's to float32 rounding. (The
    level this process runs is covered by the tests above, in process.)"""
    from fastconv import _simd

    if level == _simd.simd_level():
        pytest.skip(f"{level} is this process's level: covered in process")
    require_simd(level, tmp_path)
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
        "from sklearn.datasets import load_digits\n"
        "from fastconv import _simd\n"
        "from fastconv.sklearn import CNNClassifier, _Trainer, _predict_forward\n"
        "from test_sklearn import _logits_reference, _step_by_the_layer_functions\n"
        f"assert _simd.simd_level() == {level!r}, _simd.simd_level()\n"
        "X, y = load_digits(return_X_y=True)\n"
        "for kw in ({}, {'conv_channels': (3, 4), 'pool': 'max', 'hidden_layer_sizes': (6,)}):\n"
        "    clf = CNNClassifier(max_epochs=1, random_state=0, **kw).fit(X[:200], y[:200])\n"
        "    lay, th = clf._layout, clf._theta\n"
        "    x = clf._prepare(clf._validate(X[200:400], reset=False), th.dtype)\n"
        "    t = np.eye(10, dtype=th.dtype)[y[200:232]]\n"
        "    g = np.empty_like(th)\n"
        "    loss = _Trainer(lay, lay.views(th), lay.views(g), x.shape[1:], 32, th.dtype).step(x[:32], t)\n"
        "    want_g, want_loss = _step_by_the_layer_functions(lay, th, x[:32], t)\n"
        "    np.testing.assert_array_equal(g, want_g)\n"
        "    assert loss == want_loss\n"
        "    z = clf._logits_prepared(x)\n"
        "    np.testing.assert_array_equal(z, _predict_forward(lay, clf._predict_plan(), x))\n"
        "    np.testing.assert_allclose(z, _logits_reference(clf, X[200:400]), rtol=1e-4, atol=1e-4)\n"
        "print('ok')\n"
    )
    assert run_python(code, tmp_path, FASTCONV_SIMD=level) == "ok"


def test_input_forms_agree(digits):
    X_tr, X_te, y_tr, _ = digits
    X_tr, y_tr = X_tr[:400], y_tr[:400]
    kw = dict(max_epochs=2, random_state=0)
    base = CNNClassifier(**kw).fit(X_tr, y_tr).decision_function(X_te)
    forms = [
        (X_tr.reshape(-1, 8, 8), X_te.reshape(-1, 8, 8), {}),
        (X_tr.reshape(-1, 8, 8, 1), X_te.reshape(-1, 8, 8, 1), {}),
        (X_tr, X_te, {"image_shape": (8, 8)}),
        (X_tr, X_te, {"image_shape": (8, 8, 1)}),
        (X_tr.astype(np.uint8), X_te.astype(np.uint8), {}),
        (X_tr.astype(np.float32), X_te.astype(np.float32), {}),
        (X_tr.tolist(), X_te.tolist(), {}),
        (np.asfortranarray(X_tr), X_te[:, ::1], {}),
    ]
    for a, b, extra in forms:
        got = CNNClassifier(**kw, **extra).fit(a, y_tr).decision_function(b)
        np.testing.assert_allclose(got, base, rtol=1e-5, atol=1e-5)


def test_multichannel_and_rectangular_images():
    rng = np.random.default_rng(0)
    X = rng.random((120, 6, 10, 3))
    y = (X[:, :3, :, 0].mean(axis=(1, 2)) > X[:, 3:, :, 0].mean(axis=(1, 2))).astype(int)
    clf = CNNClassifier(conv_channels=(4,), max_epochs=30, random_state=0).fit(X, y)
    assert clf.image_shape_ == (6, 10, 3) and clf.n_features_in_ == 180
    assert clf.score(X, y) > 0.9
    flat = CNNClassifier(conv_channels=(4,), max_epochs=30, random_state=0, image_shape=(6, 10, 3))
    flat.fit(X.reshape(120, -1), y)
    np.testing.assert_allclose(flat.predict_proba(X.reshape(120, -1)), clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    # a non-square row length reads as a one-row image
    clf2 = CNNClassifier(max_epochs=2, random_state=0).fit(X.reshape(120, -1)[:, :7], y)
    assert clf2.image_shape_ == (1, 7, 1)


def test_labels_binary_strings_and_proba(digits):
    X_tr, X_te, y_tr, _ = digits
    labels = np.where(y_tr < 5, "small", "large").astype(object)
    clf = CNNClassifier(max_epochs=5, random_state=0).fit(X_tr, labels)
    assert list(clf.classes_) == ["large", "small"]
    d = clf.decision_function(X_te)
    assert d.shape == (X_te.shape[0],)
    np.testing.assert_array_equal(clf.predict(X_te), clf.classes_[(d > 0).astype(int)])
    proba = clf.predict_proba(X_te)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X_te), rtol=1e-10, atol=1e-12)
    assert clf.score(X_tr, labels) > 0.95
    # labels of mixed hashable kinds: tuples are not labels for scikit-learn, negative ints and floats are
    y_neg = np.where(y_tr % 3 == 0, -7, np.where(y_tr % 3 == 1, 3, 100))
    clf = CNNClassifier(max_epochs=3, random_state=0).fit(X_tr, y_neg)
    np.testing.assert_array_equal(clf.classes_, [-7, 3, 100])
    assert set(np.unique(clf.predict(X_te))) <= {-7, 3, 100}


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("momentum", 0.02), ("adam", 0.01)])
def test_optimizers_learn(digits, optimizer, lr):
    X_tr, X_te, y_tr, y_te = digits
    clf = CNNClassifier(optimizer=optimizer, learning_rate=lr, max_epochs=8, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.93
    assert clf.t_ == 8 * int(np.ceil(len(y_tr) / clf.batch_size))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedules_learn(digits, schedule):
    X_tr, X_te, y_tr, y_te = digits
    clf = CNNClassifier(learning_rate_schedule=schedule, max_epochs=8, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.95


def test_hidden_layers_and_deeper_stacks(digits):
    X_tr, X_te, y_tr, y_te = digits
    clf = CNNClassifier(conv_channels=(8, 16, 16), kernel_size=(3, 3, 1), padding=("same", 1, 0),
                        pool=("max", "avg", None), pool_size=2, hidden_layer_sizes=(32,), max_epochs=10,
                        random_state=0).fit(X_tr, y_tr)
    assert [c.shape for c in clf.coefs_] == [(3, 3, 1, 8), (3, 3, 8, 16), (1, 1, 16, 16), (64, 32), (32, 10)]
    assert clf.score(X_te, y_te) > 0.9
    mlp = CNNClassifier(conv_channels=(), hidden_layer_sizes=(32,), max_epochs=10, random_state=0)
    assert mlp.fit(X_tr, y_tr).score(X_te, y_te) > 0.9


def test_early_stopping(digits):
    X_tr, _, y_tr, _ = digits
    clf = CNNClassifier(early_stopping=True, n_iter_no_change=2, max_epochs=40, validation_fraction=0.2,
                        random_state=0).fit(X_tr, y_tr)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.n_iter_ < 40
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best = int(np.argmax(clf.validation_scores_))
    assert clf.n_iter_ - 1 - best == 2  # stopped two epochs after the best one


def test_determinism_and_persistence(digits, tmp_path):
    X_tr, X_te, y_tr, _ = digits
    a = CNNClassifier(max_epochs=3, random_state=7).fit(X_tr, y_tr)
    b = CNNClassifier(max_epochs=3, random_state=7).fit(X_tr, y_tr)
    c = CNNClassifier(max_epochs=3, random_state=8).fit(X_tr, y_tr)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    assert a.loss_curve_ == b.loss_curve_
    p = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(p.predict_proba(X_te), a.predict_proba(X_te))
    joblib.dump(a, tmp_path / "clf.joblib")
    j = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(j.decision_function(X_te), a.decision_function(X_te))
    # a fitted model keeps training after a round trip
    j.partial_fit(X_tr, y_tr)
    assert j.n_iter_ == 4


def test_partial_fit(digits):
    X_tr, X_te, y_tr, y_te = digits
    clf = CNNClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X_tr, y_tr)
    for i in range(0, len(y_tr), 200):
        clf.partial_fit(X_tr[i : i + 200], y_tr[i : i + 200], classes=np.arange(10))
    for _ in range(4):
        clf.partial_fit(X_tr, y_tr)
    assert clf.n_iter_ == int(np.ceil(len(y_tr) / 200)) + 4
    assert clf.score(X_te, y_te) > 0.95
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X_tr, y_tr, classes=np.arange(11))
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X_tr[:5], np.full(5, 12))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X_tr[:, :30], y_tr)
    # a class absent from the first batch is still a class
    first = CNNClassifier(random_state=0).partial_fit(X_tr[y_tr < 9], y_tr[y_tr < 9], classes=np.arange(10))
    assert first.predict_proba(X_te).shape == (len(X_te), 10)
    # fit starts over
    clf.fit(X_tr, y_tr)
    assert clf.n_iter_ == clf.max_epochs


def test_grid_search_processes(digits):
    X_tr, _, y_tr, _ = digits
    gs = GridSearchCV(CNNClassifier(max_epochs=3, random_state=0), {"conv_channels": [(4,), (8,)]}, cv=2,
                      n_jobs=2).fit(X_tr, y_tr)
    assert gs.best_params_["conv_channels"] in [(4,), (8,)]
    assert gs.best_score_ > 0.85
    serial = GridSearchCV(CNNClassifier(max_epochs=3, random_state=0), {"conv_channels": [(4,), (8,)]}, cv=2,
                          n_jobs=1).fit(X_tr, y_tr)
    np.testing.assert_allclose(gs.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])


def test_pipeline_and_clone(digits):
    X_tr, X_te, y_tr, y_te = digits
    pipe = make_pipeline(FunctionTransformer(lambda a: a / 16.0), CNNClassifier(max_epochs=5, random_state=0))
    assert pipe.fit(X_tr, y_tr).score(X_te, y_te) > 0.95
    c = clone(CNNClassifier(conv_channels=(4, 8), optimizer="sgd"))
    assert c.get_params()["conv_channels"] == (4, 8) and not hasattr(c, "classes_")


def test_verbose_and_threads_restored(digits):
    X_tr, _, y_tr, _ = digits
    prev = fastconv.set_num_threads(3)
    try:
        buf = io.StringIO()
        with redirect_stdout(buf):
            CNNClassifier(max_epochs=3, verbose=True, early_stopping=True, random_state=0).fit(X_tr, y_tr)
        lines = [ln for ln in buf.getvalue().splitlines() if ln.startswith("Epoch")]
        assert len(lines) == 3 and "loss" in lines[0] and "validation accuracy" in lines[0]
        assert fastconv.get_num_threads() == 3
    finally:
        fastconv.set_num_threads(prev)


def test_inputs_not_modified(digits):
    X_tr, _, y_tr, _ = digits
    X, y = X_tr.copy(), y_tr.copy()
    X.flags.writeable = False
    clf = CNNClassifier(max_epochs=1, random_state=0).fit(X, y)
    clf.predict(X)
    np.testing.assert_array_equal(X, X_tr)
    np.testing.assert_array_equal(y, y_tr)


def test_bad_input(digits):
    X_tr, _, y_tr, _ = digits
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49 values but X has 64 features"):
        CNNClassifier(image_shape=(7, 7)).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="image_shape must be"):
        CNNClassifier(image_shape=(8, -8)).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        CNNClassifier().fit(X_tr[0], y_tr[:1])
    bad = X_tr.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CNNClassifier().fit(bad, y_tr)
    bad[3, 5] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        CNNClassifier().fit(bad, y_tr)
    with pytest.raises(ValueError, match="only one class"):
        CNNClassifier().fit(X_tr, np.zeros_like(y_tr))
    with pytest.raises(ValueError, match="Unknown label type"):
        CNNClassifier().fit(X_tr, y_tr + 0.5)
    clf = CNNClassifier(max_epochs=1, random_state=0).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="X has 63 features, but CNNClassifier is expecting 64 features"):
        clf.predict(X_tr[:, :63])
    with pytest.raises(ValueError, match=r"images of shape \(8, 8, 2\).*fitted on images of shape \(8, 8, 1\)"):
        clf.predict(np.zeros((3, 8, 8, 2)))
    with pytest.raises(ValueError, match=r"images of shape \(10, 10, 1\)"):
        clf.predict(np.zeros((3, 10, 10)))
    with pytest.raises(ValueError, match=r"X has 100 features"):
        clf.predict(np.zeros((3, 100)))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad[:, :64] * np.nan)
    for kw, msg in [
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"learning_rate": 0}, "learning_rate must be in"),
        ({"learning_rate_schedule": "step"}, "learning_rate_schedule must be one of"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"max_epochs": 2.5}, "max_epochs must be an int >= 1"),
        ({"conv_channels": (8, 0)}, "conv_channels must be an int >= 1"),
        ({"kernel_size": (3, 3)}, "kernel_size has 2 entries but conv_channels has 1 blocks"),
        ({"pool": "min"}, "pool must be 'max', 'avg' or None"),
        ({"padding": -1}, "padding must be an int >= 0"),
        ({"validation_fraction": 1.0, "early_stopping": True}, "validation_fraction must be in"),
        ({"momentum": 1.0}, "momentum must be in"),
        ({"dtype": "int32"}, "dtype must be 'float32' or 'float64'"),
        ({"ensemble_size": 0}, "ensemble_size must be an int >= 1"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0.0, 1.0\)"),
        ({"label_smoothing": -0.1}, "label_smoothing must be in"),
        ({"kernel_size": 9, "padding": 0}, None),  # clipped to the 8x8 image: allowed
    ]:
        if msg is None:
            CNNClassifier(max_epochs=1, **kw).fit(X_tr, y_tr)
            continue
        with pytest.raises(ValueError, match=msg):
            CNNClassifier(**kw).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="lower learning_rate"), np.errstate(all="ignore"):
        CNNClassifier(optimizer="sgd", learning_rate=1e30, max_epochs=3, random_state=0).fit(X_tr, y_tr)


@pytest.mark.parametrize("kw", [
    {},  # the default network: 512 dense inputs, two blocks of the dense layer's partial sums
    {"dtype": "float64"},
    {"hidden_layer_sizes": (5,)},  # a hidden layer of fewer than 8 units (zero-padded outputs)
    {"conv_channels": (24,)},  # 384 dense inputs: zero-padded to two blocks
    {"conv_channels": (8, 4), "pool": "avg"},  # a second conv fastconv would run as im2col + BLAS
    {"ensemble_size": 2, "conv_channels": (6,)},
    {"binary": True},  # two outputs
])
def test_predictions_do_not_depend_on_the_batch(digits, kw):
    """A sample's probabilities (and logits) are the same, bit for bit, whether it comes alone,
    in chunks of any size or in a batch longer than the predict chunk, at any position."""
    import fastconv.sklearn as sk

    X_tr, X_te, y_tr, _ = digits
    kw = dict(kw)
    y = (y_tr > 4).astype(int) if kw.pop("binary", False) else y_tr
    clf = CNNClassifier(max_epochs=2, random_state=0, **kw).fit(X_tr, y)
    X = np.concatenate([X_te, X_tr])  # 1,797 rows: more than one predict chunk
    assert X.shape[0] > sk._PREDICT_CHUNK
    full = clf.predict_proba(X)
    z = clf.decision_function(X)
    rows = [0, 1, 2, sk._PREDICT_CHUNK - 1, sk._PREDICT_CHUNK, 777, X.shape[0] - 1]
    for i in rows:
        np.testing.assert_array_equal(clf.predict_proba(X[i : i + 1])[0], full[i])
        np.testing.assert_array_equal(clf.decision_function(X[i : i + 1])[0], z[i])
    for size in (3, 37, 200):
        parts = np.concatenate([clf.predict_proba(X[i : i + size]) for i in range(0, X.shape[0], size)])
        np.testing.assert_array_equal(parts, full)
    perm = np.random.default_rng(0).permutation(X.shape[0])
    np.testing.assert_array_equal(clf.predict_proba(X[perm]), full[perm])
    # the prediction pass (kernels called directly, buffers reused) is _predict_forward's, bit for bit
    x = clf._prepare(clf._validate(X[:300], reset=False), clf._theta.dtype)
    np.testing.assert_array_equal(clf._logits_prepared(x), sk._predict_forward(clf._layout, clf._predict_plan(), x))
    # and it is the network: fastconv.reference's float64 forward pass agrees to float32 rounding
    np.testing.assert_allclose(clf.decision_function(X[:300]).reshape(300, -1),
                               _logits_reference(clf, X[:300]).reshape(300, -1) if z.ndim == 2 else
                               np.diff(_logits_reference(clf, X[:300]), axis=1), rtol=1e-4, atol=1e-4)


def test_dense_layer_sums_in_fixed_blocks():
    """The dense layers at prediction: each output is (sum of block 0 + sum of block 1 + ...) +
    bias, every block of 256 inputs summed in order from zero. With float32-valued inputs and
    weights every product is exact in float64, so this order pins the result bit for bit."""
    from fastconv.sklearn import _dense_apply, _dense_plan

    rng = np.random.default_rng(0)
    for d, u in [(512, 10), (100, 3), (300, 12), (256, 8)]:
        a = rng.standard_normal((9, d)).astype(np.float32).astype(np.float64)
        w = rng.standard_normal((d, u)).astype(np.float32).astype(np.float64)
        b = rng.standard_normal(u)
        want = np.zeros((9, u))
        for k0 in range(0, d, 256):
            part = np.zeros((9, u))
            for k in range(k0, min(d, k0 + 256)):
                part += a[:, k : k + 1] * w[k]
            want = part if k0 == 0 else want + part
        want += b
        np.testing.assert_array_equal(_dense_apply(a, _dense_plan(w, b)), want)
        np.testing.assert_allclose(want, ref.dense_forward(a, w, b)[0], rtol=1e-12, atol=1e-12)


def test_unpickled_model_keeps_the_canonical_dtype(digits):
    X_tr, X_te, y_tr, _ = digits
    clf = CNNClassifier(max_epochs=1, random_state=0).fit(X_tr, y_tr)
    p = pickle.loads(pickle.dumps(clf))
    assert p._theta.dtype is np.dtype(np.float32)
    np.testing.assert_array_equal(p._theta, clf._theta)
    np.testing.assert_array_equal(p.predict_proba(X_te), clf.predict_proba(X_te))
