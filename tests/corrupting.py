"""Bad inputs, full disks and NaN gradients: each case makes one fault, runs the focusgan command
on it in this process, and says how the fault was handled. Shared by tests/test_faults.py (a few
hypothesis examples of each) and benchmarks/faults.py (many, counted per category).

The promise (README): bad input is a counted skip or a one-line error, never a traceback; a failed
write keeps the previous file and says so in one line; a non-finite state stops training at the
last good checkpoint; and no finished file is ever lost. Each case starts with finished files in
its folder (a previous output under the same name, the run it resumes) and checks them after.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import shutil
import traceback
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import strategies as st

from generated import CocoSource, DavisSource
from killing import (
    STATE_KEYS,
    TINY,
    assert_same_state,
    complete_files,
    dataset_contents,
    final_state,
    incomplete_files,
)


@dataclass(frozen=True)
class Inputs:
    """Good data the cases damage copies of."""

    coco: CocoSource  # generated COCO, val2017 with >= 6 images
    davis: DavisSource  # generated DAVIS layout with the 45-frame sequence `seq-palette`
    toy: Path  # a finished dataset file (the toy one)
    cache: dict = field(default_factory=dict, compare=False)  # results made once (a clean run)


@dataclass
class Outcome:
    """How a command met one fault."""

    handled: bool  # a counted skip, or a one-line error that says what happened
    traceback: str | None = None  # the exception that escaped the command
    lost: list[str] = field(default_factory=list)  # finished files gone, damaged or changed
    # False when the fault never reached the command: it ended before the fault was due, or the
    # damage changed nothing it reads (every command exited 0 with what the undamaged input
    # gives). Such examples are counted apart, never as tried.
    injected: bool = True
    why: str = ""  # what was expected and what happened
    code: int | None = None  # the exit status (of the last command run)

    @property
    def problem(self) -> str | None:
        if self.traceback:
            return f"a traceback: {self.traceback}"
        if self.lost:
            return f"files lost: {self.lost}; {self.why}"
        return None if self.handled else f"not handled: {self.why}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(argv: list, out: io.StringIO | None = None) -> tuple[int, str, str | None]:
    """`focusgan ARGV` in this process: (exit status, stderr, the traceback if one escaped); its
    standard output goes to `out` when given."""
    from focusgan.cli import main

    err = io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(io.StringIO() if out is None else out):
            code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else 2
    except Exception:
        return -1, err.getvalue(), traceback.format_exc(limit=-3)
    return code, err.getvalue(), None


def one_line(err: str) -> bool:
    lines = [x for x in err.splitlines() if x.strip()]
    return len(lines) == 1 and "error:" in lines[0]


def clean_exit(went_on):
    """The expectation of a command given bad input: a one-line error about it (exit 2), or exit
    0 where `went_on()` (the caller's check of what the command made of the damage: counted it,
    or, where it is no matter to the command, made what the undamaged input gives) holds.
    Exit 0 alone is never enough."""

    def expect(code: int, err: str) -> bool:
        return (code == 2 and one_line(err)) or (code == 0 and went_on())

    return expect


def unchanged(*steps: Outcome) -> bool:
    """Every command exited 0 with what the undamaged input gives: the damage was a no-op."""
    return all(step.code == 0 and step.handled for step in steps)


class Watch:
    """The finished files of a folder before a command, to tell what the command lost: a file
    gone or damaged, or (when the command failed) changed at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bad_before = set(incomplete_files(folder))  # the damaged inputs
        self.hashes = {p: sha256(folder / p) for p in complete_files(folder)}

    def lost(self, failed: bool) -> list[str]:
        bad = incomplete_files(self.folder)
        out = [f"{p} (incomplete: {why})" for p, why in bad.items() if p not in self.bad_before]
        for p, digest in self.hashes.items():
            path = self.folder / p
            if not path.exists():
                out.append(f"{p} (gone)")
            elif failed and p not in bad and sha256(path) != digest:
                out.append(f"{p} (changed by a failed command)")
        out += [str(p.relative_to(self.folder)) for p in self.folder.rglob("*.partial")]
        return out


