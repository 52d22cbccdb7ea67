#!/usr/bin/env bash
# The GPU check of the training stage, in one run (~7 minutes on one H100), ending in a table:
#   1. the CUDA-only tests (tests/gpu/test_cuda.py, tests/evaluate/test_devices_cuda.py);
#   2. training without Ray: `torchrun -m tasks.train.standalone` (the loop, GradCache, bf16,
#      gradient checkpointing) for 3 steps on a random Mistral-shaped model, resumed from its
#      checkpoint to 4 steps, exported; the folder reloaded by sentence-transformers and checked
#      against the base model with the published adapter (tests/gpu/train_check.py);
#   3. GPU only: one LoRA + GradCache step at sequence 512 on a Mistral-7B-shaped model (random
#      weights, bf16), with and without gradient checkpointing: tokens/s, peak memory, MFU by
#      4·N + 6·N_lora + 6·L·s·d against the card's dense bf16 peak, and hardware FLOPs beside it
#      (tests/gpu/step_mfu.py);
#   4. GPU only: embeddings/s of the 7B-shaped decoder for short and long texts (tests/gpu/embed_throughput.py);
#   5. GPU only: our LoRA + GradCache step against sentence-transformers' CachedMultipleNegativesRankingLoss
#      on the same 7B-shaped model, batch and 4096-token mini-batches (its padding-free inputs where
#      flash-attention is installed): real tokens/s of each, peak memory, and the ratio against
#      issue 23's target of 1.3, reported, not enforced: the step fails only if a side fails to run
#      (tests/gpu/cached_mnrl_step.py).
#
#   bash tests/gpu/run.sh          # on a GPU machine: python3 with torch, transformers, peft,
#                                  # sentence-transformers, fsspec (no Ray, Prefect, polars needed)
#   bash tests/gpu/run.sh --cpu    # the same checks on the CPU at tiny sizes (steps 3-5 tiny too)
#
# ray, prefect, polars, mteb and openai are blocked from import here on every machine
# (tests/gpu/without/sitecustomize.py), as they are absent on the lent GPU machines. Runs from the
# repository root without installing the project. Results: $OUT (default ./gpu-results; three
# files: results.jsonl, results.log, summary.md); work files: $WORK (default a temporary folder).
set -uo pipefail
cd "$(dirname "$0")/../.."
MODE=gpu
[ "${1:-}" = "--cpu" ] && MODE=cpu
OUT=${OUT:-gpu-results}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)  # absolute: written and read back by one path
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)
PY=${PYTHON:-python3}
export SYNTHEMBED_BLOCK_IMPORTS=ray,prefect,polars,mteb,openai
export PYTHONPATH=$PWD/tests/gpu/without:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 TOKENIZERS_PARALLELISM=false
LOG=$OUT/results.log JSONL=$OUT/results.jsonl
: >"$LOG"; : >"$JSONL"

status() { [ "$1" -eq 0 ] && echo pass || echo "FAIL ($1)"; }
# run NAME SECONDS COMMAND...: output to the log, JSON lines (checks' figures) also to results.jsonl
run() {
  local name=$1 seconds=$2; shift 2
  echo "=== $name: $*" >>"$LOG"
  timeout "$seconds" "$@" > >(tee -a "$LOG" | grep --line-buffered '^{' >>"$JSONL") 2>>"$LOG"
  local rc=$?
  echo "=== $name: exit $rc" >>"$LOG"
  return $rc
}

if [ "$MODE" = gpu ]; then
  DEVICE=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
  NPROC=1
else
  DEVICE="cpu ($(nproc) cores)"
  NPROC=2  # two gloo processes: the broadcast, the gather and the summed gradients run for real
fi
echo "device: $DEVICE; python: $($PY -c 'import sys, torch, transformers; print(sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__)')" | tee -a "$LOG"

run blocked 60 $PY -c "
import importlib.util, os
names = os.environ['SYNTHEMBED_BLOCK_IMPORTS'].split(',')
assert all(importlib.util.find_spec(n) is None for n in names), names
print('blocked:', ', '.join(names))"
blocked=$(status $?)

run cuda_tests 300 $PY -m pytest -q -p no:cacheprovider --noconftest tests/gpu/test_cuda.py tests/evaluate/test_devices_cuda.py
cuda_tests=$(status $?)

