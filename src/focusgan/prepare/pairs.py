"""`focusgan prepare pairs`: samples from folders of images and their foreground masks.

Pairing: an image `IMAGES/a/b/name.jpg` goes with the mask `MASKS/a/b/name.<ext>` (same
relative folder, same stem; any image extension). That covers DAVIS
(`JPEGImages/480p` + `Annotations/480p`), the uNLC release (`im/` + `nlcim/`), GrabCut-style
and plain binary mask folders. Images without a mask and masks without an image are counted as
skipped; a mask of a different size than its image is skipped ("mask size differs from image").
Mask formats are read by `focusgan.prepare.masks` (`--mask-format`).

Filters (all off unless given; the thesis's frame filter is `--min-fg 0.10 --max-fg 0.80
--border 0.05 --max-border-fg 0.10`) use `focusgan.prepare.filters.MaskFilter` on the whole mask at
its own resolution (the thesis's frame), foreground = mask > 0.5, before cropping.

Each sample: the image and its mask cut square (`--fit`) and resized with INTER_AREA; JPEGs are
decoded at reduced size when the square keeps at least `size` pixels (`focusgan.prepare.images`).
Metadata: source (the image path relative to `--images`), frame (the stem when it is a number,
as in frame folders, else -1), fg_fraction of the square sample.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from focusgan.data.summary import FilterSummary
from focusgan.errors import UserError
from focusgan.prepare.filters import MaskFilter
from focusgan.prepare.images import BadImage, image_size, read_bytes, square_sample
from focusgan.prepare.masks import GRABCUT_UNKNOWN, MASK_FORMATS, mask_semantics, read_mask
from focusgan.prepare.pipeline import ChunkResult, Job, RunOptions, SampleOptions
from focusgan.prepare.transform import square_box
from focusgan.utils.options import option

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CHUNK_SIZE = 32


@dataclass(frozen=True, kw_only=True)
class PairOptions(SampleOptions):
    """Everything that decides a pairs dataset's samples (recorded in the fingerprint)."""

    images: Path = option(help="folder of images (searched recursively)")
    masks: Path = option(
        help="folder of masks, paired with images by relative folder and file stem"
    )
    mask_format: str = option(
        "binary",
        "binary: 0/255 or 0/1 (default); davis: non-zero (or --object-id) is "
        "foreground; unlc: soft 0..100; grabcut: 0/128/255",
        choices=MASK_FORMATS,
    )
    object_id: int | None = option(
        None, "with --mask-format davis: only this palette index is foreground"
    )
    grabcut_unknown: str = option(
        "background",
        "with --mask-format grabcut: 128 becomes background (default) or stays "
        "uncertain (ignore: probability just under 0.5)",
        choices=GRABCUT_UNKNOWN,
    )
    filter: MaskFilter = option(
        MaskFilter(),
        group="frame filters (thesis: --min-fg 0.10 --max-fg 0.80 --border 0.05 "
        "--max-border-fg 0.10); off unless given",
    )

    def job(self, run: RunOptions) -> Job:
        return pairs_job(self)


