"""The fault campaign: many SIGKILLs at random moments, many corrupt inputs, full disks, NaNs.

tests/test_faults.py runs a few cases of each kind in the suite; this runs the same checks many
more times and prints the table of benchmarks/RESULTS.md:
- `train` (tiny preset, a checkpoint every step): SIGKILL at random moments (a random delay after
  a new step is logged), `--resume` until finished; the final checkpoint must equal an
  uninterrupted run's bit for bit (weights, optimizers, schedulers, data order) and the loss log
  must hold each step once with the same values. Also SIGKILL in the middle of writing the k-th
  checkpoint, for several k.
- `prepare coco --workers 2`, `prepare video`, `experiment`: SIGKILL of the whole process group at
  random moments inside the measured clean run, then the same command again; the result must equal
  the clean run's (images, metadata, counts; checkpoints and scores for the experiment).
- after every kill: no file under a final name is incomplete, and no complete file is lost.
- corrupt inputs, full disks and a NaN gradient: the property tests of tests/test_faults.py with
  `FOCUSGAN_FAULT_EXAMPLES` examples each (hypothesis), counted from hypothesis's statistics.

Run: `python benchmarks/faults.py [--train-series 2] [--kills 4] [--examples 60] [--seed 0]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
os.environ.setdefault("OMP_NUM_THREADS", "1")

from generated import write_coco  # noqa: E402
from killing import KillLog, child_env, focusgan, incomplete_files, kill_and_rerun  # noqa: E402
from test_faults import (  # noqa: E402
    STATE_KEYS,
    assert_same_dataset,
    assert_same_state,
    final_state,
    losses,
    metrics_lines,
    train_cmd,
)


class Row:
    def __init__(self, name: str) -> None:
        self.name, self.log, self.equal, self.compared, self.seconds = name, KillLog(), 0, 0, 0.0

    def add(self, log: KillLog, equal: bool) -> None:
        for field in ("tried", "finished_early", "runs"):
            setattr(self.log, field, getattr(self.log, field) + getattr(log, field))
        self.log.incomplete += log.incomplete
        self.log.lost += log.lost
        self.compared += 1
        self.equal += equal


def same(check) -> bool:
    try:
        check()
        return True
    except AssertionError as e:
        print(f"    MISMATCH: {e}")
        return False


def timed(cmd: list[str]) -> float:
    t = time.monotonic()
    subprocess.run(cmd, env=child_env(), check=True, timeout=1800, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def campaign_train(tmp: Path, toy: Path, series: int, kills: int, rng: random.Random) -> Row:
    row = Row("train: SIGKILL at random moments, --resume")
    reference = tmp / "train-ref"
    timed(train_cmd(toy, reference)(0))
    for s in range(series):
        run = tmp / f"train-{s}"
        seen = {"lines": 0}

        def cmd(attempt: int, run=run, seen=seen) -> list[str]:
            seen["lines"] = metrics_lines(run)
            return train_cmd(toy, run)(attempt)

        log = kill_and_rerun(
            cmd,
            run,
            [rng.uniform(0, 0.8) for _ in range(kills)],
            ready=lambda run=run, seen=seen: metrics_lines(run) > seen["lines"],
        )

        def check(run=run) -> None:
            a, b = final_state(reference), final_state(run)
            for key in STATE_KEYS:
                assert_same_state(a[key], b[key], key)
            assert losses(run) == losses(reference), "loss log"

        row.add(log, same(check))
        print(f"  train series {s}: {log.tried} kills, equal={row.equal}/{row.compared}")
    return row


def campaign_checkpoint_write(tmp: Path, toy: Path, which: list[int]) -> Row:
    row = Row("train: SIGKILL while writing checkpoint k")
    reference = tmp / "train-ref"
    for k in which:
        run = tmp / f"ckpt-{k}"
        code = (
            "import os, signal, sys, torch\n"
            "import focusgan.training.checkpoint as checkpoint\n"
            "n = {'calls': 0}\nreal = torch.save\n"
            "def dying(obj, f, *a, **kw):\n"
            "    n['calls'] += 1\n    real(obj, f, *a, **kw)\n"
            f"    if n['calls'] == {k}:\n"
            "        os.truncate(f, os.path.getsize(f) // 2)\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "checkpoint.torch.save = dying\n"
            "from focusgan.cli import main\n"
            f"sys.exit(main({[str(x) for x in train_cmd(toy, run)(0)[3:]]!r}))\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], env=child_env(), timeout=900)
        log = KillLog(tried=int(proc.returncode == -9), runs=2)
        bad = incomplete_files(run)
        log.incomplete += list(bad)
        resumed_from = final_state(run)["step"]
        subprocess.run(train_cmd(toy, run)(1), env=child_env(), check=True, timeout=900)

        def check(run=run, k=k, resumed_from=resumed_from) -> None:
            assert resumed_from == k - 1, f"latest.pt after the kill is step {resumed_from}"
            a, b = final_state(reference), final_state(run)
            for key in STATE_KEYS:
                assert_same_state(a[key], b[key], key)

        row.add(log, same(check))
    print(f"  checkpoint writes: {row.log.tried} kills, equal={row.equal}/{row.compared}")
    return row


def campaign_command(name: str, make_cmd, out_of, compare, tmp: Path, kills: int, runs: int,
                     rng: random.Random, after_work_starts: float | None = None) -> Row:  # fmt: skip
    """SIGKILL `make_cmd(target)` at random moments, rerun, compare with a clean run. A kill comes
    0..`after_work_starts` s after the job's first work file appears, or (None) at a random
    moment in the first half of the clean run's time (later runs reuse caches: they are faster)."""
    row = Row(name)
    clean = tmp / f"{name.split(':')[0].replace(' ', '-')}-clean"
    seconds = timed(make_cmd(out_of(clean)))
    for r in range(runs):
        target = tmp / f"{clean.name}-{r}"
        target.mkdir(parents=True, exist_ok=True)
        if after_work_starts is None:
            delays, ready = [rng.uniform(0.05, 0.5) * seconds for _ in range(kills)], None
        else:
            delays = [rng.uniform(0, after_work_starts) for _ in range(kills)]
            ready = lambda target=target: any(target.iterdir())  # noqa: E731
        log = kill_and_rerun(make_cmd(out_of(target)), target, delays, ready=ready)
        row.add(log, same(lambda target=target: compare(clean, target)))
        print(f"  {name} run {r}: {log.tried} kills, equal={row.equal}/{row.compared}")
    return row


