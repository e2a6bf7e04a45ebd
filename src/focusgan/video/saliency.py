"""Motion saliency per frame from optical flow: where does something move unlike the scene?

`unlc` follows uNLC's two cases (Pathak et al. 2017, `compute_saliency` in pathak22/videoseg),
with flow measured in a 100x100 frame as uNLC does:
- mostly static scene (median flow magnitude below `mag_th`): saliency = squared magnitude;
- one dominant direction (a magnitude-weighted direction histogram with a bin above `dir_th`,
  e.g. a camera pan): saliency = squared angular deviation from that direction;
- otherwise the flow is unused for that frame.
`residual` is this project's variant: the camera's motion (affine by default, or a homography)
is fitted to the flow with RANSAC and the saliency is what it does not explain, scaled per flow
by robust statistics; it covers both of uNLC's cases and zooming or rotating cameras, and it
doubles uNLC's J on DAVIS (benchmarks/RESULTS.md). Each region that clearly moves (`components`)
is scaled by its own peak, so a slow object beside a fast one is not scaled away. By default (`inside="mean"`) it is averaged
with FST's inside-outside map (Papazoglou & Ferrari, ICCV 2013) of the residual flow: pixels
enclosed by motion boundaries, which fills an object whose inside moves little and favours
closed shapes over spray, wakes and shadows (+2.4 mean J over 8 DAVIS sequences by
cross-validation; used alone or as a mask it loses the swan among moving water). Both are
box-filtered over `patch` pixels, averaged over the flows to the `radius` nearest frames, cleared
in a border band (`border` of the shorter side; uNLC: 12.5%) and scaled to [0, 1] over the whole
sequence (not per frame). `explained` > 0 (off by default) weights the residual by
`flow_explained`, how well the flow explains each pixel's look: spray, smoke or splashing water
that moves with an object but is redrawn each frame is damped (DAVIS kite-surf J 19 -> 62 at
k 0.25, but blurred, spinning limbs are damped too: mean 71.2 -> 70.6, RESULTS.md). Optionally
(`shadow`, off by default: it lost on DAVIS) cast shadows are cleared: Cucchiara et al.'s test
against the frames around aligned by the camera.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from focusgan.video.flow import optical_flow

MODES = ("unlc", "residual")
CAMERAS = ("affine", "homography", "epipolar")
COMBINE = ("min", "mean")
INSIDE = ("mean", "halve", "multiply", "replace", "off")


@dataclass
class SaliencyParams:
    mode: str = "residual"
    radius: int = 1  # flows to frames i-radius .. i+radius (uNLC: 3)
    mag_th: float = 1.0  # uNLC static-scene test, pixels of a 100x100 frame
    dir_th: float = 0.75  # uNLC dominant-direction test, fraction of the weighted histogram
    dir_bins: int = 20
    patch: int = 5  # box filter size, pixels of the working frame
    border: float = 0.0625  # band cleared at the image edge, fraction of the shorter side
    # (uNLC-like 0.125 until session 9: halved, DAVIS +0.4 J, since the feature posterior, not
    # the motion, now fills most of an object that reaches the edge; benchmarks/RESULTS.md)
    flow: str = "dis-medium"
    camera: str = "affine"  # residual mode: camera motion model, affine, homography, or
    # epipolar (affine, or where it explains less than `epipolar_gate` of the frame, the smaller
    # of its residual and the distance from a RANSAC fundamental matrix's epipolar line)
    epipolar_gate: float = 0.8
    saturate: float = 0.0  # residual mode: > 0: a residual of `saturate` x the motion floor
    # (`min_motion`) is full saliency and a step that large a motion boundary, so a slow object
    # beside a fast one counts too; 0: both scaled by the frame's strongest motion
    saturate_edges: bool = True  # saturate the motion boundaries too (else only the residual)
    components: float = 1.5  # residual mode: > 0: each connected region whose residual exceeds
    # `components` x the motion floor (and covers `component_area` of the frame) is scaled by
    # its own peak, not the frame's, so a slow object beside a fast one counts while what moves
    # with an object (joined to it: spray, shadow) keeps its share of the object's peak;
    # 0: every region scaled by the frame's strongest motion
    component_area: float = 0.002
    ransac_px: float = 1.0  # residual mode: RANSAC inlier distance, pixels
    gap: int = 1  # flows to frames i +- gap, i +- 2 gap, ... up to radius
    combine: str = "min"  # of the two flows at the same distance, or "mean" (uNLC)
    inside: str = "mean"  # residual mode: FST's inside-outside map from motion boundaries;
    # "off", "multiply" (saliency x map), "replace" (the map is the saliency), "mean" (of the
    # two) or "halve" (saliency halved outside)
    min_motion: float = 0.3  # residual mode: flows explained to within this (% of the shorter
    # side, 99.9th percentile) carry no motion and are unused
    explained: float = 0.0  # > 0: the saliency is weighted by how well the flow explains the
    # frame's appearance (`flow_explained`, this is its k): exp(-error / (k x local contrast)),
    # the better of the two flows at each distance, so what moves without keeping its look
    # (spray, smoke, splashing water) is damped; 0 = off
    shadow: bool = False  # residual mode: cast shadows (`shadow_mask` against `background`, the
    # frames around aligned by the camera model) carry no saliency (off: DAVIS mean J -0.1,
    # horsejump-high +1.3, dog -1.1; benchmarks/RESULTS.md)
    shadow_frames: tuple[int, ...] = (6, 12)  # the background: median of the frames this many
    # before and after, aligned by the chained camera models (where the object has moved on)
    shadow_low: float = 0.4  # brightness ratio (HSV value, frame / background) of a shadow:
    shadow_high: float = 0.9  # within [low, high] (Cucchiara et al.'s alpha and beta)
    shadow_hue: float = 96.0  # largest hue change of a shadow, degrees (Sanin et al.: 48 of 180)
    shadow_sat: float = 0.16  # largest saturation increase of a shadow, of 1 (Sanin: 40 of 255)
    shadow_texture: float = 0.5  # > 0: the background's texture must also show through: grey
    # levels correlated at least this much with the background's over 5x5 pixels, where the
    # background has texture


def _unlc(flow: np.ndarray, p: SaliencyParams) -> tuple[str, np.ndarray | None]:
    mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    if np.median(mag) < p.mag_th:
        return "static", mag**2
    angle = np.arctan2(flow[..., 1], flow[..., 0])
    hist, edges = np.histogram(angle, bins=p.dir_bins, range=(-np.pi, np.pi), weights=mag)
    hist /= hist.sum() + (hist.sum() == 0)
    if hist.max() > p.dir_th:
        k = int(np.argmax(hist))
        target = (edges[k] + edges[k + 1]) / 2
        d = np.abs(angle - target)
        d = np.minimum(d, 2 * np.pi - d)
        return "translate", d**2
    return "none", None


def camera_motion(flow: np.ndarray, p: SaliencyParams):
    """RANSAC fit of the camera's motion (affine, or a homography with `camera="homography"`)
    to a flow sampled on about 1,500 points: (3x3 matrix from the flow's first frame's pixels
    to its second's, or None, inlier flags, sample points, their ends)."""
    h, w = flow.shape[:2]
    step = max(1, int(np.sqrt(h * w / 1500)))
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    dst = src + flow[ys, xs].reshape(-1, 2)
    if p.camera not in CAMERAS:
        raise ValueError(f"unknown camera model {p.camera!r}; choose one of {CAMERAS}")
    if p.camera == "homography":
        m, inliers = cv2.findHomography(src, dst, cv2.RANSAC, p.ransac_px)
    else:
        a, inliers = cv2.estimateAffine2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=p.ransac_px
        )
        m = None if a is None else np.vstack([a, [0, 0, 1]])
    return m, inliers, src, dst


