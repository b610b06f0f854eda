#!/usr/bin/env bash
# GPU checks in one prepared script, for a machine with one NVIDIA GPU.
#
#   bash benchmarks/gpu_checks.sh OUT_DIR
#
# Runs, each step timed and logged under OUT_DIR (the CUDA steps skip with a message when no
# GPU is visible, so the script can be tried on a CPU first):
#   1. pytest -q tests/gpu                      (closed-form fits, transformer training)
#   2. benchmarks/transformer_step.py           (plain, packed, with torch.compile)
#   3. benchmarks/ensemble_training.py --device cuda   (linear attention and H3)
#   4. benchmarks/lu_fig4_quick.py --device cuda
#   5. iclab run lu2024.fig1 --full --device cuda       (its time; the figure in OUT_DIR)
# and writes OUT_DIR/summary.txt (device, torch version, date, each step's status and time).
# Meant to finish in under 8 minutes on an H100/H200-class GPU.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_checks.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
iclab=("$py" -m iclab)
summary="$out/summary.txt"
has_cuda=$("$py" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  "$py" -c "import torch; print('torch', torch.__version__, '| cuda', torch.version.cuda, '|',
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU visible')"
} > "$summary" 2>&1

step() {  # step NAME needs_cuda(0/1) command...
  local name=$1 needs=$2; shift 2
  if [ "$needs" = 1 ] && [ "$has_cuda" != 1 ]; then
    echo "$name: skipped (no CUDA device)" | tee -a "$summary"; return 0
  fi
  local start=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc, $((SECONDS - start)) s" | tee -a "$summary"
}

step pytest_gpu 0 "$py" -m pytest -q tests/gpu
step transformer_step 1 "$py" benchmarks/transformer_step.py --device cuda
step transformer_step_packed 1 "$py" benchmarks/transformer_step.py --device cuda --members 8
step transformer_step_compile 1 "$py" benchmarks/transformer_step.py --device cuda --compile
step ensemble_la 1 "$py" benchmarks/ensemble_training.py --device cuda
step ensemble_h3 1 "$py" benchmarks/ensemble_training.py --device cuda --kind h3
step lu_fig4_quick 1 "$py" benchmarks/lu_fig4_quick.py --device cuda
step fig1_full 1 "${iclab[@]}" run lu2024.fig1 --full --device cuda \
  --store "$out/iclab.sqlite" --out "$out"
echo "logs and figures: $out" | tee -a "$summary"
