"""Motion segmentation from video: synthetic videos, shots, the segmenter, DAVIS measures,
`segment`, `bench-motion` and `prepare video`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from focusgan.cli import main
from focusgan.data.dataset import read_info, read_metadata
from focusgan.video.bench import centre_box
from focusgan.video.davis import boundary_tolerance, f_measure, iou, sequence_scores
from focusgan.video.io import BadVideo, read_frames, write_video
from focusgan.video.segment import segment_frames
from focusgan.video.shots import LAG, ShotSplitter, detect_cuts, shot_pieces, split_evenly
from focusgan.video.synthetic import make_video, write_videos


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
    # each cut is reported LAG frames late (the installed PySceneDetect's window), which
    # `iter_pieces` relies on to let a piece go before its shot ends
    splitter = ShotSplitter()
    said = {c: i for i, f in enumerate(v.frames) for c in splitter.push(i, f)}
    assert said == {12: 12 + LAG, 27: 27 + LAG}


def test_shot_pieces():
    """`chunk` frames while more than 2 x chunk remain, then the rest split evenly: a shot of at
    most 2 x chunk frames keeps `split_evenly`'s pieces (so DAVIS's, at most 104 frames, stay)."""
    assert shot_pieces(250, 60) == [(0, 60), (60, 120), (120, 180), (180, 215), (215, 250)]
    assert shot_pieces(121, 60) == [(0, 60), (60, 90), (90, 121)]  # 61 = 30 + 31
    for chunk in (2, 6, 60):
        for n in range(1, 5 * chunk):
            pieces = shot_pieces(n, chunk)
            if n <= 2 * chunk:
                assert pieces == split_evenly(n, chunk)
            assert [a for a, _ in pieces] == [0] + [b for _, b in pieces[:-1]]
            assert pieces[-1][1] == n and all(0 < b - a <= chunk for a, b in pieces)


def test_segment_holds_about_two_pieces_of_a_long_shot():
    """`segment_stream` on shots of 40 and 14 frames in pieces of at most 6: each piece is
    segmented as soon as it is decided, so when a frame is read no more than 2 x 6 + LAG earlier
    frames are alive (the shot's buffer just before it lets a piece go), whatever the shot's
    length; the masks are those of each piece of `shot_pieces` segmented alone."""
    import weakref

    from focusgan.video.features import FeatureParams
    from focusgan.video.io import Frame
    from focusgan.video.segment import SegmentParams, segment_stream

    v = make_video(3, size=(48, 64), shot_lengths=(40, 14), camera="static", n_objects=1)
    params = SegmentParams(features=FeatureParams(weight=0))  # fast; pieces are what is tested
    refs, alive = [], []

    def source():
        for i, rgb in enumerate(v.frames):
            alive.append(sum(r() is not None for r in refs))
            frame = Frame(i, f"{i:05d}", rgb.copy())
            refs.append(weakref.ref(frame))
            yield frame

    masks = [m for _, m, _ in segment_stream(source(), params, chunk=6)]
    assert max(alive) == 2 * 6 + LAG  # reached: a piece goes only once the rule has decided it
    pieces = shot_pieces(40, 6) + [(40 + a, 40 + b) for a, b in shot_pieces(14, 6)]
    assert len(pieces) == 10 and len(masks) == 54
    for a, b in pieces:
        np.testing.assert_array_equal(masks[a:b], segment_frames(v.frames[a:b], params).masks)


def _uneven_pan(frames: int = 48) -> np.ndarray:
    """A camera panning over a blurred random texture at 3.5-8.5 pixels per frame: the content
    change from frame to frame rises and falls around PySceneDetect's usual fixed threshold."""
    rng = np.random.default_rng(0)
    texture = (rng.random((30, 400, 3)) * 255).astype(np.uint8)
    texture = cv2.resize(texture, (4000, 240), interpolation=cv2.INTER_LINEAR)
    texture = cv2.GaussianBlur(texture, (0, 0), 3)
    speed = 6 + 2.5 * np.sin(2 * np.pi * np.arange(frames) / 12)
    x = np.concatenate([[0], np.cumsum(speed)]).round().astype(int)
    return np.stack([texture[:, a : a + 320] for a in x[:frames]])


def test_a_fast_uneven_pan_is_one_shot():
    # a fixed content threshold (ContentDetector, 27) cut this pan at frames 13, 25 and 37
    assert detect_cuts(_uneven_pan()) == []


@pytest.mark.real_data
def test_davis_fast_pan_is_one_shot(shared_data):
    frames, _ = read_frames(shared_data / "davis" / "JPEGImages" / "480p" / "drift-straight")
    assert detect_cuts(frames) == []  # the fixed threshold cut it at 12, 20, 28 and 36
    assert detect_cuts(np.concatenate([frames, frames[::-1][20:]])) == []


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


def test_f_is_the_benchmarks_f():
    """F dilates with scikit-image's disk(8) at 854x480 (davis2017-evaluation `f_measure`): a
    boundary pixel is matched iff the other boundary is within Euclidean distance 8."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    from focusgan.video.davis import boundary_map

    def f_reference(pred, gt):  # independent: distances of boundary pixels to the other boundary
        pb, gb = boundary_map(pred), boundary_map(gt)
        precision = (distance_transform_edt(~gb)[pb] <= 8).mean()
        recall = (distance_transform_edt(~pb)[gb] <= 8).mean()
        return 2 * precision * recall / (precision + recall)

    noise = gaussian_filter(np.random.default_rng(0).standard_normal((480, 854)), 12)
    gt = noise > 0.01
    pred = np.roll(noise > 0.0, (5, 3), axis=(0, 1))  # a wobbly boundary, partly > 8 px away
    assert 0.3 < f_measure(pred, gt) < 0.95
    assert f_measure(pred, gt) == pytest.approx(f_reference(pred, gt), abs=1e-12)
    # single pixels: their boundaries are 2x2 blocks; 8 x 5 apart leaves the blocks (7, 4) apart,
    # sqrt(65) > 8: no match (OpenCV's 17x17 ellipse, the old element, reached it); at 8 x 4 the nearest pair, (7, 3) apart, matches: 1 of 4 each way
    dot = np.zeros((480, 854), bool)
    dot[240, 427] = True
    assert f_measure(np.roll(dot, (8, 5), axis=(0, 1)), dot) == 0.0
    assert f_measure(np.roll(dot, (8, 4), axis=(0, 1)), dot) == 0.25


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
    assert main(["bench-motion", "--synthetic", "1", "--colour-weight", "2"]) == 2
    assert "--colour-weight" in capsys.readouterr().err
    assert main(["segment", "x.mp4", "--out", str(tmp_path), "--feature-weight", "-1"]) == 2
    assert "--feature-weight must be between 0 and 1" in capsys.readouterr().err
    assert main(["bench-motion", "--synthetic", "1", "--synthetic-shots", "20,x"]) == 2
    assert "--synthetic-shots" in capsys.readouterr().err
    assert main(["bench-motion", "--synthetic", "1", "--flow-side", "8"]) == 2
    assert "--flow-side" in capsys.readouterr().err
    assert main(["bench-motion", "--synthetic", "1", "--regions", "-1"]) == 2
    assert "--regions >= 0" in capsys.readouterr().err
    assert main(["bench-motion", "--synthetic", "1", "--chunk", "1"]) == 2
    assert "--chunk must be >= 2" in capsys.readouterr().err
    assert main(["segment", str(tmp_path), "--out", str(tmp_path / "o"), "--chunk", "1"]) == 2
    assert "--chunk must be >= 2" in capsys.readouterr().err
    argv = ["prepare", "video", str(tmp_path), "--out", str(tmp_path / "v.h5"), "--cut-ratio"]
    assert main([*argv, "0"]) == 2
    assert "--cut-ratio > 0" in capsys.readouterr().err
    assert not (tmp_path / "v.h5").exists()


def test_flow_side_apart_from_work_side():
    v = make_video(3, size=(96, 128), shot_lengths=(8,), camera="static", n_objects=1)
    from focusgan.video.segment import SegmentParams

    for flow_side in (64, 128, 0):
        seg = segment_frames(v.frames, SegmentParams(work_side=96, flow_side=flow_side))
        assert seg.masks.shape == v.masks.shape and seg.motion_frames == 8


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
        "--colour-weight",
        "0.25",
    ]
    assert main(args) == 0
    info = read_info(out)
    # the segmenter's options reach it and are recorded with the dataset
    assert info.extra["segmenter"]["colour_weight"] == 0.25
    assert info.extra["segmenter"]["colour_adaptive"] is True
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


NO_FILTERS = ["--min-fg", "0", "--max-fg", "1", "--max-border-fg", "1"]


@pytest.mark.parametrize(
    "chunk,size,length", [(None, (72, 96), 20), ("8", (72, 96), 20), ("3", (720, 960), 6)]
)
def test_prepare_video_stores_the_masks_segment_writes(tmp_path, chunk, size, length):
    """prepare video runs the segmentation that `segment` writes and bench-motion measures
    (consecutive frames at their own size, the same pieces of a shot), then squares frame and
    mask: at 960x720, larger than any working size of the segmenter (256, the network's 768),
    the stored 64x64 masks are `segment`'s PNGs brought to 64x64 by the same `to_square`."""
    from focusgan.data.dataset import load_images
    from focusgan.prepare.transform import to_square

    (video,) = write_videos(
        tmp_path / "in", 1, seed=11, as_frames=True, size=size, shot_lengths=(length,)
    )
    pieces = [] if chunk is None else ["--chunk", chunk]
    seg = ["segment", str(video), "--out", str(tmp_path / "seg"), "--no-overlay", *pieces]
    assert main(seg) == 0
    out = tmp_path / "v.h5"
    pieces = [] if chunk is None else ["--segment-frames", chunk]
    argv = ["prepare", "video", str(video), "--out", str(out), "--workers", "0", "--quiet"]
    argv += ["--frames-per-shot", "100", "--size", "64", "--min-shot", "2", *NO_FILTERS, *pieces]
    assert main(argv) == 0
    images, frames = load_images(out), read_metadata(out, "frame")
    assert list(frames) == list(range(length))
    names = sorted(video.iterdir())
    for image, f in zip(images, frames, strict=True):
        rgb = cv2.imread(str(names[f]))[..., ::-1]
        mask = cv2.imread(str(tmp_path / "seg" / f"{names[f].stem}.png"), cv2.IMREAD_GRAYSCALE)
        assert rgb.shape[:2] == mask.shape == size and mask.max() > 127
        np.testing.assert_array_equal(image, to_square(rgb, 64, "squash", mask=mask))


def test_a_frame_size_change_is_a_cut_not_a_traceback(tmp_path):
    """12 PNG frames, 48x64 then 50x64: `segment` writes every mask at its frame's size and
    `prepare video` sees two shots (too short by default: two counted skips)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, (seed, h) in enumerate([(1, 48), (2, 50)]):
        v = make_video(seed, size=(h, 64), shot_lengths=(6,), camera="static", n_objects=1)
        for t, f in enumerate(v.frames):
            cv2.imwrite(str(folder / f"{6 * i + t:05d}.png"), f[..., ::-1])
    assert main(["segment", str(folder), "--out", str(tmp_path / "seg"), "--no-overlay"]) == 0
    shapes = [cv2.imread(str(p)).shape[:2] for p in sorted((tmp_path / "seg").glob("*.png"))]
    assert shapes == [(48, 64)] * 6 + [(50, 64)] * 6
    argv = ["prepare", "video", str(folder), "--workers", "0", "--quiet", "--size", "32"]
    assert main([*argv, "--out", str(tmp_path / "a.h5")]) == 0
    assert read_info(tmp_path / "a.h5").filter_summary.skipped["shot shorter than 10 frames"] == 2
    out = tmp_path / "b.h5"
    assert main([*argv, "--out", str(out), "--min-shot", "2", *NO_FILTERS]) == 0
    s = read_info(out).filter_summary
    assert "shot shorter than 10 frames" not in s.skipped
    assert set(read_metadata(out, "frame")) & {0, 1, 2, 3, 4, 5}
    assert set(read_metadata(out, "frame")) & {6, 7, 8, 9, 10, 11}


def test_prepare_video_follows_a_small_object_over_a_textured_road(tmp_path):
    """A strongly textured static background (asphalt grain, lane marks, kerb stripes) and a
    small car crossing it: the stored masks cover the car, not the road."""
    rng = np.random.default_rng(3)
    h, w, n = 120, 160, 24
    road = rng.integers(60, 200, (h, w, 1), np.uint8).repeat(3, 2)  # grain at pixel scale
    road = cv2.GaussianBlur(road, (3, 3), 0.6)
    road[:, ::16][:, :, :] = 230  # dense vertical marks
    road[::10, :, :] = (40, 40, 40)  # horizontal stripes
    car = cv2.resize(rng.integers(0, 255, (4, 6, 3), np.uint8), (18, 12), cv2.INTER_NEAREST)
    car[..., 0] = np.maximum(car[..., 0], 180)  # a reddish, patterned car
    folder = tmp_path / "road"
    folder.mkdir()
    truth = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        f = road.copy()
        x, y = 20 + 5 * i, 54 + (i % 3)
        f[y : y + 12, x : x + 18] = car
        truth[i, y : y + 12, x : x + 18] = 255
        cv2.imwrite(str(folder / f"{i:05d}.png"), f[..., ::-1])
    assert truth.mean() / 255 < 0.02  # the car covers about 1% of the frame
    out = tmp_path / "road.h5"
    argv = ["prepare", "video", str(folder), "--out", str(out), "--workers", "0", "--quiet"]
    assert main([*argv, "--frames-per-shot", "6", "--size", "64", *NO_FILTERS]) == 0
    from focusgan.data.dataset import load_images
    from focusgan.prepare.transform import to_square

    images, frames = load_images(out), read_metadata(out, "frame")
    assert len(frames) == 6
    scores = []
    for image, f in zip(images, frames, strict=True):
        gt = to_square(np.zeros((h, w, 3), np.uint8), 64, "squash", mask=truth[f])[..., 3] > 127
        pred = image[..., 3] > 127
        scores.append(iou(pred, gt))
        assert (image[..., 3][~gt] > 127).mean() < 0.02  # hardly any road in the mask
    assert np.mean(scores) > 0.5, scores


def test_bench_motion_prepare_scores_the_stored_masks(tmp_path, capsys):
    """`bench-motion --davis DIR --prepare`: prepare video's 64x64 masks scored against the
    ground truth squared the same way, beside segment's J."""
    v = make_video(4, size=(96, 128), shot_lengths=(16,), n_objects=1)
    for kind, images in (("JPEGImages", v.frames[..., ::-1]), ("Annotations", v.masks)):
        d = tmp_path / "davis" / kind / "480p" / "toy"
        d.mkdir(parents=True)
        for i, image in enumerate(images):
            cv2.imwrite(str(d / f"{i:05d}.png"), image)
    out = tmp_path / "bench.json"
    argv = ["bench-motion", "--davis", str(tmp_path / "davis"), "--prepare", "--json", str(out)]
    assert main(argv) == 0
    assert "prepare J" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())["prepare"]["sequences"]
    assert row["sequence"] == "toy" and row["frames"] == 14  # without the first and last
    assert row["J"] > 0.6 and abs(row["J"] - row["segment_J"]) < 0.1, row
    assert main(["bench-motion", "--synthetic", "1", "--prepare"]) != 0
    assert "--prepare scores DAVIS sequences" in capsys.readouterr().err


def test_bench_motion_synthetic_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench-motion", "--synthetic", "1", "--json", str(out), "--work-side", "160"]) == 0
    text = capsys.readouterr().out
    assert "synthetic-0" in text and "frames/s" in text
    result = json.loads(out.read_text())
    row = result["synthetic"]["videos"][0]
    assert row["J"] > row["box_J"] + 0.2 and row["fps"] > 0
    assert result["params"]["colour_adaptive"] is True
    argv = ["bench-motion", "--synthetic", "1", "--json", str(out), "--fixed-colour-weight"]
    assert main([*argv, "--work-side", "160"]) == 0
    assert json.loads(out.read_text())["params"]["colour_adaptive"] is False


def test_bench_motion_on_davis_frames(davis_source, tmp_path):
    from focusgan.video.bench import bench_davis
    from focusgan.video.segment import SegmentParams

    seq = "blackswan" if davis_source.real else "seq-grey"
    root = tmp_path / "davis"  # the first 12 frames of one sequence, default segmenter
    for kind, src, ext in (("JPEGImages", davis_source.images, "jpg"),
                           ("Annotations", davis_source.masks, "png")):  # fmt: skip
        d = root / kind / "480p" / seq
        d.mkdir(parents=True)
        for i in range(12):
            name = f"{i:05d}.{ext}"
            (d / name).symlink_to(src / seq / name)
    (row,) = bench_davis(root, None, SegmentParams())
    assert row["frames"] == 12
    assert row["J"] > 0.5 and row["F"] > 0.3
    if davis_source.real:
        assert row["size"] == "854x480"
        # swan and water differ in colour: the colour model keeps most of its weight (0.35 on
        # the whole sequence), without reaching the cap of 0.5
        assert 0.2 < row["colour_weight"] < 0.5
    else:
        assert row["size"] == "160x120"


def _moving_square(n: int = 5, size: int = 96, side: int = 24, step: int = 3):
    """A textured square moving right over a static textured background, and its masks."""
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (size, size), np.uint8), (5, 5), 1.5)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (side, side), np.uint8), (5, 5), 1.5)
    frames, masks = [], []
    for i in range(n):
        f, m = bg.copy(), np.zeros((size, size), bool)
        x = 20 + step * i
        f[36 : 36 + side, x : x + side] = tex
        m[36 : 36 + side, x : x + side] = True
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def test_min_of_forward_and_backward_residuals_hugs_the_object():
    from focusgan.video.saliency import SaliencyParams, frame_saliency

    grays, masks = _moving_square(step=6)
    inside = {}
    for combine in ("min", "mean"):
        p = SaliencyParams(combine=combine, radius=1, patch=1, border=0)
        sal, kind, _ = frame_saliency(grays, 2, p)
        assert kind == "camera" and sal.shape == grays.shape[1:]
        inside[combine] = sal[masks[2]].sum() / sal.sum()
    # the uncovered background behind / ahead of the square shows in one flow only
    assert inside["min"] > inside["mean"] + 0.08 and inside["min"] > 0.85


