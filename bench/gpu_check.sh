#!/usr/bin/env bash
# The one-run GPU proof (issue 15) on a bare GPU machine: install the carried wheels (.whl/,
# fetched by bench/fetch_gpu_wheels.sh), run the CUDA tests (tests/test_cuda.py), then
# bench/gpu_check.py in the time left. Everything it writes goes to OUT_DIR (4 files):
#   cuda_test.log   nvidia-smi, torch/CUDA, the wheel install and the pytest run of tests/test_cuda.py
#   gpu_check.log   the measurement run's output
#   gpu_check.json  every figure + environment + what was skipped and why
#   gpu_check.md    the table
#
#   bash bench/gpu_check.sh OUT_DIR [bench/gpu_check.py options...]
#   GPU_CHECK_BUDGET_S  seconds for the whole run, tests included (default 300)
#   GPU_CHECK_NO_INSTALL=1  use the installed packages (the CPU dry run: ... OUT --model tiny --device cpu)
#   PYTHON              interpreter (default python3, the one that holds torch on the GPU image)
set -uo pipefail
OUT=${1:?usage: bash bench/gpu_check.sh OUT_DIR [bench/gpu_check.py options]}
shift
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
BUDGET=${GPU_CHECK_BUDGET_S:-300}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
LOG="$OUT/cuda_test.log"
: >"$LOG"
if [ -z "${GPU_CHECK_NO_INSTALL:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  SITE=${GPU_CHECK_SITE:-/tmp/lexkz_site}
  echo "== installing $(ls .whl/*.whl | wc -l) wheels into $SITE" >>"$LOG"
  if ! $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl >>"$LOG" 2>&1; then
    echo "wheel install failed: see $LOG" >&2
    cat "$LOG" >&2
    exit 3
  fi
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "== no wheel install (GPU_CHECK_NO_INSTALL set or no .whl/*.whl)" >>"$LOG"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
{ command -v nvidia-smi >/dev/null && nvidia-smi
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} >>"$LOG" 2>&1
echo "== pytest tests/test_cuda.py" >>"$LOG"
timeout 180 $PY -m pytest -q -p no:cacheprovider --noconftest -rs tests/test_cuda.py >>"$LOG" 2>&1
echo "== pytest exit $? after ${SECONDS}s" >>"$LOG"
tail -4 "$LOG"
LEFT=$((BUDGET - SECONDS))
echo "== bench/gpu_check.py with ${LEFT}s left of ${BUDGET}s"
$PY bench/gpu_check.py --out "$OUT" --budget-s "$LEFT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
