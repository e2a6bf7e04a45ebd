"""Drawing samples from a generator: grids in the four views, or a dataset file for evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from focusgan.training.config import BN_MODES
from focusgan.utils.views import to_uint8


@contextmanager
def bn_mode(G: nn.Module, mode: str) -> Iterator[None]:
    """Run G with batch-norm batch statistics (`batch`) or running statistics (`running`).

    `batch` leaves the running statistics untouched (they are saved and restored), so drawing
    samples never changes the model.
    """
    if mode not in BN_MODES:
        raise ValueError(f"bn mode must be one of {BN_MODES}, not {mode!r}")
    was_training = G.training
    saved = {k: v.clone() for k, v in G.named_buffers()} if mode == "batch" else None
    G.train(mode == "batch")
    try:
        yield
    finally:
        G.train(was_training)
        if saved is not None:
            for k, v in G.named_buffers():
                v.copy_(saved[k])


@torch.no_grad()
def generate_from(
    G: nn.Module,
    z: torch.Tensor,
    batch_size: int = 128,
    bn: str = "batch",
    labels: torch.Tensor | None = None,
) -> np.ndarray:
    """Images for the latent vectors `z` (on any device) as uint8 (N, H, W, C); a
    class-conditional G also needs one class index per vector in `labels`."""
    device = next(G.parameters()).device
    if num_classes(G) and labels is None:
        raise ValueError("a class-conditional generator needs labels")
    out = []
    with bn_mode(G, bn):
        for start in range(0, len(z), batch_size):
            zb = z[start : start + batch_size].to(device)
            if labels is None:  # any module z -> images works (not only ours)
                out.append(to_uint8(G(zb)))
            else:
                out.append(to_uint8(G(zb, labels[start : start + batch_size].to(device))))
    return (
        np.concatenate(out)
        if out
        else np.zeros((0, G.resolution, G.resolution, G.channels), np.uint8)
    )


BN_STATS_N = 2048  # samples over which `recompute_bn_statistics` averages
BN_STATS_SEED = 2**31 - 1  # their latent seed, apart from the seeds users sample with
BN_STATS_NOTE = f"running statistics recomputed for the EMA weights over {BN_STATS_N} samples"


def recompute_bn_statistics(
    G: nn.Module, n: int = BN_STATS_N, batch_size: int = 128, seed: int = BN_STATS_SEED
) -> None:
    """Set G's batch-norm running statistics to the average over `n` samples of its own.

    The EMA generator never runs forward in training: its buffers are copies of the raw
    generator's, which do not match the averaged weights. `torch.optim.swa_utils.update_bn`
    recomputes them (cumulative averages over the batches), as after stochastic weight averaging.
    """
    device = next(G.parameters()).device
    z = latents(n, G.z_dim, seed)
    y = sample_labels(G, n, seed)
    if y is not None:  # update_bn passes one tensor: carry the label as a last column
        z, G = torch.cat([z, y[:, None].float()], 1), _LabelsInLastColumn(G)
    batches = [z[start : start + batch_size] for start in range(0, n, batch_size)]
    torch.optim.swa_utils.update_bn(batches, G, device=device)


class _LabelsInLastColumn(nn.Module):
    """A conditional G that takes (N, z_dim + 1) inputs: latents, then the class index."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.G(x[:, :-1], x[:, -1].long())


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """`n` latent vectors from N(0, I), the same for a seed on every device."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def num_classes(G: nn.Module) -> int:
    """The classes of a class-conditional generator; 0 for an unconditional one."""
    return int(getattr(G, "num_classes", 0))


def sample_labels(G: nn.Module, n: int, seed: int, cls: int | None = None) -> torch.Tensor | None:
    """Class indices for `n` samples of G: all `cls` when given, else drawn (seeded) as often
    as the training data had each class; None for an unconditional G."""
    k = num_classes(G)
    if not k:
        if cls is not None:
            raise ValueError("this generator is not class-conditional: it has no classes")
        return None
    if cls is not None:
        if not 0 <= cls < k:
            raise ValueError(f"class index {cls} is not in 0..{k - 1}")
        return torch.full((n,), cls, dtype=torch.long)
    weights = G.class_weights.detach().double().cpu().numpy()
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the latents stay the same
    return torch.from_numpy(rng.choice(k, size=n, p=weights / weights.sum()))


def grid_labels(n: int, k: int) -> torch.Tensor:
    """Class indices 0, 1, ..., k-1, 0, 1, ... for a grid that shows every class."""
    return torch.arange(n) % k


def generate(
    G: nn.Module,
    n: int,
    batch_size: int = 128,
    seed: int = 0,
    bn: str = "batch",
    cls: int | None = None,
) -> np.ndarray:
    """`n` samples as uint8 (N, H, W, C), seeded; see `bn_mode` for `bn`. A class-conditional
    G draws class `cls` (an index), or labels as often as its training data had them."""
    return generate_from(
        G, latents(n, G.z_dim, seed), batch_size, bn, sample_labels(G, n, seed, cls)
    )


def write_samples(
    G: nn.Module,
    n: int,
    out: Path,
    *,
    seed: int,
    bn: str,
    batch_size: int = 256,
    extra: dict | None = None,
    progress: bool = True,
    cls: int | None = None,
) -> Path:
    """Write `n` generated samples as a dataset file (same format as prepared data)."""
    from focusgan.data.dataset import DatasetWriter

    z = latents(n, G.z_dim, seed)
    y = sample_labels(G, n, seed, cls)
    with DatasetWriter(
        out, resolution=G.resolution, channels=G.channels, mask_semantics="probability", extra=extra
    ) as w:
        w.summary.keep(n)
        for start in tqdm(
            range(0, n, batch_size), desc="sampling", unit="batch", disable=not progress
        ):
            part = None if y is None else y[start : start + batch_size]
            w.append(
                generate_from(G, z[start : start + batch_size], batch_size, bn, part),
                source="generated",
            )
    return out
