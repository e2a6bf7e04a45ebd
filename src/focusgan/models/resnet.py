"""The WGAN-GP ResNet generator and critic (DESIGN section 4).

Gulrajani et al.'s CIFAR ResNet (`igul222/improved_wgan_training`, `gan_cifar_resnet.py`,
unconditional), widened to 64x64 as in the thesis. At width 128 and 64x64 the generator has
1,516,675 (3 channels) / 1,517,828 (4 channels) parameters and the critic 1,053,825 / 1,055,105.

Generator: Linear(z -> 4*4*width) -> up-blocks (4 -> resolution) -> BN -> ReLU -> Conv3x3 -> tanh.
Critic: R1 (optimized first block, down) -> R2 (down) -> R3 -> R3 -> ReLU -> spatial mean -> Linear.
At 128x128 the critic gets a second R2 so its last feature map stays 16x16, as at 64x64.
The generator's batch norm is `batchnorm.BatchNorm2d`, whose statistics under `torchrun` are the
global batch's. The critic has no normalization by default: the gradient penalty is per sample,
and batch norm would couple samples (the thesis's table shows BN there; `norm="layer"` is the
safe alternative).

Class-conditional version (`num_classes > 0`, the thesis's future work 1), as the reference's
conditional CIFAR ResNet (`CONDITIONAL=True, ACGAN=True`): the generator's up-blocks use
conditional batch norm (a per-class scale, initialised to 1, and offset, to 0, over a BN without
affine; the output BN stays unconditional; the noise is not concatenated with the label), and
the critic gets an auxiliary classifier head `Linear(width, num_classes)` beside its score
(`head="ac"`), or a projection term <embed(y), h> added to its score (`head="projection"`,
Miyato & Koyama 2018). With `num_classes=0` the networks are exactly the unconditional ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from focusgan.models.batchnorm import BatchNorm2d

RESOLUTIONS = (32, 64, 128)
CRITIC_NORMS = ("none", "layer")
CRITIC_HEADS = ("ac", "projection")  # how a conditional critic uses the label


def _conv(cin: int, cout: int, k: int, gain: float) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, padding=k // 2)
    nn.init.xavier_uniform_(conv.weight, gain=gain)
    nn.init.zeros_(conv.bias)
    return conv


def _residual_conv(cin: int, cout: int) -> nn.Conv2d:
    return _conv(cin, cout, 3, gain=math.sqrt(2))


def _shortcut_conv(cin: int, cout: int) -> nn.Conv2d:
    return _conv(cin, cout, 1, gain=1.0)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and offset are looked up per class (the reference's cond_batchnorm)."""

    def __init__(self, width: int, num_classes: int) -> None:
        super().__init__()
        self.bn = BatchNorm2d(width, affine=False)
        self.scale = nn.Embedding(num_classes, width)
        self.offset = nn.Embedding(num_classes, width)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.offset.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.scale(y)[:, :, None, None] + self.offset(y)[:, :, None, None]


def _batch_norm(width: int, num_classes: int) -> nn.Module:
    return ConditionalBatchNorm2d(width, num_classes) if num_classes else BatchNorm2d(width)


