"""Wide layers of ResNet's later stages and VGG-16's third, forward+backward, float32: fastconv
beside torch.

The 3x3 layers of 256 and 512 channels on 14x14 and 7x7 images, whose weight gradients do not fit
a core's cache (the direct family's wide backward, ``conv._wide_backward``), and a 256->256 layer
on 56x56 images, with output pixels enough for Winograd at that width
(``conv._winograd_min_pixels``), timed like the layers of ``bench_conv.py`` (same data, checks
and torch calls): checked against a float64 im2col computation, then timed.
``python bench/wide_interleaved.py`` compares the first three with the fused backward, and
``python bench/winograd_rule_interleaved.py`` the last with the direct kernels.
"""
import pytest

from bench_conv import TORCH_IMPLS, Case, answers, fastconv_fwd_bwd, group, torch_fwd_bwd

WIDE_CASES = [
    Case(8, 7, 7, 512, 512, 3, 1, 1),   # ResNet-18/34 stage 4
    Case(8, 14, 14, 256, 256, 3, 1, 1),  # stage 3
    Case(8, 14, 14, 256, 512, 3, 1, 2),  # the stride-2 entry of stage 4
    Case(4, 56, 56, 256, 256, 3, 1, 1),  # VGG-16 conv3_2 / conv3_3
]
WIDE_IDS = [c.label.replace(" ", "_") for c in WIDE_CASES]


@pytest.mark.parametrize("impl", ["fastconv", "torch", "torch channels-last"])
@pytest.mark.parametrize("case", WIDE_CASES, ids=WIDE_IDS)
def bench_wide_fwd_bwd(timed, case, impl):
    flops = case.flops()
    if impl == "fastconv":
        timed(group(case), impl, fastconv_fwd_bwd(case), answers(case, with_fastconv=False), flops=flops)
    else:
        fn, convert = torch_fwd_bwd(case, channels_last=TORCH_IMPLS[impl])
        timed(group(case), impl, fn, answers(case), convert, flops=flops)
