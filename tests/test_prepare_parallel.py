"""Worker processes, shards + merge, and resuming an interrupted prepare (on generated COCO-format
data, and on the real tiny COCO when present)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from focusgan.cli import main
from focusgan.data.dataset import load_images, read_info, read_metadata
from focusgan.errors import UserError
from focusgan.prepare.coco import CHUNK_SIZE, CocoOptions
from focusgan.prepare.pipeline import RunOptions, parse_shard, parts_dir, prepare
from focusgan.utils.atomic import partial_path

SPLIT = "train2017"


@pytest.fixture(scope="module")
def src(coco_source) -> tuple[Path, Path]:
    """(annotations, images) of the split these tests prepare."""
    return coco_source.annotations(SPLIT), coco_source.images(SPLIT)


def images_with_candidates(ann: Path) -> int:
    """Images with at least one non-crowd instance, counted from the json itself."""
    doc = json.loads(ann.read_text())
    listed = {im["id"] for im in doc["images"]}
    return len({a["image_id"] for a in doc["annotations"] if not a["iscrowd"]} & listed)


def prepare_coco(annotations, images, out, *, workers=None, shard=None, progress=True,
                 classifier=None, chunk_size=CHUNK_SIZE, **settings):  # fmt: skip
    """`prepare(CocoOptions(...))` with the options as keywords (as the tests read best)."""
    opts = CocoOptions(annotations=Path(annotations), images=Path(images), **settings)
    run = RunOptions(workers=workers, shard=shard, progress=progress)
    return prepare(opts, out, run=run, classifier=classifier, chunk_size=chunk_size)


def contents(path: Path) -> dict[str, np.ndarray]:
    out = {"images": load_images(path)}
    for name in ("source", "image_id", "annotation_id", "category_id", "fg_fraction"):
        out[name] = read_metadata(path, name)
    return out


def assert_same(a: dict, b: dict) -> None:
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(src, tmp_path_factory) -> Path:
    """One process, default chunks."""
    ANN, IMAGES = src
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    prepare_coco(ANN, IMAGES, out, min_area=0.05, workers=0, progress=False)
    return out


def test_workers_give_the_same_file(src, reference, tmp_path):
    ANN, IMAGES = src
    out = tmp_path / "w2.h5"
    report = prepare_coco(ANN, IMAGES, out, min_area=0.05, workers=2, chunk_size=8,
                          progress=False)  # fmt: skip
    assert report.workers == 2 and report.chunks == math.ceil(images_with_candidates(ANN) / 8)
    assert_same(contents(reference), contents(out))
    assert read_info(out).filter_summary == read_info(reference).filter_summary
    assert not parts_dir(out).exists()


def test_shards_merge_to_the_whole(src, reference, tmp_path, capsys):
    ANN, IMAGES = src
    shards = []
    for i in range(3):
        shards.append(tmp_path / f"s{i}.h5")
        args = ["prepare", "coco", "--annotations", str(ANN), "--images", str(IMAGES),
                "--out", str(shards[-1]), "--min-area", "0.05", "--shard", f"{i}/3",
                "--workers", "0", "--quiet"]  # fmt: skip
        assert main(args) == 0
        assert read_info(shards[-1]).extra["shard"] == f"{i}/3"
    merged = tmp_path / "merged.h5"
    assert main(["merge", *map(str, shards), "--out", str(merged)]) == 0
    whole, parts = contents(reference), contents(merged)
    order_whole, order_parts = (
        np.argsort(whole["annotation_id"]),
        np.argsort(parts["annotation_id"]),
    )
    assert_same({k: v[order_whole] for k, v in whole.items()},
                {k: v[order_parts] for k, v in parts.items()})  # fmt: skip
    # counts about the whole input (crowd regions) are in shard 0 only, so the sum is right
    assert read_info(merged).filter_summary == read_info(reference).filter_summary
    assert read_info(shards[1]).filter_summary.skipped["crowd region (iscrowd=1)"] == 0


class Interrupt:
    """A stand-in postprocess that presses Ctrl-C after `after` chunks (None: never)."""

    def __init__(self, after: int | None) -> None:
        self.after, self.calls = after, 0

    def config(self) -> dict:
        return {"test": "pass-through"}

    def __call__(self, result):
        if self.after is not None and self.calls >= self.after:
            raise KeyboardInterrupt
        self.calls += 1
        return result


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_prepare_resumes(src, reference, tmp_path, capsys, workers):
    ANN, IMAGES = src
    out = tmp_path / "r.h5"
    kwargs = dict(min_area=0.05, workers=workers, chunk_size=8, progress=False)
    with pytest.raises(KeyboardInterrupt):
        prepare_coco(ANN, IMAGES, out, classifier=Interrupt(after=2), **kwargs)
    assert "run the same command again" in capsys.readouterr().err
    assert not out.exists() and not partial_path(out).exists()  # nothing looks finished
    assert len(list(parts_dir(out).glob("chunk-*.npz"))) == 2
    again = Interrupt(after=None)
    report = prepare_coco(ANN, IMAGES, out, classifier=again, **kwargs)
    assert report.reused_chunks == 2 and 0 < again.calls <= report.chunks - 2  # empty: no call
    assert_same(contents(reference), contents(out))
    assert read_info(out).filter_summary == read_info(reference).filter_summary
    assert not parts_dir(out).exists()


def test_other_arguments_discard_saved_chunks(src, tmp_path, capsys):
    ANN, IMAGES = src
    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        prepare_coco(ANN, IMAGES, out, workers=0, chunk_size=8, progress=False,
                     classifier=Interrupt(after=1))  # fmt: skip
    report = prepare_coco(ANN, IMAGES, out, size=32, workers=0, chunk_size=8, progress=False,
                          classifier=Interrupt(after=None))  # fmt: skip
    assert report.reused_chunks == 0 and "different job" in capsys.readouterr().err
    assert load_images(out).shape[1] == 32


def test_parse_shard():
    assert parse_shard(None) is None
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "1", "a/b", "-1/3", "0/0"):
        with pytest.raises(UserError, match="--shard"):
            parse_shard(bad)


def test_interrupt_while_writing_resumes(src, reference, tmp_path, monkeypatch, capsys):
    """Chunks saved by the work itself survive a Ctrl-C during the HDF5 writing; a damaged
    saved chunk is computed again."""
    import focusgan.prepare.pipeline as parallel

    ANN, IMAGES = src
    out, real_load, calls = tmp_path / "w.h5", parallel._load_chunk, []

    def load_then_interrupt(path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_load(path)

    monkeypatch.setattr(parallel, "_load_chunk", load_then_interrupt)
    kwargs = dict(min_area=0.05, workers=0, chunk_size=8, progress=False)
    with pytest.raises(KeyboardInterrupt):
        prepare_coco(ANN, IMAGES, out, **kwargs)
    assert not out.exists() and not partial_path(out).exists()
    saved = sorted(parts_dir(out).glob("chunk-*.npz"))
    assert len(saved) == 3
    saved[1].write_bytes(saved[1].read_bytes()[:1000])  # as a power cut might leave it
    monkeypatch.setattr(parallel, "_load_chunk", real_load)
    report = prepare_coco(ANN, IMAGES, out, **kwargs)
    assert report.reused_chunks == 2  # the damaged part was computed again
    assert_same(contents(reference), contents(out))
    assert read_info(out).filter_summary == read_info(reference).filter_summary


def test_the_final_line_says_what_was_measured():
    from focusgan.data.summary import FilterSummary
    from focusgan.prepare.pipeline import PrepareReport

    # three real clips in 24.3 s: 7.41 a minute, not "0 items/s"
    slow = PrepareReport(Path("v.h5"), 14, FilterSummary(), 3, 1, 0, 24.3, 1, "video", 3)
    assert (
        "14 samples from 3 source videos in 24.3 s (7.41 videos/min, 1 workers)" in slow.lines()[0]
    )
    # a resumed call: only the 50 images worked on in this call count toward the rate
    resumed = PrepareReport(Path("c.h5"), 90, FilterSummary(), 100, 10, 5, 10.0, 2, "image", 50)
    assert "(5 images/s, 2 workers)" in resumed.lines()[0]
    done = PrepareReport(Path("c.h5"), 90, FilterSummary(), 100, 10, 10, 0.5, 2, "image", 0)
    assert "(no images computed, 2 workers)" in done.lines()[0]