def property_cases(examples: int, tmp: Path) -> tuple[int, int, str]:
    """(examples run, failures, summary) of the corrupt-input, full-disk and NaN tests."""
    env = child_env() | {"FOCUSGAN_FAULT_EXAMPLES": str(examples)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--basetemp={tmp / 'pytest'}", "--hypothesis-show-statistics",
           str(ROOT / "tests" / "test_faults.py"),
           "-k", "corrupt or damaged or truncated or full_disk or nan or another_config"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT).stdout
    passing = sum(int(n) for n in re.findall(r"(\d+) passing examples", out))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing examples", out))
    properties = set(re.findall(r"test_faults\.py::(\w+):", out))  # hypothesis's statistics
    passed = re.search(r"(\d+) passed", out)
    plain = int(passed.group(1)) - len(properties) if passed else 0  # one case each
    summary = out.strip().splitlines()[-1] if out.strip() else "no output"
    if "failed" in summary or not passed:
        print(out[-3000:])
    return passing + plain, failing + ("failed" in summary), summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-series", type=int, default=2, help="train runs to kill (2)")
    p.add_argument("--kills", type=int, default=4, help="kills per run (4)")
    p.add_argument("--examples", type=int, default=60, help="hypothesis examples per property")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="focusgan-faults-") as d:
        tmp = Path(d)
        from focusgan.data.toy import make_toy_dataset
        from focusgan.video.synthetic import write_videos

        toy = make_toy_dataset(tmp / "toy.h5", n=64, resolution=32)
        rows.append(campaign_train(tmp, toy, args.train_series, args.kills, rng))
        rows.append(campaign_checkpoint_write(tmp, toy, [2, 3, 5]))

        coco = write_coco(tmp / "coco", {"val2017": 24}, seed=7)
        rows.append(campaign_command(
            "prepare coco --workers 2",
            lambda out: focusgan("prepare", "coco", "--annotations", coco.annotations("val2017"),
                                 "--images", coco.images("val2017"), "--out", out,
                                 "--min-area", "0.05", "--workers", "2", "--quiet"),
            lambda folder: folder / "coco.h5",
            lambda a, b: assert_same_dataset(a / "coco.h5", b / "coco.h5"),
            tmp, args.kills, 2, rng, after_work_starts=1.0))  # fmt: skip
        videos = tmp / "videos"
        write_videos(videos, 3, seed=4, size=(64, 80), shot_lengths=(10, 8))
        rows.append(campaign_command(
            "prepare video",
            lambda out: focusgan("prepare", "video", videos, "--out", out, "--size", "32",
                                 "--min-fg", "0.02", "--workers", "1", "--quiet"),
            lambda folder: folder / "video.h5",
            lambda a, b: assert_same_dataset(a / "video.h5", b / "video.h5"),
            tmp, args.kills, 2, rng, after_work_starts=2.0))  # fmt: skip
        rows.append(campaign_experiment(tmp, toy, args.kills, rng))
        corrupt, corrupt_failed, summary = property_cases(args.examples, tmp)

    elapsed = time.monotonic() - t0
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {elapsed / 60:.1f} min\n")  # fmt: skip
    print("| fault | kills survived / tried | results equal to a clean run | files incomplete "
          "after a kill | files lost |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows:
        survived = r.log.tried if not (r.log.incomplete or r.log.lost) else 0
        print(f"| {r.name} | {survived} / {r.log.tried} | {r.equal} / {r.compared} | "
              f"{len(r.log.incomplete)} | {len(r.log.lost)} |")  # fmt: skip
    print(f"| corrupt inputs, full disks, NaN gradient (hypothesis, {args.examples} examples per "
          f"property) | {corrupt} cases tried, {corrupt_failed} failed | | | 0 |")  # fmt: skip
    print(f"\npytest: {summary}")
    for r in rows:
        for x in r.log.incomplete + r.log.lost:
            print(f"  {r.name}: {x}")


def campaign_experiment(tmp: Path, toy: Path, kills: int, rng: random.Random) -> Row:
    import json

    import yaml

    doc = {
        "name": "kill",
        "datasets": [{"name": "toy", "file": str(toy)}],
        "train": {"preset": "tiny", "width": 8, "iters": 4, "batch_critic": 8, "batch_gen": 8,
                  "n_critic": 1, "log_every": 1, "sample_every": 2, "checkpoint_every": 1},
        "evaluate": {"backbone": "efficientnet-lite0", "n": 16, "splits": 1, "ref_n": 32,
                     "metrics": ["is", "kid"], "initial": True},
        "channels": [3, 4],
    }  # fmt: skip
    config = tmp / "kill.yaml"
    config.write_text(yaml.safe_dump(doc))

    def compare(a: Path, b: Path) -> None:
        for c in (3, 4):
            run = f"toy/run-{c}ch"
            x, y = final_state(a / run), final_state(b / run)
            for key in STATE_KEYS:
                assert_same_state(x[key], y[key], key)
            for name in ("evaluation", "initial.evaluation"):
                f = f"{run}/{name}-efficientnet-lite0.json"
                sa = json.loads((a / f).read_text())["scores"]
                sb = json.loads((b / f).read_text())["scores"]
                assert sa == sb, f
        assert json.loads((b / "experiment.json").read_text())["finished"]

    return campaign_command(
        "experiment", lambda out: focusgan("experiment", config, "--out", out, "--quiet"),
        lambda folder: folder, compare, tmp, kills, 1, rng)  # fmt: skip


if __name__ == "__main__":
    main()
