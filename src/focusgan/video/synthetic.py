"""Seeded synthetic videos with true foreground masks, for tests, `bench-motion --synthetic`
and the demo.

Each video is one or more shots separated by hard cuts. A shot has a textured background (smooth
colour noise plus stripes) seen through a window that is fixed (static camera) or pans, and one
or two textured objects of varied shapes (ellipse, polygon, star, rounded box) moving across it.
`make_video` returns the frames, the true masks (255 = object) and the cut positions (index of
the first frame of every shot after the first). `write_videos` writes a set as video files or
folders of frames, with the masks beside them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from focusgan.video.io import write_video

SHAPES = ("ellipse", "polygon", "star", "box")


@dataclass
class SyntheticVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    masks: np.ndarray  # (T, H, W) uint8, 255 = object, 0 = background
    cuts: list[int]  # first frame of each shot after the first
    shots: list[dict] = field(default_factory=list)  # how each shot was made


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random colour texture with stripes, (h, w, 3) uint8."""
    out = np.zeros((h, w, 3), np.float32)
    for scale in (4, 16, 48):
        small = rng.random((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
        out += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * (scale / 68)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    out += 0.25 * stripes[..., None] * rng.uniform(-1, 1, 3).astype(np.float32)
    base = rng.uniform(0.1, 0.9, 3).astype(np.float32)
    out = base + (out - out.mean(axis=(0, 1))) * rng.uniform(0.6, 1.2)
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def shape_mask(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A filled shape of the given kind inside a size x size square, uint8 0/255."""
    m = np.zeros((size, size), np.uint8)
    c, r = size / 2, size / 2 * 0.95
    if kind == "ellipse":
        axes = (int(r), int(r * rng.uniform(0.5, 1.0)))
        cv2.ellipse(m, (int(c), int(c)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    elif kind == "box":
        w, h = int(r * rng.uniform(1.1, 1.9)), int(r * rng.uniform(1.1, 1.9))
        x0, y0 = int(c - w / 2), int(c - h / 2)
        cv2.rectangle(m, (x0, y0), (x0 + w, y0 + h), 255, -1)
        m = cv2.GaussianBlur(m, (0, 0), size / 12)
        m = np.where(m > 127, 255, 0).astype(np.uint8)
    else:
        n = int(rng.integers(5, 9))
        angles = (
            np.sort(rng.uniform(0, 2 * np.pi, n))
            if kind == "polygon"
            else np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
        )
        radii = rng.uniform(0.6, 1.0, len(angles)) * r
        if kind == "star":
            radii[1::2] *= 0.5
        pts = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], 1)
        cv2.fillPoly(m, [pts.round().astype(np.int32)], 255)
    return m


def _shot(
    rng: np.random.Generator, length: int, h: int, w: int, camera: str, n_objects: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    pan = camera == "pan"
    speed = rng.uniform(0.8, 2.0) * min(h, w) / 64 if pan else 0.0
    direction = rng.uniform(0, 2 * np.pi)
    vx, vy = speed * np.cos(direction), speed * np.sin(direction)
    margin = int(np.ceil(speed * length)) + 2
    bh, bw = h + 2 * margin, w + 2 * margin
    background = texture(rng, bh, bw)
    x0 = margin - vx * length / 2  # centre the pan
    y0 = margin - vy * length / 2
    objects = []
    for _ in range(n_objects):
        size = int(min(h, w) * rng.uniform(0.35, 0.55))
        kind = str(rng.choice(SHAPES))
        obj_speed = rng.uniform(1.5, 3.0) * min(h, w) / 64
        a = rng.uniform(0, 2 * np.pi)
        start = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h])
        velocity = obj_speed * np.array([np.cos(a), np.sin(a)])
        start -= velocity * length / 2  # the path crosses the middle of the frame
        objects.append(
            {
                "kind": kind,
                "size": size,
                "mask": shape_mask(rng, kind, size),
                "texture": texture(rng, size, size),
                "start": start,
                "velocity": velocity,
                "wobble": rng.uniform(0, 2 * np.pi),
            }
        )
    frames = np.empty((length, h, w, 3), np.uint8)
    masks = np.zeros((length, h, w), np.uint8)
    for t in range(length):
        bx, by = x0 + vx * t, y0 + vy * t
        m = np.float32([[1, 0, -bx], [0, 1, -by]])  # sub-pixel pan
        frame = cv2.warpAffine(
            background, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        for o in objects:
            s = o["size"]
            cx, cy = o["start"] + o["velocity"] * t
            cy += 0.06 * s * np.sin(0.4 * t + o["wobble"])
            mm = np.float32([[1, 0, cx - s / 2], [0, 1, cy - s / 2]])
            alpha = cv2.warpAffine(o["mask"], mm, (w, h), flags=cv2.INTER_LINEAR)
            tex = cv2.warpAffine(o["texture"], mm, (w, h), flags=cv2.INTER_LINEAR)
            a = alpha.astype(np.float32)[..., None] / 255
            frame = (tex * a + frame * (1 - a)).round().astype(np.uint8)
            masks[t] = np.maximum(masks[t], np.where(alpha > 127, 255, 0).astype(np.uint8))
        frames[t] = frame
    info = {
        "length": length,
        "camera": camera,
        "objects": [o["kind"] for o in objects],
        "pan_speed": round(float(speed), 3),
    }
    return frames, masks, info


def make_video(
    seed: int,
    size: tuple[int, int] = (96, 128),
    shot_lengths: tuple[int, ...] = (24,),
    camera: str = "random",
    n_objects: int | None = None,
) -> SyntheticVideo:
    """A seeded synthetic video: one shot per entry of `shot_lengths`, hard cuts between them.

    `size` is (height, width); `camera` is `static`, `pan` or `random` (per shot); `n_objects`
    is 1, 2 or None (random per shot, mostly one).
    """
    if camera not in ("static", "pan", "random"):
        raise ValueError(f"camera must be static, pan or random, not {camera!r}")
    rng = np.random.default_rng(seed)
    h, w = size
    frames, masks, cuts, shots = [], [], [], []
    for i, length in enumerate(shot_lengths):
        cam = camera if camera != "random" else str(rng.choice(["static", "pan"]))
        k = n_objects if n_objects is not None else int(rng.choice([1, 1, 2]))
        f, m, info = _shot(rng, int(length), h, w, cam, k)
        if i:
            cuts.append(sum(len(x) for x in frames))
        frames.append(f)
        masks.append(m)
        shots.append(info)
    return SyntheticVideo(np.concatenate(frames), np.concatenate(masks), cuts, shots)


def write_videos(
    out_dir: str | os.PathLike,
    n: int,
    seed: int = 0,
    as_frames: bool = False,
    fps: float = 12.0,
    **kwargs,
) -> list[Path]:
    """Write `n` synthetic videos (seeds seed..seed+n-1) under `out_dir`.

    Each video is `video_XXX.mp4` (or a folder `video_XXX/` of PNG frames) with its true masks in
    `video_XXX.masks/` (one PNG per frame) and `video_XXX.json` (cuts and shot descriptions).
    Returns the video paths. `kwargs` go to `make_video`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        v = make_video(seed + i, **kwargs)
        stem = out_dir / f"video_{i:03d}"
        if as_frames:
            stem.mkdir(exist_ok=True)
            for t, f in enumerate(v.frames):
                cv2.imwrite(str(stem / f"{t:05d}.png"), f[..., ::-1])
            path = stem
        else:
            path = write_video(stem.with_suffix(".mp4"), v.frames, fps)
        mdir = stem.with_name(stem.name + ".masks")
        mdir.mkdir(exist_ok=True)
        for t, m in enumerate(v.masks):
            cv2.imwrite(str(mdir / f"{t:05d}.png"), m)
        stem.with_suffix(".json").write_text(
            json.dumps({"seed": seed + i, "cuts": v.cuts, "shots": v.shots}, indent=1)
        )
        paths.append(path)
    return paths
