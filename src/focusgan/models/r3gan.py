"""The R3GAN generator and discriminator (Huang, Gokaslan, Kuleshov, Tompkin, "The GAN is dead;
long live the GAN! A Modern GAN Baseline", NeurIPS 2024; official code `brownvc/R3GAN`,
`R3GAN/Networks.py`), for any number of channels.

A stage per resolution (4x4, 8x8, ... in the generator; the reverse in the discriminator), each
of `blocks` residual blocks: an inverted bottleneck Conv1x1 (C -> expansion*C) -> bias ->
LeakyReLU(0.2) -> grouped Conv3x3 (`cardinality` groups) -> bias -> LeakyReLU -> Conv1x1 (back
to C), added to its input. No normalization; fix-up-style initialisation: every weight drawn
N(0, gain^2 / fan_in) with the residual branch's gain scaled by L^(-1/4) (L = all blocks of the
network) and its last layer zero, so each block starts as the identity. Resampling by the
[1, 3, 3, 1]^2 / 64 low-pass filter (from [1, 2, 1]); a Conv1x1 changes the width where it
changes between stages. The generator starts from a learned 4x4 basis scaled per channel by a
linear map of z and ends with a Conv1x1 to the image (no tanh: images are clamped where they
are turned into pixels); the discriminator starts with a Conv1x1 from the image and ends with a
depthwise 4x4 "basis" conv and a linear layer.

Class-conditional (`num_classes > 0`, the paper's condition embedding): the generator
concatenates z with a linear embedding of the one-hot class (embedding width `z_dim`), the
discriminator's last linear layer outputs an embedding width (its last stage's width) whose dot
product with a linear embedding of the one-hot class is the score (projection).

Stages go from low to high resolution in `widths`, `cardinalities` and `blocks` for both networks
(the discriminator runs them in reverse order, as the official `train.py` passes them); a network
for `resolution` uses the first `log2(resolution / 4) + 1` stages, so the FFHQ-64 widths at 32x32
are the official CIFAR-10 network. Parameter counts with the official presets (3 channels,
z_dim 64, expansion 2) are in `tests/test_r3gan.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.2
ACTIVATION_GAIN = math.sqrt(2 / (1 + LEAK**2))  # the official BiasedActivation.Gain
RESAMPLING_FILTER = (1, 2, 1)


def stages_for(resolution: int) -> int:
    """How many stages a network for `resolution` x `resolution` images has (4x4 is stage 1)."""
    n = math.log2(resolution / 4)
    if resolution < 4 or n != int(n):
        raise ValueError(f"resolution must be 4 times a power of 2, not {resolution}")
    return int(n) + 1


def _msr_init(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """N(0, (gain / sqrt(fan_in))^2) weights, zero bias (the official MSRInitializer)."""
    w = layer.weight.data
    fan_in = w.size(1) * w[0][0].numel()
    w.normal_(0, gain / math.sqrt(fan_in))
    if getattr(layer, "bias", None) is not None:
        layer.bias.data.zero_()
    return layer


def _conv(cin: int, cout: int, k: int, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    return _msr_init(nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False), gain)


class BiasedActivation(nn.Module):
    """x + bias -> LeakyReLU(0.2), gain 1 (the official bias_act call)."""

    def __init__(self, units: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1) if x.dim() > 2 else (1, -1)
        return F.leaky_relu(x + self.bias.view(shape), LEAK)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, cardinality: int, expansion: int, variance_scale: int) -> None:
        super().__init__()
        expanded = width * expansion
        gain = ACTIVATION_GAIN * variance_scale ** (-1 / (2 * 3 - 2))  # 3 linear layers
        self.conv1 = _conv(width, expanded, 1, gain=gain)
        self.conv2 = _conv(expanded, expanded, 3, groups=cardinality, gain=gain)
        self.conv3 = _conv(expanded, width, 1, gain=0.0)  # the block starts as the identity
        self.act1, self.act2 = BiasedActivation(expanded), BiasedActivation(expanded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(self.act2(self.conv2(self.act1(self.conv1(x)))))


def _lowpass_kernel(weights: Sequence[int]) -> torch.Tensor:
    k = np.convolve(weights, [1, 1])  # [1, 2, 1] -> [1, 3, 3, 1]
    k2 = np.outer(k, k)
    return torch.tensor(k2 / k2.sum(), dtype=torch.float32)


class Resample(nn.Module):
    """x2 up (transposed conv, gain 4) or down (strided conv) with the low-pass filter, per
    channel; the same as the official upfirdn2d upsample2d / downsample2d."""

    def __init__(self, up: bool) -> None:
        super().__init__()
        self.up = up
        self.register_buffer("kernel", _lowpass_kernel(RESAMPLING_FILTER), persistent=False)
        self.pad = len(RESAMPLING_FILTER) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = self.kernel.to(x.dtype).expand(c, 1, *self.kernel.shape).contiguous()
        if self.up:
            return F.conv_transpose2d(x, k * 4, stride=2, padding=self.pad, groups=c)
        return F.conv2d(x, k, stride=2, padding=self.pad, groups=c)


class Transition(nn.Module):
    """Between stages: Conv1x1 (only where the width changes) then up, or down then Conv1x1."""

    def __init__(self, cin: int, cout: int, up: bool) -> None:
        super().__init__()
        self.up = up
        self.resample = Resample(up)
        self.linear = _conv(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resample(self.linear(x)) if self.up else self.linear(self.resample(x))


class GenerativeBasis(nn.Module):
    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.empty(width, 4, 4).normal_(0, 1))
        self.linear = _msr_init(nn.Linear(cin, width, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis.unsqueeze(0) * self.linear(z)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.basis = _msr_init(nn.Conv2d(width, width, 4, groups=width, bias=False))
        self.linear = _msr_init(nn.Linear(width, out, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.basis(x).flatten(1))


def _check(widths: Sequence[int], cardinalities: Sequence[int], blocks: Sequence[int], n: int):
    if not (len(widths) >= n and len(cardinalities) >= n and len(blocks) >= n):
        raise ValueError(
            f"{4 * 2 ** (n - 1)}x{4 * 2 ** (n - 1)} needs {n} stages; widths, cardinalities and "
            f"blocks have {len(widths)}, {len(cardinalities)}, {len(blocks)}"
        )
    for w, c in zip(widths[:n], cardinalities[:n], strict=True):
        if w <= 0 or c <= 0 or w % c:
            raise ValueError(f"width {w} is not a positive multiple of cardinality {c}")
    return list(widths[:n]), list(cardinalities[:n]), list(blocks[:n])


def _blocks(width: int, cardinality: int, n: int, expansion: int, scale: int) -> list[nn.Module]:
    return [ResidualBlock(width, cardinality, expansion, scale) for _ in range(n)]


class Generator(nn.Module):
    """z (N, z_dim) [and class indices y (N,)] -> images (N, channels, resolution, resolution)."""

    def __init__(
        self,
        channels: int = 3,
        widths: Sequence[int] = (768, 768, 768, 768, 384),
        cardinalities: Sequence[int] = (96, 96, 96, 96, 48),
        blocks: Sequence[int] = (2, 2, 2, 2, 2),
        expansion: int = 2,
        resolution: int = 64,
        z_dim: int = 64,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        n = stages_for(resolution)
        widths, cardinalities, blocks = _check(widths, cardinalities, blocks, n)
        self.channels, self.resolution, self.z_dim = channels, resolution, z_dim
        self.num_classes = num_classes
        if num_classes:  # the label distribution training used: what sampling draws labels from
            self.register_buffer("class_weights", torch.ones(num_classes))
        scale = sum(blocks)
        embed = z_dim if num_classes else 0  # the official ConditionEmbeddingDimension = z dim
        stages = []
        for i in range(n):
            first = GenerativeBasis(z_dim + embed, widths[0]) if i == 0 else None
            head = first or Transition(widths[i - 1], widths[i], up=True)
            stages.append(
                nn.Sequential(
                    head, *_blocks(widths[i], cardinalities[i], blocks[i], expansion, scale)
                )
            )
        self.stages = nn.ModuleList(stages)
        self.out = _conv(widths[-1], channels, 1)
        self.embed = _msr_init(nn.Linear(num_classes, embed, bias=False)) if num_classes else None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (y is None) != (self.num_classes == 0):
            raise ValueError("a conditional generator needs labels y; an unconditional one none")
        if self.embed is not None:
            z = torch.cat([z, self.embed(F.one_hot(y, self.num_classes).to(z.dtype))], dim=1)
        x = z
        for stage in self.stages:
            x = stage(x)
        return self.out(x)


class Discriminator(nn.Module):
    """images [and class indices y] -> scores (N,)."""

    def __init__(
        self,
        channels: int = 3,
        widths: Sequence[int] = (768, 768, 768, 768, 384),
        cardinalities: Sequence[int] = (96, 96, 96, 96, 48),
        blocks: Sequence[int] = (2, 2, 2, 2, 2),
        expansion: int = 2,
        resolution: int = 64,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        n = stages_for(resolution)
        widths, cardinalities, blocks = _check(widths, cardinalities, blocks, n)
        widths, cardinalities, blocks = widths[::-1], cardinalities[::-1], blocks[::-1]
        self.channels, self.resolution, self.num_classes = channels, resolution, num_classes
        scale = sum(blocks)
        embed = widths[-1] if num_classes else 0  # the official: the generator's first width
        self.inp = _conv(channels, widths[0], 1)
        stages = []
        for i in range(n):
            last = i == n - 1
            tail = (
                DiscriminativeBasis(widths[i], embed or 1)
                if last
                else Transition(widths[i], widths[i + 1], up=False)
            )
            stages.append(
                nn.Sequential(
                    *_blocks(widths[i], cardinalities[i], blocks[i], expansion, scale), tail
                )
            )
        self.stages = nn.ModuleList(stages)
        self.embed = (
            _msr_init(nn.Linear(num_classes, embed, bias=False), 1 / math.sqrt(embed))
            if num_classes
            else None
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.inp(x)
        for stage in self.stages:
            x = stage(x)
        if self.embed is not None:
            if y is None:
                raise ValueError("a conditional discriminator needs the labels y")
            x = (x * self.embed(F.one_hot(y, self.num_classes).to(x.dtype))).sum(1, keepdim=True)
        return x.view(x.shape[0])
