"""Which torch device a name stands for: what training, evaluation and serving share."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but CUDA is not available")
        if (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"{name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return device
