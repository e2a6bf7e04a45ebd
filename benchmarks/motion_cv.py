"""Leave-one-sequence-out cross-validation of the motion segmenter's settings on DAVIS.

Run: .venv/bin/python benchmarks/motion_cv.py [--davis ../shared/data/davis] [--set NAME ...]

Every candidate setting (`CANDIDATES`: label -> changes from `session2()`) segments every
development sequence exactly as `focusgan segment` does (`focusgan.video.bench.segment_sequence`:
shots, pieces of at most 60 frames, the frames' own size); J (and F) per sequence are kept in
`benchmarks/motion_cv_scores.json`, with the pieces they were measured on (a score stored
without them was measured on the whole sequence, as this harness did before 2026-12-05); a stored
score counts only when its pieces are the ones `segment` uses now (else it is measured again, or,
for a retired candidate, it leaves the pool)
(in the repository: the tables and the cross-validation are recomputed from it without
segmenting anything; `--set NAME --rerun` measures a candidate again after a code change), so
candidates are added and compared cheaply. Candidates that lost and whose code was removed
(`RETIRED`) keep their scores there and stay in the pool (`POOL`, declared before the scores were
seen) where those scores were measured on the pieces `segment` uses now.
Cross-validation: for each sequence, the candidate with the best mean J on the *other*
sequences is chosen and scored on the held-out one; the CV mean is the mean of those
held-out scores, i.e. a figure from data that played no part in the choice made for it. The
table also lists each candidate's mean over all sequences: those figures are development
figures (every sequence took part in choosing), never held-out results.

Optical flow and SLIC superpixels do not depend on most settings and are the expensive part:
both are cached on disk (under `--cache`, default /tmp/focusgan-motion-cv), keyed by the hash
of their input, so a candidate that changes only later stages costs the voting and refinement.
Runs on one thread (OMP_NUM_THREADS=1, OpenCV one thread): the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import focusgan.video.saliency as saliency_module  # noqa: E402
import focusgan.video.segment as segment_module  # noqa: E402
from focusgan.video.bench import segment_sequence  # noqa: E402
from focusgan.video.davis import (  # noqa: E402
    davis_paths,
    davis_sequences,
    read_annotations,
    sequence_scores,
)
from focusgan.video.io import iter_frames  # noqa: E402
from focusgan.video.segment import CHUNK, SegmentParams  # noqa: E402
from focusgan.video.shots import iter_pieces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
cv2.setNumThreads(1)


def session2() -> SegmentParams:
    """The defaults before issue #10 (session 2), from which every candidate is one change:
    probability 0.5 is the edge, the motion saliency is the camera residual alone."""
    p = SegmentParams(threads=1, decision="fixed", refine="guided")
    p.saliency.inside, p.voting.normalise = "off", "frame"
    p.features.weight, p.refine_colour = 0.0, False
    p.smooth_labels = False
    p.saliency.components = 0.0  # every region scaled by the frame's strongest motion
    p.features.prior = 0.0  # no cross-video prior (`PRIORS`, benchmarks/motion_prior.py)
    # defaults changed since (session 8), which every stored score was measured with unless its
    # candidate sets them: uNLC's blob damping, the network on 512-px frames; and (session 9)
    # the skipped frames' posterior linear in time and the saliency's edge band at 0.125
    p.blobs, p.features.side, p.features.between = 0.6, 512, "linear"
    p.saliency.border = 0.125
    return p


def changed(**kw) -> SegmentParams:
    """`session2()` with `a__b=v` meaning p.a.b = v."""
    p = session2()
    for k, v in kw.items():
        obj = p
        *path, name = k.split("__")
        for part in path:
            obj = getattr(obj, part)
        if not hasattr(obj, name):
            raise AttributeError(f"no setting {k}")
        setattr(obj, name, v)
    return p


# The defaults of session 3, those with the ImageNet-feature model and the colour guide
# (session 4), the global smoother (lambda 60, then 120), the defaults before issue #18's regions
# (FINAL), those before the cross-video prior (REGIONS; "current defaults" in the labels below)
# and the current defaults (PRIOR: measured only by benchmarks/motion_prior.py, with each
# sequence's prior trained without it; the shipped prior saw all 8 sequences' motion masks),
# from which the later candidates change one thing.
SESSION3 = {"decision": "otsu", "saliency__inside": "mean", "voting__normalise": "shot"}
FEATURES = {**SESSION3, "features__weight": 0.5}
SESSION4 = {**FEATURES, "refine_colour": True}
FGS = {**SESSION4, "refine": "fgs", "fgs_lambda": 60.0}
SESSION5 = {**FGS, "fgs_lambda": 120.0}
FINAL = {**SESSION5, "smooth_labels": True}
REGIONS = {**FINAL, "saliency__components": 1.5}  # the defaults before the cross-video prior
PRIOR = {
    **REGIONS,
    "features__prior": 0.5,
    "features__weight": 0.65,
    "features__priors": ("motion", "coco"),
    "blobs": 0.3,
    "features__side": 640,
}  # current

# label -> settings. Each row is one idea measured against the session-2 defaults (RESULTS.md);
# the defaults before the cross-video prior were "session-5 defaults + smoothed labels, regions
# above 1.5x floor scaled by their own peak" (before issue #18's regions: "session-5 defaults +
# smoothed labels for the feature model"); SegmentParams() adds the prior (`PRIORS`).
CANDIDATES: dict[str, dict] = {
    "session-2 defaults": {},
    "decision otsu": {"decision": "otsu"},
    "vote threshold 0.4": {"threshold": 0.4},
    "vote threshold 0.3": {"threshold": 0.3},
    "border band 0.05": {"saliency__border": 0.05},
    "border band 0": {"saliency__border": 0.0},
    "flows at gaps 1, 2": {"saliency__radius": 2},
    "flows at gaps 1, 2, 3, 4": {"saliency__radius": 4},
    "flows at gaps 2, 4": {"saliency__radius": 4, "saliency__gap": 2},
    "colour model 3 iterations": {"colour_iterations": 3},
    "30 voting iterations": {"voting__iterations": 30},
    "otsu + vote threshold 0.4": {"decision": "otsu", "threshold": 0.4},
    "otsu + vote threshold 0.6": {"decision": "otsu", "threshold": 0.6},
    "otsu + colour 3 iterations": {"decision": "otsu", "colour_iterations": 3},
    "otsu + 30 voting iterations": {"decision": "otsu", "voting__iterations": 30},
    "otsu + border band 0.05": {"decision": "otsu", "saliency__border": 0.05},
    "otsu + colour weight 0.7": {"decision": "otsu", "colour_weight": 0.7},
    "otsu + no colour model": {"decision": "otsu", "colour_weight": 0.0},
    "inside-outside x saliency": {"saliency__inside": "multiply"},
    "inside-outside as saliency": {"saliency__inside": "replace"},
    "otsu + inside-outside x saliency": {"decision": "otsu", "saliency__inside": "multiply"},
    "otsu + inside-outside as saliency": {"decision": "otsu", "saliency__inside": "replace"},
    "otsu + mean of saliency and inside-outside": {"decision": "otsu", "saliency__inside": "mean"},
    "otsu + saliency halved outside": {"decision": "otsu", "saliency__inside": "halve"},
    "otsu + mean inside-outside + vote 0.6": {
        "decision": "otsu",
        "saliency__inside": "mean",
        "threshold": 0.6,
    },
    "otsu + mean inside-outside + border 0.05": {
        "decision": "otsu",
        "saliency__inside": "mean",
        "saliency__border": 0.05,
    },
    "mean of saliency and inside-outside": {"saliency__inside": "mean"},
    "saliency halved outside": {"saliency__inside": "halve"},
    "otsu + mean inside-outside + votes per shot": SESSION3,
    "otsu + mean inside-outside + votes per shot + ImageNet features": FEATURES,
    "otsu + mean inside-outside + votes per shot + ImageNet features, every frame": {
        **FEATURES,
        "features__every": 1,
    },
    "otsu + mean inside-outside + votes per shot + ImageNet features, every 3rd frame": {
        **FEATURES,
        "features__every": 3,
    },
    "otsu + mean inside-outside + votes per shot + ImageNet features at 384 px": {
        **FEATURES,
        "features__side": 384,
    },
    "otsu + mean inside-outside + votes per shot + ImageNet features, blocks 2, 4, 10": {
        **FEATURES,
        "features__blocks": (2, 4, 10),
    },
    "otsu + mean inside-outside + votes per shot + ImageNet features, colour guide": {
        **FEATURES,
        "refine_colour": True,
    },
    "session-4 defaults + global smoother at the working size": FGS,
    "session-4 defaults + global smoother, lambda 30": {**FGS, "fgs_lambda": 30.0},
    "session-4 defaults + global smoother, lambda 120": SESSION5,
    "session-4 defaults + global smoother, lambda 240": {**FGS, "fgs_lambda": 240.0},
    "session-4 defaults + global smoother, sigma 4": {**FGS, "fgs_sigma": 4.0},
    "session-4 defaults + global smoother, sigma 16": {**FGS, "fgs_sigma": 16.0},
    "session-5 defaults + smoothed labels for the feature model": FINAL,
    "session-5 defaults + smoothed labels, working side 192": {**FINAL, "work_side": 192},
    "session-5 defaults + smoothed labels, working side 320": {**FINAL, "work_side": 320},
    "flow farneback": {"saliency__flow": "farneback"},
    "otsu + flow farneback": {"decision": "otsu", "saliency__flow": "farneback"},
    "otsu + vote 0.6 + flow farneback": {
        "decision": "otsu",
        "threshold": 0.6,
        "saliency__flow": "farneback",
    },
    # issue #18's quality work (declared 2026-12-05 04:52 UTC, before measuring): a camera model
    # that allows parallax: the residual of a homography (a plane seen by a moving camera) and
    # the epipolar residual (a rigid scene at any depth: the distance of each pixel's flow from
    # the epipolar line of a RANSAC fundamental matrix, kept only where the affine model also
    # fails to explain it)
    "session-5 defaults + smoothed labels, homography camera": {
        **FINAL,
        "saliency__camera": "homography",
    },
    "session-5 defaults + smoothed labels, epipolar residual": {
        **FINAL,
        "saliency__camera": "epipolar",
    },
    # added to the pool 2026-12-05 04:56 UTC, before measuring them: saliency saturated at a few
    # times the motion floor (a slow second object counts beside a fast one: the generated
    # two-object video of tests/test_video.py loses its slow object at the current defaults)
    "session-5 defaults + smoothed labels, saliency saturated at 2x floor": {
        **FINAL,
        "saliency__saturate": 2.0,
    },
    "session-5 defaults + smoothed labels, saliency saturated at 3x floor": {
        **FINAL,
        "saliency__saturate": 3.0,
    },
    "session-5 defaults + smoothed labels, saliency saturated at 6x floor": {
        **FINAL,
        "saliency__saturate": 6.0,
    },
    "session-5 defaults + smoothed labels, saliency saturated at 3x floor, no blob damping": {
        **FINAL,
        "saliency__saturate": 3.0,
        "blobs": 0.0,
    },
    # added 2026-12-05 05:14 UTC, before measuring them (after seeing the 3x candidate's
    # scores: it lost car-shadow and kite-surf): the residual alone saturated, and 4x
    "session-5 defaults + smoothed labels, residual (not boundaries) saturated at 3x floor": {
        **FINAL,
        "saliency__saturate": 3.0,
        "saliency__saturate_edges": False,
    },
    "session-5 defaults + smoothed labels, saliency saturated at 4x floor": {
        **FINAL,
        "saliency__saturate": 4.0,
    },
    # added 2026-12-05 05:56 UTC, before measuring them: each connected region whose residual
    # exceeds 1 or 1.5 x the motion floor (and covers 0.2% of the frame) scaled by its own peak,
    # not the frame's (a slow second object counts; spray or a shadow joined to the object keeps
    # its share of the object's peak, unlike the saturated saliency above)
    "session-5 defaults + smoothed labels, regions above 1x floor scaled by their own peak": {
        **FINAL,
        "saliency__components": 1.0,
    },
    "session-5 defaults + smoothed labels, regions above 1.5x floor scaled by their own peak": REGIONS,
    # issue #18, declared 2026-12-05 07:39 UTC, before measuring any (constants chosen on two
    # frames' maps of kite-surf and breakdance, no DAVIS score): the saliency weighted by how
    # well the flow explains the frame's appearance (`SaliencyParams.explained` = k):
    # exp(-warp error / (k x (local std + 4))), the better of the previous and next flows;
    # spray redrawn each frame leaves an error ~1.1 std, a body the flow follows ~0.3 std (k 0.5:
    # weight ~0.1 vs ~0.55; k 0.25 sharper; a third, never below half, and a fourth are in
    # `RETIRED`). All lost the mean; the weight is `segment --explained`, off by default
    "current defaults + saliency weighted by the flow-explained appearance, k 0.5": {
        **REGIONS,
        "saliency__explained": 0.5,
    },
    "current defaults + saliency weighted by the flow-explained appearance, k 0.25": {
        **REGIONS,
        "saliency__explained": 0.25,
    },
    # issue #18, cast shadows (declared 2026-12-05 07:42 UTC, before measuring any of them;
    # thresholds from Cucchiara et al. 2003 / Sanin et al. 2012 and a look at horsejump-high,
    # car-shadow, cows and drift-straight frames, no score): a pixel darker than its background
    # (the median of the frames +-4, +-8 aligned by the chained camera models) by a factor in
    # [0.4, 0.9] with its chromaticity (hue within 96 degrees, saturation at most 0.16 higher)
    # is a cast shadow and carries no motion saliency: cleared from the camera residual only,
    # from the residual and the inside-outside map, the latter where the background's texture
    # also shows through (grey-level correlation >= 0.5 over 5x5 pixels), and that with the
    # background from the frames +-6, +-12 (slow objects: cows, car-shadow)
    # (all four lost on the mean, 70.1-71.1 against 71.2; the first is retired below, the
    # last is `segment --shadows`, off by default)
    "current defaults + cast shadows cleared from the residual and inside-outside map": {
        **REGIONS,
        "saliency__shadow": True,
        "saliency__shadow_texture": 0.0,
        "saliency__shadow_frames": (4, 8),
    },
    "current defaults + cast shadows (texture shows through) cleared from both maps": {
        **REGIONS,
        "saliency__shadow": True,
        "saliency__shadow_frames": (4, 8),
    },
    "current defaults + cast shadows (texture shows through, frames +-6, +-12) cleared": {
        **REGIONS,
        "saliency__shadow": True,
    },
}


# Candidates that `benchmarks/motion_prior.py` measures (not `SegmentParams` settings: each
# sequence is segmented with a prior trained without it). Issue #18, declared 2026-12-05
# 07:56 UTC before any was measured (chosen by reasoning, no DAVIS score seen): a cross-video
# prior P(object | ImageNet features), one logistic regression on the 152 features fitted to the
# feature model's labels (the motion masks, never the ground truth) of the 7 other development
# sequences, each sequence's object and background weights summing to 1/7 per side; for
# sequence s the prior trained without s (leave-one-sequence-out). "factor w2": the final
# probability (prob^(1-w) x shot posterior^w)^(1-w2) x prior^w2; "on the labels a": the shot
# model fitted to labels^(1-a) x prior^a instead of its labels ("only lowering": the smaller of
# that and the labels, so the prior can remove spray or a shadow but never add).
def product_prior(settings: dict) -> dict:
    """A `PRIORS` candidate as shipped: the motion and COCO priors' product in the shot model's
    labels at 0.5 (the package's code), on `session2()` with `REGIONS` and `settings`."""
    return {"labels": 0.5, "priors": {"motion": 1, "coco": 1}, "settings": settings}


# the settings shipped in session 9 on top of `session2()`'s base (the prior's are the entries'
# "labels" 0.5 and "priors" motion x coco)
SHIPPED_9 = {
    "features__weight": 0.65,
    "blobs": 0.3,
    "features__side": 640,
    "features__between": "flow",
}
SHIPPED_9_3 = {**SHIPPED_9, "features__side": 768, "saliency__border": 0.0625}  # after batch 3
PRIORS = {
    "current defaults + cross-video prior as a third factor, weight 0.25": {"factor": 0.25},
    "current defaults + cross-video prior on the feature model's labels, 0.5": {"labels": 0.5},
    "current defaults + cross-video prior on the labels, 0.5, and as a factor, 0.25": {
        "labels": 0.5,
        "factor": 0.25,
    },
    "current defaults + cross-video prior on the labels, 0.5, only lowering them": {
        "labels": 0.5,
        "lower": True,
    },
    # Issue #18, declared 2026-12-05 08:17 UTC before any was measured (by reasoning, no DAVIS
    # score of a COCO prior seen): the same regression trained on tiny-COCO's 100 photos and
    # their true instance masks (object: the union of an image's instances, crowd regions
    # included; `motion_prior.coco_rows`), never on DAVIS: one prior serves all 8 sequences and
    # each of its DAVIS scores is held out with respect to it. "priors": the prior in the labels
    # is the product of these priors, each to its exponent ("motion": the fold's motion prior
    # above; default {"motion": 1}). Instead of the motion prior at 0.5 and at 0.75 (clean
    # labels: spray and shadows are background in every photo, so it may be trusted more);
    # with the motion prior, as their geometric mean (their errors differ: photos vs video
    # frames) or their product (object only where both say so: spray flips further).
    "current defaults + COCO prior on the labels, 0.5": {"labels": 0.5, "priors": {"coco": 1}},
    "current defaults + COCO prior on the labels, 0.75": {"labels": 0.75, "priors": {"coco": 1}},
    "current defaults + motion and COCO priors' geometric mean on the labels, 0.5": {
        "labels": 0.5,
        "priors": {"motion": 0.5, "coco": 0.5},
    },
    "current defaults + motion and COCO priors' product on the labels, 0.5": {
        "labels": 0.5,
        "priors": {"motion": 1, "coco": 1},
    },
    # Issue #18, session 8, declared 2026-12-05 10:25 UTC before any was measured (by reasoning
    # and a look at the shipped masks of kite-surf, breakdance, horsejump-high and cows, no score
    # of them seen): the shipped defaults (`PRIOR`, the product above, the fold's motion prior)
    # plus one change ("settings": SegmentParams changes as in `CANDIDATES`). The product also as
    # a final factor (the motion prior's factor raised cows, dog and drift-straight); the feature
    # posterior trusted more now that its labels are cleaner (0.65, was chosen at 0.5 before the
    # priors); the shot model fitted a second time, to its own first result's labels (spray the
    # priors flipped in the labels is further out of the second fit's); the masks snapped to the
    # image's edges on a 512-px frame, not the 256-px working frame (cows' legs and breakdance's
    # limbs are 1-4 working pixels wide).
    "shipped defaults + the priors' product also as a final factor, 0.25": {
        "labels": 0.5,
        "priors": {"motion": 1, "coco": 1},
        "factor": 0.25,
    },
    "shipped defaults + feature posterior weight 0.65": product_prior({"features__weight": 0.65}),
    # declared 10:28 UTC, AFTER seeing the four above (76.72, 76.88, 76.05, 75.10 against the
    # shipped 75.53): the feature posterior's weight further (0.8), with the product as a final
    # factor, and the priors' weight in the labels at 0.65, alone and with the posterior at 0.65
    "shipped defaults + feature posterior weight 0.8": product_prior({"features__weight": 0.8}),
    "shipped defaults + feature posterior weight 0.65 + the priors' product as a factor, 0.25": {
        "labels": 0.5,
        "priors": {"motion": 1, "coco": 1},
        "factor": 0.25,
        "settings": {"features__weight": 0.65},
    },
    "shipped defaults + the priors' product in the labels at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
    },
    "shipped defaults + the priors' product in the labels at 0.65, feature posterior weight 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
        "settings": {"features__weight": 0.65},
    },
    # declared 10:35 UTC, after seeing all the above (and breakdance's bystanders): the feature
    # posterior's weight fades with the distance from the frame's labelled object
    # (`FeatureParams.reach` R: x exp(-(d / (R sqrt(area)))^2)), so a still look-alike far from
    # the moving object stays out while still parts joined to it (a head, legs) come in and
    # spray on it goes: R 0.5 and 1 with the priors and posterior at 0.65, R 0.5 at 0.8
    # declared 10:36 UTC, after seeing all the above: the COCO prior trained on the 100 photos
    # at longer sides 384, 512 and 640 and mirrored ("coco-aug", `motion_prior.coco_rows`;
    # DAVIS objects come at many sizes; 100 photos are few), in the product instead of the
    # plain COCO prior, at the shipped weights and with the priors and posterior at 0.65
    "shipped defaults, COCO prior from the photos at 3 sizes and mirrored": {
        "labels": 0.5,
        "priors": {"motion": 1, "coco-aug": 1},
    },
    "shipped defaults, COCO prior from the photos at 3 sizes and mirrored, priors and posterior at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco-aug": 1},
        "settings": {"features__weight": 0.65},
    },
    # declared 10:38 UTC, after seeing all the above: on the priors and posterior at 0.65, the
    # colour model off (it pulls in bystanders dressed like the object, which the feature model
    # now tells apart better), and the shot model's L2 penalty 10x larger or smaller (chosen at
    # 1e-3 before the priors cleaned its labels)
    "shipped defaults + no colour model, priors and posterior at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
        "settings": {"features__weight": 0.65, "colour_weight": 0.0},
    },
    "shipped defaults + shot model L2 1e-2, priors and posterior at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
        "settings": {"features__weight": 0.65, "features__l2": 1e-2},
    },
    "shipped defaults + shot model L2 1e-4, priors and posterior at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
        "settings": {"features__weight": 0.65, "features__l2": 1e-4},
    },
    # declared 11:04 UTC, after all the above: the shot model's L2 penalty between (3e-4) and at
    # 1e-4 on the shipped setting (the priors at 0.5, the posterior at 0.65), and 3e-4 with the
    # priors at 0.65 (1e-4 gave kite-surf 58.2 but lowered dog and cows)
    "shipped (posterior 0.65) + shot model L2 3e-4": product_prior(
        {"features__weight": 0.65, "features__l2": 3e-4}
    ),
    "shipped (posterior 0.65) + shot model L2 1e-4": product_prior(
        {"features__weight": 0.65, "features__l2": 1e-4}
    ),
    "shipped (posterior 0.65) + shot model L2 3e-4, priors at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
        "settings": {"features__weight": 0.65, "features__l2": 3e-4},
    },
    # declared 11:20 UTC, after all the above, and after looking at the two-object test's slow
    # object frame by frame: the stronger settings lose it only in the shot's first one or two
    # frames (flow on one side), and there wholly, because its blob falls under 0.6 x the fast
    # object's and `damp_small_blobs` (uNLC) pushes it out. Blobs damped below 0.3 x the largest
    # instead, on the shipped setting, with the priors at 0.65, and with L2 3e-4
    "shipped (posterior 0.65) + blobs below 0.3 x the largest damped": product_prior(
        {"features__weight": 0.65, "blobs": 0.3}
    ),
    "shipped (posterior 0.65) + blobs below 0.3 x the largest damped, priors at 0.65": {
        "labels": 0.65,
        "priors": {"motion": 1, "coco": 1},
        "settings": {"features__weight": 0.65, "blobs": 0.3},
    },
    "shipped (posterior 0.65) + blobs below 0.3 x the largest damped, shot model L2 3e-4": product_prior(
        {"features__weight": 0.65, "blobs": 0.3, "features__l2": 3e-4}
    ),
    # declared 11:37 UTC, after all the above, on the shipped setting (posterior 0.65, blobs 0.3):
    # the network on every frame, not every second one (+0.4 in session 4, before the priors),
    # and on a 640-px frame, not 512 (thin parts span more cells), each costing network time
    "shipped (posterior 0.65, blobs 0.3) + the network on every frame": product_prior(
        {"features__weight": 0.65, "blobs": 0.3, "features__every": 1}
    ),
    "shipped (posterior 0.65, blobs 0.3) + the network on a 640-px frame": product_prior(
        {"features__weight": 0.65, "blobs": 0.3, "features__side": 640}
    ),
    # session 9, declared 12:55 UTC, after seeing all the above: on the shipped setting, the
    # posterior of the frames the network skips made from its two sampled neighbours warped onto
    # the frame along the saliency's optical flow (`FeatureParams.between`), instead of linear in
    # time (the network on every frame gained 0.65 J at 512 px: breakdance's fast limbs), and the
    # same warped only where the flow is forward-backward consistent
    "shipped (640 px) + the skipped frames' posterior warped along the flow": product_prior(
        SHIPPED_9
    ),
    # declared 13:02 UTC, after seeing the two above (the warped posterior, 77.93, now shipped),
    # the warp chained neighbour to neighbour (same masks at every second frame): the network on
    # every third frame (less network time), on 768-px frames every third frame (about the
    # shipped network time: thin parts span more cells), and on 768-px frames every second one
    # (1.44 x the network time)
    "shipped (warped posterior) + the network on every third frame": product_prior(
        {**SHIPPED_9, "features__every": 3}
    ),
    "shipped (warped posterior) + the network on 768-px frames, every third": product_prior(
        {**SHIPPED_9, "features__side": 768, "features__every": 3}
    ),
    "shipped (warped posterior) + the network on 768-px frames": product_prior(
        {**SHIPPED_9, "features__side": 768}
    ),
    # declared 13:11 UTC, after seeing all the above, on the shipped setting (warped, 768 px):
    # the masks' edges snapped by the fast global smoother at the working size and then by the
    # fast guided filter at the output size (detail finer than the 256-px working frame, for F),
    # and the band where the saliency is cleared at the frame's edge halved (0.125 -> 0.0625 of
    # the shorter side: breakdance's legs reaching the top edge are missed; the posterior, not
    # the motion, now fills most of the object)
    "shipped (768 px, warped) + the saliency's edge band halved": product_prior(
        {**SHIPPED_9, "features__side": 768, "saliency__border": 0.0625}
    ),
    # declared 13:19 UTC, after seeing all the above, on the shipped setting (warped, 768 px, the
    # band halved): settings chosen when the motion alone made the mask, which the posterior now
    # mostly makes: no temporal mean of the motion probabilities over +-1 frame (unaligned, it
    # blurs fast parts; the warped posterior carries time now), the posterior at 0.75 (the
    # 768-px network's posterior may earn more say; at 512 px 0.8 let breakdance's bystanders
    # in), and no edge band at all
    "shipped (768 px, warped, band halved) + no temporal mean of the motion probabilities": product_prior(
        {**SHIPPED_9_3, "smooth": 0}
    ),
    "shipped (768 px, warped, band halved) + posterior weight 0.75": product_prior(
        {**SHIPPED_9_3, "features__weight": 0.75}
    ),
    "shipped (768 px, warped) + no edge band": product_prior(
        {**SHIPPED_9_3, "saliency__border": 0.0}
    ),
    # declared 14:13 UTC, after seeing all the above and looking at drift-straight's masks (the
    # car's dark windows and lettering missed, its shadow and smoke taken): on the shipped
    # setting, holes in each frame's foreground smaller than 0.1 x its area filled
    # (`SegmentParams.holes`), and the cast-shadow test on (`--shadows`, -0.1 before the
    # feature model)
    "shipped (768 px, warped, band halved) + cast shadows cleared": product_prior(
        {**SHIPPED_9_3, "saliency__shadow": True}
    ),
}


