"""Region descriptors, a sparse nearest-neighbour graph over nearby frames, consensus voting.

NLC/uNLC describe every superpixel by colour histograms (RGB and Lab), a histogram of gradient
orientations and its position, link each region to its nearest neighbours (L2 distance) among
the regions of the frames within `radius`, and repeatedly replace every region's vote by the
weighted mean of its neighbours' votes, renormalising each frame to a maximum of 1; regions
that look like the moving object gather its votes, so the whole object lights up. Here the
votes are renormalised over the whole shot by default (`normalise`), so a frame without a
moving object is not given one.

Unlike the reference code (a dense k x k transition matrix: ~15 GB for a shot), the graph here
is a `scipy.sparse` CSR matrix with k neighbours per row, found by brute force on float32 with a
matrix product per frame (much faster than k-d trees in ~180 dimensions).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp


@dataclass
class VotingParams:
    color_bins: int = 10  # per channel, 6 channels (uNLC: 20)
    orient_bins: int = 9  # gradient-orientation histogram bins
    w_color: float = 1.0
    w_orient: float = 0.5
    w_pos: float = 1.0
    radius: int = 15  # frames searched on each side (uNLC: F = 15)
    dense: int = 5  # every frame within this distance is searched, beyond it every `step`-th
    step: int = 2  # (consecutive frames look nearly alike: every other one finds the same)
    neighbours: int = 80  # per region, over all searched frames (uNLC: L(2F+1) = 62)
    sigma: float = 0.5  # Gaussian width, as a multiple of the median neighbour distance
    self_weight: float = 1.0
    iterations: int = 10
    restart: float = 0.05  # weight of the initial motion votes in each iteration (uNLC: 0)
    normalise: str = "shot"  # votes rescaled to a maximum of 1 per "shot", so a frame where
    # nothing moves keeps its low votes, or per "frame" (uNLC: every frame then has an object)


def region_descriptors(rgb: np.ndarray, labels: np.ndarray, p: VotingParams) -> np.ndarray:
    """One float32 row per superpixel: 6 colour histograms, an orientation histogram and the
    centroid, each block scaled by its weight."""
    h, w = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float32)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    bins = p.color_bins
    color = []
    for image in (rgb, lab):
        for c in range(3):
            q = (image[..., c].ravel().astype(np.int32) * bins) >> 8
            color.append(np.bincount(flat * bins + q, minlength=n * bins).reshape(n, bins))
    color = np.concatenate(color, 1).astype(np.float32) / counts[:, None]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy).ravel()
    ob = p.orient_bins
    q = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * ob).astype(np.int32), ob - 1)
    orient = np.bincount(flat * ob + q.ravel(), weights=mag, minlength=n * ob).reshape(n, ob)
    orient = orient / (np.linalg.norm(orient, axis=1, keepdims=True) + 1e-6)
    ys, xs = np.mgrid[:h, :w]
    pos = np.stack([np.bincount(flat, ys.ravel(), n) / h, np.bincount(flat, xs.ravel(), n) / w], 1)
    pos = pos / counts[:, None]
    return np.concatenate(
        [color * p.w_color / np.sqrt(6), orient * p.w_orient, pos * p.w_pos], 1
    ).astype(np.float32)


def knn_graph(
    desc: np.ndarray, starts: np.ndarray, p: VotingParams, threads: int = 1
) -> sp.csr_matrix:
    """Row-normalised sparse transition matrix over all regions of a sequence.

    `starts[i]` is the first region of frame i (len T + 1, last = number of regions). Each region
    is linked to its `neighbours` nearest regions (brute-force L2 on float32) among the frames
    i - radius .. i + radius (beyond `dense` frames away, every `step`-th frame), itself excluded;
    weights exp(-d^2 / s^2) with s = sigma x the median neighbour distance; plus a self loop of
    weight `self_weight`. Frames are searched on `threads` threads (numpy's matrix product and
    partition release the GIL).
    """
    t = len(starts) - 1
    total = int(starts[-1])
    sq = np.einsum("ij,ij->i", desc, desc)

    def frame(i: int):
        a, b = int(starts[i]), int(starts[i + 1])
        near = [
            j
            for j in range(max(0, i - p.radius), min(t, i + p.radius + 1))
            if abs(j - i) <= p.dense or abs(j - i) % p.step == 0
        ]
        lo, hi = int(starts[near[0]]), int(starts[near[-1] + 1])
        if len(near) == near[-1] - near[0] + 1:
            cand = np.arange(lo, hi)
            c, csq = desc[lo:hi], sq[lo:hi]
        else:
            cand = np.concatenate([np.arange(starts[j], starts[j + 1]) for j in near])
            c, csq = desc[cand], sq[cand]
        k = min(p.neighbours, len(cand) - 1)
        if k <= 0 or b == a:
            return None
        # |q - c|^2 without the query's own |q|^2, which does not change the ranking
        d2 = csq[None, :] - 2.0 * (desc[a:b] @ c.T)
        off = int(np.searchsorted(cand, a))
        d2[np.arange(b - a), off + np.arange(b - a)] = np.inf  # no self match
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        d = np.take_along_axis(d2, idx, 1) + sq[a:b, None]
        return np.repeat(np.arange(a, b), k), cand[idx].ravel(), np.sqrt(np.maximum(d, 0)).ravel()

    if threads > 1:
        with ThreadPoolExecutor(threads) as ex:
            found = [r for r in ex.map(frame, range(t)) if r is not None]
    else:
        found = [r for r in map(frame, range(t)) if r is not None]
    rows = [r[0] for r in found]
    cols = [r[1] for r in found]
    dists = [r[2] for r in found]
    if rows:
        rows, cols, dists = np.concatenate(rows), np.concatenate(cols), np.concatenate(dists)
        s = p.sigma * (np.median(dists) + 1e-6)
        weights = np.exp(-((dists / s) ** 2)).astype(np.float32)
    else:
        rows = cols = np.zeros(0, np.int64)
        weights = np.zeros(0, np.float32)
    diag = np.arange(total)
    m = sp.csr_matrix(
        (
            np.concatenate([weights, np.full(total, p.self_weight, np.float32)]),
            (np.concatenate([rows, diag]), np.concatenate([cols, diag])),
        ),
        shape=(total, total),
    )
    norm = np.asarray(m.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.maximum(norm, 1e-12)).astype(np.float32) @ m


def consensus_vote(
    transition: sp.csr_matrix,
    votes: np.ndarray,
    starts: np.ndarray,
    iterations: int,
    restart: float = 0.0,
    per_frame: bool = True,
) -> np.ndarray:
    """Iterate votes <- (1 - restart) T votes + restart v0, each frame (`per_frame`, uNLC) or the
    whole shot renormalised to a maximum of 1. `restart = 0` is uNLC; a small restart keeps the motion evidence v0 in play, so the
    votes cannot drift to a large background cluster after many iterations."""
    counts = np.diff(starts)
    nonempty = counts > 0

    def per_frame_max(v):
        if not per_frame:  # one maximum for the whole shot
            return np.float32(max(float(v.max()), 1e-12)) if len(v) else np.float32(1)
        top = np.zeros(len(counts), np.float32)
        top[nonempty] = np.maximum.reduceat(v, starts[:-1][nonempty])
        return np.repeat(np.maximum(top, 1e-12), counts)

    v0 = votes.astype(np.float32)
    v0 = v0 / per_frame_max(v0)
    votes = v0
    for _ in range(iterations):
        votes = transition @ votes
        if restart > 0:
            votes = (1 - restart) * votes + restart * v0
        votes /= per_frame_max(votes)
    return votes
