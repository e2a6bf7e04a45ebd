"""Faults: SIGKILL at random moments, corrupt inputs, a full disk, a NaN in the gradients.

Fast cases of the campaign in benchmarks/faults.py (which runs many more kills and examples).
The promises checked (README): an interrupted job resumes and ends exactly as an uninterrupted
one; no file under a final name is ever incomplete; a finished file is never lost; bad input is a
counted skip or a one-line error (exit 2), never a traceback; a failed write keeps the previous
file and says what happened; a non-finite state stops training at the last good checkpoint.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusgan.cli import main
from focusgan.data.dataset import load_images, read_info, read_metadata
from killing import child_env, focusgan, incomplete, incomplete_files, kill_and_rerun

TINY = ["--preset", "tiny", "--width", "8", "--batch-critic", "8", "--batch-gen", "8",
        "--n-critic", "1", "--log-every", "1", "--checkpoint-every", "1",
        "--sample-every", "1000", "--snapshot-every", "1000", "--quiet"]  # fmt: skip
ITERS = 6
STATE_KEYS = ("step", "G", "D", "G_ema", "opt_G", "opt_D", "sched_G", "sched_D", "data_order")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_cmd(data: Path, run: Path, iters: int = ITERS):
    """The train command; from the second attempt on, `--resume` once a checkpoint exists."""

    def cmd(attempt: int) -> list[str]:
        resume = (run / "checkpoints" / "latest.pt").exists()
        return focusgan("train", "--data", data, "--out", run, "--iters", iters, *TINY,
                        *(["--resume"] if resume else []))  # fmt: skip

    return cmd


def assert_same_state(a: dict, b: dict, where: str = "") -> None:
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


def final_state(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "latest.pt", map_location="cpu", weights_only=False)


def losses(run: Path) -> list[tuple[int, float, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(r["step"], r["loss_d"], r["loss_g"]) for r in rows if "loss_d" in r]


@pytest.fixture(scope="module")
def reference_run(toy_h5, tmp_path_factory) -> Path:
    """The uninterrupted run, made by the same command line."""
    run = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(train_cmd(toy_h5, run)(0), env=child_env(), check=True, timeout=600)
    return run


def timed_run(cmd: list[str]) -> float:
    """Run a command to the end (it must succeed); its wall time, to place kills inside it."""
    start = time.monotonic()
    subprocess.run(cmd, env=child_env(), check=True, timeout=900)
    return time.monotonic() - start


def metrics_lines(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


# ------------------------------------------------------------------------------ SIGKILL


def test_train_killed_at_random_moments_resumes_bit_for_bit(toy_h5, reference_run, tmp_path):
    run = tmp_path / "run"
    rng = random.Random(11)
    # kill twice, each time a random moment (0..0.6 s) after the run has logged a new step
    seen = {"lines": 0}

    def progressed() -> bool:
        return metrics_lines(run) > seen["lines"]

    def cmd(attempt: int) -> list[str]:
        seen["lines"] = metrics_lines(run)
        return train_cmd(toy_h5, run)(attempt)

    log = kill_and_rerun(cmd, run, [rng.uniform(0, 0.6) for _ in range(2)], ready=progressed)
    assert log.tried + log.finished_early == 2 and log.tried >= 1
    assert log.incomplete == [] and log.lost == []
    a, b = final_state(reference_run), final_state(run)
    for key in STATE_KEYS:
        assert_same_state(a[key], b[key], key)  # exact on CPU
    assert losses(run) == losses(reference_run)  # each step logged once, same values


def test_train_killed_while_writing_a_checkpoint(toy_h5, reference_run, tmp_path):
    """SIGKILL in the middle of `torch.save` of the 3rd checkpoint: `latest.pt` is still the 2nd
    one, complete; the resumed run ends exactly as the uninterrupted one."""
    run = tmp_path / "run"
    code = f"""
