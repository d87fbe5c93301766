"""The arithmetic of the training steps: float32, or bfloat16 matrix products.

Parameters, optimiser state, losses, the soft assignments q and the target p
are always float32. With bfloat16, the matrix products of the training steps
(forward and backward) run in bfloat16 under ``torch.autocast``, which is
several times faster on some hardware with native bfloat16 units and slower
on other (see ``resolve_precision``). Full-data passes
(the embedding, q for the target distribution, ``transform``, ``predict``)
stay in float32, so a model predicts the same whatever it was trained with.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time

import torch

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16", "mixed")

# "auto" trains in bfloat16 only where bfloat16 matrix products measure at least this many times
# as fast as float32 ones. The CPUs benchmarked so far fall far to either side of it: those with
# fast bfloat16 units multiply several times as fast in bfloat16, while one that reports
# AVX512-BF16 without AMX multiplies more slowly than in float32 (benchmarks/RESULTS.md). 1.5
# keeps well clear of the slow side and accepts a CPU whose gain at DEC's layer sizes is smaller
# than at large sizes.
MIN_BFLOAT16_SPEEDUP = 1.5


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX on CPU)."""
    if device.type != "cpu":
        return False  # measured on CPU only; see resolve_precision
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers of torch.cpu, absent from some versions
        return False


@functools.lru_cache(maxsize=None)
def bfloat16_speedup(threads: int) -> float:
    """How many times as fast bfloat16 matrix products run as float32 ones on this CPU.

    Times the product of DEC's widest layer (a batch of 256 by 500 -> 2,000),
    the best of 5 in each dtype after a warm-up, the two dtypes interleaved so
    that a busy machine slows both alike. A fraction of a second; measured
    once per process and thread count. A CPU's bfloat16 flags alone do not say it is
    faster: some report AVX512-BF16 and still multiply bfloat16 more slowly
    than float32.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(256, 500, generator=generator)
    b = torch.randn(500, 2000, generator=generator)
    operands = {torch.float32: (a, b), torch.bfloat16: (a.bfloat16(), b.bfloat16())}
    best = dict.fromkeys(operands, float("inf"))
    for repeat in range(6):
        for dtype, (x, w) in operands.items():
            start = time.perf_counter()
            torch.mm(x, w)
            elapsed = time.perf_counter() - start
            if repeat:  # the first round warms up
                best[dtype] = min(best[dtype], elapsed)
    speedup = best[torch.float32] / best[torch.bfloat16]
    logger.info("bfloat16 matrix products run %.2f times as fast as float32 here (%d threads)",
                speedup, threads)
    return speedup


def resolve_precision(precision: str, device: torch.device) -> str:
    """What ``precision`` means on ``device``: "float32", "bfloat16" or "mixed".

    "auto" is "mixed" on a CPU with native bfloat16 units whose bfloat16
    matrix products measure at least ``MIN_BFLOAT16_SPEEDUP`` (1.5) times as
    fast as float32 ones (:func:`bfloat16_speedup`): the clustering phase's
    steps in bfloat16, where they ran faster and gave the same clustering as
    float32, and pretraining in float32, because bfloat16 pretraining
    lowered DEC's accuracy on digits (``benchmarks/RESULTS.md``). Elsewhere
    "auto" is "float32": on GPUs it has not been benchmarked yet, and without
    fast bfloat16 units bfloat16 is slower. The speedups recorded so far
    are far from the threshold on either side (``benchmarks/RESULTS.md``),
    so the choice should not change from run to run on one machine; pass
    "float32" or "mixed" to fix it across machines.
    """
    if precision in ("float32", "bfloat16", "mixed"):
        return precision
    if native_bfloat16(device) and bfloat16_speedup(torch.get_num_threads()) >= MIN_BFLOAT16_SPEEDUP:
        return "mixed"
    return "float32"


def phase_dtypes(resolved: str) -> tuple[torch.dtype, torch.dtype]:
    """The compute dtypes (pretraining, clustering phase) of a resolved precision."""
    return {
        "float32": (torch.float32, torch.float32),
        "bfloat16": (torch.bfloat16, torch.bfloat16),
        "mixed": (torch.float32, torch.bfloat16),
    }[resolved]


def autocast(device: torch.device, dtype: torch.dtype):
    """A context computing the matrix products in ``dtype`` (no-op for float32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
