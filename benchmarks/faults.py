"""The fault campaign: many SIGKILLs at random moments, many bad inputs, full disks, NaNs.

tests/test_faults.py runs a few cases of each kind in the suite; this runs the same cases (the
helpers of tests/killing.py and tests/corrupting.py) many more times and prints the table of
benchmarks/RESULTS.md:
- `train` (tiny preset, a checkpoint every step): SIGKILL a random moment after the attempt logs
  a new step, `--resume` until finished; the final checkpoint must equal an uninterrupted run's
  bit for bit (weights, optimizers, schedulers, data order) and the loss log must hold each step
  once with the same values. Also SIGKILL half way through writing the k-th checkpoint.
- `prepare coco --workers 2`, `prepare video`, `experiment`: SIGKILL of the whole process group a
  random moment after the attempt's work has started (a file written under its output), then the
  same command again; the result must equal the clean run's (images, metadata, counts;
  checkpoints and scores for the experiment).
- after every kill: no file under a final name is incomplete (every file read to its end by a
  check of its kind, tests/killing.py `CHECKS`; a kind with no check counts as incomplete), and no
  complete file is lost.
- bad inputs, full disks and NaN gradients: every case of tests/corrupting.py with `--examples`
  hypothesis examples each, counted per category: no-ops apart (a damage after which every
  command made what the undamaged input gives, or a full disk after the last write), then of
  the tried ones: handled (a counted skip, a one-line error), tracebacks, files lost.

Run: `python benchmarks/faults.py [--train-series 3] [--kills 4] [--runs 2] [--photos 96]
[--examples 60] [--seed 0] [--train-iters 30] [--only kills|train|commands|corrupt]` (OMP_NUM_THREADS=1 is set for its commands).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]  # the helpers the suite uses
os.environ.setdefault("OMP_NUM_THREADS", "1")

import corrupting  # noqa: E402
import killing  # noqa: E402
from generated import write_coco, write_davis  # noqa: E402


class Row:
    def __init__(self, name: str) -> None:
        self.name, self.log, self.equal, self.compared = name, killing.KillLog(), 0, 0

    def add(self, log: killing.KillLog, equal: bool) -> None:
        for name in ("tried", "finished_early", "runs", "damaged"):
            setattr(self.log, name, getattr(self.log, name) + getattr(log, name))
        self.log.incomplete += log.incomplete
        self.log.lost += log.lost
        self.compared += 1
        self.equal += equal

    def line(self) -> str:
        return (f"| {self.name} | {self.log.survived} / {self.log.tried} "
                f"({self.log.finished_early} ended before their kill) | {self.equal} / "
                f"{self.compared} | {len(self.log.incomplete)} | {len(self.log.lost)} |")  # fmt: skip


def same(check) -> bool:
    try:
        check()
        return True
    except AssertionError as e:
        print(f"    MISMATCH: {e}", flush=True)
        return False


def run(cmd: list[str]) -> float:
    t = time.monotonic()
    subprocess.run(
        cmd, env=killing.child_env(), check=True, timeout=1800, stdout=subprocess.DEVNULL
    )
    return time.monotonic() - t


def campaign_train(tmp: Path, toy: Path, iters: int, series: int, kills: int,
                   rng: random.Random) -> Row:  # fmt: skip
    row = Row(f"train (tiny, {iters} steps, a checkpoint every step): SIGKILL 0-0.8 s after a "
              "new step is logged, `--resume` until finished")  # fmt: skip
    reference = tmp / "train-ref"
    run(killing.train_cmd(toy, reference, iters)(0))
    for s in range(series):
        out = tmp / f"train-{s}"
        delays = [rng.uniform(0, 0.8) for _ in range(kills)]
        log = killing.kill_and_rerun(
            killing.train_cmd(toy, out, iters), out, delays, lambda o=out: killing.metrics_lines(o)
        )
        row.add(log, same(lambda o=out: killing.assert_same_run(reference, o)))
        print(f"  train series {s}: {log.tried} kills, {log.damaged} leaving files incomplete or "
              f"lost, equal {row.equal}/{row.compared}", flush=True)  # fmt: skip
    return row


def campaign_checkpoint_write(tmp: Path, toy: Path, iters: int, which: list[int]) -> Row:
    row = Row("train: SIGKILL half way through writing checkpoint k (k = "
              f"{', '.join(map(str, which))}), `--resume`")  # fmt: skip
    reference = tmp / "train-ref"
    for k in which:
        out = tmp / f"ckpt-{k}"
        proc = subprocess.run(
            killing.dying_on_save(killing.train_cmd(toy, out, iters)(0), k),
            env=killing.child_env(),
            timeout=900,
        )
        log = killing.KillLog(tried=int(proc.returncode == -9), runs=2)
        log.incomplete += [f"{p} ({why})" for p, why in killing.incomplete_files(out).items()]
        log.damaged = int(bool(log.incomplete))
        resumed_from = killing.final_state(out)["step"]
        run(killing.train_cmd(toy, out, iters)(1))

        def check(out=out, k=k, resumed_from=resumed_from) -> None:
            assert resumed_from == k - 1, f"latest.pt after the kill is step {resumed_from}"
            killing.assert_same_run(reference, out)

        row.add(log, same(check))
    print(f"  checkpoint writes: {row.log.tried} kills, {row.log.damaged} leaving files "
          f"incomplete, equal {row.equal}/{row.compared}", flush=True)  # fmt: skip
    return row


def campaign_command(name: str, cmd, compare, clean: Path, runs: int, kills: int,
                     rng: random.Random) -> Row:  # fmt: skip
    """`cmd(out)` killed `kills` times, each a random moment 0..0.8 x the clean run's work span
    (from its first write to its end, `killing.work_span`, as tests/test_faults.py does: the
    kills land in the work however fast the machine and the code are) after the attempt's work
    has started, then run again to the end; each result compared with the clean run's. (Kills
    due after the attempt ended are counted as such, not as kills.)"""
    clean.parent.mkdir(parents=True, exist_ok=True)
    span = killing.work_span(cmd(clean), clean.parent, timeout=1800)
    row = Row(f"{name}: SIGKILL 0-{0.8 * span:.1f} s (0.8 x its work) after its work starts, rerun")
    for r in range(runs):
        out = clean.parent.parent / f"{clean.parent.name}-{r}" / clean.name
        log = killing.kill_and_rerun(
            cmd(out), out.parent, [rng.uniform(0, 0.8 * span) for _ in range(kills)]
        )
        row.add(log, same(lambda out=out: compare(clean, out)))
        print(f"  {name} run {r}: {log.tried} kills ({log.finished_early} ended first), "
              f"{log.damaged} leaving files incomplete or lost, equal {row.equal}/{row.compared}",
              flush=True)  # fmt: skip
    return row


def explore(case, strategies: dict, inputs, tmp: Path, examples: int, seed: int) -> list:
    """The outcomes of `examples` hypothesis examples of `case` (none stops the others)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    outcomes = []

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(**strategies)
    def probe(**drawn) -> None:
        folder = tmp / f"case-{len(outcomes)}"
        folder.mkdir(parents=True)
        try:
            outcome = case(inputs, folder, **drawn)
        finally:
            shutil.rmtree(folder)
        if outcome.problem:
            outcome.why = f"{drawn}: {outcome.problem}"
        outcomes.append(outcome)

    probe()
    return outcomes


