"""Generator weights to share: a run's EMA generator as one safetensors file (`focusgan export`).

The file holds the generator's state_dict (weights and buffers: batch-norm running statistics,
class frequencies) as safetensors, the format for shared weights that stores raw tensors and a
JSON header, so opening one runs no code. Its metadata (strings) say what it is:

    format            "focusgan-generator"
    format_version    "1"
    config            the run's resolved TrainConfig as JSON (architecture, classes, seed, ...)
    step              the checkpoint's generator step
    generator         "ema"
    focusgan_version  the version that wrote it

`read_generator` rebuilds the generator from the config through `algorithms.generator_with`
(the one place that builds a generator for a config), so `sample` and `evaluate` take the file
in place of a run and draw exactly the run's samples.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from focusgan import __version__
from focusgan.errors import UserError
from focusgan.training import checkpoint
from focusgan.training.algorithms import generator_with
from focusgan.training.config import TrainConfig
from focusgan.utils.atomic import atomic_path

FORMAT = "focusgan-generator"
FORMAT_VERSION = "1"


def export_generator(
    checkpoint_path: str | os.PathLike, out: str | os.PathLike
) -> tuple[Path, int]:
    """Write the EMA generator of a checkpoint (`RunDir.checkpoint`) to `out` (written
    atomically); returns the file and the step."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: name the file NAME.safetensors")
    state = checkpoint.load(Path(checkpoint_path), map_location="cpu")
    weights = {k: v.contiguous() for k, v in state["G_ema"].items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(state["config"]),
        "step": str(int(state["step"])),
        "generator": "ema",
        "focusgan_version": __version__,
    }
    with atomic_path(out) as tmp:
        save_file(weights, str(tmp), metadata=metadata)
    return out, int(state["step"])


def read_generator(path: str | os.PathLike) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The generator of a file `export_generator` wrote (on the CPU, in train mode as built),
    its config and step; anything else is a one-line `UserError` naming the file."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(
            f"{path} is neither a run directory nor a generator written by `focusgan export` "
            f"({type(e).__name__}: {e})"
        ) from None
    if meta.get("format") != FORMAT:
        raise UserError(
            f"{path} is a safetensors file but not a focusgan generator (its metadata has no "
            f"format {FORMAT!r})"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path} is a focusgan generator of format version {meta.get('format_version')!r}; "
            f"this focusgan reads version {FORMAT_VERSION}"
        )
    try:
        config = json.loads(meta["config"])
        step = int(meta["step"])
        if not isinstance(config, dict):
            raise ValueError("config is not an object")
    except (KeyError, ValueError, TypeError) as e:
        raise UserError(f"{path} is a damaged focusgan generator (metadata: {e!r})") from None
    try:
        cfg = TrainConfig.from_dict(config)
    except (UserError, TypeError) as e:
        raise UserError(f"{path} is a damaged focusgan generator (config: {e})") from None
    return generator_with(cfg, weights, path), cfg, step