import os, signal, sys
import torch
import focusgan.training.checkpoint as checkpoint
calls = {{"n": 0}}
real_save = torch.save
def dying_save(obj, f, *a, **k):
    calls["n"] += 1
    real_save(obj, f, *a, **k)
    if calls["n"] == 3:  # half of the file is on disk when the process dies
        size = os.path.getsize(f)
        with open(f, "r+b") as fh:
            fh.truncate(size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.torch.save = dying_save
from focusgan.cli import main
sys.exit(main({[str(x) for x in train_cmd(toy_h5, run)(0)[3:]]!r}))
"""
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), timeout=600)
    assert proc.returncode == -9
    assert incomplete_files(run) == {}
    assert final_state(run)["step"] == 2
    subprocess.run(train_cmd(toy_h5, run)(1), env=child_env(), check=True, timeout=600)
    a, b = final_state(reference_run), final_state(run)
    for key in STATE_KEYS:
        assert_same_state(a[key], b[key], key)
    assert not list(run.rglob("*.partial"))


def test_resume_after_a_kill_mid_log_line(toy_h5, reference_run, tmp_path):
    """A kill while appending to metrics.jsonl leaves half a line: the resume drops it."""
    run = tmp_path / "run"
    first = [*train_cmd(toy_h5, run)(0), "--stop-after", "3"]
    subprocess.run(first, env=child_env(), check=True, timeout=600)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "loss_d": 1.2')  # no end: the process died here
    subprocess.run(train_cmd(toy_h5, run)(1), env=child_env(), check=True, timeout=600)
    assert losses(run) == losses(reference_run)
    assert_same_state(final_state(reference_run)["G"], final_state(run)["G"])


def working(out: Path) -> bool:
    """Whether a prepare job writing `out` has started its work (saved chunks or the file)."""
    return any(p.name != out.name for p in out.parent.iterdir())


def dataset_contents(path: Path) -> dict:
    out = {"images": load_images(path)}
    for name in read_info(path).metadata:
        out[name] = read_metadata(path, name)
    out["summary"] = read_info(path).filter_summary
    return out


def assert_same_dataset(a: Path, b: Path) -> None:
    x, y = dataset_contents(a), dataset_contents(b)
    assert x.keys() == y.keys()
    for k in x:
        if isinstance(x[k], np.ndarray):
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)
        else:
            assert x[k] == y[k], k


@pytest.fixture(scope="module")
def small_coco(tmp_path_factory):
    from generated import write_coco

    return write_coco(tmp_path_factory.mktemp("coco"), {"val2017": 12}, seed=3)


def test_prepare_coco_with_workers_killed_then_rerun(small_coco, tmp_path):
    ann, images = small_coco.annotations("val2017"), small_coco.images("val2017")

    def cmd(out: Path) -> list[str]:
        return focusgan("prepare", "coco", "--annotations", ann, "--images", images, "--out", out,
                        "--min-area", "0.05", "--workers", "2", "--quiet")  # fmt: skip

    clean = tmp_path / "clean" / "coco.h5"
    clean.parent.mkdir()
    subprocess.run(cmd(clean), env=child_env(), check=True, timeout=600)
    out = tmp_path / "killed" / "coco.h5"
    rng = random.Random(5)
    delays = [rng.uniform(0, 0.5) for _ in range(2)]  # seconds after its work files appear
    log = kill_and_rerun(cmd(out), out.parent, delays, ready=lambda: working(out))
    assert log.tried >= 1 and log.incomplete == [] and log.lost == []
    assert_same_dataset(clean, out)
    assert sorted(p.name for p in out.parent.iterdir() if p.is_file()) == ["coco.h5"]


def test_prepare_video_killed_then_rerun(tmp_path):
    from focusgan.video.synthetic import write_videos

    videos = tmp_path / "videos"
    write_videos(videos, 2, seed=4, size=(64, 80), shot_lengths=(10, 8))

    def cmd(out: Path) -> list[str]:
        return focusgan("prepare", "video", videos, "--out", out, "--size", "32",
                        "--min-fg", "0.02", "--workers", "1", "--quiet")  # fmt: skip

    clean = tmp_path / "clean" / "video.h5"
    clean.parent.mkdir()
    subprocess.run(cmd(clean), env=child_env(), check=True, timeout=600)
    out = tmp_path / "killed" / "video.h5"
    rng = random.Random(6)
    delays = [rng.uniform(0, 1.0) for _ in range(2)]  # seconds after its work files appear
    log = kill_and_rerun(cmd(out), out.parent, delays, ready=lambda: working(out))
    assert log.tried >= 1 and log.incomplete == [] and log.lost == []
    assert_same_dataset(clean, out)


# ------------------------------------------------------------------------------ corrupt inputs

# a few examples here; benchmarks/faults.py runs the same properties with many more
EXAMPLES = settings(
    max_examples=int(os.environ.get("FOCUSGAN_FAULT_EXAMPLES", "12")),
    deadline=None,
    derandomize=os.environ.get("FOCUSGAN_FAULT_EXAMPLES") is None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """`focusgan ARGV` in this process: (exit status, stderr). A traceback fails the test."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_clean_outcome(code: int, err: str) -> None:
    """A counted skip (exit 0) or a one-line error (exit 2); never a traceback."""
    assert code in (0, 2), err
    if code == 2:
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1 and "error:" in lines[0], err


IMAGE_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
    st.tuples(st.just("garbage"), st.binary(min_size=0, max_size=300)),
    st.tuples(st.just("empty"), st.just(b"")),
    st.tuples(st.just("png header"), st.binary(max_size=64)),
)


