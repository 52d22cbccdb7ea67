#!/usr/bin/env bash
# The GPU checks of the training stage, in one prepared run (< 8 minutes on one GPU), printing a table:
#   1. the CUDA-only tests (tests/gpu/test_cuda.py);
#   2. `synthembed train --use-gpu` for 3 steps on SmolLM2-135M (checkpoint), resumed with
#      --extend-steps to 4 (resume), exported and reloaded by sentence-transformers (export, reload);
#   3. one LoRA + GradCache step at sequence 512 on a Mistral-7B-shaped model (random weights, bf16):
#      tokens/s, peak memory, MFU against --peak-tflops (tests/gpu/step_mfu.py).
# Runs from the repository root with the project's packages importable (python3 -m pip install -e .,
# or the wheels carried to an offline GPU machine); results also go to $OUT (default ./gpu-results).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 DO_NOT_TRACK=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

status() { [ "$1" -eq 0 ] && echo pass || echo "FAIL ($1)"; }

timeout 120 $PY -m pytest -q -p no:cacheprovider tests/gpu/test_cuda.py 2>&1 | tee "$OUT/cuda_tests.log"
cuda_tests=$(status "${PIPESTATUS[0]}")

DATA=$($PY - "$OUT" <<'PY'
import sys
from tasks.runs.manifest import Manifest, ShardEntry, ShardStatus, save_manifest
from tasks.runs.parts import write_part
from tasks.storage.store import open_store
store = open_store(f"file://{sys.argv[1]}/store")
rows = [{"example_id": f"e{i}", "task_type": "retrieval", "language": "en", "task": "Find the passage.",
         "query": f"question {i} about topic {i % 7}", "positive": f"passage {i} " * (5 + i % 40),
         "negative": f"unrelated text {i} " * (3 + i % 20)} for i in range(64)]
path = write_part(store, "gpu", "retrieval", "en", 0, rows)
save_manifest(store, Manifest(run_id="gpu", shards={"retrieval/en": ShardEntry(task_type="retrieval", language="en",
              seed=1, requested=64, status=ShardStatus.COMPLETE, rows=64, path=path)}))
print(f"file://{sys.argv[1]}/store/runs/gpu")
PY
)
train() { timeout 240 $PY -m flows.cli train --data "$DATA" --base-model smollm2-135m --out "file://$PWD/$OUT/model" \
  --use-gpu --batch-size 16 --mini-batch-size 4 --max-length 256 --warmup-steps 1 --checkpoint-every 1 "$@"; }
train --steps 3 2>&1 | tee "$OUT/train.log"; first=$(status "${PIPESTATUS[0]}")
train --steps 4 --resume --extend-steps 2>&1 | tee "$OUT/resume.log"; resumed=$(status "${PIPESTATUS[0]}")
timeout 60 $PY -c "
from sentence_transformers import SentenceTransformer
st = SentenceTransformer('$OUT/model/model', device='cuda', local_files_only=True)
v = st.encode(['capital of Peru'], prompt_name='query', normalize_embeddings=True)
assert v.shape[0] == 1 and abs(float((v ** 2).sum()) - 1) < 1e-3, v.shape
print('reloaded', v.shape)" 2>&1 | tee "$OUT/reload.log"; reload=$(status "${PIPESTATUS[0]}")

timeout 240 $PY tests/gpu/step_mfu.py --shape mistral-7b --seq 512 --batch 64 --mini-batch 16 2>&1 | tee "$OUT/mfu.log"
mfu=$(status "${PIPESTATUS[0]}")

$PY - "$OUT" "$cuda_tests" "$first" "$resumed" "$reload" "$mfu" <<'PY'
import json, sys
from pathlib import Path
out, *statuses = sys.argv[1:]
lines = [l for l in Path(out, "mfu.log").read_text().splitlines() if l.startswith("{")]
step = json.loads(lines[-1]) if lines else {}
rows = [("CUDA-only tests", statuses[0], ""), ("train --use-gpu, 3 steps + checkpoint", statuses[1], ""),
        ("resume --extend-steps to 4", statuses[2], ""), ("export + reload (sentence-transformers)", statuses[3], ""),
        ("Mistral-7B shape, LoRA + GradCache, seq 512", statuses[4],
         f"{step.get('tokens_per_s')} tok/s, peak {step.get('peak_gib')} GiB, MFU {step.get('mfu')}")]
print(f"\n{Path(out, 'gpu.txt').read_text().strip()}\n")
print("| check | result | figures |\n|---|---|---|")
for check, result, figures in rows:
    print(f"| {check} | {result} | {figures} |")
PY
