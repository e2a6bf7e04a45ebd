"""Evaluate generated images against their training data (DESIGN section 6, issue 5).

Everything works on uint8 (N, H, W, C) arrays and dataset files, so a run, a samples file and
a dataset are evaluated the same way:
- `evaluate_images(images, data, backbone)`: IS, FID, KID, precision/recall on the RGB
  channels, focus-channel measures and the segmenter consistency when both have a mask;
- `evaluate_dataset(data, backbone)`: the scores of the training data itself (the thesis's
  "training data" column);
- `evaluate_run(run_dir, ...)` and `evaluate_samples(path, ...)`: the two above plus provenance;
- `evaluate_generator(G, data, n, backbone)`: a flat dict of floats for in-training evaluation.
Every score is labelled `<metric>/<backbone>`; numbers of different backbones are never mixed.
Reference statistics of a dataset are cached next to it (see `cache.py`).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from focusgan import __version__
from focusgan.data.dataset import command_line, open_h5, read_info
from focusgan.data.labels import load_labels
from focusgan.errors import UserError
from focusgan.metrics.cache import cache_file, read_rows
from focusgan.metrics.evaluation import Evaluation
from focusgan.metrics.focus import focus_measures, mask_measures
from focusgan.metrics.options import (
    GENERATED_PAIRS_N,
    METRICS,
    PUBLISHED_N,
    PUBLISHED_SPLITS,
    SegmenterConfig,
)
from focusgan.metrics.scores import (
    Stats,
    feature_stats,
    fid_warning,
    frechet_distance,
    inception_score,
    kernel_distance,
    precision_recall,
)
from focusgan.models.backbones import Backbone, find_inception_weights, load_backbone
from focusgan.training.config import TrainConfig, for_data
from focusgan.utils.atomic import atomic_path
from focusgan.utils.device import resolve_device
from focusgan.utils.hashing import sha256_file

PER_CLASS_MIN_SAMPLES = 500  # classes with fewer training samples get no per-class scores

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
PR_NEIGHBORHOOD, PR_MAX_N = 3, 10000


def default_batch_size(device: torch.device) -> int:
    """Backbone batch size chosen for speed (benchmarks/metrics.py, RESULTS.md "metrics"):
    small on CPU, where EfficientNet-Lite0 slowed several-fold at 16 and above on 2 cores;
    200 on a GPU (94% of the speed of 500, with memory to spare on smaller cards)."""
    return 200 if device.type == "cuda" else 8


_BACKBONES: dict[tuple, Backbone] = {}


def get_backbone(
    backbone: str | Backbone, weights: str | None = None, device: str | torch.device | None = None
) -> Backbone:
    """A loaded backbone, kept for the process (in-training evaluation loads it once)."""
    if isinstance(backbone, Backbone):
        return backbone
    if backbone == "inception":  # keyed on the file itself, however it was named
        weights = find_inception_weights(weights)
    key = (backbone, str(weights), str(resolve_device(device)))
    if key not in _BACKBONES:
        _BACKBONES[key] = load_backbone(backbone, weights, resolve_device(device))
    return _BACKBONES[key]


def extract(
    images: np.ndarray,
    backbone: Backbone,
    batch_size: int | None = None,
    progress: bool = False,
    desc: str = "features",
) -> tuple[np.ndarray, np.ndarray]:
    """Backbone features and class probabilities of uint8 images (N, H, W, C>=3), RGB only."""
    batch_size = batch_size or default_batch_size(backbone.device)
    feats, probs = [], []
    for start in tqdm(
        range(0, len(images), batch_size), desc=desc, unit="batch", disable=not progress
    ):
        batch = np.ascontiguousarray(images[start : start + batch_size, ..., :3])
        f, p = backbone.features_and_probs(torch.from_numpy(batch).permute(0, 3, 1, 2), batch_size)
        feats.append(f.numpy())
        probs.append(p.numpy())
    if not feats:
        raise UserError("no images to evaluate")
    return np.concatenate(feats), np.concatenate(probs)


@dataclass
class Reference:
    """Backbone outputs of (a seeded subset of) a dataset file, for comparisons."""

    data: str
    sha256: str
    backbone: str
    n: int
    seed: int
    features: np.ndarray
    probs: np.ndarray
    stats: Stats
    cache: str

    def provenance(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "sha256": self.sha256,
            "n": self.n,
            "seed": self.seed,
            "backbone": self.backbone,
            "cache": self.cache,
        }


def sample_indices(size: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of `n` samples of a dataset drawn with `seed` (all when n >= size)."""
    if n is None or n >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).permutation(size)[:n])


