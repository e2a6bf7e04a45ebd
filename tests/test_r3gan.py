"""R3GAN (issue 22): the official networks' parameter counts, the resampling filter, the
fix-up initialisation, the RpGAN / R1 / R2 loss against its formula and finite differences,
the official schedules, and R3GAN runs with what WGAN-GP runs have (exact resume, NaN guard,
samples, the command line's checks, an experiment variant)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from focusgan.cli import main
from focusgan.errors import UserError, WorkError
from focusgan.models import r3gan
from focusgan.models.resnet import count_parameters
from focusgan.training import rpgan
from focusgan.training.config import make_config
from focusgan.training.loop import train
from focusgan.training.rundir import describe_run, load_generator
from test_train import assert_same_tensors, states

FFHQ64 = dict(widths=[768] * 4 + [384], cardinalities=[96] * 4 + [48], blocks=[2] * 5)
CIFAR10 = dict(widths=[768] * 4, cardinalities=[96] * 4, blocks=[2] * 4)


@pytest.mark.parametrize(
    "preset, resolution, classes, g, d",
    [
        # brownvc/R3GAN train.py presets with R3GAN/Networks.py: 3 channels, z 64, expansion 2
        (FFHQ64, 64, 0, 22_429_824, 22_381_440),
        (CIFAR10, 32, 10, 20_781_952, 21_280_512),
    ],
)
def test_official_presets_have_the_official_parameter_counts(preset, resolution, classes, g, d):
    with torch.device("meta"):  # shapes only: no memory, no time
        G = r3gan.Generator(3, **preset, expansion=2, resolution=resolution, z_dim=64,
                            num_classes=classes)  # fmt: skip
        D = r3gan.Discriminator(3, **preset, expansion=2, resolution=resolution,
                                num_classes=classes)  # fmt: skip
    assert (count_parameters(G), count_parameters(D)) == (g, d)


def test_thesis_preset_is_the_thesis_budget_and_dry_run_prints_it(capsys):
    """r3gan-thesis within 10% of the thesis networks (G 1,517,828 / D 1,055,105 at 4 channels)."""
    assert main(["train", "--dry-run", "--arch", "r3gan"]) == 0
    out = dict(line.split() for line in capsys.readouterr().out.splitlines())
    g, d = int(out["generator_parameters"]), int(out["critic_parameters"])
    assert abs(g / 1_517_828 - 1) < 0.1 and abs(d / 1_055_105 - 1) < 0.1
    assert main(["train", "--dry-run", "--preset", "r3gan-ffhq64", "--channels", "3"]) == 0
    assert "generator_parameters 22429824" in capsys.readouterr().out


def test_resampling_is_the_official_low_pass_filter():
    """[1, 2, 1] -> [1, 3, 3, 1] (x) [1, 3, 3, 1] / 64: a constant image stays constant inside
    both ways, and up-sampling one pixel spreads it as 4 x the 4x4 kernel's polyphase parts."""
    up, down = r3gan.Resample(up=True), r3gan.Resample(up=False)
    ones = torch.ones(1, 2, 8, 8)
    assert torch.allclose(up(ones)[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    assert torch.allclose(down(ones)[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2))
    delta = torch.zeros(1, 1, 4, 4)
    delta[..., 1, 1] = 1
    k = torch.tensor([1.0, 3, 3, 1])
    assert torch.allclose(up(delta)[0, 0, 1:5, 1:5], 4 * torch.outer(k, k) / 64)


def test_blocks_start_as_the_identity_and_the_networks_take_any_channels():
    block = r3gan.ResidualBlock(16, 2, 2, variance_scale=10)
    x = torch.randn(3, 16, 8, 8)
    assert torch.equal(block(x), x)  # last layer zero: the fix-up initialisation
    kw = dict(widths=[16, 16, 8], cardinalities=[2, 2, 1], blocks=[1, 1, 1], resolution=16)
    G = r3gan.Generator(4, **kw, z_dim=8, num_classes=3)
    D = r3gan.Discriminator(4, **kw, num_classes=3)
    y = torch.tensor([0, 2])
    images = G(torch.randn(2, 8), y)
    assert images.shape == (2, 4, 16, 16) and D(images, y).shape == (2,)
    with pytest.raises(ValueError, match="needs labels"):
        G(torch.randn(2, 8))


def test_rpgan_loss_is_its_formula_on_hand_made_logits():
    f = lambda t: math.log1p(math.exp(-t))  # noqa: E731
    first, second = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.0, 1.0])
    want = torch.tensor([f(1.0), math.log(2), f(-2.0)])
    assert torch.allclose(rpgan.relativistic_loss(first, second), want)

    # a linear critic D(x) = <w, x> + b: scores known, gradient w for every sample, so
    # R1 = R2 = ||w||^2 and the losses are f(D(real) - D(fake)) and f(D(fake) - D(real))
    torch.manual_seed(0)
    w, b = torch.randn(1, 2, 3, 3), 0.5

    def D(x):
        return (x * w).flatten(1).sum(1) + b

    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    d_real, d_fake = D(real), D(fake)
    gamma = 0.7
    loss = rpgan.critic_loss(D, real, fake, gamma)
    adv = [f(float(r - q)) for r, q in zip(d_real, d_fake, strict=True)]
    norm2 = float(w.square().sum())
    assert loss.total.item() == pytest.approx(sum(adv) / 4 + gamma / 2 * 2 * norm2, rel=1e-5)
    assert loss.r1.item() == pytest.approx(norm2, rel=1e-5) and loss.r2.item() == loss.r1.item()
    assert loss.margin.item() == pytest.approx(float((d_real - d_fake).mean()), rel=1e-5)
    g = [f(float(q - r)) for r, q in zip(d_real, d_fake, strict=True)]
    assert rpgan.generator_loss(D, fake, real).item() == pytest.approx(sum(g) / 4, rel=1e-5)