def test_colour_model_pulls_in_missed_object_and_pushes_out_background():
    from focusgan.video.appearance import fit_colour_model, with_colour

    frames = np.zeros((3, 40, 40, 3), np.uint8)
    frames[...] = (40, 60, 200)  # blue background
    frames[:, 10:30, 10:30] = (220, 40, 40)  # red object
    prob = np.full((3, 40, 40), 0.2, np.float32)
    prob[:, 10:30, 10:30] = 0.9
    prob[:, 10:15, 10:30] = 0.45  # part of the object the votes missed
    prob[:, 32:38, 2:8] = 0.7  # background the votes took for the object
    post = fit_colour_model(frames, prob).posterior
    assert post[:, 20, 20].min() > 0.9 and post[:, 35, 5].max() < 0.1
    out, weight = with_colour(frames, prob)
    assert out.shape == prob.shape and out.dtype == np.float32
    assert weight == 0.5  # red and blue do not overlap: colour counts as much as motion
    assert (out[:, 35, 5] < 0.5).all()  # background pushed out
    assert (out[:, 12, 20] > prob[:, 12, 20]).all()  # the missed part gains
    # no confident pixels on one side: the colour says nothing (0.5)
    confident = np.full((3, 40, 40), 0.9, np.float32)
    assert np.allclose(fit_colour_model(frames, confident).posterior, 0.5)


