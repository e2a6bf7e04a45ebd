"""`focusgan report`: report.md and a self-contained report.html from a real (tiny) experiment."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from focusgan.cli import main
from focusgan.experiment.config import load_config
from focusgan.experiment.runner import run_experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def experiment(toy_h5, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exp")
    doc = {
        "name": "tiny",
        "datasets": [{"name": "toy", "file": str(toy_h5), "thesis": "coco"}],
        "train": dict(
            preset="tiny",
            width=8,
            iters=2,
            batch_critic=8,
            batch_gen=8,
            n_critic=1,
            log_every=1,
            sample_every=2,
            checkpoint_every=2,
        ),
        "evaluate": dict(
            backbone="efficientnet-lite0", n=16, splits=2, ref_n=32, metrics=["is", "kid", "focus"]
        ),
    }
    (folder / "tiny.yaml").write_text(yaml.safe_dump(doc))
    out = folder / "out"
    run_experiment(load_config(folder / "tiny.yaml"), out, progress=False, log=lambda s: None)
    assert main(["report", str(out), "--hist-n", "32"]) == 0
    return out


def test_report_fills_cuadro_with_the_experiments_numbers(experiment):
    md = (experiment / "report.md").read_text()
    final = json.loads((experiment / "toy/run-4ch/evaluation-efficientnet-lite0.json").read_text())
    data = json.loads((experiment / "toy/data.evaluation-efficientnet-lite0.json").read_text())
    is4 = final["scores"]["is/efficientnet-lite0"]
    is_data = data["scores"]["is/efficientnet-lite0"]
    table = md.split("## Cuadro 3.2")[1].split("\n## ")[0]
    row = next(line for line in table.splitlines() if line.startswith("| toy"))
    assert f"{is_data:.4g} ± " in row and f"{is4:.4g} ± " in row
    assert "13.51 ± 0.11" in table and "7.37 ± 0.07" in table and "7.5 ± 0.07" in table
    assert "training data IS (efficientnet-lite0)" in table  # labelled with the backbone
    assert "never comparable with Inception numbers" in table


# image scores and whether higher is better (FID, KID lower; IS, precision, recall higher)
HIGHER = {"is": True, "fid": False, "kid": False, "precision": True, "recall": True}


def expected_verdict(run: Path, label: str) -> str:
    """The verdict line, counted here from the run's two evaluation files."""
    final = json.loads((run / "evaluation-efficientnet-lite0.json").read_text())["scores"]
    first = json.loads((run / "initial.evaluation-efficientnet-lite0.json").read_text())["scores"]
    wins = ties = total = 0
    for key, higher in HIGHER.items():
        a, b = first.get(f"{key}/efficientnet-lite0"), final.get(f"{key}/efficientnet-lite0")
        if a is None or b is None:
            continue
        total += 1
        ties += a == b
        wins += (b > a) if higher else (b < a)
    return (
        f"{label}: the trained generator beats its initialisation on {wins} of {total} computed "
        "image scores"
        + (f" ({ties} unchanged)" if ties else "")
        + (" — on all of them." if wins == total else ".")
    )


def test_report_states_the_measured_comparison_with_step_0(experiment, tmp_path):
    md = (experiment / "report.md").read_text()
    first = json.loads(
        (experiment / "toy/run-3ch/initial.evaluation-efficientnet-lite0.json").read_text()
    )
    kid0 = first["scores"]["kid/efficientnet-lite0"]
    section = md.split("## Did training help?")[1].split("\n## ")[0]
    assert f"{kid0:.4g} ± " in section
    for c in (3, 4):
        verdict = expected_verdict(experiment / f"toy/run-{c}ch", f"toy, {c}-channel")
        assert verdict in section.splitlines()
    # the same runs with each generator's two evaluations swapped: the verdicts follow the files
    swapped = tmp_path / "swapped"
    shutil.copytree(experiment, swapped)
    for c in (3, 4):
        run = swapped / f"toy/run-{c}ch"
        a, b = (
            run / "evaluation-efficientnet-lite0.json",
            run / "initial.evaluation-efficientnet-lite0.json",
        )
        text_a, text_b = a.read_text(), b.read_text()
        a.write_text(text_b)
        b.write_text(text_a)
    assert main(["report", str(swapped), "--hist-n", "32"]) == 0
    section = (swapped / "report.md").read_text().split("## Did training help?")[1]
    for c in (3, 4):
        verdict = expected_verdict(swapped / f"toy/run-{c}ch", f"toy, {c}-channel")
        assert verdict in section.split("\n## ")[0].splitlines()
    assert section != md.split("## Did training help?")[1]


