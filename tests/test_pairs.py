"""`focusgan prepare pairs` on real DAVIS sequences, and the mask readers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from focusgan.cli import main
from focusgan.data.dataset import load_images, read_info, read_metadata
from focusgan.errors import UserError
from focusgan.prepare.filters import MaskFilter
from focusgan.prepare.masks import mask_semantics, read_mask
from focusgan.prepare.pairs import PairOptions, find_pairs
from focusgan.prepare.pipeline import RunOptions, prepare

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis"
IMAGES, MASKS = DAVIS / "JPEGImages" / "480p", DAVIS / "Annotations" / "480p"
THESIS = ["--min-fg", "0.10", "--max-fg", "0.80", "--border", "0.05", "--max-border-fg", "0.10"]


def prepare_pairs(images, masks, out, *, workers=None, progress=True, **settings):
    """`prepare(PairOptions(...))` with the options as keywords (as the tests read best)."""
    rules = {
        k: settings.pop(k) for k in ("min_fg", "max_fg", "border", "max_border_fg") if k in settings
    }
    opts = PairOptions(
        images=Path(images), masks=Path(masks), filter=MaskFilter(**rules), **settings
    )
    return prepare(opts, out, run=RunOptions(workers=workers, progress=progress))


def need_davis() -> None:
    if not IMAGES.is_dir():
        pytest.skip(f"real test data not found at {DAVIS} (see shared/data/README.md)")


def independent_thesis_count() -> tuple[list[str], dict[str, int]]:
    """The frames the thesis's frame filter keeps, computed here with plain numpy."""
    kept, rejected = [], {"low": 0, "high": 0, "border": 0}
    for path in sorted(MASKS.rglob("*.png")):
        fg = np.asarray(Image.open(path)) > 0
        h, w = fg.shape
        bh, bw = round(h * 0.05), round(w * 0.05)
        ring = np.ones_like(fg)
        ring[bh : h - bh, bw : w - bw] = False
        if fg.mean() < 0.10:
            rejected["low"] += 1
        elif fg.mean() > 0.80:
            rejected["high"] += 1
        elif fg[ring].mean() > 0.10:
            rejected["border"] += 1
        else:
            kept.append(path.relative_to(MASKS).with_suffix(".jpg").as_posix())
    return kept, rejected