# Sweeps of a number (the rest are method changes, alone or two combined): choosing among
# everything is `--compare` unset; `--structural` leaves these out (RESULTS.md gives both).
SWEEPS = {
    "shipped (768 px, warped, band halved) + posterior weight 0.75",
    "shipped (768 px, warped) + no edge band",
    "shipped (768 px, warped) + the saliency's edge band halved",
    "shipped (warped posterior) + the network on every third frame",
    "shipped (warped posterior) + the network on 768-px frames, every third",
    "shipped (warped posterior) + the network on 768-px frames",
    "shipped (posterior 0.65, blobs 0.3) + the network on a 640-px frame",
    "shipped (posterior 0.65) + blobs below 0.3 x the largest damped",
    "shipped (posterior 0.65) + blobs below 0.3 x the largest damped, priors at 0.65",
    "shipped (posterior 0.65) + blobs below 0.3 x the largest damped, shot model L2 3e-4",
    "shipped (posterior 0.65) + shot model L2 3e-4",
    "shipped (posterior 0.65) + shot model L2 1e-4",
    "shipped (posterior 0.65) + shot model L2 3e-4, priors at 0.65",
    "shipped defaults + the priors relative to their median on the labelled object",
    "shipped defaults + shot model L2 1e-2, priors and posterior at 0.65",
    "shipped defaults + shot model L2 1e-4, priors and posterior at 0.65",
    "shipped defaults + posterior faded beyond 1 object size, priors and posterior at 0.65",
    "shipped defaults + posterior faded beyond 0.5 object sizes, posterior at 0.8",
    "shipped defaults + the shot model sees each cell's place, feature posterior weight 0.8",
    "shipped defaults + unmoved blobs damped, feature posterior weight 0.8",
    "shipped defaults + feature posterior weight 0.8",
    "shipped defaults + the priors' product in the labels at 0.65",
    "shipped defaults + feature posterior weight 0.65",
    "current defaults + dense CRF instead of fgs at twice the working side",
    "current defaults + dense CRF instead of fgs, bilateral weight 5",
    "current defaults + saliency weighted by the flow-explained appearance, k 0.25",
    "current defaults + saliency weighted by the flow-explained appearance, k 0.25, at most halved",
    "current defaults + cast shadows (texture shows through, frames +-6, +-12) cleared",
    "session-5 defaults + smoothed labels, regions above 1.5x floor scaled by their own peak",
    "session-5 defaults + smoothed labels, saliency saturated at 4x floor",
    "session-5 defaults + smoothed labels, saliency saturated at 2x floor",
    "session-5 defaults + smoothed labels, saliency saturated at 6x floor",
    "session-5 defaults + smoothed labels, working side 192",
    "session-5 defaults + smoothed labels, working side 320",
    "session-4 defaults + global smoother, lambda 30",
    "session-4 defaults + global smoother, lambda 120",
    "session-4 defaults + global smoother, lambda 240",
    "session-4 defaults + global smoother, sigma 4",
    "session-4 defaults + global smoother, sigma 16",
    "otsu + mean inside-outside + votes per shot + ImageNet features, every frame",
    "otsu + mean inside-outside + votes per shot + ImageNet features, every 3rd frame",
    "otsu + mean inside-outside + votes per shot + ImageNet features at 384 px",
    "vote threshold 0.4",
    "vote threshold 0.3",
    "border band 0.05",
    "border band 0",
    "30 voting iterations",
    "otsu + vote threshold 0.4",
    "otsu + vote threshold 0.6",
    "otsu + 30 voting iterations",
    "otsu + border band 0.05",
    "otsu + colour weight 0.7",
    "otsu + vote 0.6 + flow farneback",
    "otsu + mean inside-outside + vote 0.6",
    "otsu + mean inside-outside + border 0.05",
    # the confident-label band of the feature model's labels other than 0.25 (retired)
    "current defaults + feature model on labels beyond 0.5 +- 0.4, background 3 cells away",
    "current defaults + feature model on labels beyond 0.5 +- 0.1, background 2 cells away",
}


