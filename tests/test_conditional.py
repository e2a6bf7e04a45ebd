"""Class-conditional networks and losses (issue 13 item 1), and the wide preset's size."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import yaml

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


# ---------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def labelled_h5(tmp_path_factory):
    """The toy shapes with a COCO-like category per sample (the shape: 1 disc, 3 square...)."""
    from focusgan.data.dataset import DatasetWriter
    from focusgan.data.toy import toy_images

    images = toy_images(48, 32, seed=5)
    cats = [1, 3, 18] * 16
    path = tmp_path_factory.mktemp("labelled") / "labelled.h5"
    names = {"1": "person", "3": "car", "18": "dog"}
    with DatasetWriter(
        path, resolution=32, channels=4, mask_semantics="binary", extra={"category_names": names}
    ) as w:
        w.append(images, source="toy", category_id=cats)
    return path


@pytest.fixture(scope="module")
def imbalanced_h5(tmp_path_factory):
    """The toy shapes with imbalanced categories: 32 person, 12 car, 4 dog."""
    from focusgan.data.dataset import DatasetWriter
    from focusgan.data.toy import toy_images

    cats = [1, 1, 3] * 12 + [1, 1, 18] * 4  # person 32, car 12, dog 4
    path = tmp_path_factory.mktemp("imbalanced") / "imbalanced.h5"
    with DatasetWriter(path, resolution=32, channels=4, mask_semantics="binary") as w:
        w.append(toy_images(48, 32, seed=6), source="toy", category_id=cats)
    return path


def _cfg(data, **kw):
    from focusgan.training.config import make_config

    small = dict(width=8, batch_critic=8, batch_gen=8, n_critic=2, log_every=1)
    return make_config("tiny", data=str(data), conditional=True, **{**small, **kw})


@pytest.mark.parametrize("head", ["ac", "projection"])
def test_conditional_training_resumes_bit_for_bit(labelled_h5, tmp_path, head):
    from focusgan.training.loop import train

    once = tmp_path / "once"
    twice = tmp_path / "twice"
    train(_cfg(labelled_h5, iters=4, critic_head=head), once, progress=False)
    train(_cfg(labelled_h5, iters=4, critic_head=head), twice, stop_after=2, progress=False)
    train(_cfg(labelled_h5, iters=4, critic_head=head), twice, resume=True, progress=False)
    a = torch.load(once / "checkpoints/latest.pt", weights_only=False)
    b = torch.load(twice / "checkpoints/latest.pt", weights_only=False)
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    cfg = a["config"]
    assert cfg["num_classes"] == 3 and cfg["classes"] == ["1", "3", "18"]
    assert cfg["class_names"] == ["person", "car", "dog"]
    assert a["G"]["class_weights"].tolist() == [16.0, 16.0, 16.0]
    log = (once / "metrics.jsonl").read_text()
    assert ("ac_loss" in log) == (head == "ac")


def test_class_sampling_and_missing_labels(imbalanced_h5, toy_h5, tmp_path):
    from focusgan.errors import UserError
    from focusgan.training.loop import train
    from focusgan.training.rundir import load_generator
    from focusgan.training.sample import generate, sample_labels

    run = tmp_path / "run"
    train(_cfg(imbalanced_h5, iters=2), run, progress=False)
    G, cfg, _ = load_generator(run)
    assert G.num_classes == 3 and cfg.classes == ["1", "3", "18"]
    labels = sample_labels(G, 3000, seed=0)
    # drawn as often as the data has them (32 : 12 : 4), not uniformly (1000 each); the binomial
    # standard deviation of each share is below 0.009
    shares = np.bincount(labels.numpy(), minlength=3) / 3000
    assert shares == pytest.approx([32 / 48, 12 / 48, 4 / 48], abs=0.03)
    assert torch.equal(labels, sample_labels(G, 3000, seed=0))
    assert (sample_labels(G, 5, seed=0, cls=2) == 2).all()
    dogs = generate(G, 6, seed=1, cls=2)
    cars = generate(G, 6, seed=1, cls=1)
    assert dogs.shape == (6, 32, 32, 4) and not np.array_equal(dogs, cars)
    assert np.array_equal(dogs, generate(G, 6, seed=1, cls=2))
    with pytest.raises(UserError, match=r"toy\.h5 has no labels"):
        train(_cfg(toy_h5, iters=1), tmp_path / "nolabels", progress=False)


def test_resume_keeps_the_labels_a_run_was_trained_on(labelled_h5, tmp_path, capsys):
    """Issue 19 item 7: a run started with --labels and resumed without it (or with other
    labels: a/b/c in another order, the same classes and counts) stops with a one-line error
    naming --labels; the same labels from a moved file resume, and the config records the move."""
    from focusgan.cli import main

    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n" * 16)  # 3 classes, like the file's 1/3/18: only values differ
    other = tmp_path / "other.txt"
    other.write_text("b\na\nc\n" * 16)
    run = tmp_path / "run"
    args = ["train", "--data", str(labelled_h5), "--out", str(run), "--preset", "tiny"]
    args += ["--width", "8", "--batch-critic", "8", "--batch-gen", "8", "--n-critic", "1"]
    args += ["--iters", "2", "--quiet", "--conditional"]
    assert main([*args, "--labels", str(labels), "--stop-after", "1"]) == 0
    for wrong, now in (([], "category_id"), (["--labels", str(other)], f"file {other}")):
        capsys.readouterr()
        assert main([*args, *wrong, "--resume"]) == 2
        err = capsys.readouterr().err.strip()
        assert "--resume: --labels:" in err and "\n" not in err
        assert f"trained on the labels of file {labels}" in err
        assert f"this command's are the labels of {now}" in err
    moved = tmp_path / "moved.txt"
    moved.write_text(labels.read_text())
    assert main([*args, "--labels", str(moved), "--resume"]) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["labels"] == str(moved) and cfg["label_source"] == "file"
    assert cfg["classes"] == ["a", "b", "c"]
    assert cfg["label_sha256"] == hashlib.sha256(("a\nb\nc\n" * 16)[:-1].encode()).hexdigest()


def test_running_statistics_of_a_conditional_ema_generator(labelled_h5, tmp_path):
    from focusgan.training.loop import train
    from focusgan.training.rundir import load_generator
    from focusgan.training.sample import generate

    run = tmp_path / "run"
    train(_cfg(labelled_h5, iters=2), run, progress=False)
    G, _, _ = load_generator(run, bn="running")
    images = generate(G, 4, seed=0, bn="running", cls=0)
    assert images.shape == (4, 32, 32, 4)


def test_cli_conditional_dry_run_train_and_sample_by_class_name(labelled_h5, tmp_path, capsys):
    from focusgan.cli import main
    from focusgan.data.dataset import load_images, read_info

    assert main(["train", "--data", str(labelled_h5), "--conditional", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # 32x32: 3 up-blocks x 2 conditional BNs of 128 maps, 3 classes; AC head Linear(128, 3)
    g = count_parameters(Generator(4, 128, 32)) + 3 * 2 * (2 * 3 * 128 - 2 * 128)
    d = count_parameters(Critic(4, 128, 32)) + 128 * 3 + 3
    assert f"classes 3\ngenerator_parameters {g}\ncritic_parameters {d}" in out
    run = tmp_path / "run"
    args = ["train", "--data", str(labelled_h5), "--out", str(run), "--preset", "tiny"]
    small = ["--iters", "2", "--width", "8", "--batch-critic", "8", "--batch-gen", "8", "--quiet"]
    assert main([*args, *small, "--conditional", "--critic-head", "projection"]) == 0
    grid = tmp_path / "dogs.png"
    assert main(["sample", str(run), "--n", "4", "--out", str(grid), "--class", "dog"]) == 0
    assert grid.exists()
    h5 = tmp_path / "dogs.h5"
    assert main(["sample", str(run), "--n", "5", "--out", str(h5), "--class", "18"]) == 0
    assert load_images(h5).shape == (5, 32, 32, 4)
    assert read_info(h5).extra["generated_by"]["class"] == "18"
    assert main(["sample", str(run), "--n", "4", "--out", str(grid), "--class", "cat"]) == 2
    assert "unknown class 'cat'" in capsys.readouterr().err
    plain = tmp_path / "plain"
    assert main([*args[:4], str(plain), *args[5:], *small]) == 0
    assert main(["sample", str(plain), "--n", "4", "--out", str(grid), "--class", "1"]) == 2
    assert "not a class-conditional run" in capsys.readouterr().err
    assert main(["train", "--conditional", "--dry-run"]) == 2


def test_per_class_scores_of_a_conditional_run(labelled_h5, tmp_path):
    from focusgan.metrics.evaluate import evaluate_run

    run = tmp_path / "run"
    from focusgan.training.loop import train

    train(_cfg(labelled_h5, iters=2), run, progress=False)
    result = evaluate_run(
        run,
        None,
        "efficientnet-lite0",
        n=12,
        splits=2,
        metrics=("is", "kid"),
        device="cpu",
        min_class_samples=16,
    )
    assert set(result.per_class) == {"1", "3", "18"}  # 16 samples each: all qualify
    dog = result.per_class["18"]
    assert dog["name"] == "dog" and dog["n"] == 12 and dog["data_samples"] == 16
    assert {"is/efficientnet-lite0", "kid/efficientnet-lite0"} <= set(dog)
    assert any("3 of 3 classes with at least 16" in n for n in result.notes)
    strict = evaluate_run(
        run, None, "efficientnet-lite0", n=12, splits=2, metrics=("is",), device="cpu",
        min_class_samples=17,
    )  # fmt: skip
    assert strict.per_class == {}
    assert any("0 of 3 classes with at least 17" in n for n in strict.notes)