def load_rows(data: str | os.PathLike, indices: np.ndarray) -> np.ndarray:
    """Images `indices` of a dataset file, uint8 (n, H, W, C)."""
    with open_h5(data) as f:
        return read_rows(f["images"], indices)


_REFERENCES: dict[tuple, Reference] = {}


def reference(
    data: str | os.PathLike,
    backbone: Backbone,
    n: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool = False,
) -> Reference:
    """Reference outputs of a dataset: from memory, from the cache file beside it, or computed.

    The cache key is the file's sha256, the backbone (name and weights hash), `n` and `seed`.
    """
    info = read_info(data)
    digest = sha256_file(data)
    idx = sample_indices(info.size, n, seed)
    n_ref = len(idx)
    key = f"{backbone.name}-{backbone.weights_sha256[:8]}-n{n_ref}-seed{seed}-{digest[:16]}"
    memo = (str(Path(data).resolve()), key)
    if memo in _REFERENCES:
        return _REFERENCES[memo]
    path = cache_file(data, "refstats", key, ".npz")
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            feats, probs = z["features"], z["probs"]
            stats = Stats(mu=z["mu"], sigma=z["sigma"], n=len(feats))
    else:
        feats, probs = [], []
        block = 1024
        for start in tqdm(
            range(0, n_ref, block),
            desc=f"reference {backbone.name}",
            unit="block",
            disable=not progress,
        ):
            f, p = extract(load_rows(data, idx[start : start + block]), backbone, batch_size)
            feats.append(f)
            probs.append(p)
        feats, probs = np.concatenate(feats), np.concatenate(probs)
        stats = feature_stats(feats)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, features=feats, probs=probs, mu=stats.mu, sigma=stats.sigma, indices=idx)
    ref = Reference(str(data), digest, backbone.name, n_ref, seed, feats, probs, stats, str(path))
    _REFERENCES[memo] = ref
    return ref


def score_features(
    feats: np.ndarray,
    probs: np.ndarray,
    ref: Reference | None,
    backbone: str,
    metrics: tuple[str, ...] = METRICS,
    splits: int = PUBLISHED_SPLITS,
    seed: int = 0,
) -> tuple[dict[str, float], list[str], dict[str, Any]]:
    """Scores `<metric>/<backbone>` of one set's backbone outputs (against `ref` when given),
    with notes on numbers that are not comparable and the settings used."""
    scores: dict[str, float] = {}
    notes: list[str] = []
    settings: dict[str, Any] = {}
    n = len(feats)
    if "is" in metrics:
        s = min(splits, n)
        scores[f"is/{backbone}"], scores[f"is_std/{backbone}"] = inception_score(probs, s, seed)
        settings["is_splits"] = s
    if ref is not None and "fid" in metrics:
        scores[f"fid/{backbone}"] = frechet_distance(feature_stats(feats), ref.stats)
        warning = fid_warning(n, ref.n, feats.shape[1])
        if warning:
            notes.append(warning)
    if ref is not None and "kid" in metrics:
        mean, std, size = kernel_distance(feats, ref.features, KID_SUBSETS, KID_SUBSET_SIZE, seed)
        scores[f"kid/{backbone}"] = mean
        if size < max(n, ref.n):
            scores[f"kid_std/{backbone}"] = std
        else:  # every subset is both whole sets: the "std" is rounding noise, not a spread
            notes.append(
                f"KID has no std: with {n} samples in each set every subset of {size} is the "
                "whole set (use more samples than the subset size for a spread)"
            )
        settings.update(kid_subsets=KID_SUBSETS, kid_subset_size=size, kid_kernel="poly3")
    if ref is not None and "pr" in metrics:
        k = min(n, ref.n, PR_MAX_N)
        if k > PR_NEIGHBORHOOD:
            rng = np.random.default_rng(seed)
            g = feats[np.sort(rng.permutation(n)[:k])]
            r = ref.features[np.sort(rng.permutation(ref.n)[:k])]
            p, r_, f = precision_recall(g, r, PR_NEIGHBORHOOD)
            scores[f"precision/{backbone}"], scores[f"recall/{backbone}"] = p, r_
            scores[f"f_score/{backbone}"] = f
            settings.update(pr_neighborhood=PR_NEIGHBORHOOD, pr_n=k)
    return scores, notes, settings


