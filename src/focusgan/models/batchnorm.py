"""Batch norm over the global batch when training runs in several processes (`torchrun`).

Each process holds a slice of every batch, and `nn.BatchNorm2d` would normalise with that
slice's statistics: with 8 processes the generator's batch norm would see 16 of its 128 samples,
a different model from the one-process run. `BatchNorm2d` is `nn.BatchNorm2d` (same parameters,
buffers and state_dict) that, once `synchronize` switches it on and while in training mode,
all-reduces its per-channel sums: every process normalises with the global batch's mean and
(biased) variance and updates the same running statistics (unbiased variance, as PyTorch). The
all-reduce is differentiable (its gradient is the all-reduced gradient), so the gradients are
those of the global batch. PyTorch's `nn.SyncBatchNorm` does the same on CUDA tensors only; this
one runs with any backend (gloo on CPUs, NCCL on GPUs). Mean and variance are computed in two
passes (sum, then the sum of squared deviations), as a one-process batch norm, not from E[x^2].
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over all processes; its gradient is the sum of their gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


class BatchNorm2d(nn.BatchNorm2d):
    """`nn.BatchNorm2d` with the global batch's statistics when `synchronized` (see module doc)."""

    synchronized = False  # switched on per module by `synchronize`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.synchronized and self.training):
            return super().forward(x)
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
        count = torch.full((1,), x.numel() // x.shape[1], dtype=x.dtype, device=x.device)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply(centred.square().sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = self.momentum
                if factor is None:  # cumulative average, as nn.BatchNorm2d
                    factor = 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean, factor)
                self.running_var.lerp_(var * n / (n - 1), factor)
        return y


def synchronize(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every `BatchNorm2d` of `module` to the global batch's statistics (or back).

    Every process must then run the same forward and backward passes of `module` in training
    mode (each is a collective); evaluation mode and unsynchronized copies stay local.
    """
    for m in module.modules():
        if isinstance(m, BatchNorm2d):
            m.synchronized = enabled
    return module
