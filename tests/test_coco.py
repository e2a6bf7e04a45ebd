"""`focusgan prepare coco` on the real tiny COCO, and its guards against bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from focusgan.cli import main
from focusgan.data.dataset import load_images, read_info, read_metadata
from focusgan.errors import UserError
from focusgan.prepare.coco import CHUNK_SIZE, CocoOptions, instance_rle
from focusgan.prepare.pipeline import RunOptions, prepare
from focusgan.prepare.transform import to_square

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny_coco"
# pycocotools' decode warns on every call under NumPy 2; the independent counts call it a lot
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
SPLITS = ("train2017", "val2017")


def prepare_coco(annotations, images, out, *, workers=None, shard=None, progress=True,
                 classifier=None, chunk_size=CHUNK_SIZE, **settings):  # fmt: skip
    """`prepare(CocoOptions(...))` with the options as keywords (as the tests read best)."""
    opts = CocoOptions(annotations=Path(annotations), images=Path(images), **settings)
    run = RunOptions(workers=workers, shard=shard, progress=progress)
    return prepare(opts, out, run=run, classifier=classifier, chunk_size=chunk_size)


def need_data() -> None:
    if not (DATA / "annotations").is_dir():
        pytest.skip(f"real test data not found at {DATA} (see shared/data/README.md)")


def independent_count(split: str, min_area: float = 0.15) -> list[tuple[int, int]]:
    """(image_id, annotation_id) of instances kept by the thesis rule, counted with pycocotools."""
    from pycocotools.coco import COCO

    coco = COCO(str(DATA / "annotations" / f"instances_{split}.json"))
    kept = []
    for image_id in sorted(coco.imgs):
        img = coco.imgs[image_id]
        for ann in coco.imgToAnns[image_id]:
            if ann["iscrowd"]:
                continue
            m = coco.annToMask(ann)
            if m.sum() / (img["height"] * img["width"]) >= min_area:
                kept.append((image_id, ann["id"]))
    return kept


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    need_data()
    out = tmp_path_factory.mktemp("coco")
    files = {}
    for split in SPLITS:
        files[split] = out / f"{split}.h5"
        prepare_coco(
            DATA / "annotations" / f"instances_{split}.json",
            DATA / split,
            files[split],
            workers=0,
            progress=False,
        )
    return files


@pytest.mark.parametrize("split", SPLITS)
def test_sample_count_matches_pycocotools(prepared, split):
    expected = independent_count(split)
    path = prepared[split]
    ids = list(
        zip(read_metadata(path, "image_id"), read_metadata(path, "annotation_id"), strict=True)
    )
    assert len(expected) > 10
    assert ids == expected
    info = read_info(path)
    assert info.size == len(expected) == info.filter_summary.kept
    assert info.filter_summary.skipped["crowd region (iscrowd=1)"] == 5
    assert info.filter_summary.rejected["foreground < 0.15"] > 0
    images = load_images(path)
    assert images.shape == (len(expected), 64, 64, 4) and images.dtype == np.uint8
    cats = read_metadata(path, "category_id")
    assert cats.min() >= 1 and cats.max() <= 90
    assert info.extra["source"] == "coco"


def test_samples_match_full_size_pipeline(prepared):
    """Reduced JPEG decoding gives the same samples as decoding at full size (alignment check)."""
    from pycocotools.coco import COCO

    path = prepared["val2017"]
    images = load_images(path)
    coco = COCO(str(DATA / "annotations" / "instances_val2017.json"))
    ann_ids = read_metadata(path, "annotation_id")
    rgb_err, mask_err, shift = [], [], []
    for sample, ann_id in zip(images, ann_ids, strict=True):
        ann = coco.anns[int(ann_id)]
        img = coco.imgs[ann["image_id"]]
        full = cv2.cvtColor(cv2.imread(str(DATA / "val2017" / img["file_name"])), cv2.COLOR_BGR2RGB)
        ref = to_square(full, 64, "squash", mask=coco.annToMask(ann) * np.uint8(255))
        rgb_err.append(np.abs(ref[..., :3].astype(int) - sample[..., :3]).mean())
        mask_err.append(np.abs(ref[..., 3].astype(int) - sample[..., 3]).mean())
        shift.append(np.abs(_centroid(ref[..., 3]) - _centroid(sample[..., 3])).max())
    assert np.mean(rgb_err) < 1.2 and max(rgb_err) < 4, rgb_err  # 1/2-size decoding vs. full
    # out of 255: the same mask (0 for even-sized photos; an odd size adds a padded half-row at
    # 1/2 decoding, to image and mask alike, which stretches the sample by 1/427 or so)...
    assert max(mask_err) < 1.5 and min(mask_err) == 0, mask_err
    # ...on nearly the same grid: an odd-sized photo decoded at 1/2 has a last half-row, which
    # moves the whole sample (image and mask alike) by up to ~0.1 pixel
    assert max(shift) < 0.15, shift


def test_image_and_mask_stay_aligned(tmp_path):
    """A photo whose picture is its own mask: after reduced decoding both channels agree."""
    h, w = 427, 641  # odd sizes: libjpeg's partial blocks at 1/2 and 1/4
    poly = [100, 60, 560, 90, 480, 400, 150, 330]
    picture = mask_utils.decode(instance_rle([poly], h, w)) * np.uint8(255)
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 100])
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "height": h, "width": w}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "iscrowd": 0,
                         "segmentation": [poly], "bbox": [100, 60, 460, 340]}],
        "categories": [{"id": 3, "name": "car"}]}))  # fmt: skip
    for size, fit in ((64, "squash"), (32, "object-crop"), (48, "center-crop")):
        out = tmp_path / f"{size}.h5"
        prepare_coco(ann, images, out, size=size, fit=fit, workers=0, progress=False)
        sample = load_images(out)[0].astype(int)
        assert np.abs(sample[..., 0] - sample[..., 3]).mean() < 3, (size, fit)
        assert np.abs(_centroid(sample[..., 0]) - _centroid(sample[..., 3])).max() < 0.02


def _centroid(mask: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    w = mask.astype(np.float64)
    return np.array([(yy * w).sum(), (xx * w).sum()]) / w.sum()


def test_full_decode_option_and_fits(tmp_path):
    need_data()
    ann = DATA / "annotations" / "instances_val2017.json"
    full = tmp_path / "full.h5"
    prepare_coco(ann, DATA / "val2017", full, workers=0, reduced_decode=False, progress=False)
    assert read_info(full).size == len(independent_count("val2017"))
    for fit in ("center-crop", "object-crop"):
        out = tmp_path / f"{fit}.h5"
        prepare_coco(
            ann, DATA / "val2017", out, fit=fit, size=32, channels=3, workers=0, progress=False
        )
        images = load_images(out)
        assert images.shape[1:] == (32, 32, 3)
        fg = read_metadata(out, "fg_fraction")
        assert np.isfinite(fg).all()
        if fit == "object-crop":  # the object fills the crop much more than the squashed photo
            assert np.median(fg) > np.median(read_metadata(full, "fg_fraction"))


def test_categories_and_min_area(tmp_path):
    need_data()
    ann = DATA / "annotations" / "instances_val2017.json"
    out = tmp_path / "cats.h5"
    prepare_coco(ann, DATA / "val2017", out, categories=["cat", "18"], workers=0, progress=False)
    cats = set(read_metadata(out, "category_id").tolist())
    assert cats and cats <= {17, 18}
    assert read_info(out).filter_summary.skipped["category not selected"] > 0
    with pytest.raises(UserError, match="unknown COCO category"):
        prepare_coco(ann, DATA / "val2017", out, categories=["unicorn"], workers=0)


def test_instance_rle_guards():
    h, w = 50, 60
    # a polygon partly outside the image is clipped by the rasterizer, not rejected
    from pycocotools import mask as mu

    rle = instance_rle([[-20, 10, 100, 10, 100, 40, -20, 40]], h, w)
    m = mu.decode(rle)
    assert m.shape == (h, w) and m[10:40, :].mean() > 0.95 and m[:10].sum() == 0
    # a 4-number "polygon" is dropped (pycocotools would read it as a box); a real part stays
    rle = instance_rle([[1, 2, 3, 4], [0, 0, 10, 0, 10, 10]], h, w)
    assert 0 < mu.area(rle) < 100
    with pytest.raises(ValueError, match="fewer than 3 points"):
        instance_rle([[1, 2, 3, 4]], h, w)
    # uncompressed and compressed RLE
    dense = np.zeros((h, w), np.uint8, order="F")
    dense[5:15, 5:25] = 1
    compressed = mu.encode(dense)
    assert mu.area(instance_rle(compressed, h, w)) == 200
    text = dict(compressed, counts=compressed["counts"].decode())
    assert mu.area(instance_rle(text, h, w)) == 200
    counts, flat, prev, run = [], dense.flatten(order="F"), 0, 0
    for v in flat:
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    assert mu.area(instance_rle({"counts": counts, "size": [h, w]}, h, w)) == 200


def _write_bad_coco(tmp: Path) -> tuple[Path, Path]:
    """A small COCO json over real images, with every kind of bad input the source must survive."""
    need_data()
    src = json.loads((DATA / "annotations" / "instances_val2017.json").read_text())
    images_dir = tmp / "images"
    images_dir.mkdir()
    imgs = src["images"][:6]
    for im in imgs:
        shutil.copy(DATA / "val2017" / im["file_name"], images_dir / im["file_name"])
    big = [0, 0, 2000, 0, 2000, 2000, 0, 2000]  # the whole image and beyond
    anns, next_id = [], 1

    def add(image, segmentation, iscrowd=0):
        nonlocal next_id
        anns.append(
            {"id": next_id, "image_id": image["id"], "category_id": 1, "iscrowd": iscrowd,
             "segmentation": segmentation, "area": 1.0, "bbox": [0, 0, 10, 10]}
        )  # fmt: skip
        next_id += 1

    ok, missing, truncated, resized, garbage, odd = imgs
    add(ok, [big])  # kept
    add(ok, [[1, 2, 3, 4]])  # polygon with fewer than 3 points
    add(ok, [[5, 5, 5, 5, 5, 5]])  # zero area
    add(ok, [big], iscrowd=1)  # crowd
    add(missing, [big])
    (images_dir / missing["file_name"]).unlink()
    add(truncated, [big])
    data = (images_dir / truncated["file_name"]).read_bytes()
    (images_dir / truncated["file_name"]).write_bytes(data[: len(data) * 2 // 3])
    add(resized, [big])
    image = cv2.imread(str(images_dir / resized["file_name"]))
    cv2.imwrite(str(images_dir / resized["file_name"]), image[:-10])
    add(garbage, [big])
    (images_dir / garbage["file_name"]).write_bytes(b"not an image at all")
    add(odd, [big])  # kept
    add({"id": 999_999_999}, [big])  # annotation of an image the json does not list
    ann_path = tmp / "bad.json"
    ann_path.write_text(json.dumps({"images": imgs, "annotations": anns,
                                    "categories": src["categories"]}))  # fmt: skip
    return ann_path, images_dir


def test_bad_input_is_skipped_and_counted(tmp_path, capsys):
    ann, images = _write_bad_coco(tmp_path)
    out = tmp_path / "bad.h5"
    code = main(["prepare", "coco", "--annotations", str(ann), "--images", str(images),
                 "--out", str(out), "--workers", "0", "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    info = read_info(out)
    assert info.size == 2
    assert dict(info.filter_summary.skipped) == {
        "polygon with fewer than 3 points": 1,
        "empty mask (zero area)": 1,
        "crowd region (iscrowd=1)": 1,
        "missing image file": 1,
        "truncated JPEG (no end marker)": 1,
        "image size differs from annotation json": 1,
        "unreadable image": 1,
        "annotation for unknown image": 1,
    }
    assert "missing image file" in printed and "truncated JPEG" in printed
    # inspect shows the same summary
    assert main(["inspect", str(out), "--grid", str(tmp_path / "grid.png")]) == 0
    shown = capsys.readouterr().out
    assert "skipped" in shown and "truncated JPEG" in shown and (tmp_path / "grid.png").exists()


def test_malformed_json_is_one_line_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    code = main(["prepare", "coco", "--annotations", str(bad), "--images", str(tmp_path),
                 "--out", str(tmp_path / "x.h5")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "not valid JSON" in err
    bad.write_text('{"info": {}}')
    assert main(["prepare", "coco", "--annotations", str(bad), "--images", str(tmp_path),
                 "--out", str(tmp_path / "x.h5")]) == 2  # fmt: skip
    assert "not a COCO instances file" in capsys.readouterr().err
    bad.write_text('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": '
                   '[{"id": 2, "image_id": 1, "category_id": 1, "segmentation": [], "iscrowd": 0}]}')  # fmt: skip
    assert main(["prepare", "coco", "--annotations", str(bad), "--images", str(tmp_path),
                 "--out", str(tmp_path / "x.h5")]) == 2  # fmt: skip
    assert "lacks a valid field ('height')" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