def test_colour_model_weight_falls_with_the_overlap_of_colours():
    from focusgan.video.appearance import fit_colour_model, with_colour

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)  # same colours everywhere
    prob = np.full((2, 40, 40), 0.2, np.float32)
    prob[:, 10:30, 10:30] = 0.9
    assert fit_colour_model(frames, prob).overlap > 0.9
    out, weight = with_colour(frames, prob)
    assert weight < 0.1  # colour separates nothing: motion decides
    assert np.abs(out - prob).max() < 0.15
    fixed, weight = with_colour(frames, prob, adaptive=False)
    assert weight == 0.5
    frames[:, 10:30, 10:30] = (220, 40, 40)  # now the object has its own colour
    assert fit_colour_model(frames, prob).overlap < 0.5
    assert with_colour(frames, prob)[1] == 0.5


def test_temporal_smooth_and_otsu_threshold():
    from focusgan.video.segment import otsu_threshold, temporal_smooth

    probs = np.ones((5, 4, 4), np.float32)
    probs[2] = 0  # a mask that drops out for one frame
    sm = temporal_smooth(probs, 1)
    assert sm.shape == probs.shape and np.allclose(sm[2], 2 / 3) and np.allclose(sm[0], 1)
    np.testing.assert_array_equal(temporal_smooth(probs, 0), probs)
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0.2, 0.05, 5000), rng.normal(0.8, 0.05, 1000)]).clip(0, 1)
    assert 0.35 < otsu_threshold(v) < 0.65


