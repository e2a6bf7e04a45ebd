"""From a source image (and its mask) to one square sample of the dataset's resolution.

Resizing uses area interpolation (`cv2.INTER_AREA`) for image and mask alike, as the thesis did.
How a non-square image becomes square is the `fit` option:
- `squash`: resize the whole image to a square (the thesis), changing the aspect ratio;
- `center-crop`: the largest centred square;
- `object-crop`: a square around the object's bounding box with a margin (needs a box).
"""

from __future__ import annotations

import cv2
import numpy as np

FITS = ("squash", "center-crop", "object-crop")


def square_box(
    height: int,
    width: int,
    fit: str,
    box: tuple[float, float, float, float] | None = None,
    margin: float = 0.1,
) -> tuple[int, int, int, int]:
    """The (x0, y0, x1, y1) region of an image that becomes the sample (half-open, in pixels).

    `box` is the object's (x, y, w, h) box, used by `object-crop`: a square of side
    max(w, h) * (1 + 2 * margin) centred on it, shifted to stay inside the image and
    shrunk to fit when the image is smaller.
    """
    if fit == "squash":
        return 0, 0, width, height
    if fit == "center-crop" or (fit == "object-crop" and box is None):
        side = min(height, width)
        x0, y0 = (width - side) // 2, (height - side) // 2
        return x0, y0, x0 + side, y0 + side
    if fit == "object-crop":
        bx, by, bw, bh = box
        side = int(round(max(bw, bh) * (1 + 2 * margin)))
        side = max(1, min(side, height, width))
        cx, cy = bx + bw / 2, by + bh / 2
        x0 = int(round(min(max(cx - side / 2, 0), width - side)))
        y0 = int(round(min(max(cy - side / 2, 0), height - side)))
        return x0, y0, x0 + side, y0 + side
    raise ValueError(f"unknown fit {fit!r}; choose one of {FITS}")


def to_square(
    image: np.ndarray,
    size: int,
    fit: str = "squash",
    mask: np.ndarray | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Crop (per `fit`) and resize an RGB uint8 image and optional uint8 mask to `size`x`size`.

    Returns (size, size, 3) without a mask, (size, size, 4) with the mask as channel 3.
    """
    h, w = image.shape[:2]
    if mask is not None and mask.shape[:2] != (h, w):
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but image is {w}x{h}")
    x0, y0, x1, y1 = square_box(h, w, fit, box)
    layers = image[y0:y1, x0:x1, :3]
    if mask is not None:
        layers = np.dstack([layers, mask[y0:y1, x0:x1]])
    out = cv2.resize(np.ascontiguousarray(layers), (size, size), interpolation=cv2.INTER_AREA)
    return out
