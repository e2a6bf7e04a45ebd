"""`focusgan inspect FILE.h5`: a dataset file summarised in a few lines, and a grid of samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
