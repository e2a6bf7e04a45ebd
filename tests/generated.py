"""Data the tests make for themselves, so a fresh clone needs nothing beside it.

- `write_coco`: photos (textured backgrounds with textured objects painted where their masks are)
  and a COCO instances json listing them, in the official format: polygons (one or several
  parts), compressed RLE (string counts), uncompressed RLE (list counts), `iscrowd=1` regions,
  tiny objects, category ids with gaps, odd image sizes, non-contiguous ids.
- `write_davis`: the DAVIS layout (`JPEGImages/480p/SEQ/00000.jpg`, `Annotations/480p/SEQ/...png`)
  of a textured object crossing a textured background; one sequence with DAVIS-2016 grey 0/255
  masks, the others with DAVIS-2017 palette masks.
- corrupt files: `truncate`, `garbage`.

The real samples in `../shared/data` (when present) use the same layouts: tests take a source
fixture and run on both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# COCO's own ids and names (with its gaps): selection by name and by id is tested on them
CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 17, "name": "cat", "supercategory": "animal"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 62, "name": "chair", "supercategory": "furniture"},
    {"id": 70, "name": "toaster", "supercategory": "appliance"},
    {"id": 90, "name": "toothbrush", "supercategory": "indoor"},
]
# (height, width): landscape, portrait, odd sizes (libjpeg's partial blocks at reduced decoding)
SIZES = ((427, 640), (480, 361), (333, 500), (240, 320), (375, 500), (501, 333))


@dataclass(frozen=True)
class CocoSource:
    """Where a COCO-format sample lives: `annotations(split)` and `images(split)`."""

    root: Path
    real: bool

    def annotations(self, split: str) -> Path:
        return self.root / "annotations" / f"instances_{split}.json"

    def images(self, split: str) -> Path:
        return self.root / split


@dataclass(frozen=True)
class DavisSource:
    root: Path
    real: bool

    @property
    def images(self) -> Path:
        return self.root / "JPEGImages" / "480p"

    @property
    def masks(self) -> Path:
        return self.root / "Annotations" / "480p"


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour texture (photos have little detail at the scale of a few pixels)."""
    from focusgan.video.synthetic import texture

    return cv2.GaussianBlur(texture(rng, h, w), (0, 0), 2.0)


def _polygon(rng: np.random.Generator, cx: float, cy: float, r: float) -> list[float]:
    n = int(rng.integers(5, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.6, 1.0, n) * r
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    return [round(float(v), 2) for v in pts.ravel()]


def _object(rng: np.random.Generator, h: int, w: int, kind: str, big: bool):
    """(segmentation, mask) of one object of `kind`, with pycocotools' own rasterisation."""
    from pycocotools import mask as mask_utils

    r = min(h, w) * (rng.uniform(0.3, 0.45) if big else rng.uniform(0.02, 0.12))
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    if kind == "polygon":
        seg = [_polygon(rng, cx, cy, r)]
    elif kind == "two-part polygon":  # an object seen in two pieces (occluded)
        seg = [_polygon(rng, cx - r / 2, cy, r / 2), _polygon(rng, cx + r / 2, cy, r / 2)]
    else:
        seg = None
    if seg is not None:
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        with warnings.catch_warnings():  # pycocotools 2.0.x under NumPy 2 warns on each decode
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            return seg, mask_utils.decode(rle).astype(bool)
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (int(cx), int(cy)), (int(r), int(r * rng.uniform(0.5, 1))), 30, 0, 360, 1, -1)
    fortran = np.asfortranarray(m)
    if kind == "compressed RLE":
        rle = mask_utils.encode(fortran)
        return {"size": [h, w], "counts": rle["counts"].decode("ascii")}, m.astype(bool)
    flat = fortran.flatten(order="F")  # uncompressed RLE: run lengths, starting with zeros
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]]))
    counts = ([0] if flat[0] else []) + runs.tolist()
    return {"size": [h, w], "counts": [int(c) for c in counts]}, m.astype(bool)


KINDS = ("polygon", "two-part polygon", "compressed RLE", "uncompressed RLE")


