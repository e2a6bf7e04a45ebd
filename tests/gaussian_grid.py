"""The 2-D mixture of 25 Gaussians on a 5 x 5 grid (points -4, -2, 0, 2, 4), the mode-collapse
test of VEEGAN and PacGAN, with small MLPs on the CPU. The modes' std is 0.2 (PacGAN: 0.05, which
these networks do not resolve in a CPU minute; the modes stay 10 std apart).

`train_grid(loss, seed)` trains a generator with either R3GAN's loss (`rpgan`: RpGAN + R1 + R2
through `focusgan.training.rpgan`, gamma 0.1, Adam betas (0, 0.99)) or the classic
non-saturating loss without penalties (`ns`, Adam betas (0.5, 0.999)), same networks, data,
noise and steps, and scores 2,500 samples as PacGAN does: the modes with at least one sample
within 3 std (`modes_any`), the modes with at least 1% of the samples there (`modes`, a stricter
count that a few stray samples cannot pass), and the share of samples within 3 std of a mode. Used by tests/test_rpgan_grid.py (one seed) and
benchmarks/r3gan_grid.py (several seeds, the counts in RESULTS).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from focusgan.training import rpgan

CENTRES = torch.tensor([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)]).float()
STD = 0.2
STEPS = 6000  # alternating steps (D then G) of the test and the benchmark


def sample_grid(n: int, gen: torch.Generator) -> torch.Tensor:
    idx = torch.randint(len(CENTRES), (n,), generator=gen)
    return CENTRES[idx] + STD * torch.randn(n, 2, generator=gen)


def mlp(cin: int, cout: int, width: int = 128) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cin, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, cout),
    )


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
    loss: str, seed: int, steps: int = STEPS, batch: int = 256, gamma: float = 0.1, lr: float = 1e-3
) -> GridResult:
    """Train G and D for `steps` alternating steps (D then G, fresh data each) and score 2,500
    samples of G. `loss`: "rpgan" (with R1 + R2 of weight `gamma`) or "ns"."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    G, D = mlp(16, 2), mlp(2, 1)
    betas = (0.0, 0.99) if loss == "rpgan" else (0.5, 0.999)  # R3GAN's / DCGAN's Adam
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)

    def d(x: torch.Tensor) -> torch.Tensor:
        return D(x).squeeze(1)

    for _ in range(steps):
        real = sample_grid(batch, gen)
        with torch.no_grad():
            fake = G(torch.randn(batch, 16, generator=gen))
        if loss == "rpgan":
            loss_d = rpgan.critic_loss(d, real, fake, gamma).total
        else:  # -log sigmoid(D(real)) - log(1 - sigmoid(D(fake)))
            loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(batch, 16, generator=gen))
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
        return score(G(torch.randn(2500, 16, generator=gen)))
