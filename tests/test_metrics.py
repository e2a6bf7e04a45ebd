"""Evaluation: score formulas on known answers, both backbones, focus measures, the segmenter,
reference caching, and `focusgan evaluate` on DAVIS-layout frames (generated, and the real
samples when present) (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from focusgan.cli import main
from focusgan.data.dataset import DatasetWriter, load_images
from focusgan.errors import UserError
from focusgan.metrics import evaluate, focus, scores
from focusgan.metrics.consistency import SegmenterConfig, mask_iou, train_segmenter
from focusgan.metrics.evaluation import Evaluation
from focusgan.models import backbones
from focusgan.utils.hashing import sha256_file

# ---------------------------------------------------------------------------- fixtures


def davis32(davis_source, folder: Path) -> Path:
    """Two DAVIS-layout sequences as a 32x32 4-channel dataset (90 frames, binary masks): the
    generated ones (45 + 45), or the real blackswan (50) and car-shadow (40).

    32 pixels keep the segmenter and the tiny training run fast on a 2-core CPU."""
    from focusgan.prepare.transform import to_square

    samples = []
    sequences = ("blackswan", "car-shadow") if davis_source.real else ("seq-grey", "seq-palette")
    for seq in sequences:
        for jpg in sorted((davis_source.images / seq).glob("*.jpg")):
            image = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)
            ann = np.asarray(Image.open(davis_source.masks / seq / f"{jpg.stem}.png"))
            samples.append(to_square(image, 32, mask=np.where(ann > 0, 255, 0).astype(np.uint8)))
    path = folder / "davis32.h5"
    with DatasetWriter(path, resolution=32, channels=4, mask_semantics="binary") as w:
        w.append(np.stack(samples), source="davis")
    return path


@pytest.fixture(scope="module")
def davis_h5(generated_davis, tmp_path_factory) -> Path:
    """The generated pairs (the evaluation tests' data)."""
    return davis32(generated_davis, tmp_path_factory.mktemp("davis"))


@pytest.fixture(scope="module")
def pairs_h5(davis_source, davis_h5, tmp_path_factory) -> Path:
    """The generated pairs, and the real ones when present (the segmenter's tests)."""
    return davis32(davis_source, tmp_path_factory.mktemp("real")) if davis_source.real else davis_h5


@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory) -> Path:
    return backbones.write_random_inception_weights(
        tmp_path_factory.mktemp("inc") / backbones.INCEPTION_FILE
    )


@pytest.fixture(scope="module")
def effnet() -> backbones.Backbone:
    return evaluate.get_backbone("efficientnet-lite0", device="cpu")


# ---------------------------------------------------------------------------- formulas


def test_inception_score_known_answers():
    assert scores.inception_score(np.full((40, 7), 1 / 7), splits=4) == pytest.approx((1.0, 0.0))
    onehot = np.eye(10)[np.repeat(np.arange(10), 20)]  # 10 classes used equally
    mean, std = scores.inception_score(onehot, splits=1)
    assert mean == pytest.approx(10.0) and std == 0.0
    # one class only: no diversity, score 1
    assert scores.inception_score(np.eye(5)[[2] * 30], splits=3)[0] == pytest.approx(1.0)


