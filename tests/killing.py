"""Run focusgan commands, SIGKILL them at chosen moments, run them again, and check what they
left behind and that they end as a clean run does. Shared by tests/test_faults.py (a few kills)
and benchmarks/faults.py (the campaign).

"Complete" means read to its end by the library that reads it, with a check that can fail (see
`CHECKS`); every file under a final name is checked, the chunks a job saves in `OUT.parts/` too
(they are renamed into place and reused), and a kind with no check is reported, never passed.
Only work files (`*.partial`) are not under a final name. Text kinds end with a line end; a cut
exactly at one is invisible in YAML, Markdown and JSON lines (no end mark: those are written
whole, by a rename or one append, so only a torn write would cut them).
A kill comes a chosen delay after the attempt's work has started (a file under the folder written
during the attempt, or a progress count that grew), never before the work or at a fixed fraction
of a clean run's time: reruns resume and reuse caches, so they are shorter than a clean run.
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
    """A temporary file of an atomic write (`X.partial`, `overlay.partial.mp4`)."""
    return ".partial" in path.suffixes


def _text(path: Path) -> str:
    """The file as UTF-8 text that ends with a line end (or is empty), else a ValueError."""
    text = path.read_bytes().decode("utf-8")
    if text and not text.endswith("\n"):
        raise ValueError("its last line is cut (no line end)")
    return text


def _dataset(path: Path) -> str | None:
    from focusgan.data.dataset import load_images, read_info, read_metadata

    info = read_info(path)
    if len(load_images(path)) != info.size:
        return "fewer images than its size"
    short = [c for c in info.metadata if len(read_metadata(path, c)) != info.size]
    return f"metadata columns {short} shorter than its size" if short else None


def _torch(path: Path) -> None:
    import torch

    torch.load(path, map_location="cpu", weights_only=True)  # as focusgan reads it


def _safetensors(path: Path) -> None:
    from safetensors.torch import load_file

    load_file(path)


def _json(path: Path) -> None:
    json.loads(path.read_bytes().decode("utf-8"))


def _jsonl(path: Path) -> str | None:
    """An append-only log (metrics.jsonl): every line a JSON object."""
    for i, line in enumerate(_text(path).splitlines(), 1):
        if not isinstance(json.loads(line), dict):
            return f"line {i} is not a JSON object"
    return None


def _yaml(path: Path) -> str | None:
    import yaml

    return None if isinstance(yaml.safe_load(_text(path)), dict) else "not a YAML mapping"


def _image(path: Path) -> str | None:
    """Decoded by Pillow, which refuses a cut JPEG (OpenCV decodes one, grey below the cut) and
    checks a PNG's chunk CRCs; a PNG also ends with its whole IEND chunk."""
    from PIL import Image

    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        im.load()
        png = im.format == "PNG"
    end = b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return "the PNG does not end with its IEND chunk" if png and not _ends_with(path, end) else None


def _ends_with(path: Path, end: bytes) -> bool:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - len(end)))
        return f.read() == end


def _npz(path: Path) -> None:
    """Every array read (each zip member's CRC checked), none pickled."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        for name in z.files:
            z[name]


def _markdown(path: Path) -> str | None:
    """The report: a title first, whole lines, tables whose rows have the header's cells, and
    the images it shows present (each one checked as a file of its own)."""
    import re

    lines = _text(path).splitlines()
    if not lines or not lines[0].startswith("# "):
        return "no title on its first line"
    cells, where = None, 0
    for i, line in enumerate(lines, 1):
        if line.startswith("|"):
            n = len(re.findall(r"(?<!\\)\|", line)) - 1
            cells, where = (n, i) if cells is None else (cells, where)
            if n != cells:
                return f"line {i}: {n} table cells, the header at line {where} has {cells}"
        else:
            cells = None
    missing = [
        link
        for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", "\n".join(lines))
        if not (path.parent / link).is_file()
    ]
    return f"images missing: {missing}" if missing else None


def _html(path: Path) -> str | None:
    """A whole document: parsed, every element closed (void ones aside), ending at </html>."""
    from html.parser import HTMLParser

    void = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}  # fmt: skip
    open_tags: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in void:
                open_tags.append(tag)

        def handle_endtag(self, tag):
            if not open_tags or open_tags.pop() != tag:
                raise ValueError(f"</{tag}> closes no open <{tag}>")

    text = _text(path)
    parser = Parser()
    parser.feed(text)
    parser.close()
    if open_tags or not text.rstrip().endswith("</html>"):
        return f"ends with <{'> <'.join(open_tags)}> open" if open_tags else "no </html> at its end"
    return None


def _events(path: Path) -> None:
    """TensorBoard's event log: every record's length and data pass their CRC32C and parse as
    an Event, up to the file's end (a record cut short is an error)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    reader = PyRecordReader_New(str(path))
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:  # the end, at a record boundary
            return
        Event.FromString(reader.record())


