"""Training configuration: one dataclass of plain values, and the presets.

`thesis` is DESIGN section 4 (Gulrajani et al.'s CIFAR ResNet widened to 64x64, as in the thesis);
`tiny` is a CPU-sized version for tests and the demo. `arch` names the networks and loss
(`focusgan.training.algorithms`): `wgan-gp` (the thesis's) or `r3gan` (Huang et al. 2024), whose
presets are `r3gan-thesis` (the thesis's parameter budget), `r3gan-ffhq64` (the official FFHQ-64
networks) and `r3gan-tiny`. A setting of one architecture given to the other is a one-line error.
A run's resolved config is written to `RUN/config.yaml` and stored in every checkpoint, so a run
can always be reproduced and resumed.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from focusgan.data.dataset import DatasetInfo, check_channels
from focusgan.data.labels import Labels
from focusgan.errors import UserError
from focusgan.utils.options import check_positive, fields_with, option

ARCHS = ("wgan-gp", "r3gan")
# How a generator's batch norm runs when it draws samples (`focusgan.training.sample.bn_mode`).
BN_MODES = ("batch", "running")


@dataclass
class TrainConfig:
    """Every training setting; each field is also a `focusgan train` option (`--name`) and a
    key of an experiment's `train:`. `resume` says what `--resume` does with it: "identity"
    settings define what a run is and must match, "new" ones are taken from the resuming
    command, the others keep the run's saved values."""

    # data and model
    arch: str = option(
        "wgan-gp",
        "networks and loss: wgan-gp (the thesis's) or r3gan (default: the preset's)",
        choices=ARCHS,
        resume="identity",
    )
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
        128,
        "feature maps per layer (thesis: 128)",
        resume="identity",
        positive=True,
        arch="wgan-gp",
    )
    z_dim: int = option(128, cli=False, resume="identity")
    critic_norm: str = option(  # "none" (as the WGAN-GP paper advises) or "layer"
        "none",
        "critic normalization",
        choices=("none", "layer"),
        resume="identity",
        arch="wgan-gp",
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
        arch="wgan-gp",
    )
    num_classes: int = option(0, cli=False, resume="identity")  # from the labels (for_data)
    classes: list[str] = option(default_factory=list, cli=False)  # label of each class index
    class_names: list[str] = option(default_factory=list, cli=False)  # readable names
    class_counts: list[int] = option(default_factory=list, cli=False)  # samples of each class
    # optimisation (WGAN-GP)
    iters: int = option(100_000, "generator steps (thesis: 100000)", resume="new", positive=True)
    lr_decay_iters: int = option(  # lr goes linearly to 0 over these generator steps; 0 = iters
        0, "steps over which lr reaches 0 (--iters)", resume="new", arch="wgan-gp"
    )
    n_critic: int = option(
        5,
        "critic steps per generator step (5)",
        resume="identity",
        positive=True,
        arch="wgan-gp",
    )
    batch_critic: int = option(64, "critic batch (64)", resume="identity", positive=True)
    batch_gen: int = option(128, "generator batch (128)", resume="identity", positive=True)
    lr: float = option(2e-4, "Adam learning rate (2e-4), decayed linearly to 0", resume="identity")
    betas: tuple[float, float] = option((0.0, 0.9), cli=False, resume="identity")
    gp_weight: float = option(
        10.0, "gradient penalty weight (10)", resume="identity", arch="wgan-gp"
    )
    dequantize: bool = option(True, cli=False, resume="identity")  # x/128 - 1 + U(0, 1/128)
    ema_decay: float = option(  # generator EMA; warmed up as min(decay, (1 + t) / (10 + t))
        0.999, "generator EMA decay (0.999)", resume="identity", arch="wgan-gp"
    )
    # R3GAN (--arch r3gan): networks per stage, 4x4 first (models/r3gan.py), and the official
    # schedules: lr, Adam's beta2, R1/R2 gamma and the EMA half-life move from their start to their
    # final value along a half cosine over `decay_nimg` real images, then stay (brownvc/R3GAN
    # train.py, FFHQ-64 preset). Defaults: `r3gan-thesis`, the thesis's parameter budget.
    widths: list[int] = option(
        help="r3gan generator feature maps per stage, 4x4 first",
        default_factory=lambda: [176, 176, 176, 176, 88],
        resume="identity",
        arch="r3gan",
    )
    cardinalities: list[int] = option(
        help="r3gan groups of each stage's 3x3 convolutions",
        default_factory=lambda: [22, 22, 22, 22, 11],
        resume="identity",
        arch="r3gan",
    )
    blocks: list[int] = option(
        help="r3gan residual blocks per stage",
        default_factory=lambda: [2, 2, 2, 2, 2],
        resume="identity",
        arch="r3gan",
    )
    d_widths: list[int] = option(  # [] = the generator's
        help="r3gan discriminator feature maps per stage, 4x4 first",
        default_factory=lambda: [144, 144, 144, 144, 72],
        resume="identity",
        arch="r3gan",
    )
    d_cardinalities: list[int] = option(  # [] = the generator's
        help="r3gan discriminator groups per stage",
        default_factory=lambda: [18, 18, 18, 18, 9],
        resume="identity",
        arch="r3gan",
    )
    expansion: int = option(
        2, "r3gan inverted-bottleneck expansion (2)", resume="identity", positive=True, arch="r3gan"
    )
    gamma: float = option(
        2.0, "r3gan R1 and R2 weight at the start (2)", resume="identity", arch="r3gan"
    )
    gamma_final: float = option(
        0.2, "r3gan final R1/R2 weight (0.2)", resume="identity", arch="r3gan"
    )
    lr_final: float = option(
        5e-5, "r3gan final learning rate (5e-5)", resume="identity", arch="r3gan"
    )
    beta2_final: float = option(
        0.99, "r3gan final Adam beta2 (0.99)", resume="identity", arch="r3gan"
    )
    decay_nimg: int = option(
        20_000_000,
        "r3gan real images over which the schedules reach their final values (2e7)",
        resume="identity",
        positive=True,
        arch="r3gan",
    )
    ema_nimg: int = option(
        500_000,
        "r3gan final EMA half-life in images, from 0 (500000)",
        resume="identity",
        arch="r3gan",
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
        "thesis",
        "thesis (DESIGN section 4), thesis-wide (256 maps), tiny (CPU tests), r3gan-thesis, "
        "r3gan-ffhq64 or r3gan-tiny (default: thesis, or r3gan-thesis with --arch r3gan)",
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


_TINY_BOOKKEEPING: dict[str, Any] = dict(
    iters=200,
    log_every=5,
    sample_every=50,
    checkpoint_every=50,
    snapshot_every=100,
    n_samples_grid=36,
    eval_n=256,
)
# What R3GAN's presets share: the official FFHQ-64 training settings (brownvc/R3GAN train.py and
# the paper): z 64, batch 256 (its README's command), Adam betas (0, 0.9 -> 0.99), lr 2e-4 -> 5e-5,
# gamma 2 -> 0.2, EMA half-life 0 -> 500k images, all over 20M images (the field defaults).
_R3GAN: dict[str, Any] = dict(arch="r3gan", z_dim=64, batch_critic=256, batch_gen=256)

PRESETS: dict[str, dict[str, Any]] = {
    "thesis": {},
    # the thesis's future work 2: the same networks with 256 feature maps (G 5,526,020 /
    # D 4,207,361 parameters with 4 channels at 64x64; 5,523,715 / 4,204,801 with 3)
    "thesis-wide": dict(width=256),
    "tiny": dict(width=16, batch_critic=16, batch_gen=32, ema_decay=0.99, **_TINY_BOOKKEEPING),
    # R3GAN at the thesis preset's size: G 1,545,632 / D 1,096,560 parameters with 4 channels at
    # 64x64 (thesis: 1,517,828 / 1,055,105), 16 channels per group as in the official networks
    "r3gan-thesis": dict(_R3GAN),
    # the official FFHQ-64 networks (G 22,429,824 / D 22,381,440 with 3 channels), for GPUs
    "r3gan-ffhq64": dict(
        _R3GAN,
        widths=[768, 768, 768, 768, 384],
        cardinalities=[96, 96, 96, 96, 48],
        d_widths=[],
        d_cardinalities=[],
    ),
    "r3gan-tiny": dict(
        _R3GAN,
        widths=[16, 16, 16, 16, 8],
        cardinalities=[2, 2, 2, 2, 1],
        blocks=[1, 1, 1, 1, 1],
        d_widths=[],
        d_cardinalities=[],
        batch_critic=16,
        batch_gen=16,
        decay_nimg=3200,  # the schedules over the 200 steps
        ema_nimg=1000,
        **_TINY_BOOKKEEPING,
    ),
}
DEFAULT_PRESETS = {"wgan-gp": "thesis", "r3gan": "r3gan-thesis"}


def preset_arch(preset: str) -> str:
    """The architecture a preset trains."""
    return PRESETS[preset].get("arch", "wgan-gp")


def settings_arch(settings: dict[str, Any]) -> str:
    """The architecture some settings ask for: their `arch`, else their preset's (an unknown
    preset is reported where the settings are used)."""
    if settings.get("arch"):
        return settings["arch"]
    return PRESETS.get(settings.get("preset") or "thesis", {}).get("arch", "wgan-gp")


def foreign_settings(names: Any, arch: str) -> list[str]:
    """The settings among `names` that belong to another architecture than `arch`."""
    return [n for n in names if _ARCH_OF.get(n, arch) != arch]


# Settings that define what a run *is* (a resumed run must agree on them), and those a resume
# may change: the run's length, bookkeeping, the device, and where the data file is now (it may
# have moved; its channels and resolution must still match).
IDENTITY_FIELDS = fields_with(TrainConfig, "resume", "identity")
RESUMABLE_FIELDS = fields_with(TrainConfig, "resume", "new")


_ARCH_OF = {
    f.name: f.metadata["arch"] for f in dataclasses.fields(TrainConfig) if "arch" in f.metadata
}


def make_config(preset: str | None, **overrides: Any) -> TrainConfig:
    """A preset with the given settings replaced (None values are ignored). Without a preset,
    the default one of the `arch` asked for (`thesis`, or `r3gan-thesis` for r3gan)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    arch = given.get("arch")
    if arch is not None and arch not in ARCHS:
        raise UserError(f"--arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    if preset is None:
        preset = DEFAULT_PRESETS[arch or "wgan-gp"]
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    arch = arch or preset_arch(preset)
    if arch != preset_arch(preset):
        fitting = sorted(p for p in PRESETS if preset_arch(p) == arch)
        raise UserError(
            f"--preset {preset} is a {preset_arch(preset)} preset; with --arch {arch} choose one "
            f"of {', '.join(fitting)}"
        )
    foreign = foreign_settings(given, arch)
    if foreign:
        flag = "--" + foreign[0].replace("_", "-")
        raise UserError(
            f"{flag} is a setting of --arch {_ARCH_OF[foreign[0]]}; --arch {arch} has no use for it"
        )
    values = {"preset": preset, **copy.deepcopy(PRESETS[preset])}
    values.update(given)
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
