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

import argparse
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from focusgan.errors import UserError
from focusgan.prepare.filters import FilterSummary, MaskFilter, add_mask_filter_options
from focusgan.prepare.images import (
    QUALITY_MARGIN,
    BadImage,
    decode_rgb,
    image_size,
    read_bytes,
    reduction_factor,
    square_sample,
)
from focusgan.prepare.masks import GRABCUT_UNKNOWN, MASK_FORMATS, mask_semantics, read_mask
from focusgan.prepare.pipeline import ChunkResult
from focusgan.prepare.transform import FITS, square_box

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CHUNK_SIZE = 32


@dataclass(frozen=True)
class PairOptions:
    """Everything that decides a pairs dataset's samples (recorded in the fingerprint)."""

    images: str
    masks: str
    size: int = 64
    fit: str = "squash"
    channels: int = 4
    mask_format: str = "binary"
    object_id: int | None = None
    grabcut_unknown: str = "background"
    min_fg: float | None = None
    max_fg: float | None = None
    border: float = 0.05
    max_border_fg: float | None = None
    reduced_decode: bool = True
    decode_margin: float = QUALITY_MARGIN  # see focusgan.prepare.images

    @property
    def filter(self) -> MaskFilter:
        return MaskFilter(self.min_fg, self.max_fg, self.border, self.max_border_fg)


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
            factor = reduction_factor(
                x1 - x0, y1 - y0, opts.size, opts.reduced_decode, opts.decode_margin
            )
            image = decode_rgb(data, factor)
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
    s, c = opts.size, opts.channels
    images = np.stack(samples) if samples else np.zeros((0, s, s, c), np.uint8)
    return ChunkResult(images, {k: np.asarray(v) for k, v in meta.items()}, summary, len(chunk))


def prepare_pairs(
    images: str | os.PathLike,
    masks: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int = 64,
    fit: str = "squash",
    channels: int = 4,
    mask_format: str = "binary",
    object_id: int | None = None,
    grabcut_unknown: str = "background",
    min_fg: float | None = None,
    max_fg: float | None = None,
    border: float = 0.05,
    max_border_fg: float | None = None,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    reduced_decode: bool = True,
    classifier=None,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
):
    """Write a dataset from image+mask pairs (see the module docstring); returns a `PrepareReport`."""
    from focusgan.prepare.pipeline import prepare_dataset

    if fit not in FITS:
        raise UserError(f"--fit must be one of {', '.join(FITS)}, not {fit!r}")
    if mask_format not in MASK_FORMATS:
        raise UserError(f"--mask-format must be one of {', '.join(MASK_FORMATS)}")
    if grabcut_unknown not in GRABCUT_UNKNOWN:
        raise UserError(f"--grabcut-unknown must be one of {', '.join(GRABCUT_UNKNOWN)}")
    MaskFilter(min_fg, max_fg, border, max_border_fg).validate()
    if size < 8:
        raise UserError(f"--size {size} is too small (at least 8)")
    images, masks = Path(images), Path(masks)
    pairs, global_summary = find_pairs(images, masks)
    opts = PairOptions(
        str(images),
        str(masks),
        size,
        fit,
        channels,
        mask_format,
        object_id,
        grabcut_unknown,
        min_fg,
        max_fg,
        border,
        max_border_fg,
        reduced_decode,
    )
    config = {
        "source": "pairs",
        **asdict(opts),
        "images": str(images.resolve()),
        "masks": str(masks.resolve()),
    }
    extra = {
        "source": "pairs",
        "images": str(images),
        "masks": str(masks),
        "fit": fit,
        "mask_format": mask_format,
        "object_id": object_id,
        "grabcut_unknown": grabcut_unknown,
        "filter": {
            "min_fg": min_fg,
            "max_fg": max_fg,
            "border": border,
            "max_border_fg": max_border_fg,
        },
    }
    postprocess = None
    if classifier is not None:
        config["classifier"] = extra["classifier"] = classifier.config()
        postprocess = classifier
    return prepare_dataset(
        pairs,
        partial(process_pairs, opts=opts),
        out,
        resolution=size,
        channels=channels,
        mask_semantics=mask_semantics(mask_format, grabcut_unknown),
        config=config,
        workers=workers,
        shard=shard,
        chunk_size=chunk_size,
        global_summary=global_summary,
        extra=extra,
        postprocess=postprocess,
        progress=progress,
        desc="prepare pairs",
    )


def register_prepare(sources: argparse._SubParsersAction) -> None:
    from focusgan.prepare.pipeline import add_prepare_options

    p = sources.add_parser("pairs", help="samples from folders of images and foreground masks")
    p.add_argument(
        "--images", type=Path, required=True, help="folder of images (searched recursively)"
    )
    p.add_argument(
        "--masks",
        type=Path,
        required=True,
        help="folder of masks, paired with images by relative folder and file stem",
    )
    p.add_argument(
        "--mask-format",
        choices=MASK_FORMATS,
        default="binary",
        help="binary: 0/255 or 0/1 (default); davis: non-zero (or --object-id) is "
        "foreground; unlc: soft 0..100; grabcut: 0/128/255",
    )
    p.add_argument(
        "--object-id",
        type=int,
        default=None,
        help="with --mask-format davis: only this palette index is foreground",
    )
    p.add_argument(
        "--grabcut-unknown",
        choices=GRABCUT_UNKNOWN,
        default="background",
        help="with --mask-format grabcut: 128 becomes background (default) or stays "
        "uncertain (ignore: probability just under 0.5)",
    )
    add_mask_filter_options(
        p,
        MaskFilter(border=0.05),
        "frame filters (thesis: --min-fg 0.10 --max-fg 0.80 --border 0.05 "
        "--max-border-fg 0.10); off unless given",
    )
    add_prepare_options(p)
    p.set_defaults(func=_prepare_pairs_command)


def _prepare_pairs_command(args: argparse.Namespace) -> int:
    from focusgan.prepare.pipeline import run_options

    report = prepare_pairs(
        args.images,
        args.masks,
        args.out,
        size=args.size,
        fit=args.fit,
        channels=args.channels,
        mask_format=args.mask_format,
        object_id=args.object_id,
        grabcut_unknown=args.grabcut_unknown,
        min_fg=args.min_fg,
        max_fg=args.max_fg,
        border=args.border,
        max_border_fg=args.max_border_fg,
        reduced_decode=args.reduced_decode,
        **run_options(args),
    )
    for line in report.lines():
        print(line)
    return 0