# How each kind of file is read to its end: None (or nothing) when complete, else why not.
CHECKS = {
    ".h5": _dataset, ".hdf5": _dataset, ".pt": _torch, ".safetensors": _safetensors,
    ".json": _json, ".jsonl": _jsonl, ".yaml": _yaml, ".yml": _yaml, ".npz": _npz,
    ".png": _image, ".jpg": _image, ".jpeg": _image, ".md": _markdown, ".html": _html,
    "tensorboard events": _events,
}  # fmt: skip


def kind(path: Path) -> str:
    """The key of `CHECKS` for `path`: its suffix, or what its name says it is."""
    return "tensorboard events" if path.name.startswith("events.out.tfevents.") else path.suffix


def incomplete(path: Path) -> str | None:
    """Why `path` is not a complete file of its kind (None when it is; a kind with no check is
    never complete)."""
    check = CHECKS.get(kind(path).lower())
    if check is None:
        return f"no completeness check for a {kind(path) or 'suffix-less'} file in tests/killing.py"
    try:
        return check(path)
    except Exception as e:  # any failure to read it to the end
        return f"{type(e).__name__}: {e}"


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
    """The complete files a kill must not lose: not the chunks in `OUT.parts/`, which the job
    removes once they are in `OUT` (they are checked for completeness all the same)."""
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file()
        and not is_work_file(p)
        and not any(q.name.endswith(".parts") for q in p.parents)
        and incomplete(p) is None
    }


@dataclass
class KillLog:
    """What a series of kills did: how many landed, and what each left behind."""

    tried: int = 0  # kills sent to a running command
    finished_early: int = 0  # the command ended before its kill was due
    incomplete: list[str] = field(default_factory=list)  # files found incomplete after a kill
    lost: list[str] = field(default_factory=list)  # complete files gone or damaged after a kill
    damaged: int = 0  # kills after which a file was incomplete or lost
    runs: int = 0  # commands started, the final uninterrupted one included

    @property
    def survived(self) -> int:
        return self.tried - self.damaged


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


def last_write(folder: Path) -> int:
    """The newest modification time (ns) of a file under `folder` (0 when there is none): it
    grows when a command writes any file there, work files included."""
    times = [0]
    for p in folder.rglob("*"):
        try:
            times.append(p.stat().st_mtime_ns if p.is_file() else 0)
        except FileNotFoundError:  # renamed or removed by the command meanwhile
            pass
    return max(times)


def wait_for(proc: subprocess.Popen, seconds: float, ready) -> bool:
    """Wait until `ready()` holds, then `seconds` more; False if the command ended first."""
    while not ready():
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return proc.poll() is None


def work_span(cmd: list[str], folder: Path, timeout: float = 600) -> float:
    """Run `cmd` to its end (it must succeed); the seconds from its first write under `folder`
    (when `kill_and_rerun` sees its work start) to its exit: the window a kill can land in."""
    folder.mkdir(parents=True, exist_ok=True)
    log, mark = folder.parent / f"{folder.name}.log", last_write(folder)
    proc = start(cmd, log)
    deadline, began = time.monotonic() + timeout, None
    while proc.poll() is None:
        if began is None and last_write(folder) > mark:
            began = time.monotonic()
        if time.monotonic() > deadline:
            kill_group(proc)
            raise AssertionError(f"{cmd[:4]} ran past {timeout} s")
        time.sleep(0.02)
    if proc.returncode != 0:
        raise AssertionError(f"the clean run exited {proc.returncode}: {log.read_text()[-3000:]}")
    return time.monotonic() - (began or time.monotonic())


def kill_and_rerun(
    command,
    folder: Path,
    delays: list[float],
    progress=None,
    timeout: float = 600,
) -> KillLog:
    """Run `command(attempt)` (a list, or a function of the attempt number giving one), SIGKILL it
    `delays[attempt]` seconds after its work has started, check `folder` after each kill, then run
    it once more to the end (it must succeed). The work has started when `progress()` (a number;
    by default `last_write(folder)`) grows past its value when the attempt began."""
    cmd = command if callable(command) else (lambda attempt: command)
    progress = progress or (lambda: last_write(folder))
    result, log = KillLog(), folder.parent / f"{folder.name}.log"
    folder.mkdir(parents=True, exist_ok=True)
    for attempt, delay in enumerate(delays):
        before, mark = complete_files(folder), progress()
        proc = start(cmd(attempt), log)
        result.runs += 1
        if not wait_for(proc, delay, lambda mark=mark: progress() > mark):
            proc.wait()
            result.finished_early += 1
            continue
        kill_group(proc)
        result.tried += 1
        bad = incomplete_files(folder)
        lost = sorted(p for p in before if not (folder / p).exists() or p in bad)
        result.incomplete += [f"{k} ({v})" for k, v in bad.items()]
        result.lost += lost
        result.damaged += bool(bad or lost)
    proc = start(cmd(len(delays)), log)
    result.runs += 1
    code = proc.wait(timeout=timeout)
    if code != 0:
        raise AssertionError(f"the final run exited {code}: {log.read_text()[-3000:]}")
    return result


