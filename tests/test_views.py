import numpy as np
import pytest
import torch

from focusgan.utils.views import from_uint8, render, to_uint8, view


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


def test_training_scaling_round_trips_all_256_values(tmp_path):
    """uint8 -> the training batch in [-1, 1] -> to_uint8 gives back every grey level exactly."""
    from focusgan.data.dataset import DatasetWriter
    from focusgan.training.data import TrainingData

    values = np.arange(32 * 32 * 4).reshape(1, 32, 32, 4) % 256  # every value, in every channel
    path = tmp_path / "all.h5"
    with DatasetWriter(path, resolution=32, channels=4, mask_semantics="probability") as w:
        w.append(values.astype(np.uint8))
    data = TrainingData(str(path), 4, torch.device("cpu"), seed=0)
    np.testing.assert_array_equal(to_uint8(data.next_batch(1, dequantize=False)), values)
    # dequantization noise anywhere in [0, 1) keeps each value inside its grey level ...
    u = torch.arange(256, dtype=torch.float32).view(1, 1, 16, 16)
    for noise in (0.0, 0.25, 0.5, 0.75, 1 - 2**-16):
        x = from_uint8(u, torch.full_like(u, noise))
        np.testing.assert_array_equal(to_uint8(x)[0, ..., 0], u[0, 0].numpy())
    # ... up to float32 rounding onto the next level's edge when U(0, 1) falls within ~2^-20
    # of 1 (about 1e-5 of the pixels of a training batch): never more than one level
    back = np.stack([to_uint8(data.next_batch(1, dequantize=True)) for _ in range(20)])
    assert set(np.unique(back.astype(int) - values)) <= {0, 1}
    assert (back != values).mean() < 1e-4