def quick_notes(n: int, splits: int, backbone: str) -> list[str]:
    """Say when a result was computed with fewer samples or splits than published numbers."""
    notes = []
    if n < PUBLISHED_N or splits != PUBLISHED_SPLITS:
        notes.append(
            f"quick look: n={n}, splits={splits} (published scores use n={PUBLISHED_N}, "
            f"splits={PUBLISHED_SPLITS}); not comparable with published numbers"
        )
    if backbone != "inception":
        notes.append(
            f"backbone {backbone}: these numbers are on the {backbone} scale and are "
            "never comparable with Inception numbers"
        )
    return notes


def evaluate_images(
    images: np.ndarray,
    data: str | os.PathLike | None,
    backbone: str | Backbone,
    *,
    metrics: tuple[str, ...] = METRICS,
    splits: int = PUBLISHED_SPLITS,
    seed: int = 0,
    ref_n: int | None = None,
    batch_size: int | None = None,
    segmenter: Any = None,
    progress: bool = False,
    initial: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate uint8 images (N, H, W, C) against a dataset file (if given).

    `ref_n` is the number of dataset samples in the reference (default: as many as images).
    `segmenter` is a `SegmenterConfig` (or None for the default) for the consistency and the
    generated-pairs measure; `initial` (samples of the step-0 generator) is the latter's floor.
    The result's provenance holds only the generated-pairs measure's: the caller knows what
    the images are (`_finish`).
    """
    bb = get_backbone(backbone)
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] not in (3, 4):
        raise UserError(f"expected uint8 images (N, H, W, 3|4), got {images.dtype} {images.shape}")
    n = len(images)
    if "is" in metrics and n < splits:
        raise UserError(f"{n} samples cannot be split into {splits} splits: lower --splits")
    t0 = time.perf_counter()
    feats, probs = extract(images, bb, batch_size, progress, desc=f"features {bb.name}")
    ref = None
    if data is not None and {"fid", "kid", "pr"} & set(metrics):
        ref = reference(data, bb, ref_n or n, seed, batch_size, progress)
    scores, notes, settings = score_features(feats, probs, ref, bb.name, metrics, splits, seed)
    focus = None
    if data is not None and images.shape[-1] == 4 and {"focus", "consistency"} & set(metrics):
        focus, more = _focus(images, data, metrics, ref_n or n, seed, segmenter, progress)
        notes += more
    pairs = None
    if data is not None and images.shape[-1] == 4 and "pairs" in metrics:
        pairs, more = _generated_pairs(images, data, initial, segmenter, seed, progress)
        notes += more
    if pairs is not None:
        focus = {**(focus or {}), "generated_pairs": pairs.scores()}
    settings["seconds"] = round(time.perf_counter() - t0, 2)
    result = Evaluation(scores, focus, notes, settings, ref.provenance() if ref else None)
    if pairs is not None:
        result.provenance = {"generated_pairs": pairs.provenance()}
    return result


def _finish(
    result: Evaluation, backbone: Backbone, n: int, splits: int, seed: int, source: dict
) -> Evaluation:
    """The result with its provenance, and notes on numbers not comparable with published ones."""
    result.notes = quick_notes(n, splits, backbone.name) + result.notes
    result.provenance = {**provenance(backbone, n, splits, seed, source), **result.provenance}
    return result


def _focus(images, data, metrics, ref_n, seed, seg_cfg, progress) -> tuple[dict | None, list]:
    info = read_info(data)
    if info.channels != 4:
        return None, [f"{data} has no focus channel: focus measures skipped"]
    out: dict[str, Any] = {}
    notes: list[str] = []
    if "focus" in metrics:
        real = load_rows(data, sample_indices(info.size, ref_n, seed))[..., 3]
        out.update(focus_measures(images[..., 3], real))
    if "consistency" in metrics:
        from focusgan.metrics.consistency import describe, train_segmenter

        try:
            seg = train_segmenter(data, seg_cfg, progress)
        except UserError as e:  # too few samples or groups: the other scores still stand
            return out or None, [*notes, f"consistency: not measured: {e}"]
        out["consistency"] = {
            "generated_iou": seg.consistency(images),
            "heldout_real_iou": seg.heldout_iou,
            "segmenter": describe(seg),
        }
        notes += segmenter_notes(seg)
    return out, notes


SEGMENTER_MIN_TRAIN = 2000


def segmenter_notes(seg: Any) -> list[str]:
    """Warn when the consistency segmenter learned from too few real pairs to generalise."""
    if seg.n_train < SEGMENTER_MIN_TRAIN:
        return [
            f"the consistency segmenter learned from only {seg.n_train} real pairs "
            f"(< {SEGMENTER_MIN_TRAIN}); its IoUs are weak evidence (held-out ceiling "
            f"{seg.heldout_iou:.2f} on {seg.n_heldout} pairs)"
        ]
    return []


def evaluate_dataset(
    data: str | os.PathLike,
    backbone: str | Backbone,
    *,
    n: int | None = PUBLISHED_N,
    splits: int = PUBLISHED_SPLITS,
    seed: int = 0,
    batch_size: int | None = None,
    metrics: tuple[str, ...] = ("is", "focus", "consistency"),
    segmenter: Any = None,
    progress: bool = False,
) -> Evaluation:
    """The scores of a dataset's own images: IS, mask measures and the segmenter's ceiling.

    Uses the cached reference outputs, so evaluating runs against it later is faster.
    """
    bb = get_backbone(backbone)
    info = read_info(data)
    ref = reference(data, bb, n, seed, batch_size, progress)
    if "is" in metrics and ref.n < splits:
        raise UserError(f"{ref.n} samples cannot be split into {splits} splits: lower --splits")
    scores, notes, settings = score_features(
        ref.features, ref.probs, None, bb.name, ("is",), splits, seed
    )
    focus = None
    if info.channels == 4 and {"focus", "consistency"} & set(metrics):
        focus = {}
        if "focus" in metrics:
            masks = load_rows(data, sample_indices(info.size, n, seed))[..., 3]
            focus["data"] = mask_measures(masks)
        if "consistency" in metrics:
            from focusgan.metrics.consistency import describe, train_segmenter

            try:
                seg = train_segmenter(data, segmenter, progress)
            except UserError as e:  # too few samples or groups: the other scores still stand
                notes.append(f"consistency: not measured: {e}")
            else:
                focus["consistency"] = {
                    "heldout_real_iou": seg.heldout_iou,
                    "segmenter": describe(seg),
                }
                notes += segmenter_notes(seg)
    src = {"kind": "data", "path": str(data), "sha256": ref.sha256, "made_by": info.command}
    result = Evaluation(scores, focus, notes, settings, ref.provenance())
    return _finish(result, bb, ref.n, splits, seed, src)


def provenance(backbone: Backbone, n: int, splits: int, seed: int, source: dict) -> dict:
    """What every number in evaluation.json depends on."""
    return {
        "backbone": {
            "name": backbone.name,
            "weights": backbone.weights_path,
            "weights_sha256": backbone.weights_sha256,
            "feature_dim": backbone.feature_dim,
            "num_classes": backbone.num_classes,
            "resize": backbone.resize,
            "device": str(backbone.device),
        },
        "n": n,
        "splits": splits,
        "seed": seed,
        "source": source,
        "scores_on": "RGB channels (the focus channel is measured separately)",
        "versions": versions(),
        "command": command_line(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }


def versions() -> dict[str, str]:
    out = {"focusgan": __version__, "python": platform.python_version()}
    for pkg in ("torch", "torch-fidelity", "numpy", "scipy", "h5py", "efficientnet-lite-pytorch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def evaluate_samples(
    samples: str | os.PathLike,
    data: str | os.PathLike | None,
    backbone: str | Backbone,
    *,
    n: int | None = PUBLISHED_N,
    splits: int = PUBLISHED_SPLITS,
    seed: int = 0,
    **kwargs: Any,
) -> Evaluation:
    """Evaluate (the first `n` of) a samples file written by `focusgan sample`."""
    info = read_info(samples)
    count = info.size if n is None else min(n, info.size)
    images = load_rows(samples, np.arange(count))
    bb = get_backbone(backbone)
    result = evaluate_images(images, data, bb, splits=splits, seed=seed, **kwargs)
    src = {
        "kind": "samples",
        "path": str(samples),
        "sha256": sha256_file(samples),
        "made_by": info.command,
        "extra": info.extra,
    }
    if n is not None and info.size < n:
        result.notes.insert(0, f"{samples} holds {info.size} samples, fewer than n={n}")
    return _finish(result, bb, count, splits, seed, src)


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None,
    backbone: str | Backbone,
    *,
    checkpoint: str | None = None,
    ema: bool = True,
    bn: str = "batch",
    device: str | torch.device | None = None,
    **kwargs: Any,
) -> Evaluation:
    """Evaluate fresh samples of a run's generator (EMA or raw; BN batch or running stats), or
    of a generator file from `focusgan export` given as `run_dir`; `kwargs` as
    `evaluate_generator_samples`."""
    from focusgan.training.rundir import load_generator
    from focusgan.training.sample import BN_STATS_NOTE

    dev = resolve_device(device)
    G, cfg, step = load_generator(run_dir, checkpoint, ema=ema, device=dev, bn=bn)
    if "pairs" in kwargs.get("metrics", METRICS) and cfg.channels == 4:
        kwargs["initial"] = step0_generator(cfg, bn, dev)  # the generated-pairs floor
    if data is None:
        data = run_data_path(run_dir, getattr(cfg, "data", ""))
    exported = Path(run_dir).is_file()  # a generator from `focusgan export`
    source = {
        "run": str(run_dir),
        "checkpoint": "exported generator" if exported else checkpoint or "latest",
        **({"sha256": sha256_file(run_dir)} if exported else {}),
        "step": step,
        "generator": "ema" if ema else "raw",
        **({"bn_statistics": BN_STATS_NOTE} if ema and bn == "running" else {}),
    }
    bb = get_backbone(backbone, device=dev)
    min_class = kwargs.pop("min_class_samples", PER_CLASS_MIN_SAMPLES)
    result = evaluate_generator_samples(G, data, bb, source, bn=bn, **kwargs)
    if G.num_classes:
        result.per_class, note = per_class_scores(
            G,
            load_labels(data, cfg.labels or None),
            data,
            bb,
            n=kwargs.get("n", PUBLISHED_N),
            splits=kwargs.get("splits", PUBLISHED_SPLITS),
            seed=kwargs.get("seed", 0),
            bn=bn,
            metrics=kwargs.get("metrics", METRICS),
            min_samples=min_class,
            batch_size=kwargs.get("batch_size"),
        )
        result.notes.append(note)
    return result


def step0_generator(cfg: TrainConfig, bn: str, device: str | torch.device) -> torch.nn.Module:
    """The run's step-0 generator, ready to sample with `bn` as the trained EMA generator is:
    for `running`, its running statistics are recomputed over its own samples (they were never
    updated: mean 0, variance 1), as `load_generator` recomputes the EMA generator's."""
    from focusgan.training.loop import initial_generator
    from focusgan.training.sample import recompute_bn_statistics

    G0 = initial_generator(cfg).to(resolve_device(device))
    if bn == "running":
        recompute_bn_statistics(G0)
    return G0


def per_class_scores(
    G: torch.nn.Module,
    labels: Any,
    data: str | os.PathLike,
    backbone: Backbone,
    *,
    n: int,
    splits: int,
    seed: int,
    bn: str = "batch",
    metrics: tuple[str, ...] = METRICS,
    min_samples: int = PER_CLASS_MIN_SAMPLES,
    batch_size: int | None = None,
) -> tuple[dict[str, dict[str, Any]], str]:
    """IS, FID and KID of a class-conditional generator's samples of each class against the
    training data of that class, for the classes with at least `min_samples` training samples:
    min(n, the class's samples) of each (the same number of real and generated), seeded.
    Returns {label: {"name", "n", "data_samples", "is/<bb>", ...}} and a note saying how many."""
    from focusgan.training.sample import generate

    counts = labels.counts()
    out: dict[str, dict[str, Any]] = {}
    wanted = tuple(m for m in metrics if m in ("is", "fid", "kid"))
    for k in np.argsort(-counts, kind="stable"):
        if counts[k] < min_samples or not wanted:
            continue
        m = int(min(n, counts[k]))
        rows = np.flatnonzero(labels.index == k)
        rows = np.sort(np.random.default_rng([seed, int(k)]).permutation(rows)[:m])
        feats, probs = extract(generate(G, m, seed=seed, bn=bn, cls=int(k)), backbone, batch_size)
        rf, rp = extract(load_rows(data, rows), backbone, batch_size)
        ref = Reference(str(data), "", backbone.name, m, seed, rf, rp, feature_stats(rf), "")
        scores, _, _ = score_features(feats, probs, ref, backbone.name, wanted, splits, seed)
        name = labels.names[k]
        out[labels.classes[k]] = {"name": name, "n": m, "data_samples": int(counts[k]), **scores}
    note = (
        f"per-class scores for the {len(out)} of {labels.num_classes} classes with at least "
        f"{min_samples} training samples (min(n, class samples) real and generated samples each)"
    )
    return out, note


def evaluate_generator_samples(
    G: torch.nn.Module,
    data: str | os.PathLike,
    backbone: str | Backbone,
    source: dict[str, Any],
    *,
    bn: str = "batch",
    n: int = PUBLISHED_N,
    splits: int = PUBLISHED_SPLITS,
    seed: int = 0,
    sample_batch: int = 256,
    progress: bool = False,
    initial: torch.nn.Module | None = None,
    background: str | None = None,
    **kwargs: Any,
) -> Evaluation:
    """Evaluate `n` samples of generator G (latents seeded with `seed`) against `data`;
    `source` says which generator it is (run, step, ...) for the provenance. `initial` (the
    run's step-0 generator, `step0_generator`) is the floor of the generated-pairs measure
    (metric `pairs`). `background` (black, mean, noise) replaces the samples' backgrounds
    before scoring, as a foreground-only copy of the data has them (a common reference)."""
    from focusgan.prepare.background import replace_background
    from focusgan.training.sample import generate

    t0 = time.perf_counter()
    images = generate(G, n, batch_size=sample_batch, seed=seed, bn=bn)
    floor = None
    if initial is not None and "pairs" in kwargs.get("metrics", METRICS):
        floor = generate(initial, min(n, GENERATED_PAIRS_N), seed=seed, bn=bn)
    if background is not None:
        images = replace_background(images, background)
        floor = None if floor is None else replace_background(floor, background)
    gen_s = time.perf_counter() - t0
    bb = get_backbone(backbone)
    result = evaluate_images(
        images, data, bb, splits=splits, seed=seed, progress=progress, initial=floor, **kwargs
    )
    source = {
        "kind": "run",
        **source,
        "bn": bn,
        "z_seed": seed,
        "channels": G.channels,
        "resolution": G.resolution,
        "data": str(data),
        "sampling_seconds": round(gen_s, 2),
        **({"background": background} if background is not None else {}),
    }
    return _finish(result, bb, n, splits, seed, source)


def _generated_pairs(images, data, floor, seg_cfg, seed, progress):
    """The generated-pairs measure of (the first GENERATED_PAIRS_N of) 4-channel `images`."""
    from focusgan.metrics.generated_pairs import (
        FOREGROUND_ONLY_NOTE,
        foreground_only,
        generated_pairs,
    )

    info = read_info(data)
    if info.channels != 4:
        return None, [f"{data} has no focus channel: the generated-pairs measure is skipped"]
    if foreground_only(info.extra):
        return None, ["generated pairs: " + FOREGROUND_ONLY_NOTE.format(info.extra["background"])]
    cfg = dataclasses.replace(seg_cfg or SegmenterConfig(), seed=seed)
    try:
        pairs = generated_pairs(images[:GENERATED_PAIRS_N], data, floor, cfg, progress)
    except UserError as e:  # too few samples or groups: the other scores still stand
        return None, [f"generated pairs: not measured: {e}"]
    notes = []
    if floor is None:
        notes.append(
            "generated pairs: no step-0 generator given, so no floor; the trivial baselines "
            "(all foreground, mean mask) stand for masks without object information"
        )
    if pairs.n < SEGMENTER_MIN_TRAIN:
        notes.append(
            f"generated pairs: each segmenter learned from only {pairs.n} pairs "
            f"(< {SEGMENTER_MIN_TRAIN}) and is tested on {pairs.n_heldout} real pairs; "
            "weak evidence"
        )
    return pairs, notes


def run_data_path(run_dir: str | os.PathLike, recorded: str) -> Path:
    """The dataset a run trained on, as its config records it (absolute or relative)."""
    if recorded:
        for candidate in (
            Path(recorded),
            Path(run_dir) / recorded,
            Path(run_dir).parent / recorded,
        ):
            if candidate.is_file():
                return candidate
    raise UserError(
        f"cannot find the dataset of run {run_dir} (config says {recorded!r}): pass --data FILE"
    )


def evaluate_generator(
    G: torch.nn.Module,
    data: str | os.PathLike,
    n: int,
    backbone: str | Backbone = "inception",
    *,
    splits: int = 1,
    seed: int = 0,
    bn: str = "batch",
    batch_size: int | None = None,
    metrics: tuple[str, ...] = ("is", "fid", "kid", "focus"),
    ref_n: int | None = None,
) -> dict[str, float]:
    """In-training evaluation: a flat dict of floats (`is/<backbone>`, `fid/<backbone>`, ...,
    `focus/<measure>`) for `n` seeded samples of G. The backbone and the reference statistics
    are loaded once per process and cached, so repeated calls cost only the new samples."""
    from focusgan.training.sample import generate

    device = next(G.parameters()).device
    bb = get_backbone(backbone, device=device)
    images = generate(G, n, batch_size=128, seed=seed, bn=bn)
    result = evaluate_images(
        images,
        data,
        bb,
        metrics=metrics,
        splits=min(splits, n),
        seed=seed,
        ref_n=ref_n,
        batch_size=batch_size,
    )
    out = dict(result.scores)
    focus = result.focus or {}
    for k, v in focus.get("distance", {}).items():
        out[f"focus/{k}"] = v
    for k in ("fg_fraction_mean", "binarity", "components_mean", "border_fg_mean"):
        if k in focus.get("generated", {}):
            out[f"focus/{k}"] = focus["generated"][k]
    if "consistency" in focus:
        out["focus/segmenter_iou"] = focus["consistency"]["generated_iou"]
    return {k: float(v) for k, v in out.items()}


@dataclass
class InTrainingEvaluation:
    """`train`'s `evaluate` callback (`--eval-every`): `n` seeded samples of the EMA generator
    scored against the training data with a backbone loaded once, before training starts."""

    data: str
    n: int
    backbone: Backbone
    seed: int = 0
    metrics: tuple[str, ...] = ("is", "fid", "kid")

    def __call__(self, G: torch.nn.Module, step: int) -> dict[str, float]:
        return evaluate_generator(
            G, self.data, self.n, self.backbone, seed=self.seed, metrics=self.metrics
        )


def in_training_evaluation(
    cfg: TrainConfig, weights: str | os.PathLike | None = None
) -> InTrainingEvaluation | None:
    """The evaluation a training config asks for (None without `eval_every`); loading the
    backbone now fails at once, not hours into training, when its weights are missing."""
    if not cfg.eval_every:
        return None
    channels = for_data(cfg, read_info(cfg.data)).channels
    return InTrainingEvaluation(
        cfg.data,
        cfg.eval_n,
        get_backbone(cfg.eval_backbone, weights, cfg.device),
        cfg.seed,
        ("is", "fid", "kid", "focus") if channels == 4 else ("is", "fid", "kid"),
    )