def dying_on_save(cmd: list[str], k: int) -> list[str]:
    """`cmd` (a focusgan command line) in a Python that dies by SIGKILL half way through writing
    its `k`-th checkpoint (the first half of the file on disk)."""
    code = f"""
import os, signal, sys
import torch
import focusgan.training.checkpoint as checkpoint
calls, real_save = [0], torch.save
def dying_save(obj, f, *a, **kw):
    calls[0] += 1
    real_save(obj, f, *a, **kw)
    if calls[0] == {k}:
        os.truncate(f, os.path.getsize(f) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.torch.save = dying_save
from focusgan.cli import main
sys.exit(main({cmd[3:]!r}))
"""
    return [sys.executable, "-c", code]


# ------------------------------------------------------------------------------ the commands and
# how their results are compared with a clean run's

TINY = ["--preset", "tiny", "--width", "8", "--batch-critic", "8", "--batch-gen", "8",
        "--n-critic", "1", "--log-every", "1", "--checkpoint-every", "1",
        "--sample-every", "1000", "--snapshot-every", "1000", "--quiet"]  # fmt: skip
ITERS = 6
STATE_KEYS = ("step", "G", "D", "G_ema", "opt_G", "opt_D", "sched_G", "sched_D", "data_order")


def train_cmd(data: Path, run: Path, iters: int = ITERS):
    """The train command; `--resume` once a checkpoint exists (after a kill)."""

    def cmd(attempt: int) -> list[str]:
        resume = (run / "checkpoints" / "latest.pt").exists()
        return focusgan("train", "--data", data, "--out", run, "--iters", iters, *TINY,
                        *(["--resume"] if resume else []))  # fmt: skip

    return cmd


def prepare_coco_cmd(coco, out: Path) -> list[str]:
    """`prepare coco` of a COCO source's val2017 split with two worker processes."""
    return focusgan("prepare", "coco", "--annotations", coco.annotations("val2017"),
                    "--images", coco.images("val2017"), "--out", out, "--min-area", "0.05",
                    "--workers", "2", "--quiet")  # fmt: skip


def prepare_video_cmd(videos: Path, out: Path) -> list[str]:
    return focusgan("prepare", "video", videos, "--out", out, "--size", "32",
                    "--min-fg", "0.02", "--workers", "1", "--quiet")  # fmt: skip


def experiment_config(path: Path, data: Path, initial: bool) -> Path:
    """A tiny experiment (RGB and RGB+focus runs of 4 steps, evaluated) on `data`, at `path`."""
    import yaml

    doc = {
        "name": "kill",
        "datasets": [{"name": "toy", "file": str(data)}],
        "train": {"preset": "tiny", "width": 8, "iters": 4, "batch_critic": 8, "batch_gen": 8,
                  "n_critic": 1, "log_every": 1, "sample_every": 2, "checkpoint_every": 1},
        "evaluate": {"backbone": "efficientnet-lite0", "n": 16, "splits": 1, "ref_n": 32,
                     "metrics": ["is", "kid"], "initial": initial},
        "channels": [3, 4],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


def experiment_cmd(config: Path, out: Path) -> list[str]:
    """The experiment, its report written at the end (report.md, report.html, report-files/)."""
    return focusgan("experiment", config, "--out", out, "--quiet", "--report")


def final_state(run: Path) -> dict:
    import torch

    return torch.load(run / "checkpoints" / "latest.pt", map_location="cpu", weights_only=True)


def assert_same_state(a, b, where: str = "") -> None:
    """Equal to the bit: tensors, and the dicts, lists and values around them."""
    import torch

    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def metrics_lines(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def losses(run: Path) -> list[tuple[int, float, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(r["step"], r["loss_d"], r["loss_g"]) for r in rows if "loss_d" in r]


def assert_same_run(a: Path, b: Path) -> None:
    """The final checkpoints are equal bit for bit (weights, EMA, optimizers, schedulers, data
    order) and the loss log holds each step once, with the same values."""
    x, y = final_state(a), final_state(b)
    for key in STATE_KEYS:
        assert_same_state(x[key], y[key], key)
    assert losses(a) == losses(b), "loss log"


def dataset_contents(path: Path) -> dict:
    from focusgan.data.dataset import load_images, read_info, read_metadata

    out = {"images": load_images(path)}
    for name in read_info(path).metadata:
        out[name] = read_metadata(path, name)
    out["summary"] = read_info(path).filter_summary
    return out


def assert_same_dataset(a: Path, b: Path) -> None:
    """The same images, every metadata column and the same filter counts."""
    import numpy as np

    x, y = dataset_contents(a), dataset_contents(b)
    assert x.keys() == y.keys()
    for k in x:
        if isinstance(x[k], np.ndarray):
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)
        else:
            assert x[k] == y[k], k


def assert_same_experiment(a: Path, b: Path, initial: bool) -> None:
    """Both runs of the experiment equal bit for bit, every score equal, and it finished."""
    for c in (3, 4):
        run = f"toy/run-{c}ch"
        assert_same_run(a / run, b / run)
        for name in ("evaluation", *(["initial.evaluation"] if initial else [])):
            f = f"{run}/{name}-efficientnet-lite0.json"
            assert (
                json.loads((a / f).read_text())["scores"]
                == json.loads((b / f).read_text())["scores"]
            ), f
    assert json.loads((b / "experiment.json").read_text())["finished"]
