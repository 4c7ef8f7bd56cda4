"""fastconv.filter2d vs cv2.filter2D (float32) and scipy.ndimage.correlate (float64) at 2048x2048, calls interleaved.

Run: ``python bench/filter_interleaved.py``. Each fastconv call is followed by the peer's call, so both
see the same background load on a shared host; medians and their ratio are printed. Every result is
checked against fastconv's before timing.
"""
import numpy as np, time, cv2, fastconv, scipy.ndimage as ndi
from fastconv import KERNELS
cv2.setNumThreads(fastconv.get_num_threads())
rng = np.random.default_rng(0)
img = (rng.random((2048, 2048)) * 255).astype(np.float32)
ks = {"laplacian": KERNELS["laplacian"], "random3": rng.standard_normal((3, 3)), "gaussian3": KERNELS["gaussian3"],
      "random5": rng.standard_normal((5, 5)), "gaussian5": KERNELS["gaussian5"]}
for name, k in ks.items():
    np.testing.assert_allclose(cv2.filter2D(img, -1, k.astype(np.float32), borderType=cv2.BORDER_CONSTANT),
                               fastconv.filter2d(img, k), rtol=0, atol=1e-4 * 255 * np.abs(k).sum())
    np.testing.assert_allclose(ndi.correlate(img.astype(np.float64), k, mode="constant"),
                               fastconv.filter2d(img.astype(np.float64), k), rtol=0, atol=1e-9 * 255 * np.abs(k).sum())
for name, k in ks.items():
    k32 = k.astype(np.float32)
    a, b = [], []
    for _ in range(40):  # interleaved, so both see the same background load
        t0 = time.perf_counter(); fastconv.filter2d(img, k); a.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); cv2.filter2D(img, -1, k32, borderType=cv2.BORDER_CONSTANT); b.append(time.perf_counter() - t0)
    print(f"f32 2048 {name}: fastconv {np.median(a)*1e3:.1f} ms, cv2 {np.median(b)*1e3:.1f} ms, cv2/fastconv {np.median(b)/np.median(a):.2f}")
img64 = img.astype(np.float64)
for name in ["laplacian", "random5"]:
    k = ks[name]; a, b = [], []
    for _ in range(8):
        t0 = time.perf_counter(); fastconv.filter2d(img64, k); a.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); ndi.correlate(img64, k, mode="constant"); b.append(time.perf_counter() - t0)
    print(f"f64 2048 {name}: fastconv {np.median(a)*1e3:.1f} ms, scipy {np.median(b)*1e3:.1f} ms, scipy/fastconv {np.median(b)/np.median(a):.2f}")