def test_davis_with_thesis_frame_filter(tmp_path, capsys):
    need_davis()
    out = tmp_path / "davis.h5"
    args = ["prepare", "pairs", "--images", str(IMAGES), "--masks", str(MASKS), "--out", str(out)]
    assert main([*args, *THESIS, "--workers", "2", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    kept, rejected = independent_thesis_count()
    info = read_info(out)
    assert list(read_metadata(out, "source")) == kept
    assert info.size == len(kept) > 10
    s = info.filter_summary
    assert s.candidates == len(kept) + sum(rejected.values())  # every frame of every sequence
    assert s.rejected["foreground < 0.1"] == rejected["low"]
    assert s.rejected["foreground > 0.8"] == rejected["high"]
    assert s.rejected["border foreground > 0.1"] == rejected["border"]
    frames = read_metadata(out, "frame")
    assert frames.min() >= 0 and (frames == [int(Path(k).stem) for k in kept]).all()
    images = load_images(out)
    assert images.shape == (len(kept), 64, 64, 4)
    assert info.mask_semantics == "binary"
    assert set(np.unique(images[..., 3])) > {0, 255}  # area-resized edges are soft
    # without filters every frame is kept
    out2 = tmp_path / "all.h5"
    assert main([*args[:-1], str(out2), "--workers", "0", "--quiet", "--channels", "3"]) == 0
    frames = len(kept) + sum(rejected.values())
    assert read_info(out2).size == frames and load_images(out2).shape[-1] == 3


def test_davis_sample_matches_full_size_pipeline(tmp_path):
    need_davis()
    out = tmp_path / "d.h5"
    prepare_pairs(IMAGES / "blackswan", MASKS / "blackswan", out, workers=0, progress=False,
                  fit="center-crop", size=48)  # fmt: skip
    sample = load_images(out)[0].astype(int)
    image = cv2.cvtColor(cv2.imread(str(IMAGES / "blackswan" / "00000.jpg")), cv2.COLOR_BGR2RGB)
    mask = (np.asarray(Image.open(MASKS / "blackswan" / "00000.png")) > 0) * np.uint8(255)
    h, w = mask.shape
    x0 = (w - h) // 2
    ref = np.dstack([image, mask])[:, x0 : x0 + h]
    ref = cv2.resize(ref, (48, 48), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(ref - sample).mean() < 2.0


def test_mask_formats(tmp_path):
    values = np.array([[0, 1, 2], [3, 0, 1]], np.uint8)
    pal = Image.fromarray(values, mode="P")
    pal.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * 756)
    pal.save(tmp_path / "pal.png")
    assert (read_mask(tmp_path / "pal.png", "davis") == (values > 0) * 255).all()
    assert (read_mask(tmp_path / "pal.png", "davis", object_id=2) == (values == 2) * 255).all()
    # a palette mask read as "binary" uses its indices too, not its dark-red colour
    assert (read_mask(tmp_path / "pal.png", "binary") == (values > 0) * 255).all()

    Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8)).save(tmp_path / "b01.png")
    assert read_mask(tmp_path / "b01.png", "binary").tolist() == [[0, 255], [255, 0]]
    Image.fromarray(np.array([[0, 255], [200, 20]], np.uint8)).save(tmp_path / "b255.png")
    assert read_mask(tmp_path / "b255.png", "binary").tolist() == [[0, 255], [255, 0]]

    Image.fromarray(np.array([[0, 50], [100, 20]], np.uint8)).save(tmp_path / "u.png")
    assert read_mask(tmp_path / "u.png", "unlc").tolist() == [[0, 128], [255, 51]]
    assert mask_semantics("unlc") == "probability"

    Image.fromarray(np.array([[0, 128], [255, 128]], np.uint8)).save(tmp_path / "g.png")
    assert read_mask(tmp_path / "g.png", "grabcut").tolist() == [[0, 0], [255, 0]]
    ignore = read_mask(tmp_path / "g.png", "grabcut", unknown="ignore")
    assert ignore.tolist() == [[0, 127], [255, 127]]
    assert mask_semantics("grabcut", "ignore") == "probability"


def test_pairing_unpaired_and_bad_masks(tmp_path):
    images, masks = tmp_path / "im", tmp_path / "nlcim"
    for d in (images / "seq", masks / "seq"):
        d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(
            str(images / "seq" / f"{i:05d}.jpg"), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
        )
    soft = np.zeros((90, 120), np.uint8)
    soft[20:70, 30:90] = 100
    for i in (0, 1, 2):  # uNLC-style soft masks 0..100
        Image.fromarray(soft).save(masks / "seq" / f"{i:05d}.png")
    Image.fromarray(soft[:80]).save(masks / "seq" / "00003.png")  # wrong size
    (masks / "seq" / "00004.png").write_bytes(b"broken")  # unreadable mask
    Image.fromarray(soft).save(masks / "seq" / "99999.png")  # mask without image
    data = (images / "seq" / "00002.jpg").read_bytes()
    (images / "seq" / "00002.jpg").write_bytes(data[: len(data) // 2])  # truncated image
    pairs, summary = find_pairs(images, masks)
    assert [p[0] for p in pairs] == [f"seq/{i:05d}.jpg" for i in range(5)]
    out = tmp_path / "u.h5"
    report = prepare_pairs(images, masks, out, mask_format="unlc", size=32, workers=0,
                           progress=False)  # fmt: skip
    info = read_info(out)
    assert report.samples == info.size == 2
    assert info.mask_semantics == "probability"
    assert dict(info.filter_summary.skipped) == {
        "no mask for image": 1,
        "mask without image": 1,
        "mask size differs from image": 1,
        "unreadable mask": 1,
        "truncated JPEG (no end marker)": 1,
    }
    assert load_images(out)[..., 3].max() == 255
    with pytest.raises(UserError, match="same relative folder"):
        (tmp_path / "empty").mkdir()
        prepare_pairs(images, tmp_path / "empty", tmp_path / "x.h5", workers=0)
    with pytest.raises(UserError, match="mask folder not found"):
        prepare_pairs(images, tmp_path / "nope", tmp_path / "x.h5", workers=0)
