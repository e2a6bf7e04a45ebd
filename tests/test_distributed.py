"""Multi-process training on CPU: two `torchrun` processes with the gloo backend.

`--standalone` picks a free port, so these tests do not collide with other torchrun jobs.
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

TORCHRUN = Path(sys.executable).with_name("torchrun")


def torchrun(tmp_path: Path, script: str, *args: str, timeout: int = 240) -> tuple[int, str]:
    """Run `script` in 2 processes; (exit status, stdout + stderr). A hang is killed and fails."""
    if not TORCHRUN.exists():
        pytest.skip("torchrun not installed next to this Python")
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(path), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the processes did not finish in {timeout} s (a hang):\n{out[-3000:]}")
    return proc.returncode, out


def test_non_finite_loss_in_one_process_stops_every_process(toy_h5, tmp_path):
    """Process 1 alone sees a NaN loss at step 3: both processes stop there with the same error
    (each checks the all-reduced flag), and the last good checkpoint is step 2's, finite."""
    script = """
        import os, sys
        from focusgan.errors import WorkError
        from focusgan.training import loop
        from focusgan.training.config import make_config

        rank, calls, real = int(os.environ["RANK"]), [0], loop.generator_loss

        def poisoned(critic, fake):
            calls[0] += 1
            loss = real(critic, fake)
            return loss * float("nan") if rank == 1 and calls[0] == 3 else loss

        loop.generator_loss = poisoned
        cfg = make_config(
            "tiny", data=sys.argv[1], width=8, batch_critic=8, batch_gen=8, n_critic=1,
            log_every=1, sample_every=100, checkpoint_every=2, iters=10,
        )
        try:
            loop.train(cfg, sys.argv[2], progress=False)
        except WorkError as e:
            open(f"{sys.argv[2]}.stopped-{rank}", "w").write(str(e))
            sys.exit(3)
    """
    run = tmp_path / "run"
    status, out = torchrun(tmp_path, script, str(toy_h5), str(run))
    assert status != 0, out
    stops = [tmp_path / f"run.stopped-{rank}" for rank in (0, 1)]
    assert all(p.exists() for p in stops), out[-3000:]  # both processes raised the error
    error = stops[0].read_text()
    assert stops[1].read_text() == error
    assert "non-finite loss between steps 2 and 3" in error and "(step 2)" in error
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for k in ("G", "D", "G_ema") for v in state[k].values())