def test_r1_and_r2_match_finite_differences():
    """||grad_x D(x)||^2 per sample by autograd against central differences (float64)."""
    torch.manual_seed(1)
    D = r3gan.Discriminator(2, [8, 8], [2, 2], [1, 1], resolution=8).double()
    for p in D.parameters():  # away from the identity start, so every layer matters
        p.data.add_(0.3 * torch.randn_like(p))
    real, fake = torch.randn(3, 2, 8, 8, dtype=torch.float64), torch.randn(3, 2, 8, 8).double()
    loss = rpgan.critic_loss(D, real, fake, gamma=1.0)
    h = 1e-6
    for x, got in ((real, loss.r1), (fake, loss.r2)):
        norms = []
        for i in range(len(x)):
            g = torch.zeros(x[i].numel(), dtype=torch.float64)
            for j in range(x[i].numel()):
                e = torch.zeros(x[i].numel(), dtype=torch.float64)
                e[j] = h
                e = e.view_as(x[i])
                with torch.no_grad():
                    g[j] = (D((x[i] + e)[None]) - D((x[i] - e)[None])).item() / (2 * h)
            norms.append(g.square().sum())
        assert got.item() == pytest.approx(float(torch.stack(norms).mean()), rel=1e-6)


def test_schedules_are_the_official_cosine():
    assert rpgan.cosine_schedule(0, 2e-4, 5e-5, 2e7) == 2e-4
    assert rpgan.cosine_schedule(1e7, 2e-4, 5e-5, 2e7) == pytest.approx((2e-4 + 5e-5) / 2)
    assert rpgan.cosine_schedule(3e7, 2e-4, 5e-5, 2e7) == 5e-5
    # the official EMA: beta = 0.5 ** (batch / half-life), the half-life 0 -> ema_nimg
    from focusgan.training.algorithms import ALGORITHMS

    cfg = make_config("r3gan-thesis")
    assert ALGORITHMS["r3gan"].ema_beta(cfg, 0) == 0.0  # the EMA starts as a copy
    assert ALGORITHMS["r3gan"].ema_beta(cfg, 10**6) == pytest.approx(0.5 ** (256 / 500_000))


# --- runs ------------------------------------------------------------------------------------

SMALL = dict(
    widths=[8, 8, 8, 8],
    cardinalities=[1, 1, 1, 1],
    blocks=[1, 1, 1, 1],
    batch_critic=8,
    batch_gen=8,
    log_every=1,
    sample_every=2,
    checkpoint_every=2,
    snapshot_every=4,
)


