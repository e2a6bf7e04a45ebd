"""`prepare video` from WebDataset shards (video2dataset's layout, made here with cv2.VideoWriter
and tarfile), and long videos run as parts."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

import focusgan.prepare.video_items as vi
from focusgan.cli import main
from focusgan.data.dataset import load_images, read_info, read_metadata
from focusgan.data.summary import FilterSummary
from focusgan.video.io import write_video
from focusgan.video.shots import CUT_RATIO, CUT_THRESHOLD
from focusgan.video.synthetic import make_video

ARGS = ["--workers", "0", "--quiet", "--size", "32", "--frames-per-shot", "3", "--min-shot", "4",
        "--min-fg", "0", "--max-fg", "1", "--max-border-fg", "1"]  # fmt: skip


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def meta(i: int) -> dict:
    """What video2dataset writes in a sample's .json (with an extra column, videoID)."""
    return {"url": f"https://example.org/v/{i}.mp4", "caption": f"a clip {i}", "key": f"{i:09d}",
            "status": "success", "videoID": f"yt{i:04d}"}  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("videos")
    return [write_video(folder / f"{i:09d}.mp4",
                        make_video(20 + i, size=(48, 64), shot_lengths=(12,)).frames, fps=12)
            for i in range(4)]  # fmt: skip


@pytest.fixture(scope="module")
def shards(videos, tmp_path_factory) -> Path:
    """Two shards of two samples each: mp4 + json (+ txt in the first)."""
    folder = tmp_path_factory.mktemp("shards")
    for s in range(2):
        with tarfile.open(folder / f"{s:05d}.tar", "w") as tar:
            for i in (2 * s, 2 * s + 1):
                add(tar, f"{i:09d}.mp4", videos[i].read_bytes())
                add(tar, f"{i:09d}.json", json.dumps(meta(i)).encode())
                if s == 0:
                    add(tar, f"{i:09d}.txt", b"the txt caption")
    return folder


def test_shards_give_the_samples_of_the_files(videos, shards, tmp_path, monkeypatch):
    monkeypatch.setattr(vi, "_temp_dir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    files, tars = tmp_path / "files.h5", tmp_path / "tars.h5"
    assert main(["prepare", "video", *map(str, videos), "--out", str(files), *ARGS]) == 0
    pattern = str(shards / "{00000..00001}.tar")
    assert main(["prepare", "video", pattern, "--out", str(tars), *ARGS]) == 0
    assert list((tmp_path / "tmp").iterdir()) == []  # the members' temporary files are gone
    a, b = load_images(files), load_images(tars)
    assert len(a) > 0 and a.tobytes() == b.tobytes()
    assert list(read_metadata(files, "frame")) == list(read_metadata(tars, "frame"))
    keys = read_metadata(tars, "key")
    index = [int(k) for k in keys]
    assert list(read_metadata(files, "source")) == [str(videos[i]) for i in index]
    assert list(read_metadata(tars, "source")) == [str(shards / f"{i // 2:05d}.tar") for i in index]
    assert list(read_metadata(tars, "url")) == [meta(i)["url"] for i in index]
    assert list(read_metadata(tars, "caption")) == [meta(i)["caption"] for i in index]
    assert list(read_metadata(tars, "source_id")) == [meta(i)["videoID"] for i in index]
    assert set(read_metadata(files, "key")) == {""}  # files have no key
    assert read_info(tars).filter_summary == read_info(files).filter_summary


def test_bad_shards_are_counted_skips(videos, tmp_path, capsys):
    folder = tmp_path / "shards"
    folder.mkdir()
    with tarfile.open(folder / "00000.tar", "w") as tar:
        add(tar, "000000000.mp4", videos[0].read_bytes())
        add(tar, "000000000.json", json.dumps(meta(0)).encode())
        add(tar, "000000001.jpg", b"\xff\xd8 not a video")
        add(tar, "000000002.mp4", np.random.default_rng(0).bytes(3000))  # broken video
    with tarfile.open(folder / "00001.tar", "w") as tar:
        add(tar, "000000003.mp4", videos[1].read_bytes())
        add(tar, "000000004.mp4", videos[2].read_bytes())
    whole = (folder / "00001.tar").read_bytes()
    (folder / "00001.tar").write_bytes(whole[: len(whole) - 1024 - 2000])  # cut in the 2nd video
    (folder / "00002.tar").write_bytes(b"not a tar at all" * 40)
    out = tmp_path / "bad.h5"
    assert main(["prepare", "video", str(folder / "*.tar"), "--out", str(out), *ARGS]) == 0
    s = read_info(out).filter_summary
    assert s.skipped["truncated shard"] == 1
    assert s.skipped["not a video (.jpg)"] == 1
    assert s.skipped["unreadable video"] == 1
    assert s.skipped["unreadable shard"] == 1
    assert set(read_metadata(out, "key")) == {"000000000", "000000003"}  # the two good videos
    capsys.readouterr()
    missing = str(tmp_path / "none" / "{0..3}.tar")
    assert main(["prepare", "video", missing, "--out", str(out), *ARGS]) == 2
    assert f"no such file or folder: {missing}" in capsys.readouterr().err


def test_a_long_video_in_parts_gives_the_samples_of_the_whole(tmp_path, capsys):
    clip = make_video(7, size=(64, 80), shot_lengths=(20, 15, 25, 12, 18))
    video = write_video(tmp_path / "long.mp4", clip.frames)
    split_mb = video.stat().st_size / vi.MB / 3.5  # 4 parts: edges at frames 22, 45, 67
    items = vi.video_items([video], split_mb, FilterSummary())
    assert [(i.part, i.parts) for i in items] == [(p, 4) for p in range(4)]

    def starts(items):
        out = []
        for i in items:
            with vi.open_item(i) as v:
                out += [a for a, _ in v.shots(CUT_THRESHOLD, CUT_RATIO)]
        return out

    # every part's shots together: the whole video's shots, which are the clip's (its cuts)
    assert starts(items) == starts([vi.VideoItem(str(video))]) == [0, *clip.cuts]
    whole, parts = tmp_path / "whole.h5", tmp_path / "parts.h5"
    said = []
    for out, mb in ((whole, 0), (parts, split_mb)):
        assert main(["prepare", "video", str(video), "--out", str(out), "--split-mb", str(mb),
                     *ARGS]) == 0  # fmt: skip
        said.append(capsys.readouterr().out)
    # the final line counts what it worked on: one video, or its 4 parts, never 4 "videos"
    assert "from 1 source video in" in said[0] and "from 4 source video parts in" in said[1]
    assert read_info(parts).extra["split_mb"] == split_mb and read_info(parts).size > 0
    assert load_images(whole).tobytes() == load_images(parts).tobytes()
    assert list(read_metadata(whole, "frame")) == list(read_metadata(parts, "frame"))


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ""])
def test_frames_read_from_a_start_equal_those_decoded_from_the_first(tmp_path, suffix):
    """A part of a long video is sought to its start (`iter_frames(start=...)`) instead of being
    decoded from the video's first frame: the frames it gets are those decoding from the first
    frame gives, to the byte, at 1280x720 (and for a folder of frames)."""
    from focusgan.video.io import iter_frames

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    frames = np.stack(
        [np.roll(np.kron(base, np.ones((8, 8, 1), np.uint8)), 7 * t, axis=1) for t in range(75)]
    )  # 720 x 1280, a pan: every frame differs
    if suffix:
        video = write_video(tmp_path / f"clip{suffix}", frames)
    else:
        import cv2

        video = tmp_path / "clip"
        video.mkdir()
        for t, f in enumerate(frames):
            cv2.imwrite(str(video / f"{t:05d}.png"), f[..., ::-1])
    whole = [(f.index, f.rgb) for f in iter_frames(video)]
    assert len(whole) == 75
    for start in (1, 31, 64):  # mp4v keyframes every 12 frames: 31 and 64 lie between
        part = [(f.index, f.rgb) for f in iter_frames(video, start=start)]
        assert [i for i, _ in part] == list(range(start, 75))
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(part, whole[start:], strict=True))


