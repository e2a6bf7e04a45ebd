"""`prepare ... --executor ray`: the same file as the local pool, worker and driver deaths, an item
that kills every worker, the classifier actor, bad input. One local Ray instance (2 CPUs) for the
module; the command whose driver is killed joins it by its address, as on a real cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest
import ray  # the [dev] extra installs it: these tests run in `make test`, never skipped

import focusgan.prepare.ray_executor as rx
from focusgan.cli import main
from focusgan.data.dataset import read_info, read_metadata
from focusgan.prepare.coco import CocoOptions
from focusgan.prepare.pipeline import RunOptions, parts_dir, prepare, prepare_dataset


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> str:
    """One small local Ray instance for the module (its address: other drivers join it); this
    module's functions travel by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> CocoOptions:
    from generated import write_coco

    src = write_coco(tmp_path_factory.mktemp("coco"), {"train2017": 24}, seed=3)
    return CocoOptions(annotations=src.annotations("train2017"), images=src.images("train2017"),
                       min_area=0.05)  # fmt: skip


def same_file(a: Path, b: Path) -> None:
    """Every dataset byte for byte; every attribute but the command line and the time."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert sorted(fa) == sorted(fb)
        for name in fa:
            x, y = fa[name][()], fb[name][()]
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert (x.tobytes() == y.tobytes()) if x.dtype.kind != "O" else list(x) == list(y), name
        keys = (set(fa.attrs) | set(fb.attrs)) - {"command", "created"}
        assert {k: fa.attrs.get(k) for k in keys} == {k: fb.attrs.get(k) for k in keys}


def run_job(opts: CocoOptions, out: Path, executor: str, work=None, chunk_size: int = 4,
            postprocess=None):  # fmt: skip
    job = opts.job(RunOptions(workers=0))
    return prepare_dataset(job.items, work or job.work, out, resolution=opts.size,
                           channels=opts.channels, mask_semantics=job.mask_semantics,
                           config=job.config, extra=job.extra, workers=0, chunk_size=chunk_size,
                           global_summary=job.global_summary, item_key=job.item_key,
                           progress=False, executor=executor, postprocess=postprocess)  # fmt: skip


@pytest.fixture(scope="module")
def reference(coco, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "local.h5"
    run_job(coco, out, "local")
    return out


def test_ray_writes_the_local_file(coco, reference, tmp_path):
    out = tmp_path / "ray.h5"
    report = run_job(coco, out, "ray")
    assert report.chunks == 6 and report.workers == 2
    same_file(reference, out)
    assert not parts_dir(out).exists()


def dies_on(items: list, *, work, victim, marker: Path | None):
    """`work`, but the process dies (SIGKILL) when the chunk holds `victim`: once when `marker`
    is a file name (created before dying), every time when it is None."""
    if victim in items and (marker is None or not marker.exists()):
        if marker is not None:
            marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return work(items)


def test_a_killed_worker_is_retried_and_the_file_is_the_same(coco, reference, tmp_path):
    job = coco.job(RunOptions(workers=0))
    marker = tmp_path / "died-once"
    work = partial(dies_on, work=job.work, victim=job.items[9], marker=marker)
    out = tmp_path / "ray.h5"
    run_job(coco, out, "ray", work=work)
    assert marker.exists()  # a worker did die mid-run
    same_file(reference, out)


def test_an_item_that_kills_every_worker_is_skipped_and_counted(coco, reference, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    monkeypatch.setattr(rx, "MAX_RETRIES", 1)  # 2 deaths per task: a shorter test
    job = coco.job(RunOptions(workers=0))
    victim = next(item for item in job.items[9:] if len(job.work([item])))  # one with samples
    work = partial(dies_on, work=job.work, victim=victim, marker=None)
    out = tmp_path / "ray.h5"
    report = run_job(coco, out, "ray", work=work)
    assert report.summary.skipped[rx.WORKER_DIED] == 1
    # the other items' samples are all there, in order: the reference without the victim's
    ref_ids, ids = read_metadata(reference, "image_id"), read_metadata(out, "image_id")
    victim_id = job.work([victim]).metadata["image_id"]
    assert len(victim_id) > 0
    assert list(ids) == [i for i in ref_ids if i not in set(victim_id)]


def test_classifier_runs_in_an_actor(coco, tmp_path, monkeypatch):
    from focusgan.prepare.classifier import ClassifierOptions, make_classifier

    clf = make_classifier(ClassifierOptions(min_confidence=0.05, classifier="efficientnet-lite0"))
    outs = {}
    for executor in ("local", "ray"):
        outs[executor] = tmp_path / f"{executor}.h5"
        run = RunOptions(workers=0, progress=False, executor=executor)
        prepare(coco, outs[executor], run=run, classifier=clf, chunk_size=4)
    a, b = (read_info(p) for p in outs.values())
    assert a.filter_summary == b.filter_summary and a.size == b.size > 0
    assert sum(a.filter_summary.rejected.values()) > 0  # the filter did drop samples
    for name in ("image_id", "annotation_id", "class_id"):
        assert list(read_metadata(outs["local"], name)) == list(read_metadata(outs["ray"], name))
    conf = [read_metadata(p, "confidence") for p in outs.values()]
    np.testing.assert_allclose(*conf, atol=1e-5)
    # the actor classifies the chunks finished together in one set of batches: the same results
    job = coco.job(RunOptions(workers=0))
    chunks = [job.items[:4], job.items[4:9], job.items[9:10]]
    together = clf.many([job.work(c) for c in chunks])
    assert sum(len(job.work(c)) > 0 for c in chunks) >= 2  # at least two chunks share batches
    for chunk, r in zip(chunks, together, strict=True):
        alone = job.work(chunk)
        alone = clf(alone) if len(alone) else alone  # (an empty chunk is never classified)
        assert r.summary == alone.summary and len(r) == len(alone)
        assert r.images.tobytes() == alone.images.tobytes()
        for name in ("confidence", "class_id") if len(alone) else ():
            np.testing.assert_allclose(r.metadata[name], alone.metadata[name], atol=1e-5)
    # an item that kills every worker, while the chunks' results go to the actor
    monkeypatch.setattr(rx, "MAX_RETRIES", 1)
    victim = next(item for item in job.items[9:] if len(job.work([item])))
    work = partial(dies_on, work=job.work, victim=victim, marker=None)
    report = run_job(coco, tmp_path / "dying.h5", "ray", work=work, postprocess=clf)
    assert report.summary.skipped[rx.WORKER_DIED] == 1
    gone = set(job.work([victim]).metadata["annotation_id"])
    ids = read_metadata(outs["local"], "annotation_id")
    assert list(read_metadata(tmp_path / "dying.h5", "annotation_id")) == [
        i for i in ids if i not in gone
    ]


def test_unreachable_address_is_a_one_line_error(coco, tmp_path, capsys):
    args = ["prepare", "coco", "--annotations", str(coco.annotations), "--images",
            str(coco.images), "--out", str(tmp_path / "x.h5"), "--quiet", "--executor", "ray",
            "--ray-address", "127.0.0.1:9"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray-address 127.0.0.1:9" in err[0]
    assert not (tmp_path / "x.h5").exists()


def test_without_ray_the_error_says_how_to_install(coco, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import fails
    args = ["prepare", "coco", "--annotations", str(coco.annotations), "--images",
            str(coco.images), "--out", str(tmp_path / "x.h5"), "--executor", "ray"]  # fmt: skip
    assert main(args) == 2
    assert "pip install 'focusgan[ray]'" in capsys.readouterr().err


def test_the_local_executor_never_imports_ray(coco, tmp_path):
    code = ("import sys; from focusgan.cli import main; "
            f"main(['prepare', 'coco', '--annotations', {str(coco.annotations)!r}, '--images', "
            f"{str(coco.images)!r}, '--out', {str(tmp_path / 'l.h5')!r}, '--quiet']); "
            "assert 'ray' not in sys.modules, 'ray imported'")  # fmt: skip
    from killing import child_env

    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True, timeout=120)


def test_driver_killed_then_rerun_reuses_every_saved_chunk(local_ray, tmp_path):
    """The command joins the module's cluster (`--ray-address`), is killed once a part is saved,
    and run again: the cluster lives on, as a real one would."""
    from focusgan.video.synthetic import write_videos
    from killing import assert_same_dataset, child_env, focusgan, start

    videos = tmp_path / "videos"
    write_videos(videos, 4, seed=4, size=(48, 64), shot_lengths=(10, 8))
    args = [
        "prepare",
        "video",
        videos,
        "--quiet",
        "--size",
        "32",
        "--frames-per-shot",
        "2",
        "--min-shot",
        "4",
        "--min-fg",
        "0",
        "--max-fg",
        "1",
        "--max-border-fg",
        "1",
    ]
    clean = tmp_path / "clean.h5"
    assert main([*map(str, args), "--out", str(clean), "--workers", "0"]) == 0
    out = tmp_path / "ray.h5"
    cmd = focusgan(*args, "--out", out, "--executor", "ray", "--ray-address", local_ray)
    proc = start(cmd, tmp_path / "log")
    saved = []
    while proc.poll() is None and not saved:
        saved = list(parts_dir(out).glob("chunk-*.npz"))
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone: Ray cancels its job's tasks
    proc.wait()
    saved = len(list(parts_dir(out).glob("chunk-*.npz")))
    assert 1 <= saved < 4 and not out.exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           env=child_env())  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"resumed: reused {saved} saved chunks" in rerun.stdout
    assert_same_dataset(clean, out)
    assert read_info(out).size > 0
