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

from focusgan.data.dataset import DatasetInfo, check_channels
from focusgan.data.labels import Labels
from focusgan.errors import UserError
from focusgan.utils.options import check_positive, fields_with, option

# How a generator's batch norm runs when it draws samples (`focusgan.training.sample.bn_mode`).
BN_MODES = ("batch", "running")


@dataclass
class TrainConfig:
    """Every training setting; each field is also a `focusgan train` option (`--name`) and a
    key of an experiment's `train:`. `resume` says what `--resume` does with it: "identity"
    settings define what a run is and must match, "new" ones are taken from the resuming
    command, the others keep the run's saved values."""

    # data and model
    data: str = option("", "dataset file made by `focusgan prepare`", resume="new")
    channels: int | None = option(  # None = all of the file's (resolved by `for_data`)
        None,
        "3 = RGB, 4 = RGB + focus mask (default: all channels of the file)",
        choices=(3, 4),
        resume="identity",
    )
    resolution: int = option(  # taken from the dataset file
        64,
        "only for --dry-run without --data (otherwise the file's resolution)",
        choices=(32, 64, 128),
        resume="identity",
    )
    width: int = option(
        128, "feature maps per layer (thesis: 128)", resume="identity", positive=True
    )
    z_dim: int = option(128, cli=False, resume="identity")
    critic_norm: str = option(  # "none" (as the WGAN-GP paper advises) or "layer"
        "none", "critic normalization", choices=("none", "layer"), resume="identity"
    )
    # class-conditional training (the thesis's future work 1; off = the unconditional GAN)
    conditional: bool = option(
        False,
        "class-conditional: labels from the file (COCO category, classifier's top-1 class)",
        resume="identity",
    )
    labels: str = option(  # a file of one label per line, one line per sample, in file order
        "",
        "labels file for --conditional instead of the dataset's own",
        metavar="FILE",
        resume="new",  # where the file is now: the labels' identity below must still match
    )
    label_source: str = option("", cli=False, resume="identity")  # Labels.kind (with_labels)
    label_sha256: str = option("", cli=False, resume="identity")  # of every sample's label
    critic_head: str = option(
        "ac",
        "conditional critic: ac (auxiliary classifier, the reference) or projection",
        choices=("ac", "projection"),
        resume="identity",
    )
    num_classes: int = option(0, cli=False, resume="identity")  # from the labels (for_data)
    classes: list[str] = option(default_factory=list, cli=False)  # label of each class index
    class_names: list[str] = option(default_factory=list, cli=False)  # readable names
    class_counts: list[int] = option(default_factory=list, cli=False)  # samples of each class
    # optimisation (WGAN-GP)
    iters: int = option(100_000, "generator steps (thesis: 100000)", resume="new", positive=True)
    lr_decay_iters: int = option(  # lr goes linearly to 0 over these generator steps; 0 = iters
        0, "steps over which lr reaches 0 (--iters)", resume="new"
    )
    n_critic: int = option(
        5, "critic steps per generator step (5)", resume="identity", positive=True
    )
    batch_critic: int = option(64, "critic batch (64)", resume="identity", positive=True)
    batch_gen: int = option(128, "generator batch (128)", resume="identity", positive=True)
    lr: float = option(2e-4, "Adam learning rate (2e-4), decayed linearly to 0", resume="identity")
    betas: tuple[float, float] = option((0.0, 0.9), cli=False, resume="identity")
    gp_weight: float = option(10.0, "gradient penalty weight (10)", resume="identity")
    dequantize: bool = option(True, cli=False, resume="identity")  # x/128 - 1 + U(0, 1/128)
    ema_decay: float = option(  # generator EMA; warmed up as min(decay, (1 + t) / (10 + t))
        0.999, "generator EMA decay (0.999)", resume="identity"
    )
    seed: int = option(0, "seed for weights, noise and data order (0)", resume="identity")
    # bookkeeping (in generator steps)
    log_every: int = option(50, "metrics.jsonl / TensorBoard interval", resume="new", positive=True)
    sample_every: int = option(
        1000, "fixed-noise sample grid interval", resume="new", positive=True
    )
    checkpoint_every: int = option(  # checkpoints/latest.pt
        1000, "checkpoints/latest.pt interval", resume="new", positive=True
    )
    snapshot_every: int = option(  # checkpoints/step-NNNNNNNN.pt, kept
        10_000, "kept checkpoints/step-N.pt interval", resume="new", positive=True
    )
    n_samples_grid: int = option(64, cli=False)
    # in-training evaluation (off by default; see `focusgan evaluate`)
    eval_every: int = option(0, "in-training evaluation interval (0 = off)", resume="new")
    eval_n: int = option(2048, "samples per in-training evaluation", resume="new")
    eval_backbone: str = option(
        "efficientnet-lite0", "backbone for in-training evaluation", resume="new"
    )
    # where it runs
    device: str = option(  # auto = cuda when available, else cpu
        "auto", "auto (default), cpu, cuda or cuda:N", resume="new"
    )
    preset: str = option(
        "thesis", "thesis (DESIGN section 4), thesis-wide (256 maps) or tiny (CPU tests)"
    )

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

# Settings that define what a run *is* (a resumed run must agree on them), and those a resume
# may change: the run's length, bookkeeping, the device, and where the data file is now (it may
# have moved; its channels and resolution must still match).
IDENTITY_FIELDS = fields_with(TrainConfig, "resume", "identity")
RESUMABLE_FIELDS = fields_with(TrainConfig, "resume", "new")


def make_config(preset: str, **overrides: Any) -> TrainConfig:
    """A preset with the given settings replaced (None values are ignored)."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = {"preset": preset, **PRESETS[preset]}
    values.update({k: v for k, v in overrides.items() if v is not None})
    cfg = TrainConfig.from_dict(values)
    check_positive(cfg)
    return cfg


def for_data(cfg: TrainConfig, info: DatasetInfo) -> TrainConfig:
    """`cfg` with the settings the dataset decides (its resolution), its channels checked
    against the file's: a new config, `cfg` itself is left as it is."""
    channels = check_channels(info, cfg.channels)
    return dataclasses.replace(cfg, channels=channels, resolution=info.resolution)


def with_labels(cfg: TrainConfig, labels: Labels) -> TrainConfig:
    """`cfg` with the classes of a class-conditional run's labels (a new config)."""
    return dataclasses.replace(
        cfg,
        num_classes=labels.num_classes,
        classes=labels.classes,
        class_names=labels.names,
        class_counts=[int(c) for c in labels.counts()],
        label_source=labels.kind,
        label_sha256=labels.sha256(),
    )
