"""The whole per-shot segmenter: RGB frames in, one soft foreground mask per frame out.

Steps (timed separately, see `Segmentation.timings`):
1. shrink the frames so the longer side is `work_side` (superpixels, voting) and `flow_side`
   (optical flow, saliency; 256 whatever the working size);
2. motion saliency from the flows to the previous and the next frame (`saliency`: the minimum
   of the two camera-motion residuals, which drops the uncovered-background halo, each averaged
   with FST's inside-outside map of the residual flow's motion boundaries, which fills objects
   whose inside moves little and favours closed shapes over spray and shadows; each region that
   clearly moves is scaled by its own peak, so a slow object beside a fast one counts;
   optionally, `saliency.explained`, weighted by how well the flow explains each pixel's look,
   which drops spray redrawn each frame but also blurred, spinning limbs: off by default);
3. SLIC superpixels (2 iterations: the votes, not the superpixel edges, limit the masks, and the
   guided filter snaps the edges at the end);
4. region descriptors, the sparse k-NN graph and 10 iterations of consensus voting (`voting`;
   J no longer changes after about 10, see benchmarks/RESULTS.md), the votes rescaled to a
   maximum of 1 over the shot, not per frame as uNLC: a frame where nothing moves keeps low
   votes and an empty mask (rescaled per frame, its noise became an object: generated shots
   whose object enters late lost up to 55 J);
5. votes become probabilities: vote `threshold` -> 0.5 (default 0.5, i.e. half of the frame's
   strongest region; uNLC's binTh is 0.4; 0 picks Otsu's threshold over the shot's votes);
6. a temporal mean over +-`smooth` frames, so a mask that drops out for a frame is carried by
   its neighbours;
7. a per-shot colour model (`appearance`): the weighted geometric mean of the motion
   probability and P(object | Lab colour) (exponents 1 - w and w), fitted to the shot's own
   probabilities, which pulls in object parts that move little and pushes out background that
   moved with the object; w is `colour_weight` lowered to 1 - the overlap of the object's and
   the background's colour distributions, so colour counts as much as it separates;
   then a per-shot appearance model on ImageNet features (`features.py`: EfficientNet-Lite0
   features, a logistic regression fitted to the shot's probabilities with its Otsu edge as
   0.5, entering as a geometric mean as the colour model does): it fills object parts that
   stand still and drops what only moves with the object (DAVIS development mean J 63.8 ->
   69.1, 69.4 with the colour guide below; chosen by leave-one-sequence-out cross-validation;
   its labels are first smoothed as in step 8, then multiplied by two priors on the same
   features (`FeatureParams.prior`, `priors`: one trained on the motion masks of many shots, one
   on COCO photos' object masks), which lower spray, water, ground or shadows that move with the
   object: DAVIS development mean J 71.2 -> 75.5 -> 76.9 (the posterior at 0.65) -> 77.6 (the
   network on 640-px frames) -> 77.9 (the posterior of the frames the network skips warped
   along the flow) -> 78.3 (768-px frames), each sequence with a motion prior trained without
   it);
   then the shot's own edge (`decision`): Otsu's threshold over the shot's probabilities is
   mapped to 0.5, because how strongly the votes mark an object differs from shot to shot (a
   fixed 0.5 was best on 2 of the 8 development sequences and up to 31 J worse on the others;
   chosen by leave-one-sequence-out cross-validation, benchmarks/RESULTS.md);
8. foreground blobs smaller than `blobs` x the largest are damped (uNLC's
   `remove_low_energy_blobs`, at 0.3 x rather than its 0.6 x: a second, smaller moving object
   survives; DAVIS development mean J +0.05); the mask is snapped to the image's edges by Min
   et al.'s fast global smoother (`refine="fgs"`, OpenCV contrib), guided by the RGB frame at
   the working size, where the mask's detail is, and enlarged to the input size: values spread
   among pixels of similar colour and stop at colour edges, so masks stop at the object's outline
   and drop a cast shadow's or spray's rim. The same smoother cleans the feature model's
   labels (`smooth_labels`, step 7). Together: DAVIS development mean J 69.4 -> 71.4, F 59.0
   -> 64.2, cross-validated J 71.4 (benchmarks/RESULTS.md). `refine="guided"` is the
   previous refinement: a fast guided filter (He et al., TPAMI 2013; He & Sun 2015) at the
   output size, coefficients fitted at about the working size, guided by the RGB frame
   (`refine_colour`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from focusgan.video.appearance import with_colour
from focusgan.video.features import FeatureParams, start_feature_maps, with_features
from focusgan.video.io import resize_max_side
from focusgan.video.saliency import SaliencyParams, sequence_saliency
from focusgan.video.superpixels import slic_sequence
from focusgan.video.voting import VotingParams, consensus_vote, knn_graph, region_descriptors

DECISIONS = ("otsu", "fixed")
REFINES = ("fgs", "guided", "off")


@dataclass
class SegmentParams:
    work_side: int = 256  # longer side of the frames the segmenter works on
    flow_side: int = 256  # longer side of the frames optical flow works on; 0 = work_side.
    # Fixed apart from work_side: the saliency depends on the size of DIS's patches against the
    # object and the texture (measured on blackswan: flow at 160 or 192 px misses the slow body,
    # at 320 px it keeps the wake), while the voting's size hardly changes J (RESULTS.md).
    n_segments: int = 300  # SLIC superpixels per frame
    compactness: float = 10.0
    slic_iterations: int = 2
    threshold: float = 0.5  # vote that maps to probability 0.5 (uNLC's binTh: 0.4); 0 = Otsu
    blobs: float = 0.3  # damp foreground blobs under this x the largest (uNLC: 0.6); 0 = off
    refine: str = "fgs"  # edges snapped to the image's: "fgs" (fast global smoother at the
    # working size), "guided" (fast guided filter at the output size) or "off"
    fgs_lambda: float = 120.0  # fgs: smoothness for a 256-px working frame; scaled with the
    # working frame's longer side squared (its reach, sqrt(lambda) pixels, with the side)
    fgs_sigma: float = 8.0  # fgs: colour difference (0..255) that stops the smoothing
    smooth_labels: bool = True  # fgs also on the feature model's labels (its edge mapped to 0.5)
    refine_radius: float = 0.01  # guided: window radius, of the image diagonal
    refine_eps: float = 1e-3
    refine_colour: bool = True  # guided: guide by the RGB frame, not its grey levels
    refine_scale: int = 0  # guided: coefficients fitted at 1/scale of the output size;
    # 0 = output side / work side, rounded (the mask has no finer detail)
    threads: int = 2
    smooth: int = 1  # temporal mean of the probability maps over +-smooth frames
    colour_bins: int = 16
    colour_weight: float = 0.5  # per-shot colour model (appearance.py): largest exponent of the
    # colour posterior, 1 - it of the motion probability; 0.5 = plain geometric mean, 0 = off
    colour_adaptive: bool = True  # lower it to 1 - the overlap of the two colour distributions
    colour_iterations: int = 1  # refit the colour model to its own result this many times
    decision: str = "otsu"  # "otsu": Otsu's threshold over the shot's final probabilities is
    # mapped to 0.5 (each shot finds its own edge); "fixed": probability 0.5 is the edge
    saliency: SaliencyParams = field(default_factory=SaliencyParams)
    features: FeatureParams = field(default_factory=FeatureParams)  # ImageNet-feature model
    voting: VotingParams = field(default_factory=VotingParams)


@dataclass
class Segmentation:
    masks: np.ndarray  # (T, H, W) float32 probabilities at the input size
    kinds: list[str]  # per frame, which kind of motion gave its saliency ("none": no usable flow)
    timings: dict[str, float]  # seconds per stage
    colour_weight: float = 0.0  # exponent of the colour posterior used (0: no colour model)

    @property
    def motion_frames(self) -> int:
        return sum(k != "none" for k in self.kinds)


def guided_filter(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float, scale: int = 1
) -> np.ndarray:
    """He et al.'s guided filter: edge-aware smoothing of `src` by a grey (H, W) or RGB
    (H, W, 3) guide in [0, 1]. Each window fits `src` as a linear map of the guide (with an RGB
    guide a ridge regression of the three colours, eps on the diagonal, so edges between
    colours of the same brightness guide too).

    With `scale` > 1 it is the fast guided filter (He & Sun, arXiv 1505.00996): the linear
    coefficients are fitted on both images shrunk `scale` times (radius / scale) and enlarged
    back bilinearly before they are applied to the full-size guide, which costs about 1/scale^2
    of the box filters for a nearly identical result."""
    h, w = guide.shape[:2]
    if scale > 1:
        size = (max(1, w // scale), max(1, h // scale))
        g = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        s = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
        radius = max(1, round(radius / scale))
    else:
        g, s = guide, src
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    fit = _grey_coefficients if guide.ndim == 2 else _colour_coefficients
    a, b = fit(g, s, box, eps)
    a, b = box(a), box(b)
    if scale > 1:
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    return (a * guide if guide.ndim == 2 else np.einsum("hwc,hwc->hw", a, guide)) + b


def global_smoother(image: np.ndarray, src: np.ndarray, lam: float, sigma: float) -> np.ndarray:
    """Min et al.'s fast global smoother (TIP 2014; OpenCV contrib's `ximgproc`): the map
    closest to `src` (H, W) float32 that is smooth except across edges of the uint8 `image`
    (H, W, 3): a weighted least-squares fit solved as 1-D recursions along rows and columns.
    Values spread over about sqrt(`lam`) pixels of similar colour and stop where the colour
    changes by much more than `sigma`, so a mask edge a few pixels short of an image edge, or
    past it, is pulled onto it (tests/test_video.py)."""
    return cv2.ximgproc.fastGlobalSmootherFilter(image, src, lam, sigma)


def _grey_coefficients(g: np.ndarray, s: np.ndarray, box, eps: float):
    """Per-window slope and offset of `s` against the grey guide `g`."""
    mean_i, mean_p = box(g), box(s)
    var_i = box(g * g) - mean_i * mean_i
    cov_ip = box(g * s) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    return a, mean_p - a * mean_i


def _colour_coefficients(g: np.ndarray, s: np.ndarray, box, eps: float):
    """Per-window colour coefficients (H, W, 3) and offset of `s` against the RGB guide `g`:
    (Sigma + eps I)^-1 cov per pixel, by the adjugate of the symmetric 3x3 matrix."""
    mean_i, mean_p = box(g), box(s)
    c = box(g * s[..., None]) - mean_i * mean_p[..., None]

    def var(a: int, b: int) -> np.ndarray:
        return box(g[..., a] * g[..., b]) - mean_i[..., a] * mean_i[..., b] + eps * (a == b)

    rr, rg, rb, gg, gb, bb = var(0, 0), var(0, 1), var(0, 2), var(1, 1), var(1, 2), var(2, 2)
    i00, i01, i02 = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    i11, i12, i22 = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * i00 + rg * i01 + rb * i02
    coef = (
        np.stack(
            [
                i00 * c[..., 0] + i01 * c[..., 1] + i02 * c[..., 2],
                i01 * c[..., 0] + i11 * c[..., 1] + i12 * c[..., 2],
                i02 * c[..., 0] + i12 * c[..., 1] + i22 * c[..., 2],
            ],
            -1,
        )
        / det[..., None]
    )
    return coef, mean_p - np.einsum("hwc,hwc->hw", coef, mean_i)


def votes_to_probability(v: np.ndarray, threshold: float) -> np.ndarray:
    """Piecewise-linear map of votes in [0, 1] so that `threshold` becomes 0.5."""
    v = np.clip(v, 0, 1)
    return np.where(
        v < threshold, 0.5 * v / threshold, 0.5 + 0.5 * (v - threshold) / max(1e-6, 1 - threshold)
    ).astype(np.float32)


def otsu_threshold(v: np.ndarray, bins: int = 64) -> float:
    """Otsu's threshold of values in [0, 1]: the split maximising the between-class variance."""
    hist = np.bincount(np.clip((v.ravel() * bins).astype(np.int64), 0, bins - 1), minlength=bins)
    p = hist / max(1, hist.sum())
    centres = (np.arange(bins) + 0.5) / bins
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    between = (m0[-1] * w0 - m0) ** 2 / np.maximum(w0 * (1 - w0), 1e-12)
    return float((np.argmax(between[:-1]) + 1) / bins)