# Candidates that lost and whose code was removed after: their scores (in the scores file) stay
# in the pool the cross-validation chooses from, since they were tried; they cannot be rerun.
RETIRED = {
    "session-4 defaults + objectness 0.5",
    "session-4 defaults + objectness 0.5, also in the labels",
    "session-4 defaults + objectness 0.25",
    "session-4 defaults + objectness 0.25, also in the labels",
    "session-5 defaults + flow consistency, hard",
    "session-5 defaults + flow consistency, soft",
    # better on DAVIS (71.5, 71.6) but 10 J worse on a development generated video (seed 2)
    "session-5 defaults + smoothed motion probabilities",
    "session-5 defaults + smoothed motion probabilities and labels",
    # earlier sessions: the defaults of session 2 under their old label, session 3's GrabCut-like
    # re-estimation, and session 4's prototypes of the feature model ("proto ...": the network
    # on the working frame enlarged, RESULTS.md)
    "defaults",
    "grabcut 1",
    "proto clf b10",
    "proto graph b10",
    "proto graph+clf b10",
    "proto clf BLOCK=7",
    "proto clf BLOCK=14",
    "proto clf BLOCK=4",
    "proto clf UP=1",
    "proto clf ALPHA=0.7",
    "proto clf ALPHA=0.3",
    "proto clf BLOCKS=4,10",
    "proto clf UP=3",
    "proto clf EVERY=2",
    "proto clf UP=1.5",
    "proto clf EVERY=3",
    "proto clf SP=1",
    "proto clf FITMOTION=1",
    "proto clf BLOCKS=4,10 EVERY=2",
    "proto clf ROUNDS=2 BLOCKS=4,10 EVERY=2",
    "proto clf HIDDEN=32 BLOCKS=4,10 EVERY=2",
    "proto clf LAM=1e-2 BLOCKS=4,10 EVERY=2",
    "proto clf before colour",
    # issue #18, declared 2026-12-05 06:08 and 06:10 UTC before measuring (on today's pieces, so
    # in the pool): temporal consistency along DIS flow at the working size (`final_warp`,
    # `warp_smooth`, `warp_consistent` of commit 34598bb): the final probabilities averaged with
    # the +-1 neighbours warped onto each frame; step 6's mean warped instead; the first with
    # the neighbours counted only where the flow is forward-backward consistent (Sundaram 2010)
    "current defaults + final probabilities averaged along the flow over +-1 frames",
    "current defaults + the motion probabilities' temporal mean along the flow",
    "current defaults + final probabilities averaged along consistent flow over +-1 frames",
    # issue #18, declared 2026-12-05 06:15 (two) and 06:17 UTC (one, after seeing the two)
    # before measuring: the feature model fitted only on labels beyond 0.5 +- band, background
    # only 2 or 3 feature cells (stride 8) or more from any label above 0.5
    # (`FeatureParams.band`, `gap` of commit 3336075)
    "current defaults + feature model on labels beyond 0.5 +- 0.25, background 2 cells away",
    "current defaults + feature model on labels beyond 0.5 +- 0.4, background 3 cells away",
    "current defaults + feature model on labels beyond 0.5 +- 0.1, background 2 cells away",
    # issue #18, declared 2026-12-05 07:41 UTC before measuring any of them (on today's pieces,
    # so in the pool): the last stage's refinement by a dense CRF (Kraehenbuehl & Koltun 2011,
    # pydensecrf; `dense_crf`, `refine="crf"` / `"fgs+crf"` of commit 58e78bb; the README's
    # kernels: Gaussian sxy 3 compat 3, bilateral sxy 40 on the 256-px frame, srgb 13,
    # compat 10; unary probabilities clipped to [0.05, 0.95]; 3 mean-field iterations) instead
    # of the global smoother, after it, at twice the working side, and with bilateral compat 5
    "current defaults + dense CRF instead of fgs at the working size",
    "current defaults + dense CRF after fgs at the working size",
    "current defaults + dense CRF instead of fgs at twice the working side",
    "current defaults + dense CRF instead of fgs, bilateral weight 5",
    # issue #18, declared 07:39 (the first) and 07:51 UTC (the second, after seeing the first
    # three flow-explained candidates) before measuring: the flow-explained weight never below
    # half (`explained_floor` 0.5), and with each saliency region above 0.1 rescaled to its own
    # unweighted peak (`explained_regions` 0.1, `keep_region_peaks`; commit 9d89f2c)
    "current defaults + saliency weighted by the flow-explained appearance, k 0.25, at most halved",
    "current defaults + saliency weighted by the flow-explained appearance, k 0.25, region peaks kept",
    # issue #18, declared 2026-12-05 07:42 UTC before measuring (on today's pieces, so in the
    # pool): cast shadows cleared from the camera residual only, not the inside-outside map
    # (`SaliencyParams.shadow="residual"` of commit 768e631)
    "current defaults + cast shadows cleared from the residual",
    # issue #18, session 8: declared 10:30 UTC (the first four) and 10:32 UTC (the last three),
    # after seeing the candidates declared before them, measured with the fold's motion prior
    # (`motion_prior.py`). Final foreground blobs that hold no pixel of the motion probability
    # above its shot edge pushed below 0.5 (`SegmentParams.anchored`, `damp_unmoved`; commit
    # c9a4833): equal to the same settings without it to the last digit, the bystanders' blobs
    # join the dancer's. The shot model seeing each cell's u^2, v^2 against the frame's labelled
    # object (`FeatureParams.location`, FST's location model; commit
    # 859440e): 67.8-71.4,
    # breakdance, horsejump-high and dog lose 6-20 (blob-shaped posteriors)
    "shipped defaults + unmoved blobs damped",
    "shipped defaults + unmoved blobs damped, feature posterior weight 0.65",
    "shipped defaults + unmoved blobs damped, feature posterior weight 0.8",
    "shipped defaults + unmoved blobs damped, priors at 0.65, feature posterior weight 0.65",
    "shipped defaults + the shot model sees each cell's place against the object",
    "shipped defaults + the shot model sees each cell's place, feature posterior weight 0.8",
    "shipped defaults + the shot model sees each cell's place, priors and posterior at 0.65",
    # issue #18, session 8 (declared 10:25 and 10:35 UTC, measured with the fold's motion prior;
    # none shipped, code removed): the shot model fitted a second time to its own result
    # (`FeatureParams.rounds`, 76.05) and the masks snapped on a 512-px frame (`fgs_side`, 75.10;
    # dog -4.4), commit 6daf3ff; the posterior's weight faded beyond 0.5 or 1 object sizes from
    # the labelled object (`FeatureParams.reach`, 76.85-77.10; breakdance +2.6 at weight 0.8, but
    # cows, dog and horsejump-high lower), commit f879eef
    "shipped defaults + the shot model fitted twice",
    "shipped defaults + masks snapped on a 512-px frame",
    "shipped defaults + posterior faded beyond 0.5 object sizes, priors and posterior at 0.65",
    "shipped defaults + posterior faded beyond 1 object size, priors and posterior at 0.65",
    "shipped defaults + posterior faded beyond 0.5 object sizes, posterior at 0.8",
    # issue #18, session 8, declared 10:49 UTC after the shipped choice lost 5.6 J on the
    # held-out generated seeds 9900-9905 (their random-texture objects, which the priors call
    # background, lose their labels): the priors' product divided by its quantile q over the
    # shot's labelled object, at most 1 (`FeatureParams.within`, commit e88fdd4): 71.1-74.5, kite-surf
    # 52 -> 18-33 (its spray is most of its labelled object: only an absolute veto removes it)
    "shipped defaults + the priors relative to their 0.9-quantile on the labelled object",
    "shipped defaults + the priors relative to their median on the labelled object",
    "shipped defaults + the priors relative to their 0.9-quantile, priors and posterior at 0.5",
    # issue #18, session 8, declared 11:02 UTC: the priors' product divided by its 0.9-quantile
    # over the labelled object where that is below 0.2 (`FeatureParams.unknown`, commit befb757):
    # equal to their twins without it on DAVIS (no shot below 0.2) and on the two-object test,
    # whose slow object's product is 0.31-0.39 (the fast one's 0.56-0.59): not unknown, only
    # weaker, and the priors at 0.65 still drop it
    "600-view COCO prior, priors and posterior at 0.65, priors rescaled where no part is known",
    "priors and posterior at 0.65, priors rescaled where no part is known",
    # issue #18, session 9 (declared 12:55 and 13:11 UTC, measured with the fold's motion prior;
    # not shipped, code removed, commit b44f2dd): the skipped frames' posterior warped only where
    # the flow is forward-backward consistent (`FeatureParams.between="flow-checked"`, 77.74
    # against 77.93 warped everywhere), and the guided filter at the output size after the
    # global smoother (`refine="fgs+guided"`, 77.87 and F 69.3 against 78.32 and 71.6)
    "shipped (640 px) + the skipped frames' posterior warped along consistent flow",
    "shipped (768 px, warped) + the guided filter at the output size after the smoother",
    # issue #18, session 9 (declared 14:13 UTC; not shipped, code removed, commit 85245da): holes
    # in each frame's foreground under 0.1 x its area filled (`SegmentParams.holes`): 78.94,
    # all of it drift-straight's windows (+2.8); breakdance -0.5 and horsejump-high -0.3 (the
    # gaps between limbs), and those folds lose with it
    "shipped (768 px, warped, band halved) + holes under 0.1 x the foreground filled",
}


