"""Benchmark `prepare coco`: source images/s and samples/s, against a plain baseline.

The cost is decoding the photo. Measured, in one run on the same files:
1. decoding alone, per core: `cv2.imread` at full size (the plain baseline) vs. OpenCV's
   DCT-domain reduced decoding at 1/2 and 1/4;
2. the COCO work function, per core (one process, one OpenCV thread), on every image of the
   real tiny COCO (100 photos, mostly 640 px), repeated: the plain pipeline (full-size decode,
   `annToMask`, INTER_AREA to 64x64, written by hand as the thesis did), focusgan with full-size
   decoding, focusgan as shipped; with `--min-area 0` (every image decoded) and with the thesis's
   0.15 (images with no instance left are not decoded at all);
3. end to end (`prepare(CocoOptions(...))`, json loading and HDF5 writing included) with 1 and 2 workers
   (`--workers`) on a json that lists every tiny-COCO photo 8 times (`--copies`).

Run: `python benchmarks/prepare.py [--repeat 5] [--workers 1,2] [--copies 8] [--data DIR]`.
Prints a table; see benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from focusgan.prepare.coco import CocoOptions, coco_items, load_coco, process_images  # noqa: E402
from focusgan.prepare.images import decode_rgb  # noqa: E402
from focusgan.prepare.pipeline import RunOptions, prepare  # noqa: E402
from focusgan.prepare.transform import to_square  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "tiny_coco"
SPLITS = ("train2017", "val2017")


def plain_pipeline(coco, image_dir: Path, min_area: float) -> int:
    """The straightforward way: full imread, annToMask per instance, resize. Returns samples."""
    n = 0
    for image_id in sorted(coco.imgs):
        img = coco.imgs[image_id]
        anns = [a for a in coco.imgToAnns[image_id] if not a["iscrowd"]]
        masks = [coco.annToMask(a) for a in anns]
        keep = [m for m in masks if m.mean() >= min_area and m.any()]
        if not keep:
            continue
        bgr = cv2.imread(str(image_dir / img["file_name"]))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for m in keep:
            to_square(rgb, 64, mask=m * np.uint8(255))
            n += 1
    return n


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    global DATA
    # torch (imported by the dataset writer) is imported here, untimed, and not at the top:
    # worker processes import the main script's top-level imports again, and torch takes seconds
    import focusgan.data.dataset  # noqa: F401

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    parser.add_argument("--data", type=Path, default=DATA, help="the tiny_coco folder")
    parser.add_argument("--copies", type=int, default=8, help="photo list copies in part 3")
    parser.add_argument("--workers", default="1,2", help="worker counts for part 3, e.g. 1,4,16")
    parser.add_argument("--skip", default="", help="parts to skip, e.g. 1,2")
    args = parser.parse_args()
    DATA = args.data
    skip = {int(x) for x in args.skip.split(",") if x}
    if not DATA.is_dir():
        sys.exit(f"needs the real tiny COCO at {DATA}")
    cv2.setNumThreads(1)
    files = sorted(p for s in SPLITS for p in (DATA / s).glob("*.jpg"))
    blobs = [p.read_bytes() for p in files]
    sizes = [decode_rgb(b).shape[:2] for b in blobs]
    print(
        f"machine: {os.cpu_count()} cores; {len(files)} photos, median size "
        f"{int(np.median([max(s) for s in sizes]))} px (long side); best of {args.repeat}"
    )

    if 1 not in skip:
        decoding_only(blobs, args.repeat)
    if 2 not in skip:
        work_function(args.repeat)
    end_to_end(args)


def decoding_only(blobs: list[bytes], repeat: int) -> None:
    print("\n1. decoding only, one core")
    rows = []
    t, _ = timed(lambda: [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
                          for b in blobs], repeat)  # fmt: skip
    base = len(blobs) / t
    rows.append(("cv2 full size (baseline)", base))
    for f in (2, 4):
        t, _ = timed(lambda f=f: [decode_rgb(b, f) for b in blobs], repeat)
        rows.append((f"focusgan decode_rgb at 1/{f}", len(blobs) / t))
    for name, rate in rows:
        print(f"   {name:<34} {rate:7.0f} images/s   x{rate / base:.2f}")


def work_function(repeat: int) -> None:
    print("\n2. COCO work function, one core (source images/s, samples/s)")
    cocos = {s: load_coco(DATA / "annotations" / f"instances_{s}.json") for s in SPLITS}
    n_images = sum(len(c.imgs) for c in cocos.values())
    for min_area in (0.0, 0.15):
        t, samples = timed(lambda m=min_area: sum(plain_pipeline(cocos[s], DATA / s, m)
                                                  for s in SPLITS), repeat)  # fmt: skip
        base = n_images / t
        print(f"   --min-area {min_area:g}")
        print(
            f"     {'plain: imread + annToMask (baseline)':<40} {base:6.0f} img/s "
            f"{samples / t:6.0f} samples/s   x1.00"
        )
        for label, reduced in (("focusgan, full-size decoding", False),
                               ("focusgan (reduced decoding)", True)):  # fmt: skip

            def run(reduced=reduced, min_area=min_area):
                n = 0
                for s in SPLITS:
                    items, _ = coco_items(cocos[s])
                    ann = DATA / "annotations" / f"instances_{s}.json"
                    opts = CocoOptions(annotations=ann, images=DATA / s, min_area=min_area,
                                       reduced_decode=reduced)  # fmt: skip
                    n += len(process_images(items, opts))
                return n

            t, samples = timed(run, repeat)
            print(
                f"     {label:<40} {n_images / t:6.0f} img/s {samples / t:6.0f} samples/s"
                f"   x{n_images / t / base:.2f}"
            )


def end_to_end(args: argparse.Namespace) -> None:
    print(f"\n3. end to end (prepare: json, workers, HDF5), photos listed {args.copies} times")
    with tempfile.TemporaryDirectory() as tmp:
        src = json.loads((DATA / "annotations" / "instances_val2017.json").read_text())
        train = json.loads((DATA / "annotations" / "instances_train2017.json").read_text())
        images_dir = Path(tmp) / "images"
        images_dir.mkdir()
        for s in SPLITS:
            for p in (DATA / s).glob("*.jpg"):
                os.symlink(p.resolve(), images_dir / p.name)
        imgs, anns = [], []
        for copy in range(args.copies):
            for d in (src, train):
                for im in d["images"]:
                    imgs.append(dict(im, id=im["id"] * 1000 + copy))
                for a in d["annotations"]:
                    anns.append(
                        dict(a, id=a["id"] * 1000 + copy, image_id=a["image_id"] * 1000 + copy)
                    )
        ann_path = Path(tmp) / "copies.json"
        ann_path.write_text(json.dumps({"images": imgs, "annotations": anns,
                                        "categories": src["categories"]}))  # fmt: skip
        t = time.perf_counter()
        items, _ = coco_items(load_coco(ann_path))
        print(f"   (json + index + work items alone: {time.perf_counter() - t:.2f} s)")
        base = {}
        for workers in [int(w) for w in args.workers.split(",")]:
            for min_area in (0.0, 0.15):

                def run(workers=workers, min_area=min_area):
                    return prepare(
                        CocoOptions(annotations=ann_path, images=images_dir, min_area=min_area),
                        Path(tmp) / "out.h5",
                        run=RunOptions(workers=workers if workers > 1 else 0, progress=False),
                    )

                t, report = timed(run, max(1, args.repeat // 2))
                rate = len(imgs) / t
                base.setdefault(min_area, rate)
                print(
                    f"   workers={workers} --min-area {min_area:<5g} {len(imgs)} images, "
                    f"{report.samples} samples in {t:.2f} s: {rate:6.0f} img/s, "
                    f"{report.samples / t:6.0f} samples/s   x{rate / base[min_area]:.2f} vs the first row"
                )


if __name__ == "__main__":
    main()