def test_fast_guided_filter_matches_the_full_one():
    from focusgan.video.segment import guided_filter

    frames, masks = _moving_square(n=1, size=160, side=60)
    guide = frames[0].astype(np.float32) / 255
    src = cv2.GaussianBlur(masks[0].astype(np.float32), (0, 0), 4)
    full = guided_filter(guide, src, 8, 1e-3)
    fast = guided_filter(guide, src, 8, 1e-3, scale=2)
    assert fast.shape == full.shape and np.abs(fast - full).mean() < 0.02


def test_colour_guided_filter_sees_edges_of_equal_brightness():
    from focusgan.video.segment import guided_filter

    rng = np.random.default_rng(0)
    grey = rng.random((60, 80)).astype(np.float32)
    src = (rng.random((60, 80)) > 0.5).astype(np.float32)
    # a grey guide: the colour filter is the grey one (eps shared by the 3 equal channels)
    same = guided_filter(np.repeat(grey[..., None], 3, -1), src, 4, 3e-3)
    np.testing.assert_allclose(same, guided_filter(grey, src, 4, 1e-3), atol=1e-5)
    # red left, green right, the same grey level: a blurred mask of the left half
    image = np.zeros((60, 80, 3), np.float32)
    image[:, :40] = (0.6, 0.3, 0.3)
    image[:, 40:] = (0.3, 0.45, 0.3)
    mask = np.zeros((60, 80), np.float32)
    mask[:, :40] = 1
    soft = cv2.GaussianBlur(mask, (0, 0), 5)
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert np.ptp(luma) < 0.01
    by_grey = guided_filter(luma, soft, 6, 1e-3)
    by_colour = guided_filter(image, soft, 6, 1e-3, scale=2)
    # the colour-guided mask steps at the colour edge; the grey-guided one cannot see it
    step_colour = by_colour[:, 39] - by_colour[:, 40]
    step_grey = by_grey[:, 39] - by_grey[:, 40]
    assert (step_colour > 0.3).all() and (step_grey < 0.1).all()
    assert np.abs(by_colour[:, :30] - 1).max() < np.abs(by_grey[:, :30] - 1).max()


def test_global_smoother_moves_a_mask_edge_to_the_colour_edge():
    from focusgan.video.segment import global_smoother

    rng = np.random.default_rng(0)
    image = np.zeros((80, 120, 3), np.float32)
    image[:, :60] = (200, 60, 60)
    image[:, 60:] = (60, 60, 200)
    image = (image + rng.normal(0, 4, image.shape)).clip(0, 255).astype(np.uint8)
    for stop in (57, 58, 62, 63):  # the mask stops short of the edge, or spills past it
        mask = np.zeros((80, 120), np.float32)
        mask[:, :stop] = 1
        out = global_smoother(image, mask, 60.0, 8.0)
        assert out.shape == mask.shape and out.dtype == np.float32
        fg = out > 0.5
        assert fg[:, :60].all() and not fg[:, 60:].any(), (stop, fg.sum(1)[:5])


def test_segmenter_names_unknown_settings():
    from focusgan.video.segment import SegmentParams

    frames = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown refinement 'crf'; choose one of"):
        segment_frames(frames, SegmentParams(refine="crf"))
    with pytest.raises(ValueError, match="unknown decision 'mean'; choose one of"):
        segment_frames(frames, SegmentParams(decision="mean"))