def _camera_residual(
    flow: np.ndarray, p: SaliencyParams, lit: np.ndarray | None = None
) -> tuple[str, np.ndarray | None]:
    """What a RANSAC fit of the camera's motion (affine or homography) leaves unexplained,
    robustly scaled per flow: (residual - median) / (99th percentile - median), clipped to 1.
    The flow carries motion when its 99.9th percentile exceeds the median by `min_motion`, so
    a small object (a car seen from above: 1% of the frame) counts; that amount is also the
    smallest scale, so residual noise is never stretched to 1. `lit` (0 in cast shadows, 1
    elsewhere) multiplies the result."""
    h, w = flow.shape[:2]
    m, inliers, src, dst = camera_motion(flow, p)
    if m is None:
        return "none", None
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    grid = np.stack([xx, yy], -1)
    moved = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), m).reshape(h, w, 2)
    residual_flow = flow - (moved - grid)
    if p.camera == "epipolar":
        residual_flow = _epipolar_residual(src, dst, grid, flow, residual_flow, inliers, p)
    residual = np.linalg.norm(residual_flow, axis=-1)
    med, top, peak = np.percentile(residual, [50, 99, 99.9])
    floor = p.min_motion * min(h, w) / 100.0
    if peak - med < floor:  # 99.9th: an object of 0.1% of the frame still counts as motion
        return "none", None
    scale = max(top - med, floor)
    if p.saturate > 0:  # every motion above `saturate` x floor counts fully, not only the fastest
        scale = min(scale, p.saturate * floor)
    if p.components > 0:
        sal = component_scaled(residual - med, scale, p.components * floor, p.component_area)
    else:
        sal = np.minimum((residual - med) / scale, 1.0).clip(0)
    if p.inside != "off":
        edge = p.saturate * floor if p.saturate > 0 and p.saturate_edges else 0.0
        inside = inside_outside(residual_flow, edge=edge)
        if p.inside == "replace":
            sal = inside
        elif p.inside == "multiply":
            sal = sal * inside
        elif p.inside == "mean":
            sal = 0.5 * (sal + inside)
        elif p.inside == "halve":  # saliency halved outside
            sal = sal * (0.5 + 0.5 * inside)
        else:
            raise ValueError(f"unknown inside {p.inside!r}")
    if lit is not None:  # cast shadows: neither residual nor inside-outside map
        sal = sal * lit
    return "camera", sal