def run_and_watch(argv: list, folder: Path, expect, out: io.StringIO | None = None) -> Outcome:
    """Run `argv` (its standard output to `out`); `expect(code, err)` says whether the outcome
    is a handled one."""
    watch = Watch(folder)
    code, err, tb = run_cli(argv, out)
    lost = watch.lost(failed=code != 0)
    return Outcome(expect(code, err), tb, lost, why=f"exit {code}: {err}", code=code)


# ------------------------------------------------------------------------------ COCO images


IMAGE_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
    st.tuples(st.just("garbage"), st.binary(min_size=0, max_size=300)),
    st.tuples(st.just("empty"), st.just(b"")),
    st.tuples(st.just("png header"), st.binary(max_size=64)),
)


def prepare_coco(annotations: Path, images: Path, out: Path, min_area: float = 0.05) -> list:
    return ["prepare", "coco", "--annotations", annotations, "--images", images, "--out", out,
            "--min-area", min_area, "--workers", "0", "--quiet"]  # fmt: skip


def coco_counts(out: Path) -> tuple[int, Counter]:
    """(instances skipped, instances kept per image id) of a prepared COCO dataset."""
    from focusgan.data.dataset import read_info, read_metadata

    kept = Counter(int(i) for i in read_metadata(out, "image_id"))
    return sum(read_info(out).filter_summary.skipped.values()), kept


def coco_output(out: Path) -> dict:
    """Everything a prepared COCO dataset holds: images, metadata, counts, category names."""
    from focusgan.data.dataset import read_info

    return {**dataset_contents(out), "names": read_info(out).extra.get("category_names")}


def same_output(a: dict, b: dict) -> bool:
    def same(x, y) -> bool:  # (a column of NaN, e.g. no classifier's confidence, equals itself)
        if isinstance(x, np.ndarray):
            return np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" and x.dtype == y.dtype)
        return x == y

    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


def clean_coco_counts(inputs: Inputs, folder: Path) -> tuple[int, Counter]:
    """The counts of the undamaged sample (prepared once; its output in `cache["coco output"]`)."""
    if "coco" not in inputs.cache:
        out = folder / "clean-coco.h5"
        code, err, tb = run_cli(prepare_coco(inputs.coco.annotations("val2017"),
                                             inputs.coco.images("val2017"), out))  # fmt: skip
        assert code == 0 and tb is None, err or tb
        inputs.cache["coco"] = coco_counts(out)
        inputs.cache["coco output"] = coco_output(out)
        out.unlink()
    return inputs.cache["coco"]


def coco_image(inputs: Inputs, folder: Path, damage, which: int) -> Outcome:
    """One photo of the sample damaged: its instances are kept (it still decodes) or counted as
    skips, all of them; the other photos' instances are kept as in a clean run."""
    import cv2

    skips, kept = clean_coco_counts(inputs, folder)
    images = folder / "images"
    shutil.copytree(inputs.coco.images("val2017"), images)
    doc = json.loads(inputs.coco.annotations("val2017").read_text())
    victim_id = doc["images"][which % len(doc["images"])]["id"]
    victim = images / doc["images"][which % len(doc["images"])]["file_name"]
    kind, arg = damage
    data = victim.read_bytes()
    if kind == "truncate":
        victim.write_bytes(data[: int(len(data) * arg)])
    elif kind == "png header":
        victim.write_bytes(b"\x89PNG\r\n\x1a\n" + arg)
    else:
        victim.write_bytes(arg)
    out = folder / "out.h5"
    shutil.copy(inputs.toy, out)  # a finished file under the output's name

    def expect(code: int, err: str) -> bool:
        if code != 0:
            return False
        new_skips, new_kept = coco_counts(out)
        mine = new_kept.pop(victim_id, 0)
        others = new_kept == Counter({k: v for k, v in kept.items() if k != victim_id})
        every = mine + new_skips - skips == kept[victim_id]  # kept or skipped, each instance
        # (a truncated JPEG may still decode, grey below the cut: a photo like any other)
        return others and every and (mine == 0 or cv2.imread(str(victim)) is not None)

    argv = prepare_coco(inputs.coco.annotations("val2017"), images, out)
    return run_and_watch(argv, folder, expect)


