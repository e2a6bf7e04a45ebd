"""Fast, careful reading of source photos for `prepare`: decode JPEGs at a reduced size.

Decoding a 640-px JPEG is most of the cost of making a 64-px sample. libjpeg can decode
straight to 1/2, 1/4 or 1/8 size by scaling in the DCT domain (OpenCV's
`IMREAD_REDUCED_COLOR_2/4/8`), which is both faster and, measured on COCO photos, equal to an
area-average of the full decode within half a grey level with no shift. So:
- `reduction_factor` picks the largest factor that still leaves at least `QUALITY_MARGIN` (2)
  times `size` pixels across the region that becomes the sample (see the note at the constant);
- `decode_rgb` decodes at that factor (size ceil(H/f) x ceil(W/f), as libjpeg does);
- `sample_from_region` resizes a square region of the reduced image to the sample, and the
  same region of a full-size mask, taken at full size (edge-padded like libjpeg pads partial
  blocks), so the mask covers exactly the source pixels the image does, in one area step.

Bad files raise `BadImage` with a short reason that sources count in the filter summary.
EXIF orientation is ignored: annotations (COCO, masks) refer to the stored pixel grid.
"""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
from PIL import Image

from focusgan.prepare.transform import square_box

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


def sample_from_region(
    array: np.ndarray, box: tuple[int, int, int, int], size: int, factor: int = 1
) -> np.ndarray:
    """INTER_AREA resize of the region `box` = (x0, y0, x1, y1) of a reduced grid to size x size.

    `array` is either on that grid (`factor` 1) or at full size (`factor` f): then the region is
    the full-size pixels under the reduced one, [f*x0, f*x1) x [f*y0, f*y1), edge-padded where
    the last reduced pixel is a partial block. A full-size mask resized this way covers the same
    source pixels as the reduced image's region, in one area step (no two-stage softening).
    """
    x0, y0, x1, y1 = (v * factor for v in box)
    h, w = array.shape[:2]
    if y1 > h or x1 > w:
        array = cv2.copyMakeBorder(array, 0, max(0, y1 - h), 0, max(0, x1 - w),
                                   cv2.BORDER_REPLICATE)  # fmt: skip
    region = np.ascontiguousarray(array[y0:y1, x0:x1])
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)


def square_sample(
    image: np.ndarray,
    mask: np.ndarray,
    factor: int,
    size: int,
    fit: str = "squash",
    box: tuple[float, float, float, float] | None = None,
    channels: int = 4,
    cache: dict | None = None,
) -> tuple[np.ndarray, float]:
    """One sample from an image decoded at 1/`factor` and its full-size uint8 mask.

    The square region (`focusgan.prepare.transform.square_box` with `fit` and the object's full-size
    `box`) is chosen on the reduced grid; returns the (size, size, channels) sample and the
    fraction of its mask above 0.5. `cache` (a dict per image) reuses the resized RGB when
    several objects share a region (squash, center-crop).
    """
    hr, wr = image.shape[:2]
    small_box = None if box is None else tuple(v / factor for v in box)
    region = square_box(hr, wr, fit, small_box)
    rgb = None if cache is None else cache.get(region)
    if rgb is None:
        rgb = sample_from_region(image, region, size)
        if cache is not None:
            cache[region] = rgb
    m = sample_from_region(mask, region, size, factor)
    sample = np.dstack([rgb, m]) if channels == 4 else rgb
    return sample, float((m > 127).mean())