CPU_FLAG=$([ "$MODE" = cpu ] && echo --cpu)
TORCHRUN=($PY -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m tasks.train.standalone)
run prepare 300 $PY tests/gpu/train_check.py prepare --work "$WORK" --workers "$NPROC" $CPU_FLAG
prepared=$(status $?)
run train 600 "${TORCHRUN[@]}" --config "$WORK/run.json" --pairs "$WORK/pairs.jsonl"
trained=$(status $?)
run resume 600 "${TORCHRUN[@]}" --config "$WORK/resume.json" --pairs "$WORK/pairs.jsonl"
resumed=$(status $?)
# The resumed run trains step 4 alone: it started from the step-3 checkpoint.
steps=$($PY -c "
import json, sys
lines = open(sys.argv[1]).read().split('=== resume:')[1].splitlines()
print(','.join(str(json.loads(l)['step']) for l in lines if l.startswith('{') and '\"step\"' in l))" "$LOG")
[ "$steps" = 4 ] || resumed="FAIL (steps after resume: '$steps', want 4)"
run reload 300 $PY tests/gpu/train_check.py reload --work "$WORK" $CPU_FLAG
reloaded=$(status $?)

if [ "$MODE" = gpu ]; then
  run mfu_checkpointing 420 $PY tests/gpu/step_mfu.py --shape mistral-7b --seq 512 --batch 64 --mini-batch 32 --gradient-checkpointing
  mfu_ckpt=$(status $?)
  run mfu 420 $PY tests/gpu/step_mfu.py --shape mistral-7b --seq 512 --batch 64 --mini-batch 8
  mfu=$(status $?)
  run embed 300 $PY tests/gpu/embed_throughput.py --shape mistral-7b
  embed=$(status $?)
  run cached_mnrl 420 $PY tests/gpu/cached_mnrl_step.py --shape mistral-7b --seq 512 --batch 64 --mini-batch-tokens 4096
  cached_mnrl=$(status $?)
else  # the same scripts at a tiny shape: they run, their figures mean nothing
  run mfu_checkpointing 300 $PY tests/gpu/step_mfu.py --shape tiny --device cpu --seq 32 --batch 4 --mini-batch 2 --steps 1 --peak-tflops 1 --gradient-checkpointing
  mfu_ckpt=$(status $?)
  run mfu 300 $PY tests/gpu/step_mfu.py --shape tiny --device cpu --seq 32 --batch 4 --mini-batch 2 --steps 1 --peak-tflops 1
  mfu=$(status $?)
  run embed 300 $PY tests/gpu/embed_throughput.py --shape tiny --device cpu --batches 1 --scale 0.25
  embed=$(status $?)
  run cached_mnrl 300 $PY tests/gpu/cached_mnrl_step.py --shape tiny --device cpu --seq 32 --batch 8 --mini-batch-tokens 64 --steps 1
  cached_mnrl=$(status $?)
fi

$PY - "$JSONL" "$DEVICE" "$MODE" "$blocked" "$cuda_tests" "$prepared" "$trained" "$resumed" "$reloaded" "$mfu_ckpt" "$mfu" "$embed" "$cached_mnrl" <<'PY' | tee "$OUT/summary.md"
import json, sys
jsonl, device, mode, *statuses = sys.argv[1:]
shape = "7B shape" if mode == "gpu" else "tiny shape (CPU: figures mean nothing)"
records = [json.loads(line) for line in open(jsonl) if line.startswith("{")]
mfu = [r for r in records if "mfu" in r]
embeds = {r["case"]: r for r in records if r.get("check") == "embed"}
steps = [r for r in records if "step" in r and "tokens_per_s" in r]
reload = next((r for r in records if r.get("check") == "reload"), {})
versus = next((r for r in records if r.get("check") == "cached_mnrl"), {})

def step_figures(r):
    return (f"{r['tokens_per_s']} tok/s, {r['s_per_step']} s/step, MFU {r['mfu']} (HFU {r['hfu']}) of "
            f"{r['peak_tflops']} TFLOP/s, peak {r['peak_gib']} GiB, {r['attention']}") if r else ""

def versus_figures(r):
    if not r:
        return ""
    inputs = "padding-free" if r["st_unpadded"] else "padded: no flash-attn, not the target's baseline"
    target = "" if r["target"] is None else f"; target >= {r['target']}x {'met' if r['target_met'] else 'NOT met'}"
    return (f"ours {r['ours_tokens_per_s']} tok/s (peak {r['ours_peak_gib']} GiB), CachedMNRL {r['st_tokens_per_s']} "
            f"tok/s (peak {r['st_peak_gib']} GiB, {inputs}, {r['st_attention']}): {r['ratio']}x{target}")

by_ckpt = {r["gradient_checkpointing"]: r for r in mfu}
rows = [
    ("ray, prefect, polars, mteb, openai blocked", statuses[0], ""),
    ("CUDA-only tests", statuses[1], ""),
    ("prepare base model + pairs", statuses[2], ""),
    ("torchrun train, 3 steps + checkpoints", statuses[3],
     "".join(f"step 3: {r['tokens_per_s']:.0f} tok/s" for r in steps if r["step"] == 3)[:40]),
    ("resume to 4 (step 4 alone) + export", statuses[4], ""),
    ("reload (sentence-transformers = base + adapter)", statuses[5],
     f"worst cosine {reload.get('worst_cosine')}" if reload else ""),
    (f"{shape}, LoRA r16 + GradCache, bf16, checkpointing", statuses[6], step_figures(by_ckpt.get(True))),
    (f"{shape}, LoRA r16 + GradCache, bf16", statuses[7], step_figures(by_ckpt.get(False))),
    (f"{shape}, embeddings/s", statuses[8],
     ", ".join(f"{c} ({r['rows']} x {r['seq']}): {r['embeddings_per_s']}/s" for c, r in embeds.items())),
    (f"{shape}, ours vs CachedMNRL, {versus.get('mini_batch_tokens', '?')}-token mini-batches", statuses[9],
     versus_figures(versus)),
]
print(f"\ndevice: {device}\n")
print("| check | result | figures |\n|---|---|---|")
for check, result, figures in rows:
    print(f"| {check} | {result} | {figures} |")
PY
for s in "$blocked" "$cuda_tests" "$prepared" "$trained" "$resumed" "$reloaded" "$mfu_ckpt" "$mfu" "$embed" "$cached_mnrl"; do
  [ "$s" = pass ] || exit 1
done
