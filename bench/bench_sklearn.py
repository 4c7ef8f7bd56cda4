"""CNNClassifier against scikit-learn's classifiers on the digits, in one run.

``python bench/bench_sklearn.py`` prints, for ``load_digits`` with 5-fold
``StratifiedKFold(shuffle=True, random_state=0)``: the mean ± std accuracy and the total fit time
of the 5 folds for ``CNNClassifier()`` (defaults, X as ``load_digits`` gives it), ``SVC()`` and
``LogisticRegression(max_iter=1000)`` on X / 16, and ``MLPClassifier(max_iter=1000)`` on X / 16;
then the time of ``CNNClassifier.predict`` on all 1,797 digits (median [min-max] of 20 calls,
wall and process CPU time; the predictions are checked before timing). The fits of the
estimators are interleaved fold by fold and the whole comparison is repeated (``--repeats``);
times are medians over the repeats, with the spread (min-max) beside them, in wall-clock and in
CPU seconds of the fitting thread (the CPU ratios are the steadier ones on a busy machine).
``--seeds N`` then fits ``CNNClassifier(random_state=s)`` on the same folds for s = 0..N-1 and
prints the min, median and max over the seeds of the 5-fold mean accuracy (the default estimator
is unseeded, so the comparison above draws from that spread).

Under pytest (``pytest bench/bench_sklearn.py``) the same comparison runs as pytest-benchmark
functions, one per estimator, grouped so the table shows them side by side.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import _host  # noqa: F401  (before NumPy: the host's OpenBLAS settings off, see bench/_host.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from fastconv import CNNClassifier  # noqa: E402


def estimators():
    """name -> (estimator factory, scale X by 1/16 first)."""
    return {
        "CNNClassifier()": (lambda: CNNClassifier(), False),
        "SVC()": (lambda: SVC(), True),
        "MLPClassifier(max_iter=1000)": (lambda: MLPClassifier(max_iter=1000), True),
        "LogisticRegression(max_iter=1000)": (lambda: LogisticRegression(max_iter=1000), True),
    }


def run_once(X, y, folds, ests):
    """One pass over the folds, the estimators interleaved: {name: (accuracies, total fit s, total
    fit CPU s of this thread)}."""
    out = {name: ([], 0.0, 0.0) for name in ests}
    for train, test in folds:
        for name, (make, scale) in ests.items():
            Xs = X / 16.0 if scale else X
            est = make()
            t0, c0 = time.perf_counter(), time.thread_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(Xs[train], y[train])
            dc = time.thread_time() - c0
            dt = time.perf_counter() - t0
            accs, total, cpu = out[name]
            accs.append(est.score(Xs[test], y[test]))
            out[name] = (accs, total + dt, cpu + dc)
    return out


def seed_spread(X, y, folds, seeds: int):
    """5-fold mean accuracy and total fit CPU seconds of ``CNNClassifier(random_state=s)`` for
    s = 0..seeds-1."""
    means, cpus = [], []
    for s in range(seeds):
        accs, cpu = [], 0.0
        for train, test in folds:
            c0 = time.thread_time()
            est = CNNClassifier(random_state=s).fit(X[train], y[train])
            cpu += time.thread_time() - c0
            accs.append(est.score(X[test], y[test]))
        means.append(float(np.mean(accs)))
        cpus.append(cpu)
    return np.array(means), np.array(cpus)


def fitted_for_predict(X, y):
    """The default estimator fitted on all the digits, its predictions checked before any timing:
    accuracy on the training digits, and the first row predicted alone gives its probabilities in
    the full batch."""
    clf = CNNClassifier(random_state=0).fit(X, y)
    pred = clf.predict(X)
    acc = float(np.mean(pred == y))
    if acc <= 0.95:
        raise AssertionError(f"CNNClassifier().predict: training accuracy {acc:.4f}, expected > 0.95")
    if not np.array_equal(clf.predict_proba(X[:1])[0], clf.predict_proba(X)[0]):
        raise AssertionError("CNNClassifier().predict_proba of a row alone differs from its row in the batch")
    return clf


def predict_times(X, y, repeats: int):
    """Wall and process CPU seconds of ``predict`` on all of X, ``repeats`` calls after a warm-up."""
    clf = fitted_for_predict(X, y)
    clf.predict(X)  # warm up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        clf.predict(X)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return np.array(wall), np.array(cpu)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="passes over the 5 folds (default 3)")
    ap.add_argument("--seeds", type=int, default=0,
                    help="also report CNNClassifier(random_state=s) for s = 0..SEEDS-1 (default 0: skip)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads for every estimator (default 1: on a busy 2-core machine a "
                         "BLAS thread team makes MLPClassifier up to 50x slower); 0 leaves them alone")
    args = ap.parse_args(argv)
    if args.threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        print(f"BLAS and OpenMP thread pools limited to {args.threads} thread(s)")
    X, y = load_digits(return_X_y=True)
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y))
    ests = estimators()
    runs = [run_once(X, y, folds, ests) for _ in range(args.repeats)]
    print(f"load_digits, 5-fold StratifiedKFold(shuffle=True, random_state=0), {args.repeats} repeats "
          f"(accuracy: mean ± std over all folds of all repeats; fit time: median [min-max] of the "
          f"5-fold totals)")
    print(f"{'estimator':36s} {'accuracy':>16s} {'fit time, 5 folds':>26s} {'fit CPU time, 5 folds':>26s}")
    med, med_cpu = {}, {}
    for name in ests:
        accs = np.concatenate([r[name][0] for r in runs])
        times = np.array([r[name][1] for r in runs])
        cpus = np.array([r[name][2] for r in runs])
        med[name] = float(np.median(times))
        med_cpu[name] = float(np.median(cpus))
        print(f"{name:36s} {accs.mean():.4f} ± {accs.std():.4f}   {med[name]:8.3f} s "
              f"[{times.min():.3f}-{times.max():.3f}]   {med_cpu[name]:8.3f} s [{cpus.min():.3f}-{cpus.max():.3f}]")
    for label, m in (("", med), (" CPU", med_cpu)):
        cnn, mlp, svc = m["CNNClassifier()"], m["MLPClassifier(max_iter=1000)"], m["SVC()"]
        print(f"CNNClassifier fit{label} time: {cnn / mlp:.3f} of MLPClassifier's (target <= 0.1), "
              f"{cnn / svc:.1f}x SVC's (target <= 10)")
    if args.seeds > 0:
        means, cpus = seed_spread(X, y, folds, args.seeds)
        print(f"CNNClassifier(random_state=s), s = 0..{args.seeds - 1}: 5-fold mean accuracy min "
              f"{means.min():.4f}, median {np.median(means):.4f}, max {means.max():.4f} (target >= 0.99); "
              f"fit CPU time, 5 folds: median {np.median(cpus):.3f} s [{cpus.min():.3f}-{cpus.max():.3f}]")
        print("  per seed: " + " ".join(f"{m:.4f}" for m in means))
    ts, cpu = predict_times(X, y, 20)
    print(f"CNNClassifier().predict on {X.shape[0]} digits: median {np.median(ts) * 1e3:.2f} ms "
          f"[{ts.min() * 1e3:.2f}-{ts.max() * 1e3:.2f}] over {ts.size} calls (target <= 10 ms); "
          f"process CPU time median {np.median(cpu) * 1e3:.2f} ms [{cpu.min() * 1e3:.2f}-{cpu.max() * 1e3:.2f}]")


# --------------------------------------------------------------------------- pytest-benchmark
try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="module")
    def digits_folds():
        X, y = load_digits(return_X_y=True)
        return X, y, list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y))

    @pytest.mark.parametrize("name", list(estimators()))
    def bench_digits_5fold_fit(benchmark, digits_folds, name):
        """Total fit time of the 5 folds; the mean accuracy goes into extra_info."""
        X, y, folds = digits_folds
        make, scale = estimators()[name]
        Xs = X / 16.0 if scale else X
        benchmark.group = "digits 5-fold fit"
        accs = []

        def fit_all():
            accs.clear()
            for train, test in folds:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = make().fit(Xs[train], y[train])
                accs.append(est.score(Xs[test], y[test]))

        benchmark.pedantic(fit_all, rounds=3 if name.startswith("MLP") else 5, iterations=1)
        benchmark.extra_info["accuracy_mean"] = float(np.mean(accs))
        benchmark.extra_info["accuracy_std"] = float(np.std(accs))
        assert np.mean(accs) > 0.9

    def bench_digits_predict(benchmark, digits_folds):
        """predict on the 1,797 digits with the default estimator fitted on them (checked first)."""
        X, y, _ = digits_folds
        clf = fitted_for_predict(X, y)
        benchmark.group = "digits predict"
        pred = benchmark(clf.predict, X)
        assert np.mean(pred == y) > 0.95


if __name__ == "__main__":
    main()