# The pool the cross-validation chooses from, declared on 2026-12-05 at 04:52 UTC, before any
# score of the new instrument (shots and pieces, as `segment`) was seen (issue #18): every
# candidate of `CANDIDATES` (all re-measured where the pieces changed: breakdance and cows, the
# two sequences longer than 60 frames; no development sequence has a detected cut), the two
# candidates of issue #18's quality work below (six more were added at 04:56 and 05:14 UTC,
# two at 05:56, two at 06:08, one at 06:10, two at 06:15, one at 06:17, three at 07:39, four at
# 07:41, four (cast shadows) at 07:42, one at 07:51, four (`PRIORS`) at 07:56 and four (`PRIORS`,
# the COCO prior) at 08:17 UTC, and, in session 8, 36 in `PRIORS` between 10:25 and 11:38 UTC
# (the times are in the comments above them, and which earlier scores each batch had seen), each
# before it was measured), and the
# retired candidates only where all their stored scores were measured on today's pieces (the
# three flow-warp candidates of 06:08-06:10, the three confident-label ones of 06:15-06:17, and
# the retired dense-CRF, flow-explained and cast-shadow ones of 07:39-07:51; none of the older
# ones: their code is gone, they cannot be re-measured, and breakdance and cows changed). The
# headline is the leave-one-sequence-out mean over this whole pool; `--structural` and
# `--compare` are secondary views.
POOL = [*CANDIDATES, *PRIORS, *sorted(RETIRED)]


