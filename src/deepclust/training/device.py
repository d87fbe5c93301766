"""Where a fit runs: the device a ``device`` parameter names."""

from __future__ import annotations

import torch


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch reads it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu' or 'cuda'."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'.")
    if resolved.type == "meta":
        raise ValueError(f"device={device!r} holds no data, so nothing can train on it; use 'auto' or 'cpu'.")
    if resolved.type not in ("cpu", "cuda"):  # mps, xpu, ...: is it there? (a tensor on it says)
        try:
            torch.empty(0, device=resolved)
        except Exception as exc:  # noqa: BLE001 (RuntimeError, AssertionError, ModuleNotFoundError: torch.hpu ...)
            reason = " ".join(str(exc).split())
            reason = reason if len(reason) <= 120 else reason[:117] + "..."
            raise ValueError(f"device={device!r} is not available in this PyTorch build or on this machine "
                             f"({reason}); use 'auto' or 'cpu'.") from exc
    return resolved
