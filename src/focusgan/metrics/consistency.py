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
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from focusgan.data.dataset import open_h5, read_info
from focusgan.errors import UserError
from focusgan.metrics.cache import cache_file, read_rows
from focusgan.metrics.options import SPLIT_SEED, SegmenterConfig
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
    n_heldout_groups: int = 0  # the photos / videos the held-out pairs come from

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


HELDOUT_RULE = (
    "held-out real pairs are whole groups, none of which has a sample among the training pairs: "
    "a COCO photo (image_id), a video (the source of samples with a frame index; a numbered "
    "frame file's folder), else one sample; the groups are drawn with the fixed split seed "
    f"{SPLIT_SEED}, whatever the evaluation seed"
)


def sample_groups(data_path: str | os.PathLike) -> np.ndarray:
    """One group id per sample of a dataset file: samples of one COCO photo (`image_id`) or of
    one video (`source` of samples with a `frame`; a numbered frame file stands for its folder,
    the sequence) share a group; any other sample is a group of its own (see `HELDOUT_RULE`)."""
    with open_h5(data_path) as f:
        n = int(f["images"].shape[0])
        image_id = f["image_id"][()] if "image_id" in f else np.full(n, -1)
        frame = f["frame"][()] if "frame" in f else np.full(n, -1)
        source = f["source"].asstr()[()] if "source" in f else np.full(n, "", object)
    keys = []
    for i in range(n):
        if image_id[i] >= 0:
            keys.append(f"image:{int(image_id[i])}")
        elif frame[i] >= 0 and source[i]:
            path = PurePosixPath(str(source[i]).replace("\\", "/"))
            keys.append(f"video:{path.parent if path.stem.isdigit() else path}")
        else:
            keys.append(f"sample:{i}")
    _, first, inverse = np.unique(np.array(keys, dtype=object), True, True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse]  # numbered in order of first sample: each sample alone -> 0..n-1


def split_pairs(
    size: int, cfg: SegmenterConfig, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the real pairs to train on and of the held-out ones (sorted).

    At most `cfg.max_pairs` samples are used; about `cfg.heldout` of them (at most 10%, at least
    one group) are held out as whole `groups` (default: each sample its own), so no group has
    samples on both sides. Drawn with `SPLIT_SEED`, not `cfg.seed`: every evaluation of a
    dataset holds out the same pairs, for the consistency and the generated-pairs measure alike.
    """
    groups = np.arange(size) if groups is None else np.asarray(groups)
    if len(groups) != size:
        raise ValueError(f"{len(groups)} group ids for {size} samples")
    rng = np.random.default_rng(SPLIT_SEED)
    used = np.sort(rng.permutation(size)[: min(size, cfg.max_pairs)])
    want = min(cfg.heldout, len(used) // 10)
    order = rng.permutation(np.unique(groups[used]))
    held_groups: list[int] = []
    count = 0
    for g in order[:-1]:  # at least one group stays for training
        if count >= want:
            break
        held_groups.append(int(g))
        count += int((groups[used] == g).sum())
    held = used[np.isin(groups[used], held_groups)] if want else used[:0]
    return np.setdiff1d(used, held), held


def heldout_split(
    data_path: str | os.PathLike, size: int, cfg: SegmenterConfig, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`split_pairs` by the file's `sample_groups` (returned third), or a one-line error when
    too few are left."""
    groups = sample_groups(data_path)
    train_idx, held_idx = split_pairs(size, cfg, groups)
    if len(train_idx) < 2 or len(held_idx) < 1:
        raise UserError(
            f"{data_path} has {size} samples in {len(np.unique(groups))} groups (photos, videos, "
            f"other samples); {what} needs at least 20 samples in 2 groups, so that held-out "
            "real pairs share no photo or video with the training pairs"
        )
    return train_idx, held_idx, groups


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
    train_idx, held_idx, groups = heldout_split(data_path, info.size, cfg, "the segmenter")
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
    seg.n_heldout_groups = len(np.unique(groups[held_idx]))
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
        "n_heldout_groups": seg.n_heldout_groups,
        "heldout_rule": HELDOUT_RULE,
        "dataset_sha256": seg.dataset_sha256,
    }
