import pytest
import torch

from focusgan.models.resnet import Critic, Generator, count_parameters


@pytest.mark.parametrize(
    "channels, g_params, d_params", [(3, 1_516_675, 1_053_825), (4, 1_517_828, 1_055_105)]
)
def test_thesis_parameter_counts(channels, g_params, d_params):
    assert count_parameters(Generator(channels, 128, 64)) == g_params
    assert count_parameters(Critic(channels, 128, 64)) == d_params


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_shapes_and_output_range(resolution):
    torch.manual_seed(0)
    G, D = Generator(4, 8, resolution), Critic(4, 8, resolution)
    x = G(torch.randn(3, 128) * 10)  # large z pushes tanh towards its limits
    assert x.shape == (3, 4, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (3,)


def test_critic_is_per_sample_without_norm_and_with_layer_norm():
    # No batch coupling: a sample's score does not depend on the rest of the batch.
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    for norm in ("none", "layer"):
        D = Critic(3, 8, 32, norm=norm)
        assert torch.allclose(D(x)[:1], D(x[:1]), atol=1e-6)
    assert count_parameters(Critic(3, 8, 32, "layer")) > count_parameters(Critic(3, 8, 32))


def test_bad_options_raise():
    with pytest.raises(ValueError, match="resolution"):
        Generator(3, 8, 48)
    with pytest.raises(ValueError, match="critic norm"):
        Critic(3, 8, 32, norm="batch")


def test_initialisation_follows_the_reference():
    G = Generator(3, 16, 32)
    assert all(
        float(m.bias.detach().abs().max()) == 0
        for m in G.modules()
        if hasattr(m, "bias") and isinstance(m, torch.nn.Conv2d)
    )
    # xavier_uniform with gain sqrt(2) on 3x3 residual convs: bound = sqrt(2)*sqrt(6/(fan_in+fan_out))
    w = G.blocks[0].conv1.weight.detach()
    bound = 2**0.5 * (6 / (16 * 9 + 16 * 9)) ** 0.5
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound


def test_generator_batch_norm_is_torchs_outside_torchrun():
    """The generator's BatchNorm2d (global statistics under torchrun) is nn.BatchNorm2d in one
    process: the same state_dict keys, outputs and running statistics, bit for bit."""
    from focusgan.models.batchnorm import BatchNorm2d

    ours, theirs = BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    for mode in (True, False):
        ours.train(mode), theirs.train(mode)
        assert torch.equal(ours(x), theirs(x))
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
