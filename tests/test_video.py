"""Motion segmentation from video: synthetic videos, shots, the segmenter, DAVIS measures,
`segment`, `bench-motion` and `prepare video`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from focusgan.cli import main
from focusgan.data.dataset import read_info, read_metadata
from focusgan.video.davis import boundary_tolerance, f_measure, iou, sequence_scores
from focusgan.video.io import BadVideo, read_frames, write_video
from focusgan.video.segment import segment_frames
from focusgan.video.shots import detect_cuts
from focusgan.video.synthetic import make_video, write_videos

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def centre_box(shape: tuple[int, ...]) -> np.ndarray:
    box = np.zeros(shape, bool)
    h, w = shape[-2:]
    box[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    return box


def test_synthetic_video_is_seeded_and_has_true_masks():
    a = make_video(5, size=(48, 64), shot_lengths=(6, 5))
    b = make_video(5, size=(48, 64), shot_lengths=(6, 5))
    assert a.frames.shape == (11, 48, 64, 3) and a.frames.dtype == np.uint8
    assert a.masks.shape == (11, 48, 64) and set(np.unique(a.masks)) <= {0, 255}
    assert a.cuts == [6]
    np.testing.assert_array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, make_video(6, size=(48, 64), shot_lengths=(6, 5)).frames)
    fg = (a.masks > 0).mean(axis=(1, 2))
    assert (fg > 0.02).all() and (fg < 0.6).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shot_detection_finds_the_cuts(seed):
    v = make_video(seed, size=(72, 96), shot_lengths=(12, 15, 10))
    assert detect_cuts(v.frames) == v.cuts == [12, 27]


@pytest.mark.parametrize("camera", ["static", "pan"])
def test_segmentation_beats_the_centre_box(camera):
    scores, box_scores = [], []
    for seed in range(2):
        v = make_video(seed, size=(96, 128), shot_lengths=(16,), camera=camera, n_objects=1)
        seg = segment_frames(v.frames)
        assert seg.masks.shape == v.masks.shape and seg.masks.dtype == np.float32
        assert 0 <= seg.masks.min() and seg.masks.max() <= 1
        assert seg.motion_frames == 16
        gt = v.masks > 127
        scores.append(sequence_scores(seg.masks > 0.5, gt)["J"])
        box_scores.append(sequence_scores(centre_box(gt.shape), gt)["J"])
    assert np.mean(scores) > 0.6, scores
    assert np.mean(scores) > np.mean(box_scores) + 0.3, (scores, box_scores)


def test_static_video_has_no_motion():
    v = make_video(0, size=(64, 80), shot_lengths=(8,), camera="static")
    still = np.repeat(v.frames[:1], 8, axis=0)
    assert segment_frames(still).motion_frames == 0


def test_davis_measures():
    gt = np.zeros((48, 64), bool)
    gt[10:30, 20:40] = True
    assert iou(gt, gt) == 1.0 and f_measure(gt, gt) == 1.0
    assert iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    assert iou(np.zeros_like(gt), gt) == 0.0 and f_measure(np.zeros_like(gt), gt) == 0.0
    half = np.zeros_like(gt)
    half[10:30, 20:30] = True
    assert iou(half, gt) == pytest.approx(0.5)
    assert boundary_tolerance((480, 854)) == 8  # ceil(0.008 * 979.6)
    shifted = np.roll(gt, 1, axis=1)  # 1 pixel off: inside the tolerance of 1 at this size
    assert boundary_tolerance(gt.shape) == 1 and f_measure(shifted, gt) == 1.0
    far = np.roll(gt, 6, axis=1)
    assert f_measure(far, gt) < 0.7
    seq = np.stack([gt, half, gt])
    assert sequence_scores(seq, np.stack([gt] * 3))["J"] == pytest.approx(0.5)  # middle only
    assert sequence_scores(seq, np.stack([gt] * 3), all_frames=True)["J"] == pytest.approx(2.5 / 3)


def test_bad_videos_raise_with_a_reason(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(BadVideo) as e:
        read_frames(junk)
    assert e.value.reason == "unreadable video"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadVideo) as e:
        read_frames(empty)
    assert e.value.reason == "no frames"
    v = make_video(1, size=(64, 80), shot_lengths=(30,))
    good = write_video(tmp_path / "good.avi", v.frames)
    frames, names = read_frames(good)
    assert frames.shape == (30, 64, 80, 3) and names[:2] == ["00000", "00001"]
    data = good.read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadVideo) as e:
        read_frames(truncated)
    assert e.value.reason in ("truncated video", "unreadable video")


def test_segment_command_writes_masks_named_after_frames(tmp_path):
    (video,) = write_videos(
        tmp_path / "in", 1, seed=3, as_frames=True, size=(72, 96), shot_lengths=(10,)
    )
    for f in sorted(video.iterdir()):  # DAVIS-like names that are not 0..T-1
        f.rename(f.with_name(f"{int(f.stem) + 17:05d}.png"))
    out = tmp_path / "out"
    assert main(["segment", str(video), "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(17, 27)]
    mask = cv2.imread(str(pngs[3]), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and mask.shape == (72, 96) and mask.max() > 127
    assert (out / "overlay.mp4").stat().st_size > 0
    assert not list(out.glob("*.partial*"))


def test_segment_command_bad_input_is_a_user_error(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "missing.mp4"), "--out", str(tmp_path)]) == 2
    assert "missing.mp4" in capsys.readouterr().err


def test_prepare_video_writes_probability_masks_and_counts_bad_input(tmp_path):
    videos = write_videos(tmp_path / "videos", 2, seed=0, size=(96, 128), shot_lengths=(14, 12))
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"\x00" * 4096)
    still = tmp_path / "still"
    still.mkdir()
    frame = make_video(9, size=(96, 128), shot_lengths=(1,)).frames[0]
    for i in range(12):
        cv2.imwrite(str(still / f"{i:05d}.png"), frame[..., ::-1])
    out = tmp_path / "video.h5"
    args = [
        "prepare",
        "video",
        str(tmp_path / "videos"),
        str(still),
        "--out",
        str(out),
        "--workers",
        "0",
        "--quiet",
        "--frames-per-shot",
        "5",
        "--size",
        "32",
    ]
    assert main(args) == 0
    info = read_info(out)
    assert info.channels == 4 and info.mask_semantics == "probability" and info.resolution == 32
    s = info.filter_summary
    assert s.skipped["unreadable video"] == 1
    assert s.skipped["no motion in shot"] == 1
    assert s.kept == info.size > 0
    assert s.candidates == s.kept + sum(s.rejected.values())
    sources = set(read_metadata(out, "source"))
    assert sources <= {str(v) for v in videos}
    frames = read_metadata(out, "frame")
    assert (frames >= 0).all() and (frames < 26).all()
    fg = read_metadata(out, "fg_fraction")
    assert ((fg >= 0.10 - 0.05) & (fg <= 0.80 + 0.05)).all()  # thesis filter (before squaring)


def test_bench_motion_synthetic_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench-motion", "--synthetic", "1", "--json", str(out), "--work-side", "160"]) == 0
    text = capsys.readouterr().out
    assert "synthetic-0" in text and "frames/s" in text
    result = json.loads(out.read_text())
    row = result["synthetic"]["videos"][0]
    assert row["J"] > row["box_J"] + 0.2 and row["fps"] > 0


@pytest.mark.skipif(not (DATA / "davis").is_dir(), reason="../shared/data/davis is absent")
def test_bench_motion_on_real_davis_frames(tmp_path):
    from focusgan.video.cli import bench_davis
    from focusgan.video.segment import SegmentParams

    root = tmp_path / "davis"  # the first 12 frames of blackswan, default segmenter
    for kind, ext in (("JPEGImages", "jpg"), ("Annotations", "png")):
        d = root / kind / "480p" / "blackswan"
        d.mkdir(parents=True)
        for i in range(12):
            name = f"{i:05d}.{ext}"
            (d / name).symlink_to(DATA / "davis" / kind / "480p" / "blackswan" / name)
    (row,) = bench_davis(root, None, SegmentParams())
    assert row["frames"] == 12 and row["size"] == "854x480"
    assert row["J"] > 0.5 and row["F"] > 0.3
