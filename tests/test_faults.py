"""Faults: SIGKILL at random moments, corrupt inputs, a full disk, a NaN in the gradients.

Fast cases of the campaign in benchmarks/faults.py (which runs many more kills and examples).
The promises checked (README): an interrupted job resumes and ends exactly as an uninterrupted
one; no file under a final name is ever incomplete; a finished file is never lost; bad input is a
counted skip or a one-line error (exit 2), never a traceback; a failed write keeps the previous
file and says what happened; a non-finite state stops training at the last good checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corrupting as bad
from killing import (
    assert_same_dataset,
    assert_same_experiment,
    assert_same_run,
    child_env,
    complete_files,
    dying_on_save,
    experiment_cmd,
    experiment_config,
    final_state,
    focusgan,
    incomplete,
    incomplete_files,
    kill_and_rerun,
    kind,
    losses,
    metrics_lines,
    prepare_coco_cmd,
    prepare_video_cmd,
    train_cmd,
    work_span,
)


@pytest.fixture(scope="module")
def reference_run(toy_h5, tmp_path_factory) -> Path:
    """The uninterrupted run, made by the same command line."""
    run = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(train_cmd(toy_h5, run)(0), env=child_env(), check=True, timeout=600)
    return run


# ------------------------------------------------------------------------------ SIGKILL


def test_train_killed_at_random_moments_resumes_bit_for_bit(toy_h5, reference_run, tmp_path):
    """Killed twice, each time a random moment (0..0.6 s) after the attempt has logged a new
    step; resumed to the end: equal to the uninterrupted run bit for bit (on CPU)."""
    run = tmp_path / "run"
    rng = random.Random(11)
    delays = [rng.uniform(0, 0.6) for _ in range(2)]
    log = kill_and_rerun(train_cmd(toy_h5, run), run, delays, progress=lambda: metrics_lines(run))
    assert log.tried + log.finished_early == 2 and log.tried >= 1
    assert log.incomplete == [] and log.lost == []
    assert_same_run(reference_run, run)


def test_train_killed_while_writing_a_checkpoint(toy_h5, reference_run, tmp_path):
    """SIGKILL in the middle of `torch.save` of the 3rd checkpoint: `latest.pt` is still the 2nd
    one, complete; the resumed run ends exactly as the uninterrupted one."""
    run = tmp_path / "run"
    proc = subprocess.run(dying_on_save(train_cmd(toy_h5, run)(0), 3), env=child_env(), timeout=600)
    assert proc.returncode == -9
    assert incomplete_files(run) == {}
    assert final_state(run)["step"] == 2
    subprocess.run(train_cmd(toy_h5, run)(1), env=child_env(), check=True, timeout=600)
    assert_same_run(reference_run, run)
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
    assert_same_run(reference_run, run)


@pytest.fixture(scope="module")
def small_coco(tmp_path_factory):
    from generated import write_coco

    return write_coco(tmp_path_factory.mktemp("coco"), {"val2017": 12}, seed=3)


def killed_equals_clean(cmd, clean: Path, out: Path, moments: list[float], compare) -> None:
    """`cmd(out)` killed at each of `moments` (fractions of the clean run's work, from its first
    write to its end: the kills land however fast the machine and the code are) and run again:
    no file incomplete or lost after a kill, and the result equals the clean run's."""
    span = work_span(cmd(clean), clean.parent)
    log = kill_and_rerun(cmd(out), out.parent, [m * span for m in moments])
    assert log.tried >= 1 and log.incomplete == [] and log.lost == []
    compare(clean, out)


def test_prepare_coco_with_workers_killed_then_rerun(small_coco, tmp_path):
    rng = random.Random(5)
    out = tmp_path / "killed" / "coco.h5"
    killed_equals_clean(lambda out: prepare_coco_cmd(small_coco, out), tmp_path / "clean" / "c.h5",
                        out, [rng.uniform(0, 0.8) for _ in range(2)], assert_same_dataset)  # fmt: skip
    assert sorted(p.name for p in out.parent.iterdir() if p.is_file()) == ["coco.h5"]


def test_prepare_video_killed_then_rerun(tmp_path):
    from focusgan.video.synthetic import write_videos

    videos = tmp_path / "videos"
    write_videos(videos, 2, seed=4, size=(64, 80), shot_lengths=(10, 8))
    rng = random.Random(6)
    killed_equals_clean(lambda out: prepare_video_cmd(videos, out), tmp_path / "clean" / "v.h5",
                        tmp_path / "killed" / "v.h5", [rng.uniform(0, 0.8) for _ in range(2)],
                        assert_same_dataset)  # fmt: skip


