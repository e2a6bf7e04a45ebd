"""Readers for the foreground-mask files that come with image+mask datasets.

Every reader returns one uint8 (H, W) array, 0..255 = foreground probability 0..1, the focus
channel's convention. The formats (`MASK_FORMATS`):
- `binary`: 0/255 or 0/1 PNGs; a mask whose maximum is 1 is 0/1, otherwise pixels >= 128 are
  foreground (tolerates anti-aliased edges). Palette PNGs are read by index, not by colour.
- `davis`: DAVIS annotations (2016: grey 0/255; 2017: palette PNG with one index per object):
  any non-zero value is foreground, or only `object_id` when given.
- `unlc`: uNLC soft masks with values 0..100, scaled to 0..255 (`round(v * 2.55)`).
- `grabcut`: 0 background, 255 foreground, 128 unknown; `unknown="background"` makes 128 a 0,
  `unknown="ignore"` makes it 127 (probability just under 0.5: visibly uncertain in the focus
  channel, and not foreground for the filters and `fg_fraction`, which count mask > 0.5).

Colour (RGB) mask files are read as their grey level. Palette PNGs must be read with PIL: OpenCV
converts palette indices to colours.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

MASK_FORMATS = ("binary", "davis", "unlc", "grabcut")
GRABCUT_UNKNOWN = ("background", "ignore")

# Which formats give masks that are 0/255 only ("binary") and which carry soft values.
MASK_SEMANTICS = {"binary": "binary", "davis": "binary", "unlc": "probability", "grabcut": "binary"}


def mask_semantics(fmt: str, unknown: str = "background") -> str:
    """The dataset's `mask_semantics` attribute for masks read in format `fmt`."""
    if fmt == "grabcut" and unknown == "ignore":
        return "probability"
    return MASK_SEMANTICS[fmt]


def read_mask_values(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """The raw values of a mask file as a 2-D array, and whether they are palette indices.

    Palette PNGs give their indices, grey files their levels, colour files their grey level.
    """
    with Image.open(path) as im:
        im.load()
        palette = im.mode in ("P", "PA")
        if im.mode in ("P", "L", "1", "I", "I;16", "I;16B", "I;16L"):
            values = np.asarray(im)
        elif im.mode in ("PA", "LA"):
            values = np.asarray(im.getchannel(0))
        else:
            values = np.asarray(im.convert("L"))
    if values.dtype == bool:
        values = values.astype(np.uint8)
    return values, palette


def to_focus(
    values: np.ndarray,
    fmt: str = "binary",
    object_id: int | None = None,
    unknown: str = "background",
) -> np.ndarray:
    """Map raw mask values (see `read_mask_values`) to a uint8 0..255 focus mask."""
    if fmt == "binary":
        fg = values > 0 if values.max(initial=0) <= 1 else values >= 128
        return fg.astype(np.uint8) * 255
    if fmt == "davis":
        fg = values != 0 if object_id is None else values == object_id
        return fg.astype(np.uint8) * 255
    if fmt == "unlc":
        scaled = np.rint(values.astype(np.float32) * 2.55)
        return np.clip(scaled, 0, 255).astype(np.uint8)
    if fmt == "grabcut":
        if unknown not in GRABCUT_UNKNOWN:
            raise ValueError(
                f"unknown grabcut value handling {unknown!r}; one of {GRABCUT_UNKNOWN}"
            )
        out = np.where(values >= 192, 255, 0).astype(np.uint8)
        if unknown == "ignore":
            out[(values >= 64) & (values < 192)] = 127
        return out
    raise ValueError(f"unknown mask format {fmt!r}; choose one of {MASK_FORMATS}")


def read_mask(
    path: str | os.PathLike,
    fmt: str = "binary",
    object_id: int | None = None,
    unknown: str = "background",
) -> np.ndarray:
    """Read a mask file in format `fmt` as a uint8 (H, W) focus mask, 0..255.

    A palette PNG read as `binary` is read as `davis` (non-zero index = foreground).
    """
    values, palette = read_mask_values(path)
    if palette and fmt == "binary":
        fmt = "davis"
    return to_focus(values, fmt, object_id=object_id, unknown=unknown)
