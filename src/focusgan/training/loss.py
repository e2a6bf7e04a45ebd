"""WGAN-GP losses (Gulrajani et al. 2017), as DESIGN section 4 states them.

critic:    mean D(fake) - mean D(real) + gp_weight * mean((||grad_x D(x_hat)||_2 - 1)^2),
           x_hat = eps * real + (1 - eps) * fake, one eps ~ U(0, 1) per sample, the norm taken
           over all C*H*W values of a sample (mask channel included);
generator: -mean D(G(z)).
All return device tensors: nothing here synchronises with the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """mean over samples of (||grad D(x_hat)|| - 1)^2; `eps` has shape (N,) in [0, 1]."""
    e = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).square().mean()


@dataclass
class CriticLoss:
    total: torch.Tensor  # what is minimised
    wasserstein: torch.Tensor  # mean D(real) - mean D(fake), the critic's distance estimate
    penalty: torch.Tensor  # gradient penalty before weighting


def critic_loss(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor,
    gp_weight: float = 10.0,
) -> CriticLoss:
    """The critic's WGAN-GP loss; real and fake go through the critic in one batch."""
    scores = critic(torch.cat([real, fake]))
    d_real, d_fake = scores[: len(real)], scores[len(real) :]
    wasserstein = d_real.mean() - d_fake.mean()
    penalty = gradient_penalty(critic, real, fake, eps)
    return CriticLoss(-wasserstein + gp_weight * penalty, wasserstein, penalty)


def generator_loss(critic: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    return -critic(fake).mean()
