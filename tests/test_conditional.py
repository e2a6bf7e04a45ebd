"""Class-conditional networks and losses (issue 13 item 1), and the wide preset's size."""

from __future__ import annotations

import pytest
import torch

from focusgan.models.resnet import Critic, Generator, count_parameters
from focusgan.training.loss import critic_loss, generator_loss


def test_unconditional_networks_are_unchanged_by_the_conditional_code():
    assert count_parameters(Generator(4, 128, 64)) == 1_517_828
    assert count_parameters(Critic(4, 128, 64)) == 1_055_105
    assert count_parameters(Critic(4, 128, 64, num_classes=0, head="projection")) == 1_055_105


@pytest.mark.parametrize("classes", [10, 80])
def test_conditional_parameter_counts(classes):
    w = 128
    # 4 up-blocks x 2 conditional BNs: a scale and an offset per class replace the BN's affine
    extra_g = 4 * 2 * (2 * classes * w - 2 * w)
    assert count_parameters(Generator(4, w, 64, num_classes=classes)) == 1_517_828 + extra_g
    ac = Critic(4, w, 64, num_classes=classes, head="ac")
    assert count_parameters(ac) == 1_055_105 + w * classes + classes  # Linear(width, classes)
    proj = Critic(4, w, 64, num_classes=classes, head="projection")
    assert count_parameters(proj) == 1_055_105 + w * classes  # Embedding(classes, width)


def test_conditional_batch_norm_starts_as_plain_batch_norm():
    torch.manual_seed(0)
    plain = Generator(4, 16, 32)
    torch.manual_seed(0)
    cond = Generator(4, 16, 32, num_classes=3)
    cond.load_state_dict(
        {k: v for k, v in plain.state_dict().items() if k in cond.state_dict()}, strict=False
    )
    z = torch.randn(6, 128)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.allclose(plain(z), cond(z, y), atol=1e-6)  # scale 1, offset 0 at start


def test_labels_change_the_output_once_trained_embeddings_differ():
    torch.manual_seed(0)
    G = Generator(4, 16, 32, num_classes=3)
    with torch.no_grad():
        for block in G.blocks:
            block.bn1.offset.weight[1] += 1.0
    z = torch.randn(4, 128)
    same = G(z, torch.zeros(4, dtype=torch.long))
    other = G(z, torch.ones(4, dtype=torch.long))
    assert same.shape == (4, 4, 32, 32)
    assert not torch.allclose(same, other)
    with pytest.raises(ValueError, match="needs labels"):
        G(z)


@pytest.mark.parametrize("head", ["ac", "projection"])
def test_conditional_losses_backpropagate(head):
    torch.manual_seed(0)
    G = Generator(4, 16, 32, num_classes=5)
    D = Critic(4, 16, 32, num_classes=5, head=head)
    y = torch.tensor([0, 1, 2, 3])
    real = torch.rand(4, 4, 32, 32) * 2 - 1
    fake = G(torch.randn(4, 128), y).detach()
    loss = critic_loss(D, real, fake, torch.rand(4), labels=y)
    assert (loss.classification is not None) == (head == "ac")
    loss.total.backward()
    assert all(p.grad is not None for p in D.parameters())
    g_loss = generator_loss(D, G(torch.randn(4, 128), y), y)
    g_loss.backward()
    assert all(p.grad is not None for p in G.parameters())


def test_ac_loss_is_the_reference_cross_entropy_on_real_samples():
    torch.manual_seed(0)
    D = Critic(3, 16, 32, num_classes=4, head="ac")
    y = torch.tensor([3, 0])
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    eps = torch.rand(2)
    cond = critic_loss(D, real, fake, eps, labels=y)
    _, logits = D.scores_and_logits(real)
    expected = torch.nn.functional.cross_entropy(logits, y)
    assert cond.classification.item() == pytest.approx(expected.item(), rel=1e-5)
    plain = critic_loss(D, real, fake, eps)  # the AC head's loss is the only difference
    assert (cond.total - plain.total).item() == pytest.approx(expected.item(), rel=1e-4)


def test_thesis_wide_preset_has_256_maps_and_its_counts():
    from focusgan.training.config import make_config

    cfg = make_config("thesis-wide")
    assert cfg.width == 256 and cfg.preset == "thesis-wide"
    assert count_parameters(Generator(4, cfg.width, 64)) == 5_526_020
    assert count_parameters(Critic(4, cfg.width, 64)) == 4_207_361
    assert count_parameters(Generator(3, cfg.width, 64)) == 5_523_715
    assert count_parameters(Critic(3, cfg.width, 64)) == 4_204_801