# ------------------------------------------------------------------------------ annotation JSON


def json_values():
    return st.one_of(
        st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
        st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=8),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    )  # fmt: skip


# the keys of each section's entries (those the reader reads and some it does not: area,
# license, supercategory); `counts` and `size` are an RLE segmentation's
JSON_KEYS = {
    "images": ["id", "file_name", "height", "width", "license"],
    "annotations": ["id", "image_id", "category_id", "segmentation", "bbox", "iscrowd", "area",
                    "counts", "size"],
    "categories": ["id", "name", "supercategory"],
}  # fmt: skip
JSON_DAMAGE = dict(
    target=st.sampled_from([(section, key) for section, keys in JSON_KEYS.items() for key in keys]),
    index=st.integers(0, 50),
    action=st.sampled_from(["delete", "replace"]),
    value=json_values(),
)


def annotation_json(inputs: Inputs, folder: Path, target, index, action, value) -> Outcome:
    """One key of the instances JSON deleted or given a value of another type: a one-line error,
    or a dataset that differs from the undamaged json's and still counts every instance (kept,
    skipped or rejected); the previous dataset under the output's name survives either way. A
    damage after which the dataset is the undamaged json's (a key the reader does not read, an
    RLE key of a polygon, a value it reads as the same) is a no-op, counted apart."""
    section, key = target
    clean_coco_counts(inputs, folder)
    doc = json.loads(inputs.coco.annotations("val2017").read_text())
    entries = doc[section]
    entry = entries[index % len(entries)]
    if key in ("counts", "size"):  # inside an RLE segmentation, when this entry has one
        entry = entry.get("segmentation") if isinstance(entry.get("segmentation"), dict) else entry
    if action == "delete":
        entry.pop(key, None)
    else:
        entry[key] = value
    ann, out = folder / "ann.json", folder / "out.h5"
    ann.write_text(json.dumps(doc))
    shutil.copy(inputs.toy, out)
    output = {}

    def counted() -> bool:
        from focusgan.data.dataset import read_info

        output.update(coco_output(out))
        s = read_info(out).filter_summary
        every = s.kept + sum(s.skipped.values()) + sum(s.rejected.values())
        return every == len(doc["annotations"]) and not same_output(output, clean)

    clean = inputs.cache["coco output"]
    outcome = run_and_watch(prepare_coco(ann, inputs.coco.images("val2017"), out), folder,
                            clean_exit(counted))  # fmt: skip
    if outcome.code == 0 and output and same_output(output, clean):
        outcome.handled, outcome.injected = True, False  # the reader read the same data
    return outcome


# ------------------------------------------------------------------------------ masks


MASK_DAMAGE = st.one_of(
    st.tuples(st.just("size"), st.integers(-20, 20).filter(bool)),
    st.tuples(st.just("palette"), st.integers(1, 255)),
    st.tuples(st.just("rgb"), st.integers(0, 255)),
    st.tuples(st.just("16-bit"), st.integers(1, 65535)),
    st.tuples(st.just("garbage"), st.binary(max_size=200)),
    st.tuples(st.just("truncate"), st.floats(0.0, 0.95)),
)
FRAMES = 45  # of the generated sequence `seq-palette`


def damaged_mask(inputs: Inputs, folder: Path, damage, frame: int) -> Outcome:
    """One mask of a sequence damaged: the frame is skipped (counted) when its mask cannot be
    read or has the wrong size; another palette, RGB or 16 bits are read as masks."""
    from PIL import Image

    from focusgan.data.dataset import read_info

    masks = folder / "masks"
    shutil.copytree(inputs.davis.masks / "seq-palette", masks)
    victim = masks / f"{frame % FRAMES:05d}.png"
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
    shutil.copy(inputs.toy, out)

    def expect(code: int, err: str) -> bool:
        if code != 0:
            return False
        s = read_info(out).filter_summary
        counted = s.candidates + sum(s.skipped.values()) == FRAMES  # skips are not candidates
        counted &= s.kept + sum(s.rejected.values()) == s.candidates
        return counted and (kind not in ("size", "garbage") or sum(s.skipped.values()) == 1)

    argv = ["prepare", "pairs", "--images", inputs.davis.images / "seq-palette", "--masks", masks,
            "--out", out, "--size", "32", "--workers", "0", "--quiet"]  # fmt: skip
    return run_and_watch(argv, folder, expect)