def test_inception_score_matches_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(200, 30, generator=torch.Generator().manual_seed(1)) * 3
    ours = scores.inception_score(logits.softmax(1).numpy(), splits=5, seed=7)
    theirs = isc_features_to_metric(logits, splits=5, shuffle=True, rng_seed=7)
    assert ours[0] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours[1] == pytest.approx(theirs["inception_score_std"], rel=1e-5)


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 8))
    s = scores.feature_stats(f)
    assert scores.frechet_distance(s, s) == pytest.approx(0.0, abs=1e-6)
    # two Gaussians with diagonal covariances: |mu1-mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2))
    mu1, mu2 = np.zeros(4), np.array([1.0, -2.0, 0.5, 0.0])
    v1, v2 = np.array([1.0, 2.0, 0.5, 4.0]), np.array([4.0, 1.0, 0.5, 1.0])
    closed = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    a, b = scores.Stats(mu1, np.diag(v1), 10**6), scores.Stats(mu2, np.diag(v2), 10**6)
    assert scores.frechet_distance(a, b) == pytest.approx(closed, rel=1e-9)
    # and from samples of those Gaussians, close to the closed form
    x = rng.normal(mu1, np.sqrt(v1), size=(200000, 4))
    y = rng.normal(mu2, np.sqrt(v2), size=(200000, 4))
    fid = scores.frechet_distance(scores.feature_stats(x), scores.feature_stats(y))
    assert fid == pytest.approx(closed, rel=0.02)
    assert scores.fid_warning(100, 5000, 2048) and scores.fid_warning(5000, 5000, 2048) is None


def test_kid_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same, _, size = scores.kernel_distance(x, y, subsets=20, subset_size=1000)
    shifted, _, _ = scores.kernel_distance(x, y + 0.5, subsets=20, subset_size=1000)
    assert size == 600  # lowered to the set size
    assert abs(same) < 0.01 < shifted


def test_precision_recall_same_and_disjoint():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    p, r, _ = scores.precision_recall(x, y)
    assert p > 0.8 and r > 0.8
    p, r, f = scores.precision_recall(x + 100, y)
    assert p == 0 and r == 0 and f == 0


# ---------------------------------------------------------------------------- backbones


def test_missing_inception_weights_is_a_clear_user_error(tmp_path, monkeypatch):
    monkeypatch.delenv(backbones.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(UserError) as e:
        backbones.load_backbone("inception")
    msg = str(e.value)
    assert backbones.INCEPTION_FILE in msg and "github.com/toshas/torch-fidelity" in msg
    assert "efficientnet-lite0" in msg and "\n" not in msg
    with pytest.raises(UserError, match="not found"):
        backbones.load_backbone("inception", tmp_path / "nope.pth")
    with pytest.raises(UserError, match="unknown backbone"):
        backbones.load_backbone("vgg")


def test_inception_path_with_random_weights(fake_inception, tmp_path, monkeypatch):
    # the sha256 check refuses a file that is not the published one ...
    with pytest.raises(UserError, match="sha256"):
        backbones.load_backbone("inception", fake_inception)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a torch-fidelity Inception weights file"):
        backbones.load_backbone("inception", garbage, verify=False)
    # ... the environment variable and the hub cache are searched, in that order
    monkeypatch.setenv(backbones.INCEPTION_ENV, str(fake_inception))
    assert backbones.find_inception_weights() == fake_inception
    monkeypatch.delenv(backbones.INCEPTION_ENV)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(fake_inception.parent.parent))
    (fake_inception.parent.parent / "checkpoints").mkdir(exist_ok=True)
    hub = fake_inception.parent.parent / "checkpoints" / backbones.INCEPTION_FILE
    hub.write_bytes(fake_inception.read_bytes())
    assert backbones.find_inception_weights() == hub
    # ... and the whole path runs on a file of the right structure
    bb = backbones.load_backbone("inception", fake_inception, verify=False)
    assert (bb.feature_dim, bb.num_classes) == (2048, 1008)
    images = torch.randint(0, 256, (3, 3, 40, 56), dtype=torch.uint8)
    f, p = bb.features_and_probs(images, batch_size=2)
    assert f.shape == (3, 2048) and p.shape == (3, 1008) and f.dtype == torch.float32
    assert torch.allclose(p.sum(1), torch.ones(3), atol=1e-5) and torch.isfinite(f).all()
    assert f.std(0).mean() > 0  # features differ between images
    f2, _ = bb.features_and_probs(images[:1])
    assert torch.allclose(f2, f[:1], atol=1e-4)
    assert bb.weights_sha256 == sha256_file(fake_inception)