def test_knn_graph_searches_far_frames_sparsely():
    from focusgan.video.voting import VotingParams, knn_graph

    rng = np.random.default_rng(0)
    starts = np.arange(0, 12 * 20 + 1, 20)  # 12 frames of 20 regions
    desc = rng.random((240, 8), dtype=np.float32)
    m = knn_graph(desc, starts, VotingParams(radius=8, dense=2, step=3, neighbours=30)).tocoo()
    gap = np.abs(m.row // 20 - m.col // 20)
    assert set(np.unique(gap)) <= {0, 1, 2, 3, 6}
    np.testing.assert_allclose(np.asarray(m.tocsr().sum(1)).ravel(), 1, rtol=1e-5)


def test_inside_outside_map_fills_what_motion_boundaries_enclose():
    """FST's inside-outside map: a pixel is inside when rays from it cross an odd number of
    motion boundaries in most of 8 directions. A patch moving uniformly has flow gradients only
    on its rim; the map fills its inside and leaves the rest empty."""
    from focusgan.video.saliency import inside_outside

    flow = np.zeros((90, 120, 2), np.float32)
    flow[30:60, 40:80] = (2.0, -1.0)  # the object's motion (the camera's is already removed)
    outside = np.ones(flow.shape[:2], bool)
    outside[25:65, 35:85] = False  # beyond the boundary band
    for shrink in (1, 2):  # at the flow's size, and (the default) at half of it
        m = inside_outside(flow, shrink=shrink)
        assert m.dtype == np.float32 and m.shape == flow.shape[:2]
        assert 0 <= m.min() and m.max() <= 1
        assert m[35:55, 45:75].mean() == 1.0  # the object's inside, away from its rim
        assert m[outside].mean() == 0.0
    assert set(np.unique(inside_outside(flow, shrink=1))) == {0.0, 1.0}
    assert inside_outside(np.zeros_like(flow)).max() == 0.0  # no motion: nothing inside


def test_votes_per_shot_leave_a_frame_without_motion_empty():
    """Votes rescaled per frame (uNLC) blow a frame's faint noise up to 1 when nothing moves in
    it; rescaled per shot (the default) that frame stays near 0 and its mask empty."""
    import scipy.sparse as sp

    from focusgan.video.voting import consensus_vote

    starts = np.array([0, 4, 8])  # two frames of 4 regions; no links between them
    transition = sp.identity(8, format="csr", dtype=np.float32)
    votes = np.array([0.0, 0.9, 1.0, 0.0, 0.01, 0.0, 0.02, 0.0], np.float32)  # frame 2: noise
    per_frame = consensus_vote(transition, votes, starts, 3, per_frame=True)
    per_shot = consensus_vote(transition, votes, starts, 3, per_frame=False)
    assert per_frame[4:].max() == pytest.approx(1.0)  # noise promoted to an object
    assert per_shot[4:].max() == pytest.approx(0.02)
    np.testing.assert_allclose(per_shot[:4], per_frame[:4])  # the frame with the object: same


def _textured_shot(t: int = 4, size: int = 96) -> np.ndarray:
    """Grey frames whose object (a checkerboard) and background (stripes) share their colours:
    only texture, i.e. the ImageNet features, tells them apart."""
    ys, xs = np.mgrid[:size, :size]
    stripes = np.where((xs // 6) % 2 == 0, 70, 180)
    checker = np.where(((xs // 4) + (ys // 4)) % 2 == 0, 70, 180)
    frame = stripes.copy()
    inside = slice(size // 4, 3 * size // 4)
    frame[inside, inside] = checker[inside, inside]
    return np.repeat(np.repeat(frame[None, ..., None], 3, -1), t, 0).astype(np.uint8)


def test_feature_model_pulls_in_missed_object_and_pushes_out_background():
    from focusgan.video.appearance import fit_colour_model
    from focusgan.video.features import FeatureParams, with_features

    frames = _textured_shot()
    q = 96 // 4
    prob = np.full((4, 96, 96), 0.2, np.float32)
    prob[:, q : 3 * q, q : 3 * q] = 0.9
    prob[:, q : q + 12, q : 3 * q] = 0.45  # part of the object the votes missed
    prob[:, 80:94, 2:16] = 0.7  # background the votes took for the object
    assert fit_colour_model(frames, prob).overlap > 0.9  # colour cannot tell them apart
    # the shot's own model alone: the cross-video prior (tested below) has never seen a grey
    # checkerboard move, and would veto it
    out = with_features(frames, prob, FeatureParams(side=96, every=1, prior=0.0))
    assert out.shape == prob.shape and out.dtype == np.float32
    assert (out[:, 87, 9] < 0.5).all()  # the background pushed out
    assert (out[:, q + 6, 2 * q] > prob[:, q + 6, 2 * q] + 0.05).all()  # the missed part gains
    assert (out[:, 2 * q, 2 * q] > 0.6).all() and (out[:, 5, 5] < 0.3).all()


def test_feature_model_says_nothing_without_confident_pixels_or_weight():
    from focusgan.video.features import FeatureParams, fit_posterior, with_features

    frames = _textured_shot(t=3, size=64)
    sure = np.full((3, 64, 64), 0.9, np.float32)
    assert fit_posterior(np.ones((10, 4), np.float32), np.full(10, 0.9), FeatureParams()) is None
    assert with_features(frames, sure, FeatureParams(side=64)) is sure
    prob = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    assert with_features(frames, prob, FeatureParams(weight=0.0)) is prob


def test_feature_model_on_every_other_frame_interpolates_in_time():
    from focusgan.video.features import FeatureParams, with_features

    frames = _textured_shot(t=5)
    prob = np.full((5, 96, 96), 0.2, np.float32)
    prob[:, 24:72, 24:72] = 0.9
    every = with_features(frames, prob, FeatureParams(side=96, every=1))
    other = with_features(frames, prob, FeatureParams(side=96, every=2))
    # a still shot: the network's answer for frames 1 and 3 is the mean of their neighbours'
    assert np.abs(every - other).max() < 0.05
    assert (other[:, 48, 48] > 0.6).all() and (other[:, 5, 5] < 0.3).all()


def test_skipped_frames_posterior_follows_the_flow():
    """A bump moving 4 px right per frame: sampled in frames 0 and 2 (columns 20 and 28), it is
    at column 24 in frame 1. Linear in time, frame 1 holds two half bumps at 20 and 28; warped
    along the true flow (frame 1 to 0: 4 px left, to 2: 4 px right) one whole bump at 24."""
    from focusgan.video.features import spread_in_time

    h, w = 16, 48
    cols = np.arange(w, dtype=np.float32)
    maps = np.stack([np.tile(np.exp(-((cols - c) ** 2) / 4), (h, 1)) for c in (20, 28)])
    left = np.zeros((h, w, 2), np.float32)
    left[..., 0] = -4
    flows = {(1, 0): left, (1, 2): -left, (0, 1): -left, (2, 1): left}
    linear = spread_in_time(maps, [0, 2], 3, h, w)
    warped = spread_in_time(maps, [0, 2], 3, h, w, flows)
    assert linear[1, 8].argmax() in (20, 28) and linear[1, 8].max() < 0.55
    assert warped[1, 8].argmax() == 24 and warped[1, 8, 24] > 0.99
    np.testing.assert_allclose(warped[[0, 2]], maps, atol=1e-6)  # sampled frames untouched
    half = {k: f[::2, ::2] / 2 for k, f in flows.items()}  # the flow at half the size (pixels)
    np.testing.assert_allclose(spread_in_time(maps, [0, 2], 3, h, w, half), warped, atol=1e-5)
    # three frames apart (the network on every third frame): warped step by step, neighbour to
    # neighbour, the bump is at 24 in frame 1 and 28 in frame 2
    far = np.stack([np.tile(np.exp(-((cols - c) ** 2) / 4), (h, 1)) for c in (20, 32)])
    steps = {(i, i + s): -s * left for i in range(4) for s in (-1, 1) if 0 <= i + s < 4}
    chained = spread_in_time(far, [0, 3], 4, h, w, steps)
    assert chained[1, 8].argmax() == 24 and chained[2, 8].argmax() == 28
    assert chained[1, 8].max() > 0.99 and chained[2, 8].max() > 0.99


def test_cross_video_prior_is_a_probability_per_feature_row(monkeypatch):
    """The shipped prior: a logistic regression on the 152 features (and a bias), whose output
    is sigmoid(theta . x / |x| + bias) per feature vector, whatever the vector's length; in the
    labels, a constant prior multiplies them as the weighted geometric mean says."""
    import focusgan.video.features as features

    for name in features.PRIOR_FILES:  # the shipped priors: same shape, each its own weights
        theta = features.prior_weights(name)
        assert theta.shape == (153,) and theta.dtype == np.float32 and np.isfinite(theta).all()
    assert not np.array_equal(features.prior_weights("motion"), features.prior_weights("coco"))
    maps = np.random.default_rng(0).normal(size=(2, 3, 4, 152)).astype(np.float32)
    out = features.prior_probability(theta, maps)
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    x = maps[1, 2, 3] / np.linalg.norm(maps[1, 2, 3])
    assert out[1, 2, 3] == pytest.approx(1 / (1 + np.exp(-(x @ theta[:-1] + theta[-1]))), 1e-5)
    np.testing.assert_allclose(features.prior_probability(theta, 3 * maps), out, atol=1e-6)
    assert 0.0 < out.min() and out.max() < 1.0 and out.std() > 0.01
    constant = np.zeros(153, np.float32)
    constant[-1] = np.log(0.25 / 0.75)  # P = 0.25 everywhere
    monkeypatch.setattr(features, "prior_weights", lambda name: constant)
    labels = np.random.default_rng(1).random((3, 8, 10)).astype(np.float32)
    mixed = features.prior_labels(labels, [0, 2], maps[:, :2, :2], 0.5, ("motion",))
    np.testing.assert_allclose(mixed[1], np.sqrt(labels[2] * 0.25), rtol=1e-5)
    both = features.prior_labels(labels, [0, 2], maps[:, :2, :2], 0.5, ("motion", "coco"))
    np.testing.assert_allclose(both[1], np.sqrt(labels[2] * 0.25 * 0.25), rtol=1e-5)  # product


@pytest.mark.real_data
def test_cross_video_prior_marks_objects_in_photos_it_never_saw(shared_data):
    """Trained on DAVIS motion masks only, the prior is higher on COCO's annotated objects than
    on the rest of the photo (the first 8 validation photos whose objects cover >= 10%)."""
    from focusgan.prepare.coco import load_coco
    from focusgan.video.features import (
        FeatureParams,
        feature_maps,
        prior_probability,
        prior_weights,
    )

    coco = load_coco(shared_data / "tiny_coco" / "annotations" / "instances_val2017.json")
    gaps = []
    for image_id in sorted(coco.getImgIds(), key=lambda i: coco.imgs[i]["file_name"]):
        anns = [a for a in coco.imgToAnns[image_id] if not a["iscrowd"]]
        if not anns:
            continue
        objects = np.max([coco.annToMask(a) for a in anns], axis=0).astype(np.float32)
        if objects.mean() < 0.1:
            continue
        path = shared_data / "tiny_coco" / "val2017" / coco.imgs[image_id]["file_name"]
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        maps = feature_maps(rgb[None], FeatureParams())
        prior = prior_probability(prior_weights("motion"), maps)[0]
        inside = cv2.resize(objects, prior.shape[::-1], interpolation=cv2.INTER_AREA) > 0.5
        gaps.append(prior[inside].mean() - prior[~inside].mean())
        if len(gaps) == 8:
            break
    assert len(gaps) == 8 and min(gaps) > 0, gaps
    assert np.mean(gaps) > 0.15, gaps


def test_shot_without_motion_stays_empty_with_the_prior_on():
    """A still shot of a textured scene with an object-like shape: the prior may like the
    shape, but nothing moves, so the masks stay empty."""
    from focusgan.video.segment import SegmentParams

    v = make_video(3, size=(72, 96), shot_lengths=(6,), camera="static")
    still = np.repeat(v.frames[:1], 6, axis=0)
    p = SegmentParams()
    p.features.prior = 1.0
    seg = segment_frames(still, p)
    assert seg.motion_frames == 0 and seg.masks.max() == 0


def test_prior_flags_out_of_range_are_user_errors(capsys):
    assert main(["bench-motion", "--synthetic", "1", "--prior", "1.5"]) == 2
    assert "--prior must be between 0 and 1" in capsys.readouterr().err
    assert main(["bench-motion", "--synthetic", "1", "--priors", "motion,faces"]) == 2
    err = capsys.readouterr().err
    assert "unknown priors ['faces']" in err and "motion,coco" in err


def test_epipolar_residual_drops_parallax_and_keeps_an_object_moving_across():
    """A camera translating sideways past a near band (flow 4 px) before a far scene (1 px):
    no affine model explains both depths, so the affine residual marks the band as strongly as
    an object moving down across the far scene; both depths move along their epipolar lines,
    so the epipolar residual (`camera="epipolar"`) drops the band and keeps the object."""
    from focusgan.video.saliency import SaliencyParams, _camera_residual

    rng = np.random.default_rng(0)
    flow = np.zeros((96, 128, 2), np.float32)
    flow[..., 0] = 1.0
    flow[:, 48:80, 0] = 4.0
    flow += rng.normal(0, 0.05, flow.shape).astype(np.float32)
    flow[20:40, 10:30] = (1.0, 3.0)
    sal = {
        cam: _camera_residual(flow, SaliencyParams(camera=cam, inside="off", components=0))[1]
        for cam in ("affine", "epipolar")
    }
    obj, band = (slice(22, 38), slice(12, 28)), (slice(None), slice(52, 76))
    assert sal["affine"][obj].mean() > 0.9 and sal["affine"][band].mean() > 0.9
    assert sal["epipolar"][obj].mean() > 0.9 and sal["epipolar"][band].mean() < 0.4
    with pytest.raises(ValueError, match="camera model"):
        _camera_residual(flow, SaliencyParams(camera="fundamental"))


def _two_speed_video(n: int = 16, h: int = 120, w: int = 160):
    """A static textured background crossed by two textured objects, one slow (1 px a frame,
    upper band) and one fast (5 px a frame, lower band): the frames and each object's masks."""
    from focusgan.video.synthetic import shape_mask, texture

    rng = np.random.default_rng(7)
    background = texture(rng, h, w)
    objects = []
    for kind, size, (x0, y0), step in (("ellipse", 34, (50, 12), 1), ("star", 38, (8, 68), 5)):
        objects.append((shape_mask(rng, kind, size) > 127, texture(rng, size, size), x0, y0, step))
    frames = np.empty((n, h, w, 3), np.uint8)
    masks = np.zeros((len(objects), n, h, w), bool)
    for t in range(n):
        f = background.copy()
        for k, (m, tex, x0, y0, step) in enumerate(objects):
            x, s = x0 + step * t, len(m)
            f[y0 : y0 + s, x : x + s][m] = tex[m]
            masks[k, t, y0 : y0 + s, x : x + s] = m
        frames[t] = f
    return frames, masks


def test_prepare_video_finds_a_slow_and_a_fast_object(tmp_path):
    """Two objects moving differently (1 and 5 px a frame): the masks `prepare video` stores
    cover both, not only the stronger motion (issue #18: "a second moving object suppressed").
    Each region that clearly moves is scaled by its own peak (`SaliencyParams.components`);
    scaled by the frame's strongest motion, the slow object scored 0.07 against 0.95 and was
    lost."""
    from focusgan.data.dataset import load_images
    from focusgan.prepare.transform import to_square

    frames, masks = _two_speed_video()
    folder = tmp_path / "two"
    folder.mkdir()
    for t, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.png"), f[..., ::-1])
    out = tmp_path / "two.h5"
    argv = ["prepare", "video", str(folder), "--out", str(out), "--workers", "0", "--quiet"]
    assert main([*argv, "--frames-per-shot", "4", "--size", "64", *NO_FILTERS]) == 0
    images, stored = load_images(out), read_metadata(out, "frame")
    assert len(stored) == 4
    blank = np.zeros((*frames.shape[1:3], 3), np.uint8)
    for image, t in zip(images, stored, strict=True):
        pred = image[..., 3] > 127
        truth = [
            to_square(blank, 64, "squash", mask=m[t].astype(np.uint8) * 255)[..., 3] > 127
            for m in masks
        ]
        found = [pred[gt].mean() for gt in truth]  # share of each object inside the mask
        assert min(found) > 0.5, (t, found)
        assert pred[~(truth[0] | truth[1])].mean() < 0.1  # little background


def test_saturated_saliency_keeps_a_slow_object_beside_a_fast_one():
    """The candidate that finds both objects of the video above: a residual of 3x the motion
    floor is full saliency (`saturate`), so the slow object is no longer scaled away."""
    from focusgan.video.segment import SegmentParams

    frames, masks = _two_speed_video(n=10)
    p = SegmentParams()
    p.saliency.saturate, p.saliency.saturate_edges = 3.0, False
    p.saliency.components = 0.0  # the saturation alone
    pred = segment_frames(frames, p).masks > 0.5
    assert min(pred[m].mean() for m in masks) > 0.8
    assert pred[~(masks[0] | masks[1])].mean() < 0.05


def test_regions_scaled_by_their_own_peak():
    """`component_scaled`: a slow region apart from a fast one reaches full saliency (its own
    peak), while a slow rim joined to the fast region (spray, a shadow) keeps its share of that
    region's peak, and noise below the level stays as the frame's scale puts it."""
    from focusgan.video.saliency import component_scaled

    r = np.full((100, 100), 0.1)
    r[10:30, 10:30] = 5.0  # fast object
    r[10:30, 30:40] = 1.0  # slow rim joined to it
    r[60:80, 60:80] = 1.0  # slow object on its own
    sal = component_scaled(r, scale=5.0, level=0.5, area=0.002)
    assert np.allclose(sal[15, 15], 1.0) and np.allclose(sal[70, 70], 1.0)
    assert np.allclose(sal[15, 35], 0.2) and np.allclose(sal[50, 50], 0.02)
    tiny = np.full((100, 100), 0.1)
    tiny[5:7, 5:7] = 1.0  # 4 pixels, under 0.2% of the frame: scaled by the frame
    assert np.allclose(component_scaled(tiny, 5.0, 0.5, 0.002)[5, 5], 0.2)


def _spray_video(n: int = 10, h: int = 120, w: int = 160):
    """A static textured background and a textured ellipse moving 3 px a frame with, 4 px beside
    it and moving with it, a square of grey noise drawn afresh every frame (spray): the frames,
    the object's masks and the noise patch's masks."""
    from focusgan.video.synthetic import shape_mask, texture

    rng = np.random.default_rng(3)
    background, s = texture(rng, h, w), 36
    body, shape = texture(rng, s, s), shape_mask(rng, "ellipse", s) > 127
    frames = np.empty((n, h, w, 3), np.uint8)
    objects, sprays = np.zeros((n, h, w), bool), np.zeros((n, h, w), bool)
    for t in range(n):
        f, x, y = background.copy(), 20 + 3 * t, 40
        f[y : y + s, x : x + s][shape] = body[shape]
        objects[t, y : y + s, x : x + s] = shape
        noise = cv2.GaussianBlur(rng.random((s, s)).astype(np.float32), (0, 0), 1.5)
        noise = 0.5 + 0.2 * (noise - noise.mean()) / noise.std()
        f[y : y + s, x + s + 4 : x + 2 * s + 4] = (noise.clip(0, 1) * 255).astype(np.uint8)[
            ..., None
        ]
        sprays[t, y : y + s, x + s + 4 : x + 2 * s + 4] = True
        frames[t] = f
    return frames, objects, sprays


def test_flow_explained_weight_damps_a_redrawn_texture():
    """`flow_explained`: a texture shifted by a known flow is explained (weight near 1), the
    same texture drawn afresh is not (two independent draws differ by ~1.1 std)."""
    from focusgan.video.saliency import flow_explained
    from focusgan.video.synthetic import texture

    rng = np.random.default_rng(0)
    a = cv2.cvtColor(texture(rng, 80, 120), cv2.COLOR_RGB2GRAY)
    b = np.roll(a, 3, axis=1)  # a moved 3 px right: a(x) = b(x + 3)
    flow = np.zeros((80, 120, 2), np.float32)
    flow[..., 0] = 3
    kept = flow_explained(a, b, flow, 0.5, 5)[:, 10:-10]
    redrawn = flow_explained(
        a, cv2.cvtColor(texture(rng, 80, 120), cv2.COLOR_RGB2GRAY), flow, 0.5, 5
    )
    assert kept.mean() > 0.9 and redrawn.mean() < 0.2


def test_spray_beside_a_moving_object_is_damped():
    """Noise redrawn every frame that moves with an object (spray) has the object's motion, so
    the camera residual marks it (the defaults' mask covers the whole patch); weighted by how
    well the flow explains each pixel's look (`--explained 0.25`), the mask keeps the object
    and drops the noise."""
    from focusgan.video.segment import SegmentParams

    frames, objects, sprays = _spray_video()
    p = SegmentParams()
    p.saliency.explained = 0.25
    pred = segment_frames(frames, p).masks > 0.5
    assert pred[objects].mean() > 0.9
    assert pred[sprays].mean() < 0.1
    assert pred[~(objects | sprays)].mean() < 0.02


def test_explained_flag_negative_is_a_user_error(capsys):
    assert main(["bench-motion", "--synthetic", "1", "--explained", "-1"]) == 2
    assert "--explained >= 0" in capsys.readouterr().err


def _shadow_video(n: int = 20, h: int = 96, w: int = 128, step: int = 4):
    """A red square moving right over a static colour texture, casting a shadow below it: the
    background there darkened to 0.55 (same chromaticity and texture), moving with the square.
    The frames, the square's masks and the shadow's."""
    from focusgan.video.synthetic import texture

    rng = np.random.default_rng(3)
    background = texture(rng, h, w).astype(np.float32)
    square = np.array([200, 40, 40], np.float32) + rng.normal(0, 25, (26, 26, 1))
    frames = np.empty((n, h, w, 3), np.uint8)
    obj, shadow = np.zeros((2, n, h, w), bool)
    for t in range(n):
        f, x = background.copy(), 16 + step * t
        f[50:70, x + 6 : x + 32] *= 0.55
        shadow[t, 50:70, x + 6 : x + 32] = True
        f[24:50, x : x + 26] = square
        obj[t, 24:50, x : x + 26] = True
        frames[t] = np.clip(f, 0, 255)
    return frames, obj, shadow


def test_cast_shadow_moves_with_the_object_but_is_not_in_the_mask():
    """The shadow test (`SaliencyParams.shadow`, `segment --shadows`): a pixel darker than the
    camera-aligned frames around by a factor in [0.4, 0.9], with their chromaticity and texture,
    carries no motion. Without it the shadow, which moves with the square, is in the mask."""
    from focusgan.video.segment import SegmentParams

    frames, obj, shadow = _shadow_video()
    masks = {}
    for on in (False, True):
        p = SegmentParams()
        p.saliency.shadow = on
        # the shadow test alone: the cross-video prior also lowers this shadow (44% of it left
        # in the mask without the test, 95% without the prior; 0% with the test either way)
        p.features.prior = 0.0
        masks[on] = segment_frames(frames, p).masks > 0.5
    assert masks[False][shadow].mean() > 0.5  # what moves with the object is taken for it
    assert masks[True][obj].mean() > 0.95
    assert masks[True][shadow].mean() < 0.05
    assert masks[True][~(obj | shadow)].mean() < 0.01


def test_shadow_mask_separates_a_shadow_from_dark_objects():
    """Cucchiara et al.'s test: the background darkened (same chromaticity, its texture showing
    through) is a shadow; a dark object of another colour is not, nor one of the background's
    colour whose texture is its own (the texture test); unchanged background is not."""
    from focusgan.video.saliency import SaliencyParams, shadow_mask
    from focusgan.video.synthetic import texture

    rng = np.random.default_rng(5)
    bg = texture(rng, 60, 90).astype(np.float32)
    frame = bg.copy()
    frame[:, 30:60] *= 0.55  # shadow
    frame[:30, 60:] = np.array([30, 40, 110])  # a dark blue object
    own = cv2.GaussianBlur(rng.random((30, 30)).astype(np.float32), (0, 0), 1)[..., None]
    frame[30:, 60:] = bg[30:, 60:].mean((0, 1)) * (0.2 + own)  # its colour, its own texture
    sh = shadow_mask(frame.clip(0, 255).astype(np.uint8), bg, SaliencyParams())
    inner = np.s_[3:-3]  # the 3x3 and 5x5 windows straddle the region edges
    assert sh[inner, 33:57].mean() > 0.95
    assert sh[3:27, 63:87].mean() == 0 and sh[inner, 3:27].mean() == 0
    # the object of the background's colour: chromaticity alone takes half of it for a shadow
    colour_only = shadow_mask(
        frame.clip(0, 255).astype(np.uint8), bg, SaliencyParams(shadow_texture=0)
    )
    assert sh[33:57, 63:87].mean() < 0.15 and colour_only[33:57, 63:87].mean() > 0.4
