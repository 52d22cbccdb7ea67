"""A short, real Ray Train run: 2 CPU workers, SmolLM2-135M + LoRA, data from a real synthesis
run, checkpoints on SeaweedFS over s3://, a resume, and an export SentenceTransformer loads.

Given the shared real synthesis run (tests/conftest.py::real_run), when `synthembed train` runs
6 steps and then resumes to 8 (--extend-steps), then both runs checkpoint to S3, a resume that
changes the learning rate (or grows --steps without --extend-steps) is refused up front, the
resumed run starts at step 7 on the re-planned decay, the exported folder gives the training
code's embeddings, and the trained model fits its training pairs better than its base.

"It learns" is judged on one fixed set — every training pair, base vs trained — not on the logged
per-step losses: each step's batch is another draw of a handful of rows, so comparing the first two
steps' losses with the last two compares batches as much as models (CI once logged 2.1, 2.0, then
8.2, 1.5, 6.3, 4.2).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tasks.storage.store import open_store
from tasks.train.data import load_pairs
from tasks.train.info_nce import info_nce_loss
from tasks.train.launch import is_checkpoint_dir
from tasks.train.schedule import LRSchedule, extend_schedule
from tests.support.train_log import logged_steps

pytestmark = pytest.mark.e2e


def _train(data_url: str, out: str, steps: int, *extra: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "synthembed"), "train", "--data", data_url,
               "--base-model", "smollm2-135m", "--out", out, "--num-workers", "2", "--batch-size", "4",
               "--mini-batch-size", "2", "--steps", str(steps), "--max-length", "128", "--learning-rate", "1e-3",
               "--warmup-steps", "1", "--checkpoint-every", "3", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200)


def test_ray_train_lowers_loss_checkpoints_to_s3_resumes_and_exports(real_run, s3_env, tmp_path):
    store_url, run_id, _ = real_run
    out = "s3://synthembed-train/models/smollm2-test"

    first = _train(f"{store_url}/runs/{run_id}", out, 6)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    losses = logged_steps(first.stdout + first.stderr)
    assert [s for s, _ in losses] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(loss) for _, loss in losses), losses

    store = open_store(out)
    checkpoints = [p for p in store.fs.ls(store.path("ray", "train"), detail=False) if is_checkpoint_dir(p)]
    assert len(checkpoints) == 2  # steps 3 and 6, num_to_keep=2

    refused = _train(f"{store_url}/runs/{run_id}", out, 8)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr

    changed = _train(f"{store_url}/runs/{run_id}", out, 8, "--resume", "--extend-steps", "--learning-rate", "1e-4")
    assert changed.returncode == 2 and "learning_rate: 0.001 -> 0.0001" in changed.stderr, changed.stderr[-2000:]
    longer = _train(f"{store_url}/runs/{run_id}", out, 8, "--resume")
    assert longer.returncode == 2 and "--extend-steps" in longer.stderr, longer.stderr[-2000:]

    resumed = _train(f"{store_url}/runs/{run_id}", out, 8, "--resume", "--extend-steps")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    assert [s for s, _ in logged_steps(resumed.stdout + resumed.stderr)] == [7, 8]
    # The decay continues from step 6's lr to 0 at step 8 (the log shows the lr for the next step).
    plan = extend_schedule(LRSchedule.warmup_then_linear(1, 6), done_steps=6, total_steps=8)
    logged = [float(line.split(" lr ", 1)[1].split()[0]) for line in (resumed.stdout + resumed.stderr).splitlines()
              if " - step " in line and " lr " in line]
    assert logged == pytest.approx([1e-3 * plan(7), 1e-3 * plan(8)], rel=1e-2), logged

    # The export: SentenceTransformer loads it and reproduces the training code's vectors.
    local = tmp_path / "model"
    store.fs.get(store.path("model") + "/", str(local), recursive=True)
    adapter = tmp_path / "adapter"
    store.fs.get(store.path("adapter") + "/", str(adapter), recursive=True)
    config = json.loads((local / "synthembed_train_config.json").read_text())
    assert config["steps"] == 8 and store.fs.exists(store.path("loss.png"))

    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from tasks.train.base_model import resolve_base_model
    from tasks.train.model import EmbeddingModel
    from tasks.train.text import format_query

    queries, docs = ["how do tides work", "¿qué es la fotosíntesis?"], ["The moon pulls the oceans.", "Las plantas usan luz."]
    st = SentenceTransformer(str(local), device="cpu")
    st_vectors = torch.tensor(st.encode(queries, prompt_name="query")), torch.tensor(st.encode(docs))

    base = str(resolve_base_model("smollm2-135m"))
    trained = EmbeddingModel(PeftModel.from_pretrained(AutoModel.from_pretrained(base), str(adapter)))
    tokenizer = AutoTokenizer.from_pretrained(base)
    instruction = config["query_instruction"]
    ours = (trained.encode([format_query(instruction, q) for q in queries], tokenizer),
            trained.encode(docs, tokenizer))
    for a, b in zip(st_vectors, ours):
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()

    # It learns: on every pair it trained on, the trained model's InfoNCE is below its base's.
    pairs = list({pair.positive: pair for pair in load_pairs([f"{store_url}/runs/{run_id}"])}.values())
    base_loss = _set_loss(EmbeddingModel(AutoModel.from_pretrained(base)), tokenizer, pairs)
    trained_loss = _set_loss(trained, tokenizer, pairs)
    assert trained_loss < base_loss, (trained_loss, base_loss, len(pairs))


def _set_loss(model, tokenizer, pairs) -> float:
    """Training's InfoNCE, τ = 0.05, with every pair's positive in one batch (no hard negatives)."""
    queries = model.encode([pair.query for pair in pairs], tokenizer, max_length=128)
    positives = model.encode([pair.positive for pair in pairs], tokenizer, max_length=128)
    return float(info_nce_loss(queries, positives, temperature=0.05))
