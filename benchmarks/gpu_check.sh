#!/usr/bin/env bash
# The checks only a GPU can do, as one short script (about 6 minutes on an H100): run it on a
# lent device machine from the repository root, e.g. `bash benchmarks/gpu_check.sh`, with $OUT
# a folder that comes back. Uses the machine's own python3 (torch, h5py, OpenCV, TensorBoard
# preinstalled there) with src/ on PYTHONPATH: nothing is installed or downloaded.
#   1. the training CLI on cuda: 30 steps of the tiny preset in two calls (--stop-after, then
#      --resume), a sample grid and a samples file from the run;
#   2. the same through torchrun (one process, NCCL), the multi-GPU code path;
#   3. benchmarks/train_step.py on cuda, tiny and thesis presets (focusgan vs a plain step),
#      the thesis preset also with channels-last models (used on CPUs; on GPUs not yet);
#   4. a timed thesis-preset run of 200 generator steps through the CLI.
# Everything is logged to $OUT/gpu_check.log; set DEVICE=cpu to dry-run the script here.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-30}
THESIS_STEPS=${THESIS_STEPS:-200}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
WORK=$(mktemp -d)
exec > >(tee "$OUT/gpu_check.log") 2>&1

step() { echo; echo "== $* ($(date +%T))"; }
fail=0
check() { "$@" || { echo "FAILED: $*"; fail=1; }; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else '')"

step "toy datasets (32 and 64 px)"
$PY -c "from focusgan.data.toy import make_toy_dataset as m
m('$WORK/toy32.h5', n=2048, resolution=32); m('$WORK/toy64.h5', n=2048, resolution=64)"

step "train tiny on $DEVICE: $((STEPS / 2)) steps, stop, resume to $STEPS"
half=$((STEPS / 2))
check $PY -m focusgan train --data "$WORK/toy32.h5" --preset tiny --iters "$STEPS" \
    --device "$DEVICE" --out "$WORK/run" --stop-after "$half" --quiet
check $PY -m focusgan train --data "$WORK/toy32.h5" --preset tiny --iters "$STEPS" \
    --device "$DEVICE" --out "$WORK/run" --resume --quiet
check $PY -c "from focusgan.training.rundir import read_metrics
rows = [r for r in read_metrics('$WORK/run') if 'loss_d' in r]
print('logged steps', [r['step'] for r in rows][-3:], 'last', rows[-1])
assert rows[-1]['step'] == $STEPS, 'run did not reach the last step'"
check $PY -m focusgan sample "$WORK/run" --n 64 --out "$OUT/tiny_grid.png" --device "$DEVICE"
check $PY -m focusgan sample "$WORK/run" --n 512 --out "$WORK/samples.h5" --device "$DEVICE"
check $PY -m focusgan inspect "$WORK/samples.h5"

step "torchrun, one process (NCCL on cuda, gloo on cpu)"
check $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m focusgan train \
    --data "$WORK/toy32.h5" --preset tiny --iters 10 --device "$DEVICE" \
    --out "$WORK/run_ddp" --quiet

step "train_step benchmark, tiny preset"
check $PY benchmarks/train_step.py --preset tiny --device "$DEVICE" --steps 50
step "train_step benchmark, thesis preset"
check $PY benchmarks/train_step.py --preset thesis --device "$DEVICE" --steps 25 --rounds 5
step "train_step benchmark, thesis preset, channels-last (is the CPU layout worth it on GPUs?)"
check $PY benchmarks/train_step.py --preset thesis --device "$DEVICE" --steps 25 --rounds 5 \
    --channels-last

step "thesis preset through the CLI, $THESIS_STEPS generator steps (64 px, width 128)"
start=$(date +%s.%N)
check $PY -m focusgan train --data "$WORK/toy64.h5" --preset thesis --iters 100000 \
    --stop-after "$THESIS_STEPS" --device "$DEVICE" --out "$WORK/thesis" --quiet
end=$(date +%s.%N)
$PY -c "s = $end - $start; print(f'{$THESIS_STEPS} steps in {s:.1f} s (start-up included): '
      f'{$THESIS_STEPS / s:.2f} it/s; 100k steps ~ {100000 / ($THESIS_STEPS / s) / 3600:.1f} h')"
cp "$WORK"/thesis/metrics.jsonl "$OUT/thesis_metrics.jsonl" 2>/dev/null || true

step "done: $([ $fail = 0 ] && echo 'all checks passed' || echo 'SOME CHECKS FAILED')"
rm -rf "$WORK"
exit $fail