def _index(root: Path) -> dict[tuple[str, str], list[str]]:
    """(relative folder, stem) -> relative paths of the image files under `root`."""
    out: dict[tuple[str, str], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                out.setdefault((rel_dir.as_posix(), Path(name).stem), []).append(
                    (rel_dir / name).as_posix()
                )
    return out


def find_pairs(images: Path, masks: Path) -> tuple[list[tuple[str, str]], FilterSummary]:
    """(image, mask) relative paths paired by folder and stem, sorted; counts of the unpaired."""
    for what, d in (("image", images), ("mask", masks)):
        if not d.is_dir():
            raise UserError(f"{what} folder not found: {d}")
    image_index, mask_index = _index(images), _index(masks)
    summary = FilterSummary()
    pairs = []
    for key in sorted(image_index):
        for image in image_index[key]:
            found = mask_index.get(key)
            if not found:
                summary.skip("no mask for image")
                continue
            if len(found) > 1:
                pngs = [m for m in found if m.lower().endswith(".png")]
                if len(pngs) != 1:
                    raise UserError(
                        f"several masks for {image} in {masks}: {', '.join(found)}; "
                        "keep one per image"
                    )
                found = pngs
            pairs.append((image, found[0]))
    unpaired = sum(len(v) for k, v in mask_index.items() if k not in image_index)
    if unpaired:
        summary.skip("mask without image", unpaired)
    if not pairs:
        raise UserError(
            f"no image in {images} has a mask in {masks} with the same relative "
            "folder and file stem"
        )
    return pairs, summary


def _mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    pts = cv2.findNonZero((mask > 127).astype(np.uint8))
    if pts is None:
        return None
    x, y, w, h = cv2.boundingRect(pts)
    return float(x), float(y), float(w), float(h)


def process_pairs(chunk: list[tuple[str, str]], opts: PairOptions) -> ChunkResult:
    """The work function: samples for a chunk of (image, mask) pairs (runs in worker processes)."""
    summary = FilterSummary()
    rule = opts.filter
    samples, meta = [], {"source": [], "frame": [], "fg_fraction": []}
    for image_rel, mask_rel in chunk:
        try:
            data = read_bytes(Path(opts.images) / image_rel)
            width, height = image_size(data)
            try:
                mask = read_mask(
                    Path(opts.masks) / mask_rel,
                    opts.mask_format,
                    opts.object_id,
                    opts.grabcut_unknown,
                )
            except (OSError, ValueError, SyntaxError):
                raise BadImage("unreadable mask") from None
            if mask.shape != (height, width):
                raise BadImage("mask size differs from image")
            reason = rule.check(mask)
            if reason is not None:
                summary.reject(reason)
                continue
            box = _mask_box(mask) if opts.fit == "object-crop" else None
            x0, y0, x1, y1 = square_box(height, width, opts.fit, box)
            image, factor = opts.decode(data, x1 - x0, y1 - y0)
        except BadImage as e:
            summary.skip(str(e))
            continue
        sample, fg = square_sample(image, mask, factor, opts.size, opts.fit, box, opts.channels)
        samples.append(sample)
        meta["fg_fraction"].append(fg)
        stem = Path(image_rel).stem
        meta["source"].append(image_rel)
        meta["frame"].append(int(stem) if stem.isdigit() else -1)
        summary.keep()
    return ChunkResult.collect(samples, meta, summary, len(chunk), opts)


def pairs_job(opts: PairOptions) -> Job:
    """The work of a pairs dataset (see the module docstring): one item per (image, mask)."""
    opts.validate()
    if opts.mask_format not in MASK_FORMATS:
        raise UserError(f"--mask-format must be one of {', '.join(MASK_FORMATS)}")
    if opts.grabcut_unknown not in GRABCUT_UNKNOWN:
        raise UserError(f"--grabcut-unknown must be one of {', '.join(GRABCUT_UNKNOWN)}")
    opts.filter.validate()
    pairs, global_summary = find_pairs(Path(opts.images), Path(opts.masks))
    config = {
        "source": "pairs",
        **asdict(opts),
        "images": str(Path(opts.images).resolve()),
        "masks": str(Path(opts.masks).resolve()),
    }
    extra = {
        "source": "pairs",
        "images": str(opts.images),
        "masks": str(opts.masks),
        "fit": opts.fit,
        "mask_format": opts.mask_format,
        "object_id": opts.object_id,
        "grabcut_unknown": opts.grabcut_unknown,
        "filter": asdict(opts.filter),
    }
    semantics = mask_semantics(opts.mask_format, opts.grabcut_unknown)
    work = partial(process_pairs, opts=opts)
    return Job(
        pairs, work, semantics, config, extra, global_summary, chunk_size=CHUNK_SIZE, unit="pair"
    )
