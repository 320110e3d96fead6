#!/usr/bin/env bash
# GPU check that fits a short lease (issue 14): LoRA and full fine-tuning tokens/s and MFU of a
# randomly initialised LLaMA-7B, and decoding instances/s on the paper's test-set lengths (beam 1
# and 16, HF; vLLM if installed), within 8 minutes on one H100/H200; one JSON and Markdown tables.
#
#   benchmarks/gpu_check.sh [--out FILE.json] [--budget SECONDS] [--phases ...]   # needs a GPU
#   benchmarks/gpu_check.sh --tiny --out /tmp/tiny.json                           # CPU smoke test
#
# Python: $PYTHON, else the checkout's .venv/bin/python, else python3; src/ is put on PYTHONPATH,
# so the project need not be installed. GPU_CHECK_WHEELS=DIR installs the *.whl files in DIR
# (e.g. pydantic and its dependencies on a node without them) offline into a temporary folder first.
# Refuses (exit 2, one message) without a CUDA GPU unless --tiny. benchmarks/gpu_check.py has the
# details; BENCHMARKS.md ("GPU check") the results.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
elif [[ -x "$root/.venv/bin/python" ]]; then
  py="$root/.venv/bin/python"
else
  py="$(command -v python3 || true)"
fi
if [[ -z "$py" ]]; then
  echo "gpu_check: error: no Python found (set PYTHON=...)" >&2
  exit 2
fi

extra=""
if [[ -n "${GPU_CHECK_WHEELS:-}" ]]; then
  site="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX")"
  trap 'rm -rf "$site"' EXIT
  shopt -s nullglob
  wheels=("$GPU_CHECK_WHEELS"/*.whl)
  if ((${#wheels[@]} == 0)); then
    echo "gpu_check: error: GPU_CHECK_WHEELS=$GPU_CHECK_WHEELS holds no .whl file" >&2
    exit 2
  fi
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "${wheels[@]}"
  extra="$site:"
fi

export PYTHONPATH="${extra}$root/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# a last resort behind the script's own deadlines (GPU: 450 s in all; the JSON is rewritten after
# every measured row, so what was measured survives): 8 minutes, GPU_CHECK_TIMEOUT=SECONDS for a larger --budget
set +e
timeout --signal=TERM --kill-after=15 "${GPU_CHECK_TIMEOUT:-480}" "$py" "$root/benchmarks/gpu_check.py" "$@"
rc=$?
if ((rc == 124)); then
  echo "gpu_check: error: stopped after ${GPU_CHECK_TIMEOUT:-480} s (GPU_CHECK_TIMEOUT); the JSON holds the phases done" >&2
fi
exit "$rc"
