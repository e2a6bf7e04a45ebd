"""The classifier filter (`--min-confidence`) on COCO-format samples (generated, and the real tiny
COCO when present), with the offline backbone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from focusgan.cli import main
from focusgan.data.dataset import load_images, read_info, read_metadata
from focusgan.errors import UserError
from focusgan.models.backbones import load_backbone
from focusgan.prepare.classifier import ClassifierOptions, make_classifier
from focusgan.utils.hashing import sha256_file


def test_min_confidence_keeps_exactly_the_confident_samples(
    coco_source, tmp_path, monkeypatch, capsys
):
    ARGS = ["prepare", "coco", "--annotations", str(coco_source.annotations("val2017")),
            "--images", str(coco_source.images("val2017")), "--categories", "17", "70",
            "--workers", "0", "--quiet"]  # fmt: skip
    monkeypatch.delenv("FOCUSGAN_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Inception weights anywhere
    plain = tmp_path / "plain.h5"
    assert main([*ARGS, "--out", str(plain)]) == 0
    images, ann_ids = load_images(plain), read_metadata(plain, "annotation_id")
    assert len(images) >= 4
    assert np.isnan(read_metadata(plain, "confidence")).all()  # the filter did not run
    # independent: the backbone itself on the stored RGB samples
    backbone = load_backbone("efficientnet-lite0")
    _, probs = backbone.features_and_probs(torch.from_numpy(images).permute(0, 3, 1, 2)[:, :3])
    conf = probs.max(dim=1).values.numpy()
    top1 = probs.argmax(dim=1).numpy()
    assert (read_metadata(plain, "class_id") == -1).all()
    levels = np.unique(conf.round(3))  # (objects of one photo share its squashed RGB)
    threshold = float(levels[len(levels) // 2 - 1 : len(levels) // 2 + 1].mean())
    capsys.readouterr()

    out = tmp_path / "filtered.h5"
    assert main([*ARGS, "--out", str(out), "--min-confidence", f"{threshold:.6f}"]) == 0
    assert "efficientnet-lite0" in capsys.readouterr().err  # auto fell back, and said so
    keep = conf >= threshold
    assert 0 < keep.sum() < len(keep)
    assert list(read_metadata(out, "annotation_id")) == list(ann_ids[keep])
    np.testing.assert_allclose(read_metadata(out, "confidence"), conf[keep], atol=1e-5)
    assert list(read_metadata(out, "class_id")) == list(top1[keep])  # the conditional label
    info = read_info(out)
    reason = f"classifier confidence < {float(f'{threshold:.6f}'):g}"
    assert info.filter_summary.rejected[reason] == (~keep).sum()
    assert info.filter_summary.kept == keep.sum()
    assert info.filter_summary.candidates == read_info(plain).filter_summary.candidates
    c = info.extra["classifier"]
    assert c["backbone"] == "efficientnet-lite0" and c["classes"] == 1000
    assert c["weights_sha256"] == sha256_file(backbone.weights_path)
    assert c["input"] == "square RGB sample"
    capsys.readouterr()
    assert main(["inspect", str(out), "--grid", str(tmp_path / "g.png")]) == 0
    assert "classifier   efficientnet-lite0" in capsys.readouterr().out


def test_bad_options(tmp_path):
    assert make_classifier(ClassifierOptions()) is None  # off without --min-confidence
    with pytest.raises(UserError, match="min-confidence"):
        make_classifier(ClassifierOptions(min_confidence=1.5, classifier="efficientnet-lite0"))
    with pytest.raises(UserError, match="not found"):
        make_classifier(
            ClassifierOptions(
                min_confidence=0.5, classifier="inception", inception_weights=tmp_path / "m.pth"
            )
        )
    # the Inception backbone itself (a 1008-class TF network) is tested in tests/test_metrics.py;
    # building its random stand-in weights takes ~15 s on this CPU, too slow to repeat here
