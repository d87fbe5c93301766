"""The arithmetic of the training steps: float32, or bfloat16 matrix products.

Parameters, optimiser state, losses, the soft assignments q and the target p
are always float32. With bfloat16, the matrix products of the training steps
(forward and backward) run in bfloat16 under ``torch.autocast``, which is
several times faster on hardware with native bfloat16 units. Full-data passes
(the embedding, q for the target distribution, ``transform``, ``predict``)
stay in float32, so a model predicts the same whatever it was trained with.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "float32", "bfloat16", "mixed")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX on CPU)."""
    if device.type != "cpu":
        return False  # measured on CPU only; see resolve_precision
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers of torch.cpu, absent from some versions
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """What ``precision`` means on ``device``: "float32", "bfloat16" or "mixed".

    "auto" is "mixed" on a CPU with native bfloat16 units: the clustering
    phase's steps in bfloat16, where they ran about twice as fast and gave the
    same clustering as float32, and pretraining in float32, because bfloat16
    pretraining lowered DEC's accuracy on digits (``benchmarks/RESULTS.md``).
    Elsewhere "auto" is "float32": on GPUs it has not been measured yet, and
    without native units bfloat16 would be slower.
    """
    if precision in ("float32", "bfloat16", "mixed"):
        return precision
    return "mixed" if native_bfloat16(device) else "float32"


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
