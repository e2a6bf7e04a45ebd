"""`focusgan experiment`: the YAML schema, the paired runs, resumability and the step-0 baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from focusgan.cli import main
from focusgan.errors import UserError
from focusgan.experiment.config import load_config, parse_config, prepare_recipe
from focusgan.experiment.runner import run_experiment, train_config
from focusgan.training.loop import initial_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TRAIN = dict(
    preset="tiny",
    width=8,
    iters=4,
    batch_critic=8,
    batch_gen=8,
    n_critic=1,
    log_every=1,
    sample_every=2,
    checkpoint_every=2,
)
EVAL = dict(
    backbone="efficientnet-lite0",
    n=16,
    splits=2,
    ref_n=32,
    metrics=["is", "kid", "focus"],  # FID is left out: its 1280-d eigvals take seconds
)


def write_config(folder: Path, data: Path, **over) -> Path:
    doc = {
        "name": "tiny",
        "datasets": [{"name": "toy", "file": str(data), "thesis": "coco"}],
        "train": TRAIN,
        "evaluate": EVAL,
        **over,
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_unknown_keys_are_one_line_errors(tmp_path):
    base = {"name": "x", "datasets": [{"name": "a", "file": "a.h5"}]}
    with pytest.raises(UserError, match=r"unknown keys \['epochs'\]"):
        parse_config({**base, "epochs": 3})
    with pytest.raises(UserError, match=r"train: unknown keys \['widht'\]"):
        parse_config({**base, "train": {"widht": 8}})
    with pytest.raises(UserError, match=r"evaluate: unknown keys \['backbon'\]"):
        parse_config({**base, "evaluate": {"backbon": "x"}})
    with pytest.raises(UserError, match=r"datasets\[0\]: unknown keys \['fiel'\]"):
        parse_config({**base, "datasets": [{"name": "a", "fiel": "a.h5"}]})
    with pytest.raises(UserError, match="give `file`"):
        parse_config({**base, "datasets": [{"name": "a"}]})
    with pytest.raises(UserError, match="unknown preset"):
        parse_config({**base, "train": {"preset": "huge"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert main(["experiment", str(bad)]) == 2


def test_recipes_become_prepare_options(tmp_path):
    cfg = parse_config(
        {
            "name": "x",
            "datasets": [
                {
                    "name": "coco",
                    "prepare": {
                        "source": "coco",
                        "annotations": "ann.json",
                        "images": "imgs",
                        "min_area": 0.15,
                        "categories": ["person", "dog"],
                        "no_reduced_decode": True,
                    },
                }
            ],
        },
        base_dir=tmp_path,
    )
    recipe = prepare_recipe(cfg.datasets[0], cfg.base_dir)
    assert recipe.source == "coco"
    opts = recipe.options
    assert opts.annotations == tmp_path / "ann.json" and opts.images == tmp_path / "imgs"
    assert opts.categories == ["person", "dog"] and opts.min_area == 0.15
    assert opts.reduced_decode is False and opts.size == 64  # the flag's name works; defaults
    cfg.datasets[0].prepare["min_aera"] = 0.2
    with pytest.raises(UserError, match="has no option --min-aera"):
        prepare_recipe(cfg.datasets[0], cfg.base_dir)
    cfg.datasets[0].prepare.pop("min_aera")
    cfg.datasets[0].prepare["fit"] = "stretch"
    with pytest.raises(UserError, match="--fit must be one of"):
        prepare_recipe(cfg.datasets[0], cfg.base_dir)


def test_initial_generator_is_the_weights_training_starts_from(toy_h5, tmp_path):
    """With lr 0 nothing moves, so the run's weights are exactly its step-0 weights."""
    from focusgan.training.loop import train
    from focusgan.training.rundir import load_generator

    cfg = parse_config(
        {"name": "x", "datasets": [{"name": "t", "file": str(toy_h5)}], "train": {**TRAIN}}
    )
    tcfg = train_config(cfg, toy_h5, 4)
    tcfg.lr, tcfg.iters = 0.0, 1
    train(tcfg, tmp_path / "run", progress=False)
    G, _, _ = load_generator(tmp_path / "run", ema=False)
    G0 = initial_generator(train_config(cfg, toy_h5, 4))
    trained, initial = dict(G.named_parameters()), dict(G0.named_parameters())
    assert trained.keys() == initial.keys()
    for name, a in trained.items():
        assert torch.equal(a, initial[name]), name


