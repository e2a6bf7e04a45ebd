"""A run directory: where each of its files lives (`RunDir`), its generator for sampling and
evaluation, and a summary for `inspect`.

A run directory holds `config.yaml`, `checkpoints/` (latest.pt + step-NNNNNNNN.pt),
`metrics.jsonl`, `tensorboard/`, `samples/` and the evaluations of its generator
(`evaluation-BACKBONE.json`, `initial.evaluation-BACKBONE.json` for its step-0 weights).
Loading a generator needs only the checkpoint (it carries the resolved config), never the
training data.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from focusgan.errors import UserError
from focusgan.models.resnet import count_parameters
from focusgan.training import checkpoint
from focusgan.training.algorithms import generator_with
from focusgan.training.config import TrainConfig
from focusgan.training.export import read_generator
from focusgan.training.sample import BN_MODES, recompute_bn_statistics
from focusgan.utils.device import to_device


class RunDir:
    """The paths of one run directory (nothing is created by naming them)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"  # the resolved TrainConfig
        self.checkpoints = self.path / "checkpoints"
        self.latest = self.checkpoints / "latest.pt"  # every checkpoint_every steps, at the end
        self.metrics = self.path / "metrics.jsonl"  # losses, in-training evaluations
        self.tensorboard = self.path / "tensorboard"
        self.samples = self.path / "samples"  # fixed-noise grids

    def snapshot(self, step: int) -> Path:
        """A kept checkpoint (`snapshot_every`)."""
        return self.checkpoints / f"step-{step:08d}.pt"

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step-{step:08d}.png"

    def evaluation(self, backbone: str, initial: bool = False) -> Path:
        """The evaluation of the run's generator, or of its step-0 weights (`initial`)."""
        return self.path / f"{'initial.' if initial else ''}evaluation-{backbone}.json"

    def checkpoint(self, which: str | None = None) -> Path:
        """A checkpoint file: `latest` (default), a step number, or a path; a `UserError`
        naming the run's checkpoints when it does not exist."""
        if which in (None, "latest"):
            path = self.latest
        elif re.fullmatch(r"\d+", str(which)):
            path = self.snapshot(int(which))
        else:
            path = Path(which)
        if not path.exists():
            have = sorted(p.name for p in self.checkpoints.glob("*.pt"))
            where = (
                f"this run has: {', '.join(have)}"
                if have
                else f"is {self.path} a focusgan run directory?"
            )
            raise UserError(f"no checkpoint {path}; {where}")
        return path

    def step(self) -> int | None:
        """The step of the latest checkpoint, None before the first."""
        return int(checkpoint.load(self.latest)["step"]) if self.latest.exists() else None


def load_generator(
    run_dir: str | Path,
    which: str | None = None,
    ema: bool = True,
    device: str | torch.device = "cpu",
    bn: str = "batch",
) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The (EMA or raw) generator of a run's checkpoint, its config and its step; `run_dir` may
    also be a generator file written by `focusgan export` (`focusgan.training.export`).

    `bn` is how it will sample (see `sample.bn_mode`): for `running` the EMA generator's
    running statistics are recomputed for its weights (training copies the raw generator's).
    """
    if bn not in BN_MODES:
        raise UserError(f"bn must be one of {', '.join(BN_MODES)}, not {bn!r}")
    if Path(run_dir).is_file():
        if which not in (None, "latest") or not ema:
            raise UserError(
                f"{run_dir} is an exported generator (its EMA weights only): drop --checkpoint "
                "and --raw, or use the run directory"
            )
        G, cfg, step = read_generator(run_dir)
    else:
        path = RunDir(run_dir).checkpoint(which)
        state = checkpoint.load(path, map_location="cpu")
        try:
            cfg = TrainConfig.from_dict(state["config"])
        except (UserError, TypeError, AttributeError) as e:
            raise UserError(f"{path} holds a damaged config ({e})") from None
        G = generator_with(cfg, state["G_ema" if ema else "G"], path)
        step = int(state["step"])
    G = to_device(G, device).eval()
    if ema and bn == "running":
        recompute_bn_statistics(G)
    return G, cfg, step


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The records of a JSON-lines log; a line cut short (a process killed while appending it)
    is left out."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in records if isinstance(r, dict)]


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The records of `metrics.jsonl` (losses and in-training evaluations), in order."""
    return read_jsonl(RunDir(run_dir).metrics)


def _model_lines(G: torch.nn.Module, cfg: TrainConfig) -> list[str]:
    """The data and model lines `inspect` shows for a run or an exported generator."""
    shape = (
        f"width {cfg.width}, critic norm {cfg.critic_norm}, "
        if cfg.arch == "wgan-gp"
        else f"widths {cfg.widths}, "
    )
    return [
        f"data         {cfg.data} ({cfg.channels} channels, {cfg.resolution}x{cfg.resolution})",
        f"model        {cfg.arch}, preset {cfg.preset}, {shape}"
        f"generator {count_parameters(G)} parameters",
    ]


def describe_generator(path: str | Path) -> str:
    """A few lines about a generator file `focusgan export` wrote (read without running code)."""
    G, cfg, step = read_generator(path)
    lines = [f"generator    {path} (EMA weights, exported at step {step} of {cfg.iters})"]
    lines += _model_lines(G, cfg)
    if cfg.num_classes:
        lines.append(f"classes      {cfg.num_classes} (conditional)")
    return "\n".join(lines)


def describe_run(run_dir: str | Path) -> str:
    """A few lines about a run: config, progress, latest losses, checkpoints and samples."""
    run = RunDir(run_dir)
    if not run.config.exists():
        raise UserError(f"{run_dir} is not a focusgan run directory (no config.yaml)")
    ckpts = sorted(run.checkpoints.glob("*.pt"))
    lines = [f"run          {run_dir}"]
    if ckpts:
        G, cfg, step = load_generator(run_dir)
        lines += [
            *_model_lines(G, cfg),
            f"progress     step {step} of {cfg.iters}",
            f"checkpoints  {', '.join(p.name for p in ckpts)}",
        ]
    else:
        lines.append("progress     no checkpoint yet")
    metrics = [m for m in read_metrics(run_dir) if "loss_d" in m]
    if metrics:
        m = metrics[-1]
        shown = {"wasserstein": "W", "gp": "gp", "r1": "r1", "r2": "r2"}  # what each arch logs
        extra = "".join(f", {label} {m[k]:.4f}" for k, label in shown.items() if k in m)
        lines.append(
            f"last log     step {m['step']}: loss_d {m['loss_d']:.4f}, loss_g "
            f"{m['loss_g']:.4f}{extra}, {m['images_per_s']:.0f} images/s"
        )
    grids = sorted(run.samples.glob("*.png"))
    if grids:
        lines.append(f"samples      {grids[-1]} (latest of {len(grids)})")
    return "\n".join(lines)
