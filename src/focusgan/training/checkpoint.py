"""Checkpoints: everything a run needs to continue exactly, as plain state_dicts.

A checkpoint holds the generator, critic and EMA generator, both optimizers and schedulers, the
step, the resolved config, the data-order position and every RNG state (Python, NumPy, torch CPU
and CUDA, one entry per process). No pickled modules: it loads after a refactor. Files are written
atomically, so `latest.pt` is always a complete checkpoint.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from focusgan.errors import UserError
from focusgan.utils.atomic import atomic_path

LATEST = "latest.pt"


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


def save(state: dict[str, Any], run_dir: Path, snapshot: bool = False) -> Path:
    """Write `checkpoints/latest.pt` (and a kept `step-NNNNNNNN.pt` copy when `snapshot`)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    latest = ckpt_dir / LATEST
    with atomic_path(latest) as tmp:
        torch.save(state, tmp)
    if snapshot:
        with atomic_path(ckpt_dir / f"step-{state['step']:08d}.pt") as tmp:
            shutil.copyfile(latest, tmp)
    return latest


def find(run_dir: Path, which: str | None = None) -> Path:
    """The checkpoint file of a run: `latest` (default), a step number, or a path."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if which in (None, "latest"):
        path = ckpt_dir / LATEST
    elif re.fullmatch(r"\d+", str(which)):
        path = ckpt_dir / f"step-{int(which):08d}.pt"
    else:
        path = Path(which)
    if not path.exists():
        have = sorted(p.name for p in ckpt_dir.glob("*.pt")) if ckpt_dir.exists() else []
        raise UserError(
            f"no checkpoint {path}"
            + (
                f"; this run has: {', '.join(have)}"
                if have
                else f"; is {run_dir} a focusgan run directory?"
            )
        )
    return path


# what every checkpoint `train` writes holds (see the module docstring)
KEYS = ("step", "config", "G", "D", "G_ema", "opt_G", "opt_D", "sched_G", "sched_D", "data_order")


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
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
