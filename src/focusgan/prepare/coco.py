"""`focusgan prepare coco`: one sample per COCO object instance, its mask as the focus channel.

The annotation file is read with `pycocotools` (`COCO` for the index; `pycocotools.mask` for
masks, exactly as `COCO.annToRLE`/`annToMask` do: polygons with several parts are merged, and
both RLE forms work). Guards the COCO issue trackers ask for:
- `iscrowd=1` regions are groups, not instances: skipped ("crowd region (iscrowd=1)");
- polygon parts with fewer than 6 numbers (pycocotools misreads a 4-number one as a box) are
  dropped; an instance left with none is skipped ("polygon with fewer than 3 points");
- coordinates outside the image are clipped by pycocotools' rasterizer (checked in the tests);
- instances whose mask has no pixel are skipped ("empty mask (zero area)");
- annotations of an image id the file does not list: skipped ("annotation for unknown image");
- a missing, unreadable or truncated image, or one whose size differs from the json's
  `width`/`height`: its instances are skipped, by reason.

The area rule (`min_area`, thesis 0.15): an instance is kept when its mask, rasterized by
pycocotools at the image's full size from the json (`width` x `height`), covers at least that
fraction of the image's pixels: `area(annToRLE(ann)) / (width * height) >= min_area`. It is
checked on the full-size run-length mask before any decoding, so images with no instance left
are never read at all.

Each sample: the image and its 0/255 mask cut to a square (`--fit`) and resized with INTER_AREA.
JPEGs are decoded at 1/2, 1/4 or 1/8 size when the square still gets at least twice `size`
pixels across; the mask is resized from full size over exactly the same source pixels (see
`focusgan.prepare.images`).
Metadata: source (the image's `file_name`), image_id, annotation_id, category_id, fg_fraction
(fraction of the square sample's mask above 0.5).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError
from focusgan.prepare.images import BadImage, image_size, read_bytes, square_sample
from focusgan.prepare.pipeline import ChunkResult, Job, RunOptions, SampleOptions
from focusgan.prepare.transform import square_box
from focusgan.utils.options import option

CHUNK_SIZE = 64  # images per work chunk (and per resumable part)


@dataclass(frozen=True, kw_only=True)
class CocoOptions(SampleOptions):
    """Everything that decides a COCO dataset's samples (recorded in the file's `extra`)."""

    annotations: Path = option(help="COCO instances_*.json")
    images: Path = option(help="folder of the json's images")
    min_area: float = option(
        0.15,
        "keep instances whose mask covers at least this fraction of the image "
        "(default 0.15, the thesis; 0 keeps all)",
    )
    categories: list[str] | None = option(
        None,
        "only these categories (names or ids, e.g. person dog 18); default all",
        metavar="CAT",
    )

    def job(self, run: RunOptions) -> Job:
        return coco_job(self)


@dataclass
class CocoImage:
    """One work item: an image and its candidate (non-crowd, selected category) instances."""

    image_id: int
    file_name: str
    height: int
    width: int
    annotations: list  # [(annotation_id, category_id, segmentation, bbox)]


def load_coco(path: str | os.PathLike):
    """A `pycocotools.coco.COCO` index of an instances json; a one-line `UserError` if it is bad."""
    from pycocotools.coco import COCO

    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"annotation file not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); is it a COCO instances file?") from None
    if not isinstance(data, dict) or not {"images", "annotations"} <= set(data):
        raise UserError(f"{path} is not a COCO instances file (needs 'images' and 'annotations')")
    _check_ids(data, path)
    coco = COCO()
    coco.dataset = data
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
    except (KeyError, TypeError) as e:
        raise UserError(f"{path} is not a COCO instances file (bad entry: {e!r})") from None
    return coco


def _check_ids(data: dict, path: Path) -> None:
    """Entries are objects with integer ids (the index sorts and joins on them)."""
    needs = {"images": ("id",), "annotations": ("id", "image_id"), "categories": ("id",)}
    for section, keys in needs.items():
        entries = data.get(section, [])
        if not isinstance(entries, list):
            raise UserError(f"{path} is not a COCO instances file ('{section}' is not a list)")
        for i, entry in enumerate(entries):
            for key in keys:
                value = entry.get(key) if isinstance(entry, dict) else None
                if not isinstance(value, int) or isinstance(value, bool):
                    raise UserError(
                        f"{path} is not a valid COCO instances file: {section}[{i}] has no "
                        f"integer {key!r} ({value!r})"
                    )


def select_categories(coco, wanted: list[str] | None) -> set[int] | None:
    """Category ids from names or ids (`--categories person,dog 18`); None = all."""
    if not wanted:
        return None
    by_name = {c["name"].lower(): c["id"] for c in coco.dataset.get("categories", [])}
    ids = set()
    for token in (t.strip() for w in wanted for t in w.split(",")):
        if not token:
            continue
        if token.isdigit() and int(token) in coco.cats:
            ids.add(int(token))
        elif token.lower() in by_name:
            ids.add(by_name[token.lower()])
        else:
            raise UserError(f"unknown COCO category {token!r}; known: {', '.join(sorted(by_name))}")
    return ids


# pycocotools allocates 4 bytes a pixel of the json's image size (merging polygon parts) and does
# not check that the allocation worked: a wrong, huge size would crash the process
MAX_PIXELS = 2**29


def coco_items(coco, categories: set[int] | None = None) -> tuple[list[CocoImage], FilterSummary]:
    """Work items (images with candidate instances, in image-id order) and counts made here."""
    summary = FilterSummary()
    for image_id, anns in coco.imgToAnns.items():
        if image_id not in coco.imgs:
            summary.skip("annotation for unknown image", len(anns))
    items = []
    for image_id in sorted(coco.imgs):
        try:
            items.extend(_image_item(coco, image_id, categories, summary))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(
                f"COCO image {image_id} or one of its annotations lacks a valid field ({e}): "
                "is this a COCO instances file?"
            ) from None
    return items, summary


def _image_item(
    coco, image_id: int, categories: set[int] | None, summary: FilterSummary
) -> list[CocoImage]:
    """The work item of one image (none when no candidate instance is left)."""
    img = coco.imgs[image_id]
    anns = []
    for a in coco.imgToAnns.get(image_id, []):
        if a.get("iscrowd", 0):
            summary.skip("crowd region (iscrowd=1)")
        elif categories is not None and a.get("category_id") not in categories:
            summary.skip("category not selected")
        else:
            cat = int(a.get("category_id", -1))
            anns.append((int(a["id"]), cat, a.get("segmentation"), a.get("bbox")))
    if not anns:
        return []
    h, w = int(img["height"]), int(img["width"])
    if h <= 0 or w <= 0 or h * w > MAX_PIXELS:
        raise ValueError(f"size {w}x{h}; at most {MAX_PIXELS} pixels")
    return [CocoImage(int(image_id), str(img["file_name"]), h, w, anns)]


def instance_rle(segmentation, height: int, width: int) -> dict:
    """One run-length mask for a segmentation, as `COCO.annToRLE` makes it, with guards.

    Raises ValueError with the skip reason for polygons without 3 points or bad entries.
    """
    from pycocotools import mask as mask_utils  # here, so `focusgan` starts without it

    if isinstance(segmentation, list):
        parts = [p for p in segmentation if isinstance(p, list) and len(p) >= 6]
        parts = [p[: len(p) // 2 * 2] for p in parts]
        if not parts:
            raise ValueError("polygon with fewer than 3 points")
        if not all(np.isfinite(np.asarray(p, dtype=np.float64)).all() for p in parts):
            raise ValueError("invalid segmentation")
        return mask_utils.merge(mask_utils.frPyObjects(parts, height, width))
    if isinstance(segmentation, dict) and "counts" in segmentation:
        if segmentation.get("size") != [height, width]:  # (pycocotools trusts it)
            raise ValueError("invalid segmentation")
        if isinstance(segmentation["counts"], list):  # uncompressed RLE
            return mask_utils.frPyObjects(segmentation, height, width)
        rle = dict(segmentation)
        if isinstance(rle["counts"], str) and rle["counts"].isascii():
            rle["counts"] = rle["counts"].encode("ascii")
        if not isinstance(rle["counts"], bytes):
            raise ValueError("invalid segmentation")
        return rle
    raise ValueError("invalid segmentation")


# the skip reasons `instance_rle` raises (any other error is an "invalid segmentation")
SEGMENTATION_ERRORS = ("polygon with fewer than 3 points", "invalid segmentation")


def _valid_bbox(bbox) -> bool:
    """A COCO box [x, y, width, height] of finite numbers with a positive size."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox):
        return False
    return bool(np.isfinite(bbox).all() and bbox[2] > 0 and bbox[3] > 0)


