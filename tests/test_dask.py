"""fastconv.dask on a distributed LocalCluster: equal to the in-memory functions across chunk borders."""
import numpy as np
import pytest

import fastconv

da = pytest.importorskip("dask.array", reason="the dask extra is needed")
distributed = pytest.importorskip("distributed", reason="the dask extra (distributed) is needed")
import fastconv.dask as fdask  # noqa: E402

ALL_MODES = ["constant", "nearest", "reflect", "mirror", "wrap"]


@pytest.fixture(scope="module")
def client():
    """A small in-process cluster (threads only), started and stopped by the tests."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as c:
        yield c


CASES = [((45, 61), (16, 21)), ((30, 41, 3), (11, 15, 2)), ((6, 50), (2, 17)), ((3, 40), (3, 14))]
KSHAPES = [(3, 3), (5, 5), (4, 2), (1, 7), (9, 6)]


@pytest.mark.parametrize("mode", ALL_MODES)
def test_dask_filter2d_equals_whole_image(client, mode):
    """Every (image, chunking, kernel shape) case of one mode, computed in one go on the cluster."""
    rng = np.random.default_rng(ALL_MODES.index(mode))
    lazies, wants, tols = [], [], []
    for shape, chunks in CASES:  # 2-D, RGB, thin chunks, an axis shorter than the reach
        img = (rng.random(shape) * 255).astype(np.float32)
        for i, kshape in enumerate(KSHAPES):
            full = rng.standard_normal(kshape)
            rank1 = np.outer(rng.random(kshape[0]), rng.random(kshape[1]))  # the separable path
            for k in (full, rank1) if i % 2 == 0 else (full,):
                lazy = fdask.filter2d(da.from_array(img, chunks=chunks), k, mode=mode, cval=1.5)
                assert isinstance(lazy, da.Array) and lazy.shape == img.shape and lazy.dtype == np.float32
                lazies.append(lazy)
                wants.append(fastconv.filter2d(img, k, mode=mode, cval=1.5))
                tols.append(1e-4 * np.abs(k).sum())
    gots = client.gather(client.compute(lazies))
    for got, want, tol in zip(gots, wants, tols):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_dask_filter2d_uint8_workflow(client):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(64, 80), dtype=np.uint8)
    lazy = fdask.filter2d(da.from_array(img, chunks=(20, 30)), "sharpen", dtype=np.uint8)
    got = client.compute(lazy).result()
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, fastconv.filter2d(img, "sharpen", dtype=np.uint8))
    # a fractional cval on an integer image is not cut to the image dtype
    lazy = fdask.filter2d(da.from_array(img, chunks=(20, 30)), "mean", cval=0.5)
    np.testing.assert_allclose(client.compute(lazy).result(), fastconv.filter2d(img, "mean", cval=0.5), atol=1e-12)


def test_dask_filter2d_bad_input():
    arr = da.zeros((10, 10), chunks=5)
    with pytest.raises(ValueError, match="mode"):
        fdask.filter2d(arr, "mean", mode="same")
    with pytest.raises(ValueError, match="kernel"):
        fdask.filter2d(arr, "blur")
    with pytest.raises(ValueError, match="more dimensions"):
        fdask.filter2d(arr, np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match=r"\(10,\)"):
        fdask.filter2d(da.zeros(10, chunks=5), "mean")


@pytest.mark.parametrize("padding, stride", [(1, 1), (0, 2), ((2, 1), (1, 3))])
def test_dask_conv2d_forward_batch_chunks(client, padding, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((23, 12, 10, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4))
    b = rng.standard_normal(4)
    lazy = fdask.conv2d_forward(da.from_array(x, chunks=(5, 6, 10, 3)), w, b, padding=padding, stride=stride)
    want, _ = fastconv.conv2d_forward(x, w, b, padding=padding, stride=stride)
    assert lazy.shape == want.shape and lazy.dtype == want.dtype
    assert lazy.chunks[0] == (5, 5, 5, 5, 3)
    got = client.compute(lazy).result()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dask_conv2d_forward_bad_input():
    x = da.zeros((4, 8, 8, 3), chunks=2)
    with pytest.raises(ValueError, match="input channels"):
        fdask.conv2d_forward(x, np.zeros((3, 3, 2, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="x must be 4-D"):
        fdask.conv2d_forward(da.zeros((8, 8), chunks=4), np.zeros((3, 3, 1, 1)), np.zeros(1))


def test_filter2d_messages_name_the_array():
    # the shared checks take the argument's name: every mention is "array", none is "image"
    fd = fdask
    arr = da.ones((6, 7), chunks=3)
    for kwargs, exc in ((dict(kernel=np.ones((3, 3, 1))), ValueError), (dict(kernel=np.ones(3)), ValueError),
                        (dict(kernel="mean", mode="same"), ValueError)):
        with pytest.raises(exc) as info:
            fd.filter2d(arr, **kwargs)
        assert "image" not in str(info.value), info.value
    with pytest.raises(ValueError, match=r"array must be 2-D \(H, W\) or 3-D \(H, W, C\), got shape \(6,\)"):
        fd.filter2d(da.ones(6, chunks=3), "mean")
    with pytest.raises(ValueError, match=r"kernel has more dimensions than the array: kernel shape \(3, 3, 1\), "
                                         r"array shape \(6, 7\)"):
        fd.filter2d(arr, np.ones((3, 3, 1)))
