"""How scores are computed: the evaluation's options and defaults, defined once and importable
without torch (the command line builds its parsers from them before any model is loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from focusgan.errors import UserError
from focusgan.models import BACKBONES
from focusgan.training.config import BN_MODES
from focusgan.utils.options import option, parse_names

PUBLISHED_N, PUBLISHED_SPLITS = 50000, 10  # how published Inception Scores are computed
METRICS = ("is", "fid", "kid", "pr", "focus", "consistency", "pairs")
# "pairs": the generated-pairs measure (`metrics.generated_pairs`) of a 4-channel generator, with
# segmenters trained on at most this many pairs each (generated, real, step-0 generator's)
GENERATED_PAIRS_N = 2000
# which real pairs are held out (`consistency.split_pairs`) does not depend on the evaluation seed
SPLIT_SEED = 0


@dataclass
class SegmenterConfig:
    """Training settings (all part of the cache key)."""

    steps: int = 500
    batch_size: int = 32
    lr: float = 2e-3
    width: int = 16
    max_pairs: int = 20000  # real pairs used, train + held out
    heldout: int = 1000  # held-out real pairs for the ceiling (at most 10% of those used)
    seed: int = 0

    def key(self) -> str:
        return (
            f"w{self.width}-s{self.steps}-b{self.batch_size}-lr{self.lr:g}-n{self.max_pairs}"
            f"-h{self.heldout}-seed{self.seed}-groups{SPLIT_SEED}"
        )


def parse_metrics(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`is,fid` (or a list) -> ("is", "fid"), each a known metric; else a one-line error."""
    return parse_names(value, METRICS, "metrics")


@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    """How scores are computed (`focusgan evaluate`, an experiment's `evaluate:`)."""

    backbone: str = option(
        "inception",
        "inception (published numbers; needs its weights file) or "
        "efficientnet-lite0 (offline; its own scale)",
        choices=BACKBONES,
    )
    inception_weights: Path | None = option(
        None,
        "weights-inception-2015-12-05-6726825d.pth (else "
        "$FOCUSGAN_INCEPTION_WEIGHTS or the torch hub cache)",
    )
    n: int = option(
        PUBLISHED_N, "samples to score (default 50000, as published; lower it for a quick look)"
    )
    ref_n: int | None = option(
        None,
        "dataset samples in the reference statistics "
        "(default: same as --n, at most the dataset size)",
    )
    splits: int = option(PUBLISHED_SPLITS, "Inception Score splits")
    seed: int = option(0, "seed of the latents and subsets")
    metrics: tuple[str, ...] = option(
        METRICS,
        "comma-separated subset of is,fid,kid,pr,focus,consistency,pairs",
        convert=parse_metrics,
        show=",".join,
    )
    ema: bool = option(True, "use the raw generator, not the EMA", flag="--raw")
    bn: str = option(
        "batch",
        "generator batch-norm statistics when sampling (default batch)",
        choices=BN_MODES,
    )
    segmenter_steps: int = option(
        SegmenterConfig.steps, "training steps of the consistency segmenter (cached per dataset)"
    )
    batch_size: int | None = option(None, "backbone batch size (default 8 on CPU, 200 on GPU)")
    device: str = option("auto", "auto (default), cpu, cuda, cuda:1 ...")

    def validate(self) -> None:
        parse_metrics(self.metrics)
        if self.n < 1 or self.splits < 1:
            raise UserError("--n and --splits must be positive")

    def segmenter(self) -> SegmenterConfig:
        """The consistency segmenter's settings (its seed is the evaluation's)."""
        return SegmenterConfig(steps=self.segmenter_steps, seed=self.seed)