@pytest.mark.real_data
def test_efficientnet_lite0_on_real_photos(effnet, shared_data):
    photos = sorted((shared_data / "tiny_coco" / "val2017").glob("*.jpg"))[:8]
    images = []
    for path in photos:
        im = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        images.append(cv2.resize(im, (96, 80), interpolation=cv2.INTER_AREA))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    f, p = effnet.features_and_probs(x, batch_size=4)
    assert f.shape == (8, 1280) and p.shape == (8, 1000)
    assert torch.allclose(p.sum(1), torch.ones(8), atol=1e-5)
    # ImageNet classifier on real photos: confident on some, and far from uniform (1/1000)
    assert p.max(1).values.mean() > 0.15
    assert effnet.weights_sha256.startswith("57934424")  # the hash in the shipped file's name
    noise = torch.randint(0, 256, (8, 3, 80, 96), dtype=torch.uint8)
    assert p.max(1).values.mean() > effnet.features_and_probs(noise)[1].max(1).values.mean()


# ---------------------------------------------------------------------------- focus channel


def test_mask_measures_on_drawn_masks():
    masks = np.zeros((4, 32, 32), np.uint8)
    cv2.circle(masks[0], (8, 8), 4, 255, -1)
    cv2.circle(masks[0], (22, 22), 4, 255, -1)  # two separate blobs
    cv2.rectangle(masks[1], (8, 8), (23, 23), 255, -1)  # one square
    masks[2, :, :3] = 255  # a band on the left border
    m = focus.mask_measures(masks)  # masks[3] is empty
    assert focus.component_counts(masks).tolist() == [2, 1, 1, 0]
    assert m["components_mean"] == pytest.approx(1.0)
    assert m["fragmented_samples"] == 0.25 and m["empty_samples"] == 0.25
    assert m["binarity"] == pytest.approx(1.0)
    assert m["border_rejected_samples"] == 0.25  # only the band touches the border
    soft = focus.mask_measures(np.full((2, 16, 16), 128, np.uint8))
    assert soft["binarity"] < 0.01 and soft["uncertain_pixels"] == 1.0
    d = focus.fg_fraction_distance(masks, masks)
    assert d["fg_fraction_wasserstein"] == 0 and d["fg_fraction_ks"] == 0
    assert focus.fg_fraction_distance(masks, np.full_like(masks, 255))["fg_fraction_ks"] == 1.0


def test_mask_iou():
    a = np.zeros((3, 4, 4), bool)
    b = a.copy()
    a[0, :2], b[0, :1] = True, True  # IoU 1/2
    a[1], b[1] = True, False  # IoU 0
    assert mask_iou(a, b).tolist() == [0.5, 0.0, 1.0]  # empty vs empty counts as agreement


def test_segmenter_learns_pairs_and_is_cached(pairs_h5):
    cfg = SegmenterConfig(steps=60)  # the settings of `--segmenter-steps 60` below: one training
    seg = train_segmenter(pairs_h5, cfg, progress=False)
    assert Path(seg.path).exists() and seg.n_heldout == 9 and seg.n_train == 81
    images = load_images(pairs_h5)
    swapped = images.copy()
    swapped[..., 3] = np.roll(images[..., 3], 45, axis=0)  # masks of the other sequence
    assert seg.heldout_iou > 0.4
    assert seg.consistency(images) > seg.consistency(swapped) + 0.2
    again = train_segmenter(pairs_h5, cfg, progress=False)  # loaded, not retrained
    assert again.path == seg.path and again.heldout_iou == pytest.approx(seg.heldout_iou)


# ---------------------------------------------------------------------------- evaluation


REF_N = 40  # every test compares with the same 40-sample reference (computed once, cached)


