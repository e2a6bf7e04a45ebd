"""WGAN-GP losses (Gulrajani et al. 2017), as DESIGN section 4 states them.

critic:    mean D(fake) - mean D(real) + gp_weight * mean((||grad_x D(x_hat)||_2 - 1)^2),
           x_hat = eps * real + (1 - eps) * fake, one eps ~ U(0, 1) per sample, the norm taken
           over all C*H*W values of a sample (mask channel included);
generator: -mean D(G(z)).
Class-conditional runs (`labels` given) follow the reference's conditional CIFAR ResNet: the
critic's fakes carry the real batch's labels, the score and the penalty see the labels (a
projection critic uses them), and a critic with an auxiliary classifier head adds
`AC_WEIGHT_CRITIC` x cross-entropy on the real samples to its loss and the generator
`AC_WEIGHT_GENERATOR` x cross-entropy on its fakes (ACGAN_SCALE = 1, ACGAN_SCALE_G = 0.1).
All return device tensors: nothing here synchronises with the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

AC_WEIGHT_CRITIC = 1.0  # reference ACGAN_SCALE: critic's classification loss (real samples)
AC_WEIGHT_GENERATOR = 0.1  # reference ACGAN_SCALE_G: generator's classification loss (fakes)


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """mean over samples of (||grad D(x_hat)|| - 1)^2; `eps` has shape (N,) in [0, 1]."""
    e = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    scores = critic(x_hat) if labels is None else critic(x_hat, labels)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).square().mean()


@dataclass
class CriticLoss:
    total: torch.Tensor  # what is minimised
    wasserstein: torch.Tensor  # mean D(real) - mean D(fake), the critic's distance estimate
    penalty: torch.Tensor  # gradient penalty before weighting
    classification: torch.Tensor | None = None  # AC head's cross-entropy on real samples


def critic_loss(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor,
    gp_weight: float = 10.0,
    labels: torch.Tensor | None = None,
) -> CriticLoss:
    """The critic's WGAN-GP loss; real and fake go through the critic in one batch.
    With `labels` (class indices of the real batch, which the fakes were generated with) the
    critic is conditional; an AC head adds its classification loss on the real samples."""
    if labels is None:
        scores = critic(torch.cat([real, fake]))
        logits = None
    else:
        scores, logits = critic.scores_and_logits(
            torch.cat([real, fake]), torch.cat([labels, labels])
        )
    d_real, d_fake = scores[: len(real)], scores[len(real) :]
    wasserstein = d_real.mean() - d_fake.mean()
    penalty = gradient_penalty(critic, real, fake, eps, labels)
    total = -wasserstein + gp_weight * penalty
    classification = None
    if logits is not None:
        classification = F.cross_entropy(logits[: len(real)], labels)
        total = total + AC_WEIGHT_CRITIC * classification
    return CriticLoss(total, wasserstein, penalty, classification)


def generator_loss(
    critic: nn.Module, fake: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """-mean D(fake); conditional: the critic sees `labels`, and an AC head adds its loss."""
    if labels is None:
        return -critic(fake).mean()
    scores, logits = critic.scores_and_logits(fake, labels)
    loss = -scores.mean()
    if logits is not None:
        loss = loss + AC_WEIGHT_GENERATOR * F.cross_entropy(logits, labels)
    return loss
