"""Mask/image consistency: does a generated focus channel outline the generated object?

A small U-Net is trained on the dataset's real (RGB, mask) pairs to predict the mask from the
image. Applied to generated RGB, its prediction is compared with the generated mask (IoU of
the parts above 0.5). The same IoU on held-out real pairs is the ceiling: a generator whose
masks agree with its images as well as real data does reaches it. The trained net is cached
next to the dataset, keyed by the file's hash and the training settings.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from focusgan.data.dataset import open_h5, read_info
from focusgan.errors import UserError
from focusgan.metrics.cache import cache_file, read_rows
from focusgan.metrics.options import SegmenterConfig
from focusgan.utils.atomic import atomic_path
from focusgan.utils.device import to_device
from focusgan.utils.hashing import sha256_file


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class SmallUNet(nn.Module):
    """A light three-level U-Net, RGB in [-1, 1] -> mask logits at full size (H, W divisible
    by 8). The stem works at half resolution and the logits are upsampled bilinearly: masks
    of 64x64 samples are smooth enough, and it is 4x cheaper to train on a CPU."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, stride=2, padding=1), nn.ReLU())
        self.enc1, self.enc2, self.enc3 = _block(w, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.dec2, self.dec1 = _block(6 * w, 2 * w), _block(3 * w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(self.stem(x))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([F.interpolate(e3, scale_factor=2.0), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))
        logits = F.interpolate(
            self.out(d1), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return logits[:, 0]


def _to_input(rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def mask_iou(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-sample IoU of two boolean masks (N, H, W); 1 where both are empty."""
    inter = (pred & target).sum(axis=(1, 2))
    union = (pred | target).sum(axis=(1, 2))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


@dataclass
class Segmenter:
    """A trained segmenter with its held-out ceiling and provenance."""

    model: SmallUNet
    config: SegmenterConfig
    heldout_iou: float
    n_train: int
    n_heldout: int
    path: str
    dataset_sha256: str

    def predict(self, rgb: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Foreground (mask > 0.5) predicted from uint8 RGB (N, H, W, 3), boolean (N, H, W)."""
        return predict(self.model, rgb, batch_size)

    def consistency(self, images: np.ndarray) -> float:
        """Mean IoU between the predicted and the own mask of 4-channel uint8 images (N,H,W,4)."""
        return float(mask_iou(self.predict(images[..., :3]), images[..., 3] > 127).mean())


@torch.no_grad()
def predict(model: SmallUNet, rgb: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Foreground (logit > 0) predicted from uint8 RGB (N, H, W, 3), boolean (N, H, W)."""
    model.eval()
    out = [
        (model(_to_input(rgb[i : i + batch_size])) > 0).numpy()
        for i in range(0, len(rgb), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(rgb.shape[:3], bool)


def split_pairs(size: int, cfg: SegmenterConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the real pairs to train on and of the held-out ones (seeded, sorted)."""
    rng = np.random.default_rng(cfg.seed)
    used = np.sort(rng.permutation(size)[: min(size, cfg.max_pairs)])
    n_held = min(cfg.heldout, len(used) // 10)
    held = np.sort(rng.choice(used, n_held, replace=False)) if n_held else used[:0]
    return np.setdiff1d(used, held), held


def train_segmenter(
    data_path: str | os.PathLike, cfg: SegmenterConfig | None = None, progress: bool = True
) -> Segmenter:
    """Train on the dataset's real pairs (or load the cached net) and measure the ceiling."""
    cfg = cfg or SegmenterConfig()
    info = read_info(data_path)
    if info.channels != 4:
        raise UserError(f"{data_path} has no focus channel: the consistency measure needs one")
    digest = sha256_file(data_path)
    path = cache_file(data_path, "segmenter", f"{cfg.key()}-{digest[:16]}", ".pt")
    train_idx, held_idx = split_pairs(info.size, cfg)
    if len(train_idx) < 2 or len(held_idx) < 1:
        raise UserError(f"{data_path} has {info.size} samples; the segmenter needs at least 20")
    with open_h5(data_path) as f:
        train = read_rows(f["images"], train_idx)
        held = read_rows(f["images"], held_idx)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = to_device(SmallUNet(cfg.width), "cpu")
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
    else:
        fit(model, train, cfg, progress)
        with atomic_path(path) as tmp:
            torch.save({"model": model.state_dict(), "config": asdict(cfg)}, tmp)
    seg = Segmenter(model, cfg, 0.0, len(train_idx), len(held_idx), str(path), digest)
    seg.heldout_iou = seg.consistency(held)
    return seg


def fit(model: SmallUNet, pairs: np.ndarray, cfg: SegmenterConfig, progress: bool) -> None:
    """Train `model` on uint8 RGBA pairs (N, H, W, 4): BCE + soft Dice, flips, cosine lr."""
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    data = torch.from_numpy(pairs)
    model.train()
    for _ in tqdm(range(cfg.steps), desc="segmenter", unit="step", disable=not progress):
        idx = torch.randint(len(data), (min(cfg.batch_size, len(data)),), generator=gen)
        batch = data[idx]
        flip = torch.rand(len(batch), generator=gen) < 0.5  # mask flips with its image
        batch[flip] = batch[flip].flip(2)
        x = _to_input(batch[..., :3])
        y = batch[..., 3].float() / 255.0
        logits = model(x)
        prob = torch.sigmoid(logits)  # soft Dice keeps small objects from being ignored
        dice = 1 - (2 * (prob * y).sum() + 1) / (prob.sum() + y.sum() + 1)
        loss = F.binary_cross_entropy_with_logits(logits, y) + dice
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()


def describe(seg: Segmenter) -> dict:
    """Provenance of a segmenter for evaluation.json."""
    return {
        "cache": str(Path(seg.path)),
        "config": asdict(seg.config),
        "n_train": seg.n_train,
        "n_heldout": seg.n_heldout,
        "dataset_sha256": seg.dataset_sha256,
    }
