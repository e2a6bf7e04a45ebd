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


def test_report_states_the_measured_comparison_with_step_0(experiment):
    md = (experiment / "report.md").read_text()
    first = json.loads(
        (experiment / "toy/run-3ch/initial.evaluation-efficientnet-lite0.json").read_text()
    )
    kid0 = first["scores"]["kid/efficientnet-lite0"]
    section = md.split("## Did training help?")[1].split("\n## ")[0]
    assert f"{kid0:.4g} ± " in section
    assert re.search(
        r"toy, 3-channel: the trained generator beats its initialisation on \d of 2", md
    )
    assert re.search(
        r"toy, 4-channel: the trained generator beats its initialisation on \d of 2", md
    )


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


def test_report_renders_in_headless_chromium(experiment, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package `chromium`): browser check skipped")
    page = tmp_path / "page"
    shutil.copy(experiment / "report.html", tmp_path / "report.html")  # no files beside it
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={page}",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            (tmp_path / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    import cv2

    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2400, 1200)
    # text and tables drawn (not a blank page), and the embedded sample grids (colour) shown
    assert (image < 128).mean() > 0.01
    saturation = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1]
    assert (saturation > 80).mean() > 0.005
    assert np.unique(image.reshape(-1, 3), axis=0).shape[0] > 100