def test_evaluate_images_and_reference_cache(davis_h5, effnet):
    # the reference's own samples, evaluated against it, must score as identical
    images = evaluate.load_rows(davis_h5, evaluate.sample_indices(90, REF_N, seed=0))
    kw = dict(splits=3, metrics=("is", "fid", "kid", "pr", "focus"), ref_n=REF_N)
    same = evaluate.evaluate_images(images, davis_h5, effnet, **kw)
    caches = list(davis_h5.parent.glob("davis32.h5.refstats-efficientnet-lite0-*-n40-*.npz"))
    assert len(caches) == 1 and same.reference["cache"] == str(caches[0])
    s = same.scores
    assert set(s) >= {
        "is/efficientnet-lite0",
        "fid/efficientnet-lite0",
        "kid/efficientnet-lite0",
        "precision/efficientnet-lite0",
        "recall/efficientnet-lite0",
    }
    assert s["fid/efficientnet-lite0"] == pytest.approx(0, abs=1e-3)  # the data against itself
    assert s["precision/efficientnet-lite0"] == 1.0 and s["recall/efficientnet-lite0"] == 1.0
    assert same.focus["distance"]["fg_fraction_wasserstein"] == 0
    assert any("Fréchet distance from 40 samples" in n for n in same.notes)
    # 40 vs 40 with subsets of 40: every subset is the whole set, so no spread is claimed
    assert "kid_std/efficientnet-lite0" not in s
    assert any("KID has no std" in n for n in same.notes)
    # a worse "generator": noisy images with masks shifted out of place
    rng = np.random.default_rng(0)
    bad = np.clip(images.astype(int) + rng.integers(-60, 61, images.shape), 0, 255).astype(np.uint8)
    bad[..., 3] = np.roll(images[..., 3], 20, axis=2)
    evaluate._REFERENCES.clear()  # must come back from the cache file
    worse = evaluate.evaluate_images(bad, davis_h5, effnet, **kw).scores
    assert worse["fid/efficientnet-lite0"] > s["fid/efficientnet-lite0"] + 1
    assert worse["kid/efficientnet-lite0"] > s["kid/efficientnet-lite0"]


def test_evaluation_file_round_trip(tmp_path):
    result = Evaluation(
        scores={"is/b": 2.5, "is_std/b": 0.1, "fid/b": float("nan")},
        notes=["quick look"],
        provenance={"backbone": {"name": "b"}, "n": 16, "seed": 0, "splits": 2,
                    "source": {"kind": "run", "step": 4, "generator": "ema", "bn": "batch"}},
    )  # fmt: skip
    path = result.write(tmp_path / "e.json")
    assert json.loads(path.read_text())["scores"]["fid/b"] is None  # strict JSON
    back = Evaluation.read(path)
    assert back.score("is") == (2.5, 0.1) and back.score("fid") is None and back.step == 4
    assert back.made_with(16, 0, 2, 4) and not back.made_with(16, 0, 2, 5)
    assert not back.made_with(32, 0)
    assert any(line.startswith("  is/b") for line in back.lines())
    assert Evaluation.read(tmp_path / "missing.json") is None


def test_evaluate_generator_flat_floats(davis_h5, effnet):
    class Stand_in(torch.nn.Module):  # a tiny 4-channel generator z -> [-1, 1] images
        z_dim, resolution, channels = 8, 32, 4

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 4 * 8 * 8)

        def forward(self, z):
            x = self.fc(z).view(-1, 4, 8, 8)
            return torch.tanh(torch.nn.functional.interpolate(x, scale_factor=4.0))

    out = evaluate.evaluate_generator(Stand_in(), davis_h5, 20, effnet, splits=2, ref_n=REF_N)
    assert all(isinstance(v, float) and np.isfinite(v) for v in out.values())
    assert {"is/efficientnet-lite0", "fid/efficientnet-lite0", "kid/efficientnet-lite0"} <= set(out)
    assert {"focus/fg_fraction_wasserstein", "focus/binarity", "focus/components_mean"} <= set(out)