def background(
    colours: np.ndarray, i: int, steps: dict[tuple[int, int], np.ndarray], p: SaliencyParams
) -> np.ndarray | None:
    """Frame i's background (H, W, 3) float32: the median of the RGB frames `shadow_frames`
    before and after it, aligned to it by the camera models `steps` ((a, a +- 1) -> 3x3 from
    frame a's pixels to its neighbour's) chained frame by frame; by then an object and its
    shadow have moved off most pixels. None where fewer than two such frames exist."""
    t, h, w = colours.shape[:3]
    warp = cv2.warpPerspective if p.camera == "homography" else cv2.warpAffine
    aligned = []
    for k in sorted({s * d for d in p.shadow_frames for s in (-1, 1)}):
        j = i + k
        if not 0 <= j < t:
            continue
        m, a, step = np.eye(3), i, 1 if k > 0 else -1
        while a != j and m is not None:
            s = steps.get((a, a + step))
            m = None if s is None else s @ m
            a += step
        if m is None:
            continue
        m = m if p.camera == "homography" else m[:2]
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        aligned.append(warp(colours[j], m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE))
    if len(aligned) < 2:
        return None
    if len(aligned) == 4:  # the median of four by pairwise minima and maxima (fast)
        a, b, c, d = (x.astype(np.float32) for x in aligned)
        low = np.maximum(np.minimum(a, b), np.minimum(c, d))
        high = np.minimum(np.maximum(a, b), np.maximum(c, d))
        return 0.5 * (low + high)
    return np.median(np.stack(aligned), axis=0).astype(np.float32)


