"""A cross-video prior P(object | ImageNet features), trained on the segmenter's own motion
masks (never the ground truth), measured leave-one-sequence-out on DAVIS (issue #18).

Run: .venv/bin/python benchmarks/motion_prior.py [--davis ../shared/data/davis] [--set LABEL ...]

The per-shot feature model (`video/features.py`) learns what *this* shot's moving object looks
like from the shot's own labels (its probabilities with their Otsu edge at 0.5, smoothed); what
moves with the object (spray, a cast shadow) is learnt as object. The prior is one logistic
regression on the same 152 features (EfficientNet-Lite0 blocks 4 and 10, stride 8 of a 512-px
frame, L2-normalised as `fit_posterior` does, plus a bias), fitted by `newton_logistic` to the
labels of many shots: rows beyond 0.5 +- 0.025, weighted by their distance from 0.5, each
sequence's object and background weights summing to 1 / (number of sequences) per side, so no
video and neither class dominates; L2 penalty `FeatureParams.l2`.

1. Capture: every development sequence is segmented with the defaults before the prior
   (`motion_cv.REGIONS`, `FeatureParams.prior` 0), exactly as
   `segment` does (`motion_cv.score`: shots, pieces); a wrapper around `segment.with_features`
   keeps each piece's sampled feature maps and the labels the shot model is fitted to, brought
   to the feature grid as `with_features` does (cached under --cache).
2. For each sequence s, the prior is trained on the other 7 sequences' captured labels.
3. Each candidate (`motion_cv.PRIORS`) segments s with s's prior and its J/F are stored in
   benchmarks/motion_cv_scores.json with the pieces, as `motion_cv.py` stores them: the score
   on s is held out by construction, and the candidate enters motion_cv's pool (its LOSO picks
   among all candidates on the other 7 sequences' scores, as for any other). The prior in the
   labels runs through the package's code (`features.prior_labels`, with `prior_weights`
   replaced by the fold's); the final factor and the lowering-only variant are this script's.
4. `--save src/focusgan/video/motion_prior.npy` writes the prior trained on all 8 sequences
   (the shipped one; retraining gives the same bits).

The COCO prior (`PRIORS` with "priors"): the same regression fitted to tiny-COCO's 100 photos
and their true instance masks (`coco_rows`), never to DAVIS, so one prior serves every sequence
and every DAVIS score of it is held out with respect to it; "priors" {"motion": a, "coco": b}
puts the product P_motion^a x P_coco^b (the motion prior the fold's) in the labels (this
script's hook); `--save-coco PATH` writes it.

The feature maps are cached on disk (they depend on the frames only); flow and SLIC use
motion_cv's cache. One thread, as motion_cv.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

import focusgan.video.features as features_module  # noqa: E402
import focusgan.video.segment as segment_module  # noqa: E402
import motion_cv  # noqa: E402
from focusgan.video.davis import davis_paths, davis_sequences  # noqa: E402
from focusgan.video.features import (  # noqa: E402
    FeatureParams,
    feature_rows,
    newton_logistic,
    prior_probability,
    sampled_frames,
    spread_in_time,
)
from focusgan.video.io import iter_frames  # noqa: E402

cv2.setNumThreads(1)
AUG_SIDES = (384, 512, 640)  # the COCO photos' longer sides for the "coco-aug" prior
ORIGINAL_WITH_FEATURES = segment_module.with_features
ORIGINAL_PRIOR_LABELS = features_module.prior_labels


class Hook:
    """Wraps `segment.with_features`: records the labels (capture) or applies the prior in the
    ways the package does not (as a final factor; lowering the labels only); the prior in the
    labels is the package's (`FeatureParams.prior`, with `features.prior_weights` replaced by
    the fold's prior), timed here too."""

    def __init__(self) -> None:
        self.captured: list[tuple[np.ndarray, np.ndarray]] = []
        self.capture = False
        self.sources: tuple[str, ...] = ("motion",)  # the priors whose product is applied
        self.labels = 0.0  # exponent of the prior in the shot model's labels (lowering only)
        self.lower = False  # the labels only lowered by the prior
        self.priors: dict[str, np.ndarray] = {}  # several priors' weights (the product's)
        self.exponents: dict[str, float] = {}  # each prior's exponent in that product
        self.factor = 0.0  # exponent of the prior in the final probability
        self.seconds = 0.0  # time spent on the prior
        self.frames = 0

    def __call__(self, frames, prob, p: FeatureParams, fit_to=None, maps=None, flows=None):
        t, h, w = prob.shape
        idx = sampled_frames(t, p)
        _, fh, fw, c = maps.shape
        fit_to = prob if fit_to is None else fit_to
        self.frames += t
        if self.capture:
            target = np.stack(
                [cv2.resize(fit_to[i], (fw, fh), interpolation=cv2.INTER_AREA) for i in idx]
            )
            self.captured.append((maps.reshape(-1, c).astype(np.float16), target.ravel()))
            return ORIGINAL_WITH_FEATURES(frames, prob, p, fit_to, maps, flows)
        if not (self.factor > 0 or self.lower or self.exponents):
            return ORIGINAL_WITH_FEATURES(frames, prob, p, fit_to, maps, flows)
        start = time.perf_counter()
        if self.exponents:  # the product of several priors, each to its exponent, in the labels
            prior = spread_in_time(self.product(maps, self.exponents), idx, t, h, w)
            fit_to = fit_to.clip(0, 1) ** (1 - self.labels) * prior**self.labels
            self.seconds += time.perf_counter() - start
            return ORIGINAL_WITH_FEATURES(frames, prob, p, fit_to, maps, flows)
        prior = self.product(maps, dict.fromkeys(self.sources, 1))
        prior = spread_in_time(prior, idx, t, h, w)
        if self.lower:
            mixed = fit_to.clip(0, 1) ** (1 - self.labels) * prior**self.labels
            fit_to = np.minimum(fit_to, mixed)
        self.seconds += time.perf_counter() - start
        out = ORIGINAL_WITH_FEATURES(frames, prob, p, fit_to, maps, flows)
        if self.factor > 0:
            start = time.perf_counter()
            out = (out ** (1 - self.factor) * prior**self.factor).astype(np.float32)
            self.seconds += time.perf_counter() - start
        return out

    def product(self, maps: np.ndarray, exponents: dict[str, float]) -> np.ndarray:
        """The priors' product P_1^e_1 x P_2^e_2 ... on the sampled frames' maps (T, h, w, C)."""
        prior = np.ones(maps.shape[:3], np.float32)
        for source, e in exponents.items():
            q = prior_probability(self.priors[source], maps)
            prior *= q if e == 1 else q**e
        return prior

    def timed_labels(self, *args, **kwargs):
        """`features.prior_labels`, timed."""
        start = time.perf_counter()
        out = ORIGINAL_PRIOR_LABELS(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        return out


def cached_maps(cache: motion_cv.DiskCache):
    """`start_feature_maps` through the disk cache (the maps depend on the frames only)."""

    def start(frames: np.ndarray, p: FeatureParams) -> Future:
        sampled = frames[sampled_frames(len(frames), p)]
        key = cache.key("featuremaps-opencv-dnn", sampled, p.side, p.blocks)
        job: Future = Future()
        job.set_result(cache.get(key, lambda: features_module.feature_maps(sampled, p)))
        return job

    return start


def train_prior(rows: list[tuple[np.ndarray, np.ndarray]], p: FeatureParams) -> np.ndarray:
    """theta (C + 1,) of the prior fitted to several sequences' (features, labels): rows beyond
    0.5 +- 0.025, at most `p.fit_rows` evenly spread per sequence, weighted by the distance
    from 0.5, each sequence's two sides summing to 1 / len(rows) each."""
    xs, ys, ws = [], [], []
    for x, label in rows:
        keep = np.zeros(len(label), bool)
        keep[:: max(1, -(-len(label) // p.fit_rows))] = True
        pos, neg = np.clip(label - 0.5, 0, None), np.clip(0.5 - label, 0, None)
        kp, kn = keep & (pos > 0.025), keep & (neg > 0.025)
        if not (kp.any() and kn.any()):
            continue
        xs += [x[kp], x[kn]]
        ys += [np.ones(int(kp.sum())), np.zeros(int(kn.sum()))]
        ws += [pos[kp] / pos[kp].sum() / len(rows), neg[kn] / neg[kn].sum() / len(rows)]
    x = feature_rows(np.concatenate(xs).astype(np.float32))
    return newton_logistic(x, np.concatenate(ys), np.concatenate(ws), p.l2)


def coco_rows(
    root: Path,
    p: FeatureParams,
    cache: motion_cv.DiskCache,
    splits=("train2017", "val2017"),
    sides: tuple[int, ...] = (),
    mirror: bool = False,
):
    """Each tiny-COCO photo's (features (N, C) float16, labels (N,)): `feature_maps` of the photo
    (512 px), and the union of its instance masks (crowd regions included: they are people or
    vehicles too, only not outlined one by one; as background they would teach that a crowd of
    people is not an object) brought to the feature grid with INTER_AREA, the fraction of each
    cell inside an object. Photos in file-name order; the maps are cached. `sides`: each photo
    at these longer sides (default `p.side`), `mirror`: and mirrored, each a photo of its own
    (objects at other sizes and facing the other way)."""
    from focusgan.prepare.coco import load_coco

    rows = []
    for split in splits:
        coco = load_coco(root / "annotations" / f"instances_{split}.json")
        for image_id in sorted(coco.getImgIds(), key=lambda i: coco.imgs[i]["file_name"]):
            info = coco.imgs[image_id]
            rgb = cv2.cvtColor(cv2.imread(str(root / split / info["file_name"])), cv2.COLOR_BGR2RGB)
            objects = np.zeros(rgb.shape[:2], np.float32)
            for ann in coco.imgToAnns[image_id]:
                objects = np.maximum(objects, coco.annToMask(ann))
            for side in sides or (p.side,):
                q = replace(p, side=side)
                for image, mask in [(rgb, objects)] + [(rgb[:, ::-1], objects[:, ::-1])] * mirror:
                    image = np.ascontiguousarray(image)
                    key = cache.key("featuremaps-opencv-dnn-photo", image, q.side, q.blocks)
                    maps = cache.get(
                        key, lambda x=image, q=q: features_module.feature_maps(x[None], q)
                    )[0]
                    fh, fw, c = maps.shape
                    y = cv2.resize(
                        np.ascontiguousarray(mask), (fw, fh), interpolation=cv2.INTER_AREA
                    )
                    rows.append((maps.reshape(-1, c).astype(np.float16), y.ravel()))
    return rows


def capture(names, frames, davis, hook, cache_dir: Path) -> dict[str, tuple]:
    """Each sequence's (features (N, C) float16, labels (N,)) over all its pieces, cached."""
    out = {}
    for name in names:
        path = cache_dir / f"{name}.npz"
        if not path.exists():
            hook.captured, hook.capture = [], True
            row = motion_cv.score(davis, name, motion_cv.changed(**motion_cv.REGIONS), frames[name])
            hook.capture = False
            print(f"  captured {name}: J {100 * row['J']:.1f} (current defaults)", flush=True)
            x = np.concatenate([c[0] for c in hook.captured])
            y = np.concatenate([c[1] for c in hook.captured])
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, x=x, y=y)
            tmp.replace(path)
        with np.load(path, allow_pickle=False) as f:
            out[name] = (f["x"], f["y"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/focusgan-motion-cv"))
    ap.add_argument("--scores", type=Path, default=ROOT / "benchmarks" / "motion_cv_scores.json")
    ap.add_argument("--set", nargs="+", default=None, help="candidates (default all PRIORS)")
    ap.add_argument("--rerun", action="store_true", help="ignore stored scores of --set")
    ap.add_argument("--save", type=Path, default=None, help="write the prior of all sequences")
    ap.add_argument("--coco", type=Path, default=ROOT.parent / "shared" / "data" / "tiny_coco")
    ap.add_argument("--save-coco", type=Path, default=None, help="write the COCO prior")
    args = ap.parse_args()
    cache = motion_cv.DiskCache(args.cache / "arrays")
    motion_cv.install_cache(cache)
    segment_module.start_feature_maps = cached_maps(cache)
    hook = Hook()
    segment_module.with_features = hook
    features_module.prior_labels = hook.timed_labels
    names = davis_sequences(args.davis)
    frames = {n: list(iter_frames(davis_paths(args.davis, n)[0])) for n in names}
    pieces = {n: motion_cv.users_pieces(frames[n]) for n in names}
    capture_dir = args.cache / "prior-labels"
    capture_dir.mkdir(parents=True, exist_ok=True)
    data = capture(names, frames, args.davis, hook, capture_dir)
    p = FeatureParams(side=512)  # the priors' features: of 512-px frames, as they were trained
    thetas = {}
    for held in names:
        thetas[held] = train_prior([data[n] for n in names if n != held], p)
        # the prior's separation of the held-out sequence's own (motion) labels
        x, y = data[held]
        s = 1 / (1 + np.exp(-(feature_rows(x) @ thetas[held].astype(np.float32))))
        print(
            f"  prior without {held:<16} mean P on its labels > 0.5: {s[y > 0.5].mean():.2f},"
            f" < 0.5: {s[y < 0.5].mean():.2f}",
            flush=True,
        )
    if args.save:
        theta = train_prior([data[n] for n in names], p)
        np.save(args.save, theta.astype(np.float32))
        print(f"saved the prior of all {len(names)} sequences to {args.save}")
    coco = coco_rows(args.coco, p, cache)
    theta_coco = train_prior(coco, p)  # one prior for every sequence: it never saw DAVIS
    # the same photos at three sizes and mirrored (`PRIORS` "coco-aug")
    aug = coco_rows(args.coco, p, cache, sides=AUG_SIDES, mirror=True)
    theta_aug = train_prior(aug, p)
    # a check on COCO itself: trained on the 50 train photos, separation on the 50 val ones
    half = train_prior(coco_rows(args.coco, p, cache, ("train2017",)), p)
    x, y = map(np.concatenate, zip(*coco_rows(args.coco, p, cache, ("val2017",)), strict=True))
    s = 1 / (1 + np.exp(-(feature_rows(x) @ half.astype(np.float32))))
    print(
        f"  COCO prior of the train photos on the val photos: mean P on cells > 0.5 object"
        f" {s[y > 0.5].mean():.2f}, < 0.5: {s[y < 0.5].mean():.2f}",
        flush=True,
    )
    for held in names:  # and on each sequence's motion labels
        x, y = data[held]
        s = 1 / (1 + np.exp(-(feature_rows(x) @ theta_coco.astype(np.float32))))
        print(
            f"  COCO prior on {held:<16} labels > 0.5: {s[y > 0.5].mean():.2f}, < 0.5: {s[y < 0.5].mean():.2f}"
        )
    if args.save_coco:
        np.save(args.save_coco, theta_coco.astype(np.float32))
        print(f"saved the COCO prior of {len(coco)} photos to {args.save_coco}")
    table = json.loads(args.scores.read_text()) if args.scores.exists() else {}
    for label in args.set or list(motion_cv.PRIORS):
        spec = motion_cv.PRIORS[label]
        row = {} if args.rerun else table.get(label, {})
        hook.labels, hook.factor = spec.get("labels", 0.0), spec.get("factor", 0.0)
        hook.lower = spec.get("lower", False)
        exponents = spec.get("priors", {"motion": 1})
        unit = all(e == 1 for e in exponents.values())  # a plain product: the package's code
        hook.exponents = {} if unit else exponents
        hook.sources = tuple(exponents) if unit else ("motion",)
        hook.seconds, hook.frames = 0.0, 0
        # the package's prior in the labels (unless only lowering them: the hook's)
        package = not (hook.lower or hook.exponents)
        settings = {
            **motion_cv.REGIONS,
            **spec.get("settings", {}),
            "features__prior": hook.labels if package else 0.0,
            "features__priors": tuple(exponents) if unit else ("motion",),
        }
        for name in names:
            if motion_cv.valid(row.get(name), pieces[name]):
                continue
            hook.priors = {"motion": thetas[name], "coco": theta_coco, "coco-aug": theta_aug}
            features_module.prior_weights = lambda name, priors=hook.priors: priors[name]
            params = motion_cv.changed(**settings)
            row[name] = motion_cv.score(args.davis, name, params, frames[name])
            print(f"  {label:<40} {name:<16} J {100 * row[name]['J']:5.1f}", flush=True)
            table[label] = row
            tmp = args.scores.with_suffix(".tmp")
            tmp.write_text(json.dumps(table, indent=1))
            tmp.replace(args.scores)
        if hook.frames:
            print(f"  the prior's cost: {1000 * hook.seconds / hook.frames:.2f} ms per frame")
        js = [100 * row[n]["J"] for n in names]
        f = 100 * np.mean([row[n]["F"] for n in names])
        print(f"{label}: " + " ".join(f"{j:.1f}" for j in js) + f"  J {np.mean(js):.2f} F {f:.2f}")


if __name__ == "__main__":
    main()