def cfg_for(data, **kw):
    return make_config("r3gan-tiny", data=str(data), **{**SMALL, **kw})


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(toy_h5, tmp_path):
    train(cfg_for(toy_h5, iters=6), tmp_path / "once", progress=False)
    assert (
        train(cfg_for(toy_h5, iters=6), tmp_path / "twice", stop_after=3, progress=False).step == 3
    )
    train(cfg_for(toy_h5, iters=6), tmp_path / "twice", resume=True, progress=False)
    a, b = states(tmp_path / "once"), states(tmp_path / "twice")
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "sched_G", "sched_D", "data_order"):
        assert_same_tensors(a[key], b[key])
    logs = [
        [json.loads(x) for x in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
        for r in ("once", "twice")
    ]
    assert [r["step"] for r in logs[1]] == list(range(1, 7))
    assert [(r["loss_d"], r["r1"], r["r2"]) for r in logs[0]] == [
        (r["loss_d"], r["r1"], r["r2"]) for r in logs[1]
    ]
    # the samples in the four views, and the EMA generator loads as an R3GAN one
    assert any((tmp_path / "once" / "samples").glob("*.png"))
    G, cfg, step = load_generator(tmp_path / "once")
    assert isinstance(G, r3gan.Generator) and cfg.arch == "r3gan" and step == 6
    text = describe_run(tmp_path / "once")  # `focusgan inspect RUN`
    assert "model        r3gan, preset r3gan-tiny, widths [8, 8, 8, 8]" in text and "r1 " in text
    # a resume that changes the architecture is refused
    wgan = make_config("tiny", data=str(toy_h5), iters=8)
    with pytest.raises(UserError, match="arch is 'wgan-gp' but .* 'r3gan'"):
        train(wgan, tmp_path / "once", resume=True, progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(toy_h5, tmp_path, monkeypatch):
    calls, real = [0], rpgan.generator_loss

    def poisoned(*args):
        calls[0] += 1
        return real(*args) * (float("nan") if calls[0] == 3 else 1.0)

    monkeypatch.setattr(rpgan, "generator_loss", poisoned)
    with pytest.raises(WorkError, match="non-finite loss.*step 2"):
        train(cfg_for(toy_h5, iters=10), tmp_path / "run", progress=False)
    state = states(tmp_path / "run")
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["G"].values())


@pytest.mark.parametrize(
    "flag", [["--n-critic", "3"], ["--gp-weight", "5"], ["--critic-norm", "layer"]]
)
def test_wgan_only_flags_with_r3gan_are_one_line_errors(flag, toy_h5, tmp_path, capsys):
    args = ["train", "--data", str(toy_h5), "--out", str(tmp_path / "r"), "--arch", "r3gan"]
    assert main([*args, *flag]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag[0] in err and "r3gan" in err
    assert not (tmp_path / "r").exists()
    assert main(["train", "--dry-run", "--gamma", "1"]) == 2  # and the other way round
    assert main(["train", "--dry-run", "--arch", "r3gan", "--preset", "thesis"]) == 2


def test_two_processes_compute_the_gradients_of_one(toy_h5, tmp_path):
    """torchrun with 2 processes (gloo) against one: with lr = 0 the weights stay put, and the
    last gradients (Adam's exp_avg, beta1 = 0) agree within float32 summation order."""
    from test_distributed import _relative_error, torchrun_train

    small = {**SMALL, "iters": 2, "lr": 0.0}
    status, out = torchrun_train(tmp_path, "r3gan-tiny", toy_h5, small, tmp_path / "two")
    assert status == 0, out[-3000:]
    train(make_config("r3gan-tiny", data=str(toy_h5), **small), tmp_path / "one", progress=False)
    one, two = states(tmp_path / "one"), states(tmp_path / "two")
    for opt in ("opt_G", "opt_D"):
        grads = [
            torch.cat([s["exp_avg"].flatten() for s in st[opt]["state"].values()])
            for st in (two, one)
        ]
        assert grads[1].abs().max() > 0 and _relative_error(*grads) < 1e-4


def test_an_r3gan_variant_trains_beside_the_baseline(toy_h5, tmp_path):
    """`{train: {arch: r3gan, preset: ...}}` beside a WGAN-GP baseline with WGAN-only settings."""
    from focusgan.experiment.config import load_config, parse_config
    from focusgan.experiment.runner import run_experiment
    from focusgan.report.report import write_report
    from test_experiment import TRAIN

    doc = {
        "name": "r3gan",
        "datasets": [{"name": "toy", "file": str(toy_h5)}],
        "train": {**TRAIN, "iters": 2},
        "evaluate": dict(backbone="efficientnet-lite0", n=16, splits=2, ref_n=32, metrics=["kid"]),
        "channels": [4],
        "variants": [
            {"name": "r3gan", "train": {"arch": "r3gan", "preset": "r3gan-tiny", **SMALL}}
        ],
    }
    cfg = parse_config(doc, tmp_path)
    assert "n_critic" not in cfg.variant_train(cfg.variants[0])
    shipped = load_config(Path(__file__).resolve().parents[1] / "configs/thesis-coco-r3gan.yaml")
    settings = shipped.variant_train(shipped.variants[0])
    assert make_config(settings.pop("preset"), **settings).arch == "r3gan"
    out = tmp_path / "out"
    summary = run_experiment(cfg, out, progress=False, log=lambda s: None)
    assert summary["finished"]
    run = summary["datasets"][0]["variants"]["r3gan"]["runs"]["4"]
    assert run["status"] == "finished"
    assert yaml.safe_load((out / "toy/r3gan/run-4ch/config.yaml").read_text())["arch"] == "r3gan"
    write_report(out)
    md = (out / "report.md").read_text()
    # the variant's heading names what differs, not the settings only one architecture uses
    (head,) = [line for line in md.splitlines() if line.startswith("### toy: r3gan (")]
    assert head.startswith("### toy: r3gan (arch: wgan-gp → r3gan; z_dim: 128 → 64;")
    assert "n_critic" not in head and "width:" not in head and "widths" not in head


def test_training_cli_with_r3gan(toy_h5, tmp_path):
    out = tmp_path / "cli"
    flags = ["--widths", "8", "8", "8", "8", "--cardinalities", "1", "1", "1", "1"]
    cmd = [sys.executable, "-m", "focusgan", "train", "--data", str(toy_h5), "--out", str(out),
           "--arch", "r3gan", "--preset", "r3gan-tiny", "--iters", "1", "--quiet", *flags]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "finished 1 steps" in proc.stdout
