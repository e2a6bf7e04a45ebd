"""The R3GAN loss: relativistic pairing GAN (RpGAN) with zero-centred R1 and R2 penalties
(Huang et al. 2024, eq. 2 and section 2.2; official `R3GAN/Trainer.py`).

discriminator: mean_i [ f(D(x_i) - D(G(z_i))) + gamma / 2 * (||grad D(x_i)||^2 + ||grad D(G(z_i))||^2) ],
generator:     mean_i f(D(G(z_i)) - D(x_i)),        f(t) = softplus(-t) = log(1 + exp(-t)),
real x_i and fake G(z_i) paired by index, the squared gradient norms taken per sample over all
C*H*W values (R1 on real data, R2 on fakes). A conditional discriminator sees the labels of the
real batch for both (the fakes are generated with those labels, as the official code does).
All return device tensors: nothing here synchronises with the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def relativistic_loss(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Per pair softplus(-(first - second)): small where `first` scores above `second`."""
    return F.softplus(second - first)


def squared_gradient_norms(inputs: list[torch.Tensor], scores: torch.Tensor) -> list[torch.Tensor]:
    """Per sample ||d scores_i / d x_i||^2 for each tensor of `inputs` (leaves that require grad
    and that `scores` was computed from, one score per sample), differentiable."""
    grads = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    return [g.square().flatten(1).sum(1) for g in grads]


@dataclass
class CriticLoss:
    total: torch.Tensor  # what is minimised
    adversarial: torch.Tensor  # mean f(D(real) - D(fake))
    r1: torch.Tensor  # mean ||grad D(real)||^2, before weighting
    r2: torch.Tensor  # mean ||grad D(fake)||^2
    margin: torch.Tensor  # mean D(real) - D(fake), the relativistic logit


def _scores(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return D(x) if labels is None else D(x, labels)


def critic_loss(
    D: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    gamma: float,
    labels: torch.Tensor | None = None,
) -> CriticLoss:
    """The discriminator's RpGAN + R1 + R2 loss; real and fake go through D in one batch (it has
    no batch statistics, so each score depends on its own sample only)."""
    real = real.detach().requires_grad_(True)
    fake = fake.detach().requires_grad_(True)
    both = None if labels is None else torch.cat([labels, labels])
    scores = _scores(D, torch.cat([real, fake]), both)
    d_real, d_fake = scores[: len(real)], scores[len(real) :]
    r1, r2 = squared_gradient_norms([real, fake], scores)
    adversarial = relativistic_loss(d_real, d_fake)
    total = (adversarial + gamma / 2 * (r1 + r2)).mean()
    return CriticLoss(
        total,
        adversarial.mean().detach(),
        r1.mean().detach(),
        r2.mean().detach(),
        (d_real - d_fake).mean().detach(),
    )


def generator_loss(
    D: nn.Module, fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """mean f(D(fake) - D(real)), the real batch detached."""
    scores = _scores(
        D, torch.cat([fake, real.detach()]), None if labels is None else torch.cat([labels, labels])
    )
    return relativistic_loss(scores[: len(fake)], scores[len(fake) :]).mean()


def cosine_schedule(nimg: float, start: float, final: float, total: float) -> float:
    """`start` at 0 images to `final` at `total` along a half cosine, `final` after (the official
    `cosine_decay_with_warmup` without warm-up)."""
    if nimg >= total:
        return final
    decay = 0.5 * (1 + math.cos(math.pi * nimg / total))
    return start + (1 - decay) * (final - start)