def test_experiment_killed_then_rerun(toy_h5, tmp_path):
    """Killed at a random moment of its work (a fraction of the clean run's), run again: both runs and
    their scores equal a clean run's. Then the completeness check itself, on the clean run's
    files: every kind the experiment and its report write is known, complete, and when cut
    short (half of it, or its last byte), incomplete; a kind with no check is never complete."""
    config = experiment_config(tmp_path / "kill.yaml", toy_h5, initial=False)
    moments = [random.Random(8).uniform(0, 0.8)]
    clean = tmp_path / "clean" / "x"
    killed_equals_clean(lambda out: experiment_cmd(config, out), clean,
                        tmp_path / "killed" / "x", moments,
                        lambda a, b: assert_same_experiment(a, b, initial=False))  # fmt: skip
    assert incomplete_files(clean) == {}
    files = {kind(p): p for p in sorted(clean.rglob("*")) if p.is_file()}
    assert set(files) == {".pt", ".json", ".jsonl", ".yaml", ".png", ".npz", ".md", ".html",
                          "tensorboard events"}  # (the dataset file is outside)  # fmt: skip
    for k, path in files.items():
        data = path.read_bytes()
        for cut in (len(data) // 2, len(data) - 1):
            path.write_bytes(data[:cut])
            if k != ".json" or cut < len(data) - 1:  # (a JSON file's last byte is a line end)
                assert incomplete(path), (k, cut, len(data))
        path.write_bytes(data)
    assert complete_files(clean) == {str(p.relative_to(clean)) for p in clean.rglob("*")
                                     if p.is_file()}  # fmt: skip
    (clean / "notes.txt").write_text("a kind with no check\n")
    assert "no completeness check for a .txt file" in incomplete(clean / "notes.txt")
    report = (clean / "report.md").read_text()
    (clean / "report.md").write_text(report.replace("|---|", "|---|---|", 1))
    assert "table cells" in incomplete(clean / "report.md")
    shutil.rmtree(clean / "report-files")
    (clean / "report.md").write_text(report)
    assert "images missing" in incomplete(clean / "report.md")


def test_training_on_a_dataset_without_images_is_a_one_line_error(toy_h5, tmp_path):
    """An epoch of no samples never ended: training looped, growing without bound (9 GB)."""
    import h5py

    empty = tmp_path / "empty.h5"
    with h5py.File(toy_h5) as src, h5py.File(empty, "w") as f:
        for k, v in src.attrs.items():
            f.attrs[k] = v
        f.create_dataset("images", data=src["images"][:0], maxshape=(None, 32, 32, 4))
    cmd = focusgan("train", "--data", empty, "--out", tmp_path / "run", "--preset", "tiny",
                   "--iters", "1", "--quiet")  # fmt: skip
    proc = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"focusgan train: error: {empty} holds no images; prepare it again with looser filters"  # fmt: skip


# ------------------------------------------------------------------------------ bad inputs, a full
# disk, NaN gradients (the cases of tests/corrupting.py; benchmarks/faults.py runs many more)

EXAMPLES = 10  # per category (benchmarks/faults.py runs many more)


@pytest.fixture(scope="module")
def inputs(small_coco, generated_davis, toy_h5) -> bad.Inputs:
    return bad.Inputs(small_coco, generated_davis, toy_h5)


def check(case, inputs: bad.Inputs, folder: Path, **drawn) -> bad.Outcome:
    outcome = case(inputs, folder, **drawn)
    assert outcome.problem is None, outcome.problem
    return outcome


@pytest.mark.parametrize("category", list(bad.CASES))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_bad_input_is_a_counted_skip_or_a_one_line_error(inputs, tmp_path_factory, category,
                                                         data):  # fmt: skip
    """Each category of tests/corrupting.py: photos, annotation JSON, masks, videos, dataset
    files, checkpoints of another config or damaged, a full disk under a checkpoint, a dataset
    and an evaluation, a NaN gradient: handled, no traceback, no finished file lost."""
    case, strategies = bad.CASES[category]
    drawn = {name: data.draw(strategy, label=name) for name, strategy in strategies.items()}
    check(case, inputs, tmp_path_factory.mktemp("case"), **drawn)


def test_a_checkpoint_without_its_rng_state_is_a_one_line_error(inputs, tmp_path):
    """Was a KeyError traceback (found by the campaign)."""
    check(bad.damaged_checkpoint, inputs, tmp_path, damage=("keys", {"rng"}))


def test_a_checkpoint_that_is_not_a_zip_archive_is_never_unpickled(inputs, tmp_path):
    """Garbage with a pickle opcode that announces a huge buffer made the legacy unpickler raise
    MemoryError and Python print a second line (found by the campaign): such a file is now
    refused before torch.load."""
    garbage = b"\x96\xbb\x83\xaf\x13W\xe8\xff\x0f\x0c:\xea\x85D5"
    check(bad.damaged_checkpoint, inputs, tmp_path, damage=("garbage", garbage))
    code, err, _ = bad.run_cli(["sample", tmp_path / "run", "--out", tmp_path / "s.png"])
    assert code == 2 and "(ValueError: not a zip archive)" in err, err


@pytest.mark.parametrize("key", ["height", "width"])
def test_a_huge_image_size_in_the_json_is_a_one_line_error(inputs, tmp_path, key):
    """pycocotools asked for 200 GB to merge polygon parts at that size, got none and wrote to
    address 0: a segfault (found by the campaign). The child process shows a crash as a signal."""
    doc = json.loads(inputs.coco.annotations("val2017").read_text())
    doc["images"][0][key] = 2**40
    ann, out = tmp_path / "ann.json", tmp_path / "out.h5"
    ann.write_text(json.dumps(doc))
    argv = focusgan(*bad.prepare_coco(ann, inputs.coco.images("val2017"), out))
    proc = subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "at most 536870912 pixels" in proc.stderr


@pytest.mark.parametrize(
    "key, action, value",
    [("size", "delete", None), ("size", "replace", [5, 5]), ("counts", "replace", [3, 4])],
)
def test_a_damaged_uncompressed_rle_is_a_counted_skip(inputs, tmp_path, key, action, value):
    """Were tracebacks (found by the campaign): pycocotools read an RLE without its size as
    "input type is not supported", and decoded one whose size or counts do not match the
    image with a ValueError."""
    doc = json.loads(inputs.coco.annotations("val2017").read_text())
    index = next(i for i, a in enumerate(doc["annotations"])
                 if isinstance(a["segmentation"], dict) and isinstance(a["segmentation"]["counts"], list))  # fmt: skip
    outcome = check(bad.annotation_json, inputs, tmp_path, target=("annotations", key),
                    index=index, action=action, value=value)  # fmt: skip
    assert outcome.injected and outcome.code == 0  # a damage the reader read, and counted


def test_a_damage_the_reader_does_not_read_is_a_no_op_not_a_handled_case(inputs, tmp_path):
    """Issue 19 item 9: a license of another type, or RLE counts deleted from a polygon (which
    has none), leave the dataset as the undamaged json's: counted apart, never as tried."""
    doc = json.loads(inputs.coco.annotations("val2017").read_text())
    polygon = next(
        i for i, a in enumerate(doc["annotations"]) if isinstance(a["segmentation"], list)
    )
    for target, index, action in ((("images", "license"), 0, "replace"),
                                  (("annotations", "counts"), polygon, "delete")):  # fmt: skip
        folder = tmp_path / f"{index}-{action}"
        folder.mkdir()
        outcome = check(bad.annotation_json, inputs, folder, target=target, index=index,
                        action=action, value="x")  # fmt: skip
        assert not outcome.injected and outcome.code == 0, target


def test_a_clean_exit_must_have_counted_the_damage(inputs, tmp_path):
    """Issue 19 item 9: exit 0 is handled only when the damage shows in the counts. A reader
    that drops the instance of a damaged segmentation without counting the skip (`skip` made a
    no-op) exits 0 and is caught; with the real reader the same damage is a counted skip."""
    from unittest import mock

    from focusgan.data.summary import FilterSummary

    args = dict(target=("annotations", "segmentation"), index=0, action="replace", value=7)
    (tmp_path / "counted").mkdir()
    outcome = check(bad.annotation_json, inputs, tmp_path / "counted", **args)
    assert outcome.injected and outcome.code == 0
    (tmp_path / "dropped").mkdir()
    with mock.patch.object(FilterSummary, "skip", lambda self, reason, n=1: None):
        outcome = bad.annotation_json(inputs, tmp_path / "dropped", **args)
    assert outcome.code == 0 and not outcome.handled and outcome.injected
    assert outcome.problem.startswith("not handled")


@pytest.mark.parametrize("name", ["channels", "resolution", "format_version"])
def test_an_infinite_dataset_attribute_is_a_one_line_error(inputs, tmp_path, name):
    """Was an OverflowError traceback (int(inf); found by the campaign)."""
    check(bad.damaged_dataset, inputs, tmp_path, damage=("set attr", name, float("-inf")))


def test_a_case_that_loses_a_file_is_reported(inputs, tmp_path):
    """The cases' own check can fail: a 'command' that deletes the finished output is caught."""
    out = tmp_path / "out.h5"
    out.write_bytes(inputs.toy.read_bytes())
    expect = bad.clean_exit(lambda: False)  # (exit 0 would not be handled)
    outcome = bad.run_and_watch(["inspect", tmp_path / "missing.h5"], tmp_path, expect)
    assert outcome.problem is None
    watch = bad.Watch(tmp_path)
    out.unlink()
    assert watch.lost(failed=False) == ["out.h5 (gone)"]
