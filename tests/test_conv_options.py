"""conv2d with torch's options: per-side, 'same' and 'valid' padding, dilation, groups (depthwise
included) and no bias, in both backends, against ``torch.nn.functional.conv2d`` + autograd, against
each other (hypothesis), against central differences, and their bad values."""
import numpy as np
import pytest

import fastconv
import fastconv.reference
from fastconv import gradcheck

# torch warns that it pads a copy of the input for 'same' with even kernels; nothing to act on here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

# relative to the largest |torch answer| of each output
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


def random_case(seed, big=False):
    """One random combination of the options: (x shape, w shape, has_bias, padding, stride, dilation, groups).

    Strides that do not divide the extent, kernels larger than the stride, even kernels with
    'same', dilation with stride, groups 1/2/4/C with channel multipliers 1..3. ``big``: more
    channels, so that the kernels' full vector blocks are used too.
    """
    rng = np.random.default_rng(seed)
    groups_kind = rng.choice(["1", "2", "4", "C"])
    if big:
        c = int(rng.choice([16, 33, 40, 64, 75]))
    else:
        c = int(rng.choice([1, 2, 3, 4, 6, 8]))
    groups = {"1": 1, "2": 2, "4": 4, "C": c}[groups_kind]
    if c % groups:
        c = groups * max(1, c // groups)
    mult = int(rng.choice([1, 1, 2, 3])) if groups_kind == "C" else int(rng.integers(1, 4 if not big else 20))
    cout = groups * mult
    kh, kw = (int(k) for k in rng.integers(1, 5, 2))
    dil = tuple(int(d) for d in rng.integers(1, 4, 2))
    kind = rng.choice(["same", "valid", "int", "pair", "sides"])
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    if kind == "same":
        stride, padding = (1, 1), "same"
    elif kind == "valid":
        padding = "valid"
    elif kind == "int":
        padding = int(rng.integers(0, 4))
    elif kind == "pair":
        padding = tuple(int(p) for p in rng.integers(0, 4, 2))
    else:
        padding = tuple(tuple(int(p) for p in rng.integers(0, 4, 2)) for _ in range(2))
    # an input large enough for the dilated kernel once padded (the tests of bad values cover the rest)
    h = int(rng.integers(max(1, dil[0] * (kh - 1) + 1 - 3), dil[0] * (kh - 1) + 8))
    w = int(rng.integers(max(1, dil[1] * (kw - 1) + 1 - 3), dil[1] * (kw - 1) + 8))
    n = int(rng.integers(1, 3))
    return (n, h, w, c), (kh, kw, c // groups, cout), bool(rng.random() < 0.75), padding, stride, dil, groups


def fits(xs, ws, padding, stride, dil):
    """True if the padded input holds the dilated kernel (else conv2d_forward raises ValueError)."""
    if isinstance(padding, str):
        return padding == "same" or all(xs[1 + a] >= dil[a] * (ws[a] - 1) + 1 for a in range(2))
    if isinstance(padding, int):
        padding = (padding, padding)
    sides = [(p, p) if isinstance(p, int) else p for p in padding]
    return all(xs[1 + a] + sum(sides[a]) >= dil[a] * (ws[a] - 1) + 1 for a in range(2))


def torch_conv(x, w, b, padding, stride, dil, groups, dy):
    """torch's (y, dx, dw, db) in fastconv's layouts (float64 tensors of the given values)."""
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install '.[test]')")
    F = torch.nn.functional
    xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1), dtype=torch.float64, requires_grad=True)
    bt = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    xin, pad = xt, padding
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):  # per side: torch pads explicitly
        (top, bottom), (left, right) = padding
        xin, pad = F.pad(xt, (left, right, top, bottom)), 0
    y = F.conv2d(xin, wt, bt, stride=stride, padding=pad, dilation=dil, groups=groups)
    y.backward(torch.tensor(dy.transpose(0, 3, 1, 2), dtype=torch.float64))
    return (
        y.detach().numpy().transpose(0, 2, 3, 1),
        xt.grad.numpy().transpose(0, 2, 3, 1),
        wt.grad.numpy().transpose(2, 3, 1, 0),
        None if b is None else bt.grad.numpy(),
    )


def rel_err(actual, expected):
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-300)
    return float(np.max(np.abs(actual.astype(np.float64) - expected))) / scale if expected.size else 0.0


