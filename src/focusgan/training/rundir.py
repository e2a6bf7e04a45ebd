"""Reading a run directory: its generator for sampling/evaluation, and a summary for `inspect`.

A run directory holds `config.yaml`, `checkpoints/` (latest.pt + step-NNNNNNNN.pt),
`metrics.jsonl`, `tensorboard/` and `samples/`. Loading a generator needs only the checkpoint
(it carries the resolved config), never the training data.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from focusgan.errors import UserError
from focusgan.models.resnet import Generator, count_parameters
from focusgan.training import checkpoint
from focusgan.training.config import TrainConfig
from focusgan.training.sample import BN_MODES, recompute_bn_statistics
from focusgan.utils.device import to_device


def load_generator(
    run_dir: str | Path,
    which: str | None = None,
    ema: bool = True,
    device: str | torch.device = "cpu",
    bn: str = "batch",
) -> tuple[Generator, TrainConfig, int]:
    """The (EMA or raw) generator of a run's checkpoint, its config and its step.

    `bn` is how it will sample (see `sample.bn_mode`): for `running` the EMA generator's
    running statistics are recomputed for its weights (training copies the raw generator's).
    """
    if bn not in BN_MODES:
        raise UserError(f"bn must be one of {', '.join(BN_MODES)}, not {bn!r}")
    state = checkpoint.load(checkpoint.find(Path(run_dir), which), map_location="cpu")
    cfg = TrainConfig.from_dict(state["config"])
    classes = cfg.num_classes if cfg.conditional else 0
    G = Generator(cfg.channels, cfg.width, cfg.resolution, cfg.z_dim, classes)
    G.load_state_dict(state["G_ema" if ema else "G"])
    G = to_device(G, device).eval()
    if ema and bn == "running":
        recompute_bn_statistics(G)
    return G, cfg, int(state["step"])


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def describe_run(run_dir: str | Path) -> str:
    """A few lines about a run: config, progress, latest losses, checkpoints and samples."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise UserError(f"{run_dir} is not a focusgan run directory (no config.yaml)")
    ckpts = sorted((run_dir / "checkpoints").glob("*.pt"))
    lines = [f"run          {run_dir}"]
    if ckpts:
        G, cfg, step = load_generator(run_dir)
        lines += [
            f"data         {cfg.data} ({cfg.channels} channels, {cfg.resolution}x{cfg.resolution})",
            f"model        preset {cfg.preset}, width {cfg.width}, critic norm {cfg.critic_norm}, "
            f"generator {count_parameters(G)} parameters",
            f"progress     step {step} of {cfg.iters}",
            f"checkpoints  {', '.join(p.name for p in ckpts)}",
        ]
    else:
        lines.append("progress     no checkpoint yet")
    metrics = [m for m in read_metrics(run_dir) if "loss_d" in m]
    if metrics:
        m = metrics[-1]
        lines.append(
            f"last log     step {m['step']}: loss_d {m['loss_d']:.4f}, loss_g "
            f"{m['loss_g']:.4f}, W {m['wasserstein']:.4f}, gp {m['gp']:.4f}, "
            f"{m['images_per_s']:.0f} images/s"
        )
    grids = sorted((run_dir / "samples").glob("*.png"))
    if grids:
        lines.append(f"samples      {grids[-1]} (latest of {len(grids)})")
    return "\n".join(lines)
