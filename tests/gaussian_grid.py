"""The 2-D mixture of 25 Gaussians on a 5 x 5 grid (points -4, -2, 0, 2, 4, std 0.05: the standard
grid of VEEGAN, PacGAN and the R1/R2 literature), the mode-collapse test, with small MLPs on the
CPU.

`train_grid(loss, seed)` trains a generator with either R3GAN's loss (`rpgan`: RpGAN + R1 + R2
through `focusgan.training.rpgan`, gamma 0.1) or the classic non-saturating loss without
penalties (`ns`). Everything else is the same for both: networks (G 3 x 128 ReLU from 16-D noise,
D 2 x 128 LeakyReLU), Adam (0, 0.99) at 2e-3 for both, held for the first half of the steps then
decayed linearly to 0 (so the samples settle on the modes instead of orbiting them), batch 256
(128 halves the time but missed modes on more seeds), data and noise. The networks see the data
divided by sqrt(8), its per-axis std (unit variance, the usual normalisation; gamma applies in
those units). 2,500 samples are scored as PacGAN does:
the modes with at least one sample within 3 std (`modes_any`), the modes with at least 1% of the
samples there (`modes`, a stricter count that a few stray samples cannot pass), and the share of
samples within 3 std of a mode ("high quality"). The settings were chosen on seeds 100 and 101;
tests/test_rpgan_grid.py and benchmarks/r3gan_grid.py (the counts in RESULTS) use seeds 0-7.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from focusgan.training import rpgan

CENTRES = torch.tensor([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)]).float()
STD = 0.05
SCALE = math.sqrt(8.0)  # per-axis std of the grid: the networks see data / SCALE
STEPS = 6000  # alternating steps (D then G) of the test and the benchmark
Z = 16


def sample_grid(n: int, gen: torch.Generator) -> torch.Tensor:
    idx = torch.randint(len(CENTRES), (n,), generator=gen)
    return CENTRES[idx] + STD * torch.randn(n, 2, generator=gen)


def mlp(
    cin: int, cout: int, depth: int, act: Callable[[], nn.Module], width: int = 128
) -> nn.Module:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(cin if i == 0 else width, width), act()]
    return nn.Sequential(*layers, nn.Linear(width, cout))


@dataclass
class GridResult:
    modes: int  # of 25, each with >= 1% of the samples within 3 std
    modes_any: int  # of 25, each with >= 1 sample within 3 std (PacGAN's count)
    near: float  # share of samples within 3 std of some mode (PacGAN's "high quality")


def score(samples: torch.Tensor) -> GridResult:
    dist = torch.cdist(samples, CENTRES)
    nearest, which = dist.min(1)
    near = nearest < 3 * STD
    counts = torch.bincount(which[near], minlength=len(CENTRES))
    return GridResult(
        int((counts >= 0.01 * len(samples)).sum()),
        int((counts > 0).sum()),
        float(near.float().mean()),
    )


def train_grid(
    loss: str, seed: int, steps: int = STEPS, batch: int = 256, gamma: float = 0.1, lr: float = 2e-3
) -> GridResult:
    """Train G and D for `steps` alternating steps (D then G, fresh data each) and score 2,500
    samples of G. `loss`: "rpgan" (with R1 + R2 of weight `gamma`) or "ns"."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    G, D = mlp(Z, 2, 3, nn.ReLU), mlp(2, 1, 2, lambda: nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.99))  # R3GAN's betas
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99))

    def d(x: torch.Tensor) -> torch.Tensor:
        return D(x).squeeze(1)

    for step in range(steps):
        for opt in (opt_g, opt_d):
            opt.param_groups[0]["lr"] = lr * min(1.0, 2 * (1 - step / steps))
        real = sample_grid(batch, gen) / SCALE
        with torch.no_grad():
            fake = G(torch.randn(batch, Z, generator=gen))
        if loss == "rpgan":
            loss_d = rpgan.critic_loss(d, real, fake, gamma).total
        else:  # -log sigmoid(D(real)) - log(1 - sigmoid(D(fake)))
            loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(batch, Z, generator=gen))
        D.requires_grad_(False)
        if loss == "rpgan":
            loss_g = rpgan.generator_loss(d, fake, real)  # the same real batch
        else:  # the non-saturating generator loss -log sigmoid(D(G(z)))
            loss_g = F.softplus(-d(fake)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    with torch.no_grad():
        return score(G(torch.randn(2500, Z, generator=gen)) * SCALE)