# ------------------------------------------------------------------------------ videos


VIDEO_DAMAGE = dict(fraction=st.floats(0.0, 0.9))


def truncated_video(inputs: Inputs, folder: Path, fraction: float) -> Outcome:
    """The second of two videos cut short: a counted skip (or the frames it still has)."""
    from focusgan.data.dataset import read_info, read_metadata
    from focusgan.video.synthetic import write_videos

    good, bad = write_videos(folder / "in", 2, seed=1, size=(64, 80), shot_lengths=(8,))
    data = bad.read_bytes()
    bad.write_bytes(data[: int(len(data) * fraction)])
    out = folder / "out.h5"
    shutil.copy(inputs.toy, out)

    def expect(code: int, err: str) -> bool:
        if code != 0:
            return False
        sources = {str(x) for x in read_metadata(out, "source")}
        unreadable = read_info(out).filter_summary.skipped.get("unreadable video", 0)
        return sources <= {str(good), str(bad)} and unreadable <= 1

    argv = ["prepare", "video", good, bad, "--out", out, "--size", "32", "--min-fg", "0.02",
            "--workers", "0", "--quiet"]  # fmt: skip
    return run_and_watch(argv, folder, expect)


# ------------------------------------------------------------------------------ dataset files


DATASET_DAMAGE = dict(
    damage=st.one_of(
        st.tuples(st.just("delete attr"), st.sampled_from(
            ["resolution", "channels", "mask_semantics", "format", "extra", "filter_summary"])),
        st.tuples(st.just("set attr"), st.sampled_from(
            ["resolution", "channels", "mask_semantics", "extra", "filter_summary",
             "format_version"]),
            st.one_of(st.integers(-5, 1000), st.text(max_size=6), st.floats(allow_nan=True))),
        st.tuples(st.just("images"), st.sampled_from(
            ["float32", "int16", "wrong side", "3-d", "5 channels", "empty"])),
        st.tuples(st.just("delete"), st.sampled_from(["images", "source", "fg_fraction"])),
    )
)  # fmt: skip


def damaged_dataset(inputs: Inputs, folder: Path, damage) -> Outcome:
    """A dataset file with attributes deleted or wrong, images of another dtype or shape, none
    at all: `inspect`, `train` and `sample` go on or stop with a one-line error."""
    import h5py

    path = folder / "bad.h5"
    shutil.copy(inputs.toy, path)
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
    reference = clean_results(inputs, folder)
    run = folder / "run"

    def same_run() -> bool:  # trained as on the undamaged file
        a, b = final_state(reference["run"]), final_state(run)
        try:
            for key in STATE_KEYS:
                assert_same_state(a[key], b[key], key)
        except AssertionError:
            return False
        return True

    def same_or_told() -> bool:  # the same grid, or a description that shows the damage
        grid = same_bytes(folder / "grid.png", reference["grid"])
        return grid or described(stdout.getvalue()) != reference["described"]

    outcome, steps, stdout = Outcome(True), [], io.StringIO()
    for argv, went_on in (
        (["inspect", path, "--grid", folder / "grid.png"], same_or_told),
        (["train", "--data", path, "--out", run, *TINY, "--iters", "1"], same_run),
        (["sample", run, "--n", "4", "--out", folder / "s.png"], lambda: same_bytes(folder / "s.png", reference["sample"])),
    ):  # fmt: skip
        if argv[0] == "sample" and not (run / "checkpoints").exists():
            continue  # nothing was trained
        step = run_and_watch(argv, folder, clean_exit(went_on), stdout)
        steps.append(step)
        outcome.handled &= step.handled
        outcome.traceback = outcome.traceback or step.traceback
        outcome.lost += step.lost
        outcome.why += f"{argv[0]}: {step.why}; "
    outcome.injected = not unchanged(*steps)
    return outcome