def test_experiment_pairs_runs_and_resumes(toy_h5, tmp_path, capsys):
    config = write_config(tmp_path, toy_h5)
    out = tmp_path / "out"
    # first call: each training pauses after 2 of its 4 steps
    assert main(["experiment", str(config), "--out", str(out), "--stop-after", "2", "--quiet"]) == 0
    assert "experiment paused" in capsys.readouterr().out
    summary = json.loads((out / "experiment.json").read_text())
    assert not summary["finished"]
    assert {r["step"] for r in summary["datasets"][0]["runs"].values()} == {2}
    assert not (out / "toy" / "run-4ch" / "evaluation-efficientnet-lite0.json").exists()

    # second call: resumes both trainings, evaluates runs, initial generators and the data
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "resuming at step 2" in text and "experiment finished" in text
    summary = json.loads((out / "experiment.json").read_text())
    assert summary["finished"]
    for c in ("3", "4"):
        run = out / "toy" / f"run-{c}ch"
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["seed"] == 0 and cfg["channels"] == int(c) and cfg["iters"] == 4
        final = json.loads((run / "evaluation-efficientnet-lite0.json").read_text())
        first = json.loads((run / "initial.evaluation-efficientnet-lite0.json").read_text())
        assert final["provenance"]["source"]["step"] == 4
        assert first["provenance"]["source"]["step"] == 0
        assert final["provenance"]["n"] == first["provenance"]["n"] == 16
        assert "kid/efficientnet-lite0" in final["scores"]
        assert (final["focus"] is not None) == (c == "4")
    data_eval = json.loads((out / "toy" / "data.evaluation-efficientnet-lite0.json").read_text())
    assert data_eval["provenance"]["source"]["kind"] == "data"
    resolved = yaml.safe_load((out / "experiment.yaml").read_text())
    assert resolved["datasets"][0]["file"] == str(toy_h5.resolve())

    # third call: everything is done, nothing is recomputed
    stamp = (out / "toy" / "run-4ch" / "evaluation-efficientnet-lite0.json").stat().st_mtime_ns
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "(done, step 4)" in text and "from scratch" not in text
    after = (out / "toy" / "run-4ch" / "evaluation-efficientnet-lite0.json").stat().st_mtime_ns
    assert after == stamp


def test_experiment_prepares_missing_data(generated_davis, tmp_path):
    """A `prepare` recipe runs `focusgan prepare` once; the file is then kept."""
    doc = {
        "name": "pairs",
        "datasets": [
            {
                "name": "davis",
                "prepare": {
                    "source": "pairs",
                    "images": str(generated_davis.images / "seq-palette"),
                    "masks": str(generated_davis.masks / "seq-palette"),
                    "mask_format": "davis",
                    "size": 32,
                    "workers": 1,
                    "quiet": True,
                },
            }
        ],
        "train": {**TRAIN, "iters": 1},
        "evaluate": {**EVAL, "metrics": ["is"], "initial": False},
        "channels": [4],
    }
    path = tmp_path / "pairs.yaml"
    path.write_text(yaml.safe_dump(doc))
    cfg = load_config(path)
    lines: list[str] = []
    summary = run_experiment(cfg, tmp_path / "out", progress=False, log=lines.append)
    made = tmp_path / "out" / "data" / "davis.h5"
    assert made.is_file() and summary["datasets"][0]["size"] == 45
    assert any("focusgan prepare pairs" in x for x in lines)
    lines.clear()
    run_experiment(cfg, tmp_path / "out", progress=False, log=lines.append)
    assert any("exists, kept" in x for x in lines)


def test_shipped_configs_load():
    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 4
    for path in configs:
        cfg = load_config(path)
        for spec in cfg.datasets:
            if spec.prepare is not None:
                assert prepare_recipe(spec, cfg.base_dir).source == spec.prepare["source"]


def test_demo_config_is_a_valid_experiment(tmp_path):
    import argparse

    from focusgan.cli.demo import demo_config

    args = argparse.Namespace(iters=500, n=256, workers=2)
    cfg = parse_config(demo_config(args), base_dir=tmp_path)
    spec = cfg.datasets[0]
    recipe = prepare_recipe(spec, cfg.base_dir)
    assert recipe.source == "video" and recipe.options.paths == [tmp_path / "videos"]
    assert recipe.options.filter.min_fg == 0.05 and recipe.run.workers == 2
    assert cfg.evaluate.initial and cfg.evaluate.backbone == "efficientnet-lite0"
    assert train_config(cfg, _toy(tmp_path), 4).iters == 500


def _toy(folder: Path) -> Path:
    from focusgan.data.toy import make_toy_dataset

    return make_toy_dataset(folder / "toy.h5", n=8, resolution=32)