class DiskCache:
    """Content-addressed cache of the flow and SLIC results (numpy arrays) under a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def key(self, *parts) -> str:
        h = hashlib.sha1()
        for part in parts:
            h.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
        return h.hexdigest()

    def get(self, key: str, make):
        path = self.folder / key[:2] / f"{key}.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
        value = make()
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, value)
        tmp.replace(path)
        return value


def install_cache(cache: DiskCache) -> None:
    """Route the segmenter's optical flow and SLIC through the disk cache."""
    flow, slic_sequence = saliency_module.optical_flow, segment_module.slic_sequence

    def cached_flow(a, b, method="dis-fast"):
        key = cache.key("flow", a, b, method)
        return cache.get(key, lambda: flow(a, b, method).astype(np.float16)).astype(np.float32)

    def cached_slic(frames, threads=1, **kwargs):
        out = []
        for f in frames:
            key = cache.key("slic", f, sorted(kwargs.items()))
            out.append(cache.get(key, lambda f=f: slic_sequence(f[None], 1, **kwargs)[0]))
        return out

    saliency_module.optical_flow = cached_flow
    segment_module.slic_sequence = cached_slic


def score(davis: Path, name: str, params: SegmentParams, frames: list) -> dict:
    """J, F and seconds of one candidate on one sequence, segmented as `segment` does; the
    pieces (start, end) it was segmented in."""
    frames_dir, ann_dir = davis_paths(davis, name)
    gt = read_annotations(ann_dir)
    t = time.perf_counter()
    seg = segment_sequence(frames_dir, params, CHUNK, frames=frames)
    seconds = time.perf_counter() - t
    s = sequence_scores(seg.masks > 0.5, gt)
    return {"J": s["J"], "F": s["F"], "seconds": seconds, "pieces": [list(x) for x in seg.pieces]}