def shadow_mask(frame: np.ndarray, background: np.ndarray, p: SaliencyParams) -> np.ndarray:
    """Cast shadow test of Cucchiara et al. (TPAMI 2003; thresholds of Sanin et al.'s
    implementation, Pattern Recognition 2012): a pixel of the RGB `frame` (H, W, 3, 0..255) is
    in shadow where it has its `background`'s chromaticity (hue within `shadow_hue` degrees,
    where either is coloured; saturation no more than `shadow_sat` higher) at a brightness
    scaled by a factor in [`shadow_low`, `shadow_high`]: light blocked, surface unchanged, while
    an object changes the chromaticity. With `shadow_texture` > 0 the background's texture must
    also show through (grey levels correlated over 5x5 pixels), where it has any. Both images
    are smoothed over 3x3 pixels against noise first. A bool (H, W) map."""
    smooth = [cv2.blur(x.astype(np.float32) / 255, (3, 3)) for x in (frame, background)]
    (hue, sat, val), (bhue, bsat, bval) = (
        cv2.split(cv2.cvtColor(x, cv2.COLOR_RGB2HSV)) for x in smooth
    )
    ratio = val / np.maximum(bval, 1e-3)
    dhue = np.abs(hue - bhue)
    dhue = np.minimum(dhue, 360.0 - dhue)
    shadow = (
        (ratio >= p.shadow_low)
        & (ratio <= p.shadow_high)
        & (bval > 0.1)  # a near-black background's chromaticity is noise
        & (sat - bsat <= p.shadow_sat)
        & ((dhue <= p.shadow_hue) | (np.minimum(sat, bsat) < 0.1))  # grey: no hue to compare
    )
    if p.shadow_texture > 0:
        a, b = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in smooth)

        def box(x):
            return cv2.blur(x, (5, 5))

        ma, mb = box(a), box(b)
        cov = box(a * b) - ma * mb
        va, vb = box(a * a) - ma * ma, box(b * b) - mb * mb
        corr = cov / np.sqrt(np.maximum(va * vb, 1e-12))
        textured = vb > (4 / 255) ** 2  # grey levels spread over more than about 4 of 255
        shadow &= ~textured | (corr >= p.shadow_texture)
    return shadow


def component_scaled(residual: np.ndarray, scale: float, level: float, area: float) -> np.ndarray:
    """A residual map (H, W) scaled to [0, 1] by `scale`, except in each 8-connected region above
    `level` covering at least `area` of the frame, scaled by its own peak (95th percentile,
    never more than `scale`): every region that clearly moves is full saliency at its core,
    whatever moves fastest elsewhere in the frame."""
    sal = residual / scale
    n, lab, stats, _ = cv2.connectedComponentsWithStats(
        (residual > level).astype(np.uint8), connectivity=8
    )
    big = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= area * residual.size) + 1
    if len(big):
        order = np.argsort(lab, axis=None, kind="stable")
        bounds = np.searchsorted(lab.ravel()[order], np.arange(n + 1))
        flat_sal, flat_res = sal.reshape(-1), residual.reshape(-1)
        for c in big:
            idx = order[bounds[c] : bounds[c + 1]]
            peak = float(np.percentile(flat_res[idx], 95))
            flat_sal[idx] = flat_res[idx] / max(min(peak, scale), level)
    return np.minimum(sal, 1.0).clip(0)


