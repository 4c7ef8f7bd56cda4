"""The bounded pool that recycles the memory of large filter2d outputs (fastconv._alloc)."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastconv import KERNELS, _alloc, filter2d
from fastconv.filters import output_pool

from conftest import run_python

ndi = pytest.importorskip("scipy.ndimage", reason="scipy is the independent check of the results")

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import get_handler_name

SMALL_BLOCK = 64 * 1024  # the tests pool blocks from 64 KiB, so that small images exercise the pool


@pytest.fixture
def pool():
    """The pool emptied, pooling blocks of SMALL_BLOCK bytes and more; the limits restored after."""
    saved = output_pool()
    output_pool(max_blocks=0)  # empty it, so that every test starts from nothing
    output_pool(max_blocks=2, max_bytes=256 << 20, min_block=SMALL_BLOCK)
    yield
    output_pool(max_blocks=0)
    output_pool(max_blocks=saved["max_blocks"], max_bytes=saved["max_bytes"], min_block=saved["min_block"])


def _want(img, name):
    return ndi.correlate(img, KERNELS[name], mode="constant")


def _check(got, img, name):
    np.testing.assert_allclose(got, _want(img, name), rtol=0, atol=1e-10 * 255 * np.abs(KERNELS[name]).sum())


def test_outputs_are_ordinary_arrays_of_the_pool(pool, rng):
    img = rng.random((128, 96))  # 96 KiB
    out = filter2d(img, "laplacian")
    assert get_handler_name(out) == "fastconv_pool"
    assert type(out) is np.ndarray and out.flags.owndata and out.flags.writeable and out.flags.c_contiguous
    _check(out, img, "laplacian")


def test_a_freed_output_is_reused_and_fully_rewritten(pool, rng):
    img1, img2 = rng.random((128, 96)) * 255, rng.random((128, 96)) * 255
    out = filter2d(img1, "gaussian5")
    addr = out.ctypes.data
    out.fill(np.nan)  # what the next owner must not see
    del out
    assert output_pool()["blocks"] == 1
    hits = output_pool()["hits"]
    again = filter2d(img2, "gaussian5")
    assert again.ctypes.data == addr and output_pool()["hits"] == hits + 1  # the same block came back
    assert output_pool()["blocks"] == 0  # and it is no longer in the pool while `again` owns it
    assert not np.isnan(again).any()
    _check(again, img2, "gaussian5")


@pytest.mark.parametrize("name", ["laplacian", "gaussian3"])
def test_live_outputs_never_share_memory(pool, rng, name):
    imgs = [rng.random((64, 200)) * 255 for _ in range(6)]
    outs = []
    for img in imgs:
        outs.append(filter2d(img, name))
        if len(outs) == 3:
            del outs[0]  # free one, so that the next ones are served from the pool
            outs.insert(0, None)
    live = [o for o in outs if o is not None]
    addrs = [o.ctypes.data for o in live]
    assert len(set(addrs)) == len(addrs)
    for i, a in enumerate(live):
        for b in live[i + 1:]:
            assert not np.shares_memory(a, b)
    for img, o in zip(imgs, outs):
        if o is not None:
            _check(o, img, name)


def test_the_pool_is_bounded(pool, rng):
    outs = [filter2d(rng.random((100, 100)), "mean") for _ in range(5)]  # 80 KB each
    del outs
    s = output_pool()
    assert s["blocks"] == 2 and s["bytes"] == 2 * 100 * 100 * 8
    output_pool(max_bytes=100 * 100 * 8)  # room for one: the older block is given back at once
    assert output_pool()["blocks"] == 1
    big = [filter2d(rng.random((200, 100)), "mean") for _ in range(2)]  # 160 KB: over the byte cap
    del big
    assert output_pool()["bytes"] <= 100 * 100 * 8
    tiny = filter2d(rng.random((10, 10)), "mean")  # below min_block: never pooled
    del tiny
    assert output_pool()["bytes"] <= 100 * 100 * 8


def test_turning_the_pool_off_releases_its_memory(pool, rng):
    img = rng.random((128, 128))
    outs = [filter2d(img, "sobel_x") for _ in range(2)]
    del outs
    assert output_pool()["blocks"] == 2
    s = output_pool(max_blocks=0)
    assert s["blocks"] == 0 and s["bytes"] == 0
    out = filter2d(img, "sobel_x")
    _check(out, img, "sobel_x")
    del out
    assert output_pool()["blocks"] == 0  # nothing is kept while it is off


def test_results_equal_with_and_without_the_pool(pool, rng):
    img = (rng.random((257, 131, 3)) * 255).astype(np.uint8)  # a converted input copy is pooled too
    k = rng.standard_normal((5, 4))
    with_pool = [filter2d(img, k, mode=m) for m in ("constant", "reflect", "wrap")]
    output_pool(max_blocks=0)
    without = [filter2d(img, k, mode=m) for m in ("constant", "reflect", "wrap")]
    for a, b in zip(with_pool, without):
        np.testing.assert_array_equal(a, b)


def test_threads_get_distinct_buffers_and_right_results(pool):
    """Many threads filtering and freeing same-size images at once: every result is right."""
    rng = np.random.default_rng(7)
    imgs = [rng.random((96, 120)) * 255 for _ in range(8)]
    wants = [_want(img, "gaussian3") for img in imgs]
    errors = []
    lock = threading.Lock()

    def work(seed):
        r = np.random.default_rng(seed)
        held = []
        for _ in range(40):
            i = int(r.integers(len(imgs)))
            out = filter2d(imgs[i], "gaussian3")
            if not np.allclose(out, wants[i], rtol=0, atol=1e-9):
                with lock:
                    errors.append(i)
            held.append((i, out))
            if len(held) > 2:
                j, old = held.pop(0)
                if not np.allclose(old, wants[j], rtol=0, atol=1e-9):  # still intact while owned
                    with lock:
                        errors.append(j)
        return [o.ctypes.data for _, o in held]

    with ThreadPoolExecutor(4) as ex:
        addrs = [a for res in ex.map(work, range(4)) for a in res]
    assert not errors
    assert len(addrs) == 8


def test_realloc_and_calloc_go_through_the_handler(pool):
    a = _alloc.empty((300, 300), np.float64)  # 720 KB, pooled when freed
    a[:] = 1.5
    a.resize((400, 300), refcheck=False)  # realloc
    assert get_handler_name(a) == "fastconv_pool"
    np.testing.assert_array_equal(a[:300], 1.5)
    a[300:] = 2.5
    assert a.sum() == 300 * 300 * 1.5 + 100 * 300 * 2.5
    del a
    assert output_pool()["blocks"] == 1


def test_pool_limits_are_checked(pool):
    with pytest.raises(ValueError, match="max_blocks"):
        output_pool(max_blocks=_alloc.MAX_SLOTS + 1)
    with pytest.raises(ValueError, match="max_blocks"):
        output_pool(max_blocks=-1)
    with pytest.raises(ValueError, match="max_bytes"):
        output_pool(max_bytes=-5)
    with pytest.raises(ValueError, match="min_block"):
        output_pool(min_block=0)
    with pytest.raises(TypeError, match="max_blocks"):
        output_pool(max_blocks=1.5)
    with pytest.raises(TypeError, match="min_block"):
        output_pool(min_block=True)


def test_environment_variable_turns_it_off(tmp_path):
    code = (
        "import numpy as np; from fastconv import filter2d; from fastconv.filters import output_pool\n"
        "out = filter2d(np.ones((1024, 1024)), 'mean'); del out\n"
        "s = output_pool(); print(s['max_blocks'], s['blocks'], s['bytes'])"
    )
    assert run_python(code, tmp_path, FASTCONV_OUTPUT_POOL="0") == "0 0 0"
    # unset (empty): the default keeps the 8 MiB output
    assert run_python(code, tmp_path, FASTCONV_OUTPUT_POOL="") == f"4 1 {1024 * 1024 * 8}"
    assert run_python(code, tmp_path, FASTCONV_OUTPUT_POOL="1").startswith("1 1 ")
    # read on the pool's first use, not at import: importing fastconv does not warn
    warned = run_python("import warnings, sys; warnings.simplefilter('error')\n"
                        "import fastconv\n"
                        "try:\n fastconv.filters.output_pool()\nexcept RuntimeWarning as e: print('warned', e)",
                        tmp_path, FASTCONV_OUTPUT_POOL="lots")
    assert warned.startswith("warned FASTCONV_OUTPUT_POOL")


def test_scratch_buffers_are_per_thread_and_per_slot():
    """fastconv._scratch: one slot's arrays share memory within a thread (and grow), other slots and
    other threads get their own; 64-byte aligned; requests over MAX_BYTES are not kept."""
    import threading

    from fastconv import _scratch

    a = _scratch.scratch("test.a", (100, 3), np.float32)
    assert a.shape == (100, 3) and a.dtype == np.float32 and a.flags.c_contiguous and a.ctypes.data % 64 == 0
    a[...] = 1
    b = _scratch.scratch("test.a", (50,), np.float64)  # the same slot: the same memory
    assert np.shares_memory(a, b)
    c = _scratch.scratch("test.c", (100, 3), np.float32)
    assert not np.shares_memory(a, c)
    big = _scratch.scratch("test.a", (1000, 1000), np.float64)  # grown: a new buffer
    assert big.shape == (1000, 1000) and big.ctypes.data % 64 == 0
    other = {}
    t = threading.Thread(target=lambda: other.setdefault("x", _scratch.scratch("test.a", (10,), np.float32)))
    t.start()
    t.join()
    assert not np.shares_memory(other["x"], _scratch.scratch("test.a", (10,), np.float32))
    huge1 = _scratch.scratch("test.h", (_scratch.MAX_BYTES // 8 + 1,), np.float64)
    huge2 = _scratch.scratch("test.h", (_scratch.MAX_BYTES // 8 + 1,), np.float64)
    assert not np.shares_memory(huge1, huge2)
    del huge1, huge2
    _scratch.release()
    assert not np.shares_memory(_scratch.scratch("test.a", (10,), np.float32), big)
