"""The four views of a 4-channel sample (DESIGN section 7) and image grids.

- `rgba`: the mask as alpha over a grey checkerboard;
- `rgb`: the colour channels alone;
- `masked`: RGB with the background (mask < 0.5) painted black;
- `mask`: the mask alone, as grey levels.
`all` puts the four grids side by side, each labelled. All functions take uint8 images
(N, H, W, C) and return uint8 RGB arrays ready to save.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from focusgan.utils.atomic import atomic_path

VIEWS = ("rgba", "rgb", "masked", "mask")


# The one definition of the image scale: grey level v in 0..255 is the interval
# [v / SCALE - 1, (v + 1) / SCALE - 1) of the networks' [-1, 1] (training adds U(0, 1) / SCALE
# to dequantize), and a value goes back to the level whose interval holds it.
SCALE = 128.0


def from_uint8(images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images to the networks' [-1, 1] scale; `noise` in [0, 1) dequantizes them."""
    x = images.float() / SCALE - 1.0
    return x if noise is None else x + noise / SCALE


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output in [-1, 1], (N, C, H, W), to uint8 (N, H, W, C): the exact inverse of
    `from_uint8` (with or without its noise) on all 256 grey levels."""
    x = ((images.detach().float().cpu() + 1) * SCALE).floor().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def checkerboard(h: int, w: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    board = ((yy // cell + xx // cell) % 2).astype(np.float32)
    return (152 + 52 * board)[..., None]  # two mid greys


def view(images: np.ndarray, name: str) -> np.ndarray:
    """One view of a batch (N, H, W, C) uint8 -> (N, H, W, 3) uint8."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; choose one of {VIEWS} or 'all'")
    rgb = images[..., :3]
    if images.shape[-1] < 4:
        if name != "rgb":
            raise ValueError(f"view {name!r} needs a 4-channel sample (RGB + focus mask)")
        return rgb
    alpha = images[..., 3:4].astype(np.float32) / 255.0
    if name == "rgb":
        return rgb
    if name == "mask":
        return np.repeat(images[..., 3:4], 3, axis=-1)
    if name == "masked":
        return np.where(alpha >= 0.5, rgb, 0).astype(np.uint8)
    board = checkerboard(*images.shape[1:3], cell=max(2, images.shape[1] // 8))
    out = alpha * rgb.astype(np.float32) + (1 - alpha) * board
    return out.round().astype(np.uint8)


def grid(images: np.ndarray, nrow: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile (N, H, W, 3) images into one (rows*H, nrow*W, 3) image with `pad` pixels between."""
    n, h, w, c = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return out


def _label(image: np.ndarray, text: str) -> np.ndarray:
    strip = np.full((18, image.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(strip, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, image], axis=0)


def render(images: np.ndarray, name: str = "all", nrow: int | None = None) -> np.ndarray:
    """A grid of `images` in one view, or `all` four views side by side (RGB only for 3 channels)."""
    if name != "all":
        return grid(view(images, name), nrow)
    names = VIEWS if images.shape[-1] == 4 else ("rgb",)
    panels = [_label(grid(view(images, v), nrow), v) for v in names]
    gap = np.full((panels[0].shape[0], 8, 3), 255, dtype=np.uint8)
    out = [panels[0]]
    for p in panels[1:]:
        out += [gap, p]
    return np.concatenate(out, axis=1)


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an RGB uint8 image (PNG or JPEG by extension), atomically."""
    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path