def _crop_region(fit: str, height: int, width: int, bbox) -> tuple[int, int]:
    x0, y0, x1, y1 = square_box(height, width, fit, tuple(bbox) if bbox else None)
    return x1 - x0, y1 - y0


def process_images(chunk: list[CocoImage], opts: CocoOptions) -> ChunkResult:
    """The work function: samples for a chunk of images (runs in worker processes)."""
    with warnings.catch_warnings():
        # pycocotools 2.0.x's decode warns on every call under NumPy 2 (its __array__ lacks
        # `copy`); the result is correct, and a warning per instance only floods the output
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return _process_images(chunk, opts)


def _process_images(chunk: list[CocoImage], opts: CocoOptions) -> ChunkResult:
    from pycocotools import mask as mask_utils

    summary = FilterSummary()
    samples, meta = (
        [],
        {"source": [], "image_id": [], "annotation_id": [], "category_id": [], "fg_fraction": []},
    )
    for item in chunk:
        h, w = item.height, item.width
        kept = []
        for ann_id, cat_id, segm, bbox in item.annotations:
            try:
                rle = instance_rle(segm, h, w)
                area = float(mask_utils.area(rle))  # (pycocotools reads the counts here)
            except (ValueError, TypeError, IndexError) as e:
                known = isinstance(e, ValueError) and str(e) in SEGMENTATION_ERRORS
                summary.skip(str(e) if known else "invalid segmentation")
                continue
            if area <= 0:
                summary.skip("empty mask (zero area)")
            elif area / (h * w) < opts.min_area:
                summary.reject(f"foreground < {opts.min_area:g}")
            else:
                bbox = bbox if _valid_bbox(bbox) else mask_utils.toBbox(rle).tolist()
                kept.append((ann_id, cat_id, rle, bbox))
        if not kept:
            continue
        try:
            data = read_bytes(Path(opts.images) / item.file_name)
            if image_size(data) != (w, h):
                raise BadImage("image size differs from annotation json")
            side = min(min(_crop_region(opts.fit, h, w, k[3])) for k in kept)
            image, factor = opts.decode(data, side, side)
        except BadImage as e:
            summary.skip(str(e), len(kept))
            continue
        cache = {}
        for ann_id, cat_id, rle, bbox in kept:
            try:
                mask = mask_utils.decode(rle) * np.uint8(255)
            except ValueError:  # counts that do not add up to the image's pixels
                summary.skip("invalid segmentation")
                continue
            sample, fg = square_sample(
                image, mask, factor, opts.size, opts.fit, bbox, opts.channels, cache
            )
            samples.append(sample)
            meta["fg_fraction"].append(fg)
            meta["source"].append(item.file_name)
            meta["image_id"].append(item.image_id)
            meta["annotation_id"].append(ann_id)
            meta["category_id"].append(cat_id)
            summary.keep()
    return ChunkResult.collect(samples, meta, summary, len(chunk), opts)