def users_pieces(frames: list) -> list[list[int]]:
    """The pieces `segment` cuts a sequence into (shots, then at most `CHUNK` frames): they
    depend on the frames only, not on the candidate."""
    out, start = [], 0
    for piece in iter_pieces(frames, CHUNK):
        out.append([start, start + len(piece)])
        start += len(piece)
    return out


def valid(entry: dict | None, pieces: list[list[int]]) -> bool:
    """A stored score counts when it was measured on the pieces `segment` uses now (a score
    without pieces was measured on the whole sequence)."""
    if entry is None:
        return False
    n = pieces[-1][1]
    return entry.get("pieces", [[0, n]]) == pieces


def loso(table: dict[str, dict[str, dict]], names: list[str], labels: list[str]) -> dict:
    """For each held-out sequence: the label with the best mean J over the others, its J/F there."""
    out = {}
    for held in names:
        rest = [n for n in names if n != held]
        best = max(labels, key=lambda c: np.mean([table[c][n]["J"] for n in rest]))
        out[held] = {"chosen": best, "J": table[best][held]["J"], "F": table[best][held]["F"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/focusgan-motion-cv"))
    ap.add_argument(
        "--scores",
        type=Path,
        default=ROOT / "benchmarks" / "motion_cv_scores.json",
        help="J and F of every candidate on every sequence (kept in the repository)",
    )
    ap.add_argument("--set", nargs="+", default=None, help="candidates to (re)run (default all)")
    ap.add_argument("--compare", nargs="+", default=None, help="candidates the CV chooses among")
    ap.add_argument("--rerun", action="store_true", help="ignore cached scores of --set")
    ap.add_argument(
        "--structural", action="store_true", help="choose among the candidates that are no sweep"
    )
    args = ap.parse_args()
    cache = DiskCache(args.cache / "arrays")
    install_cache(cache)
    results_path = args.scores
    table = json.loads(results_path.read_text()) if results_path.exists() else {}
    names = davis_sequences(args.davis)
    frames = {n: list(iter_frames(davis_paths(args.davis, n)[0])) for n in names}
    pieces = {n: users_pieces(frames[n]) for n in names}
    for label in args.set or list(CANDIDATES):
        if label in PRIORS:
            raise SystemExit(f"{label!r} is measured by benchmarks/motion_prior.py")
        params = changed(**CANDIDATES[label])
        row = {} if args.rerun else table.get(label, {})
        missing = [name for name in names if not valid(row.get(name), pieces[name])]
        if not missing:
            continue
        for name in missing:
            row[name] = score(args.davis, name, params, frames[name])
            print(f"  {label:<40} {name:<16} J {100 * row[name]['J']:5.1f}", flush=True)
        table[label] = row
        tmp = results_path.with_suffix(".tmp")  # an interrupted write leaves the old table
        tmp.write_text(json.dumps(table, indent=1))
        tmp.replace(results_path)
    measured = [c for c in table if all(valid(table[c].get(n), pieces[n]) for n in names)]
    labels = [c for c in (args.compare or POOL) if c in measured]
    if args.compare is None and set(labels) != set(POOL):
        print(f"not yet measured as `segment` runs: {sorted(set(POOL) - set(labels))}")
    if args.structural:
        labels = [c for c in labels if c not in SWEEPS]
    width = max(len(c) for c in labels)
    print(f"{'candidate':<{width}} " + " ".join(f"{n[:8]:>8}" for n in names) + "  mean J  mean F")
    for c in labels:
        js = [100 * table[c][n]["J"] for n in names]
        f = 100 * np.mean([table[c][n]["F"] for n in names])
        print(
            f"{c:<{width}} " + " ".join(f"{j:8.1f}" for j in js) + f"  {np.mean(js):6.1f}  {f:6.1f}"
        )
    cv = loso(table, names, labels)
    print("leave-one-sequence-out (setting chosen on the other 7, scored on the held-out one):")
    for n in names:
        print(
            f"  {n:<16} J {100 * cv[n]['J']:5.1f}  F {100 * cv[n]['F']:5.1f}  ({cv[n]['chosen']})"
        )
    print(
        f"  CV mean J {100 * np.mean([cv[n]['J'] for n in names]):.1f}, "
        f"F {100 * np.mean([cv[n]['F'] for n in names]):.1f} over {len(names)} sequences, "
        f"choosing among {len(labels)} candidates"
    )


if __name__ == "__main__":
    main()
