"""Which device a job runs on, and placing a network there in its fastest memory layout."""

from __future__ import annotations

import torch


def to_device(module: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    """`module` on `device`; on CPUs with channels-last (NHWC) weights, for which oneDNN picks
    much faster convolution kernels (measured on this project's 2-core CPU: training step x1.4,
    backbone features x1.8; benchmarks/RESULTS.md), with results equal to fp32 rounding. GPUs
    keep PyTorch's default layout, the one their figures were measured with."""
    device = torch.device(device)
    module = module.to(device)
    if device.type == "cpu":
        module = module.to(memory_format=torch.channels_last)
    return module


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`auto`/None -> cuda when available, else cpu; anything else as given."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
