"""Checkpoints: everything a run needs to continue exactly, as plain state_dicts.

A checkpoint holds the generator, critic and EMA generator, both optimizers and schedulers, the
step, the resolved config, the data-order position and every RNG state (Python, NumPy, torch CPU
and CUDA, one entry per process). No pickled modules: it loads after a refactor. Files are written
atomically, so `latest.pt` is always a complete checkpoint.
"""

from __future__ import annotations

import random
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from focusgan.errors import UserError
from focusgan.utils.atomic import atomic_path


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save(state: dict[str, Any], latest: Path, snapshot: Path | None = None) -> Path:
    """Write the checkpoint `latest` (`RunDir.latest`), and a kept copy at `snapshot`."""
    with atomic_path(latest) as tmp:
        torch.save(state, tmp)
    if snapshot is not None:
        with atomic_path(snapshot) as tmp:
            shutil.copyfile(latest, tmp)
    return latest


# what every checkpoint `train` writes holds (see the module docstring)
KEYS = (
    "step",
    "config",
    "G",
    "D",
    "G_ema",
    "opt_G",
    "opt_D",
    "sched_G",
    "sched_D",
    "data_order",
    "rng",
)


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes; anything else would be
            raise ValueError("not a zip archive")  # unpickled (garbage can eat all memory)
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # a damaged file: say which and what to do
        raise UserError(
            f"cannot read checkpoint {path} ({type(e).__name__}: {e}); "
            "use an earlier one from its checkpoints/ folder"
        ) from None
    missing = [k for k in KEYS if k not in state] if isinstance(state, dict) else list(KEYS)
    if missing:
        raise UserError(
            f"{path} is not a focusgan checkpoint (no {', '.join(missing)}); "
            "use an earlier one from its checkpoints/ folder"
        )
    return state