def test_report_has_images_focus_measures_and_provenance(experiment):
    md = (experiment / "report.md").read_text()
    names = re.findall(r"\]\(report-files/([^)]+)\)", md)
    assert {"toy-data.png", "toy-run-4ch.png", "toy-run-3ch.png", "toy-losses.png"} <= set(names)
    for name in names:
        assert (experiment / "report-files" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    focus = md.split("## The focus channel")[1].split("\n## ")[0]
    assert "| foreground fraction, mean |" in focus and "training data" in focus
    prov = md.split("## Provenance of every number")[1]
    for f in ("toy/run-4ch/evaluation-efficientnet-lite0.json", "toy/data.evaluation-"):
        assert f in prov
    assert "torch 2." in prov


def test_html_is_self_contained_without_javascript(experiment):
    page = (experiment / "report.html").read_text()
    assert "<script" not in page.lower()
    srcs = re.findall(r'src="([^"]+)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "13.51 ± 0.11" in page and "<table>" in page


def test_report_of_a_folder_without_experiment_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "experiment.json" in err


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def screenshot(page: Path, shot: Path, profile: Path, size=(1280, 8000)) -> np.ndarray:
    """`page` rendered by headless Chromium (a new empty profile), as a BGR array."""
    import cv2

    profile.mkdir()
    subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
         f"--window-size={size[0]},{size[1]}", page.as_uri()],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (size[1], size[0])
    return image


def test_report_renders_in_headless_chromium(experiment, tmp_path):
    """The page Chromium draws has the report's text and every embedded image, pixel for pixel.

    Each image is found in the screenshot by template matching; its region must reproduce the PNG
    (same pixel statistics), which a blank page, a broken image icon or an unloaded data URI
    cannot."""
    import base64

    import cv2

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package `chromium`; .ci/run installs it)")
    page = tmp_path / "report.html"
    shutil.copy(experiment / "report.html", page)  # no files beside it: all must be inline
    image = screenshot(page, tmp_path / "shot.png", tmp_path / "profile")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert (grey < 128).mean() > 0.005, "no text drawn"  # headings, tables, captions
    assert np.unique(image.reshape(-1, 3), axis=0).shape[0] > 100  # not a blank page
    pngs = [
        cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        for b64 in re.findall(r'src="data:image/png;base64,([^"]+)"', page.read_text())
    ]
    assert len(pngs) >= 4
    drawn = image.astype(np.float32)
    shown = 0
    for png in pngs:
        h, w = png.shape[:2]
        if w > 1200:  # scaled down to the column width: not comparable pixel for pixel
            continue
        template = cv2.cvtColor(png, cv2.COLOR_BGR2GRAY)
        _, _, (x, y), _ = cv2.minMaxLoc(cv2.matchTemplate(grey, template, cv2.TM_SQDIFF))
        region = drawn[y : y + h, x : x + w]
        # the image is drawn where the best match is: same pixels (within colour management)
        assert np.abs(region - png).mean() < 1, (x, y, png.shape)
        assert abs(region.std() - png.std()) < 3 and png.std() > 10  # a real picture, shown
        shown += 1
    assert shown >= 3


def test_demo_end_to_end_at_reduced_size(tmp_path, capsys, monkeypatch):
    """`focusgan demo` itself (videos -> prepare video -> paired experiment -> report), small."""
    from focusgan.cli import demo
    from focusgan.data.dataset import read_info

    monkeypatch.setitem(demo.DEMO_EVAL, "segmenter_steps", 10)  # the measure, not its quality

    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--videos", "3", "--iters", "2", "--n", "16"]
    assert main([*argv, "--workers", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == str((out / "report.html").resolve())
    assert "<table>" in (out / "report.html").read_text()
    summary = json.loads((out / "experiment.json").read_text())
    assert summary["finished"]
    info = read_info(out / "data" / "moving-objects.h5")
    s = info.filter_summary
    # 3 videos x 2 shots, 12 frames sampled per shot (the demo's recipe)
    assert s.candidates == 3 * 2 * 12 and s.kept == info.size > 0
    assert s.kept + sum(s.rejected.values()) + sum(s.skipped.values()) == s.candidates
    assert info.channels == 4 and info.resolution == 32
    for c in (3, 4):
        run = out / "moving-objects" / f"run-{c}ch"
        final = json.loads((run / "evaluation-efficientnet-lite0.json").read_text())
        assert final["provenance"]["source"]["step"] == 2 and final["provenance"]["n"] == 16
        verdict = expected_verdict(run, f"moving-objects, {c}-channel")
        assert any(line.endswith(verdict) for line in printed), verdict
    # the demo computes the generated-pairs measure that its report explains, and only that
    pairs = final["focus"]["generated_pairs"]  # (the 4-channel run's)
    assert set(pairs) >= {"iou", "ceiling_iou", "floor_iou", "all_foreground_iou", "mean_mask_iou"}
    md = (out / "report.md").read_text()
    assert "generated-pairs baseline: all foreground" in md
    verdict = f"moving-objects, 4-channel: generated-pairs IoU {pairs['iou']:.3f}: "
    assert verdict in md and any(verdict in line for line in printed)
    assert "consistency IoU" not in md  # not computed by the demo, so not explained
    # a second call finds everything done and recomputes nothing
    stamp = (out / "moving-objects" / "run-4ch" / "evaluation-efficientnet-lite0.json").stat()
    assert main([*argv, "--workers", "1"]) == 0
    assert "(done, step 2)" in capsys.readouterr().out
    again = (out / "moving-objects" / "run-4ch" / "evaluation-efficientnet-lite0.json").stat()
    assert again.st_mtime_ns == stamp.st_mtime_ns
