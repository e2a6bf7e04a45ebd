"""Checkpoints: everything a run needs to continue exactly, as plain state_dicts.

A checkpoint holds the generator, critic and EMA generator, both optimizers and schedulers, the
step, the resolved config, the data-order position and every RNG state (Python, NumPy, torch CPU
and CUDA, one entry per process). No pickled modules: it loads after a refactor. Files are written
atomically, so `latest.pt` is always a complete checkpoint.

Only tensors and plain values (dicts, lists, tuples, numbers, strings, None) are stored, and
checkpoints are read with `torch.load(weights_only=True)`: a checkpoint from someone else cannot
run code when it is opened. A file that names any other object is refused; one written by an
earlier focusgan (NumPy's RNG state pickled as a NumPy array) can be converted once, by whoever
trusts it, with `focusgan convert-checkpoint FILE --trust-pickle` (`convert`).
"""

from __future__ import annotations

import io
import pickle
import random
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from focusgan.errors import UserError
from focusgan.training import TRUST_FLAG
from focusgan.utils.atomic import atomic_path

# What the checkpoints of earlier versions pickled besides tensors: NumPy's RNG state
# (`np.random.get_state()`, a tuple holding a uint32 array)
LEGACY_GLOBALS = frozenset(
    {
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.dtypes.UInt32DType",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
    }
)


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain values (what `set_rng_state` takes)."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=True),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return _plain_rng(state)


def _plain_rng(state: dict[str, Any]) -> dict[str, Any]:
    """RNG states with Python's and NumPy's (`random.getstate()`, `np.random.get_state()`
    tuples, as earlier versions stored them) as tensors and plain values."""
    out = dict(state)
    if isinstance(state["python"], tuple):
        version, mt, gauss = state["python"]
        out["python"] = {"version": version, "state": torch.tensor(mt), "gauss": gauss}
    if isinstance(state["numpy"], tuple):
        _, key, pos, has_gauss, cached = state["numpy"]
        out["numpy"] = {
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(cached),
        }
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states `rng_state` returned, exactly."""
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    key = npy["key"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", key, npy["pos"], npy["has_gauss"], npy["gauss"]))
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


def _unsafe_globals(path: Path) -> list[str] | None:
    """The objects other than tensors and plain values that `path`'s pickle names (read as
    opcodes, never run); None when it cannot be read that way."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:
        return None


def _refusal(path: Path, error: Exception) -> str:
    """Why `path`, which `torch.load(weights_only=True)` refused with `error`, is not opened."""
    names = _unsafe_globals(path)
    if names and set(names) <= LEGACY_GLOBALS:
        return (
            f"{path} was written by an earlier focusgan (NumPy objects pickled in its RNG "
            "state), and unpickling can run code; if you trust where it came from, convert it "
            f"once: focusgan convert-checkpoint {path} {TRUST_FLAG}"
        )
    if names:
        what = f"it names {', '.join(names[:5])}, which no focusgan checkpoint holds"
    else:  # damaged, or an object the opcode scan cannot name: say what the unpickler said
        lines = [x.strip() for x in str(error).splitlines() if x.strip()]
        last = lines[-1] if lines else type(error).__name__
        said = next((x for x in lines if "GLOBAL" in x or "Unsupported" in x), last)
        what = f"it holds what is not tensors and plain values ({said[:200]})"
    return (
        f"{path} was refused and nothing in it was run: {what}; do not use this file, or use an "
        "earlier one from its checkpoints/ folder"
    )


def _check_rng(rng: Any) -> bool:
    """Whether a checkpoint's `rng` entry is a list of states in `rng_state`'s form."""
    if not isinstance(rng, list) or not rng:
        return False
    for state in rng:
        try:
            py, npy = state["python"]["state"], state["numpy"]["key"]
            ok = torch.is_tensor(state["torch"]) and py.shape == (625,) and npy.shape == (624,)
        except (TypeError, KeyError, IndexError, AttributeError):
            return False
        if not ok:
            return False
    return True


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint's state, read with `weights_only=True`: tensors and plain values only,
    anything else (an object that would run code when unpickled) is a one-line `UserError`."""
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes; anything else would be
            raise ValueError("not a zip archive")  # unpickled (garbage can eat all memory)
        with warnings.catch_warnings():  # (torch warns of pickle protocols it did not write)
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # what the restricted unpickler does not build
        raise UserError(_refusal(Path(path), e)) from None
    except Exception as e:  # a damaged file: say which and what to do
        raise UserError(
            f"cannot read checkpoint {path} ({type(e).__name__}: {_first_line(e)}); "
            "use an earlier one from its checkpoints/ folder"
        ) from None
    return _checked(state, path)


def _first_line(e: BaseException) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[0] if lines else type(e).__name__


def _checked(state: Any, path: Path) -> dict[str, Any]:
    """`state` when it holds what every checkpoint holds, else a one-line `UserError`."""
    missing = [k for k in KEYS if k not in state] if isinstance(state, dict) else list(KEYS)
    if missing:
        raise UserError(
            f"{path} is not a focusgan checkpoint (no {', '.join(missing)}); "
            "use an earlier one from its checkpoints/ folder"
        )
    if not _check_rng(state["rng"]):
        raise UserError(
            f"{path} is not a focusgan checkpoint of this version (its RNG state is not "
            "tensors); use an earlier one from its checkpoints/ folder"
        )
    return state


def convert(path: Path, *, trust_pickle: bool = False) -> bool:
    """Rewrite a checkpoint of an earlier version (NumPy's RNG state pickled) in the current
    form, in place (atomically); False when it is in the current form already. Unpickling runs
    whatever the file says, so it needs `trust_pickle`; a file that names objects other than
    NumPy's (read from its opcodes, before unpickling) is refused even then."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UserError(f"cannot read checkpoint {path} (not a zip archive, as torch.save writes)")
    names = _unsafe_globals(path)
    if names == []:
        load(path)  # (a one-line error if it is not a checkpoint)
        return False
    if not trust_pickle:
        raise UserError(
            f"converting {path} unpickles it, which runs any code it holds; add {TRUST_FLAG} "
            "only if you trust where the file came from"
        )
    if names is None or not set(names) <= LEGACY_GLOBALS:
        shown = ", ".join(names[:5]) if names else "objects it cannot list"
        raise UserError(
            f"{path} is not a checkpoint of an earlier focusgan: it names {shown}; not converted"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        state["rng"] = [_plain_rng(s) for s in state["rng"]]
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _checked(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True), path)
    except UserError:
        raise
    except Exception as e:  # (an UnpicklingError: more than an earlier version wrote)
        raise UserError(f"cannot convert {path} ({type(e).__name__}: {_first_line(e)})") from None
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return True