def test_a_long_shot_in_parts_stores_the_masks_segment_writes(tmp_path):
    """A 30-frame shot (more than 2 x --segment-frames 5: pieces 0-5, ..., 15-20, 20-25, 25-30)
    in a video split into 2 parts at frame 22: `prepare video` reads each part twice (its
    shots, then only the pieces holding a candidate) and stores `segment --chunk 5`'s masks
    brought to 32x32 by the same `to_square`."""
    import cv2

    from focusgan.prepare.transform import to_square
    from focusgan.video.io import iter_frames

    clip = make_video(8, size=(48, 64), shot_lengths=(30, 14), camera="static", n_objects=1)
    video = write_video(tmp_path / "long.mp4", clip.frames)
    fast = ["--feature-weight", "0"]  # the pieces are what is tested
    seg = ["segment", str(video), "--out", str(tmp_path / "seg"), "--no-overlay", "--chunk", "5"]
    assert main([*seg, *fast]) == 0
    out, split_mb = tmp_path / "parts.h5", video.stat().st_size / vi.MB / 1.5  # 2 parts
    assert main(["prepare", "video", str(video), "--out", str(out), "--split-mb", str(split_mb),
                 "--segment-frames", "5", *ARGS, *fast]) == 0  # fmt: skip
    items = vi.video_items([video], split_mb, FilterSummary())
    assert [(i.part, i.parts) for i in items] == [(0, 2), (1, 2)]
    with vi.open_item(items[1]) as part:  # sought to 22 - MARGIN; owns the shot at 30
        assert part.shots(CUT_THRESHOLD, CUT_RATIO) == [(30, 44)]
        got = [[f.index for f in p] for p in part.pieces([(30, 35), (40, 44)])]
        assert got == [[30, 31, 32, 33, 34], [40, 41, 42, 43]]
    frames = list(read_metadata(out, "frame"))
    assert frames == [0, 14, 29, 30, 36, 43]  # 3 evenly spaced frames of each shot
    rgb = {f.index: f.rgb for f in iter_frames(video)}
    for image, f in zip(load_images(out), frames, strict=True):
        mask = cv2.imread(str(tmp_path / "seg" / f"{f:05d}.png"), cv2.IMREAD_GRAYSCALE)
        assert mask.max() > 127
        np.testing.assert_array_equal(image, to_square(rgb[f], 32, "squash", mask=mask))