def campaign_corrupt(inputs, tmp: Path, examples: int, seed: int) -> list:
    """Every case of tests/corrupting.py, `examples` hypothesis examples each: per category
    (name, no-ops, tried, handled, tracebacks, files lost, seconds, problems). A no-op is never
    tried; tracebacks, lost files and problems are counted over every example."""
    rows = []
    for name, (case, strategies) in corrupting.CASES.items():
        t = time.monotonic()
        outcomes = explore(case, strategies, inputs, tmp, examples, seed)
        tried = [o for o in outcomes if o.injected]
        problems = [o.why[:300] for o in outcomes if o.problem]
        rows.append((name, len(outcomes) - len(tried), len(tried),
                     sum(o.handled and not o.traceback for o in tried),
                     sum(o.traceback is not None for o in outcomes),
                     sum(len(o.lost) for o in outcomes), time.monotonic() - t, problems))  # fmt: skip
        print(f"  {name}: no-ops, tried, handled, tracebacks, lost {rows[-1][1:6]} in "
              f"{rows[-1][6]:.0f} s", flush=True)  # fmt: skip
        for p in problems[:3]:
            print(f"    PROBLEM {p}", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-series", type=int, default=3, help="train runs to kill (3)")
    p.add_argument("--kills", type=int, default=4, help="kills per run (4)")
    p.add_argument("--runs", type=int, default=2, help="killed runs per prepare/experiment (2)")
    p.add_argument("--examples", type=int, default=60, help="hypothesis examples per case (60)")
    p.add_argument("--photos", type=int, default=96, help="COCO photos to prepare (96)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-iters", type=int, default=30, help="steps of each train run (30)")
    p.add_argument("--only", choices=["kills", "train", "commands", "corrupt"],
                   help="one stage alone (commands: the kills of prepare and experiment)")  # fmt: skip
    args = p.parse_args()
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    rows, corrupt = [], []
    with tempfile.TemporaryDirectory(prefix="focusgan-faults-") as d:
        tmp = Path(d)
        from focusgan.data.toy import make_toy_dataset
        from focusgan.video.synthetic import write_videos

        toy = make_toy_dataset(tmp / "toy.h5", n=64, resolution=32)
        coco = write_coco(tmp / "coco", {"val2017": args.photos}, seed=7)
        if args.only in (None, "kills", "train"):
            rows.append(campaign_train(tmp, toy, args.train_iters, args.train_series, args.kills,
                                       rng))  # fmt: skip
            rows.append(campaign_checkpoint_write(tmp, toy, args.train_iters, [2, 3, 5, 11]))
        if args.only in (None, "kills", "commands"):
            rows.append(campaign_command(
                f"`prepare coco --workers 2` ({args.photos} photos)",
                lambda out: killing.prepare_coco_cmd(coco, out), killing.assert_same_dataset,
                tmp / "coco-clean" / "coco.h5", args.runs, args.kills, rng))  # fmt: skip
            videos = tmp / "videos"
            write_videos(videos, 4, seed=4, size=(64, 80), shot_lengths=(10, 8))
            rows.append(campaign_command(
                "`prepare video` (4 videos)", lambda out: killing.prepare_video_cmd(videos, out),
                killing.assert_same_dataset, tmp / "video-clean" / "video.h5", args.runs, args.kills,
                rng))  # fmt: skip
            config = killing.experiment_config(tmp / "kill.yaml", toy, initial=True)
            rows.append(campaign_command(
                "`experiment` (RGB and RGB+focus runs, evaluated)",
                lambda out: killing.experiment_cmd(config, out),
                lambda a, b: killing.assert_same_experiment(a, b, initial=True),
                tmp / "experiment-clean" / "x", args.runs, args.kills, rng))  # fmt: skip
        if args.only in (None, "corrupt"):
            davis = write_davis(tmp / "davis", {"seq-grey": 1, "seq-palette": corrupting.FRAMES})
            small = write_coco(tmp / "coco-small", {"val2017": 12}, seed=3)  # as in the suite
            inputs = corrupting.Inputs(small, davis, toy)
            corrupt = campaign_corrupt(inputs, tmp / "cases", args.examples, args.seed)

    elapsed = time.monotonic() - t0
    load = os.getloadavg()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {elapsed / 60:.1f} min; load average at the end "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")  # fmt: skip
    if rows:
        print("| kills | survived / tried | results equal to a clean run | files incomplete "
              "after a kill | files lost |")  # fmt: skip
        print("|---|---|---|---|---|")
        for r in rows:
            print(r.line())
        for r in rows:
            for x in r.log.incomplete + r.log.lost:
                print(f"  {r.name}: {x}")
    if corrupt:
        print(f"\n| bad input ({args.examples} hypothesis examples per category) | no-op | tried | "
              "handled: counted skip or one-line error | tracebacks | files lost | seconds |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for name, noop, tried, handled, tracebacks, lost, seconds, _ in corrupt:
            print(f"| {name} | {noop} | {tried} | {handled} | {tracebacks} | {lost} | "
                  f"{seconds:.0f} |")  # fmt: skip
        for name, *_, problems in corrupt:
            for x in problems:
                print(f"  {name}: {x}")


if __name__ == "__main__":
    main()