def coco_job(opts: CocoOptions) -> Job:
    """The work of a COCO dataset (see the module docstring): one item per image."""
    opts.validate()
    if not 0 <= opts.min_area <= 1:
        raise UserError(f"--min-area is a fraction of the image, 0..1, not {opts.min_area}")
    if not Path(opts.images).is_dir():
        raise UserError(f"image folder not found: {opts.images}")
    coco = load_coco(opts.annotations)
    cats = select_categories(coco, opts.categories)
    items, global_summary = coco_items(coco, cats)
    stat = os.stat(opts.annotations)
    config = {
        "source": "coco",
        **asdict(replace(opts, categories=None)),
        "annotations": str(Path(opts.annotations).resolve()),
        "images": str(opts.images),
        "annotations_size": stat.st_size,
        "annotations_mtime": stat.st_mtime_ns,
        "categories": sorted(cats) if cats else None,
    }
    extra = {
        "source": "coco",
        "annotations": str(opts.annotations),
        "images": str(opts.images),
        "fit": opts.fit,
        "min_area": opts.min_area,
        "categories": sorted(cats) if cats else "all",
        # names of the stored category ids (labels of class-conditional training)
        "category_names": {
            str(c["id"]): c["name"]
            for c in coco.dataset.get("categories", [])
            if isinstance(c, dict) and "id" in c and "name" in c
        },
    }
    work = partial(process_images, opts=opts)
    return Job(
        items, work, "binary", config, extra, global_summary, _item_key, CHUNK_SIZE, unit="image"
    )


def _item_key(item: CocoImage) -> tuple:
    return (item.image_id, len(item.annotations))
