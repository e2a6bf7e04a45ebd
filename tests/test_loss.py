import torch
from torch import nn

from focusgan.models.resnet import Critic
from focusgan.training.loss import critic_loss, generator_loss, gradient_penalty


class Quadratic(nn.Module):
    """D(x) = 0.5 * a * ||x||^2 per sample: grad = a * x, a known per-sample gradient."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, x):
        return 0.5 * self.a * x.flatten(1).square().sum(1)


def test_gradient_penalty_matches_closed_form():
    torch.manual_seed(0)
    real, fake = torch.randn(5, 4, 6, 6), torch.randn(5, 4, 6, 6)
    eps = torch.rand(5)
    x_hat = eps.view(-1, 1, 1, 1) * real + (1 - eps.view(-1, 1, 1, 1)) * fake
    a = 0.3
    expected = ((a * x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()  # norm over C*H*W, mask too
    got = gradient_penalty(Quadratic(a), real, fake, eps)
    assert torch.allclose(got, expected, rtol=1e-5)


def test_gradient_penalty_zero_for_unit_gradient_linear_critic():
    w = torch.randn(3 * 4 * 4)
    w = w / w.norm()
    critic = lambda x: x.flatten(1) @ w  # noqa: E731  (||grad|| = 1 everywhere)
    gp = gradient_penalty(critic, torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4), torch.rand(6))
    assert float(gp) < 1e-10


def test_critic_loss_parts_and_one_step_reduces_it():
    torch.manual_seed(0)
    D = Critic(4, 8, 32)
    real = torch.rand(16, 4, 32, 32) * 2 - 1
    fake = torch.rand(16, 4, 32, 32) * 0.2  # a different distribution
    eps = torch.rand(16)
    loss = critic_loss(D, real, fake, eps, gp_weight=10.0)
    expected_w = D(real).mean() - D(fake).mean()
    assert torch.allclose(loss.wasserstein, expected_w, atol=1e-6)
    assert torch.allclose(loss.total, -loss.wasserstein + 10 * loss.penalty, atol=1e-6)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.0, 0.9))
    opt.zero_grad()
    loss.total.backward()
    opt.step()
    after = critic_loss(D, real, fake, eps, gp_weight=10.0)
    assert float(after.total.detach()) < float(loss.total.detach())


def test_generator_loss_is_minus_mean_score():
    D = Quadratic(1.0)
    x = torch.randn(4, 3, 2, 2)
    assert torch.allclose(generator_loss(D, x), -D(x).mean())
