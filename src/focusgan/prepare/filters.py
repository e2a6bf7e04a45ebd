"""Sample filters shared by every source, and the summary of what they did.

The thesis keeps a frame only if its foreground (mask > 0.5) covers 10%..80% of the pixels and at
most 10% of the pixels in the outer 5% border are foreground; COCO instances are kept when the
mask covers at least 15% of the image. `MaskFilter` holds those rules as options, and
`focusgan.data.summary.FilterSummary` counts what they kept and rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from focusgan.errors import UserError
from focusgan.utils.options import option


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


@dataclass(frozen=True, kw_only=True)
class MaskFilter:
    """Mask rules as options; `None` turns a rule off. `check` returns why a mask fails, or None."""

    min_fg: float | None = option(None, "drop masks with less foreground")
    max_fg: float | None = option(None, "drop masks with more foreground")
    border: float = option(0.05, "width of the border band, as a fraction of each side")
    max_border_fg: float | None = option(
        None, "drop masks with more foreground than this in the border band"
    )

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