class UpBlock(nn.Module):
    """Pre-activation up-block: BN -> ReLU -> up x2 -> Conv3x3 -> BN -> ReLU -> Conv3x3, + up -> Conv1x1.
    With `num_classes`, both BNs are conditional on the label `y`."""

    def __init__(self, width: int, num_classes: int = 0) -> None:
        super().__init__()
        self.bn1, self.bn2 = _batch_norm(width, num_classes), _batch_norm(width, num_classes)
        self.conv1, self.conv2 = _residual_conv(width, width), _residual_conv(width, width)
        self.shortcut = _shortcut_conv(width, width)

    def _bn(self, bn: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return bn(x) if y is None else bn(x, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(_upsample(F.relu(self._bn(self.bn1, x, y))))
        h = self.conv2(F.relu(self._bn(self.bn2, h, y)))
        return self.shortcut(_upsample(x)) + h


class Generator(nn.Module):
    def __init__(
        self,
        channels: int = 4,
        width: int = 128,
        resolution: int = 64,
        z_dim: int = 128,
        num_classes: int = 0,
    ):
        super().__init__()
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, not {resolution}")
        self.channels, self.width, self.resolution, self.z_dim = channels, width, resolution, z_dim
        self.num_classes = num_classes  # 0: unconditional
        if num_classes:  # the label distribution training used: what sampling draws labels from
            self.register_buffer("class_weights", torch.ones(num_classes))
        self.linear = nn.Linear(z_dim, 4 * 4 * width)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.blocks = nn.ModuleList(
            [UpBlock(width, num_classes) for _ in range(int(math.log2(resolution // 4)))]
        )
        self.bn = BatchNorm2d(width)
        self.out = _conv(width, channels, 3, gain=1.0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] for latents `z` (and class indices `y` when conditional)."""
        if (y is None) != (self.num_classes == 0):
            raise ValueError("a conditional generator needs labels y; an unconditional one none")
        x = self.linear(z).view(-1, self.width, 4, 4)
        for block in self.blocks:
            x = block(x, y)
        return torch.tanh(self.out(F.relu(self.bn(x))))


def _norm(kind: str, width: int) -> nn.Module:
    # "layer": normalise each sample over (C, H, W) with a per-channel affine (GroupNorm with 1 group)
    return nn.GroupNorm(1, width) if kind == "layer" else nn.Identity()


class OptimizedBlock(nn.Module):
    """R1: Conv3x3 -> ReLU -> Conv3x3 -> mean-pool, + mean-pool -> Conv1x1 (no pre-activation)."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _residual_conv(cin, width), _residual_conv(width, width)
        self.shortcut = _shortcut_conv(cin, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _pool(self.conv2(F.relu(self.conv1(x))))
        return self.shortcut(_pool(x)) + h


class CriticBlock(nn.Module):
    """R2 (down=True): norm -> ReLU -> Conv3x3 -> norm -> ReLU -> Conv3x3 -> mean-pool, + Conv1x1 -> mean-pool.
    R3 (down=False): the same without pooling and with an identity shortcut."""

    def __init__(self, width: int, down: bool, norm: str) -> None:
        super().__init__()
        self.down = down
        self.norm1, self.norm2 = _norm(norm, width), _norm(norm, width)
        self.conv1, self.conv2 = _residual_conv(width, width), _residual_conv(width, width)
        self.shortcut = _shortcut_conv(width, width) if down else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # never an in-place ReLU here: x also feeds the shortcut
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        if self.down:
            return _pool(self.shortcut(x)) + _pool(h)
        return x + h


class Critic(nn.Module):
    def __init__(
        self,
        channels: int = 4,
        width: int = 128,
        resolution: int = 64,
        norm: str = "none",
        num_classes: int = 0,
        head: str = "ac",
    ):
        super().__init__()
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, not {resolution}")
        if norm not in CRITIC_NORMS:
            raise ValueError(f"critic norm must be one of {CRITIC_NORMS}, not {norm!r}")
        if head not in CRITIC_HEADS:
            raise ValueError(f"critic head must be one of {CRITIC_HEADS}, not {head!r}")
        self.channels, self.width, self.resolution = channels, width, resolution
        self.num_classes, self.head = num_classes, head
        downs = 2 if resolution == 128 else 1  # R2 blocks: 64 -> 32 -> 16, 128 -> 64 -> 32 -> 16
        self.blocks = nn.Sequential(
            OptimizedBlock(channels, width),
            *[CriticBlock(width, down=True, norm=norm) for _ in range(downs)],
            CriticBlock(width, down=False, norm=norm),
            CriticBlock(width, down=False, norm=norm),
        )
        self.linear = nn.Linear(width, 1)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.classifier = self.embed = None
        if num_classes and head == "ac":  # the reference's ACGANOutput
            self.classifier = nn.Linear(width, num_classes)
            nn.init.xavier_uniform_(self.classifier.weight)
            nn.init.zeros_(self.classifier.bias)
        elif num_classes:  # projection: score + <embed(y), h>
            self.embed = nn.Embedding(num_classes, width)
            nn.init.xavier_uniform_(self.embed.weight)

    def scores_and_logits(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The critic's scores (N,) and, with an AC head, its class logits (N, num_classes)."""
        h = F.relu(self.blocks(x)).mean(dim=(2, 3))
        score = self.linear(h).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("a projection critic needs the labels y")
            score = score + (self.embed(y) * h).sum(1)
        return score, self.classifier(h) if self.classifier is not None else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.scores_and_logits(x, y)[0]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
