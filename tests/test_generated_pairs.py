"""The generated-pairs measure (issue 13 item 4) on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from focusgan.data.dataset import load_images
from focusgan.errors import UserError
from focusgan.metrics.consistency import split_pairs
from focusgan.metrics.generated_pairs import generated_pairs
from focusgan.metrics.options import SegmenterConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = SegmenterConfig(steps=80, batch_size=16)


def test_real_pairs_score_the_ceiling_and_empty_masks_score_zero(toy_h5):
    images = load_images(toy_h5)
    train_idx, held_idx = split_pairs(len(images), CFG)
    real = images[train_idx]  # exactly the pairs the ceiling trains on (all training pairs)
    empty = real.copy()
    empty[..., 3] = 0
    result = generated_pairs(real, toy_h5, initial=empty, cfg=CFG)
    assert result.n == len(train_idx) and result.n_heldout == len(held_idx)
    assert result.iou == result.ceiling_iou  # same pairs, same seed: the same segmenter
    assert result.ceiling_iou > 0.5  # the shapes are learnable from 58 pairs
    assert result.floor_iou == pytest.approx(0.0, abs=0.02)  # every held-out mask has an object
    d = result.to_dict()
    assert set(d) >= {"iou", "ceiling_iou", "floor_iou", "n", "segmenter"}
    assert d["segmenter"]["seed"] == CFG.seed


def test_masks_that_do_not_match_their_images_score_below_the_ceiling(toy_h5):
    images = load_images(toy_h5)
    train_idx, _ = split_pairs(len(images), CFG)
    shuffled = images[train_idx].copy()
    shuffled[..., 3] = np.roll(shuffled[..., 3], 7, axis=0)  # each mask of another image
    result = generated_pairs(shuffled, toy_h5, cfg=CFG)
    assert result.floor_iou is None
    assert result.iou < result.ceiling_iou - 0.15  # measured 0.34 vs 0.57


def test_three_channel_data_is_a_one_line_error(tmp_path, toy_h5):
    from focusgan.data.dataset import DatasetWriter

    path = tmp_path / "rgb.h5"
    with DatasetWriter(path, resolution=32, channels=3, mask_semantics="none") as w:
        w.append(load_images(toy_h5)[..., :3], source="toy")
    with pytest.raises(UserError, match="no focus channel"):
        generated_pairs(load_images(toy_h5), path, cfg=CFG)


def test_evaluate_run_records_generated_pairs_with_ceiling_and_floor(toy_h5, tmp_path):
    from focusgan.metrics.evaluate import evaluate_run
    from focusgan.metrics.evaluation import Evaluation
    from focusgan.training.config import make_config
    from focusgan.training.loop import train

    cfg = make_config("tiny", data=str(toy_h5), width=8, batch_critic=8, batch_gen=8, iters=2)
    train(cfg, tmp_path / "run", progress=False)
    result = evaluate_run(
        tmp_path / "run",
        None,
        "efficientnet-lite0",
        n=40,
        splits=2,
        seed=3,
        metrics=("is", "pairs"),
        segmenter=SegmenterConfig(steps=20, batch_size=8),
        device="cpu",
    )
    pairs = result.focus["generated_pairs"]
    assert set(pairs) == {"iou", "ceiling_iou", "floor_iou"}
    assert all(0.0 <= v <= 1.0 for v in pairs.values())
    prov = result.provenance["generated_pairs"]
    assert prov["n"] == 40 and prov["seed"] == 3 and prov["segmenter"]["steps"] == 20
    assert any("weak evidence" in note for note in result.notes)  # 40 pairs only
    again = Evaluation.from_json(result.to_json())  # kept through the JSON file
    assert again.focus["generated_pairs"] == pairs
    assert any("generated pairs iou" in line for line in again.lines())
