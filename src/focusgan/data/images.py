"""Fast, careful reading of source photos for `prepare`: decode JPEGs at a reduced size.

Decoding a 640-px JPEG is most of the cost of making a 64-px sample. libjpeg can decode
straight to 1/2, 1/4 or 1/8 size by scaling in the DCT domain (OpenCV's
`IMREAD_REDUCED_COLOR_2/4/8`), which is both faster and, measured on COCO photos, equal to an
area-average of the full decode within half a grey level with no shift. So:
- `reduction_factor` picks the largest factor that still leaves at least `QUALITY_MARGIN` (2)
  times `size` pixels across the region that becomes the sample (see the note at the constant);
- `decode_rgb` decodes at that factor (size ceil(H/f) x ceil(W/f), as libjpeg does);
- `reduce_mask` brings a full-size mask onto the same grid: edge-padded to a multiple of f
  (libjpeg pads partial blocks by replication) and area-averaged in exact f x f blocks, so
  pixel (i, j) of the mask covers the same source pixels as pixel (i, j) of the image.

Bad files raise `BadImage` with a short reason that sources count in the filter summary.
EXIF orientation is ignored: annotations (COCO, masks) refer to the stored pixel grid.
"""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
from PIL import Image

FACTORS = (1, 2, 4, 8)
_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
JPEG_MAGIC = b"\xff\xd8"
JPEG_END = b"\xff\xd9"
# Decoding at 1/f and then area-resizing to the sample is an area filter of two stages; when the
# reduced image has fewer than ~2x the sample's pixels across, the stages' cell boundaries no
# longer line up and the sample gets visibly softer (tiny COCO at 64 px, squash, vs. decoding at
# full size: mean |difference| 0.8 grey levels with >= 2x, 2.2 with >= 1x; max 3.2 vs 9.2).
QUALITY_MARGIN = 2.0


class BadImage(Exception):
    """A source image that cannot be used; `str(e)` is the reason counted in the summary."""


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of an image file; `BadImage("missing image file")` when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise BadImage("missing image file") from None
    except OSError:
        raise BadImage("unreadable image") from None


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image from its header alone (no decoding)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        raise BadImage("unreadable image") from None


def reduction_factor(
    region_width: float,
    region_height: float,
    size: int,
    enabled: bool = True,
    margin: float = QUALITY_MARGIN,
) -> int:
    """The largest factor in 1, 2, 4, 8 leaving >= `margin * size` pixels across the region."""
    if not enabled:
        return 1
    side = min(region_width, region_height)
    return max(f for f in FACTORS if f == 1 or side // f >= margin * size)


def decode_rgb(data: bytes, factor: int = 1) -> np.ndarray:
    """Decode to RGB uint8 at 1/`factor` size (JPEG: in the DCT domain; others: area resize)."""
    if data[:2] == JPEG_MAGIC and JPEG_END not in data[-4096:]:
        raise BadImage("truncated JPEG (no end marker)")
    flags = _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None:
        raise BadImage("unreadable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def reduced_shape(height: int, width: int, factor: int) -> tuple[int, int]:
    """The (height, width) libjpeg gives when decoding at 1/`factor`."""
    return -(-height // factor), -(-width // factor)


def reduce_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """A full-size uint8 mask on the grid of `decode_rgb(..., factor)` (exact f x f area means)."""
    if factor == 1:
        return mask
    h, w = mask.shape[:2]
    rh, rw = reduced_shape(h, w, factor)
    padded = cv2.copyMakeBorder(mask, 0, rh * factor - h, 0, rw * factor - w, cv2.BORDER_REPLICATE)
    return cv2.resize(padded, (rw, rh), interpolation=cv2.INTER_AREA)