# ------------------------------------------------------------------------------ checkpoints


CHECKPOINT_DAMAGE = dict(
    damage=st.one_of(
        st.tuples(st.just("another config"), st.sampled_from(
            [("--width", "16"), ("--channels", "3"), ("--preset", "small"), ("--seed", "5")])),
        st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
        st.tuples(st.just("garbage"), st.binary(max_size=200)),
        st.tuples(st.just("keys"), st.sets(st.sampled_from(
            ["step", "config", "G", "D", "G_ema", "opt_G", "opt_D", "sched_G", "sched_D",
             "data_order", "rng"]),
            min_size=1)),
    )
)  # fmt: skip


def clean_results(inputs: Inputs, folder: Path) -> dict:
    """What the commands the cases damage make of undamaged input (made once): `run`, a 1-step
    run of the toy dataset, `sample` the bytes of its 4-sample grid, `grid` those of the toy
    dataset's `inspect` grid."""
    if "run" not in inputs.cache:
        run = folder.parent / f"{folder.name}-trained"
        for argv, made in (
            (["train", "--data", inputs.toy, "--out", run, *TINY, "--iters", "1"], None),
            (["sample", run, "--n", "4", "--out", run.with_name(run.name + ".png")], "sample"),
            (["inspect", inputs.toy, "--grid", run.with_name(run.name + "-grid.png")], "grid"),
        ):
            out = io.StringIO()
            code, err, tb = run_cli(argv, out)
            assert code == 0 and tb is None, err or tb
            if made:
                inputs.cache[made] = Path(argv[-1]).read_bytes()
        inputs.cache["described"] = described(out.getvalue())
        inputs.cache["run"] = run
    return inputs.cache


def described(text: str) -> list[str]:
    """What `inspect` says of a dataset file, less the lines that name files."""
    return [x for x in text.splitlines() if not x.startswith(("dataset ", "grid "))]


def same_bytes(path: Path, data: bytes) -> bool:
    return path.is_file() and path.read_bytes() == data


def trained_run(inputs: Inputs, folder: Path) -> Path:
    """A copy of a 1-step run (trained once) in `folder`."""
    shutil.copytree(clean_results(inputs, folder)["run"], folder / "run")
    return folder / "run"


def flag_set(argv: list, flag: str, value: str) -> list:
    """`argv` with `flag` set to `value` (replaced, or added)."""
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return [*argv, flag, value]


def damaged_checkpoint(inputs: Inputs, folder: Path, damage) -> Outcome:
    """Resuming (and sampling) from a checkpoint of another config, or a damaged one: a one-line
    error (that names the differing setting), the run's files untouched."""
    import torch

    run = trained_run(inputs, folder)
    ckpt = run / "checkpoints" / "latest.pt"
    argv = ["train", "--data", inputs.toy, "--out", run, *TINY, "--iters", "2", "--resume"]
    kind, arg = damage
    if kind == "another config":
        argv = flag_set(argv, *arg)
    elif kind == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[: int(ckpt.stat().st_size * arg)])
    elif kind == "garbage":
        ckpt.write_bytes(arg)
    else:
        state = torch.load(ckpt, weights_only=True)
        torch.save({k: v for k, v in state.items() if k not in arg}, ckpt)

    def expect(code: int, err: str) -> bool:
        named = kind != "another config" or arg[0].lstrip("-") in err
        return code == 2 and one_line(err) and named

    outcome = run_and_watch(argv, folder, expect)
    if kind != "another config":
        sample = ["sample", run, "--n", "4", "--out", folder / "s.png"]  # (it needs G alone)
        sampled = clean_results(inputs, folder)["sample"]  # exit 0: the grid of the intact run
        step = run_and_watch(
            sample, folder, clean_exit(lambda: same_bytes(folder / "s.png", sampled))
        )
        outcome = Outcome(outcome.handled and step.handled, outcome.traceback or step.traceback,
                          outcome.lost + step.lost, why=f"{outcome.why}; sample: {step.why}")  # fmt: skip
    return outcome


# ------------------------------------------------------------------------------ a full disk


