"""Foreground-only samples (issue 13 item 3): exact outside the mask, untouched inside."""

from __future__ import annotations

import numpy as np
import pytest

from focusgan.data.toy import toy_images
from focusgan.prepare.background import replace_background


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    images = toy_images(12, 32, seed=3)
    images[0, ..., 3] = 0  # an all-background sample
    images[1, ..., 3] = 255  # an all-foreground sample
    images[2, :, :16, 3] = 127  # 127 is below 0.5: background; 128 is foreground
    images[2, :, 16:, 3] = 128
    return images


@pytest.mark.parametrize("mode", ["black", "mean", "noise"])
def test_foreground_and_mask_are_kept_exactly(samples, mode):
    out = replace_background(samples, mode)
    fg = samples[..., 3] > 127
    assert np.array_equal(out[..., 3], samples[..., 3])
    assert np.array_equal(out[..., :3][fg], samples[..., :3][fg])
    assert np.array_equal(out[1], samples[1])  # nothing to replace
    assert out is not samples


def test_black_and_mean_values_outside_the_mask(samples):
    bg = samples[..., 3] <= 127
    black = replace_background(samples, "black")
    assert (black[..., :3][bg] == 0).all()
    mean = replace_background(samples, "mean")
    for i in (0, 2, 5):
        expected = np.round(samples[i, ..., :3][bg[i]].astype(np.float64).mean(axis=0))
        assert (mean[i, ..., :3][bg[i]] == expected.astype(np.uint8)).all()
    assert (black[2, :, :16, :3] == 0).all() and np.array_equal(
        black[2, :, 16:], samples[2, :, 16:]
    )


def test_noise_is_seeded_by_the_sample_not_its_position(samples):
    a = replace_background(samples, "noise")
    b = replace_background(samples[::-1], "noise")[::-1]
    assert np.array_equal(a, b)
    bg = samples[0, ..., 3] <= 127
    values = a[0, ..., :3][bg]
    assert values.std() > 60 and 100 < values.mean() < 155  # uniform 0..255: std 73.9, mean 127.5


def test_keep_returns_the_input_and_unknown_modes_are_errors(samples):
    assert replace_background(samples, "keep") is samples
    with pytest.raises(ValueError, match="background must be one of"):
        replace_background(samples, "grey")


def _pairs_folder(root):
    """Eight generated photos (textured) with binary masks of a disc, as `prepare pairs` reads."""
    import cv2

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    (root / "mask").mkdir()
    for i in range(8):
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        mask = np.zeros((48, 64), np.uint8)
        cv2.circle(mask, (20 + 3 * i, 24), 12, 255, -1)
        image[mask > 0] = (30 * i, 200, 90)
        cv2.imwrite(str(root / "img" / f"{i:03d}.png"), image)
        cv2.imwrite(str(root / "mask" / f"{i:03d}.png"), mask)
    return root / "img", root / "mask"


@pytest.mark.parametrize("mode", ["black", "noise"])
def test_prepare_writes_foreground_only_samples_and_records_the_choice(tmp_path, mode):
    from focusgan.cli import main
    from focusgan.data.dataset import load_images, read_info

    images, masks = _pairs_folder(tmp_path)
    base = ["prepare", "pairs", "--images", str(images), "--masks", str(masks)]
    base += ["--size", "32", "--min-fg", "0", "--workers", "0", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "plain.h5")]) == 0
    assert main([*base, "--out", str(tmp_path / "fg.h5"), "--background", mode]) == 0
    plain, fg = load_images(tmp_path / "plain.h5"), load_images(tmp_path / "fg.h5")
    assert len(plain) == 8
    assert np.array_equal(fg, replace_background(plain, mode))  # the same samples, replaced
    assert read_info(tmp_path / "fg.h5").extra["background"] == mode
    assert read_info(tmp_path / "plain.h5").extra["background"] == "keep"
    with pytest.raises(SystemExit) as e:  # argparse: a one-line usage error, status 2
        main([*base, "--out", str(tmp_path / "x.h5"), "--background", "grey"])
    assert e.value.code == 2
    assert (
        main([*base, "--out", str(tmp_path / "y.h5"), "--background", "black", "--channels", "3"])
        == 2
    )


def test_foreground_only_variant_of_a_file(tmp_path, toy_h5):
    from focusgan.data.dataset import load_images, read_info, read_metadata
    from focusgan.errors import UserError
    from focusgan.prepare.background import write_foreground_only

    out = write_foreground_only(toy_h5, tmp_path / "fg.h5", "mean")
    assert np.array_equal(load_images(out), replace_background(load_images(toy_h5), "mean"))
    info = read_info(out)
    assert info.extra["background"] == "mean" and info.extra["background_of"] == str(toy_h5)
    assert info.filter_summary.kept == read_info(toy_h5).filter_summary.kept
    assert list(read_metadata(out, "source")) == list(read_metadata(toy_h5, "source"))
    with pytest.raises(UserError, match="background must be one of"):
        write_foreground_only(toy_h5, tmp_path / "k.h5", "keep")
    assert not (tmp_path / "k.h5").exists()
