"""R3GAN at the thesis's parameter budget against the thesis's WGAN-GP, for the same wall-clock
time on this machine's CPU, 3 and 4 channels (issue 22 item 5).

    python benchmarks/r3gan_vs_wgan.py --data moving-objects.h5 --out /tmp/r3bench --minutes 4

Each run is `focusgan train` (preset `thesis` or `r3gan-thesis`, the thesis's length, so both
follow their own schedules from the start) stopped by SIGTERM after `--minutes` (the loop writes a
checkpoint at the end of the step it is in), then `focusgan evaluate` with the offline
EfficientNet-Lite0 backbone: FID and KID against the training data, and for 4 channels the
generated-pairs IoU beside its floor (the step-0 generator's pairs) and ceiling (real pairs).
Runs alternate between the architectures, so a change of the machine's load falls on both;
the load average is recorded before and after each run. `--phase train` trains the runs one after
the other, `--phase eval` (another process, started beside it) evaluates each as soon as it is
trained; `--phase all` does both in turn. Prints the rows and writes OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"wgan-gp": "thesis", "r3gan": "r3gan-thesis"}


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def focusgan(*args: str, timeout: float | None = None) -> tuple[int, float]:
    """Run `python -m focusgan ARGS`; SIGTERM after `timeout` s. (exit status, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "focusgan", *args], env=env)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the loop checkpoints after the current step
        proc.wait()
    return proc.returncode, time.perf_counter() - t0


def train_run(
    data: Path, run: Path, arch: str, channels: int, seconds: float, batch: int | None
) -> dict:
    before = load()
    args = ["train", "--data", str(data), "--out", str(run), "--preset", PRESETS[arch]]
    if batch:  # the thesis's generator batch is twice the critic's; R3GAN's the same
        args += [
            "--batch-critic",
            str(batch),
            "--batch-gen",
            str(batch * (arch == "wgan-gp") + batch),
        ]
    args += ["--channels", str(channels), "--quiet", "--log-every", "1", "--sample-every", "20"]
    args += ["--checkpoint-every", "1000000"]  # only the checkpoint at the signal
    code, wall = focusgan(*args, timeout=seconds)
    logs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "loss_d" in r]
    rates = [r["g_steps_per_s"] for r in steps[1:]] or [r["g_steps_per_s"] for r in steps]
    return {
        "arch": arch,
        "channels": channels,
        "exit": code,
        "wall_s": round(wall, 1),
        "steps": steps[-1]["step"] if steps else 0,
        "steps_per_s": sum(rates) / len(rates) if rates else 0.0,
        "images_per_s": sum(r["images_per_s"] for r in steps[1:]) / max(1, len(steps) - 1),
        "load_before": before,
        "load_after": load(),
    }


def evaluate(run: Path, channels: int, n: int, segmenter_steps: int) -> dict:
    metrics = "fid,kid,pairs" if channels == 4 else "fid,kid"
    code, wall = focusgan(
        "evaluate", str(run), "--backbone", "efficientnet-lite0", "--n", str(n), "--splits", "2",
        "--metrics", metrics, "--quiet", "--segmenter-steps", str(segmenter_steps),
    )  # fmt: skip
    out = json.loads((run / "evaluation-efficientnet-lite0.json").read_text())
    return {"eval_exit": code, "eval_s": round(wall, 1), "evaluation": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--n", type=int, default=512, help="samples per evaluation")
    p.add_argument("--segmenter-steps", type=int, default=500, help="generated-pairs segmenter")
    p.add_argument("--channels", type=int, nargs="+", default=[3, 4])
    p.add_argument("--batch", type=int, default=None, help="critic batch (default: preset's)")
    p.add_argument("--phase", choices=("all", "train", "eval"), default="all")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for channels in a.channels:
        for arch in PRESETS:
            run = a.out / f"{arch}-{channels}ch"
            if a.phase != "eval" and not (run / "bench.json").exists():
                row = train_run(a.data, run, arch, channels, a.minutes * 60, a.batch)
                (run / "bench.json").write_text(json.dumps(row))
            if a.phase == "train":
                continue
            while not (run / "bench.json").exists():  # trained by the other process
                time.sleep(10)
            row = json.loads((run / "bench.json").read_text())
            if not (run / "evaluation-efficientnet-lite0.json").exists():
                row.update(evaluate(run, channels, a.n, a.segmenter_steps))
            else:
                row["evaluation"] = json.loads(
                    (run / "evaluation-efficientnet-lite0.json").read_text()
                )
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "evaluation"}), flush=True)
    if a.phase == "train":
        return
    (a.out / "summary.json").write_text(json.dumps(rows, indent=1, default=str))
    print(json.dumps(rows, indent=1, default=str)[:20000])


if __name__ == "__main__":
    main()
