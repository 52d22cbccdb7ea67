#!/usr/bin/env bash
# Serve the synthesis LLM with vLLM's OpenAI-compatible server on one GPU VM.
#
#   pip install vllm==0.33.0          # on the VM, in its own virtual environment
#   VLLM_HOST=10.0.1.23 infra/cloud/vllm-serve.sh
#   synthembed synthesize ... --llm-base-url http://10.0.1.23:8000/v1 \
#       --llm-model Qwen/Qwen2.5-72B-Instruct-AWQ
#
# It binds 127.0.0.1 unless VLLM_HOST says otherwise: set VLLM_HOST to the VM's private
# address so that only machines inside the network reach it, and set VLLM_API_KEY (vLLM reads
# it) together with SYNTHEMBED_LLM_API_KEY on the synthembed side. Never expose it publicly
# without a key.
#
# Settings (environment):
#   VLLM_MODEL          model on the Hugging Face hub  (Qwen/Qwen2.5-72B-Instruct-AWQ)
#   VLLM_HOST           address to listen on            (127.0.0.1)
#   VLLM_PORT           port                            (8000)
#   VLLM_TP             GPUs to split the model over    (every GPU nvidia-smi lists)
#   VLLM_MAX_MODEL_LEN  context length                  (8192)
#   VLLM_BIN            the vllm executable             (vllm)
# Arguments after the script's name go to `vllm serve` unchanged.
set -euo pipefail

model="${VLLM_MODEL:-Qwen/Qwen2.5-72B-Instruct-AWQ}"
if [[ -z "${VLLM_TP:-}" ]]; then
    # One shard per GPU on the machine; 1 where nvidia-smi is missing.
    VLLM_TP=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
    [[ "${VLLM_TP}" -ge 1 ]] || VLLM_TP=1
fi

exec "${VLLM_BIN:-vllm}" serve "${model}" \
    --host "${VLLM_HOST:-127.0.0.1}" \
    --port "${VLLM_PORT:-8000}" \
    --tensor-parallel-size "${VLLM_TP}" \
    --max-model-len "${VLLM_MAX_MODEL_LEN:-8192}" \
    "$@"
