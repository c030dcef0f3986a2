#!/usr/bin/env bash
# One-command GPU check: train the default character LSTM on CUDA (cuDNN, bf16 autocast) for 60 s,
# then print chars/s and the validation loss; finally sample on the CPU from the GPU-trained run.
#   bash benchmarks/gpu_check.sh [CORPUS] [SECONDS]
# Needs a PyTorch with CUDA on PATH's python3 (or $PYTHON); installs rnnkit from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CORPUS=${1:-python}
SECONDS_BUDGET=${2:-60}
OUT=$(mktemp -d)/run
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
$PYTHON -c "import torch, sys; ok = torch.cuda.is_available(); print('torch', torch.__version__, 'cuda', ok, torch.cuda.get_device_name(0) if ok else ''); sys.exit(0 if ok else 1)"
$PYTHON -m rnnkit.cli train charlm --corpus "$CORPUS" --out "$OUT" --device cuda --time-budget "$SECONDS_BUDGET" --no-progress
$PYTHON - "$OUT" <<'PY'
import json, sys
from rnnkit.training.metrics import read_metrics
run = sys.argv[1]
recs = read_metrics(f"{run}/metrics.jsonl")
rates = [r["chars_per_s"] for r in recs if "chars_per_s" in r]
valid = [r for r in recs if "valid_loss" in r][-1]
cfg = json.load(open(f"{run}/config.json"))
print(f"device {cfg['runtime']['device']} precision {cfg['runtime']['precision']}: "
      f"median {sorted(rates)[len(rates) // 2]:,.0f} chars/s, validation loss {valid['valid_loss']:.4f} nats/char at step {valid['step']}")
PY
$PYTHON -m rnnkit.cli sample "$OUT" --device cpu --length 200 --seed 1 --temperature 0.8