def check_against_torch(impl, dtype, xs, ws, has_b, padding, stride, dil, groups, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[3]).astype(dtype) if has_b else None
    x0, w0 = x.copy(), w.copy()
    y, cache = impl.conv2d_forward(x, w, b, padding, stride, dil, groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = impl.conv2d_backward(dy, cache)
    ty, tdx, tdw, tdb = torch_conv(x, w, b, padding, stride, dil, groups, dy)
    assert y.dtype == dtype and dx.dtype == dtype and dw.dtype == dtype
    assert np.array_equal(x, x0) and np.array_equal(w, w0), "an input array was modified"
    errs = {"y": rel_err(y, ty), "dx": rel_err(dx, tdx), "dw": rel_err(dw, tdw)}
    if has_b:
        assert db.dtype == dtype
        errs["db"] = rel_err(db, tdb)
    else:
        assert db is None
    bad = {k: e for k, e in errs.items() if not e <= TOL[np.dtype(dtype)]}
    assert not bad, f"errors {bad} for x {xs} w {ws} padding {padding} stride {stride} dilation {dil} groups {groups}"
    return max(errs.values())


def _cases(count, big=False, base=0):
    out = []
    for seed in range(base, base + 10 * count):
        case = random_case(seed, big)
        if fits(case[0], case[1], case[3], case[4], case[5]):
            out.append((seed, case))
        if len(out) == count:
            break
    return out


SMALL_CASES = _cases(60)
BIG_CASES = _cases(30, big=True, base=100000)


@pytest.mark.parametrize("seed,case", SMALL_CASES, ids=[f"s{s}" for s, _ in SMALL_CASES])
def test_matches_torch(impl, dtype, seed, case):
    check_against_torch(impl, dtype, *case, seed)


@pytest.mark.parametrize("seed,case", BIG_CASES, ids=[f"b{s}" for s, _ in BIG_CASES])
def test_matches_torch_wide(dtype, seed, case):
    """Wider channel counts (full vector blocks of the direct and depthwise kernels), fast path only."""
    check_against_torch(fastconv, dtype, *case, seed)


@pytest.mark.parametrize(
    "xs,ws,padding,stride,dil,groups",
    [
        ((2, 9, 11, 64), (3, 3, 1, 64), 1, 1, 1, 64),  # depthwise 3x3 p1
        ((2, 10, 9, 64), (3, 3, 1, 64), 1, 2, 1, 64),  # depthwise s2
        ((1, 8, 8, 40), (3, 3, 1, 80), "same", 1, 2, 40),  # depthwise, multiplier 2, dilated
        ((2, 9, 9, 64), (3, 3, 16, 64), 1, 1, 1, 4),  # grouped
        ((2, 9, 9, 64), (3, 3, 64, 64), "same", 1, 2, 1),  # dilated 'same'
        ((1, 7, 8, 12), (4, 2, 12, 10), "same", 1, (2, 3), 1),  # even kernel, 'same'
        ((1, 9, 7, 8), (3, 3, 8, 8), ((0, 3), (2, 1)), (2, 3), (2, 1), 1),  # per side, dilation and stride
        ((1, 6, 6, 8), (2, 2, 8, 24), "valid", 1, 1, 1),  # 'valid'
    ],
)
def test_workload_shapes_match_torch(dtype, xs, ws, padding, stride, dil, groups):
    check_against_torch(fastconv, dtype, xs, ws, True, padding, stride, dil, groups, 7)
    check_against_torch(fastconv, dtype, xs, ws, False, padding, stride, dil, groups, 8)


def test_same_output_size_and_split(impl):
    """'same' keeps H, W and puts the smaller half of dilation*(K-1) first, as torch does."""
    x = np.random.default_rng(0).standard_normal((1, 7, 6, 2))
    w = np.random.default_rng(1).standard_normal((4, 2, 2, 3))
    y, cache = impl.conv2d_forward(x, w, None, "same", 1, (1, 3))
    assert y.shape == (1, 7, 6, 3)
    # total padding (1*3, 3*1) = (3, 3): (1, 1) before, (2, 2) after
    y2, _ = impl.conv2d_forward(x, w, None, ((1, 2), (1, 2)), 1, (1, 3))
    np.testing.assert_array_equal(y, y2)


def test_same_equals_explicit_padding_exactly(dtype):
    """'same' with an odd kernel is the symmetric padding: the very same results."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 8)).astype(dtype)
    w = rng.standard_normal((3, 5, 8, 16)).astype(dtype)
    b = rng.standard_normal(16).astype(dtype)
    y1, c1 = fastconv.conv2d_forward(x, w, b, "same")
    y2, c2 = fastconv.conv2d_forward(x, w, b, (1, 2))
    np.testing.assert_array_equal(y1, y2)
    dy = rng.standard_normal(y1.shape).astype(dtype)
    for a, e in zip(fastconv.conv2d_backward(dy, c1), fastconv.conv2d_backward(dy, c2)):
        np.testing.assert_array_equal(a, e)


def test_valid_is_zero_padding(impl):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((1, 6, 7, 3)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(2)
    np.testing.assert_array_equal(impl.conv2d_forward(x, w, b, "valid")[0], impl.conv2d_forward(x, w, b, 0)[0])


def test_no_bias_is_zero_bias_and_db_none(impl, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 4)).astype(dtype)
    w = rng.standard_normal((3, 3, 2, 6)).astype(dtype)
    y0, c0 = impl.conv2d_forward(x, w, None, 1, 1, 1, 2)
    y1, c1 = impl.conv2d_forward(x, w, np.zeros(6, dtype), 1, 1, 1, 2)
    np.testing.assert_allclose(y0, y1, rtol=0, atol=0)
    dy = rng.standard_normal(y0.shape).astype(dtype)
    dx0, dw0, db0 = impl.conv2d_backward(dy, c0)
    dx1, dw1, db1 = impl.conv2d_backward(dy, c1)
    assert db0 is None and db1 is not None
    np.testing.assert_array_equal(dx0, dx1)
    np.testing.assert_array_equal(dw0, dw1)


@pytest.mark.parametrize("seed,case", SMALL_CASES[:20] + BIG_CASES[:10], ids=[f"c{s}" for s, _ in SMALL_CASES[:20] + BIG_CASES[:10]])
def test_backward_without_dx_and_thread_count(seed, case):
    """The skip-dx backward gives the same dw, db; results do not depend on the thread count."""
    xs, ws, has_b, padding, stride, dil, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[3]).astype(np.float32) if has_b else None
    results = []
    prev = fastconv.get_num_threads()
    try:
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            y, cache = fastconv.conv2d_forward(x, w, b, padding, stride, dil, groups)
            dy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(np.float32)
            dx, dw, db = fastconv.conv2d_backward(dy, cache)
            nodx = fastconv.conv2d_backward(dy, cache, compute_dx=False)
            assert nodx[0] is None
            np.testing.assert_array_equal(nodx[1], dw)
            assert (nodx[2] is None) == (db is None)
            if db is not None:
                np.testing.assert_array_equal(nodx[2], db)
            results.append((y, dx, dw, db))
    finally:
        fastconv.set_num_threads(prev)
    for other in results[1:]:
        for a, e in zip(other, results[0]):
            if e is None:
                assert a is None
            else:
                np.testing.assert_array_equal(a, e)


GRAD_CASES = [
    # (x shape, w shape, padding, stride, dilation, groups, bias)
    ((1, 6, 7, 4), (3, 3, 2, 4), ((0, 2), (1, 0)), (2, 1), (1, 2), 2, True),
    ((2, 6, 6, 3), (3, 2, 1, 3), "same", 1, 2, 3, False),  # depthwise
    ((1, 7, 6, 2), (2, 3, 1, 6), "valid", (1, 2), (2, 1), 2, True),  # depthwise, multiplier 3
    ((1, 6, 6, 4), (4, 4, 1, 4), 2, 3, 1, 4, True),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[f"g{i}" for i in range(len(GRAD_CASES))])
def test_gradcheck_options(impl, rng, case):
    xs, ws, padding, stride, dil, groups, has_b = case
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    y, _ = impl.conv2d_forward(x, w, None, padding, stride, dil, groups)
    r = rng.normal(size=y.shape)
    prev = fastconv.set_num_threads(1)
    try:
        if has_b:
            b = rng.normal(size=ws[3])

            def loss(x, w, b):
                return np.sum(impl.conv2d_forward(x, w, b, padding, stride, dil, groups)[0] * r)

            def grads(x, w, b):
                return impl.conv2d_backward(r, impl.conv2d_forward(x, w, b, padding, stride, dil, groups)[1])

            assert gradcheck(loss, [x, w, b], grads, rtol=1e-6) <= 1e-6
        else:

            def loss(x, w):
                return np.sum(impl.conv2d_forward(x, w, None, padding, stride, dil, groups)[0] * r)

            def grads(x, w):
                return impl.conv2d_backward(r, impl.conv2d_forward(x, w, None, padding, stride, dil, groups)[1])[:2]

            assert gradcheck(loss, [x, w], grads, rtol=1e-6) <= 1e-6
    finally:
        fastconv.set_num_threads(prev)


X = np.ones((2, 6, 6, 4))
W = np.ones((3, 3, 4, 8))
B = np.zeros(8)
BAD = [
    ("same-stride2", lambda m: m.conv2d_forward(X, W, B, "same", 2), ValueError, r"padding='same' needs stride 1, got stride \(2, 2\)"),
    ("padding-string", lambda m: m.conv2d_forward(X, W, B, "full"), ValueError, r"padding must be .* 'same' or 'valid', got 'full'"),
    ("padding-negative-side", lambda m: m.conv2d_forward(X, W, B, ((0, -1), (1, 1))), ValueError, r"padding must be non-negative, got \(0, -1\)"),
    ("padding-float-side", lambda m: m.conv2d_forward(X, W, B, ((0, 1.5), (1, 1))), TypeError, r"padding must be an int or an \(h, w\) pair of ints, got \(0, 1.5\)"),
    ("padding-float", lambda m: m.conv2d_forward(X, W, B, 0.5), TypeError, r"padding must be an int"),
    ("dilation-0", lambda m: m.conv2d_forward(X, W, B, 1, 1, 0), ValueError, r"dilation must be >= 1, got 0"),
    ("dilation-pair-0", lambda m: m.conv2d_forward(X, W, B, 1, 1, (1, 0)), ValueError, r"dilation must be >= 1, got \(1, 0\)"),
    ("dilation-float", lambda m: m.conv2d_forward(X, W, B, 1, 1, 1.5), TypeError, r"dilation must be an int"),
    ("groups-0", lambda m: m.conv2d_forward(X, W, B, 1, 1, 1, 0), ValueError, r"groups must be >= 1, got 0"),
    ("groups-float", lambda m: m.conv2d_forward(X, W, B, 1, 1, 1, 2.0), TypeError, r"groups must be a positive int, got 2.0"),
    ("groups-not-dividing-C", lambda m: m.conv2d_forward(X, np.ones((3, 3, 1, 6)), np.zeros(6), 1, 1, 1, 3), ValueError,
     r"groups=3 does not divide the 4 input channels of x \(x shape \(2, 6, 6, 4\)\)"),
    ("groups-not-dividing-Cout", lambda m: m.conv2d_forward(X, np.ones((3, 3, 2, 5)), np.zeros(5), 1, 1, 1, 2), ValueError,
     r"groups=2 does not divide the 5 output channels of w \(w shape \(3, 3, 2, 5\)\)"),
    ("w-third-axis", lambda m: m.conv2d_forward(X, np.ones((3, 3, 4, 8)), B, 1, 1, 1, 2), ValueError,
     r"w has 4 input channels per group but x has 4 channels in 2 groups of 2 \(x shape \(2, 6, 6, 4\).*w shape \(3, 3, 4, 8\)"),
    ("bias-length", lambda m: m.conv2d_forward(X, np.ones((3, 3, 2, 8)), np.zeros(4), 1, 1, 1, 2), ValueError,
     r"b has length 4 but w has 8 output channels \(w shape \(3, 3, 2, 8\)\)"),
    ("dilated-kernel-too-large", lambda m: m.conv2d_forward(X, W, B, 0, 1, 3), ValueError,
     r"kernel 3x3 with dilation \(3, 3\) spans 7x7, more than the padded input 6x6 \(x has shape \(2, 6, 6, 4\)"),
]


@pytest.mark.parametrize("name,call,exc,match", BAD, ids=[c[0] for c in BAD])
def test_bad_options_raise(impl, name, call, exc, match):
    with pytest.raises(exc, match=match):
        call(impl)


def test_hypothesis_reference_fast_parity():
    """fastconv against fastconv.reference on hypothesis-drawn option combinations."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given
    from hypothesis import strategies as st

    @st.composite
    def cases(draw):
        groups = draw(st.sampled_from([1, 2, 3, 4]))
        cg = draw(st.integers(1, 3))
        depthwise = draw(st.booleans())
        if depthwise:
            cg = 1
            groups = draw(st.integers(2, 20))
        mult = draw(st.integers(1, 3))
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = draw(st.one_of(
            st.just("same"), st.just("valid"), st.integers(0, 3),
            st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3))),
        ))
        if padding == "same":
            stride = (1, 1)
        h = draw(st.integers(dil[0] * (kh - 1) + 1, dil[0] * (kh - 1) + 6))
        w = draw(st.integers(dil[1] * (kw - 1) + 1, dil[1] * (kw - 1) + 6))
        return ((draw(st.integers(1, 2)), h, w, cg * groups), (kh, kw, cg, groups * mult), draw(st.booleans()),
                padding, stride, dil, groups, draw(st.sampled_from([np.float32, np.float64])), draw(st.integers(0, 2**31)))

    @given(cases())
    def check(case):
        xs, ws, has_b, padding, stride, dil, groups, dtype, seed = case
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[3]).astype(dtype) if has_b else None
        yr, cr = fastconv.reference.conv2d_forward(x, w, b, padding, stride, dil, groups)
        yf, cf = fastconv.conv2d_forward(x, w, b, padding, stride, dil, groups)
        dy = rng.standard_normal(yr.shape).astype(dtype)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        for name, a, e in zip(("y", "dx", "dw", "db"), (yf,) + fastconv.conv2d_backward(dy, cf),
                              (yr,) + fastconv.reference.conv2d_backward(dy, cr)):
            if e is None:
                assert a is None
                continue
            assert a.shape == e.shape and a.dtype == e.dtype
            assert rel_err(a, e.astype(np.float64)) <= tol, (name, case)

    check()