def no_space(path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def says_kept(err: str, path: Path) -> bool:
    """One line naming the file, the full disk, and that the previous file is kept."""
    lines = [x for x in err.splitlines() if x.strip()]
    return (
        len(lines) == 1
        and "No space left on device" in lines[0]
        and str(path) in lines[0]
        and "previous file is kept" in lines[0]
    )


def full_disk_run(argv: list, folder: Path, target: Path, patch, kept=None) -> Outcome:
    """`argv` with the disk full (the `patch` in effect) over a finished `target`: exit 1 with one
    line about it, and the target byte for byte as it was (or, for a run that went on before the
    disk filled up, as `kept()` says it was last written)."""
    watch, before = Watch(folder), sha256(target)
    with patch:
        code, err, tb = run_cli(argv)
    injected = code != 0 or tb is not None  # else the fault came after the last write
    expected = kept() if kept else before
    handled = code == 1 and says_kept(err, target) and sha256(target) == expected
    lost = watch.lost(failed=kept is None)
    return Outcome(handled, tb, lost, injected, f"exit {code}: {err}")


FULL_DISK_CHECKPOINT = dict(save=st.integers(1, 2), written=st.floats(0.0, 1.0))


def full_disk_checkpoint(inputs: Inputs, folder: Path, save: int, written: float) -> Outcome:
    """The disk fills up while the `save`-th checkpoint of a resumed run is written (`written` of
    it on disk): the last checkpoint stays; once there is space, the run goes on to the end."""
    import torch

    run = trained_run(inputs, folder)
    argv = ["train", "--data", inputs.toy, "--out", run, *TINY, "--iters", "4", "--resume"]
    latest = run / "checkpoints" / "latest.pt"
    real_save, calls, kept = torch.save, [0], [sha256(latest)]

    def save_then_fail(obj, f, *args, **kwargs):
        calls[0] += 1
        real_save(obj, f, *args, **kwargs)
        if calls[0] == save:
            Path(f).write_bytes(Path(f).read_bytes()[: int(Path(f).stat().st_size * written)])
            raise no_space(f)
        kept[0] = sha256(Path(f))  # (renamed to latest.pt next)

    patch = mock.patch("torch.save", save_then_fail)
    outcome = full_disk_run(argv, folder, latest, patch, kept=lambda: kept[0])
    code, err, tb = run_cli(argv)  # space again
    if code != 0 or tb or final_state(run)["step"] != 4:
        outcome.handled, outcome.why = False, f"{outcome.why}; the resume after: exit {code}: {err}"
    outcome.traceback = outcome.traceback or tb
    return outcome


FULL_DISK_DATASET = dict(write=st.integers(1, 6), min_area=st.floats(0.0, 0.3))


def full_disk_dataset(inputs: Inputs, folder: Path, write: int, min_area: float) -> Outcome:
    """The disk fills up at the `write`-th write into a new dataset file (of the instances
    covering `min_area` of their photo): the previous file of that name stays."""
    import h5py

    out = folder / "out.h5"
    shutil.copy(inputs.toy, out)
    real_setitem, calls = h5py.Dataset.__setitem__, [0]

    def fail(self, key, value):
        if str(self.file.filename).endswith(".partial"):
            calls[0] += 1
            if calls[0] == write:
                raise no_space(self.file.filename)
        return real_setitem(self, key, value)

    argv = prepare_coco(inputs.coco.annotations("val2017"), inputs.coco.images("val2017"), out,
                        min_area)  # fmt: skip
    return full_disk_run(argv, folder, out, mock.patch.object(h5py.Dataset, "__setitem__", fail))


FULL_DISK_EVALUATION = dict(written=st.floats(0.0, 0.99))


def full_disk_evaluation(inputs: Inputs, folder: Path, written: float) -> Outcome:
    """The disk fills up while an evaluation JSON is written: the previous one stays."""
    out = folder / "eval.json"
    argv = ["evaluate", "--data", inputs.toy, "--backbone", "efficientnet-lite0", "--n", "16",
            "--splits", "1", "--metrics", "is", "--quiet", "--out", out]  # fmt: skip
    if "evaluation" not in inputs.cache:
        code, err, tb = run_cli(argv)
        assert code == 0 and tb is None, err or tb
        inputs.cache["evaluation"] = out.read_bytes()
    out.write_bytes(inputs.cache["evaluation"])
    real_write_text = Path.write_text

    def fail(self, data, *args, **kwargs):
        if self.name.endswith(".json.partial"):
            real_write_text(self, data[: int(len(data) * written)], *args, **kwargs)
            raise no_space(self)
        return real_write_text(self, data, *args, **kwargs)

    return full_disk_run(argv, folder, out, mock.patch.object(Path, "write_text", fail))


# ------------------------------------------------------------------------------ NaN gradients


NAN_GRADIENT = dict(step=st.integers(2, 5), value=st.sampled_from([float("nan"), float("inf")]),
                    parameter=st.integers(0, 1000))  # fmt: skip


def nan_gradient(inputs: Inputs, folder: Path, step: int, value: float, parameter: int) -> Outcome:
    """Finite losses, a non-finite value in one generator gradient at `step`: training stops
    naming the checkpoint of the step before, which stays finite and as it was written."""
    import torch

    from focusgan.training import distributed

    real_average, calls, written = distributed.average_gradients, [0], {}

    def poisoned(model, d):  # called after each backward pass, before the optimizer step
        real_average(model, d)
        if model.__class__.__name__ == "Generator":
            calls[0] += 1
            if calls[0] == step:
                params = [p for p in model.parameters() if p.grad is not None]
                grad = params[parameter % len(params)].grad
                grad[(0,) * grad.dim()] = value  # its first element

    real_save = torch.save

    def recording_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        written[obj["step"]] = sha256(Path(f))

    run = folder / "run"
    latest = run / "checkpoints" / "latest.pt"
    with (
        mock.patch.object(distributed, "average_gradients", poisoned),
        mock.patch("torch.save", recording_save),
    ):
        code, err, tb = run_cli(
            ["train", "--data", inputs.toy, "--out", run, *TINY, "--iters", "6"]
        )
    good = step - 1
    handled = (
        code == 1
        and len(err.strip().splitlines()) == 1
        and "non-finite" in err
        and f"last good checkpoint: {latest} (step {good})" in err
        and sorted(written) == list(range(1, step))  # nothing was saved after the NaN
    )
    lost = []
    if not latest.exists() or sha256(latest) != written.get(good):
        lost.append(f"{latest} (not the step-{good} checkpoint as written)")
    else:
        state = final_state(run)
        finite = all(
            torch.isfinite(v).all()
            for key in ("G", "D", "G_ema")
            for v in state[key].values()
            if v.is_floating_point()
        )
        handled &= state["step"] == good and finite
    return Outcome(handled, tb, lost, why=f"exit {code}: {err}; saved steps {sorted(written)}")


# ------------------------------------------------------------------------------ all of them

# category: (case, hypothesis strategies of its arguments)
CASES = {
    "COCO photos: truncated, empty, garbage, PNG header": (
        coco_image, dict(damage=IMAGE_DAMAGE, which=st.integers(0, 50))),
    "annotation JSON: keys missing or of another type": (annotation_json, JSON_DAMAGE),
    "masks: another size, palette, RGB, 16-bit, garbage, truncated": (
        damaged_mask, dict(damage=MASK_DAMAGE, frame=st.integers(0, FRAMES - 1))),
    "videos: truncated": (truncated_video, VIDEO_DAMAGE),
    "dataset files: attributes, dtype, shape, no images": (damaged_dataset, DATASET_DAMAGE),
    "checkpoints: another config, truncated, garbage, keys missing": (
        damaged_checkpoint, CHECKPOINT_DAMAGE),
    "full disk while writing a checkpoint": (full_disk_checkpoint, FULL_DISK_CHECKPOINT),
    "full disk while writing a dataset": (full_disk_dataset, FULL_DISK_DATASET),
    "full disk while writing an evaluation JSON": (full_disk_evaluation, FULL_DISK_EVALUATION),
    "NaN/inf in a generator gradient": (nan_gradient, NAN_GRADIENT),
}  # fmt: skip
