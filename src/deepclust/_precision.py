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

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX on CPU)."""
    if device.type != "cpu":
        return False  # measured on CPU only; see resolve_precision
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers of torch.cpu, absent from some versions
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype of the training steps for ``precision`` on ``device``.

    "auto" is bfloat16 on a CPU with native bfloat16 units, where it trains
    about 2.5 times faster than float32 (``benchmarks/RESULTS.md``), and
    float32 elsewhere: on GPUs it has not been measured yet, and without
    native units it would be slower.
    """
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    return torch.bfloat16 if native_bfloat16(device) else torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """A context computing the matrix products in ``dtype`` (no-op for float32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
