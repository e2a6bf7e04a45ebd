"""Sub-commands about dataset files: `prepare SOURCE ...`, `merge`, `inspect`."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import numpy as np

from focusgan.errors import UserError

# Each module adds its `prepare <source>` sub-command through `register_prepare(subparsers)`.
PREPARE_SOURCES: tuple[str, ...] = (
    "focusgan.prepare.coco",
    "focusgan.prepare.pairs",
    "focusgan.prepare.video",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="make a dataset file from COCO, videos or image+mask pairs")
    sources = p.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(p))
    sources.required = True
    for name in PREPARE_SOURCES:
        importlib.import_module(name).register_prepare(sources)

    p = sub.add_parser("merge", help="concatenate dataset files (e.g. shards) into one")
    p.add_argument("inputs", nargs="+", type=Path, help="dataset files to merge, in order")
    p.add_argument("--out", type=Path, required=True, help="the merged dataset file to write")
    p.set_defaults(func=_merge)

    p = sub.add_parser("inspect", help="summarise a dataset file or a run directory")
    p.add_argument("path", type=Path, help="a dataset file (.h5) or a run directory")
    p.add_argument(
        "--grid",
        type=Path,
        default=None,
        help="where to save a sample grid (default: PATH.inspect.png next to a dataset)",
    )
    p.add_argument("--n", type=int, default=64, help="samples in the grid (default 64)")
    p.add_argument("--seed", type=int, default=0, help="which random samples go in the grid")
    p.set_defaults(func=_inspect)


def _merge(args: argparse.Namespace) -> int:
    from focusgan.data.dataset import merge, read_info

    if args.out.resolve() in {p.resolve() for p in args.inputs}:
        raise UserError(f"--out {args.out} is one of the inputs; choose a new file name")
    out = merge(args.inputs, args.out)
    info = read_info(out)
    print(f"wrote {out}: {info.size} samples from {len(args.inputs)} files")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    if args.path.is_dir():
        from focusgan.training.rundir import describe_run

        print(describe_run(args.path))
        return 0
    for line in describe_dataset(args.path, grid_path=args.grid, n=args.n, seed=args.seed):
        print(line)
    return 0


def describe_dataset(
    path: Path, grid_path: Path | None = None, n: int = 64, seed: int = 0
) -> list[str]:
    """Lines summarising a dataset file; also saves a grid of random samples in all views."""
    from focusgan.data.dataset import open_h5, read_info
    from focusgan.utils.views import render, save_image

    info = read_info(path)
    lines = [
        f"dataset      {info.path}",
        f"samples      {info.size}",
        f"resolution   {info.resolution}x{info.resolution}",
        f"channels     {info.channels}"
        + (" (RGB + focus mask)" if info.channels == 4 else " (RGB)"),
        f"mask         {info.mask_semantics}",
        f"made by      {info.command}",
        f"version      focusgan {info.focusgan_version}, {info.created}",
        "filters      " + info.filter_summary.lines()[0],
        *("           " + line for line in info.filter_summary.lines()[1:]),
    ]
    with open_h5(path) as f:
        if info.size and "fg_fraction" in f and info.channels == 4:
            fg = f["fg_fraction"][()]
            lines.append(
                f"foreground   mean {np.nanmean(fg):.3f}, "
                f"5%..95% {np.nanpercentile(fg, 5):.3f}..{np.nanpercentile(fg, 95):.3f}"
            )
        classifier = info.extra.get("classifier")
        if isinstance(classifier, dict) and "backbone" in classifier:
            line = (
                f"classifier   {classifier['backbone']} "
                f"(sha256 {str(classifier.get('weights_sha256', ''))[:12]}), "
                f"kept confidence >= {classifier.get('min_confidence')}"
            )
            if info.size and "confidence" in f:
                line += f", mean {np.nanmean(f['confidence'][()]):.3f}"
            lines.append(line)
        if info.size and "category_id" in f:
            cats = f["category_id"][()]
            known = cats[cats >= 0]
            if len(known):
                lines.append(f"categories   {len(np.unique(known))} distinct COCO categories")
        if info.size:
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(info.size, size=min(n, info.size), replace=False))
            images = f["images"][idx]
            grid_path = grid_path or path.with_name(path.name + ".inspect.png")
            save_image(grid_path, render(images, "all"))
            lines.append(f"grid         {grid_path} ({len(idx)} random samples, all views)")
    return lines
