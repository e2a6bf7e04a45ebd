"""Run focusgan commands, SIGKILL them at chosen moments, run them again, and check what they
left behind. Shared by tests/test_faults.py (a few kills) and benchmarks/faults.py (the campaign).

"Complete" means readable to the end by the library that reads it: a dataset file opens and all
its images load, a checkpoint loads, JSON and YAML parse, a PNG decodes. Work files (`*.partial`,
`*.parts/` folders of saved chunks) are not under a final name and are not checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def focusgan(*args: object) -> list[str]:
    """The command line `python -m focusgan ARGS` with this Python."""
    return [sys.executable, "-m", "focusgan", *map(str, args)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def is_work_file(path: Path) -> bool:
    return path.name.endswith(".partial") or any(p.name.endswith(".parts") for p in path.parents)


def incomplete(path: Path) -> str | None:
    """Why `path` is not a complete file of its kind (None when it is)."""
    suffix = path.suffix
    try:
        if suffix == ".h5":
            from focusgan.data.dataset import load_images, read_info

            info = read_info(path)
            if len(load_images(path)) != info.size:
                return "fewer images than its size"
        elif suffix == ".pt":
            import torch

            torch.load(path, map_location="cpu", weights_only=False)
        elif suffix == ".json":
            json.loads(path.read_text())
        elif suffix in (".yaml", ".yml"):
            import yaml

            yaml.safe_load(path.read_text())
        elif suffix == ".png":
            import cv2

            if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None:
                return "PNG does not decode"
    except Exception as e:  # any failure to read it to the end
        return f"{type(e).__name__}: {e}"
    return None


def incomplete_files(folder: Path) -> dict[str, str]:
    """Files under final names in `folder` that are not complete: {relative path: why}."""
    bad = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not is_work_file(path):
            why = incomplete(path)
            if why:
                bad[str(path.relative_to(folder))] = why
    return bad


def complete_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not is_work_file(p) and p.suffix in (".h5", ".pt", ".json", ".yaml")
        and incomplete(p) is None
    }  # fmt: skip


@dataclass
class KillLog:
    """What a series of kills did: how many landed, and what each left behind."""

    tried: int = 0  # kills sent to a running command
    finished_early: int = 0  # the command ended before its kill was due
    incomplete: list[str] = field(default_factory=list)  # files found incomplete after a kill
    lost: list[str] = field(default_factory=list)  # complete files gone or damaged after a kill
    runs: int = 0  # commands started, the final uninterrupted one included

    @property
    def survived(self) -> int:
        return self.tried if not (self.incomplete or self.lost) else 0


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        return subprocess.Popen(
            cmd, stdout=f, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True
        )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the command and every process it started (its worker processes)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_for(proc: subprocess.Popen, seconds: float, ready=None) -> bool:
    """Wait until `ready()` holds (if given), then `seconds` more; False if the command ended."""
    while ready is not None and not ready():
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return proc.poll() is None


def kill_and_rerun(
    command,
    folder: Path,
    delays: list[float],
    ready=None,
    timeout: float = 600,
) -> KillLog:
    """Run `command(attempt)` (a list, or a function of the attempt number giving one), SIGKILL it
    after each of `delays` seconds (counted from `ready()`, when given), check `folder` after each
    kill, then run it once more to the end (it must succeed)."""
    cmd = command if callable(command) else (lambda attempt: command)
    result, log = KillLog(), folder.parent / f"{folder.name}.log"
    folder.mkdir(parents=True, exist_ok=True)
    for attempt, delay in enumerate(delays):
        before = complete_files(folder)
        proc = start(cmd(attempt), log)
        result.runs += 1
        if not wait_for(proc, delay, ready):
            proc.wait()
            result.finished_early += 1
            continue
        kill_group(proc)
        result.tried += 1
        bad = incomplete_files(folder)
        result.incomplete += [f"{k} ({v})" for k, v in bad.items()]
        result.lost += sorted(p for p in before if not (folder / p).exists() or p in bad)
    proc = start(cmd(len(delays)), log)
    result.runs += 1
    code = proc.wait(timeout=timeout)
    if code != 0:
        raise AssertionError(f"the final run exited {code}: {log.read_text()[-3000:]}")
    return result
