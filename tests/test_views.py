import numpy as np
import pytest
import torch

from focusgan.utils.views import render, to_uint8, view


def sample():
    x = np.zeros((1, 4, 4, 4), np.uint8)
    x[..., :3] = (200, 100, 50)
    x[0, :2, :, 3] = 255  # top half foreground
    x[0, 2:, :, 3] = 0
    x[0, 3, 3, 3] = 100  # probability 0.39: background for `masked`, faint in `rgba`
    return x


def test_four_views_pixel_values():
    x = sample()
    np.testing.assert_array_equal(view(x, "rgb"), x[..., :3])
    mask = view(x, "mask")
    assert (
        mask.shape == (1, 4, 4, 3) and (mask[0, 0, 0] == 255).all() and (mask[0, 2, 0] == 0).all()
    )
    masked = view(x, "masked")
    assert (masked[0, 0, 0] == (200, 100, 50)).all() and (masked[0, 3, 3] == 0).all()
    rgba = view(x, "rgba")
    assert (rgba[0, 0, 0] == (200, 100, 50)).all()  # opaque: the colour itself
    assert len(np.unique(rgba[0, 2:, :3].reshape(-1, 3), axis=0)) >= 2  # checkerboard shows
    a = 100 / 255
    assert abs(int(rgba[0, 3, 3, 0]) - (a * 200 + (1 - a) * int(rgba[0, 2, 3, 0]))) <= 2


def test_three_channel_images_only_have_rgb():
    x = sample()[..., :3].copy()
    with pytest.raises(ValueError, match="4-channel"):
        view(x, "mask")
    assert render(x, "all").shape[1] == render(x, "rgb").shape[1]  # one labelled panel


def test_to_uint8_inverts_training_scaling():
    u = torch.arange(256, dtype=torch.float32).view(1, 1, 16, 16)
    x = u / 128 - 1 + 0.5 / 128  # the data scaling, with mid-bin noise
    back = to_uint8(x)
    assert np.abs(back[0, ..., 0].astype(int) - u[0, 0].numpy().astype(int)).max() <= 1