@EXAMPLES
@given(damage=IMAGE_DAMAGE, which=st.integers(0, 5))
def test_corrupt_coco_images_are_counted_skips(small_coco, tmp_path_factory, capsys, damage, which):
    folder = tmp_path_factory.mktemp("bad")
    images = folder / "images"
    shutil.copytree(small_coco.images("val2017"), images)
    doc = json.loads(small_coco.annotations("val2017").read_text())
    victim = images / doc["images"][which]["file_name"]
    kind, arg = damage
    data = victim.read_bytes()
    if kind == "truncate":
        victim.write_bytes(data[: int(len(data) * arg)])
    elif kind == "png header":
        victim.write_bytes(b"\x89PNG\r\n\x1a\n" + arg)
    else:
        victim.write_bytes(arg)
    out = folder / "out.h5"
    code, err = run_cli(["prepare", "coco", "--annotations", small_coco.annotations("val2017"),
                         "--images", images, "--out", out, "--min-area", "0.05",
                         "--workers", "0", "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    info = read_info(out)
    victims = sum(1 for a in doc["annotations"] if a["image_id"] == doc["images"][which]["id"])
    if victims:  # the damaged image's instances are skipped (and counted), the others kept
        assert (
            sum(info.filter_summary.skipped.values()) + sum(info.filter_summary.rejected.values())
            >= 1
        )
    assert incomplete_files(folder) == {}


def json_values():
    return st.one_of(
        st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
        st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=8),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    )  # fmt: skip


@EXAMPLES
@given(
    section=st.sampled_from(["images", "annotations", "categories"]),
    index=st.integers(0, 50),
    key=st.sampled_from(["id", "image_id", "category_id", "segmentation", "bbox", "iscrowd",
                         "file_name", "height", "width", "name", "counts", "size"]),
    action=st.sampled_from(["delete", "replace"]),
    value=json_values(),
)  # fmt: skip
def test_damaged_annotation_json_is_a_skip_or_one_line(
    small_coco, tmp_path_factory, capsys, section, index, key, action, value
):
    doc = json.loads(small_coco.annotations("val2017").read_text())
    entries = doc[section]
    entry = entries[index % len(entries)]
    if key in ("counts", "size"):  # inside an RLE segmentation, when this entry has one
        entry = entry.get("segmentation") if isinstance(entry.get("segmentation"), dict) else entry
    if action == "delete":
        entry.pop(key, None)
    else:
        entry[key] = value
    folder = tmp_path_factory.mktemp("json")
    ann, out = folder / "ann.json", folder / "out.h5"
    ann.write_text(json.dumps(doc))
    code, err = run_cli(["prepare", "coco", "--annotations", ann, "--images",
                         small_coco.images("val2017"), "--out", out, "--min-area", "0.05",
                         "--workers", "0", "--quiet"], capsys)  # fmt: skip
    assert_clean_outcome(code, err)
    assert out.exists() == (code == 0)
    assert incomplete_files(folder) == {}


MASK_DAMAGE = st.one_of(
    st.tuples(st.just("size"), st.integers(-20, 20).filter(bool)),
    st.tuples(st.just("palette"), st.integers(1, 255)),
    st.tuples(st.just("rgb"), st.integers(0, 255)),
    st.tuples(st.just("16-bit"), st.integers(1, 65535)),
    st.tuples(st.just("garbage"), st.binary(max_size=200)),
    st.tuples(st.just("truncate"), st.floats(0.0, 0.95)),
)


@EXAMPLES
@given(damage=MASK_DAMAGE, frame=st.integers(0, 44))
def test_damaged_masks_are_counted_skips(generated_davis, tmp_path_factory, capsys, damage, frame):
    from PIL import Image

    folder = tmp_path_factory.mktemp("masks")
    masks = folder / "masks"
    shutil.copytree(generated_davis.masks / "seq-palette", masks)
    victim = masks / f"{frame:05d}.png"
    mask = np.asarray(Image.open(victim))
    kind, arg = damage
    if kind == "size":
        h, w = mask.shape
        Image.fromarray(np.zeros((max(1, h + arg), w), np.uint8)).save(victim)
    elif kind == "palette":  # DAVIS-2017 style: another object index
        im = Image.fromarray((mask > 0).astype(np.uint8) * arg, mode="P")
        im.putpalette(list(range(256)) * 3)
        im.save(victim)
    elif kind == "rgb":
        Image.fromarray(np.dstack([(mask > 0) * arg] * 3).astype(np.uint8)).save(victim)
    elif kind == "16-bit":
        Image.fromarray(((mask > 0) * arg).astype(np.uint16)).save(victim)
    elif kind == "garbage":
        victim.write_bytes(arg)
    else:
        data = victim.read_bytes()
        victim.write_bytes(data[: int(len(data) * arg)])
    out = folder / "out.h5"
    code, err = run_cli(["prepare", "pairs", "--images", generated_davis.images / "seq-palette",
                         "--masks", masks, "--out", out, "--size", "32", "--workers", "0",
                         "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    s = read_info(out).filter_summary
    # skipped items are not candidates (the filter never saw them)
    assert s.candidates + sum(s.skipped.values()) == 45
    assert s.kept + sum(s.rejected.values()) == s.candidates
    if kind in ("size", "garbage"):
        assert sum(s.skipped.values()) == 1
    assert incomplete(out) is None and not list(folder.glob("*.partial"))


@settings(EXAMPLES, max_examples=max(3, EXAMPLES.max_examples // 4))
@given(fraction=st.floats(0.0, 0.9))
def test_truncated_video_is_a_counted_skip(tmp_path_factory, capsys, fraction):
    from focusgan.video.synthetic import write_videos

    folder = tmp_path_factory.mktemp("video")
    good, bad = write_videos(folder / "in", 2, seed=1, size=(64, 80), shot_lengths=(8,))
    data = bad.read_bytes()
    bad.write_bytes(data[: int(len(data) * fraction)])
    out = folder / "out.h5"
    code, err = run_cli(["prepare", "video", good, bad, "--out", out, "--size", "32",
                         "--min-fg", "0.02", "--workers", "0", "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    s = read_info(out).filter_summary
    assert {str(x) for x in read_metadata(out, "source")} <= {str(good), str(bad)}
    assert s.skipped.get("unreadable video", 0) <= 1
    assert incomplete_files(folder) == {}


DATASET_DAMAGE = st.one_of(
    st.tuples(st.just("delete attr"), st.sampled_from(
        ["resolution", "channels", "mask_semantics", "format", "extra", "filter_summary"])),
    st.tuples(st.just("set attr"), st.sampled_from(
        ["resolution", "channels", "mask_semantics", "extra", "filter_summary", "format_version"]),
        st.one_of(st.integers(-5, 1000), st.text(max_size=6), st.floats(allow_nan=True))),
    st.tuples(st.just("images"), st.sampled_from(
        ["float32", "int16", "wrong side", "3-d", "5 channels", "empty"])),
    st.tuples(st.just("delete"), st.sampled_from(["images", "source", "fg_fraction"])),
)  # fmt: skip


@EXAMPLES
@given(damage=DATASET_DAMAGE)
def test_damaged_dataset_files_are_one_line_errors(toy_h5, tmp_path_factory, capsys, damage):
    import h5py

    folder = tmp_path_factory.mktemp("h5")
    path = folder / "bad.h5"
    shutil.copy(toy_h5, path)
    with h5py.File(path, "r+") as f:
        kind = damage[0]
        if kind == "delete attr":
            del f.attrs[damage[1]]
        elif kind == "set attr":
            f.attrs[damage[1]] = damage[2]
        elif kind == "delete":
            del f[damage[1]]
        else:
            images = f["images"][()]
            del f["images"]
            new = {
                "float32": images.astype(np.float32),
                "int16": images.astype(np.int16),
                "wrong side": images[:, :, :30],
                "3-d": images[..., 0],
                "5 channels": np.concatenate([images, images[..., :1]], axis=-1),
                "empty": images[:0],
            }[damage[1]]
            f.create_dataset("images", data=new, maxshape=(None, *new.shape[1:]))
    for argv in (
        ["inspect", path, "--grid", folder / "grid.png"],
        ["train", "--data", path, "--out", folder / "run", *TINY, "--iters", "1"],
        ["sample", folder / "run", "--n", "4", "--out", folder / "s.png"],
    ):
        code, err = run_cli(argv, capsys)
        if argv[0] != "sample" or (folder / "run" / "checkpoints").exists():
            assert_clean_outcome(code, err)
    assert incomplete_files(folder) == {} or list(incomplete_files(folder)) == ["bad.h5"]


def test_checkpoint_from_another_config_or_damaged_is_one_line(toy_h5, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(["train", "--data", toy_h5, "--out", a, *TINY, "--iters", "1"], capsys)[0] == 0
    (b / "checkpoints").mkdir(parents=True)
    shutil.copy(a / "checkpoints" / "latest.pt", b / "checkpoints" / "latest.pt")
    wider = [x if x != "8" else "16" for x in TINY]  # width (and batch sizes) differ
    code, err = run_cli(["train", "--data", toy_h5, "--out", b, *wider, "--iters", "2",
                         "--resume"], capsys)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and "width" in err
    ckpt = b / "checkpoints" / "latest.pt"
    before = sha256(ckpt)
    for damage in (lambda: ckpt.write_bytes(b""), lambda: ckpt.write_bytes(b"PK\x03\x04junk"),
                   lambda: torch.save({"step": 1}, ckpt)):  # fmt: skip
        damage()
        for argv in (["train", "--data", toy_h5, "--out", b, *TINY, "--iters", "2", "--resume"],
                     ["sample", b, "--n", "4", "--out", tmp_path / "s.png"]):  # fmt: skip
            code, err = run_cli(argv, capsys)
            assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert before != sha256(ckpt)  # (the damage was real)


# ------------------------------------------------------------------------------ a full disk


def no_space(path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def assert_one_line_about(err: str, path: Path) -> None:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "No space left on device" in lines[0] and str(path) in lines[0], lines[0]
    assert "previous file is kept" in lines[0], lines[0]


def test_full_disk_while_writing_a_checkpoint_keeps_the_last_one(toy_h5, tmp_path, monkeypatch,
                                                                capsys):  # fmt: skip
    run = tmp_path / "run"
    argv = ["train", "--data", toy_h5, "--out", run, *TINY, "--iters", "4"]
    assert run_cli([*argv, "--stop-after", "2"], capsys)[0] == 0
    latest = run / "checkpoints" / "latest.pt"
    before = sha256(latest)
    real_save = torch.save

    def save_then_fail(obj, f, *args, **kwargs):  # the disk fills up half way through
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:1000])
        raise no_space(f)

    monkeypatch.setattr(torch, "save", save_then_fail)
    code, err = run_cli([*argv, "--resume"], capsys)
    assert code == 1
    assert_one_line_about(err, latest)
    assert sha256(latest) == before and not list(run.rglob("*.partial"))
    monkeypatch.setattr(torch, "save", real_save)  # space again: the run goes on from step 2
    assert run_cli([*argv, "--resume"], capsys)[0] == 0
    assert final_state(run)["step"] == 4


def test_full_disk_while_writing_a_dataset_keeps_the_previous_one(small_coco, tmp_path,
                                                                 monkeypatch, capsys):  # fmt: skip
    import h5py

    out = tmp_path / "coco.h5"
    argv = ["prepare", "coco", "--annotations", small_coco.annotations("val2017"),
            "--images", small_coco.images("val2017"), "--out", out, "--workers", "0", "--quiet"]  # fmt: skip
    assert run_cli([*argv, "--min-area", "0.3"], capsys)[0] == 0
    before = sha256(out)
    real_setitem = h5py.Dataset.__setitem__

    def fail(self, key, value):
        if str(self.file.filename).endswith(".partial"):
            raise no_space(self.file.filename)
        return real_setitem(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", fail)
    code, err = run_cli([*argv, "--min-area", "0.05"], capsys)  # a new dataset for the same name
    assert code == 1
    assert_one_line_about(err, out)
    assert sha256(out) == before and not list(tmp_path.glob("*.partial"))


def test_full_disk_while_writing_an_evaluation_keeps_the_previous_one(toy_h5, tmp_path,
                                                                     monkeypatch, capsys):  # fmt: skip
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--data", toy_h5, "--backbone", "efficientnet-lite0", "--n", "16",
            "--splits", "1", "--metrics", "is", "--quiet", "--out", out]  # fmt: skip
    assert run_cli(argv, capsys)[0] == 0
    before = out.read_bytes()
    real_write_text = Path.write_text

    def fail(self, data, *args, **kwargs):
        if self.name.endswith(".json.partial"):
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise no_space(self)
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail)
    code, err = run_cli(argv, capsys)
    assert code == 1
    assert_one_line_about(err, out)
    assert out.read_bytes() == before and not list(tmp_path.glob("*.partial"))


# ------------------------------------------------------------------------------ NaN gradients


def test_nan_gradient_stops_at_the_last_good_checkpoint(toy_h5, tmp_path, monkeypatch, capsys):
    """Finite losses, a NaN in one generator gradient at step 3: training stops naming the step-2
    checkpoint, which stays finite and byte for byte as it was written."""
    from focusgan.training import distributed

    real_average, calls, written = distributed.average_gradients, {"G": 0}, {}

    def poisoned(model, d):  # called after each backward pass, before the optimizer step
        real_average(model, d)
        if model.__class__.__name__ == "Generator":
            calls["G"] += 1
            if calls["G"] == 3:
                next(model.parameters()).grad.view(-1)[0] = float("nan")

    real_save = torch.save

    def recording_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        written[obj["step"]] = hashlib.sha256(Path(f).read_bytes()).hexdigest()

    monkeypatch.setattr(distributed, "average_gradients", poisoned)
    monkeypatch.setattr(torch, "save", recording_save)
    run = tmp_path / "run"
    code, err = run_cli(["train", "--data", toy_h5, "--out", run, *TINY, "--iters", "6"], capsys)
    latest = run / "checkpoints" / "latest.pt"
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "non-finite" in err and f"last good checkpoint: {latest} (step 2)" in err
    assert sorted(written) == [1, 2]  # nothing was saved after the NaN
    assert sha256(latest) == written[2]
    state = final_state(latest.parent.parent)
    assert state["step"] == 2
    for key in ("G", "D", "G_ema"):
        assert all(torch.isfinite(v).all() for v in state[key].values() if v.is_floating_point())


def test_experiment_killed_then_rerun(toy_h5, tmp_path):
    import yaml

    doc = {
        "name": "kill",
        "datasets": [{"name": "toy", "file": str(toy_h5)}],
        "train": {"preset": "tiny", "width": 8, "iters": 4, "batch_critic": 8, "batch_gen": 8,
                  "n_critic": 1, "log_every": 1, "sample_every": 2, "checkpoint_every": 1},
        "evaluate": {"backbone": "efficientnet-lite0", "n": 16, "splits": 1, "ref_n": 32,
                     "metrics": ["is", "kid"], "initial": False},
        "channels": [3, 4],
    }  # fmt: skip
    config = tmp_path / "kill.yaml"
    config.write_text(yaml.safe_dump(doc))

    def cmd(out: Path) -> list[str]:
        return focusgan("experiment", config, "--out", out, "--quiet")

    clean = tmp_path / "clean"
    seconds = timed_run(cmd(clean))
    out = tmp_path / "killed"
    # (the clean run also made caches beside the data: the killed run is faster)
    log = kill_and_rerun(cmd(out), out, [random.Random(8).uniform(0.1, 0.4) * seconds])
    assert log.tried == 1 and log.incomplete == [] and log.lost == []
    for c in (3, 4):
        run = f"toy/run-{c}ch"
        a, b = final_state(clean / run), final_state(out / run)
        for key in STATE_KEYS:
            assert_same_state(a[key], b[key], key)
        scores = [json.loads((x / run / "evaluation-efficientnet-lite0.json").read_text())["scores"]
                  for x in (clean, out)]  # fmt: skip
        assert scores[0] == scores[1]
    assert json.loads((out / "experiment.json").read_text())["finished"]
