"""Training configuration: one dataclass of plain values, and the presets.

`thesis` is DESIGN section 4 (Gulrajani et al.'s CIFAR ResNet widened to 64x64, as in the thesis);
`tiny` is a CPU-sized version for tests and the demo. A run's resolved config is written to
`RUN/config.yaml` and stored in every checkpoint, so a run can always be reproduced and resumed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from focusgan.errors import UserError


@dataclass
class TrainConfig:
    # data and model
    data: str = ""
    channels: int | None = None  # 3 = RGB, 4 = RGB + focus; None = all of the file (set by train)
    resolution: int = 64  # taken from the dataset file
    width: int = 128
    z_dim: int = 128
    critic_norm: str = "none"  # "none" (default, as the WGAN-GP paper advises) or "layer"
    # class-conditional training (the thesis's future work 1; off = the thesis's unconditional GAN)
    conditional: bool = False  # labels from the data file (COCO category, classifier class)
    labels: str = ""  # or from this file: one label per line, one line per sample
    critic_head: str = "ac"  # "ac" (auxiliary classifier, the reference) or "projection"
    num_classes: int = 0  # taken from the labels (0 when unconditional)
    classes: list[str] = dataclasses.field(default_factory=list)  # label of each class index
    class_names: list[str] = dataclasses.field(default_factory=list)  # readable class names
    # optimisation (WGAN-GP)
    iters: int = 100_000  # generator steps
    lr_decay_iters: int = 0  # lr goes linearly to 0 over these generator steps; 0 = `iters`
    n_critic: int = 5
    batch_critic: int = 64
    batch_gen: int = 128
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    gp_weight: float = 10.0
    dequantize: bool = True  # x/128 - 1 + U(0, 1/128)
    ema_decay: float = 0.999  # generator EMA; warmed up as min(decay, (1 + t) / (10 + t))
    seed: int = 0
    # bookkeeping (in generator steps)
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 1000  # checkpoints/latest.pt
    snapshot_every: int = 10_000  # checkpoints/step-NNNNNNNN.pt, kept
    n_samples_grid: int = 64
    # in-training evaluation (off by default; see `focusgan evaluate`)
    eval_every: int = 0
    eval_n: int = 2048
    eval_backbone: str = "efficientnet-lite0"
    # where it runs
    device: str = "auto"  # auto = cuda when available, else cpu
    preset: str = "thesis"

    @property
    def decay_iters(self) -> int:
        return self.lr_decay_iters or self.iters

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def save(self, path: Path) -> None:
        from focusgan.utils.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


PRESETS: dict[str, dict[str, Any]] = {
    "thesis": {},
    # the thesis's future work 2: the same networks with 256 feature maps (G 5,526,020 /
    # D 4,207,361 parameters with 4 channels at 64x64; 5,523,715 / 4,204,801 with 3)
    "thesis-wide": dict(width=256),
    "tiny": dict(
        width=16,
        batch_critic=16,
        batch_gen=32,
        iters=200,
        ema_decay=0.99,
        log_every=5,
        sample_every=50,
        checkpoint_every=50,
        snapshot_every=100,
        n_samples_grid=36,
        eval_n=256,
    ),
}

# Settings that define what a run *is*: a resumed run must agree on them.
IDENTITY_FIELDS = (
    "channels",
    "resolution",
    "width",
    "z_dim",
    "critic_norm",
    "conditional",
    "critic_head",
    "num_classes",
    "n_critic",
    "batch_critic",
    "batch_gen",
    "lr",
    "betas",
    "gp_weight",
    "dequantize",
    "ema_decay",
    "seed",
)

# Settings a resume may change: the run's length, bookkeeping, the device, and where the data
# file is now (it may have moved; its channels and resolution must still match).
RESUMABLE_FIELDS = (
    "iters",
    "lr_decay_iters",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "snapshot_every",
    "eval_every",
    "eval_n",
    "eval_backbone",
    "device",
    "data",
)


def make_config(preset: str, **overrides: Any) -> TrainConfig:
    """A preset with the given settings replaced (None values are ignored)."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = {"preset": preset, **PRESETS[preset]}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values)
