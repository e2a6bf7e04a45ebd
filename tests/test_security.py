"""Files from others run no code (issue 23): checkpoints are read with `weights_only=True`, shared
generators are safetensors, experiment YAML, `.npz` files and dataset attributes are read as data.

Every crafted file here holds an object whose unpickling (or evaluation) runs `touch MARKER`;
each test first shows that the file is live (the unsafe way of reading it makes the marker),
then that each focusgan command refuses it in one line and no marker appears.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shlex
import shutil
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from focusgan.cli import main
from focusgan.experiment.config import load_config
from focusgan.experiment.runner import run_experiment
from focusgan.training import checkpoint
from focusgan.training.rundir import load_generator
from focusgan.training.sample import generate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN = dict(preset="tiny", width=8, iters=2, batch_critic=8, batch_gen=8, n_critic=1,
             log_every=1, sample_every=2, checkpoint_every=2)  # fmt: skip
TINY = "--preset tiny --width 8 --batch-critic 8 --batch-gen 8 --n-critic 1 --quiet".split()
EVAL = ["--backbone", "efficientnet-lite0", "--n", "16", "--splits", "1", "--metrics", "is"]


class Payload:
    """Unpickling it runs `touch marker` (what an attacker would make run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def run_cli(argv: list, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_line(err: str) -> bool:
    lines = [x for x in err.splitlines() if x.strip()]
    return len(lines) == 1 and "error:" in lines[0]


@pytest.fixture(scope="module")
def experiment(toy_h5, tmp_path_factory) -> Path:
    """A finished experiment of one 4-channel run trained 2 tiny steps: its folder, holding
    `tiny.yaml` (the experiment file) and `out/` (the folder `focusgan experiment` wrote)."""
    folder = tmp_path_factory.mktemp("exp")
    doc = {
        "name": "tiny",
        "datasets": [{"name": "toy", "file": str(toy_h5), "thesis": "coco"}],
        "channels": [4],
        "train": TRAIN,
        "evaluate": dict(backbone="efficientnet-lite0", n=16, splits=1, ref_n=16, metrics=["is"],
                         initial=False),
    }  # fmt: skip
    (folder / "tiny.yaml").write_text(yaml.safe_dump(doc))
    run_experiment(load_config(folder / "tiny.yaml"), folder / "out", progress=False,
                   log=lambda s: None)  # fmt: skip
    return folder


def copy_experiment(experiment: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the experiment (its YAML names the same data) and its run."""
    shutil.copytree(experiment, tmp_path / "exp")
    return tmp_path / "exp", tmp_path / "exp" / "out" / "toy" / "run-4ch"


def craft(ckpt: Path, where: str, marker: Path) -> None:
    """Rewrite a real checkpoint with `Payload` at `where`, as `torch.save` writes it; checks
    that the file is live (reading it as earlier versions did runs the payload)."""
    state = torch.load(ckpt, weights_only=True)
    payload = Payload(marker)
    if where in ("top", "protocol 4"):
        state["config"] = payload
    elif where == "rng":
        state["rng"][0]["numpy"]["gauss"] = payload
    else:
        state["opt_G"]["state"][0]["exp_avg"] = payload
    # protocol 4 names os.system with STACK_GLOBAL, which torch's opcode scan does not list
    torch.save(state, ckpt, pickle_protocol=4 if where == "protocol 4" else 2)
    torch.load(ckpt, weights_only=False)  # what `focusgan` did before
    assert marker.exists(), "the crafted checkpoint must run its payload when unpickled"
    marker.unlink()


def commands(exp: Path, run: Path, toy_h5: Path, tmp_path: Path) -> dict[str, list]:
    """Every command that opens a run's checkpoint."""
    out, ckpt = exp / "out", run / "checkpoints" / "latest.pt"
    return {
        "sample": ["sample", run, "--n", "4", "--out", tmp_path / "s.png"],
        "evaluate": ["evaluate", run, *EVAL, "--out", tmp_path / "e.json"],
        "train --resume": ["train", "--data", toy_h5, "--out", run, "--resume", *TINY],
        "inspect": ["inspect", run],
        "export": ["export", run, "--out", tmp_path / "g.safetensors"],
        "report": ["report", out, "--hist-n", "36"],
        "experiment rerun": ["experiment", exp / "tiny.yaml", "--out", out, "--quiet"],
        # (it unpickles, but not a file that names os.system)
        "convert-checkpoint --trust-pickle": ["convert-checkpoint", ckpt, "--trust-pickle"],
    }


@pytest.mark.parametrize("where", ["top", "rng", "optimizer", "protocol 4"])
def test_a_crafted_checkpoint_runs_nothing_in_any_command(experiment, toy_h5, tmp_path, capsys,
                                                          where):  # fmt: skip
    exp, run = copy_experiment(experiment, tmp_path)
    ckpt = run / "checkpoints" / "latest.pt"
    marker = tmp_path / "MARKER"
    craft(ckpt, where, marker)
    before = ckpt.read_bytes()
    for name, argv in commands(exp, run, toy_h5, tmp_path).items():
        code, err = run_cli(argv, capsys)
        assert not marker.exists(), f"{name} ran the payload"
        assert code == 2 and one_line(err) and str(ckpt) in err, (name, err)
        assert "nothing in it was run" in err or "not converted" in err, (name, err)
        assert "posix.system" in err or where == "protocol 4", (name, err)
    assert ckpt.read_bytes() == before  # refused, not rewritten


def legacy(state: dict) -> dict:
    """The checkpoint earlier versions wrote: `random.getstate()` and `np.random.get_state()`
    tuples (a pickled NumPy array) where this version stores tensors."""
    out = dict(state)
    out["rng"] = []
    for s in state["rng"]:
        py, npy = s["python"], s["numpy"]
        key = npy["key"].numpy().astype(np.uint32)
        out["rng"].append({
            **s,
            "python": (py["version"], tuple(py["state"].tolist()), py["gauss"]),
            "numpy": ("MT19937", key, npy["pos"], npy["has_gauss"], npy["gauss"]),
        })  # fmt: skip
    return out


def test_a_checkpoint_of_an_earlier_version_is_converted_only_when_trusted(experiment, tmp_path,
                                                                          capsys):  # fmt: skip
    from test_train import assert_same_tensors

    _, run = copy_experiment(experiment, tmp_path)
    ckpt = run / "checkpoints" / "latest.pt"
    current = checkpoint.load(ckpt)
    torch.save(legacy(current), ckpt)
    with pytest.raises(pickle.UnpicklingError):  # it does hold a pickled NumPy array
        torch.load(ckpt, weights_only=True)
    old = ckpt.read_bytes()

    code, err = run_cli(["sample", run, "--n", "4", "--out", tmp_path / "s.png"], capsys)
    assert code == 2 and one_line(err) and str(ckpt) in err
    suggested = err.split("convert it once: focusgan ")[1].split()
    assert suggested == ["convert-checkpoint", str(ckpt), "--trust-pickle"]
    code, err = run_cli(suggested[:-1], capsys)  # without the opt-in: nothing is unpickled
    assert code == 2 and one_line(err) and "--trust-pickle" in err and ckpt.read_bytes() == old

    assert run_cli(suggested, capsys)[0] == 0
    torch.load(ckpt, weights_only=True)
    assert_same_tensors(checkpoint.load(ckpt), current)  # what this version writes, to the bit
    checkpoint.set_rng_state(checkpoint.load(ckpt)["rng"][0])  # and the streams continue alike
    was = legacy(current)["rng"][0]
    assert random.getstate() == was["python"]
    now = np.random.get_state(legacy=True)
    assert now[0] == was["numpy"][0] and np.array_equal(now[1], was["numpy"][1])
    assert now[2:] == was["numpy"][2:]
    assert run_cli(["sample", run, "--n", "4", "--out", tmp_path / "s.png"], capsys)[0] == 0
    code = main(["convert-checkpoint", str(run)])  # a run folder: every checkpoint, all current
    assert code == 0 and capsys.readouterr().out.count("in the current form already") == 2


def test_rng_states_go_through_a_checkpoint_file_exactly(tmp_path):
    """Python's, NumPy's and torch's streams, stored as tensors, continue where they were."""
    random.random(), np.random.randn()  # (NumPy now holds a cached Gaussian)
    saved = checkpoint.rng_state()
    first = (random.random(), random.gauss(0, 1), np.random.randn(3).tolist(), torch.rand(3))
    torch.save([saved], tmp_path / "rng.pt")
    checkpoint.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)[0])
    again = (random.random(), random.gauss(0, 1), np.random.randn(3).tolist(), torch.rand(3))
    assert first[:3] == again[:3] and torch.equal(first[3], again[3])


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file, read by hand (8-byte length, then JSON)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


@pytest.mark.parametrize("conditional", [False, True])
def test_exported_generator_samples_as_the_run_to_the_bit(toy_h5, tmp_path, capsys, conditional):
    run, out = tmp_path / "run", tmp_path / "g.safetensors"
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{'ab'[i % 3 == 0]}\n" for i in range(64)))
    flags = ["--conditional", "--labels", labels] if conditional else []
    train = ["train", "--data", toy_h5, "--out", run, "--iters", "2", *TINY, *flags]
    assert run_cli(train, capsys)[0] == 0
    assert run_cli(["export", run, "--out", out], capsys)[0] == 0

    header = safetensors_header(out)  # raw tensors and a JSON header: nothing to unpickle
    meta = header["__metadata__"]
    assert meta["format"] == "focusgan-generator" and meta["step"] == "2"
    assert json.loads(meta["config"])["conditional"] is conditional
    assert {k for k in header if k != "__metadata__"} == set(load_generator(run)[0].state_dict())
    for bn in ("batch", "running"):
        G_run, cfg_run, step = load_generator(run, bn=bn)
        G_file, cfg_file, step_file = load_generator(out, bn=bn)
        assert (cfg_file, step_file) == (cfg_run, step)
        a = generate(G_run, 20, batch_size=8, seed=5, bn=bn)
        b = generate(G_file, 20, batch_size=8, seed=5, bn=bn)
        assert a.shape == (20, 32, 32, 4) and np.array_equal(a, b), bn
    for source in (run, out):  # and the command line draws the same grid from either
        png = tmp_path / f"{source.name}.png"
        assert run_cli(["sample", source, "--n", "9", "--seed", "3", "--out", png], capsys)[0] == 0
    import cv2

    assert np.array_equal(cv2.imread(str(tmp_path / "run.png")),
                          cv2.imread(str(tmp_path / "g.safetensors.png")))  # fmt: skip
    code, err = run_cli(["sample", out, "--raw", "--out", tmp_path / "r.png"], capsys)
    assert code == 2 and one_line(err) and "EMA" in err
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0  # the file described, as its run is
    described = capsys.readouterr().out
    params = sum(v.numel() for v in G_run.parameters())
    assert "exported at step 2" in described and f"generator {params} parameters" in described
    assert ("(conditional)" in described) is conditional


def test_evaluate_scores_an_exported_generator_as_its_run(experiment, tmp_path, capsys):
    run = experiment / "out" / "toy" / "run-4ch"
    out = tmp_path / "g.safetensors"
    assert run_cli(["export", run, "--out", out], capsys)[0] == 0
    scores = []
    for source, dest in ((run, tmp_path / "run.json"), (out, None)):
        argv = ["evaluate", source, *EVAL, "--ref-n", "16", "--quiet"]
        assert run_cli(argv + (["--out", dest] if dest else []), capsys)[0] == 0
        scores.append(json.loads((dest or tmp_path / "g.evaluation-efficientnet-lite0.json")
                                 .read_text()))  # fmt: skip
    assert (
        scores[0]["scores"] == scores[1]["scores"]
        and "is/efficientnet-lite0" in scores[0]["scores"]
    )
    assert scores[1]["provenance"]["source"]["checkpoint"] == "exported generator"


def test_a_damaged_or_foreign_safetensors_file_is_a_one_line_error(tmp_path, capsys):
    from safetensors.torch import save_file

    foreign = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\xff" * 64)
    for path, says in ((foreign, "not a focusgan generator"), (damaged, "neither a run")):
        code, err = run_cli(["sample", path, "--out", tmp_path / "s.png"], capsys)
        assert code == 2 and one_line(err) and str(path) in err and says in err, err


def test_experiment_yaml_with_a_python_tag_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    config = tmp_path / "evil.yaml"
    config.write_text(f"name: !!python/object/apply:os.system [touch {marker}]\ndatasets: []\n")
    yaml.unsafe_load(config.read_text())  # the file is live
    assert marker.exists()
    marker.unlink()
    code, err = run_cli(["experiment", config, "--out", tmp_path / "out"], capsys)
    assert code == 2 and one_line(err) and str(config) in err and not marker.exists(), err


def test_report_samples_with_a_pickled_object_run_nothing(experiment, tmp_path, capsys):
    """`report-samples.npz` (read by `report` and an experiment rerun) is loaded without pickle:
    a crafted one is made again, not unpickled."""
    exp, run = copy_experiment(experiment, tmp_path)
    marker = tmp_path / "MARKER"
    npz = run / "report-samples.npz"
    with np.load(npz) as z:
        arrays = dict(z)
    arrays["n"] = np.array([Payload(marker)], dtype=object)
    np.savez(npz, **arrays)
    np.load(npz, allow_pickle=True)["n"]  # the file is live
    assert marker.exists()
    marker.unlink()
    assert run_cli(["report", exp / "out", "--hist-n", "36"], capsys)[0] == 0
    assert not marker.exists()
    with np.load(npz) as z:  # made again from the run
        assert int(z["n"]) == 36 and z["trained"].shape == (36, 32, 32, 4)


def test_dataset_attributes_are_parsed_as_json_never_evaluated(toy_h5, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    data = tmp_path / "evil.h5"
    shutil.copyfile(toy_h5, data)
    code = f"__import__('os').system('touch {marker}')"
    with h5py.File(data, "a") as f:
        f.attrs["extra"] = code
    eval(code)  # the attribute is live  # noqa: S307
    assert marker.exists()
    marker.unlink()
    code, err = run_cli(["inspect", data], capsys)
    assert code == 2 and one_line(err) and "damaged" in err and not marker.exists(), err