def test_cli_evaluates_data_samples_and_run(davis_h5, tmp_path, capsys, monkeypatch):
    from focusgan.metrics import consistency, generated_pairs

    # an oracle segmenter: each image's true mask (the segmenter's learning is tested above).
    # What the commands report is then known without them: IoU 1 for every segmenter.
    truth = {im[..., :3].tobytes(): im[..., 3] > 127 for im in load_images(davis_h5)}
    oracle = lambda model, rgb, *a: np.stack([truth[x.tobytes()] for x in rgb])  # noqa: E731
    for module in (consistency, generated_pairs):
        monkeypatch.setattr(module, "fit", lambda *a: None)
        monkeypatch.setattr(module, "predict", oracle)
    base = [
        "evaluate",
        "--backbone",
        "efficientnet-lite0",
        "--splits",
        "2",
        "--quiet",
        "--segmenter-steps",
        "7",  # a cache key of its own: the untrained net is cached under it
    ]
    out = tmp_path / "data.json"
    assert main([*base, "--data", str(davis_h5), "--n", "40", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    prov = result["provenance"]
    assert prov["backbone"]["name"] == "efficientnet-lite0" and prov["n"] == 40
    assert prov["backbone"]["weights_sha256"].startswith("57934424")
    assert {"torch", "torch-fidelity", "numpy"} <= set(prov["versions"])
    assert result["focus"]["consistency"]["heldout_real_iou"] == 1.0  # the true masks, exactly
    assert "whole groups" in result["focus"]["consistency"]["segmenter"]["heldout_rule"]
    assert any("quick look" in n for n in result["notes"])
    assert any("segmenter learned from only 81 real pairs" in n for n in result["notes"])
    assert "is/efficientnet-lite0" in capsys.readouterr().out

    samples = tmp_path / "samples.h5"
    with DatasetWriter(samples, resolution=32, channels=4, mask_semantics="probability") as w:
        w.append(load_images(davis_h5)[::-1][:30], source="generated")
    assert (
        main(
            [
                *base,
                "--samples",
                str(samples),
                "--data",
                str(davis_h5),
                "--n",
                "30",
                "--ref-n",
                "40",
                "--metrics",
                "is,fid,focus,pairs",
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "samples.evaluation-efficientnet-lite0.json").read_text())
    assert set(result["scores"]) == {
        "is/efficientnet-lite0",
        "is_std/efficientnet-lite0",
        "fid/efficientnet-lite0",
    }
    assert result["provenance"]["source"]["kind"] == "samples"
    # any 4-channel samples file gets the generated-pairs measure: no floor (no step-0 generator)
    pairs = result["focus"]["generated_pairs"]
    assert pairs["iou"] == pairs["ceiling_iou"] == 1.0 and pairs["floor_iou"] is None
    held = load_images(davis_h5)[consistency.split_pairs(90, SegmenterConfig())[1]]
    assert pairs["all_foreground_iou"] == pytest.approx((held[..., 3] > 127).mean())
    assert any("no step-0 generator" in n for n in result["notes"])

    from focusgan.training.config import make_config
    from focusgan.training.loop import train

    run = tmp_path / "run"
    cfg = make_config(
        "tiny", data=str(davis_h5), width=8, batch_critic=4, batch_gen=4, n_critic=1, iters=1
    )
    train(cfg, run, progress=False)
    assert (
        main(
            [
                *base,
                str(run),
                "--n",
                "20",
                "--ref-n",
                "40",
                "--metrics",
                "is,fid,focus",
                "--bn",
                "running",
                "--raw",
            ]
        )
        == 0
    )
    src = json.loads((run / "evaluation-efficientnet-lite0.json").read_text())["provenance"]
    assert src["source"]["step"] == 1 and src["source"]["bn"] == "running"
    assert src["source"]["generator"] == "raw" and src["n"] == 20


def test_cli_user_errors_are_one_line(davis_h5, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(backbones.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert main(["evaluate", "--data", str(davis_h5), "--n", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--backbone efficientnet-lite0" in err
    assert main(["evaluate"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(davis_h5), "--metrics", "is,bogus"]) == 2
    assert "unknown metrics" in capsys.readouterr().err