def _epipolar_residual(src, dst, grid, flow, affine_residual, affine_inliers, p: SaliencyParams):
    """Parallax-tolerant residual flow: where the camera's affine model leaves much of the frame
    unexplained (under `epipolar_gate` of the sample points are its inliers: a moving camera in
    a 3-D scene) and a RANSAC fundamental matrix explains clearly more, each pixel's residual is
    the smaller of the affine one and the offset of its flow's end from its epipolar line, so
    surfaces at another depth (which move along their epipolar lines) stop counting as motion
    while an object moving across them still does."""
    share = float(np.mean(affine_inliers)) if affine_inliers is not None else 1.0
    if share >= p.epipolar_gate:
        return affine_residual
    f, inliers = cv2.findFundamentalMat(src, dst, cv2.FM_RANSAC, p.ransac_px, 0.99)
    if f is None or f.shape != (3, 3) or float(np.mean(inliers)) < share + 0.1:
        return affine_residual
    h, w = flow.shape[:2]
    x = np.concatenate([grid, np.ones((h, w, 1), np.float32)], -1)
    x2 = np.concatenate([grid + flow, np.ones((h, w, 1), np.float32)], -1)
    line = x @ f.T.astype(np.float32)  # epipolar line of each pixel in the other frame
    d = (x2 * line).sum(-1) / np.maximum(np.hypot(line[..., 0], line[..., 1]), 1e-6)
    norm = np.hypot(line[..., 0], line[..., 1])[..., None].clip(1e-6)
    epi = d[..., None] * line[..., :2] / norm  # from its epipolar line to the flow's end
    keep = np.linalg.norm(epi, axis=-1) < np.linalg.norm(affine_residual, axis=-1)
    return np.where(keep[..., None], epi, affine_residual).astype(np.float32)