def temporal_smooth(probs: np.ndarray, radius: int) -> np.ndarray:
    """Mean of each frame's map with those of the `radius` frames on each side (fewer at the
    ends): a mask that flickers off for a frame or two is carried by its neighbours."""
    c = np.concatenate([np.zeros_like(probs[:1]), np.cumsum(probs, 0)])
    t = len(probs)
    lo = np.clip(np.arange(t) - radius, 0, t)
    hi = np.clip(np.arange(t) + radius + 1, 0, t)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None, None]).astype(np.float32)


def damp_small_blobs(prob: np.ndarray, rel_size: float) -> np.ndarray:
    """Push foreground blobs smaller than `rel_size` x the largest just below 0.5 (uNLC)."""
    fg = (prob > 0.5).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 2:
        return prob
    areas = stats[1:, cv2.CC_STAT_AREA]
    small = np.concatenate([[False], areas < rel_size * areas.max()])
    out = prob.copy()
    out[small[lab]] = np.minimum(out[small[lab]], 0.5 - 1e-3)
    return out


def segment_frames(frames: np.ndarray, params: SegmentParams | None = None) -> Segmentation:
    """Soft foreground masks for a short sequence of RGB uint8 frames (T, H, W, 3), T >= 2.

    NumPy's BLAS runs on one thread meanwhile: the segmenter already keeps every core busy with
    its own threads (superpixels, the k-NN graph, the network beside them), and BLAS threads on
    top of those spin for a core (`segment` on blackswan: 10.4 -> 11.1-11.5 frames/s)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _segment_frames(frames, params or SegmentParams())


def _segment_frames(frames: np.ndarray, p: SegmentParams) -> Segmentation:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] < 2 or frames.shape[-1] != 3:
        raise ValueError(f"need at least 2 RGB frames (T, H, W, 3), got {frames.shape}")
    if p.decision not in DECISIONS:
        raise ValueError(f"unknown decision {p.decision!r}; choose one of {DECISIONS}")
    if p.refine not in REFINES:
        raise ValueError(f"unknown refinement {p.refine!r}; choose one of {REFINES}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # the ImageNet network needs only the frames: it runs beside the stages below
    feature_job = start_feature_maps(frames, p.features) if p.features.weight > 0 else None
    small = np.stack([resize_max_side(f, p.work_side) for f in frames])
    fgs_lambda = p.fgs_lambda * (max(small.shape[1:3]) / 256) ** 2
    flow_side = p.flow_side or p.work_side
    flow_frames = small if flow_side <= p.work_side else frames
    colours = np.stack([resize_max_side(f, flow_side) for f in flow_frames])
    grays = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in colours])
    t1 = time.perf_counter()
    timings["resize"] = t1 - t0
    shadows = colours if p.saliency.shadow else None  # the shadow test's RGB frames
    warp = p.features.weight > 0 and p.features.between == "flow"
    flows = {} if warp else None  # kept for the feature model (`FeatureParams.between`)
    saliency, kinds = sequence_saliency(grays, p.saliency, timings, p.threads, shadows, flows)
    if saliency.shape[1:] != small.shape[1:3]:
        size = small.shape[2:0:-1]
        saliency = np.stack([cv2.resize(s, size, interpolation=cv2.INTER_AREA) for s in saliency])
    t2 = time.perf_counter()
    labels = slic_sequence(
        small,
        threads=p.threads,
        n_segments=p.n_segments,
        compactness=p.compactness,
        iterations=p.slic_iterations,
    )
    t3 = time.perf_counter()
    timings["superpixels"] = t3 - t2
    counts = np.array([int(lab.max()) + 1 for lab in labels])
    starts = np.concatenate([[0], np.cumsum(counts)])
    desc = np.concatenate(
        [region_descriptors(f, lab, p.voting) for f, lab in zip(small, labels, strict=False)]
    )
    votes = np.concatenate(
        [
            np.bincount(lab.ravel(), s.ravel(), n)
            / np.maximum(np.bincount(lab.ravel(), None, n), 1)
            for lab, s, n in zip(labels, saliency, counts, strict=False)
        ]
    )
    t4 = time.perf_counter()
    timings["descriptors"] = t4 - t3
    transition = knn_graph(desc, starts, p.voting, threads=p.threads)
    t5 = time.perf_counter()
    timings["graph"] = t5 - t4
    if votes.max() > 0:
        votes = consensus_vote(
            transition,
            votes,
            starts,
            p.voting.iterations,
            p.voting.restart,
            per_frame=p.voting.normalise == "frame",
        )
    t6 = time.perf_counter()
    timings["voting"] = t6 - t5
    h, w = frames.shape[1:3]
    masks = np.empty((len(frames), h, w), np.float32)
    radius = max(1, round(p.refine_radius * np.hypot(h, w)))
    scale = p.refine_scale or max(1, round(max(h, w) / p.work_side))
    pixel_votes = np.stack([votes[starts[i] : starts[i + 1]][lab] for i, lab in enumerate(labels)])
    threshold = p.threshold if p.threshold > 0 else otsu_threshold(pixel_votes)
    probs = votes_to_probability(pixel_votes, threshold)
    if p.smooth > 0:
        probs = temporal_smooth(probs, p.smooth)
    colour_weight = 0.0
    if p.colour_weight > 0:
        motion = probs
        for _ in range(max(1, p.colour_iterations)):
            probs, colour_weight = with_colour(
                small, motion, p.colour_weight, p.colour_adaptive, bins=p.colour_bins, fit_to=probs
            )
    t7 = time.perf_counter()
    timings["colour"] = t7 - t6
    if p.features.weight > 0:
        edge = otsu_threshold(probs) if p.decision == "otsu" else 0.5
        fit_to = votes_to_probability(probs, edge)
        if p.smooth_labels:  # labels whose outlines follow the image's
            pairs = zip(small, fit_to, strict=True)
            fit_to = np.stack([global_smoother(f, q, fgs_lambda, p.fgs_sigma) for f, q in pairs])
            fit_to = fit_to.clip(0, 1)
        probs = with_features(frames, probs, p.features, fit_to, feature_job.result(), flows)
    if p.decision == "otsu":
        probs = votes_to_probability(probs, otsu_threshold(probs))
    t8 = time.perf_counter()
    timings["features"] = t8 - t7
    for i in range(len(frames)):
        prob = probs[i]
        if p.blobs > 0:
            prob = damp_small_blobs(prob, p.blobs)
        if p.refine == "fgs":
            prob = global_smoother(small[i], prob, fgs_lambda, p.fgs_sigma)
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        if p.refine == "guided":
            image = frames[i] if p.refine_colour else cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
            prob = guided_filter(image.astype(np.float32) / 255, prob, radius, p.refine_eps, scale)
        masks[i] = np.clip(prob, 0, 1)
    if votes.max() <= 0:
        masks[:] = 0
    timings["refine"] = time.perf_counter() - t8
    return Segmentation(masks, kinds, timings, colour_weight)


CHUNK = 60  # longest piece of a shot segmented at once (frames): `segment --chunk`, and
# `prepare video --segment-frames`, so both write the same masks


def segment_pieces(
    frames,
    params: SegmentParams | None = None,
    chunk: int = CHUNK,
    cut_threshold: float | None = None,
    cut_ratio: float | None = None,
):
    """The users' segmentation of a stream of `io.Frame`s, at the frames' own size: shots by
    PySceneDetect (a change of frame size is a cut too), each cut into consecutive pieces of at
    most `chunk` frames (`shots.shot_pieces`), each piece segmented whole as soon as it is
    decided (`shots.iter_pieces`: about 2 x `chunk` frames in memory, however long the shot).
    Yields (piece: list of frames, Segmentation or None for a one-frame piece, which has no
    flow). `segment`, `bench-motion` and `benchmarks/motion_cv.py` run this; `prepare video`
    runs the same shots and pieces (only those holding a candidate)."""
    from focusgan.video.shots import CUT_RATIO, CUT_THRESHOLD, iter_pieces

    threshold = CUT_THRESHOLD if cut_threshold is None else cut_threshold
    ratio = CUT_RATIO if cut_ratio is None else cut_ratio
    for piece in iter_pieces(frames, chunk, threshold, ratio):
        seg = segment_frames(np.stack([f.rgb for f in piece]), params) if len(piece) > 1 else None
        yield piece, seg


def segment_stream(
    frames,
    params: SegmentParams | None = None,
    chunk: int = CHUNK,
):
    """Segment a stream of `io.Frame`s as `segment_pieces` does. Yields (frame, mask or None,
    kind) in order; a shot of one frame has no flow and gets None."""
    for piece, seg in segment_pieces(frames, params, chunk):
        masks = [None] * len(piece) if seg is None else seg.masks
        kinds = ["single frame"] * len(piece) if seg is None else seg.kinds
        yield from zip(piece, masks, kinds, strict=True)
        piece.clear()  # handed on: not held while the next piece is read (2 x chunk frames, not 3)
