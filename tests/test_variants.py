"""Experiment variants beside the baseline (issue 13 item 5): conditional, foreground-only and
wider runs on the same data and seed, and the report's side-by-side table and class grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from focusgan.data.dataset import DatasetWriter, load_images
from focusgan.data.toy import toy_images
from focusgan.errors import UserError
from focusgan.experiment.config import parse_config
from focusgan.experiment.runner import run_experiment
from focusgan.prepare.background import replace_background
from focusgan.report.report import write_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN = dict(preset="tiny", width=8, iters=2, batch_critic=8, batch_gen=8, n_critic=1)
TRAIN.update(log_every=1, sample_every=2, checkpoint_every=2)
EVAL = dict(backbone="efficientnet-lite0", n=16, splits=2, ref_n=32, metrics=["is", "kid"])


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    path = tmp_path_factory.mktemp("labelled") / "shapes.h5"
    names = {"1": "person", "3": "car"}
    with DatasetWriter(
        path, resolution=32, channels=4, mask_semantics="binary", extra={"category_names": names}
    ) as w:
        w.append(toy_images(40, 32, seed=9), source="toy", category_id=[1, 3] * 20)
    return path


def test_variant_keys_are_checked():
    base = {"name": "x", "datasets": [{"name": "a", "file": "a.h5"}]}
    cfg = parse_config({**base, "variants": [{"name": "wide", "train": {"preset": "thesis-wide"}}]})
    assert cfg.variant_train(cfg.variants[0])["preset"] == "thesis-wide"
    with pytest.raises(UserError, match=r"variant 'c': train: unknown keys \['conditionl'\]"):
        parse_config({**base, "variants": [{"name": "c", "train": {"conditionl": True}}]})
    with pytest.raises(UserError, match="background must be one of"):
        parse_config({**base, "variants": [{"name": "f", "background": "grey"}]})
    with pytest.raises(UserError, match="needs a `name`"):
        parse_config({**base, "variants": [{"name": "a", "background": "black"}]})
    with pytest.raises(UserError, match="give `train` settings and/or a `background`"):
        parse_config({**base, "variants": [{"name": "v"}]})


def test_variants_train_beside_the_baseline_and_the_report_compares_them(labelled, tmp_path):
    doc = {
        "name": "variants",
        "datasets": [{"name": "shapes", "file": str(labelled)}],
        "train": TRAIN,
        "evaluate": EVAL,
        "variants": [
            {"name": "conditional", "train": {"conditional": True}, "channels": [4]},
            {"name": "foreground", "background": "noise", "channels": [4]},
        ],
    }
    cfg = parse_config(doc, tmp_path)
    out = tmp_path / "out"
    summary = run_experiment(cfg, out, progress=False, log=lambda s: None)
    assert summary["finished"]
    entry = summary["datasets"][0]
    assert set(entry["runs"]) == {"3", "4"}
    variants = entry["variants"]
    assert set(variants) == {"conditional", "foreground"}
    cond_cfg = yaml.safe_load((out / "shapes/conditional/run-4ch/config.yaml").read_text())
    base_cfg = yaml.safe_load((out / "shapes/run-4ch/config.yaml").read_text())
    assert cond_cfg["conditional"] and cond_cfg["classes"] == ["1", "3"]
    assert cond_cfg["seed"] == base_cfg["seed"] and cond_cfg["iters"] == base_cfg["iters"]
    fg = out / "data" / "shapes.foreground.h5"  # the foreground-only copy of the data
    assert variants["foreground"]["file"] == str(fg.resolve())
    assert np.array_equal(load_images(fg), replace_background(load_images(labelled), "noise"))
    with np.load(out / "shapes/conditional/run-4ch/report-samples.npz") as z:
        assert z["class_rows"].shape == (2, 8, 32, 32, 4)
        assert list(z["class_names"]) == ["person (1)", "car (3)"]
    again = json.loads((out / "experiment.json").read_text())
    assert again["datasets"][0]["variants"]["conditional"]["runs"]["4"]["status"] == "finished"

    write_report(out)
    md = (out / "report.md").read_text()
    assert "## Variants beside the baseline" in md
    assert "shapes: conditional (conditional: False → True)" in md
    assert "shapes: foreground (data: shapes.foreground.h5)" in md
    assert "baseline 4-channel | conditional 4-channel" in md
    assert "conditional 4-channel generator, class person (1)" in md
    assert "foreground 4-channel generator, step 2" in md
    # the foreground-only variant is compared with the baseline on one reference: its own data,
    # with the baseline's samples painted the same way; no generated-pairs number for it
    painted = json.loads((out / variants["foreground"]["painted_baseline"]["4"]).read_text())
    assert painted["provenance"]["source"]["background"] == "noise"
    assert painted["reference"]["data"] == str(fg.resolve())
    kid = painted["scores"]["kid/efficientnet-lite0"]
    assert "Reference of every number below: the variant's foreground-only data" in md
    assert "baseline 4-channel, background noise | foreground 4-channel" in md
    assert f"| KID (efficientnet-lite0) | lower | variant's data | {kid:.4g} ± " in md
    assert "No generated-pairs IoU" in md


def test_shipped_variant_configs_are_valid_experiments():
    from pathlib import Path

    from focusgan.experiment.config import load_config
    from focusgan.training.config import make_config

    root = Path(__file__).resolve().parents[1] / "configs"
    found = {}
    for path in sorted(root.glob("*-coco-*.yaml")):
        cfg = load_config(path)
        for v in cfg.variants:
            settings = cfg.variant_train(v)
            tcfg = make_config(settings.pop("preset"), **settings)  # every setting is known
            found[path.stem] = (v.name, tcfg.width, tcfg.conditional, v.background)
    assert found["thesis-coco-wide"] == ("wide", 256, False, None)
    assert found["thesis-coco-conditional"] == ("conditional", 128, True, None)
    assert found["thesis-coco-foreground"] == ("foreground", 128, False, "black")
    assert found["small-coco-wide"] == ("wide", 32, False, None)
    assert {"small-coco-conditional", "small-coco-foreground"} <= set(found)
