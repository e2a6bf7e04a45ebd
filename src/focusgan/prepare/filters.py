"""Sample filters shared by every source, and the summary of what they did.

The thesis keeps a frame only if its foreground (mask > 0.5) covers 10%..80% of the pixels and at
most 10% of the pixels in the outer 5% border are foreground; COCO instances are kept when the
mask covers at least 15% of the image. `MaskFilter` holds those rules as options, and
`FilterSummary` counts candidates, kept samples, rejections by filter and skips by bad input.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from focusgan.errors import UserError


@dataclass
class FilterSummary:
    """How many candidates a source saw, how many it kept, and why it dropped the rest.

    `rejected` counts samples a filter dropped (e.g. "fg<0.10"); `skipped` counts inputs that
    could not be used at all (e.g. "unreadable image"). Stored as JSON in every dataset file.
    """

    candidates: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    def keep(self, n: int = 1) -> None:
        self.candidates += n
        self.kept += n

    def reject(self, reason: str, n: int = 1) -> None:
        self.candidates += n
        self.rejected[reason] += n

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def update(self, other: FilterSummary) -> None:
        """Add another summary's counts to this one (shards, merged files)."""
        self.candidates += other.candidates
        self.kept += other.kept
        self.rejected.update(other.rejected)
        self.skipped.update(other.skipped)

    def to_dict(self) -> dict:
        return {
            "candidates": self.candidates,
            "kept": self.kept,
            "rejected": dict(sorted(self.rejected.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FilterSummary:
        d = json.loads(text or "{}")
        return cls(
            candidates=int(d.get("candidates", 0)),
            kept=int(d.get("kept", 0)),
            rejected=Counter(d.get("rejected", {})),
            skipped=Counter(d.get("skipped", {})),
        )

    def lines(self) -> list[str]:
        """A human-readable summary, one line per count."""
        out = [f"candidates {self.candidates}, kept {self.kept}"]
        out += [f"  rejected {n:>8}  {reason}" for reason, n in sorted(self.rejected.items())]
        out += [f"  skipped  {n:>8}  {reason}" for reason, n in sorted(self.skipped.items())]
        return out


def foreground_fraction(mask: np.ndarray) -> float:
    """Fraction of pixels whose probability is above 0.5 (mask uint8 0..255, or float 0..1)."""
    return float((_prob(mask) > 0.5).mean())


def border_foreground_fraction(mask: np.ndarray, border: float = 0.05) -> float:
    """Fraction of the pixels in the outer `border` band (of each side's length) that are foreground."""
    fg = _prob(mask) > 0.5
    h, w = fg.shape[:2]
    bh, bw = max(1, round(h * border)), max(1, round(w * border))
    ring = np.ones((h, w), dtype=bool)
    ring[bh : h - bh, bw : w - bw] = False
    return float(fg[ring].mean())


def _prob(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask


@dataclass
class MaskFilter:
    """Mask rules as options; `None` turns a rule off. `check` returns why a mask fails, or None."""

    min_fg: float | None = None
    max_fg: float | None = None
    border: float = 0.05
    max_border_fg: float | None = None

    def validate(self) -> MaskFilter:
        """Raise a one-line `UserError` unless every set rule is a fraction in 0..1."""
        for flag, v in (
            ("--min-fg", self.min_fg),
            ("--max-fg", self.max_fg),
            ("--border", self.border),
            ("--max-border-fg", self.max_border_fg),
        ):
            if v is not None and not 0 <= v <= 1:
                raise UserError(f"{flag} is a fraction, 0..1, not {v}")
        return self

    def check(self, mask: np.ndarray) -> str | None:
        if self.min_fg is not None or self.max_fg is not None:
            fg = foreground_fraction(mask)
            if self.min_fg is not None and fg < self.min_fg:
                return f"foreground < {self.min_fg:g}"
            if self.max_fg is not None and fg > self.max_fg:
                return f"foreground > {self.max_fg:g}"
        if self.max_border_fg is not None:
            if border_foreground_fraction(mask, self.border) > self.max_border_fg:
                return f"border foreground > {self.max_border_fg:g}"
        return None


# The thesis's rules: video frames, and COCO instances.
THESIS_FRAME_FILTER = MaskFilter(min_fg=0.10, max_fg=0.80, border=0.05, max_border_fg=0.10)
THESIS_COCO_FILTER = MaskFilter(min_fg=0.15)


def add_mask_filter_options(
    parser: argparse.ArgumentParser, defaults: MaskFilter, title: str
) -> None:
    """The `--min-fg --max-fg --border --max-border-fg` options, shared by every source."""
    g = parser.add_argument_group(title)

    def default(v: float | None) -> str:
        return "off" if v is None else f"{v:g}"

    g.add_argument(
        "--min-fg",
        type=float,
        default=defaults.min_fg,
        help=f"drop masks with less foreground (default {default(defaults.min_fg)})",
    )
    g.add_argument(
        "--max-fg",
        type=float,
        default=defaults.max_fg,
        help=f"drop masks with more foreground (default {default(defaults.max_fg)})",
    )
    g.add_argument(
        "--border",
        type=float,
        default=defaults.border,
        help=f"width of the border band, as a fraction of each side "
        f"(default {default(defaults.border)})",
    )
    g.add_argument(
        "--max-border-fg",
        type=float,
        default=defaults.max_border_fg,
        help="drop masks with more foreground than this in the border band "
        f"(default {default(defaults.max_border_fg)})",
    )
