"""Training data: the whole dataset as a uint8 tensor (on the device when it fits) and its order.

Batches are gathered by index from that tensor, so a critic step reads no file and makes no host
synchronisation. The order is a sequence of seeded permutations (one per epoch) that wraps across
epochs; its position `(epoch, pos)` is all a checkpoint needs to continue it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from focusgan.data.dataset import load_images
from focusgan.utils.views import from_uint8


@dataclass
class DataOrder:
    """Which samples come next: epoch `epoch`'s permutation, from position `pos`."""

    size: int
    seed: int
    epoch: int = 0
    pos: int = 0
    _cache: tuple[int, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size <= 0:  # an epoch of no samples never ends
            raise ValueError(f"a data order needs samples, not {self.size}")

    def _perm(self, epoch: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        return self._cache[1]

    def next(self, n: int) -> np.ndarray:
        """The next `n` indices (wrapping into the next epoch when this one runs out)."""
        out = []
        while n > 0:
            take = min(n, self.size - self.pos)
            out.append(self._perm(self.epoch)[self.pos : self.pos + take])
            self.pos += take
            n -= take
            if self.pos == self.size:
                self.epoch, self.pos = self.epoch + 1, 0
        return np.concatenate(out)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "size": self.size, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])


class TrainingData:
    """The dataset's images as one uint8 (N, C, H, W) tensor, and batches scaled to [-1, 1]."""

    def __init__(
        self,
        path: str,
        channels: int,
        device: torch.device,
        seed: int,
        rank: int = 0,
        world: int = 1,
        labels: np.ndarray | None = None,
    ) -> None:
        images = torch.from_numpy(load_images(path, channels)).permute(0, 3, 1, 2).contiguous()
        self.device = device
        self.images = images.to(_storage_device(images, device))
        # class index of each sample (class-conditional training), kept beside the images
        self.labels = None if labels is None else torch.from_numpy(labels).to(self.images.device)
        self.order = DataOrder(len(images), seed)
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(self.images)

    def next_batch(self, batch: int, dequantize: bool = True) -> torch.Tensor:
        """This process's share of the next global batch, float in [-1, 1] on the device."""
        return self.next_batch_with_labels(batch, dequantize)[0]

    def next_batch_with_labels(
        self, batch: int, dequantize: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's share of the next global batch, float in [-1, 1] on the device, and
        its class labels (None when the data has none).

        Every process draws the same global batch of `batch * world` indices (and dequantization
        noise) and takes its slice, so a multi-GPU run sees the same data as one process would.
        """
        mine = slice(self.rank * batch, (self.rank + 1) * batch)
        idx = torch.from_numpy(self.order.next(batch * self.world)[mine])
        idx = idx.to(self.images.device, non_blocking=True)
        x = self.images.index_select(0, idx).to(self.device, non_blocking=True)
        y = None if self.labels is None else self.labels.index_select(0, idx).to(self.device)
        if not dequantize:
            return from_uint8(x), y
        # the global batch's noise (the torch RNG is the same in every process), this slice of it
        return from_uint8(x, torch.rand(batch * self.world, *x.shape[1:], device=x.device)[mine]), y


def _storage_device(images: torch.Tensor, device: torch.device) -> torch.device:
    """Keep the data on the accelerator when it takes under half of its free memory."""
    if device.type != "cuda":
        return torch.device("cpu")
    free, _ = torch.cuda.mem_get_info(device)
    return device if images.numel() < free // 2 else torch.device("cpu")
