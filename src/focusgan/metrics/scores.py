"""Score formulas on backbone outputs: Inception Score, Fréchet distance, KID, precision/recall.

FID, KID and precision/recall call torch-fidelity's own functions, so focusgan's numbers are
the ones that library reports for the same features. The Inception Score is written here
because torch-fidelity's takes logits and the backbones hand out probabilities (one-hot
probabilities have no finite logits); it follows torch-fidelity's split convention exactly
(the same shuffle for a seed, the same split boundaries, float64), which a test checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Below this many samples per feature dimension a Fréchet distance uses a singular
# covariance: it is strongly biased and not comparable (DESIGN section 9).
FID_MIN_SAMPLES_PER_DIM = 1.0


@dataclass
class Stats:
    """Mean and covariance (float64) of a set of features."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def inception_score(
    probs: torch.Tensor | np.ndarray, splits: int = 10, seed: int = 2020, shuffle: bool = True
) -> tuple[float, float]:
    """Mean and std over `splits` of exp(E_x KL(p(y|x) || p(y))) for class probabilities (N, K).

    Uniform predictions give 1; one-hot predictions spread equally over K classes give K.
    """
    p = torch.as_tensor(np.asarray(probs)).double()
    if p.dim() != 2 or len(p) == 0:
        raise ValueError("expected probabilities of shape (N, K), N > 0")
    n = len(p)
    if not 1 <= splits <= n:
        raise ValueError(f"cannot split {n} samples into {splits} splits")
    if shuffle:
        p = p[np.random.RandomState(seed).permutation(n)]
    p = p / p.sum(dim=1, keepdim=True)
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits : (i + 1) * n // splits]
        q = chunk.mean(dim=0, keepdim=True)
        kl = (torch.xlogy(chunk, chunk) - torch.xlogy(chunk, q.expand_as(chunk))).sum(dim=1)
        scores.append(kl.mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def feature_stats(features: torch.Tensor | np.ndarray) -> Stats:
    """Mean and covariance of features (N, D), in float64 as FID needs."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError("need at least 2 feature vectors (N, D) for a covariance")
    return Stats(mu=f.mean(axis=0), sigma=np.cov(f, rowvar=False), n=len(f))


def frechet_distance(a: Stats, b: Stats) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets (torch-fidelity's FID)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    out = fid_statistics_to_metric(
        {"mu": a.mu, "sigma": a.sigma}, {"mu": b.mu, "sigma": b.sigma}, verbose=False
    )
    return float(out[KEY_METRIC_FID])


def fid_warning(n_gen: int, n_ref: int, dim: int) -> str | None:
    """A note when a Fréchet distance is computed from too few samples to be meaningful."""
    n = min(n_gen, n_ref)
    if n < FID_MIN_SAMPLES_PER_DIM * dim:
        return (
            f"Fréchet distance from {n} samples < {dim} feature dimensions: the covariance is "
            "singular and the value is biased upwards; not comparable with published numbers"
        )
    return None


def kernel_distance(
    gen: torch.Tensor | np.ndarray,
    ref: torch.Tensor | np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 2020,
) -> tuple[float, float, int]:
    """Unbiased squared MMD with the cubic polynomial kernel (KID): mean, std over subsets, and
    the subset size used (`subset_size`, lowered to the smaller set's size)."""
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    g, r = _float_tensor(gen), _float_tensor(ref)
    size = min(subset_size, len(g), len(r))
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    out = kid_features_to_metric(
        g,
        r,
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD]), size


def precision_recall(
    gen: torch.Tensor | np.ndarray, ref: torch.Tensor | np.ndarray, neighborhood: int = 3
) -> tuple[float, float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k = `neighborhood`:
    precision, recall and their F-score, through torch-fidelity."""
    from torch_fidelity.metric_prc import (
        KEY_METRIC_F_SCORE,
        KEY_METRIC_PRECISION,
        KEY_METRIC_RECALL,
        prc_features_to_metric,
    )

    g, r = _float_tensor(gen), _float_tensor(ref)
    if min(len(g), len(r)) <= neighborhood:
        raise ValueError(f"precision/recall needs more than {neighborhood} samples in each set")
    out = prc_features_to_metric(
        g,
        r,
        prc_neighborhood=neighborhood,
        prc_batch_size=10000,
        save_cpu_ram=max(len(g), len(r)) > 10000,
        verbose=False,
    )
    return (
        float(out[KEY_METRIC_PRECISION]),
        float(out[KEY_METRIC_RECALL]),
        float(out[KEY_METRIC_F_SCORE]),
    )


def _float_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32))