def write_coco(root: Path, splits: dict[str, int], seed: int = 0) -> CocoSource:
    """Photos and instances jsons for `splits` ({split: number of images}) under `root`."""
    import json

    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    next_image, next_ann = 100, 5000
    for split, n in splits.items():
        folder = root / split
        folder.mkdir(exist_ok=True)
        images, anns = [], []
        for i in range(n):
            h, w = SIZES[i % len(SIZES)]
            picture, skin = _texture(rng, h, w), _texture(rng, h, w)
            image_id = next_image
            next_image += int(rng.integers(1, 9))  # ids with gaps, as COCO's
            name = f"{image_id:012d}.jpg"
            for j in range(int(rng.integers(1, 5))):
                kind = KINDS[(i + j) % len(KINDS)]
                seg, mask = _object(rng, h, w, kind, big=rng.random() < 0.7)
                skin = np.roll(skin[..., ::-1], h // 3, axis=0)  # another look for each object
                picture[mask] = skin[mask]  # the object, where its mask is
                cat = CATEGORIES[(i * 3 + j) % len(CATEGORIES)]["id"]
                ys, xs = np.nonzero(mask)
                bbox = [
                    float(xs.min()),
                    float(ys.min()),
                    float(np.ptp(xs) + 1),
                    float(np.ptp(ys) + 1),
                ]
                anns.append({"id": next_ann, "image_id": image_id, "category_id": cat,
                             "segmentation": seg, "area": float(mask.sum()), "bbox": bbox,
                             "iscrowd": 0})  # fmt: skip
                next_ann += 1
            if i % 3 == 0:  # a crowd region: uncompressed RLE, iscrowd=1, as COCO ships them
                seg, mask = _object(rng, h, w, "uncompressed RLE", big=True)
                anns.append({"id": next_ann, "image_id": image_id, "category_id": 1,
                             "segmentation": seg, "area": float(mask.sum()),
                             "bbox": [0.0, 0.0, float(w), float(h)], "iscrowd": 1})  # fmt: skip
                next_ann += 1
            cv2.imwrite(str(folder / name), picture[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            images.append({"id": image_id, "file_name": name, "height": h, "width": w,
                           "license": 1})  # fmt: skip
        doc = {
            "info": {"description": "focusgan generated test data"},
            "licenses": [{"id": 1, "name": "CC0"}],
            "images": images,
            "annotations": anns,
            "categories": CATEGORIES,
        }
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    return CocoSource(root, real=False)


def davis_video(n: int, size=(120, 160), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n, H, W, 3) RGB and masks (n, H, W) bool of one textured object over a static
    textured background: it grows from ~3% to ~40% of the frame while it crosses from the middle
    to an edge, so the frame filters see small, good and border-touching objects."""
    rng = np.random.default_rng(seed)
    h, w = size
    background, skin = _texture(rng, h, w), _texture(rng, h, w)
    frames, masks = np.empty((n, h, w, 3), np.uint8), np.zeros((n, h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    side = 1 if seed % 2 == 0 else -1  # towards the right or the left edge
    cy, aspect = h * rng.uniform(0.4, 0.6), rng.uniform(0.6, 0.9)
    for t in range(n):
        f = t / max(1, n - 1)
        r = min(h, w) * (0.12 + 0.3 * f)
        cx = w * (0.5 + side * (0.45 * f**3 - 0.1))
        masks[t] = ((xx - cx) / r) ** 2 + ((yy - cy) / (aspect * r)) ** 2 <= 1
        frames[t] = np.where(masks[t][..., None], skin, background)
    return frames, masks


def write_davis(
    root: Path, sequences: dict[str, int], size=(120, 160), seed: int = 0
) -> DavisSource:
    """DAVIS-layout frames and masks ({sequence name: frames}) of `davis_video`s; the first
    sequence gets DAVIS-2016 grey 0/255 masks, the others DAVIS-2017 palette masks."""
    src = DavisSource(root, real=False)
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12)
    for k, (name, n) in enumerate(sequences.items()):
        frames, masks = davis_video(n, size, seed + k)
        (src.images / name).mkdir(parents=True, exist_ok=True)
        (src.masks / name).mkdir(parents=True, exist_ok=True)
        for t in range(n):
            cv2.imwrite(str(src.images / name / f"{t:05d}.jpg"), frames[t][..., ::-1])
            if k == 0:
                im = Image.fromarray(masks[t].astype(np.uint8) * 255, mode="L")
            else:
                im = Image.fromarray(masks[t].astype(np.uint8), mode="P")
                im.putpalette(palette)
            im.save(src.masks / name / f"{t:05d}.png")
    return src


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut a file as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def garbage(path: Path, seed: int = 0, n: int = 400) -> None:
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
