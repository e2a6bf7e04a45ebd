"""The report's curves, drawn with matplotlib (Agg, no display) and returned as PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOSSES = (
    ("loss_d", "critic loss"),
    ("loss_g", "generator loss"),
    ("wasserstein", "Wasserstein estimate"),
    ("gp", "gradient penalty"),
    ("r1", "R1 penalty (R3GAN)"),
    ("r2", "R2 penalty (R3GAN)"),
)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def loss_curves(runs: dict[str, list[dict]], title: str) -> bytes | None:
    """Training losses per generator step, one line per run ({label: metrics.jsonl records})."""
    series = {k: [r for r in recs if "loss_d" in r] for k, recs in runs.items()}
    if not any(series.values()):
        return None
    losses = [(k, n) for k, n in LOSSES if any(k in r for v in series.values() for r in v)]
    fig, axes = plt.subplots(1, len(losses), figsize=(4 * len(losses), 3.2), squeeze=False)
    for ax, (key, name) in zip(axes[0], losses, strict=True):
        for label, recs in series.items():
            recs = [r for r in recs if key in r]  # a WGAN-GP and an R3GAN run log different ones
            if recs:
                ax.plot([r["step"] for r in recs], [r[key] for r in recs], label=label, lw=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11, y=1.04)
    return _png(fig)


def score_curves(points: dict[str, dict[str, list[tuple[int, float]]]], title: str) -> bytes | None:
    """Scores against the generator step: {metric: {run label: [(step, value), ...]}}.

    The points are the in-training evaluations (`--eval-every`) plus the step-0 and final
    evaluations, so even a run without in-training evaluation shows where it started and ended.
    """
    metrics = [m for m, lines in points.items() if any(len(v) for v in lines.values())]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for label, pts in points[metric].items():
            if pts:
                pts = sorted(pts)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, lw=1.2, label=label)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11, y=1.04)
    return _png(fig)


def fg_histogram(fractions: dict[str, Any], title: str) -> bytes | None:
    """Histograms of the per-sample foreground fraction (mask mean), real data as the reference."""
    if not fractions:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, values in fractions.items():
        ax.hist(values, bins=20, range=(0, 1), histtype="step", lw=1.5, density=True, label=label)
    ax.set_xlabel("foreground fraction of a sample")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)
