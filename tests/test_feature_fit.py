"""The feature model without torch: its network through OpenCV's DNN module from an ONNX copy
made once per machine (`video.features.feature_maps`), and its logistic regression
(`fit_posterior`) as the unique minimum of a convex objective by Newton's method in NumPy.
Importing torch (and `torch._dynamo`, which torch's optimizers import) cost each `segment`
command 1-3 s."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import torch

from focusgan.video.features import FeatureParams, fit_posterior, newton_logistic


def _shot_features(rows: int = 59904, dims: int = 152, seed: int = 0):
    """Feature rows at a real shot's size (26 frames of 48 x 48 cells, 152 channels as blocks 4
    and 10 of EfficientNet-Lite0 give) whose soft labels depend on a direction in feature space
    plus noise, so neither side is separable."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dims)).astype(np.float32)
    direction = rng.normal(size=dims)
    score = x @ direction / np.sqrt(dims) + rng.normal(scale=0.7, size=rows)
    return x, (1 / (1 + np.exp(-3 * score))).astype(np.float32)


def _objective_gradient(theta, xs, ys, ws, l2):
    """The gradient of sum_i ws_i BCE + l2 |w|^2 in float64 NumPy, written from its definition."""
    z = xs @ theta
    r = ws * (1 / (1 + np.exp(-z)) - ys)
    g = xs.T @ r
    g[:-1] += 2 * l2 * theta[:-1]
    return g


def test_the_fit_is_the_objectives_minimum_at_a_real_size():
    x, prob = _shot_features()
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(16384, 153))
    xs[:, -1] = 1.0
    ys = (rng.random(16384) < 0.4).astype(np.float64)
    ws = rng.random(16384)
    ws[ys == 1] /= ws[ys == 1].sum()
    ws[ys == 0] /= ws[ys == 0].sum()
    theta = newton_logistic(xs.astype(np.float32), ys, ws, 1e-3)
    # first-order optimality, checked in float64 from the definition: the gradient vanishes
    # (the objective is strictly convex, so this is its unique minimum)
    g = _objective_gradient(theta, xs.astype(np.float32).astype(np.float64), ys, ws, 1e-3)
    assert np.abs(g).max() < 1e-5
    post = fit_posterior(x, prob, FeatureParams())
    assert post.shape == prob.shape and 0 <= post.min() and post.max() <= 1
    # it learnt the labels' direction: agreement with the soft labels' side
    assert ((post > 0.5) == (prob > 0.5)).mean() > 0.75


def test_the_fit_equals_torch_lbfgs_run_to_convergence():
    """The previous fit (torch.optim.LBFGS, 100 iterations, strong Wolfe) reaches the same
    minimum: posteriors within 1e-3 at a real shot's size."""
    x, prob = _shot_features(seed=2)
    p = FeatureParams()
    post = fit_posterior(x, prob, p)
    pos, neg = np.clip(prob - 0.5, 0, None), np.clip(0.5 - prob, 0, None)
    rows = np.zeros(len(prob), bool)
    rows[:: -(-len(prob) // p.fit_rows)] = True
    kp, kn = rows & (pos > 0.025), rows & (neg > 0.025)
    xt = torch.from_numpy(x)
    xt = xt / (xt.norm(dim=1, keepdim=True) + 1e-6)
    xs = torch.cat([xt[kp], xt[kn]])
    ys = torch.cat([torch.ones(int(kp.sum())), torch.zeros(int(kn.sum()))])
    ws = torch.from_numpy(np.concatenate([pos[kp] / pos[kp].sum(), neg[kn] / neg[kn].sum()]))
    linear = torch.nn.Linear(x.shape[1], 1)
    torch.nn.init.zeros_(linear.weight), torch.nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            linear(xs)[:, 0], ys, reduction="none"
        )
        loss = (bce * ws.float()).sum() + p.l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        reference = torch.sigmoid(linear(xt)[:, 0]).numpy()
    assert np.abs(post - reference).max() < 1e-3


def test_the_network_through_opencv_equals_torch_at_a_real_size():
    """The ONNX copy run by OpenCV gives torch's features (the PyPI network's own forward, as
    `models.backbones` builds it) to within 1e-4 on a 854x480 frame (`FeatureParams.side` px
    for the network)."""
    import torch.nn.functional as F

    from focusgan.models import EFFNET_MEAN, EFFNET_STD
    from focusgan.models.backbones import load_backbone
    from focusgan.video.features import feature_maps
    from focusgan.video.io import resize_max_side

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (480, 854, 3), dtype=np.uint8), (5, 5), 2)
    p = FeatureParams()
    ours = feature_maps(frame[None], p)[0]
    net = load_backbone("efficientnet-lite0", None, "cpu").model
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(resize_max_side(frame, p.side)))
        x = (x.permute(2, 0, 1)[None].float() - EFFNET_MEAN) / EFFNET_STD
        x = net._swish(net._bn0(net._conv_stem(x)))
        kept = []
        for i, block in enumerate(net._blocks[: max(p.blocks) + 1]):
            x = block(x)
            if i in p.blocks:
                kept.append(x / (x.norm(dim=1, keepdim=True) + 1e-6))
        size = kept[0].shape[2:]
        reference = torch.cat([F.interpolate(k, size=size, mode="bilinear") for k in kept], 1)
    reference = reference[0].permute(1, 2, 0).numpy()
    h, w = resize_max_side(frame, p.side).shape[:2]  # stride 8 of the network's frame
    assert ours.shape == reference.shape == (-(-h // 8), -(-w // 8), 152)
    assert np.abs(ours - reference).max() < 1e-4


def test_a_damaged_network_copy_is_made_again(tmp_path, monkeypatch):
    from focusgan.video import features

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    features._trunk.cache_clear()
    try:
        path = features.trunk_file((4, 10))
        path.parent.mkdir(parents=True)
        path.write_bytes(b"not an onnx file")
        maps = features.feature_maps(np.zeros((1, 64, 96, 3), np.uint8), FeatureParams())
        assert maps.shape == (1, 8, 12, 152) and np.isfinite(maps).all()
        assert path.stat().st_size > 1_000_000  # exported anew
    finally:
        features._trunk.cache_clear()


def test_segmenting_never_imports_torch(tmp_path):
    """`segment` (network, feature model and all) runs without importing torch, once this
    machine has the network's ONNX copy (made here first if it has none)."""
    from focusgan.video.features import _trunk
    from focusgan.video.synthetic import write_videos

    _trunk((4, 10))
    video = write_videos(tmp_path, 1, seed=3, shot_lengths=(8,))[0]
    code = (
        "import sys; from focusgan.cli import main; "
        f"main(['segment', {str(video)!r}, '--out', {str(tmp_path / 'masks')!r}, '--no-overlay']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert len(list((tmp_path / "masks").glob("*.png"))) == 8