@pytest.mark.parametrize("groups,ws", [(4, (3, 3, 1, 4)), (2, (3, 3, 2, 8))])
def test_algorithm_choice_with_options(groups, ws):
    """small and gemm serve the plain options only (a ValueError says why); direct serves every
    option, and matches the depthwise kernels that "auto" picks for depthwise layers."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 7, 6, 4))
    w = rng.standard_normal(ws)
    for algo in ("small", "gemm"):
        with pytest.raises(ValueError, match=rf"cannot use algorithm='{algo}': .*groups 1 only, got .*groups {groups}"):
            fastconv.conv2d_forward(x, w, None, 1, 1, 1, groups, algorithm=algo)
    y_auto, c_auto = fastconv.conv2d_forward(x, w, None, "same", 1, 2, groups)
    y_direct, c_direct = fastconv.conv2d_forward(x, w, None, "same", 1, 2, groups, algorithm="direct")
    y_ref, c_ref = fastconv.reference.conv2d_forward(x, w, None, "same", 1, 2, groups)
    np.testing.assert_allclose(y_auto, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y_direct, y_ref, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y_ref.shape)
    ref = fastconv.reference.conv2d_backward(dy, c_ref)
    for got in (fastconv.conv2d_backward(dy, c_auto), fastconv.conv2d_backward(dy, c_direct)):
        assert got[2] is None and ref[2] is None
        for a, e in zip(got[:2], ref[:2]):
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_nchw_layout_with_options(impl):
    """layout="NCHW" takes the options too: the same values as NHWC, transposed."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 7, 6, 6))
    w = rng.standard_normal((3, 2, 2, 6))  # (Kh, Kw, C/groups, Cout), groups 3
    y, c = impl.conv2d_forward(x, w, None, ((1, 0), (2, 1)), (1, 2), (2, 1), 3)
    yn, cn = impl.conv2d_forward(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), None, ((1, 0), (2, 1)),
                                 (1, 2), (2, 1), 3, layout="NCHW")
    np.testing.assert_allclose(yn, y.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = impl.conv2d_backward(dy, c)
    dxn, dwn, dbn = impl.conv2d_backward(dy.transpose(0, 3, 1, 2), cn)
    assert db is None and dbn is None
    np.testing.assert_allclose(dxn, dx.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dwn, dw.transpose(3, 2, 0, 1), rtol=1e-12, atol=1e-12)