def _crossings(b: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """For each pixel, how many boundary runs of `b` a ray towards (-dy, -dx) enters before
    the image edge (the pixel itself included)."""
    prev = np.zeros_like(b)
    prev[dy:, dx:] = b[: b.shape[0] - dy, : b.shape[1] - dx]
    entries = (b & ~prev).astype(np.int32)
    if dy == 0:
        return np.cumsum(entries, 1)
    if dx == 0:
        return np.cumsum(entries, 0)
    out = entries.copy()
    for i in range(1, len(out)):
        out[i, 1:] += out[i - 1, :-1]
    return out


def inside_outside(flow: np.ndarray, shrink: int = 2, edge: float = 0.0) -> np.ndarray:
    """FST's inside-outside map (Papazoglou & Ferrari, ICCV 2013) of a (camera-compensated)
    flow: motion boundaries are where the flow's gradient is strong (above half its 99th
    percentile); a pixel is inside an object when a ray from it to the image edge crosses an odd
    number of boundaries, in the majority of the 8 directions. Computed on the flow shrunk
    `shrink` times (the flow is smooth; 4x fewer pixels) and enlarged back: a float32 map in
    [0, 1], 1 inside."""
    h, w = flow.shape[:2]
    if shrink > 1:
        size = (max(8, w // shrink), max(8, h // shrink))
        flow = cv2.resize(flow, size, interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(flow, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(flow, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.sqrt((gx * gx + gy * gy).sum(-1))
    flat = grad.ravel()
    k = min(flat.size - 1, int(0.99 * flat.size))
    top = float(np.partition(flat, k)[k])  # the 99th percentile, without a full sort
    if top <= 0:
        return np.zeros((h, w), np.float32)
    threshold = 0.5 * top
    if edge > 0:  # a boundary: a step of `edge` pixels of motion (Sobel's gain 4) is enough
        threshold = min(threshold, 2.0 * edge)  # half of a step's response
    b = grad > threshold
    votes = np.zeros(b.shape, np.int32)
    for v, undo in ((b, lambda a: a), (b[::-1, ::-1], lambda a: a[::-1, ::-1])):
        votes += undo(_crossings(v, 0, 1) % 2)  # rays to the left (flipped: to the right)
        votes += undo(_crossings(v, 1, 0) % 2)  # up (down)
        votes += undo(_crossings(v, 1, 1) % 2)  # up-left (down-right)
        votes += undo(_crossings(v[:, ::-1], 1, 1)[:, ::-1] % 2)  # up-right (down-left)
    inside = (votes > 4).astype(np.float32)
    if inside.shape != (h, w):
        inside = cv2.resize(inside, (w, h), interpolation=cv2.INTER_LINEAR)
    return inside


def flow_saliency(
    flow: np.ndarray, p: SaliencyParams, lit: np.ndarray | None = None
) -> tuple[str, np.ndarray | None]:
    """Saliency of one flow field (pixels): (kind, map or None); `lit`: 0 in the cast shadows
    of the flow's first frame (residual mode)."""
    if p.mode == "unlc":
        h, w = flow.shape[:2]
        return _unlc(flow * np.array([100.0 / w, 100.0 / h], np.float32), p)
    if p.mode == "residual":
        return _camera_residual(flow, p, lit)
    raise ValueError(f"unknown saliency mode {p.mode!r}; choose one of {MODES}")


EXPLAINED_NOISE = 4.0  # grey levels added to the local contrast in `flow_explained`: the error
# of two noisy, JPEG-compressed frames of a flat surface is about this, so flat regions count as
# explained


def flow_explained(
    a: np.ndarray, b: np.ndarray, flow: np.ndarray, k: float, patch: int
) -> np.ndarray:
    """How well `flow` (from grey uint8 frame `a` to `b`, pixels) explains `a`'s appearance:
    `b` warped back along the flow (cv2.remap) is compared with `a`, and the mean absolute
    error over `patch` x `patch` pixels is divided by k x (the local standard deviation of `a`
    + `EXPLAINED_NOISE`): a weight exp(-that) in (0, 1]. A rigid or articulated body that the
    flow follows leaves an error of a fraction of its contrast (its flow error in pixels over
    its texture's scale); spray, smoke or splashing water redrawn from frame to frame leave an
    error about the size of the contrast itself (two independent draws differ by ~1.1 std)."""
    h, w = a.shape
    ys, xs = np.mgrid[:h, :w].astype(np.float32)
    warped = cv2.remap(
        b, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    af = a.astype(np.float32)
    size = (patch, patch)
    err = cv2.blur(cv2.absdiff(af, warped.astype(np.float32)), size, borderType=cv2.BORDER_REFLECT)
    mean = cv2.blur(af, size, borderType=cv2.BORDER_REFLECT)
    var = cv2.blur(af * af, size, borderType=cv2.BORDER_REFLECT) - mean * mean
    contrast = np.sqrt(np.maximum(var, 0)) + EXPLAINED_NOISE
    return np.exp(-err / (k * contrast)).astype(np.float32)


def frame_saliency(
    grays: np.ndarray,
    i: int,
    p: SaliencyParams,
    flows: dict | None = None,
    lit: np.ndarray | None = None,
    keep: dict | None = None,
) -> tuple[np.ndarray, str, float]:
    """Saliency of frame i (before the border band and the sequence's scaling), the kind of
    motion used and the seconds spent on optical flow (`flows`: (i, j) -> flow already
    computed; `lit`: 0 in frame i's cast shadows; `keep`: each flow used is stored there).

    The flows from frame i to i - d and to i + d (d = gap, 2 gap, .. radius) each give a map
    located on frame i's pixels; with `combine="min"` the two maps at the same distance are
    combined by their minimum: the object moves in both, while the background it uncovers (a
    halo behind it in one direction, ahead of it in the other) and flow noise rarely show in
    both, so the map hugs the object. The distances are then averaged. With `explained` > 0
    each distance's maps are weighted by `flow_explained`, the better (larger) of its two
    flows' weights: the object's side uncovered in one neighbour is explained by the other."""
    t, h, w = grays.shape
    out = np.zeros((h, w), np.float32)
    used, kind, flow_time = 0, "none", 0.0
    for d in range(p.gap, p.radius + 1, p.gap):
        pair, weight = [], None
        for j in (i - d, i + d):
            if not 0 <= j < t:
                continue
            tf = time.perf_counter()
            flow = flows[i, j] if flows else optical_flow(grays[i], grays[j], p.flow)
            flow_time += time.perf_counter() - tf
            if keep is not None:
                keep[i, j] = flow
            k, sal = flow_saliency(flow, p, lit)
            if sal is not None:
                pair.append(sal.astype(np.float32))
                kind = k
                if p.explained > 0:
                    wj = flow_explained(grays[i], grays[j], flow, p.explained, p.patch)
                    weight = wj if weight is None else np.maximum(weight, wj)
        if p.combine == "min" and len(pair) == 2:
            pair = [np.minimum(pair[0], pair[1])]
        if weight is not None:
            pair = [sal * weight for sal in pair]
        for sal in pair:
            out += cv2.blur(sal, (p.patch, p.patch), borderType=cv2.BORDER_REFLECT)
            used += 1
    if used:
        out /= used
    return out, kind, flow_time


def sequence_saliency(
    grays: np.ndarray,
    p: SaliencyParams,
    timings: dict | None = None,
    threads: int = 1,
    colours: np.ndarray | None = None,
    keep: dict | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Saliency (T, H, W) float32 in [0, 1] for grey frames (T, H, W) uint8, and per frame the
    kind of motion used ("none" where no flow was usable); frames on `threads` threads (OpenCV
    releases the GIL); `keep`: a dict that receives every flow used, (i, j) -> flow. With
    `p.shadow` on, the frames' RGB `colours` (T, H, W, 3) give each
    frame's cast shadows (`shadow_mask` against its `background`), whose saliency is cleared.
    Adds the seconds spent on optical flow (summed over threads) and the rest of the wall time
    to `timings["flow"]` and `timings["saliency"]`, and those of the shadow test to
    `timings["shadows"]`."""
    if p.combine not in COMBINE:
        raise ValueError(f"unknown combine {p.combine!r}; choose one of {COMBINE}")
    start = time.perf_counter()
    t, h, w = grays.shape
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def run(fn, items):
        return list(pool.map(fn, items)) if pool else [fn(x) for x in items]

    flows, lits, flow_time, shadow_time = None, [None] * t, 0.0, 0.0
    if p.shadow and p.mode == "residual" and colours is not None and t > 1:
        # every flow first (those to the neighbours chain the camera models), then the shadows
        dists = set(range(p.gap, p.radius + 1, p.gap)) | {1}
        pairs = [(i, i + s * d) for i in range(t) for d in dists for s in (-1, 1)]
        pairs = [(i, j) for i, j in pairs if 0 <= j < t]
        tf = time.perf_counter()
        flows = dict(
            zip(
                pairs,
                run(lambda ij: optical_flow(grays[ij[0]], grays[ij[1]], p.flow), pairs),
                strict=True,
            )
        )
        flow_time = time.perf_counter() - tf
        ts = time.perf_counter()
        near = [ij for ij in pairs if abs(ij[1] - ij[0]) == 1]
        steps = dict(zip(near, run(lambda ij: camera_motion(flows[ij], p)[0], near), strict=True))

        def shadows(i):
            bg = background(colours, i, steps, p)
            return None if bg is None else 1.0 - shadow_mask(colours[i], bg, p).astype(np.float32)

        lits = run(shadows, range(t))
        shadow_time = time.perf_counter() - ts

    def one(i):
        return frame_saliency(grays, i, p, flows, lits[i], keep)

    results = run(one, range(t))
    if pool:
        pool.shutdown()
    out = np.stack([r[0] for r in results]) if results else np.zeros((0, h, w), np.float32)
    kinds = [r[1] for r in results]
    flow_time += sum(r[2] for r in results) / max(1, threads)
    b = int(min(h, w) * p.border)
    if b:
        out[:, :b], out[:, -b:], out[:, :, :b], out[:, :, -b:] = 0, 0, 0, 0
    top = out.max() if out.size else 0
    if top > 0:
        out /= top
    if timings is not None:
        timings["flow"] = timings.get("flow", 0.0) + flow_time
        rest = max(0.0, time.perf_counter() - start - flow_time - shadow_time)
        timings["saliency"] = timings.get("saliency", 0.0) + rest
        if shadow_time:
            timings["shadows"] = timings.get("shadows", 0.0) + shadow_time
    return out, kinds
